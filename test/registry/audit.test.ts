import { startAzurite, type RunningAzurite } from '../../sandbox/azurite';
import { createTableClient } from '../../src/clients/tables';
import type { AuditEvent } from '../../src/contracts/fleet';
import { AuditLog } from '../../src/registry/audit';

let azurite: RunningAzurite;
let log: AuditLog;

beforeAll(async () => {
  azurite = await startAzurite();
  log = new AuditLog(createTableClient({ connectionString: azurite.connectionString, table: 'audit' }));
});
afterAll(async () => {
  await azurite?.close();
});

const ev = (kind: AuditEvent['kind'], at: string, extra: Partial<AuditEvent> = {}): AuditEvent => ({
  kind,
  at,
  ...extra,
});

describe('AuditLog', () => {
  it('keeps events in time order, then in the order they were recorded', async () => {
    await log.append('sn-a-00000001', [
      ev('approval-requested', '2026-12-01T10:00:00.000Z'),
      ev('requested', '2026-12-01T09:00:00.000Z', { actor: 'requester@contoso.com', data: { run: 1 } }),
    ]);
    await log.append('sn-a-00000001', [
      ev('approved', '2026-12-01T11:00:00.000Z', { actor: 'a@contoso.com', round: 0, tokenId: 'abc' }),
      ev('activated', '2026-12-01T11:00:00.000Z'),
    ]);
    const entries = await log.list('sn-a-00000001');
    expect(entries.map((e) => e.kind)).toEqual(['requested', 'approval-requested', 'approved', 'activated']);
    expect(entries[0]).toMatchObject({
      actor: 'requester@contoso.com',
      data: { run: 1 },
      integrationId: 'sn-a-00000001',
    });
    expect(entries[2]).toMatchObject({ round: 0, tokenId: 'abc' });
  });

  it('records an event once however often (and however concurrently) it is appended', async () => {
    const events = [ev('rotated', '2026-12-02T02:00:00.000Z', { data: { role: 'outbound' } })];
    await Promise.all([log.append('sn-b-00000002', events), log.append('sn-b-00000002', events)]);
    await log.append('sn-b-00000002', events);
    expect(await log.list('sn-b-00000002')).toHaveLength(1);
    // The same kind at the same time with other facts is another event.
    await log.append('sn-b-00000002', [ev('rotated', '2026-12-02T02:00:00.000Z', { data: { role: 'restapi' } })]);
    expect(await log.list('sn-b-00000002')).toHaveLength(2);
  });

  it('keeps integrations apart and refuses an event without a valid time', async () => {
    await log.append('sn-c-00000003', [ev('requested', '2026-12-03T00:00:00.000Z')]);
    expect((await log.list('sn-c-00000003')).map((e) => e.integrationId)).toEqual(['sn-c-00000003']);
    expect(await log.list('sn-d-00000004')).toEqual([]);
    await expect(log.append('sn-c-00000003', [ev('requested', 'yesterday')])).rejects.toThrow(/valid time/);
  });
});
