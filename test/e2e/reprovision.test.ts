/**
 * Re-provisioning runs under its own instance id (`provision-{id}-r{n}`): a failed re-run never takes the live
 * integration's apps for its own (it would delete them), and a re-run after a rejection asks again with fresh links
 * while the earlier run's links decide nothing.
 */
import type { LocalStack } from '../../sandbox/stack';
import { latestInstanceIdOf } from './api-driver';
import {
  api,
  appRemoved,
  approverOf,
  createdBy,
  decideFromEmail,
  mails,
  requestFor,
  runToApproval,
  runToEnd,
  startProvisioning,
  startStackFor,
} from './stack-driver';

jest.setTimeout(120_000);

describe('re-provisioning', () => {
  let stack: LocalStack;
  let approver: string;

  beforeAll(async () => {
    stack = await startStackFor(['dev00000', 'reprov-live', 'reprov-reject']);
    approver = approverOf(stack);
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('a failed re-run of a live integration removes nothing the first run created', async () => {
    const request = requestFor(stack, 'reprov-live');
    const id = await startProvisioning(stack, request);
    const first = await runToApproval(stack, id);
    expect((await decideFromEmail(stack, approver, id, 'approve')).status).toBe(200);
    expect((await runToEnd(stack, id)).outcome).toBe('active');
    const apps = createdBy(first).apps;
    expect(apps).toHaveLength(3);

    // The re-run fails at the outbound provider lookup (a non-retriable ServiceNow answer).
    const fault = stack.sandbox.faults.add({
      service: 'servicenow',
      method: 'GET',
      path: '/api/now/(v2/)?table/oauth_entity$',
      action: { type: 'status', status: 400 },
    });
    const re = await api(stack, 'POST', '/api/integrations?reprovision=true', { body: request });
    expect(re.status).toBe(202);
    expect(latestInstanceIdOf(stack, id)).toBe(`provision-${id}-r2`);
    const out = await runToEnd(stack, id);
    stack.sandbox.faults.remove(fault.id);
    expect(out.outcome).toBe('failed');
    expect(out.counts.created).toBe(0);
    for (const app of apps) expect(appRemoved(stack, app.objectId)).toBe(false);
  });

  it('a re-run after a rejection emails fresh links; the rejected run’s links decide nothing', async () => {
    const request = requestFor(stack, 'reprov-reject');
    const id = await startProvisioning(stack, request);
    await runToApproval(stack, id);
    expect((await decideFromEmail(stack, approver, id, 'reject')).status).toBe(200);
    expect((await runToEnd(stack, id)).outcome).toBe('rejected');
    const approvals = () => mails(stack, approver, id).filter((m) => m.subject.startsWith('Approve'));
    expect(approvals()).toHaveLength(1);

    const re = await api(stack, 'POST', '/api/integrations?reprovision=true', { body: request });
    expect(re.status).toBe(202);
    await runToApproval(stack, id);
    expect(approvals()).toHaveLength(2);
    // The first run's link is bound to the first run's instance: it cannot decide the re-run.
    const firstLink = /(https?:\/\/[^"\\\s<>]+\/api\/approvals\/provision-[^"\\\s<>?]+)/.exec(approvals()[0].body)?.[1];
    expect(firstLink).toContain(`/api/approvals/provision-${id}`);
    expect(firstLink).not.toContain(`provision-${id}-r2`);
    expect((await decideFromEmail(stack, approver, id, 'approve')).status).toBe(200);
    expect((await runToEnd(stack, id)).outcome).toBe('active');
  });
});
