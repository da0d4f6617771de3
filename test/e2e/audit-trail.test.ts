/**
 * The audit trail through the HTTP API: a provisioning's request, the plan put to the approvers, each decision with
 * the link and round it came through, the activation, and a silent re-run, in order; a rejected run; bad and unknown
 * ids. Events are recorded once however often an activity or a replay runs.
 */
import { startLocalStack, type LocalStack } from '../../sandbox/stack';
import { api, decideFromEmail, provisionRequest, waitForApproval, waitForEnd } from './api-driver';

interface Entry {
  kind: string;
  at: string;
  seq: string;
  actor?: string;
  instanceId?: string;
  planDigest?: string;
  tokenId?: string;
  round?: number;
  detail?: string;
  data?: Record<string, unknown>;
}

const auditOf = async (stack: LocalStack, id: string): Promise<Entry[]> => {
  const res = await api(stack, 'GET', `/api/integrations/${id}/audit`);
  expect(res.status).toBe(200);
  const body = res.json as { id: string; entries: Entry[] };
  expect(body.id).toBe(id);
  return body.entries;
};

describe('audit trail', () => {
  let stack: LocalStack;
  let approver: string;
  let requester: string;

  beforeAll(async () => {
    stack = await startLocalStack({ settings: { CHECK_RETRY_SECONDS: '1' } });
    const domain = stack.env().SANDBOX_TENANT_DOMAIN;
    approver = `approver@${domain}`;
    requester = `requester@${domain}`;
  });

  afterAll(async () => {
    await stack?.close();
  });

  it('records request, plan, decision, activation and a silent re-run, in order, each once', async () => {
    const started = await api(stack, 'POST', '/api/integrations', { body: provisionRequest(stack) });
    expect(started.status).toBe(202);
    const id = (started.json as { id: string }).id;
    await waitForApproval(stack, id);
    expect((await decideFromEmail(stack, approver, id, 'approve')).status).toBe(200);
    await waitForEnd(stack, id);

    const first = await auditOf(stack, id);
    expect(first.map((e) => e.kind)).toEqual(['requested', 'approval-requested', 'approved', 'activated']);
    const [requested, asked, approved, activated] = first;
    expect(requested).toMatchObject({ actor: requester, instanceId: `provision-${id}`, data: { run: 1 } });
    expect(asked.planDigest).toMatch(/^[0-9a-f]{64}$/);
    expect(approved).toMatchObject({
      actor: approver,
      instanceId: `provision-${id}`,
      planDigest: asked.planDigest,
      round: 0,
    });
    expect(approved.tokenId).toMatch(/^[0-9a-f]{16}$/);
    expect(activated).toMatchObject({ actor: 'system', planDigest: asked.planDigest });
    // Ordered by time, then by the order of recording; every position distinct.
    const seqs = first.map((e) => e.seq);
    expect([...seqs].sort()).toEqual(seqs);
    expect(new Set(seqs).size).toBe(seqs.length);
    for (let i = 1; i < first.length; i++) expect(first[i].at >= first[i - 1].at).toBe(true);

    // A silent re-run: its request and its outcome, nothing about approvals (the approved plan runs silently).
    const rerun = await api(stack, 'POST', '/api/integrations?reprovision=true', { body: provisionRequest(stack) });
    expect(rerun.status).toBe(202);
    await waitForEnd(stack, id);
    const second = await auditOf(stack, id);
    expect(second.slice(0, first.length)).toEqual(first);
    expect(second.slice(first.length).map((e) => [e.kind, e.instanceId])).toEqual([
      ['requested', `provision-${id}-r2`],
      ['activated', `provision-${id}-r2`],
    ]);
    expect(second.at(-1)?.detail).toMatch(/nothing changed/);
    expect(second.at(-2)?.data).toEqual({ run: 2 });

    // No secret and no link token in the trail.
    const text = JSON.stringify(second);
    expect(text).not.toMatch(/token=|code=|runtime\/webhooks|client_secret/i);
  });

  it('records a rejection by the approver and the run that ended rejected', async () => {
    // A second integration on the same instance: another profile.
    const res = await api(stack, 'POST', '/api/integrations', {
      body: provisionRequest(stack, { profile: 'entra-id-spoke' }),
    });
    expect(res.status).toBe(202);
    const id = (res.json as { id: string }).id;
    await waitForApproval(stack, id);
    expect((await decideFromEmail(stack, approver, id, 'reject')).status).toBe(200);
    await waitForEnd(stack, id);
    const entries = await auditOf(stack, id);
    expect(entries.map((e) => e.kind)).toEqual(['requested', 'approval-requested', 'rejected', 'run-finished']);
    expect(entries[2]).toMatchObject({ actor: approver, round: 0 });
    expect(entries[3].detail).toMatch(/rejected/);
  });

  it('answers 400 for a malformed id and 404 for an unknown one', async () => {
    const bad = await api(stack, 'GET', '/api/integrations/not-an-id/audit');
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toMatch(/application\/problem\+json/);
    const unknown = await api(stack, 'GET', '/api/integrations/sn-nowhere-0123abcd/audit');
    expect(unknown.status).toBe(404);
  });
});
