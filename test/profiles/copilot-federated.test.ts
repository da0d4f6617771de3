/**
 * The Microsoft 365 Copilot connector for ServiceNow Knowledge (Federated Auth) against the sandbox, through the HTTP
 * API and the emailed approval: Microsoft's first-party service principal found by appId and never written, no client
 * secret anywhere, the v2 OIDC trust and the machine user named by the service principal's object id, the generated
 * ACL script, and a token of the documented shape (iss `{authority}/{tenantId}/v2.0`, aud = the first-party app id,
 * sub/oid = the service principal's object id) refused before the approval and accepted after it.
 */
import { COPILOT_FEDERATED_APP_ID } from '../../sandbox/directory';
import { mintFirstPartyToken } from '../../sandbox/entra/tokens';
import type { LocalStack } from '../../sandbox/stack';
import { runChecks } from '../../src/activities/checks';
import { getDeps } from '../../src/app/deps';
import {
  CONNECTOR_ROLES,
  CRAWL_TABLES,
  copilotServiceNowFederated as profile,
} from '../../src/profiles/copilot-servicenow-federated';
import { api, type IntegrationView } from '../e2e/api-driver';
import {
  approverOf,
  decideFromEmail,
  requestFor,
  runToApproval,
  runToEnd,
  startProvisioning,
  startStackFor,
} from '../e2e/stack-driver';

jest.setTimeout(120_000);

let stack: LocalStack;
beforeAll(async () => {
  stack = await startStackFor(['copilot0001', 'copilot0002']);
});
afterAll(() => stack?.close());

const copilotRequest = (instance: string) => requestFor(stack, instance, { profile: profile.id });
const row = (instance: string, table: string, sysId: string) =>
  stack.sandbox.servicenow.records(instance, table).find((r) => r.values.sys_id === sysId)?.values;
const spId = () => stack.sandbox.directory.spByAppId(COPILOT_FEDERATED_APP_ID)?.id ?? '';

/** GET /api/now/table/kb_knowledge?sysparm_limit=1 with a bearer token, as the connector reads. */
async function readKnowledge(instance: string, token: string): Promise<number> {
  const base = stack.env().SERVICENOW_URL_TEMPLATE.replace('{instance}', instance);
  const res = await fetch(`${base}/api/now/table/kb_knowledge?sysparm_limit=1`, {
    headers: { Accept: 'application/json', Authorization: `Bearer ${token}` },
  });
  return res.status;
}

