import { startAzurite, type RunningAzurite } from '../../sandbox/azurite';
import { ApprovalTokenStore, type SendKey } from '../../src/approvals/tokens';
import { createTableClient } from '../../src/clients/tables';

describe('ApprovalTokenStore sent markers and release', () => {
  let azurite: RunningAzurite;
  let now = new Date('2026-11-26T10:00:00Z');
  let store: ApprovalTokenStore;
  let n = 0;
  const key = (): SendKey => ({ instanceId: `inst-${++n}`, kind: 'approval', round: 0, recipient: 'ann@contoso.com' });

  beforeAll(async () => {
    azurite = await startAzurite();
    store = new ApprovalTokenStore(
      createTableClient({ connectionString: azurite.connectionString, table: 'approvals' }),
      () => now,
    );
  }, 60000);
  afterAll(() => azurite.close());

  it('claims once, reports busy while the claim is fresh, then sent with its tokenId', async () => {
    const k = key();
    expect(await store.claimSend(k)).toEqual({ state: 'claimed' });
    expect(await store.claimSend(k)).toEqual({ state: 'busy' });
    expect(await store.claimSend({ ...k, round: 1 })).toEqual({ state: 'claimed' });
    await store.completeSend(k, 'abcd1234abcd1234');
    expect(await store.claimSend(k)).toEqual({ state: 'sent', tokenId: 'abcd1234abcd1234' });
  });

  it('lets a later run take over a stale claim, and a dropped claim be claimed again', async () => {
    const k = key();
    await store.claimSend(k);
    now = new Date(now.getTime() + 6 * 60_000);
    expect(await store.claimSend(k)).toEqual({ state: 'claimed' });
    await store.abandonSend(k);
    expect(await store.claimSend(k)).toEqual({ state: 'claimed' });
  });

  it('releases a redeemed token so it can be used again, only for its instance', async () => {
    const { token } = await store.issue({
      instanceId: 'inst-release',
      approver: 'ann@contoso.com',
      purpose: 'approval',
      eventName: 'ApprovalDecision',
      expiresAt: new Date(now.getTime() + 3600_000).toISOString(),
    });
    expect((await store.redeem(token, 'inst-release', 'approve')).ok).toBe(true);
    expect(await store.decidedFor('inst-release')).toEqual(['ann@contoso.com']);
    expect(await store.release(token, 'other')).toBe(false);
    expect(await store.release(token, 'inst-release')).toBe(true);
    expect(await store.decidedFor('inst-release')).toEqual([]);
    expect((await store.redeem(token, 'inst-release', 'reject')).ok).toBe(true);
  });
});
