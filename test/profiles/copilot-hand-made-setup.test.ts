/** A hand-made Copilot Federated Auth setup on the instance is never changed by a request (its user is handed off). */
import { COPILOT_FEDERATED_APP_ID } from '../../sandbox/directory';
import { mintFirstPartyToken } from '../../sandbox/entra/tokens';
import type { LocalStack } from '../../sandbox/stack';
import { copilotServiceNowFederated as profile } from '../../src/profiles/copilot-servicenow-federated';
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
  stack = await startStackFor(['copilot0009']);
});
afterAll(() => stack?.close());

const instance = 'copilot0009';
const spId = () => stack.sandbox.directory.spByAppId(COPILOT_FEDERATED_APP_ID)?.id ?? '';
async function readKnowledge(token: string): Promise<number> {
  const base = stack.env().SERVICENOW_URL_TEMPLATE.replace('{instance}', instance);
  const res = await fetch(`${base}/api/now/table/kb_knowledge?sysparm_limit=1`, {
    headers: { Accept: 'application/json', Authorization: `Bearer ${token}` },
  });
  return res.status;
}

it('does not lock out a pre-existing (hand-made) connector user before approval, nor after a rejection', async () => {
  const sn = stack.sandbox.servicenow;
  // A working hand-made setup, as federated_auth_setup.js creates it.
  const provider = sn.seedRecord(instance, 'oidc_provider_configuration', {
    name: 'Hand-made Entra v2',
    oidc_url: `${stack.env().ENTRA_AUTHORITY_HOST}/${stack.sandbox.directory.tenantId}/v2.0/.well-known/openid-configuration`,
    user_claim: 'sub',
    user_field: 'user_name',
  });
  sn.seedRecord(instance, 'oauth_oidc_entity', {
    name: 'Hand-made Copilot',
    client_id: COPILOT_FEDERATED_APP_ID,
    oidc_provider_configuration: provider,
    active: 'true',
  });
  const userSysId = sn.seedRecord(instance, 'sys_user', {
    user_name: spId(),
    first_name: 'Copilot',
    last_name: 'Hand-made',
    active: 'true',
    locked_out: 'false',
  });
  for (const role of sn.records(instance, 'sys_user_role').filter((r) => r.values.name === 'knowledge_admin'))
    sn.seedRecord(instance, 'sys_user_has_role', { user: userSysId, role: role.values.sys_id });
  const user = () => sn.records(instance, 'sys_user').find((r) => r.values.sys_id === userSysId)?.values;
  const token = await mintFirstPartyToken(stack.sandbox.directory, COPILOT_FEDERATED_APP_ID);
  const before = await readKnowledge(token.accessToken);
  expect(before).toBe(200);

  const id = await startProvisioning(stack, requestFor(stack, instance, { profile: profile.id }));
  await runToApproval(stack, id);
  // Before any approval: the existing user must not have been changed.
  expect(user()).toMatchObject({ active: 'true', locked_out: 'false', last_name: 'Hand-made' });
  sn.clearOidcCache();
  expect(await readKnowledge(token.accessToken)).toBe(before);

  expect((await decideFromEmail(stack, approverOf(stack), id, 'reject')).status).toBe(200);
  const out = await runToEnd(stack, id, { throughApproval: true });
  expect(out.outcome).toBe('rejected');
  expect(user()).toMatchObject({ active: 'true', locked_out: 'false', last_name: 'Hand-made' });
  expect(await readKnowledge(token.accessToken)).toBe(before);
});
