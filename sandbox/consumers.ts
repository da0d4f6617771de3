/**
 * The consumers of an integration's client secrets, as the outside world holds them, and a probe that asks Entra
 * whether each one still works. Used by the rotation tests (after every history event: no consumer may ever hold a
 * secret that does not work) and by `npm run demo -- --rotate` (consumerOutage).
 *
 * The consumers come from the integration's profile (`AppSpec.secretConsumers`): a ServiceNow record's password2
 * field, read from the sandbox store (`servicenow:<record key>`), and places without an API (for the seed profile the
 * Microsoft 365 admin center repository, docs/reference/m365-support-integration.md#what-each-secret-feeds), simulated
 * by `ManualConsumers`: the person doing a hand-off copies the value from Key Vault into it (`manual:<field>`).
 */
import type { IntegrationProfile } from '../src/profiles/types';
import type { Sandbox } from './index';

export interface ConsumerRef {
  /** e.g. `servicenow:outboundProvider`, `admincenter:Client secret`. */
  name: string;
  role: string;
  appId: string;
  /** The secret value this consumer holds now (undefined: it holds none). */
  held(): string | undefined;
  /**
   * How the consumer gets a token when it holds no secret (a ServiceNow oauth_entity using a private key JWT or a
   * Workload Identity Connection): does what the instance does and asks Entra. Undefined: it uses `held()`.
   */
  works?(): Promise<{ ok: boolean; reason: string } | undefined>;
}

export interface ProbeFailure {
  at: string;
  consumer: string;
  reason: string;
}

/** The fields of places without an API (e.g. the Microsoft 365 admin center repository), simulated. */
export class ManualConsumers {
  private readonly fields = new Map<string, string>();
  set(field: string, value: string): void {
    this.fields.set(field, value);
  }
  get(field: string): string | undefined {
    return this.fields.get(field);
  }
}

/**
 * Asks the Entra stand-in in-process (its real grant code, without fault injection or journal entries) whether a
 * client secret yields a v1 token for the app.
 */
export async function secretWorks(
  sandbox: Sandbox,
  appId: string,
  secret: string,
): Promise<{ ok: boolean; reason: string }> {
  const tenant = sandbox.directory.tenantId;
  const body = new URLSearchParams({
    grant_type: 'client_credentials',
    client_id: appId,
    client_secret: secret,
    resource: `${sandbox.urls.graph}`,
  }).toString();
  return askEntra(sandbox, new URL(`${sandbox.urls.entra}/${tenant}/oauth2/token`), body);
}

/** One token request to the Entra stand-in in-process: ok, or the status and AADSTS codes it answered. */
async function askEntra(sandbox: Sandbox, url: URL, body: string): Promise<{ ok: boolean; reason: string }> {
  const res = await sandbox.entra.handle(
    {
      method: 'POST',
      url,
      path: url.pathname,
      query: url.searchParams,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: Buffer.from(body),
      remoteAddress: '127.0.0.1',
    },
    { clock: sandbox.clock, setAuthSubject: () => undefined },
  );
  if (res.status === 200) return { ok: true, reason: 'token issued' };
  const err = res.body as { error?: string; error_codes?: number[] } | undefined;
  return { ok: false, reason: `${res.status} ${err?.error ?? ''} ${err?.error_codes?.join(',') ?? ''}`.trim() };
}

/**
 * Does what the ServiceNow instance does for an oauth_entity that sends a client assertion (private key JWT signed with
 * its keystore, or its own key for Workload Identity Federation: sandbox/servicenow/certificates.ts) and asks the
 * Entra stand-in in-process for a token with it (client credentials, `client_assertion_type`
 * `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`,
 * https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow#second-case-access-token-request-with-a-certificate).
 */
