/**
 * The bootstrap script: its roles are exactly the union the registered profiles' writes need (derived here from the
 * profiles themselves), it names no secret, and run against a fresh stand-in instance it creates the trust once:
 * the second run creates nothing, the data applier (what the sandbox seeds) does the same, and the instance then
 * accepts the identity's token shape.
 */
import { SandboxClock } from '../../sandbox/core/clock';
import { applyBootstrapPlan } from '../../sandbox/servicenow/bootstrap';
import { seedInstance } from '../../sandbox/servicenow/seed';
import { InstanceStore } from '../../sandbox/servicenow/store';
import { bootstrapPlan, type BootstrapPlan } from '../../src/bootstrap/plan';
import { controlPlaneRoles, TABLE_WRITE_ROLES } from '../../src/bootstrap/roles';
import { renderBootstrapScript } from '../../src/bootstrap/script';
import { allProfiles } from '../../src/profiles';
import { serviceNowNeeds } from '../../src/profiles/needs';
import { runBackgroundScript } from './glide';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const CLIENT_ID = '0f4b8e2a-7c1d-4e5f-9a3b-2c6d8e0f1a2b';
const OID = 'a1b2c3d4-0000-4000-8000-00000000000a';

const plan = (): BootstrapPlan =>
  bootstrapPlan({
    tenantId: TENANT,
    authorityHost: 'https://login.microsoftonline.com',
    clientId: CLIENT_ID,
    objectId: OID,
    roles: controlPlaneRoles(allProfiles()),
  });

function freshInstance(): InstanceStore {
  const store = new InstanceStore(new SandboxClock());
  seedInstance(store, { adminUser: 'admin', adminPassword: 'unused-in-this-test-1' });
  return store;
}

/** The roles the test derives on its own: every table a profile writes (per serviceNowNeeds), mapped to its role. */
function rolesTheProfilesNeed(): string[] {
  const roles = new Set<string>(['itil']); // work notes on the request ticket
  for (const profile of allProfiles()) {
    const needs = serviceNowNeeds(profile);
    const lookups = new Set((needs.requiredRecords ?? []).map((r) => r.table));
    const tables = new Set(
      profile.serviceNow.records.filter((r) => !r.lookup && !lookups.has(r.table)).map((r) => r.table),
    );
    if (profile.serviceNow.roleGrants.length || Object.keys(profile.serviceNow.grantableUserRoles).length)
      tables.add('sys_user_has_role');
    for (const table of tables) {
      const role = TABLE_WRITE_ROLES[table]?.role;
      if (!role) throw new Error(`no role known for ${table}`);
      roles.add(role);
    }
  }
  return [...roles].sort();
}

describe('the bootstrap script', () => {
  it('grants exactly the union of the roles the profiles need, each listed with its justification', () => {
    const script = renderBootstrapScript(plan(), 'contoso');
    const expected = rolesTheProfilesNeed();
    expect(expected).toEqual(['admin', 'connection_admin', 'credential_admin', 'itil', 'oauth_admin', 'user_admin']);
    // The grants the script performs (its data) …
    const granted = plan()
      .steps.filter((s) => s.table === 'sys_user_has_role')
      .map((s) => (s.key.role as { role: string }).role)
      .sort();
    expect(granted).toEqual(expected);
    // … and the roles its comments list and justify.
    const commented = [...script.matchAll(/^\/\/ {3}([a-z_]+): tables /gm)].map((m) => m[1]).sort();
    expect(commented).toEqual(expected);
    // Never the elevated security_admin: IP allow rules stay a manual step.
    expect(granted).not.toContain('security_admin');
  });

  it('names the tenant metadata (v2), the audience client id and the identity object id, and no secret', () => {
    const script = renderBootstrapScript(plan(), 'contoso');
    expect(script).toContain(`https://login.microsoftonline.com/${TENANT}/v2.0/.well-known/openid-configuration`);
    expect(script).toContain(CLIENT_ID);
    expect(script).toContain(OID);
    expect(script).toMatch(/"user_claim": "oid"/);
    expect(script).not.toMatch(/user_password|client_secret|secret_id/i);
    expect(script).toContain('/api/servicenow/instances/contoso/trust');
  });

  it('run twice on a fresh instance: creates the trust once, the second run creates nothing', () => {
    const store = freshInstance();
    const script = renderBootstrapScript(plan(), 'contoso');
    const first = runBackgroundScript(store, script);
    expect(first.error).toEqual([]);
    expect(first.inserts.map((i) => i.table)).toEqual([
      'oidc_provider_configuration',
      'oauth_oidc_entity',
      'oauth_entity_auth_scope_mapping',
      'sys_user',
      ...plan().roles.map(() => 'sys_user_has_role'),
    ]);
    expect(first.info.at(-1)).toMatch(/^done: 10 created, 1 found/);
    const user = store.find('sys_user', 'user_name', OID)!;
    expect(user.values).toMatchObject({ active: 'true', web_service_access_only: 'true', identity_type: 'machine' });
    const entity = store.rowsOf('oauth_oidc_entity').find((r) => r.values.client_id === CLIENT_ID)!;
    expect(entity.values.active).toBe('true');
    const provider = store.get(entity.values.oidc_provider_configuration)!;
    expect(provider.values).toMatchObject({ user_claim: 'oid', user_field: 'user_name' });

    const second = runBackgroundScript(store, script);
    expect(second.inserts).toEqual([]);
    expect(second.warn).toEqual([]);
    expect(second.info.at(-1)).toMatch(/^done: 0 created, 11 found/);
  });

  it('reports a revoked trust (machine user deactivated) instead of silently undoing it', () => {
    const store = freshInstance();
    const script = renderBootstrapScript(plan(), 'contoso');
    runBackgroundScript(store, script);
    store.find('sys_user', 'user_name', OID)!.values.active = 'false';
    const again = runBackgroundScript(store, script);
    expect(again.inserts).toEqual([]);
    expect(again.warn).toEqual([expect.stringMatching(/machine user .*: active is false, the trust needs true/)]);
    expect(store.find('sys_user', 'user_name', OID)!.values.active).toBe('false');
  });

  it('the data applier (what the sandbox seeds) ends in the same state as the script, and is idempotent too', () => {
    const byScript = freshInstance();
    const byData = freshInstance();
    runBackgroundScript(byScript, renderBootstrapScript(plan(), 'contoso'));
    const first = applyBootstrapPlan(byData, plan());
    expect(first.created).toHaveLength(10);
    expect(applyBootstrapPlan(byData, plan())).toEqual({ created: [], found: expect.any(Array), warnings: [] });
    const shape = (s: InstanceStore) =>
      ['oidc_provider_configuration', 'oauth_oidc_entity', 'oauth_entity_auth_scope_mapping', 'sys_user_has_role']
        .map((t) => s.rowsOf(t).length)
        .concat(s.rowsOf('sys_user').filter((u) => u.values.user_name === OID).length);
    expect(shape(byData)).toEqual(shape(byScript));
  });

  it('stops, creating nothing further, when a role does not exist on the instance', () => {
    const store = freshInstance();
    const role = store.find('sys_user_role', 'name', 'oauth_admin')!;
    store.delete(role.values.sys_id);
    const run = runBackgroundScript(store, renderBootstrapScript(plan(), 'contoso'));
    expect(run.error).toEqual([expect.stringMatching(/STOPPED at role oauth_admin .*no role oauth_admin/)]);
  });
});
