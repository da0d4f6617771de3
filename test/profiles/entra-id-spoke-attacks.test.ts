/**
 * The entra-id-spoke profile under attack: permission tiers across re-provisioning, two integrations on
 * one instance (natural keys of http_connection and the OAuth credential), GET /api/profiles.
 */
import type { LocalStack } from '../../sandbox/stack';
import { grantedOnGraph, snRow, spokeRequest } from './spoke-driver';
import { registerProfile } from '../../src/profiles';
import { entraIdSpoke } from '../../src/profiles/entra-id-spoke';
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

jest.setTimeout(180_000);

const COPY_ID = 'entra-id-spoke-copy';
const READ = ['Group.Read.All', 'GroupMember.Read.All', 'User.Read.All'];
let stack: LocalStack;
let unregister: (() => void) | undefined;
beforeAll(async () => {
  // A second integration on the same instance and tenant (the integration id derives from tenant, instance and
  // profile; the sandbox has one tenant): as in test/security/two-integrations.test.ts. In production the same
  // happens with a second tenant of ALLOWED_TENANTS on the same instance.
  unregister = registerProfile({ ...entraIdSpoke, id: COPY_ID, title: `${entraIdSpoke.title} (copy)` });
  stack = await startStackFor(['rv0001', 'rv0002', 'rv0003', 'rv0004', 'rv0005']);
});
afterAll(async () => {
  unregister?.();
  await stack?.close();
});

const spoke = (instance: string, options: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) =>
  spokeRequest(stack, instance, options, extra);

async function provisionApproved(request: Record<string, unknown>, reprovision = false): Promise<string> {
  let id: string;
  if (reprovision) {
    const res = await api(stack, 'POST', '/api/integrations?reprovision=true', { body: request });
    expect(res.status).toBe(202);
    id = (res.json as { id: string }).id;
  } else id = await startProvisioning(stack, request);
  await runToApproval(stack, id);
  expect((await decideFromEmail(stack, approverOf(stack), id, 'approve')).status).toBe(200);
  const out = await runToEnd(stack, id, { throughApproval: true });
  expect(out.outcome).toBe('active');
  return id;
}

it('narrowing the tier (lifecycle -> read), approved, takes the write permissions away again', async () => {
  const id = await provisionApproved(spoke('rv0001', { permissionTier: 'lifecycle' }));
  const appId = ((await api(stack, 'GET', `/api/integrations/${id}`)).json as IntegrationView).created.apps.spoke.appId;
  expect(grantedOnGraph(stack, appId)).toContain('User.ReadWrite.All');

  await provisionApproved(spoke('rv0001', { permissionTier: 'read' }), true);
  // The approver of the narrowed plan saw only the read tier; the app must hold only that.
  expect(grantedOnGraph(stack, appId)).toEqual(READ);
});

it('widening the tier (read -> lifecycle) grants nothing before the new approval, nothing after a rejection', async () => {
  const id = await provisionApproved(spoke('rv0002'));
  const appId = ((await api(stack, 'GET', `/api/integrations/${id}`)).json as IntegrationView).created.apps.spoke.appId;
  const res = await api(stack, 'POST', '/api/integrations?reprovision=true', {
    body: spoke('rv0002', { permissionTier: 'lifecycle' }),
  });
  expect(res.status).toBe(202);
  const staged = await runToApproval(stack, id);
  expect(staged.plan?.mode).toBe('staged');
  expect(grantedOnGraph(stack, appId)).toEqual(READ);
  const app = [...stack.sandbox.directory.applications.values()].find((a) => a.appId === appId);
  expect((app?.extra?.requiredResourceAccess as { resourceAccess: unknown[] }[])[0].resourceAccess).toHaveLength(3);
  expect((await decideFromEmail(stack, approverOf(stack), id, 'reject')).status).toBe(200);
  await runToEnd(stack, id, { throughApproval: true });
  expect(grantedOnGraph(stack, appId)).toEqual(READ);
});