export async function assertionWorks(
  sandbox: Sandbox,
  instance: string,
  entitySysId: string,
  appId: string,
): Promise<{ ok: boolean; reason: string }> {
  let signed: { clientId: string; tokenUrl: string; assertion: string };
  try {
    signed = sandbox.servicenow.outboundAssertion(instance, entitySysId);
  } catch (err) {
    return { ok: false, reason: `the instance cannot sign: ${(err as Error).message}` };
  }
  if (signed.clientId !== appId)
    return { ok: false, reason: `the record's client id is ${signed.clientId}, not ${appId}` };
  const tenant = sandbox.directory.tenantId;
  // The record's token URL when it is the Entra stand-in's, else the tenant's v2 endpoint there.
  const url = new URL(
    signed.tokenUrl.startsWith(sandbox.urls.entra)
      ? signed.tokenUrl
      : `${sandbox.urls.entra}/${tenant}/oauth2/v2.0/token`,
  );
  const body = new URLSearchParams({
    grant_type: 'client_credentials',
    client_id: appId,
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: signed.assertion,
    // The v1 endpoint takes a resource, v2 a scope (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow).
    ...(/\/oauth2\/token$/.test(url.pathname)
      ? { resource: sandbox.urls.graph }
      : { scope: `${sandbox.urls.graph}/.default` }),
  }).toString();
  return askEntra(sandbox, url, body);
}

export class ConsumerProbe {
  readonly failures: ProbeFailure[] = [];
  probes = 0;

  constructor(
    private readonly sandbox: Sandbox,
    readonly consumers: ConsumerRef[],
  ) {}

  /** Tries every consumer's held secret; records (never throws on) failures. */
  async probe(): Promise<ProbeFailure[]> {
    this.probes++;
    const found: ProbeFailure[] = [];
    for (const c of this.consumers) {
      const secret = c.held();
      const result =
        (await c.works?.()) ??
        (secret === undefined
          ? { ok: false, reason: 'holds no secret' }
          : await secretWorks(this.sandbox, c.appId, secret));
      if (!result.ok)
        found.push({ at: this.sandbox.clock.date().toISOString(), consumer: c.name, reason: result.reason });
    }
    this.failures.push(...found);
    return found;
  }
}

export interface IntegrationConsumers {
  instance: string;
  apps: Record<string, { appId: string }>;
  serviceNow: Record<string, string>;
}

/** The manual fields of a profile and the app role whose secret each holds. */
export function manualFields(profile: IntegrationProfile): { role: string; field: string; where: string }[] {
  return profile.apps.flatMap((a) =>
    a.secretConsumers.flatMap((c) => (c.kind === 'manual' ? [{ role: a.role, field: c.field, where: c.where }] : [])),
  );
}

/** Every consumer of an integration's secrets, as its profile declares them. */
export function profileConsumers(
  sandbox: Sandbox,
  profile: IntegrationProfile,
  i: IntegrationConsumers,
  manual: ManualConsumers,
): ConsumerRef[] {
  return profile.apps.flatMap((app) => {
    const appId = i.apps[app.role]?.appId;
    if (!appId) throw new Error(`integration has no ${app.role} app`);
    return app.secretConsumers.map((c): ConsumerRef => {
      if (c.kind === 'manual')
        return { name: `manual:${c.field}`, role: app.role, appId, held: () => manual.get(c.field) };
      const table = profile.serviceNow.records.find((r) => r.key === c.record)?.table;
      if (!table) throw new Error(`profile ${profile.id} has no record ${c.record}`);
      return {
        name: `servicenow:${c.record}`,
        role: app.role,
        appId,
        held: () => {
          const sysId = i.serviceNow[c.record];
          return sysId ? sandbox.servicenow.secretOf(i.instance, table, sysId) : undefined;
        },
        // A record switched to a private key JWT or federation holds no secret: probe what the instance would send.
        works: async () => {
          const sysId = i.serviceNow[c.record];
          if (!sysId || table !== 'oauth_entity' || sandbox.servicenow.credentialModeOf(i.instance, sysId) === 'secret')
            return undefined;
          return assertionWorks(sandbox, i.instance, sysId, appId);
        },
      };
    });
  });
}
