/**
 * The credential stage of a provisioning for apps whose consumer does not use a client secret: a certificate
 * (created in Key Vault, its public part a key credential of the app, a keystore of it in ServiceNow that signs
 * private-key JWT client assertions) or a federated identity credential (the app trusts assertions the ServiceNow
 * instance signs with its own key). Replay-safe: every side effect is an activity; only names, ids, versions and
 * thumbprints cross the durable boundary.
 *
 * Sources: https://learn.microsoft.com/entra/identity-platform/certificate-credentials (assertion format),
 * https://learn.microsoft.com/graph/api/application-addkey (key rollover with a proof of possession),
 * https://learn.microsoft.com/graph/api/application-post-federatedidentitycredentials (federated credentials),
 * https://www.servicenow.com/docs/r/platform-security/authentication/config-private-key-jwt-outbound-oauth.html.
 */
import type { OrchestrationContext, Task } from 'durable-functions';

import {
  FEDERATION_AUDIENCE,
  federationSubject,
  serviceNowKeystoreName,
  serviceNowProviderName,
  type CredentialKind,
  type ProvisionedCredential,
  type WifColumns,
} from '../contracts/credentials';
import type { AppResult, CreatedObject, IntegrationRef, RecordResult } from '../contracts/provision';
import { credentialKinds, serviceNowConsumerRecord } from '../profiles/credential-kinds';
import { renderTemplate, type TemplateValues } from '../profiles/template';
import type { CheckSpec, IntegrationProfile } from '../profiles/types';
import { activities, call, callAll, RETRY } from './calls';
import { secretNameFor } from './provision-values';
import type { ProvisionInput, ProvisionRunState } from './provision-types';

/** The Key Vault certificate of an app: its secret's name with `-cert` (Key Vault names: 1-127 of 0-9a-zA-Z-). */
export const certificateNameFor = (integrationId: string, role: string): string =>
  `${secretNameFor(integrationId, role)}-cert`;

/** The federated identity credential's name on the app (unique per app; ours by this name). */
export const federatedCredentialNameFor = (integrationId: string): string =>
  `m365-snow-${integrationId}`.toLowerCase().slice(0, 120);

/** What the run created among the records of a credential chain: removed by compensation. */
function recordCreated(status: ProvisionRunState, records: RecordResult[]): void {
  for (const r of records)
    if (r.created && r.sysId && !status.created.some((c) => c.kind === 'record' && c.sysId === r.sysId))
      status.created.push({ kind: 'record', key: r.key, table: r.table, sysId: r.sysId });
}

/** Role → kind for the apps of this provisioning that get a certificate or federated credential. */
export function nonSecretKinds(profile: IntegrationProfile, input: ProvisionInput): Record<string, CredentialKind> {
  return Object.fromEntries(
    Object.entries(credentialKinds(profile, input.options.credential)).filter(([, k]) => k !== 'secret'),
  );
}

export interface CredentialStage {
  context: OrchestrationContext;
  ref: IntegrationRef;
  profile: IntegrationProfile;
  input: ProvisionInput;
  status: ProvisionRunState;
  values: TemplateValues;
  fail: (message: string) => Error;
  /** Publishes the run's summary as custom status. */
  publish: () => void;
}

/** What the instance supports, from the preflight's read of sys_choice / sys_dictionary. */
export interface InstanceCredentialSupport {
  sendAsValue?: string;
  providerColumn?: string;
  thumbprintColumn?: string;
  connectionTable?: string;
  columns?: WifColumns;
}

/**
 * Entra and Key Vault, after the apps exist: per certificate app the Key Vault certificate and its key credential on
 * the app; per federated app the federated identity credential. Apps in parallel.
 */
