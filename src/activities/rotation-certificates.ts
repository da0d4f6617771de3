/**
 * The rotation activities of a certificate credential (src/orchestrators/rotate-credentials.ts), beside the ones the
 * provisioning uses (ensureCertificate, registerCertificate, removeCertificate, ensureServiceNowCertificate). Each is
 * idempotent: it looks first and writes only what is left to do. Only names, ids, versions and thumbprints cross the
 * durable boundary; the private key stays in Key Vault (signatures through `deps.certificateKeys`).
 *
 * - certificateRotationTarget: the oauth_entity's token_url and client_id, and the instance's private-key-JWT columns
 *   (sys_choice / sys_dictionary, as the preflight reads them), so the new keystore gets exactly the claims the
 *   current one has (https://www.servicenow.com/docs/r/platform-security/authentication/config-private-key-jwt-outbound-oauth.html).
 * - verifyCertificateCredential: one client-assertion token request with the new version; AADSTS700027 ("key was not
 *   found") right after addKey is Entra propagating the key credential and comes back `transient` (the orchestrator
 *   waits on a durable timer and asks again; https://learn.microsoft.com/entra/identity-platform/certificate-credentials).
 * - confirmServiceNowCertificate: reads back oauth_entity → jwt_provider → jwt_keystore_aliases → sys_certificate.
 * - retireCertificateVersion: the old sys_certificate `active=false`, the old Key Vault version `enabled=false`
 *   (UpdateCertificate, https://learn.microsoft.com/rest/api/keyvault/certificates/update-certificate).
 * - rollbackCertificateRotation: the new key credential removed (found by its thumbprint, Graph's
 *   customKeyIdentifier; removeKey's proof signed by the current certificate), the new sys_certificate deactivated,
 *   the new Key Vault version disabled. The orchestrator puts ServiceNow back on the current keystore first.
 */
import type { Deps } from '../app/deps';
import { toKeyVaultError } from '../clients/keyvault';
import { graphCall } from '../clients/graph';
import type { SnRecord } from '../clients/servicenow';
import { serviceNowKeystoreName, type CertificateRef } from '../contracts/credentials';
import type {
  CertificateTargetInput,
  CertificateTargetResult,
  ConfirmServiceNowCertificateInput,
  ConfirmServiceNowCertificateResult,
  RetireCertificateVersionInput,
  RetireCertificateVersionResult,
  RollbackCertificateRotationInput,
  RollbackRotationResult,
  VerifyCertificateInput,
  VerifyCredentialResult,
} from '../contracts/rotation';
import { ensureErrorType, ExternalServiceError, httpStatusOf } from '../lib/errors';
import { redactText } from '../lib/redact';
import { certificateTokenWorks } from './checks';
import { failureOrThrow, servicenowFailure } from './failures';
import { removeCertificate } from './key-credentials';
import { type ActivityLog, logLine } from './log';
import { readCredentialSupport } from './servicenow-credential-support';
import { lookup, text } from './servicenow-common';

/** Entra's answer while a new key credential propagates (AADSTS700027, certificate-credentials). */
const KEY_NOT_FOUND = 700027;

export async function certificateRotationTarget(
  input: CertificateTargetInput,
  deps: Deps,
): Promise<CertificateTargetResult> {
  try {
    const client = deps.serviceNow(input.serviceNowInstance);
    const { table, sysId } = input.oauthEntity;
    const entity = await client.get<SnRecord>(table, sysId, { fields: ['sys_id', 'token_url', 'client_id'] });
    if (!entity) return servicenowFailure('NotFound', `${table} ${sysId} does not exist`);
    const tokenUrl = text(entity.token_url);
    const clientId = text(entity.client_id);
    if (!tokenUrl || !clientId)
      return servicenowFailure('Incomplete', `${table} ${sysId} has no token_url or client_id to sign for`);
    const support = await readCredentialSupport(client, table);
    const c = support.certificate;
    if (!c.supported || !c.sendAsValue || !c.providerColumn)
      return servicenowFailure(
        'Unsupported',
        `the instance no longer offers private key JWT for ${table}: ${c.reasons.join('; ') || 'unknown'}`,
      );
    return {
      ok: true,
      tokenUrl,
      clientId,
      sendAsValue: c.sendAsValue,
      providerColumn: c.providerColumn,
      ...(c.thumbprintColumn ? { thumbprintColumn: c.thumbprintColumn } : {}),
    };
  } catch (err) {
    return { ok: false, failure: failureOrThrow(err) };
  }
}

