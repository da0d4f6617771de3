/**
 * The Entra ID spoke profile against the sandbox, through the HTTP API and the emailed approval: Graph application
 * permissions declared on the app but granted only after the approval (by app role assignment when the deployment
 * allows it, else handed to an administrator as the admin-consent link), the permission tier a request picks, the
 * ServiceNow chain the spoke's alias uses, and the connection alias found, never written.
 */
import { GRAPH_APP_ID, GRAPH_ROLES } from '../../sandbox/directory';
import type { LocalStack } from '../../sandbox/stack';
import { grantedOnGraph, snRow, spokeRequest } from './spoke-driver';
import { api, mailsTo, type IntegrationView } from '../e2e/api-driver';
import {
  approverOf,
  decideFromEmail,
  runToApproval,
  runToEnd,
  startProvisioning,
  startStackFor,
  withSettings,
} from '../e2e/stack-driver';

jest.setTimeout(120_000);

let stack: LocalStack;
beforeAll(async () => {
  stack = await startStackFor(['spoke0001', 'spoke0002', 'spoke0003', 'spoke0004']);
});
afterAll(() => stack?.close());

const spoke = (instance: string, options: Record<string, unknown> = {}) => spokeRequest(stack, instance, options);

it('declares the tier on the app, grants nothing before the approval, grants it after, and every check passes', async () => {
  const instance = 'spoke0001';
  const id = await startProvisioning(stack, spoke(instance));
  await runToApproval(stack, id);
  const before = (await api(stack, 'GET', `/api/integrations/${id}`)).json as IntegrationView;
  const appId = before.created.apps.spoke.appId;
  // Declared (requiredResourceAccess with the read tier's app role ids), not granted.
  const app = stack.sandbox.directory.applications.get(before.created.apps.spoke.objectId);
  const declared = app?.extra?.requiredResourceAccess as
    { resourceAppId: string; resourceAccess: { id: string; type: string }[] }[] | undefined;
  expect(declared).toEqual([
    {
      resourceAppId: GRAPH_APP_ID,
      resourceAccess: ['User.Read.All', 'Group.Read.All', 'GroupMember.Read.All'].map((v) => ({
        id: GRAPH_ROLES[v as keyof typeof GRAPH_ROLES],
        type: 'Role',
      })),
    },
  ]);
  expect(grantedOnGraph(stack, appId)).toEqual([]);
  // The approver sees the permissions.
  const mail = JSON.stringify(mailsTo(stack, approverOf(stack)).at(-1)?.message ?? '');
  expect(mail).toContain('Application permissions');
  expect(mail).toContain('GroupMember.Read.All');

  expect((await decideFromEmail(stack, approverOf(stack), id, 'approve')).status).toBe(200);
  const out = await runToEnd(stack, id, { throughApproval: true });
  expect(out.outcome).toBe('active');
  expect(grantedOnGraph(stack, appId)).toEqual(['Group.Read.All', 'GroupMember.Read.All', 'User.Read.All']);
  expect(out.checks.map((c) => [c.name, c.ok])).toEqual([
    ['Graph token (spoke)', true],
    ['records consistent', true],
  ]);

  // The chain the alias sn_azure_ad_spoke.AzureAD uses, all active after the approval.
  const view = (await api(stack, 'GET', `/api/integrations/${id}`)).json as IntegrationView;
  const sn = view.created.serviceNow;
  const connection = snRow(stack, instance, 'http_connection', sn.connection);
  const alias = snRow(stack, instance, 'sys_alias', sn.alias);
  const credential = snRow(stack, instance, 'oauth_2_0_credentials', sn.credential);
  const profile = snRow(stack, instance, 'oauth_entity_profile', sn.providerProfile);
  const provider = snRow(stack, instance, 'oauth_entity', sn.provider);
  expect(alias?.id).toBe('sn_azure_ad_spoke.AzureAD');
  expect(connection).toMatchObject({
    connection_alias: sn.alias,
    credential: sn.credential,
    connection_url: stack.env().GRAPH_BASE_URL,
    active: 'true',
  });
  expect(credential).toMatchObject({ oauth_entity_profile: sn.providerProfile, active: 'true' });
  expect(profile).toMatchObject({ oauth_entity: sn.provider, grant_type: 'client_credentials', default: 'true' });
  expect(provider).toMatchObject({ client_id: appId, default_grant_type: 'client_credentials', active: 'true' });
  expect(provider?.token_url).toMatch(/\/oauth2\/v2\.0\/token$/);
  expect(snRow(stack, instance, 'oauth_entity_scope', sn.graphScope)?.oauth_entity_scope).toBe(
    `${stack.env().GRAPH_BASE_URL}/.default`,
  );
  // The alias is the spoke's: found, never created by the run (compensation could never remove it).
  expect(out.records.some((r) => r.created && r.table === 'sys_alias')).toBe(false);
  // The proof of the secret inside ServiceNow is a person's: "Get OAuth Token", re-enter from Key Vault if refused.
  expect(view.pendingManualActions.map((a) => a.title)).toEqual([
    'ServiceNow: get the first OAuth token of the Entra ID spoke connection',
  ]);
});