export function* ensureAppCredentials(
  s: CredentialStage,
  apps: AppResult[],
  validityMonths: number,
): Generator<Task, void, unknown> {
  const kinds = nonSecretKinds(s.profile, s.input);
  const certApps = apps.filter((a) => kinds[a.role] === 'certificate');
  const fedApps = apps.filter((a) => kinds[a.role] === 'federated');
  if (!certApps.length && !fedApps.length) return;
  const { context, ref, status } = s;
  status.credentials ??= [];

  const certs = yield* callAll(
    context,
    activities.ensureCertificate,
    certApps.map((a) => ({
      ...ref,
      role: a.role,
      appId: a.appId,
      certificateName: certificateNameFor(ref.integrationId, a.role),
      subject: `CN=${a.appId}`,
      validityMonths,
    })),
    RETRY.service,
  );
  for (const [i, r] of certs.entries()) {
    if (!r.ok) throw s.fail(`certificate of the ${certApps[i].role} app: ${r.failure.message}`);
    if (r.created)
      status.created.push({
        kind: 'certificate',
        role: certApps[i].role,
        certificateName: r.certificateName,
        version: r.version,
      });
  }
  const keys = yield* callAll(
    context,
    activities.registerCertificate,
    certApps.map((a, i) => {
      const c = certs[i] as Extract<(typeof certs)[number], { ok: true }>;
      return {
        ...ref,
        role: a.role,
        appObjectId: a.objectId,
        appId: a.appId,
        certificateName: c.certificateName,
        version: c.version,
      };
    }),
    RETRY.graph,
  );
  for (const [i, r] of keys.entries()) {
    const app = certApps[i];
    if (!r.ok) throw s.fail(`key credential of the ${app.role} app: ${r.failure.message}`);
    const c = certs[i] as Extract<(typeof certs)[number], { ok: true }>;
    if (r.added)
      status.created.push({
        kind: 'keyCredential',
        role: app.role,
        appObjectId: app.objectId,
        keyId: r.keyId,
        proof: { certificateName: c.certificateName, version: c.version },
      });
    status.credentials.push({
      role: app.role,
      kind: 'certificate',
      certificateName: c.certificateName,
      version: c.version,
      x5t: c.x5t,
      notAfter: c.notAfter,
      keyId: r.keyId,
    });
  }

  const issuer = s.input.endpoints.instanceUrl.replace(/\/+$/, '');
  const wanted = fedApps.map((a) => ({
    appObjectId: a.objectId,
    name: federatedCredentialNameFor(ref.integrationId),
    issuer,
    subject: federationSubject(ref.integrationId, a.role),
    audiences: [FEDERATION_AUDIENCE],
  }));
  const feds = yield* callAll(context, activities.ensureFederatedCredential, wanted, RETRY.graph);
  for (const [i, r] of feds.entries()) {
    const app = fedApps[i];
    if (!r.ok) throw s.fail(`federated credential of the ${app.role} app: ${r.failure.message}`);
    const w = wanted[i];
    if (r.created)
      status.created.push({ kind: 'federatedCredential', role: app.role, appObjectId: app.objectId, name: w.name });
    status.credentials.push({
      role: app.role,
      kind: 'federated',
      name: w.name,
      issuer: w.issuer,
      subject: w.subject,
      audiences: w.audiences,
    });
  }
}

/**
 * ServiceNow: a certificate after the profile's records exist (the consumer record, an inactive OAuth provider until
 * the approval, is switched to the keystore chain); a federation before them: the Workload Identity Connection's
 * business rules create the OAuth provider the profile's records then find by their natural key and keep inert
 * (https://www.servicenow.com/docs/r/platform-security/authentication/configure-wif-azure.html).
 */