export async function verifyCertificateCredential(
  input: VerifyCertificateInput,
  deps: Deps,
  log?: ActivityLog,
): Promise<VerifyCredentialResult> {
  const what = `${input.role} app ${input.appId} with certificate ${input.certificate.certificateName} version ${input.certificate.version}`;
  let r;
  try {
    r = await certificateTokenWorks(
      deps,
      { tenant: input.tenant, appId: input.appId, certificate: input.certificate, tokenUrl: input.tokenUrl },
      // One request per activity: the orchestrator waits between attempts on a durable timer.
      { attempts: 1 },
    );
  } catch (err) {
    const e = ensureErrorType(err);
    if (e instanceof ExternalServiceError && !e.retriable)
      return {
        ok: false,
        code: e.status !== undefined ? `keyvault-${e.status}` : e.code,
        detail: redactText(`the certificate could not sign: ${e.message}`),
      };
    throw e;
  }
  if (r.ok) {
    logLine(log, 'info', `verify: token issued for ${what}`);
    return { ok: true, detail: `token issued for ${what} from ${r.tokenUrl}` };
  }
  const code = r.result.errorCodes[0];
  if (r.result.transient) throw new Error(`token endpoint answered ${r.result.status} (${r.result.error}); retry`);
  const detail = redactText(`${what}: ${r.result.status} ${r.result.error} ${r.result.description}`.trim());
  logLine(log, 'warn', `verify: ${detail}`);
  return {
    ok: false,
    ...(code !== undefined ? { code: `AADSTS${code}` } : { code: String(r.result.status) }),
    ...(code === KEY_NOT_FOUND ? { transient: true } : {}),
    detail,
  };
}

export async function confirmServiceNowCertificate(
  input: ConfirmServiceNowCertificateInput,
  deps: Deps,
): Promise<ConfirmServiceNowCertificateResult> {
  const client = deps.serviceNow(input.serviceNowInstance);
  const { table, sysId } = input.oauthEntity;
  const { providerSysId, keystoreAliasSysId, certificateSysId } = input.expected;
  const entity = await client.get<SnRecord>(table, sysId, { fields: ['sys_id', input.providerColumn] });
  if (text(entity?.[input.providerColumn]) !== providerSysId)
    return { ok: false, detail: `${table} ${sysId} does not use JWT provider ${providerSysId}` };
  const provider = await client.get<SnRecord>('jwt_provider', providerSysId, {
    fields: ['sys_id', 'jwt_keystore_aliases', 'active'],
  });
  if (text(provider?.jwt_keystore_aliases) !== keystoreAliasSysId || text(provider?.active) !== 'true')
    return { ok: false, detail: `JWT provider ${providerSysId} does not sign with JWT key ${keystoreAliasSysId}` };
  const alias = await client.get<SnRecord>('jwt_keystore_aliases', keystoreAliasSysId, {
    fields: ['sys_id', 'signing_keystore', 'active'],
  });
  if (text(alias?.signing_keystore) !== certificateSysId || text(alias?.active) !== 'true')
    return { ok: false, detail: `JWT key ${keystoreAliasSysId} does not use sys_certificate ${certificateSysId}` };
  const cert = await client.get<SnRecord>('sys_certificate', certificateSysId, { fields: ['sys_id', 'active'] });
  if (text(cert?.active) !== 'true') return { ok: false, detail: `sys_certificate ${certificateSysId} is not active` };
  return { ok: true, detail: `${table} ${sysId} signs with sys_certificate ${certificateSysId}` };
}

/** Sets `active=false` on the version's sys_certificate; false when it was already inactive or does not exist. */
async function deactivateServiceNowCertificate(
  deps: Deps,
  input: { integrationId: string; serviceNowInstance: string; role: string },
  version: string,
): Promise<boolean> {
  const client = deps.serviceNow(input.serviceNowInstance);
  const name = serviceNowKeystoreName(input.integrationId, input.role, version);
  const found = await lookup(client, 'sys_certificate', { name }, ['active']);
  let changed = false;
  for (const row of found.matched) {
    const id = text(row.sys_id);
    if (!id || text(row.active) === 'false') continue;
    await client.patch('sys_certificate', id, { active: 'false' }, { fields: ['sys_id'] });
    changed = true;
  }
  return changed;
}

/** Disables one Key Vault certificate version (its key and secret follow); false when it already was. */
async function disableCertificateVersion(deps: Deps, ref: CertificateRef): Promise<boolean> {
  let current;
  try {
    current = await deps.certificates.getCertificateVersion(ref.certificateName, ref.version);
  } catch (err) {
    const e = toKeyVaultError(err, `get certificate '${ref.certificateName}' version ${ref.version}`);
    if (e.status === 404) return false;
    throw e;
  }
  if (current.properties.enabled === false) return false;
  try {
    await deps.certificates.updateCertificateProperties(ref.certificateName, ref.version, { enabled: false });
  } catch (err) {
    throw toKeyVaultError(err, `disable certificate '${ref.certificateName}' version ${ref.version}`);
  }
  return true;
}