it('grants the lifecycle tier when the request picks it, and refuses a tier the profile does not have', async () => {
  const bad = await api(stack, 'POST', '/api/integrations', {
    body: spoke('spoke0002', { permissionTier: 'all' }),
  });
  expect(bad.status).toBe(400);
  expect(bad.text).toContain('options.permissionTier must be one of: read, lifecycle (profile entra-id-spoke)');

  const id = await startProvisioning(stack, spoke('spoke0002', { permissionTier: 'lifecycle' }));
  await runToApproval(stack, id);
  expect((await decideFromEmail(stack, approverOf(stack), id, 'approve')).status).toBe(200);
  const out = await runToEnd(stack, id, { throughApproval: true });
  expect(out.outcome).toBe('active');
  const appId = out.apps.find((a) => a.role === 'spoke')?.appId ?? '';
  expect(grantedOnGraph(stack, appId)).toEqual(
    [
      'Group.Read.All',
      'GroupMember.Read.All',
      'User.Read.All',
      'User.ReadWrite.All',
      'GroupMember.ReadWrite.All',
    ].sort(),
  );
});

it('without GRANT_ADMIN_CONSENT nothing is granted: an administrator gets the admin-consent link, the token check says so', async () => {
  await withSettings({ GRANT_ADMIN_CONSENT: 'false', CHECK_ATTEMPTS: '1' }, async () => {
    const id = await startProvisioning(stack, spoke('spoke0003'));
    await runToApproval(stack, id);
    expect((await decideFromEmail(stack, approverOf(stack), id, 'approve')).status).toBe(200);
    const out = await runToEnd(stack, id, { throughApproval: true });
    const appId = out.apps.find((a) => a.role === 'spoke')?.appId ?? '';
    expect(grantedOnGraph(stack, appId)).toEqual([]);
    expect(out.outcome).toBe('checks-failed');
    expect(out.checks.find((c) => c.name === 'Graph token (spoke)')).toMatchObject({
      ok: false,
      detail: expect.stringContaining(
        'lacks the application permission(s) User.Read.All, Group.Read.All, GroupMember.Read.All',
      ),
    });
    const consent = out.manualActions.find((a) => a.title === 'Grant admin consent to the spoke app');
    const link = consent?.steps[0]?.value ?? '';
    expect(link).toMatch(/\/v2\.0\/adminconsent\?client_id=/);
    expect(new URL(link).searchParams.get('client_id')).toBe(appId);
    expect(new URL(link).searchParams.get('redirect_uri')).toMatch(/\/oauth_redirect\.do$/);
  });
});

it('stops at the preflight, before creating anything, when the spoke is not installed (no alias)', async () => {
  const instance = 'spoke0004';
  const alias = stack.sandbox.servicenow
    .records(instance, 'sys_alias')
    .find((r) => r.values.id === 'sn_azure_ad_spoke.AzureAD');
  if (!alias) throw new Error('the sandbox did not seed the alias');
  alias.values.id = 'something.else';
  try {
    const mark = stack.sandbox.journal.mark();
    const id = await startProvisioning(stack, spoke(instance));
    const out = await runToEnd(stack, id);
    expect(out.outcome).toBe('failed');
    expect(out.error).toContain('no record sys_alias id=sn_azure_ad_spoke.AzureAD');
    expect(out.error).toContain('Install and activate the Microsoft Entra ID spoke');
    // Read-only: nothing written to Graph, Key Vault or ServiceNow except the ticket's work notes.
    const writes = stack.sandbox.journal
      .writes({ since: mark })
      .filter((e) => ['graph', 'keyvault', 'servicenow'].includes(e.service))
      .filter((e) => !/sendMail|\/table\/(incident|sys_journal_field)/.test(e.path));
    expect(writes.map((e) => `${e.method} ${e.path}`)).toEqual([]);
  } finally {
    alias.values.id = 'sn_azure_ad_spoke.AzureAD';
  }
});