export function* ensureServiceNowCredentials(
  s: CredentialStage,
  support: InstanceCredentialSupport,
  kind: 'certificate' | 'federated',
  phase: 'build' | 'switch' = 'build',
): Generator<Task, void, unknown> {
  const { context, ref, status, profile } = s;
  // A live OAuth provider that still sends its client secret keeps sending it until the certificate was proven: its
  // switch is a later phase, so a run that fails before (compensation removes the new chain) leaves it working.
  const live = new Set(s.input.priorSecretRoles ?? []);
  for (const cred of status.credentials ?? []) {
    if (cred.kind !== kind) continue;
    if (phase === 'switch' && (kind !== 'certificate' || !live.has(cred.role))) continue;
    const app = profile.apps.find((a) => a.role === cred.role);
    const recordKey = app ? serviceNowConsumerRecord(profile, app) : undefined;
    const spec = profile.serviceNow.records.find((r) => r.key === recordKey);
    const record = status.records.find((r) => r.key === recordKey);
    if (!spec || (kind === 'certificate' && !record?.sysId)) {
      if (record?.manualAction) continue; // the record itself was handed off: its hand-off lists the values
      throw s.fail(`the ServiceNow record of the ${cred.role} app is missing`);
    }
    const appId = status.apps.find((a) => a.role === cred.role)?.appId ?? '';
    if (cred.kind === 'certificate') {
      // What the activity may have inserted before a failure (it reports records only on success): removed by
      // compensation when this run's ledger claim says it created them, so no active keystore is left behind.
      const keystore = serviceNowKeystoreName(ref.integrationId, cred.role, cred.version);
      const candidates: CreatedObject[] = [
        {
          kind: 'recordCandidate',
          key: `certificate:${cred.role}:${cred.version}`,
          table: 'sys_certificate',
          naturalKey: { name: keystore },
        },
        {
          kind: 'recordCandidate',
          key: `jwtKey:${cred.role}:${cred.version}`,
          table: 'jwt_keystore_aliases',
          naturalKey: { name: keystore },
        },
        {
          kind: 'recordCandidate',
          key: `jwtProvider:${cred.role}`,
          table: 'jwt_provider',
          naturalKey: { name: serviceNowProviderName(ref.integrationId, cred.role) },
        },
      ];
      const failed = (message: string) => {
        status.created.push(...candidates);
        return s.fail(message);
      };
      let r;
      try {
        r = yield* call(
          context,
          activities.ensureServiceNowCertificate,
          {
            ...ref,
            role: cred.role,
            certificateName: cred.certificateName,
            version: cred.version,
            x5t: cred.x5t,
            clientId: appId,
            tokenUrl: renderTemplate(spec.fields.token_url ?? '', s.values),
            oauthEntity: { table: spec.table, sysId: record?.sysId ?? '' },
            sendAsValue: support.sendAsValue ?? '',
            providerColumn: support.providerColumn ?? '',
            ...(support.thumbprintColumn ? { thumbprintColumn: support.thumbprintColumn } : {}),
            ...(phase === 'build' && live.has(cred.role) ? { switchEntity: false } : {}),
          },
          RETRY.service,
        );
      } catch (err) {
        throw failed(
          `ServiceNow keystore of the ${cred.role} app: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`,
        );
      }
      if (!r.ok) throw failed(`ServiceNow keystore of the ${cred.role} app: ${r.failure.message}`);
      recordCreated(status, r.records);
      if (r.manualAction) status.manualActions.push(r.manualAction);
      cred.serviceNow = {
        certificateSysId: r.certificateSysId,
        keystoreAliasSysId: r.keystoreAliasSysId,
        providerSysId: r.providerSysId,
      };
    } else {
      const r = yield* call(
        context,
        activities.ensureServiceNowFederation,
        {
          ...ref,
          role: cred.role,
          clientId: appId,
          tenantId: s.values.tenantId ?? ref.tenant,
          ...(support.connectionTable ? { connectionTable: support.connectionTable } : {}),
          ...(support.columns ? { columns: support.columns } : {}),
        },
        RETRY.service,
      );
      if (!r.ok) throw s.fail(`ServiceNow federation of the ${cred.role} app: ${r.failure.message}`);
      recordCreated(status, r.records);
      if (r.manualAction) status.manualActions.push(r.manualAction);
    }
    s.publish();
  }
}

/**
 * The checks of a provisioning with non-secret credentials: a token check of an app with a certificate asks with a
 * client assertion its certificate signs (as ServiceNow's JWT provider will); a federated app's token check becomes a
 * check of its federated credential (only the instance can sign its assertions).
 */
export function checksFor(checks: CheckSpec[], kinds: Record<string, CredentialKind>): CheckSpec[] {
  return checks.map((c) =>
    (c.kind === 'outboundToken' || c.kind === 'graphToken') && kinds[c.app]
      ? {
          kind: kinds[c.app] === 'certificate' ? ('certificateToken' as const) : ('federatedCredential' as const),
          app: c.app,
        }
      : c,
  );
}

/** What the checks activity needs of the credentials (names, versions and values only). */
export function checkCredentials(credentials: ProvisionedCredential[] | undefined) {
  const certificates = (credentials ?? []).flatMap((c) =>
    c.kind === 'certificate' ? [{ role: c.role, certificateName: c.certificateName, version: c.version }] : [],
  );
  const federated = (credentials ?? []).flatMap((c) =>
    c.kind === 'federated'
      ? [{ role: c.role, name: c.name, issuer: c.issuer, subject: c.subject, audiences: c.audiences }]
      : [],
  );
  return { ...(certificates.length ? { certificates } : {}), ...(federated.length ? { federated } : {}) };
}