export async function retireCertificateVersion(
  input: RetireCertificateVersionInput,
  deps: Deps,
  log?: ActivityLog,
): Promise<RetireCertificateVersionResult> {
  try {
    const deactivated = await deactivateServiceNowCertificate(deps, input, input.certificate.version);
    const disabled = await disableCertificateVersion(deps, input.certificate);
    logLine(
      log,
      'info',
      `retired certificate ${input.certificate.certificateName} version ${input.certificate.version} of ${input.role}` +
        ` (sys_certificate ${deactivated ? 'deactivated' : 'already inactive'}, Key Vault version ${disabled ? 'disabled' : 'already disabled'})`,
    );
    return { ok: true, deactivated, disabled };
  } catch (err) {
    return { ok: false, failure: failureOrThrow(err) };
  }
}

interface KeyCredential {
  keyId: string;
  customKeyIdentifier: string | null;
}

export async function rollbackCertificateRotation(
  input: RollbackCertificateRotationInput,
  deps: Deps,
  log?: ActivityLog,
): Promise<RollbackRotationResult> {
  const restored: string[] = [];
  const orphans: RollbackRotationResult['orphans'] = [];
  const name = input.current.certificateName;
  // The versions to undo: the one the rotation reported, else every enabled one newer than the current.
  const versions: CertificateRef[] = [];
  if (input.newVersion) versions.push({ certificateName: name, version: input.newVersion });
  else {
    const all = [];
    try {
      for await (const p of deps.certificates.listPropertiesOfCertificateVersions(name)) all.push(p);
    } catch (err) {
      throw toKeyVaultError(err, `list versions of certificate '${name}'`);
    }
    const current = all.find((p) => p.version === input.current.version);
    const since = current?.createdOn?.getTime() ?? 0;
    for (const p of all)
      if (
        p.version &&
        p.version !== input.current.version &&
        p.enabled !== false &&
        (p.createdOn?.getTime() ?? 0) >= since
      )
        versions.push({ certificateName: name, version: p.version });
  }
  if (versions.some((v) => v.version === input.current.version))
    throw new Error(`rollback of ${input.role} would undo the certificate in use (${input.current.version})`);

  for (const v of versions) {
    // 1. Its key credential, by thumbprint (the keyId may never have reached the orchestrator).
    try {
      let thumbprint: string | undefined;
      try {
        thumbprint = (await deps.certificateKeys.publicCertificate(v)).thumbprintHex;
      } catch (err) {
        if (httpStatusOf(err) !== 404) throw err; // a version never completed has no certificate to find
      }
      if (thumbprint) {
        const res = await graphCall<{ keyCredentials?: KeyCredential[] }>(
          deps.graph,
          'GET',
          `/applications/${encodeURIComponent(input.appObjectId)}?$select=id,keyCredentials`,
        );
        const found = (res.body?.keyCredentials ?? []).filter(
          (c) => (c.customKeyIdentifier ?? '').toUpperCase() === thumbprint.toUpperCase(),
        );
        for (const c of found) {
          const r = await removeCertificate(
            { appObjectId: input.appObjectId, keyId: c.keyId, proof: input.current },
            deps,
            log,
          );
          if (!r.ok) orphans.push({ what: `key credential of ${input.role}`, id: c.keyId, reason: r.failure.message });
          else restored.push(`keyCredential:${c.keyId}`);
        }
      }
    } catch (err) {
      const e = ensureErrorType(err);
      if (e instanceof ExternalServiceError && e.retriable) throw e;
      orphans.push({ what: `key credential of ${input.role} (${v.version})`, id: v.version, reason: e.message });
    }
    // 2. Its sys_certificate, inactive (the provider is back on the current one).
    try {
      if (await deactivateServiceNowCertificate(deps, input, v.version)) restored.push(`sys_certificate:${v.version}`);
    } catch (err) {
      const e = ensureErrorType(err);
      if (e instanceof ExternalServiceError && e.retriable) throw e;
      orphans.push({ what: `sys_certificate of ${input.role} (${v.version})`, id: v.version, reason: e.message });
    }
    // 3. Its Key Vault version, disabled (the current one is the newest enabled again).
    try {
      if (await disableCertificateVersion(deps, v)) restored.push(`keyvault:${v.version}`);
    } catch (err) {
      const e = ensureErrorType(err);
      if (e instanceof ExternalServiceError && e.retriable) throw e;
      orphans.push({ what: `Key Vault version of ${input.role}`, id: v.version, reason: e.message });
    }
  }
  logLine(log, 'info', `rollback of ${input.role}: ${restored.join(', ') || 'nothing to undo'}`);
  return { restored, orphans };
}
