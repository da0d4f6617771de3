/**
 * Both orchestrators are replayed from the start on every new history event, so they must emit the same actions for
 * the same history (https://learn.microsoft.com/azure/azure-functions/durable/durable-functions-code-constraints).
 * The local engine fails an instance whose replay diverges from what it recorded; these tests add what it does not
 * check by itself: a scenario run twice records the same history, every prefix of a history replays to a prefix of
 * the final actions, a replay runs no activity, and the comparison notices a replay that does differ.
 */
import { APPROVAL_EVENT } from '../../src/contracts/provision';
import { handoffEventName } from '../../src/contracts/rotation';
import { PROVISION_ORCHESTRATOR, type ProvisionStatus } from '../../src/orchestrators/provision-types';
import { ROTATION_ORCHESTRATOR } from '../../src/orchestrators/rotation-types';
import { actionSignature } from '../../sandbox/durable/engine';
import { EventType } from '../../sandbox/durable/history';
import {
  decision,
  handoffDone,
  PROVISION_ID,
  provisionInput,
  provisionStubs,
  ROTATION_ID,
  rotationInput,
  rotationStubs,
} from './fixtures';
import { activityActions, DAY, expectReplaySafe, OrchestratorHarness, replay, scheduledCalls } from './harness';

/** A provisioning with a retried activity, a reminder and an approval: every kind of history event. */
async function provisioning(): Promise<OrchestratorHarness> {
  const stubs = provisionStubs();
  let attempts = 0;
  const h = new OrchestratorHarness({
    ...stubs,
    ensureAppSecret: (i) => {
      if (i.role === 'restUser' && ++attempts === 1) throw new Error('Graph answered 429 Too Many Requests');
      return stubs.ensureAppSecret!(i);
    },
  });
  h.start(PROVISION_ORCHESTRATOR, PROVISION_ID, provisionInput());
  await h.idle();
  await h.advance(2_000); // the retry
  await h.advance(DAY); // a reminder
  const digest = h.custom<ProvisionStatus>(PROVISION_ID).plan!.digest;
  await h.raise(PROVISION_ID, APPROVAL_EVENT, decision(digest));
  await h.runToEnd(PROVISION_ID);
  return h;
}

async function rotation(): Promise<OrchestratorHarness> {
  const h = new OrchestratorHarness(rotationStubs());
  h.start(ROTATION_ORCHESTRATOR, ROTATION_ID, rotationInput());
  await h.idle();
  await h.advance(DAY); // a hand-off reminder
  await h.raise(ROTATION_ID, handoffEventName('restApi'), handoffDone());
  await h.raise(ROTATION_ID, handoffEventName('restUser'), handoffDone());
  await h.runToEnd(ROTATION_ID);
  return h;
}

const scenarios = [
  { name: PROVISION_ORCHESTRATOR, id: PROVISION_ID, run: provisioning },
  { name: ROTATION_ORCHESTRATOR, id: ROTATION_ID, run: rotation },
] as const;

describe.each(scenarios)('$name replays deterministically', ({ name, id, run }) => {
  it('records the same history and the same stub calls when the scenario runs twice', async () => {
    const a = await run();
    const b = await run();
    expect(a.status(id).runtimeStatus).toBe('Completed');
    // A failed attempt's Details hold the stub's stack trace (the orchestrator keeps only the first line of it).
    const comparable = (h: OrchestratorHarness) => h.engine.history(id).map(({ Details: _stack, ...e }) => e);
    expect(comparable(b)).toEqual(comparable(a));
    expect(b.calls).toEqual(a.calls);
    expect(b.status(id).output).toEqual(a.status(id).output);
  });

  it('runs each scheduled activity once and replays the whole history to the same actions and output', async () => {
    const h = await run();
    expect(h.engine.timers(id).some((t) => t.state === 'fired')).toBe(true);
    await expectReplaySafe(h, name, id);
  });

  it('replays every episode of the history to a prefix of the final actions, without running an activity', async () => {
    const h = await run();
    const history = h.engine.history(id);
    const input = h.status(id).input;
    const calls = h.calls.length;
    const final = (await replay(name, id, history, input)).actions.flat().map(actionSignature);
    const episodeEnds = history.flatMap((e, i) => (e.EventType === EventType.OrchestratorCompleted ? [i + 1] : []));
    expect(episodeEnds.length).toBeGreaterThan(10);
    for (const end of episodeEnds) {
      const state = await replay(name, id, history.slice(0, end), input);
      expect(state.isDone).toBe(false);
      const emitted = state.actions.flat().map(actionSignature);
      expect(emitted.length).toBeGreaterThan(0);
      expect(final.slice(0, emitted.length)).toEqual(emitted);
    }
    expect(h.calls).toHaveLength(calls);
  });

  it('notices a replay that schedules something else (a different input gives different actions)', async () => {
    const h = await run();
    const history = h.engine.history(id);
    const input = h.status(id).input as { ref: { tenantName: string } };
    const changed = { ...input, ref: { ...input.ref, tenantName: 'Fabrikam' } };
    const state = await replay(name, id, history, changed);
    const replayed = activityActions(state.actions.flat());
    expect(replayed.length).toBeGreaterThan(0);
    expect(replayed).not.toEqual(scheduledCalls(history));
    expect(replayed[0]).toContain('"tenantName":"Fabrikam"');
  });
});
