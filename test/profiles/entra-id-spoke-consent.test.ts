/**
 * GRANT_ADMIN_CONSENT=true while the Function identity lacks AppRoleAssignment.ReadWrite.All. The preflight
 * says so before anything is created or an approver is asked.
 */
import { GRAPH_APP_ID, GRAPH_ROLES } from '../../sandbox/directory';
import type { LocalStack } from '../../sandbox/stack';
import { entraIdSpoke } from '../../src/profiles/entra-id-spoke';
import { customStatus } from '../e2e/api-driver';
import {
  appRemoved,
  approverOf,
  decideFromEmail,
  requestFor,
  runToEnd,
  runDetail,
  runUntil,
  startProvisioning,
  startStackFor,
} from '../e2e/stack-driver';

jest.setTimeout(180_000);

let stack: LocalStack;
beforeAll(async () => {
  stack = await startStackFor(['cons0001']);
  // The deployment turned GRANT_ADMIN_CONSENT on (the sandbox default) but nobody granted the identity the role.
  const { directory } = stack.sandbox;
  const graph = directory.spByAppId(GRAPH_APP_ID);
  const fnSp = directory.functionIdentity.servicePrincipalId;
  const keep = directory.appRoleAssignments.filter(
    (a) =>
      !(
        a.principalId === fnSp &&
        a.resourceId === graph?.id &&
        a.appRoleId === GRAPH_ROLES['AppRoleAssignment.ReadWrite.All']
      ),
  );
  directory.appRoleAssignments.splice(0, directory.appRoleAssignments.length, ...keep);
});
afterAll(() => stack?.close());

it('the preflight reports the missing AppRoleAssignment.ReadWrite.All before anything is created or approved', async () => {
  const id = await startProvisioning(
    stack,
    requestFor(stack, 'cons0001', { profile: entraIdSpoke.id, options: { testEnvironment: true } }),
  );
  const s = await runUntil(stack, id, (x) => customStatus(x)?.step === 'awaiting-approval');
  const status = customStatus(s);
  // What happens instead: the approver is asked; after the approval, activation fails and everything is rolled back.
  const reached = status?.step;
  let after: { outcome?: string; error?: string; appRemoved?: boolean } = {};
  if (reached === 'awaiting-approval') {
    const objectId = runDetail(stack, s.instanceId).apps[0]?.objectId ?? '';
    await decideFromEmail(stack, approverOf(stack), id, 'approve');
    const out = await runToEnd(stack, id, { throughApproval: true });
    after = { outcome: out.outcome, error: out.error, appRemoved: appRemoved(stack, objectId) };
  }
  expect({ reached, after }).toEqual({
    reached: 'failed',
    after: {},
  });
  expect(status?.error).toContain('AppRoleAssignment.ReadWrite.All');
});