it("a second integration on the instance leaves the first one's live connection and credential alone", async () => {
  const instance = 'rv0003';
  const a = await provisionApproved(spoke(instance));
  const snA = ((await api(stack, 'GET', `/api/integrations/${a}`)).json as IntegrationView).created.serviceNow;
  const facts = () => ({
    connectionCredential: snRow(stack, instance, 'http_connection', snA.connection)?.credential,
    connectionActive: snRow(stack, instance, 'http_connection', snA.connection)?.active,
    credentialProfile: snRow(stack, instance, 'oauth_2_0_credentials', snA.credential)?.oauth_entity_profile,
    credentialActive: snRow(stack, instance, 'oauth_2_0_credentials', snA.credential)?.active,
    profileOfCredentialExists: !!snRow(
      stack,
      instance,
      'oauth_entity_profile',
      snRow(stack, instance, 'oauth_2_0_credentials', snA.credential)?.oauth_entity_profile ?? '',
    ),
  });
  const before = facts();
  expect(before).toEqual({
    connectionCredential: snA.credential,
    connectionActive: 'true',
    credentialProfile: snA.providerProfile,
    credentialActive: 'true',
    profileOfCredentialExists: true,
  });

  // Team B asks for the same spoke on the same instance (not approved yet).
  const b = await startProvisioning(stack, requestFor(stack, instance, { profile: COPY_ID }));
  expect(b).not.toBe(a);
  await runToApproval(stack, b);
  const duringB = facts();
  // B is rejected and rolled back.
  expect((await decideFromEmail(stack, approverOf(stack), b, 'reject')).status).toBe(200);
  await runToEnd(stack, b, { throughApproval: true });
  const afterB = facts();
  expect({ duringB, afterB }).toEqual({ duringB: before, afterB: before });
});

it('another tenantName: B takes over the connection before its approval and leaves it dangling after its rollback', async () => {
  const instance = 'rv0004';
  const a = await provisionApproved(spoke(instance));
  const snA = ((await api(stack, 'GET', `/api/integrations/${a}`)).json as IntegrationView).created.serviceNow;
  const conn = () => snRow(stack, instance, 'http_connection', snA.connection);
  const b = await startProvisioning(stack, requestFor(stack, instance, { profile: COPY_ID, tenantName: 'Fabrikam' }));
  await runToApproval(stack, b);
  const duringB = { credential: conn()?.credential, active: conn()?.active };
  expect((await decideFromEmail(stack, approverOf(stack), b, 'reject')).status).toBe(200);
  await runToEnd(stack, b, { throughApproval: true });
  const afterB = {
    credential: conn()?.credential,
    active: conn()?.active,
    credentialExists: !!snRow(stack, instance, 'oauth_2_0_credentials', conn()?.credential ?? ''),
  };
  expect({ duringB, afterB }).toEqual({
    duringB: { credential: snA.credential, active: 'true' },
    afterB: { credential: snA.credential, active: 'true', credentialExists: true },
  });
});

it('a connection an admin configured by hand on the alias is not changed by a request before its approval', async () => {
  const instance = 'rv0005';
  const sn = stack.sandbox.servicenow;
  const alias = sn.records(instance, 'sys_alias').find((r) => r.values.id === 'sn_azure_ad_spoke.AzureAD')?.values;
  const cred = sn.seedRecord(instance, 'oauth_2_0_credentials', {
    name: 'Existing Azure AD credential',
    active: 'true',
  });
  const conn = sn.seedRecord(instance, 'http_connection', {
    name: 'Existing Azure AD',
    connection_alias: alias?.sys_id,
    credential: cred,
    connection_url: 'https://graph.microsoft.com',
    active: 'true',
  });
  const id = await startProvisioning(stack, spoke(instance));
  await runToApproval(stack, id);
  const duringApproval = {
    credential: snRow(stack, instance, 'http_connection', conn)?.credential,
    active: snRow(stack, instance, 'http_connection', conn)?.active,
  };
  expect((await decideFromEmail(stack, approverOf(stack), id, 'reject')).status).toBe(200);
  await runToEnd(stack, id, { throughApproval: true });
  const afterReject = {
    credential: snRow(stack, instance, 'http_connection', conn)?.credential,
    active: snRow(stack, instance, 'http_connection', conn)?.active,
  };
  expect({ duringApproval, afterReject }).toEqual({
    duringApproval: { credential: cred, active: 'true' },
    afterReject: { credential: cred, active: 'true' },
  });
});

it('GET /api/profiles tells a caller which permission tiers a profile offers', async () => {
  const res = await api(stack, 'GET', '/api/profiles');
  const listed = (res.json as { profiles: { id: string; options: Record<string, unknown> }[] }).profiles;
  expect(listed.find((p) => p.id === entraIdSpoke.id)?.options).toHaveProperty('permissionTier');
});
