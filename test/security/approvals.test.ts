/**
 * Attacks on the approval gate: approvers come from the settings (never the request), requesters never approve their
 * own change, eligibility is checked again when the decision is made, and the links close with the decision (quorum,
 * concurrent decisions, expiry). Runs the real activity and the real HTTP handlers against the sandbox and Azurite.
 */
import path from 'node:path';

import type { SentMail } from '../../sandbox/graph';
import { SEEDED_GROUPS } from '../../sandbox/directory';
import { startFunctionsHost, type FunctionsHost } from '../../sandbox/host';
import { EventType } from '../../sandbox/durable/history';
import { closeApprovalRound, sendApprovalRequests } from '../../src/activities/approval';
import type { SendApprovalInput } from '../../src/contracts/provision';
import { APPROVAL_EVENT, type ApprovalDecision, type ApprovalPlan } from '../../src/contracts/provision';
import { createDeps, type Deps } from '../../src/app/deps';
import { loadConfig } from '../../src/config';
import { fixture } from '../fixtures/approvals/state';
import { startActivityEnv, type ActivityEnv } from '../helpers/activity-env';

const PUBLIC = 'http://127.0.0.1:7071';
const PLAN = 'plan-digest-A';

/** A small approval plan (what the approver agrees to); its content does not matter to these tests. */
const plan = (integrationId: string): ApprovalPlan => ({
  integrationId,
  profile: { id: 'm365-support-aad', title: 'Microsoft 365 support integration' },
  tenant: { id: '72f988bf-86f1-41af-91ab-2d7cd011db47', name: 'Contoso' },
  serviceNow: { instance: 'dev1', url: 'https://dev1.service-now.com' },
  apps: [],
  trust: [],
  records: [],
  roleGrants: [],
  privileges: [],
  ipRules: [],
  manualSteps: [],
  requestedBy: [],
});

type Message = { body: { content: string }; toRecipients: { emailAddress: { address: string } }[] };

