/**
 * The consumers of an integration's client secrets, as the outside world holds them, and a probe that asks Entra
 * whether each one still works. Used by the rotation tests (after every history event: no consumer may ever hold a
 * secret that does not work) and by `npm run demo -- --rotate` (consumerOutage).
 *
 * Consumers (docs/reference/m365-support-integration.md#what-each-secret-feeds): ServiceNow's outbound provider
 * (oauth_entity.client_secret) and OIDC entity (oauth_oidc_entity.client_secret), read from the sandbox store; the
 * Microsoft 365 admin center repository ("Client secret" = Rest API secret, "Rest user password" = Rest User secret),
 * which has no API and is simulated here: the person doing a hand-off copies the value from Key Vault into it.
 */
import type { Sandbox } from './index';

export interface ConsumerRef {
  /** e.g. `servicenow:outboundProvider`, `admincenter:Client secret`. */
  name: string;
  role: string;
  appId: string;
  /** The secret value this consumer holds now (undefined: it holds none). */
  held(): string | undefined;
}

export interface ProbeFailure {
  at: string;
  consumer: string;
  reason: string;
}

/** The Microsoft 365 admin center repository fields, simulated (no API exists). */
export class AdminCenterState {
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
  const url = new URL(`${sandbox.urls.entra}/${tenant}/oauth2/token`);
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
        secret === undefined
          ? { ok: false, reason: 'holds no secret' }
          : await secretWorks(this.sandbox, c.appId, secret);
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

/** The seed profile's consumers of an integration (ServiceNow records and the simulated admin center). */
export function seedProfileConsumers(
  sandbox: Sandbox,
  i: IntegrationConsumers,
  adminCenter: AdminCenterState,
): ConsumerRef[] {
  const app = (role: string) => {
    const a = i.apps[role];
    if (!a) throw new Error(`integration has no ${role} app`);
    return a.appId;
  };
  const sn = (key: string, table: string) => () => {
    const sysId = i.serviceNow[key];
    return sysId ? sandbox.servicenow.secretOf(i.instance, table, sysId) : undefined;
  };
  return [
    {
      name: 'servicenow:outboundProvider',
      role: 'outbound',
      appId: app('outbound'),
      held: sn('outboundProvider', 'oauth_entity'),
    },
    {
      name: 'servicenow:oidcEntity',
      role: 'restApi',
      appId: app('restApi'),
      held: sn('oidcEntity', 'oauth_oidc_entity'),
    },
    {
      name: 'admincenter:Client secret',
      role: 'restApi',
      appId: app('restApi'),
      held: () => adminCenter.get('Client secret'),
    },
    {
      name: 'admincenter:Rest user password',
      role: 'restUser',
      appId: app('restUser'),
      held: () => adminCenter.get('Rest user password'),
    },
  ];
}
