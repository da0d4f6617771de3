import { startAzurite, type RunningAzurite } from '../../sandbox/azurite';
import { createTableClient } from '../../src/clients/tables';
import { LeaseStore } from '../../src/registry/leases';

let azurite: RunningAzurite;
let clock = Date.parse('2026-11-26T00:00:00Z');
let store: LeaseStore;
let n = 0;
const key = () => ['integration', `role${++n}`];

beforeAll(async () => {
  azurite = await startAzurite();
  store = new LeaseStore(
    createTableClient({ connectionString: azurite.connectionString, table: 'leases' }),
    () => new Date(clock),
  );
});
afterAll(async () => {
  await azurite?.close();
});

describe('LeaseStore', () => {
  it('of two concurrent claims exactly one wins; the other wins once the lease is released', async () => {
    const k = key();
    const claims = await Promise.all([store.acquire('s', k, 60_000, 'a'), store.acquire('s', k, 60_000, 'b')]);
    const won = claims.filter((c) => c.ok);
    expect(won).toHaveLength(1);
    const lost = claims.find((c) => !c.ok);
    expect(lost).toMatchObject({ ok: false, heldBy: expect.stringMatching(/^[ab]$/) as string });
    if (!won[0].ok) throw new Error('unreachable');
    expect(await store.release(won[0].lease)).toBe(true);
    expect(await store.peek('s', k)).toBeUndefined();
    expect((await store.acquire('s', k, 60_000, 'b')).ok).toBe(true);
  });

  it('an unexpired lease is refused; an expired one is taken over by exactly one of two claimants', async () => {
    const k = key();
    const first = await store.acquire('s', k, 60_000, 'crashed');
    if (!first.ok) throw new Error('expected the lease');
    expect((await store.acquire('s', k, 60_000, 'early')).ok).toBe(false);
    clock += 60_001;
    const claims = await Promise.all([store.acquire('s', k, 60_000, 'a'), store.acquire('s', k, 60_000, 'b')]);
    expect(claims.filter((c) => c.ok)).toHaveLength(1);
    // The crashed holder's late release leaves the new holder's lease alone.
    expect(await store.release(first.lease)).toBe(false);
    expect((await store.peek('s', k))?.owner).toMatch(/^[ab]$/);
  });

  it('keys are independent (another role of the same integration is not blocked)', async () => {
    const a = await store.acquire('s', ['x', 'outbound'], 60_000);
    const b = await store.acquire('s', ['x', 'restApi'], 60_000);
    expect([a.ok, b.ok]).toEqual([true, true]);
  });
});
