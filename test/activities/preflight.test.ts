import { createDeps, type Deps } from '../../src/app/deps';
import { preflight } from '../../src/activities/preflight';
import type { RefreshableCredential } from '../../src/clients/credentials';
import type { PreflightActivityInput } from '../../src/contracts/provision';
import { loadConfig } from '../../src/config';
import { configureLogging } from '../../src/lib/logger';
import { m365SupportAad } from '../../src/profiles/m365-support-aad';
import { APP_SCOPE_SYS_ID } from '../../sandbox/servicenow/seed';
import { startActivityEnv, type ActivityEnv } from '../helpers/activity-env';

let env: ActivityEnv;
let instance: string;

beforeAll(async () => {
  configureLogging({ sink: () => undefined });
  env = await startActivityEnv();
  instance = env.sandbox.env().SANDBOX_SERVICENOW_INSTANCE;
});
afterAll(async () => {
  await env?.close();
});

const input = (overrides: Partial<PreflightActivityInput> = {}): PreflightActivityInput => ({
  ...env.ref(),
  ipAllowlist: false,
  profile: m365SupportAad,
  ...overrides,
});

/** Changes a seeded row in place for the duration of `fn` (the stand-in's rows are live objects). */
async function withRowChanged<T>(
  table: string,
  match: (v: Record<string, string>) => boolean,
  column: string,
  value: string,
  fn: () => Promise<T>,
): Promise<T> {
  const row = env.sandbox.servicenow.records(instance, table).find((r) => match(r.values));
  if (!row) throw new Error(`no ${table} row to change`);
  const before = row.values[column];
  row.values[column] = value;
  try {
    return await fn();
  } finally {
    row.values[column] = before;
  }
}

