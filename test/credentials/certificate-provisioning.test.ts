/**
 * Provisioning with a certificate (private_key_jwt) instead of a client secret, end to end through the HTTP API and
 * the emailed approval, for the Entra ID spoke profile and the seed profile: the certificate is created in Key Vault,
 * registered on the app, handed to ServiceNow as a keystore whose JWT provider the OAuth provider record signs with,
 * every check passes, the instance itself gets a token with it (as ServiceNow would), and no client secret exists for
 * that app in Graph, Key Vault or ServiceNow. An instance without private-key JWT is refused at the preflight with
 * nothing written.
 */
import type { LocalStack } from '../../sandbox/stack';
import { assertionWorks } from '../../sandbox/consumers';
import { m365SupportAad } from '../../src/profiles/m365-support-aad';
import { snRow, spokeRequest } from '../profiles/spoke-driver';
import { api, type IntegrationView } from '../e2e/api-driver';
import {
  approverOf,
  decideFromEmail,
  requestFor,
  runToApproval,
  runToEnd,
  secretState,
  startProvisioning,
  startStackFor,
} from '../e2e/stack-driver';

jest.setTimeout(180_000);

let stack: LocalStack;
beforeAll(async () => {
  stack = await startStackFor(['cert0001', 'cert0002', 'cert0003', 'cert0004'], {
    servicenow: { releases: { cert0004: 'vancouver' } },
  });
});
afterAll(() => stack?.close());

async function provision(request: Record<string, unknown>) {
  const id = await startProvisioning(stack, request);
  await runToApproval(stack, id);
  expect((await decideFromEmail(stack, approverOf(stack), id, 'approve')).status).toBe(200);
  const out = await runToEnd(stack, id, { throughApproval: true });
  const view = (await api(stack, 'GET', `/api/integrations/${id}`)).json as IntegrationView;
  return { id, out, view };
}

/** The app's credentials as Graph holds them. */
function appCredentials(objectId: string) {
  const app = stack.sandbox.directory.applications.get(objectId) as unknown as
    { passwordCredentials?: unknown[]; keyCredentials?: { keyId: string; customKeyIdentifier?: string }[] } | undefined;
  return { passwords: app?.passwordCredentials ?? [], keys: app?.keyCredentials ?? [] };
}

it('spoke: certificate instead of a secret, every check passes, the instance gets a token by private-key JWT', async () => {
  const instance = 'cert0001';
  const { id, out, view } = await provision(spokeRequest(stack, instance, { credential: 'certificate' }));
  expect(out.outcome).toBe('active');
  expect(out.checks.map((c) => [c.name, c.ok])).toEqual([
    ['certificate token (spoke)', true],
    ['records consistent', true],
  ]);
  const app = view.created.apps.spoke;
  // Graph: one key credential (the certificate), no password.
  const creds = appCredentials(app.objectId);
  expect(creds.passwords).toEqual([]);
  expect(creds.keys).toHaveLength(1);
  // Key Vault: no client secret for the app, the certificate exists.
  expect(await secretState(`${id}-spoke`.toLowerCase())).toBe('absent');
  // ServiceNow: the provider signs with the JWT provider, holds no secret.
  const provider = snRow(stack, instance, 'oauth_entity', view.created.serviceNow.provider);
  expect(provider?.active).toBe('true');
  expect(stack.sandbox.servicenow.secretOf(instance, 'oauth_entity', view.created.serviceNow.provider) ?? '').toBe('');
  expect(stack.sandbox.servicenow.credentialModeOf(instance, view.created.serviceNow.provider)).toBe('certificate');
  const certs = stack.sandbox.servicenow.records(instance, 'sys_certificate');
  expect(certs.filter((c) => c.values.active === 'true')).toHaveLength(1);
  // What ServiceNow does when the spoke asks for a token: sign with its keystore, Entra accepts it.
  expect(await assertionWorks(stack.sandbox, instance, view.created.serviceNow.provider, app.appId)).toEqual({
    ok: true,
    reason: 'token issued',
  });
  // The inventory lists a certificate, not a secret.
  const inv = (await api(stack, 'GET', `/api/credentials`)).json as {
    credentials: { integrationId: string; role: string; kind: string; secretName: string | null }[];
  };
  expect(inv.credentials.find((c) => c.integrationId === id && c.role === 'spoke')).toMatchObject({
    kind: 'certificate',
    secretName: null,
  });
  // Secrets never leave the activities: no PFX or keystore password in status, view or history.
  const text = JSON.stringify({ out, view });
  expect(text).not.toMatch(/MII[A-Za-z0-9+/]{40}/);
});

it('seed profile: the outbound app gets a certificate, the other apps keep their secrets', async () => {
  const instance = 'cert0002';
  const { out, view } = await provision(
    requestFor(stack, instance, { profile: m365SupportAad.id, options: { credential: 'certificate' } }),
  );
  expect(out.outcome).toBe('active');
  expect(out.checks.every((c) => c.ok)).toBe(true);
  expect(out.checks.map((c) => c.name)).toContain('certificate token (outbound)');
  const outbound = appCredentials(view.created.apps.outbound.objectId);
  expect(outbound.passwords).toEqual([]);
  expect(outbound.keys).toHaveLength(1);
  expect(appCredentials(view.created.apps.restApi.objectId).passwords).toHaveLength(1);
  const provider = view.created.serviceNow.outboundProvider;
  expect(stack.sandbox.servicenow.credentialModeOf(instance, provider)).toBe('certificate');
  expect(await assertionWorks(stack.sandbox, instance, provider, view.created.apps.outbound.appId)).toEqual({
    ok: true,
    reason: 'token issued',
  });
});

it('spoke: federated, nothing stored; the app trusts the instance as issuer', async () => {
  const instance = 'cert0003';
  const { out, view } = await provision(spokeRequest(stack, instance, { credential: 'federated' }));
  expect([out.outcome, out.error]).toEqual(['active', undefined]);
  expect(out.checks.map((c) => [c.name, c.ok])).toEqual([
    ['federated credential (spoke)', true],
    ['records consistent', true],
  ]);
  const creds = appCredentials(view.created.apps.spoke.objectId);
  expect(creds.passwords).toEqual([]);
  expect(creds.keys).toEqual([]);
  expect(await secretState(`${view.id}-spoke`.toLowerCase())).toBe('absent');
  // The OAuth provider the connection created is the one the spoke's chain uses; the instance signs with its own key.
  const provider = view.created.serviceNow.provider;
  expect(stack.sandbox.servicenow.credentialModeOf(instance, provider)).toBe('federated');
  expect(stack.sandbox.servicenow.secretOf(instance, 'oauth_entity', provider) ?? '').toBe('');
  expect(await assertionWorks(stack.sandbox, instance, provider, view.created.apps.spoke.appId)).toEqual({
    ok: true,
    reason: 'token issued',
  });
});

it('refuses a certificate on an instance without private-key JWT at the preflight, listing why, writing nothing', async () => {
  const instance = 'cert0004';
  const mark = stack.sandbox.journal.mark();
  const id = await startProvisioning(stack, spokeRequest(stack, instance, { credential: 'certificate' }));
  const out = await runToEnd(stack, id);
  expect(out.outcome).toBe('failed');
  expect(out.error).toMatch(/cannot use a certificate credential/);
  const writes = stack.sandbox.journal
    .writes({ since: mark })
    .filter((e) => ['graph', 'keyvault', 'servicenow'].includes(e.service))
    .filter((e) => !/sendMail|\/table\/(incident|sys_journal_field)/.test(e.path));
  expect(writes.map((e) => `${e.method} ${e.path}`)).toEqual([]);
});