it('trusts the first-party app only after the approval, with no app registration and no secret', async () => {
  const instance = 'copilot0001';
  const appsBefore = stack.sandbox.directory.applications.size;
  const mark = stack.sandbox.journal.mark();
  const id = await startProvisioning(stack, copilotRequest(instance));
  await runToApproval(stack, id);

  // The documented token shape.
  const token = await mintFirstPartyToken(stack.sandbox.directory, COPILOT_FEDERATED_APP_ID);
  expect(token.claims).toMatchObject({
    iss: `https://login.microsoftonline.com/${stack.sandbox.directory.tenantId}/v2.0`,
    aud: COPILOT_FEDERATED_APP_ID,
    sub: spId(),
    oid: spId(),
    ver: '2.0',
  });
  // Before the approval the records exist but are inert: the token is refused.
  expect(await readKnowledge(instance, token.accessToken)).toBe(401);

  expect((await decideFromEmail(stack, approverOf(stack), id, 'approve')).status).toBe(200);
  const out = await runToEnd(stack, id, { throughApproval: true });
  expect(out.outcome).toBe('active');
  expect(out.checks.map((c) => [c.name, c.ok])).toEqual([
    ['OIDC metadata (oidcProvider)', true],
    ['service principal user (copilot)', true],
    ['records consistent', true],
  ]);
  expect(await readKnowledge(instance, token.accessToken)).toBe(200);
  // Another audience is not trusted (the OIDC entity's client id is the first-party app id).
  const graphToken = await mintFirstPartyToken(stack.sandbox.directory, '00000003-0000-0000-c000-000000000000');
  expect(await readKnowledge(instance, graphToken.accessToken)).toBe(401);

  // The service principal is found, never created or changed; no application registration, nothing compensable.
  expect(out.apps).toEqual([
    expect.objectContaining({
      role: 'copilot',
      appId: COPILOT_FEDERATED_APP_ID,
      servicePrincipalId: spId(),
      objectId: '',
      created: false,
    }),
  ]);
  expect(stack.sandbox.directory.applications.size).toBe(appsBefore);
  expect([...out.apps, ...out.secrets].filter((c) => c.created)).toEqual([]);
  const graphWrites = stack.sandbox.journal
    .writes({ since: mark })
    .filter((e) => ['graph', 'keyvault'].includes(e.service) && !/sendMail/.test(e.path));
  expect(graphWrites.map((e) => `${e.method} ${e.path}`)).toEqual([]);
  // No client secret: no secrets step result, no Key Vault secret of this integration.
  expect(out.secrets).toEqual([]);
  const kv: string[] = [];
  for await (const p of getDeps().secrets.listPropertiesOfSecrets())
    if (p.name.startsWith(id.toLowerCase()) || p.tags?.integrationId === id) kv.push(p.name);
  expect(kv).toEqual([]);

  // The ServiceNow side, as federated_auth_setup.js sets it up.
  const sn = ((await api(stack, 'GET', `/api/integrations/${id}`)).json as IntegrationView).created.serviceNow;
  expect(row(instance, 'oidc_provider_configuration', sn.oidcProvider)).toMatchObject({
    oidc_url: `${stack.env().ENTRA_AUTHORITY_HOST}/${stack.sandbox.directory.tenantId}/v2.0/.well-known/openid-configuration`,
    oidc_config_cache_life_span: '120',
    user_claim: 'sub',
    user_field: 'user_name',
    enable_jti_verification: 'false',
  });
  expect(row(instance, 'oauth_oidc_entity', sn.oidcEntity)).toMatchObject({
    client_id: COPILOT_FEDERATED_APP_ID,
    oidc_provider_configuration: sn.oidcProvider,
    scope_restriction_status: 'useraccount',
    active: 'true',
  });
  const scopes = stack.sandbox.servicenow
    .records(instance, 'sys_auth_scope')
    .filter((r) => r.values.name === 'useraccount');
  expect(scopes.map((r) => r.values.sys_id)).toEqual([sn.authScope]); // found, not seeded or created twice
  expect(row(instance, 'oauth_entity_auth_scope_mapping', sn.entityScope)).toMatchObject({
    oauth_entity: sn.oidcEntity,
    auth_scope: sn.authScope,
  });
  expect(out.records.some((r) => r.created && r.table === 'sys_auth_scope')).toBe(false);
  expect(row(instance, 'sys_user', sn.connectorUser)).toMatchObject({
    user_name: spId(),
    identity_type: 'machine',
    web_service_access_only: 'true',
    active: 'true',
    locked_out: 'false',
  });
  expect(
    Object.keys(sn)
      .filter((k) => k.startsWith('grant:'))
      .sort(),
  ).toEqual(CONNECTOR_ROLES.map((r) => `grant:${spId()}:${r}`).sort());

  // Hand-offs: the generated ACL script (every crawl table, the user, no placeholder or secret left), the admin center.
  const acl = out.manualActions.find((a) => a.title.includes('read ACLs'));
  const script = acl?.steps.find((s) => s.label === 'Run this script')?.value ?? '';
  for (const table of CRAWL_TABLES) expect(script).toContain(`'${table}'`);
  expect(script).toContain(`var USER = '${spId()}';`);
  // ACLs are found by this script's own marker only (an instance's own read ACLs are never changed).
  expect(script).toContain(
    "ensure('sys_security_acl', { name: table, type: 'record', operation: 'read', description: MARKER }",
  );
  expect(script).not.toMatch(/\{[A-Za-z][A-Za-z0-9_.]*\}/);
  expect(script).not.toMatch(/secret|password/i);
  const center = out.manualActions.find((a) => a.title.startsWith('Microsoft 365 admin center'));
  expect(center?.steps).toEqual(
    expect.arrayContaining([
      { label: 'Instance URL', value: stack.env().SERVICENOW_URL_TEMPLATE.replace('{instance}', instance) },
      { label: 'Authentication type', value: 'Federated Auth' },
    ]),
  );

  // The servicePrincipalUser check is honest: a user missing a role, or named otherwise, fails it.
  const grant = stack.sandbox.servicenow
    .records(instance, 'sys_user_has_role')
    .find((r) => r.values.sys_id === sn[`grant:${spId()}:user_admin`]);
  if (!grant) throw new Error('no user_admin grant');
  const user = row(instance, 'sys_user', sn.connectorUser);
  if (!user) throw new Error('no connector user');
  const check = profile.checks.filter((c) => c.kind === 'servicePrincipalUser');
  const input = {
    integrationId: id,
    instanceId: `${id}-checks`,
    profileId: profile.id,
    tenant: stack.env().SANDBOX_TENANT_DOMAIN,
    tenantName: 'Contoso',
    serviceNowInstance: instance,
    apps: out.apps,
    secrets: out.secrets,
    records: out.records,
    checks: check,
    expectedRecords: [],
  };
  grant.values.state = 'pending';
  try {
    expect((await runChecks(input, getDeps()))[0]).toMatchObject({
      ok: false,
      detail: expect.stringContaining('lacks the role(s) user_admin'),
    });
  } finally {
    grant.values.state = 'active';
  }
  user.user_name = 'someone-else';
  try {
    expect((await runChecks(input, getDeps()))[0]).toMatchObject({
      ok: false,
      detail: expect.stringContaining(`the service principal's object id is ${spId()}`),
    });
  } finally {
    user.user_name = spId();
  }
  expect((await runChecks(input, getDeps()))[0]).toMatchObject({ ok: true });
});

it('stops with the hand-off when the tenant has no service principal of the first-party app, writing nothing', async () => {
  const sp = stack.sandbox.directory.spByAppId(COPILOT_FEDERATED_APP_ID);
  if (!sp) throw new Error('the sandbox did not seed the first-party service principal');
  sp.deletedAt = stack.sandbox.clock.now();
  try {
    const mark = stack.sandbox.journal.mark();
    const id = await startProvisioning(stack, copilotRequest('copilot0002'));
    const out = await runToEnd(stack, id);
    expect(out.outcome).toBe('failed');
    expect(out.error).toContain(`no service principal for app ${COPILOT_FEDERATED_APP_ID}`);
    expect(out.error).toContain('Copilot > Connectors > Gallery > ServiceNow Knowledge');
    expect(out.error).toContain('cancels it');
    const writes = stack.sandbox.journal
      .writes({ since: mark })
      .filter((e) => ['graph', 'keyvault', 'servicenow'].includes(e.service))
      .filter((e) => !/sendMail|\/table\/(incident|sys_journal_field)/.test(e.path));
    expect(writes.map((e) => `${e.method} ${e.path}`)).toEqual([]);
  } finally {
    sp.deletedAt = null;
  }
});