describe('preflight', () => {
  it('with token auth, asks ServiceNow without waiting for the vault check (no credential comes from the vault)', async () => {
    expect(env.deps.config.serviceNow.authMode).toBe('entra');
    const mark = env.sandbox.journal.mark();
    // A slow vault: ServiceNow (no modelled latency) answers its first check long before the vault's one page does.
    env.sandbox.faults.add({
      service: 'keyvault',
      method: 'GET',
      path: '^/secrets$',
      action: { type: 'latency', ms: 3000 },
      times: 1,
    });
    try {
      const result = await preflight(input(), env.deps);
      expect(result.problems).toEqual([]);
    } finally {
      env.sandbox.faults.clear();
    }
    const calls = env.sandbox.journal.entries({ since: mark });
    const vault = calls.findIndex((e) => e.service === 'keyvault');
    const serviceNow = calls.filter((e) => e.service === 'servicenow');
    expect(vault).toBeGreaterThanOrEqual(0);
    expect(serviceNow.length).toBeGreaterThanOrEqual(4);
    // The journal records each call as it is answered: ServiceNow was asked without waiting for the vault's page (had
    // it waited, every ServiceNow call would come after it).
    expect(calls.slice(0, vault).filter((e) => e.service === 'servicenow').length).toBeGreaterThanOrEqual(1);
  });

  it('passes on a fresh sandbox, resolving the scope sys_id and the tenant GUID, and writes nothing', async () => {
    const mark = env.sandbox.journal.mark();
    const result = await preflight(input({ ipAllowlist: true }), env.deps);
    expect(result).toEqual({
      problems: [],
      scopeSysId: APP_SCOPE_SYS_ID,
      tenantId: env.sandbox.directory.tenantId,
      serviceNowAuth: { mode: env.deps.config.serviceNow.authMode, ok: true },
    });
    expect(env.sandbox.journal.writes({ since: mark }).filter((e) => e.service !== 'entra')).toEqual([]);
  });

  /** Runs the preflight with one slow answer per rule; the calls journalled meanwhile, in the order answered. */
  async function withSlow(deps: Deps, rules: { service: 'servicenow' | 'keyvault'; path: string }[]) {
    const slow = rules.map((r) =>
      env.sandbox.faults.add({ ...r, method: 'GET', action: { type: 'latency', ms: 1500 }, times: 1 }),
    );
    const mark = env.sandbox.journal.mark();
    try {
      const result = await preflight(input(), deps);
      expect(result.problems).toEqual([]);
      expect(result.scopeSysId).toBe(APP_SCOPE_SYS_ID);
    } finally {
      for (const f of slow) env.sandbox.faults.remove(f.id);
    }
    const calls = env.sandbox.journal.entries({ since: mark });
    return (service: string, re: RegExp) => calls.findIndex((e) => e.service === service && re.test(e.path));
  }

  it('reads the scoped app and the schema at once', async () => {
    // The journal records a call when it is answered, so the schema read is journalled first only if it did not
    // wait for the slow sys_scope read.
    const at = await withSlow(env.deps, [{ service: 'servicenow', path: '/api/now/v2/table/sys_scope$' }]);
    expect(at('servicenow', /\/sys_dictionary$/)).toBeGreaterThanOrEqual(0);
    expect(at('servicenow', /\/sys_dictionary$/)).toBeLessThan(at('servicenow', /\/sys_scope$/));
  });

  it('reports a missing app, role and inherited column and an unknown tenant, all at once', async () => {
    const result = await withRowChanged(
      'sys_scope',
      (v) => v.scope === 'x_mioms_m365_assis',
      'scope',
      'x_other',
      () =>
        withRowChanged(
          'sys_user_role',
          (v) => v.name === 'incident_manager',
          'name',
          'incident_mgr',
          () =>
            withRowChanged(
              'sys_dictionary',
              (v) => v.name === 'oauth_entity' && v.element === 'client_secret',
              'element',
              'client_secret_old',
              () => preflight(input({ tenant: 'nowhere.onmicrosoft.com' }), env.deps),
            ),
        ),
    );
    expect(result.scopeSysId).toBeUndefined();
    expect(result.tenantId).toBeUndefined();
    const p = result.problems;
    expect(p).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/does not have the app 'x_mioms_m365_assis' installed/),
        expect.stringMatching(/has no role 'incident_manager'/),
        expect.stringMatching(/column 'oauth_entity\.client_secret' does not exist/),
        expect.stringMatching(/Tenant 'nowhere\.onmicrosoft\.com' does not resolve/),
      ]),
    );
    expect(p).toHaveLength(4);
    // Child tables inherit: oauth_oidc_entity's own column is found, the parent's are looked up on oauth_entity.
    expect(p.join('\n')).not.toContain('oauth_oidc_entity');
  });

  it('reports a missing table and the ip_access columns only when the allow-list is asked for', async () => {
    const result = await withRowChanged(
      'sys_db_object',
      (v) => v.name === 'ip_access',
      'name',
      'ip_access_x',
      () => Promise.all([preflight(input({ ipAllowlist: true }), env.deps), preflight(input(), env.deps)]),
    );
    expect(result[0].problems).toEqual([expect.stringMatching(/has no table 'ip_access'/)]);
    expect(result[1].problems).toEqual([]);
  });

  /** Deps of the basic fallback (SERVICENOW_AUTH_MODE=basic) with the admin credentials stored in the vault. */
  function basicDeps() {
    env.sandbox.keyvault.seedSecret(`servicenow-${instance}-username`, env.sandbox.servicenow.adminUser);
    env.sandbox.keyvault.seedSecret(`servicenow-${instance}-password`, env.sandbox.servicenow.adminPassword);
    return createDeps(loadConfig({ ...env.settings, SERVICENOW_AUTH_MODE: 'basic' }), () => env.sandbox.clock.date());
  }

  it('basic fallback: reads both credential secrets at once', async () => {
    const at = await withSlow(basicDeps(), [
      { service: 'keyvault', path: `^/secrets/servicenow-${instance}-username/` },
    ]);
    expect(at('keyvault', /-password\/$/)).toBeGreaterThanOrEqual(0);
    expect(at('keyvault', /-password\/$/)).toBeLessThan(at('keyvault', /-username\/$/));
  });

  it('basic fallback: reports ServiceNow rejecting the admin password stored in Key Vault', async () => {
    const deps = basicDeps();
    expect((await preflight(input(), deps)).serviceNowAuth).toEqual({ mode: 'basic', ok: true });
    const name = `servicenow-${instance}-password`;
    await deps.secrets.setSecret(name, 'not-the-password');
    try {
      const result = await preflight(input(), deps);
      expect(result.problems).toEqual([
        expect.stringMatching(
          new RegExp(`instance '${instance}' rejected the admin credentials from Key Vault .*'${name}'.*401`),
        ),
        expect.stringMatching(/checks were not run/),
      ]);
      expect(result.problems.join('\n')).not.toContain('not-the-password');
      expect(result.serviceNowAuth).toEqual({ mode: 'basic', ok: false });
    } finally {
      await deps.secrets.setSecret(name, env.sandbox.servicenow.adminPassword);
    }
  });

  it('basic fallback: reports missing credential secrets in Key Vault', async () => {
    const result = await preflight(input({ serviceNowInstance: 'dev99999' }), basicDeps());
    expect(result.problems).toEqual([
      expect.stringMatching(/Key Vault secret 'servicenow-dev99999-username' .* does not exist/),
      expect.stringMatching(/Key Vault secret 'servicenow-dev99999-password' .* does not exist/),
      expect.stringMatching(/'dev99999' was not checked/),
    ]);
  });

  it('token auth (default) reads no ServiceNow secret and says the trust works', async () => {
    const mark = env.sandbox.journal.mark();
    const result = await preflight(input(), env.deps);
    expect(env.deps.config.serviceNow.authMode).toBe('entra');
    expect(result.serviceNowAuth).toEqual({ mode: 'entra', ok: true });
    const reads = env.sandbox.journal
      .entries({ since: mark })
      .filter((e) => e.service === 'keyvault' && /servicenow-/.test(e.path));
    expect(reads).toEqual([]);
  });

  it("token auth keeps the app's cached tokens: a second preflight asks Entra for none", async () => {
    await preflight(input(), env.deps);
    const refreshes = (env.deps.credential as RefreshableCredential).refreshes;
    const mark = env.sandbox.journal.mark();
    const result = await preflight(input(), env.deps);
    expect(result.serviceNowAuth).toEqual({ mode: 'entra', ok: true });
    const tokenRequests = env.sandbox.journal
      .entries({ service: 'entra', since: mark })
      .filter((e) => e.method === 'POST');
    expect(tokenRequests).toEqual([]);
    expect((env.deps.credential as RefreshableCredential).refreshes).toBe(refreshes);
  });

  it('takes the tenant id the request just resolved (tenantVerified) without fetching its metadata again', async () => {
    const mark = env.sandbox.journal.mark();
    const result = await preflight(
      input({ tenant: env.sandbox.directory.tenantId.toUpperCase(), tenantVerified: true }),
      env.deps,
    );
    expect(result).toMatchObject({ problems: [], tenantId: env.sandbox.directory.tenantId });
    const metadata = env.sandbox.journal
      .entries({ service: 'entra', since: mark })
      .filter((e) => e.path.includes('openid-configuration'));
    expect(metadata).toEqual([]);
  });

  it('token auth: a machine user that is deactivated gives a 401 naming the bootstrap step, and nothing is written', async () => {
    const oid = env.settings.SERVICENOW_IDENTITY_OBJECT_ID;
    const mark = env.sandbox.journal.mark();
    const result = await withRowChanged(
      'sys_user',
      (v) => v.user_name === oid,
      'active',
      'false',
      () => preflight(input(), env.deps),
    );
    expect(result.serviceNowAuth).toEqual({ mode: 'entra', ok: false });
    expect(result.problems).toEqual([
      expect.stringMatching(
        new RegExp(
          `instance '${instance}' rejected the app's Entra token .*GET /api/servicenow/bootstrap\\?instance=${instance}.*GET /api/servicenow/instances/${instance}/trust`,
        ),
      ),
      expect.stringMatching(/checks were not run/),
    ]);
    expect(env.sandbox.journal.writes({ since: mark }).filter((e) => e.service !== 'entra')).toEqual([]);
  });

  /** Runs preflight with one of our identity's Graph app roles removed (a fresh credential: tokens are cached). */
  async function withoutGraphRole(value: string) {
    const { directory } = env.sandbox;
    const graphSp = directory.spByAppId('00000003-0000-0000-c000-000000000000')!;
    const role = graphSp.appRoles.find((r) => r.value === value)!;
    const idx = directory.appRoleAssignments.findIndex(
      (a) => a.principalId === directory.functionIdentity.servicePrincipalId && a.appRoleId === role.id,
    );
    expect(idx).toBeGreaterThanOrEqual(0);
    const [removed] = directory.appRoleAssignments.splice(idx, 1);
    try {
      const fresh = createDeps(loadConfig(env.settings), () => env.sandbox.clock.date());
      return await preflight(input(), fresh);
    } finally {
      directory.appRoleAssignments.push(removed);
    }
  }

  it('reports a Graph token without the needed application permissions', async () => {
    const result = await withoutGraphRole('Application.ReadWrite.OwnedBy');
    expect(result.problems).toEqual([
      expect.stringMatching(/lacks the application permission Application\.ReadWrite\.OwnedBy/),
    ]);
  });

  it('does not require Mail.Send in the token (Exchange RBAC for Applications grants it outside Entra)', async () => {
    const result = await withoutGraphRole('Mail.Send');
    expect(result.problems).toEqual([]);
  });

  it('throws on a retriable ServiceNow error instead of reporting a problem', async () => {
    env.sandbox.faults.add({
      service: 'servicenow',
      path: '/sys_user_role',
      action: { type: 'status', status: 429, headers: { 'Retry-After': '3600' } },
    });
    try {
      await expect(preflight(input(), env.deps)).rejects.toMatchObject({ retriable: true, status: 429 });
    } finally {
      env.sandbox.faults.clear();
    }
  });
});
