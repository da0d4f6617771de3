import { startAzurite, type RunningAzurite } from '../../sandbox/azurite';
import { ApprovalTokenStore } from '../../src/approvals/tokens';
import { createTableClient } from '../../src/clients/tables';

describe('ApprovalTokenStore on Azurite', () => {
  let azurite: RunningAzurite;
  let now = new Date('2026-11-26T10:00:00Z');
  let store: ApprovalTokenStore;
  let table: ReturnType<typeof createTableClient>;
  const base = {
    instanceId: 'provision-abc',
    approver: 'ann@contoso.com',
    purpose: 'approval' as const,
    eventName: 'ApprovalDecision',
  };
  const expiresAt = '2026-11-27T10:00:00.000Z';

  beforeAll(async () => {
    azurite = await startAzurite();
    table = createTableClient({ connectionString: azurite.connectionString, table: 'approvals' });
    store = new ApprovalTokenStore(table, () => now);
  }, 60000);
  afterAll(() => azurite.close());
  beforeEach(() => {
    now = new Date('2026-11-26T10:00:00Z');
  });

  it('stores only a hash of the token', async () => {
    const { token, tokenId } = await store.issue({ ...base, expiresAt });
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const rows = [];
    for await (const e of table.listEntities()) rows.push(e);
    expect(JSON.stringify(rows)).not.toContain(token);
    expect(rows.some((r) => r.tokenId === tokenId)).toBe(true);
  });

  it('inspects without using the token (a scanner GET changes nothing)', async () => {
    const { token } = await store.issue({ ...base, expiresAt });
    expect((await store.inspect(token, base.instanceId)).ok).toBe(true);
    expect((await store.inspect(token, base.instanceId)).ok).toBe(true);
    const redeemed = await store.redeem(token, base.instanceId, 'approve');
    expect(redeemed).toMatchObject({ ok: true, record: { approver: base.approver, decision: 'approve' } });
  });

  it('is single-use, even for concurrent redemptions', async () => {
    const { token } = await store.issue({ ...base, expiresAt });
    const results = await Promise.all([1, 2, 3].map(() => store.redeem(token, base.instanceId, 'approve')));
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(await store.redeem(token, base.instanceId, 'reject')).toEqual({ ok: false, reason: 'used' });
  });

  it('refuses forged, expired and cross-instance tokens', async () => {
    const { token } = await store.issue({ ...base, expiresAt });
    expect(await store.redeem('x'.repeat(43), base.instanceId, 'approve')).toEqual({ ok: false, reason: 'unknown' });
    expect(await store.redeem('not a token', base.instanceId, 'approve')).toEqual({ ok: false, reason: 'unknown' });
    expect(await store.redeem(token, 'provision-other', 'approve')).toEqual({ ok: false, reason: 'wrong-instance' });
    now = new Date('2026-11-27T10:00:01Z');
    expect(await store.redeem(token, base.instanceId, 'approve')).toEqual({ ok: false, reason: 'expired' });
  });

  it('lists the open tokens of an instance', async () => {
    const a = await store.issue({ ...base, instanceId: 'provision-list', expiresAt });
    const b = await store.issue({ ...base, instanceId: 'provision-list', approver: 'bob@contoso.com', expiresAt });
    await store.redeem(a.token, 'provision-list', 'approve');
    expect((await store.openFor('provision-list')).map((t) => t.tokenId)).toEqual([b.tokenId]);
  });
  it('keeps the requesters, plan digest and quorum with the link', async () => {
    const { token } = await store.issue({
      ...base,
      expiresAt,
      planDigest: 'digest-1',
      requesters: ['rita@contoso.com'],
      quorum: 2,
    });
    expect(await store.inspect(token, base.instanceId)).toMatchObject({
      ok: true,
      record: { planDigest: 'digest-1', requesters: ['rita@contoso.com'], quorum: 2 },
    });
  });

  it('records concurrent decisions of a quorum-1 round so that exactly one decides it', async () => {
    const instanceId = 'provision-round-1';
    await store.openRound(instanceId, 1, 'digest-1');
    const at = now.toISOString();
    const outcomes = await Promise.all(
      ['ann', 'bob', 'carl'].map((who, i) =>
        store.recordDecision(instanceId, {
          approver: `${who}@contoso.com`,
          decision: 'approve',
          at,
          tokenId: `t${i}`,
          planDigest: 'digest-1',
        }),
      ),
    );
    const recorded = outcomes.filter((o) => o.outcome === 'recorded');
    expect(recorded).toHaveLength(1);
    expect(outcomes.filter((o) => o.outcome === 'closed')).toHaveLength(2);
    const round = await store.round(instanceId);
    expect(round).toMatchObject({ state: 'closed', reason: 'decided', decisions: [expect.any(Object)] });
    expect(round?.decidedBy).toBe(recorded[0].round.decidedBy);
    // Closing it again keeps who decided.
    expect(await store.closeRound(instanceId, 'ended')).toMatchObject({
      reason: 'decided',
      decidedBy: round?.decidedBy,
    });
  });

  it('counts distinct approvers of the round plan toward the quorum, and undoes an undelivered decision', async () => {
    const instanceId = 'provision-round-2';
    await store.openRound(instanceId, 2, 'digest-1');
    const d = (approver: string, tokenId: string, planDigest = 'digest-1') => ({
      approver,
      decision: 'approve' as const,
      at: now.toISOString(),
      tokenId,
      planDigest,
    });
    expect(await store.recordDecision(instanceId, d('ann@contoso.com', 'a1'))).toMatchObject({
      outcome: 'recorded',
      decided: false,
      remaining: 1,
    });
    expect((await store.recordDecision(instanceId, d('ANN@contoso.com', 'a2'))).outcome).toBe('duplicate');
    // An approval of another plan does not count.
    expect(await store.recordDecision(instanceId, d('carl@contoso.com', 'c1', 'digest-2'))).toMatchObject({
      decided: false,
      remaining: 1,
    });
    expect(await store.recordDecision(instanceId, d('bob@contoso.com', 'b1'))).toMatchObject({ decided: true });
    await store.undoDecision(instanceId, 'b1');
    expect(await store.round(instanceId)).toMatchObject({ state: 'open' });
    expect((await store.round(instanceId))?.decidedBy).toBeUndefined();
  });
});
