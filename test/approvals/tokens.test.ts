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
});
