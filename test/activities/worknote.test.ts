import { addWorkNote } from '../../src/activities/worknote';
import { configureLogging } from '../../src/lib/logger';
import { startActivityEnv, type ActivityEnv } from '../helpers/activity-env';

let env: ActivityEnv;
let instance: string;
const OPEN_INCIDENT = 'a9e30c7dc61122760116894de7bcc7bd'; // INC0000046, state New (seed)

beforeAll(async () => {
  configureLogging({ sink: () => undefined });
  env = await startActivityEnv();
  instance = env.sandbox.env().SANDBOX_SERVICENOW_INSTANCE;
});
afterAll(async () => {
  await env?.close();
});
afterEach(() => env.sandbox.faults.clear());

const notesOn = (sysId: string) =>
  env.sandbox.servicenow
    .records(instance, 'sys_journal_field')
    .filter((r) => r.values.element_id === sysId && r.values.element === 'work_notes')
    .map((r) => r.values.value);

describe('addWorkNote', () => {
  it('writes a note on an open ticket by sys_id, once even when run twice', async () => {
    const note = `Provisioning ${crypto.randomUUID()} started`;
    const input = { ...env.ref(), ticket: { table: 'incident', sysId: OPEN_INCIDENT }, note };
    await expect(addWorkNote(input, env.deps)).resolves.toEqual({ written: true });
    const mark = env.sandbox.journal.mark();
    await expect(addWorkNote(input, env.deps)).resolves.toEqual({ written: true });
    expect(env.sandbox.journal.writes({ since: mark })).toEqual([]);
    expect(notesOn(OPEN_INCIDENT).filter((v) => v === note)).toHaveLength(1);
  });

  it('finds a ticket by number, also through the generic task table', async () => {
    const note = `Apps created ${crypto.randomUUID()}`;
    await expect(
      addWorkNote({ ...env.ref(), ticket: { table: 'task', number: 'RITM0010001' }, note }, env.deps),
    ).resolves.toEqual({ written: true });
    const ritm = env.sandbox.servicenow
      .records(instance, 'sc_req_item')
      .find((r) => r.values.number === 'RITM0010001')!;
    expect(notesOn(ritm.values.sys_id)).toContain(note);
  });

  it('returns written:false for a closed ticket that refuses the update (data policy)', async () => {
    const closed = env.sandbox.servicenow.records(instance, 'incident').find((r) => r.values.number === 'INC0000060')!;
    env.sandbox.faults.add({
      service: 'servicenow',
      method: 'PATCH',
      path: `/incident/${closed.values.sys_id}$`,
      action: {
        type: 'status',
        status: 403,
        body: {
          error: { message: 'Operation Failed', detail: 'Data Policy Exception: Work notes is read only' },
          status: 'failure',
        },
      },
    });
    const result = await addWorkNote(
      { ...env.ref(), ticket: { table: 'incident', number: 'INC0000060' }, note: 'Awaiting approval' },
      env.deps,
    );
    expect(result.written).toBe(false);
    expect(result.reason).toMatch(/403.*closed or locked/);
  });

  it('returns written:false for a missing ticket or a table that is not a ticket table', async () => {
    await expect(
      addWorkNote({ ...env.ref(), ticket: { table: 'incident', number: 'INC9999999' }, note: 'x' }, env.deps),
    ).resolves.toMatchObject({ written: false, reason: expect.stringContaining('not found') });
    await expect(
      addWorkNote({ ...env.ref(), ticket: { table: 'incident', sysId: '0'.repeat(32) }, note: 'x' }, env.deps),
    ).resolves.toMatchObject({ written: false, reason: expect.stringContaining('not found') });
    await expect(
      addWorkNote({ ...env.ref(), ticket: { table: 'sys_user', sysId: OPEN_INCIDENT }, note: 'x' }, env.deps),
    ).resolves.toMatchObject({ written: false, reason: expect.stringContaining('not one of') });
  });

  it('throws on 429 so the durable retry applies', async () => {
    env.sandbox.faults.add({
      service: 'servicenow',
      path: '/incident/',
      action: { type: 'status', status: 429, headers: { 'Retry-After': '3600' } },
    });
    await expect(
      addWorkNote({ ...env.ref(), ticket: { table: 'incident', sysId: OPEN_INCIDENT }, note: 'y' }, env.deps),
    ).rejects.toMatchObject({ status: 429, retriable: true });
  });
});