describe('approval gate security', () => {
  let env: ActivityEnv;
  let host: FunctionsHost;
  let d: string;
  let n = 0;

  beforeAll(async () => {
    env = await startActivityEnv();
    d = env.sandbox.directory.tenantDomain;
    host = await startFunctionsHost({
      entryModule: path.join(__dirname, '../fixtures/approval-round/app.ts'),
      clock: env.sandbox.clock,
    });
  }, 60000);
  afterAll(async () => {
    await host.close();
    await env.close();
  });

  /** Deps with this approver policy; the approval endpoints use them too. */
  function policy(settings: { APPROVERS?: string; APPROVER_GROUPS?: string; APPROVAL_QUORUM?: string }): Deps {
    const deps = createDeps(loadConfig({ ...env.settings, APPROVERS: '', APPROVER_GROUPS: '', ...settings }), () =>
      env.sandbox.clock.date(),
    );
    fixture.deps = deps;
    return deps;
  }
  const at = (local: string) => `${local}@${d}`;

  /** A running instance waiting for decisions, and a request for it. */
  async function waiting(quorum = 1, overrides: Partial<SendApprovalInput> = {}) {
    const ref = env.ref();
    const instanceId = `security-${++n}`;
    host.durable.startNew('awaitRound', { instanceId, input: { quorum, planDigest: PLAN } });
    await host.durable.waitForIdle();
    const input: SendApprovalInput = {
      ...ref,
      instanceId,
      requesters: [],
      quorum,
      plan: plan(ref.integrationId),
      planDigest: PLAN,
      expiresAt: new Date(env.sandbox.clock.now() + 24 * 3600_000).toISOString(),
      round: 0,
      apps: [],
      secrets: [],
      records: [],
      manualActions: [],
      ...overrides,
    };
    return { instanceId, input };
  }

  const mailsOf = (instanceId: string): SentMail[] =>
    env.sandbox.graph.outbox.filter((m) =>
      (m.message as Message).body.content.includes(`/api/approvals/${instanceId}?`),
    );
  const recipients = (instanceId: string) =>
    mailsOf(instanceId).map((m) => (m.message as Message).toRecipients[0].emailAddress.address);
  /** The newest link emailed to `address` for `instanceId`. */
  function linkOf(instanceId: string, address: string): string {
    const mail = mailsOf(instanceId)
      .filter((m) => (m.message as Message).toRecipients[0].emailAddress.address === address)
      .pop();
    const token = mail && /\?token=([A-Za-z0-9_-]{43})/.exec((mail.message as Message).body.content)?.[1];
    if (!token) throw new Error(`no link for ${address}`);
    return token;
  }

  const url = (instanceId: string, token?: string) =>
    `${host.baseUrl}/api/approvals/${instanceId}${token === undefined ? '' : `?token=${token}`}`;
  const events = (instanceId: string) =>
    host.durable.history(instanceId).filter((e) => e.EventType === EventType.EventRaised);

  async function open(instanceId: string, token: string) {
    const res = await fetch(url(instanceId, token));
    expect(res.status).toBe(200);
    const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0];
    const csrf = /name="csrf" value="([^"]+)"/.exec(await res.text())?.[1] ?? '';
    return { cookie, csrf };
  }
  async function decide(instanceId: string, token: string, decision: 'approve' | 'reject') {
    const { cookie, csrf } = await open(instanceId, token);
    return post(instanceId, token, decision, cookie, csrf);
  }
  function post(instanceId: string, token: string, decision: string, cookie: string, csrf: string) {
    return fetch(url(instanceId), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: PUBLIC, cookie },
      body: new URLSearchParams({ token, csrf, decision }).toString(),
    });
  }
  async function expectNothingDecided(deps: Deps, instanceId: string, token: string) {
    await host.durable.waitForIdle();
    expect(events(instanceId)).toHaveLength(0);
    expect(host.durable.getStatus(instanceId)?.runtimeStatus).toBe('Running');
    expect((await deps.approvalTokens.inspect(token, instanceId)).ok).toBe(true);
  }

  it('never sends a requester a link, and refuses their kept link at decision time', async () => {
    const deps = policy({ APPROVERS: `${at('approver')};${at('requester')}` });
    const { instanceId, input } = await waiting(1, { requesters: [at('Requester')] });
    const sent = await sendApprovalRequests(input, deps);
    expect(sent).toMatchObject({ ok: true, sentTo: [at('approver')], eligible: [at('approver')] });
    expect(recipients(instanceId)).toEqual([at('approver')]);

    // A link the requester kept from an earlier email (the record knows who asked for the change).
    const kept = await deps.approvalTokens.issue({
      instanceId,
      approver: at('requester'),
      purpose: 'approval',
      eventName: APPROVAL_EVENT,
      expiresAt: input.expiresAt,
      planDigest: PLAN,
      requesters: [at('requester')],
    });
    const res = await decide(instanceId, kept.token, 'approve');
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('You asked for this change');
    await expectNothingDecided(deps, instanceId, kept.token);

    // Nobody but the requester left: a clear failure, no email.
    const alone = policy({ APPROVERS: at('requester') });
    const only = await waiting(1, { requesters: [at('requester')] });
    const refused = await sendApprovalRequests(only.input, alone);
    expect(refused).toMatchObject({ ok: false, failure: { service: 'input', code: 'NoEligibleApprovers' } });
    expect(refused.ok ? '' : refused.failure.message).toContain(
      `requesters cannot approve their own change: ${at('requester')}`,
    );
    expect(recipients(only.instanceId)).toEqual([]);
  });

  it("treats the ticket's caller and opener (read from ServiceNow) as requesters", async () => {
    const deps = policy({ APPROVERS: `${at('approver')};abel.tuter@example.com` });
    const { instanceId, input } = await waiting(1, { ticket: { table: 'incident', number: 'INC0000046' } });
    const sent = await sendApprovalRequests(input, deps);
    expect(sent).toMatchObject({ ok: true, sentTo: [at('approver')] });
    expect(recipients(instanceId)).toEqual([at('approver')]);
  });

  it.each([
    ['change_request', 'requested_by'],
    ['sc_req_item', 'requested_for'],
  ])("treats the %s's %s (read from ServiceNow) as a requester", async (table, field) => {
    const deps = policy({ APPROVERS: `${at('approver')};abel.tuter@example.com` });
    const instance = env.ref().serviceNowInstance;
    const abel = env.sandbox.servicenow
      .records(instance, 'sys_user')
      .find((u) => u.values.email === 'abel.tuter@example.com');
    expect(abel).toBeDefined();
    const sysId = env.sandbox.servicenow.seedRecord(instance, table, {
      short_description: 'Connect ServiceNow to Microsoft 365',
      [field]: abel!.values.sys_id,
    });
    const { instanceId, input } = await waiting(1, { ticket: { table, sysId } });
    const sent = await sendApprovalRequests(input, deps);
    expect(sent).toMatchObject({ ok: true, sentTo: [at('approver')] });
    expect(recipients(instanceId)).toEqual([at('approver')]);
  });

  it('reads a ticket named through a parent table as what it is: an incident given as a task still excludes its caller', async () => {
    const deps = policy({ APPROVERS: `${at('approver')};abel.tuter@example.com` });
    const instance = env.ref().serviceNowInstance;
    const incident = env.sandbox.servicenow.records(instance, 'incident').find((r) => r.values.number === 'INC0000046');
    expect(incident).toBeDefined();
    const { instanceId, input } = await waiting(1, { ticket: { table: 'task', sysId: incident!.values.sys_id } });
    const sent = await sendApprovalRequests(input, deps);
    expect(sent).toMatchObject({ ok: true, sentTo: [at('approver')] });
    expect(recipients(instanceId)).toEqual([at('approver')]);
  });

  it('sends no link to an address outside the policy, even when the request names it', async () => {
    const deps = policy({ APPROVERS: `${at('approver')};${at('second.approver')};${at('ops.lead')}` });
    const { instanceId, input } = await waiting(1, {
      approvers: [at('approver'), at('second.approver'), 'mallory@evil.example'],
    });
    const sent = await sendApprovalRequests(input, deps);
    expect(sent).toMatchObject({
      ok: true,
      sentTo: [at('approver'), at('second.approver')],
      dropped: ['mallory@evil.example'],
    });
    // Sent at once: the outbox holds them in the order Graph answered.
    expect(recipients(instanceId).sort()).toEqual([at('approver'), at('second.approver')].sort());

    const only = await waiting(1, { approvers: ['mallory@evil.example'] });
    const refused = await sendApprovalRequests(only.input, deps);
    expect(refused).toMatchObject({ ok: false, failure: { code: 'NoEligibleApprovers' } });
    expect(refused.ok ? '' : refused.failure.message).toContain('mallory@evil.example');
    expect(recipients(only.instanceId)).toEqual([]);
  });

  it('refuses a request that narrows the round to the quorum alone while the policy has more approvers', async () => {
    const deps = policy({ APPROVERS: `${at('approver')};${at('second.approver')};${at('ops.lead')}` });
    const narrow = await waiting(1, { approvers: [at('approver')] });
    const refused = await sendApprovalRequests(narrow.input, deps);
    expect(refused).toMatchObject({ ok: false, failure: { service: 'input', code: 'NarrowedTooFar' } });
    expect(recipients(narrow.instanceId)).toEqual([]);
    // Two of three leave the round to more than one person: allowed.
    const two = await waiting(1, { approvers: [at('approver'), at('ops.lead')] });
    expect(await sendApprovalRequests(two.input, deps)).toMatchObject({ ok: true });
  });

  it('resolves group members through nested groups, and refuses a member removed from the group', async () => {
    const deps = policy({ APPROVER_GROUPS: SEEDED_GROUPS.approvers });
    const { instanceId, input } = await waiting(1);
    const sent = await sendApprovalRequests(input, deps);
    expect(sent.ok && [...(sent.eligible ?? [])].sort()).toEqual([at('ops.engineer'), at('ops.lead')]);
    expect(recipients(instanceId).sort()).toEqual([at('ops.engineer'), at('ops.lead')]);

    const lead = env.sandbox.directory.userByAddress(at('ops.lead'))!;
    const token = linkOf(instanceId, at('ops.lead'));
    const { cookie, csrf } = await open(instanceId, token);
    env.sandbox.directory.removeMember(SEEDED_GROUPS.operationsLeads, lead.id);
    try {
      const res = await post(instanceId, token, 'approve', cookie, csrf);
      expect(res.status).toBe(403);
      expect(await res.text()).toContain('no longer an approver');
      await expectNothingDecided(deps, instanceId, token);
    } finally {
      env.sandbox.directory.addMember(SEEDED_GROUPS.operationsLeads, lead.id);
    }
  });

  it('refuses an approver removed from APPROVERS after the email was sent', async () => {
    policy({ APPROVERS: `${at('approver')};${at('second.approver')}` });
    const { instanceId, input } = await waiting(1);
    expect(await sendApprovalRequests(input, fixture.deps!)).toMatchObject({ ok: true });
    const token = linkOf(instanceId, at('approver'));
    const deps = policy({ APPROVERS: at('second.approver') });
    const res = await decide(instanceId, token, 'approve');
    expect(res.status).toBe(403);
    await expectNothingDecided(deps, instanceId, token);
  });

  it('needs two distinct approvers with quorum 2 (a second link of the same approver does not count)', async () => {
    const deps = policy({ APPROVERS: `${at('approver')};${at('second.approver')}`, APPROVAL_QUORUM: '2' });
    const { instanceId, input } = await waiting(2);
    expect(await sendApprovalRequests(input, deps)).toMatchObject({ ok: true, quorum: 2 });
    const first = linkOf(instanceId, at('approver'));
    // A reminder before anyone decided: a second link for each.
    expect(await sendApprovalRequests({ ...input, round: 1 }, deps)).toMatchObject({ ok: true });
    const reminder = linkOf(instanceId, at('approver'));
    expect(reminder).not.toBe(first);

    const one = await decide(instanceId, first, 'approve');
    expect(one.status).toBe(200);
    expect(await one.text()).toMatch(/waits for\s+another approver/);
    await host.durable.waitForIdle();
    expect(host.durable.getStatus(instanceId)?.runtimeStatus).toBe('Running');
    expect(events(instanceId)).toHaveLength(1);

    const again = await decide(instanceId, reminder, 'approve');
    expect(again.status).toBe(410);
    await host.durable.waitForIdle();
    expect(events(instanceId)).toHaveLength(1);

    const two = await decide(instanceId, linkOf(instanceId, at('second.approver')), 'approve');
    expect(two.status).toBe(200);
    expect(await two.text()).toContain('Approved');
    await host.durable.waitForStatus(instanceId, (s) => s.runtimeStatus === 'Completed');
    const output = host.durable.getStatus(instanceId)?.output as { outcome: string; received: ApprovalDecision[] };
    expect(output.outcome).toBe('approved');
    expect(output.received.map((r) => [r.approver, r.planDigest])).toEqual([
      [at('approver'), PLAN],
      [at('second.approver'), PLAN],
    ]);
  });

  it('closes every other link with the decision: GET and POST say who decided when, and raise nothing', async () => {
    const deps = policy({ APPROVERS: `${at('approver')};${at('second.approver')}` });
    const { instanceId, input } = await waiting(1);
    await sendApprovalRequests(input, deps);
    const other = linkOf(instanceId, at('second.approver'));
    const { cookie, csrf } = await open(instanceId, other);

    const rejected = await decide(instanceId, linkOf(instanceId, at('approver')), 'reject');
    expect(rejected.status).toBe(200);
    expect(await rejected.text()).toContain('Rejected');
    await host.durable.waitForStatus(instanceId, (s) => s.runtimeStatus === 'Completed');
    const output = host.durable.getStatus(instanceId)?.output as { received: ApprovalDecision[] };
    const decidedAt = output.received[0].at;
    expect(output.received[0]).toMatchObject({ decision: 'reject', approver: at('approver'), planDigest: PLAN });

    const get = await fetch(url(instanceId, other));
    expect(get.status).toBe(409);
    const page = await get.text();
    expect(page).toContain(`already decided by <code>${at('approver')}</code> at ${decidedAt}`);
    expect(page).not.toContain('name="decision"');
    const late = await post(instanceId, other, 'approve', cookie, csrf);
    expect(late.status).toBe(409);
    expect(await late.text()).toContain(`already decided by <code>${at('approver')}</code> at ${decidedAt}`);
    await host.durable.waitForIdle();
    expect(events(instanceId)).toHaveLength(1);
    // Nothing was consumed with the closed link either.
    expect((await deps.approvalTokens.inspect(other, instanceId)).ok).toBe(true);
  });

  it('of two approvers deciding at once with quorum 1, exactly one is recorded; the other is told who decided', async () => {
    const deps = policy({ APPROVERS: `${at('approver')};${at('second.approver')}` });
    const { instanceId, input } = await waiting(1);
    await sendApprovalRequests(input, deps);
    const a = linkOf(instanceId, at('approver'));
    const b = linkOf(instanceId, at('second.approver'));
    const [fa, fb] = await Promise.all([open(instanceId, a), open(instanceId, b)]);
    const [ra, rb] = await Promise.all([
      post(instanceId, a, 'approve', fa.cookie, fa.csrf),
      post(instanceId, b, 'reject', fb.cookie, fb.csrf),
    ]);
    const answers = [
      { who: at('approver'), status: ra.status, text: await ra.text() },
      { who: at('second.approver'), status: rb.status, text: await rb.text() },
    ];
    const winners = answers.filter((x) => x.status === 200);
    const losers = answers.filter((x) => x.status === 409);
    expect(winners).toHaveLength(1);
    expect(losers).toHaveLength(1);
    expect(winners[0].text).toMatch(/Approved|Rejected/);
    expect(losers[0].text).toContain(`already decided by <code>${winners[0].who}</code>`);
    await host.durable.waitForStatus(instanceId, (s) => s.runtimeStatus === 'Completed');
    expect(events(instanceId)).toHaveLength(1);
    const output = host.durable.getStatus(instanceId)?.output as { received: ApprovalDecision[] };
    expect(output.received.map((r) => r.approver)).toEqual([winners[0].who]);
  });

  it("answers closed on an expired round's links (GET and POST), also after the links expire", async () => {
    const deps = policy({ APPROVERS: `${at('approver')};${at('second.approver')}` });
    const { instanceId, input } = await waiting(1, {
      expiresAt: new Date(env.sandbox.clock.now() + 60 * 60_000).toISOString(),
    });
    await sendApprovalRequests(input, deps);
    const token = linkOf(instanceId, at('approver'));
    const { cookie, csrf } = await open(instanceId, token);

    expect(await closeApprovalRound({ instanceId, reason: 'expired' }, deps)).toEqual({ closed: 2 });
    const get = await fetch(url(instanceId, token));
    expect(get.status).toBe(409);
    expect(await get.text()).toContain('expired');
    const res = await post(instanceId, token, 'approve', cookie, csrf);
    expect(res.status).toBe(409);
    expect(await res.text()).toContain('expired');
    // A round closed again keeps how it was closed.
    await closeApprovalRound({ instanceId, reason: 'ended' }, deps);
    env.sandbox.clock.advance(2 * 60 * 60_000);
    const later = await fetch(url(instanceId, token));
    expect(later.status).toBe(409);
    expect(await later.text()).toContain('The time to decide this request expired');
    await host.durable.waitForIdle();
    expect(events(instanceId)).toHaveLength(0);
    // No further email goes out for a closed round.
    expect(await sendApprovalRequests({ ...input, round: 1 }, deps)).toMatchObject({ ok: true, sentTo: [] });
    expect(recipients(instanceId)).toHaveLength(2);
  });
});
