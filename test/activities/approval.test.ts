import type { SentMail } from '../../sandbox/graph';
import { recordPlan, reviewUrl, sendApprovalRequests } from '../../src/activities/approval';
import { buildPlan, planDigest, planSourceOf, type PlanInput } from '../../src/approvals/plan';
import { m365SupportAad } from '../../src/profiles/m365-support-aad';
import type { ApprovalPlan, ApprovalRequestInput, IntegrationRef } from '../../src/contracts/provision';
import { createDeps, type Deps } from '../../src/app/deps';
import { sendReport } from '../../src/activities/report';
import { loadConfig } from '../../src/config';
import { startActivityEnv, type ActivityEnv } from '../helpers/activity-env';

type Message = { subject: string; body: { contentType: string; content: string }; toRecipients: unknown[] };
const msg = (m: SentMail) => m.message as Message;
const to = (m: SentMail) =>
  (msg(m).toRecipients as { emailAddress: { address: string } }[]).map((r) => r.emailAddress.address);
const tokenIn = (m: SentMail): string => {
  const found = /\/api\/approvals\/[^?"]+\?token=([A-Za-z0-9_-]{43})/.exec(msg(m).body.content);
  if (!found) throw new Error('no review link in the mail');
  return found[1];
};

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

describe('sendApprovalRequests', () => {
  let env: ActivityEnv;
  /** Deps whose approver policy (APPROVERS) names the people these tests ask. */
  let deps: Deps;
  const canaries: string[] = [];

  beforeAll(async () => {
    env = await startActivityEnv();
    deps = createDeps(
      loadConfig({
        ...env.settings,
        APPROVERS: 'ann@contoso.com; bob@contoso.com, carl@contoso.com;dan@contoso.com',
        APPROVER_GROUPS: '',
      }),
      () => env.sandbox.clock.date(),
    );
    for (const role of ['outbound', 'restApi', 'restUser'])
      env.sandbox.keyvault.seedSecret(`it-approval-${role}`, `${role}-Canary1Q~${'x'.repeat(30)}`, { role });
    for (const role of ['outbound', 'restApi', 'restUser'])
      canaries.push((await env.deps.secrets.getSecret(`it-approval-${role}`)).value!);
  }, 60000);
  afterAll(() => env.close());

  function request(ref: IntegrationRef, overrides: Partial<ApprovalRequestInput> = {}): ApprovalRequestInput {
    return {
      ...ref,
      approvers: ['ann@contoso.com', 'Bob@Contoso.com'],
      requesters: [],
      quorum: 1,
      plan: plan(ref.integrationId),
      planDigest: 'digest-1',
      expiresAt: new Date(env.sandbox.clock.now() + 3 * 24 * 3600_000).toISOString(),
      round: 0,
      apps: [
        {
          role: 'outbound',
          appId: '11111111-1111-1111-1111-111111111111',
          objectId: '22222222-2222-2222-2222-222222222222',
          servicePrincipalId: '33333333-3333-3333-3333-333333333333',
        },
      ],
      secrets: ['outbound', 'restApi', 'restUser'].map((role) => ({
        role,
        secretName: `it-approval-${role}`,
        version: 'abc123',
        keyId: '44444444-4444-4444-4444-444444444444',
        expiresOn: '2027-05-01T00:00:00.000Z',
        created: true,
      })),
      records: [
        {
          key: 'outboundProvider',
          table: 'oauth_entity',
          sysId: '0123456789abcdef0123456789abcdef',
          mismatches: [],
        },
      ],
      manualActions: [
        {
          title: 'Microsoft 365 admin center <Support integration>',
          actor: 'Microsoft 365 global administrator',
          steps: [
            { label: 'Client ID', value: '55555555-5555-5555-5555-555555555555' },
            { label: 'Client secret (Key Vault secret name)', value: 'it-approval-restApi' },
          ],
        },
      ],
      ...overrides,
    };
  }

  const outboxFor = (instanceId: string) =>
    env.sandbox.graph.outbox.filter((m) => msg(m).body.content.includes(`/api/approvals/${instanceId}?`));

  it('emails each approver once with a Review link, the created objects and the manual steps, never a secret', async () => {
    const ref = env.ref();
    const result = await sendApprovalRequests(request(ref), deps);
    expect(result).toEqual({
      ok: true,
      tokenIds: [expect.any(String), expect.any(String)],
      sentTo: ['ann@contoso.com', 'bob@contoso.com'],
      eligible: ['ann@contoso.com', 'bob@contoso.com'],
      quorum: 1,
      dropped: [],
    });
    // Sent at once: the outbox order is the order Graph answered in.
    const mails = outboxFor(ref.instanceId).sort((a, b) => to(a)[0].localeCompare(to(b)[0]));
    expect(mails.map(to)).toEqual([['ann@contoso.com'], ['bob@contoso.com']]);
    for (const m of mails) {
      expect(m.from).toBe(env.settings.MAIL_SENDER);
      const { content, contentType } = msg(m).body;
      expect(contentType).toBe('HTML');
      expect(content).toContain(reviewUrl('http://127.0.0.1:7071', ref.instanceId, tokenIn(m)));
      expect(content).toContain('it-approval-restApi'); // secret by its Key Vault name
      expect(content).toContain('abc123'); // version
      expect(content).toContain('0123456789abcdef0123456789abcdef'); // sys_id
      expect(content).toContain('55555555-5555-5555-5555-555555555555'); // manual step value
      expect(content).toContain('Microsoft 365 admin center &lt;Support integration&gt;'); // escaped
      expect(content).not.toContain('<Support integration>');
      for (const c of canaries) expect(content).not.toContain(c);
    }
    // Distinct, personal tokens; the result carries only hash prefixes.
    expect(tokenIn(mails[0])).not.toBe(tokenIn(mails[1]));
    expect(JSON.stringify(result)).not.toContain(tokenIn(mails[0]));
    const inspected = await env.deps.approvalTokens.inspect(tokenIn(mails[1]), ref.instanceId);
    expect(inspected).toMatchObject({
      ok: true,
      record: { approver: 'bob@contoso.com', subject: ref.integrationId, planDigest: 'digest-1', quorum: 1 },
    });
  });

  it('sends nothing more when the same round runs again (also twice at once)', async () => {
    const ref = env.ref();
    const first = await sendApprovalRequests(request(ref), deps);
    const mark = env.sandbox.journal.mark();
    const again = await Promise.all([
      sendApprovalRequests(request(ref), deps),
      sendApprovalRequests(request(ref), deps),
    ]);
    expect(outboxFor(ref.instanceId)).toHaveLength(2);
    expect(env.sandbox.journal.writes({ since: mark })).toEqual([]);
    for (const r of again) expect(r).toEqual(first);
  });

  it('two concurrent first runs send each approver one email (the loser retries later)', async () => {
    const ref = env.ref();
    const runs = await Promise.allSettled([
      sendApprovalRequests(request(ref), deps),
      sendApprovalRequests(request(ref), deps),
    ]);
    for (const r of runs)
      if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'SendInProgress' });
      else expect(r.value.ok).toBe(true);
    expect(outboxFor(ref.instanceId)).toHaveLength(2);
    const retry = await sendApprovalRequests(request(ref), deps);
    expect(retry).toMatchObject({ ok: true, sentTo: ['ann@contoso.com', 'bob@contoso.com'] });
    expect(outboxFor(ref.instanceId)).toHaveLength(2);
  });

  it('sends a reminder round only to approvers who have not decided, with a fresh token', async () => {
    const ref = env.ref();
    await sendApprovalRequests(request(ref), deps);
    const [annMail] = outboxFor(ref.instanceId).filter((m) => to(m)[0] === 'ann@contoso.com');
    const annToken = tokenIn(annMail);
    expect((await env.deps.approvalTokens.redeem(annToken, ref.instanceId, 'approve')).ok).toBe(true);

    const reminder = await sendApprovalRequests(request(ref, { round: 1 }), deps);
    expect(reminder).toMatchObject({ ok: true, sentTo: ['bob@contoso.com'] });
    const mails = outboxFor(ref.instanceId);
    expect(mails.map(to)).toEqual([['ann@contoso.com'], ['bob@contoso.com'], ['bob@contoso.com']]);
    expect(msg(mails[2]).subject).toMatch(/^Reminder: /);
    expect(tokenIn(mails[2])).not.toBe(tokenIn(mails[1]));
    // The older token stays valid until it expires.
    expect((await env.deps.approvalTokens.inspect(tokenIn(mails[1]), ref.instanceId)).ok).toBe(true);
    // The reminder round run again sends nothing.
    await sendApprovalRequests(request(ref, { round: 1 }), deps);
    expect(outboxFor(ref.instanceId)).toHaveLength(3);
  });

  it('a refused send leaves the other approvers emailed (sent at once); a re-run sends only the missing one', async () => {
    const ref = env.ref();
    env.sandbox.faults.add({
      service: 'graph',
      method: 'POST',
      path: 'sendMail$',
      action: { type: 'status', status: 403 },
      times: 1,
    });
    const r = await sendApprovalRequests(request(ref), deps);
    expect(r).toMatchObject({ ok: false, failure: { service: 'graph', status: 403 } });
    // One after another, the first refusal would have stopped the round before the second email.
    expect(outboxFor(ref.instanceId)).toHaveLength(1);
    env.sandbox.faults.clear();
    const again = await sendApprovalRequests(request(ref), deps);
    expect(again).toMatchObject({ ok: true, sentTo: ['ann@contoso.com', 'bob@contoso.com'] });
    expect(
      outboxFor(ref.instanceId)
        .map((m) => to(m)[0])
        .sort(),
    ).toEqual(['ann@contoso.com', 'bob@contoso.com']);
  });

  it('sends again after a throttled send, and only once', async () => {
    const ref = env.ref();
    // 502: retriable for us, not retried inside graph-client (its RetryHandler takes 429/503/504 only).
    env.sandbox.faults.add({
      service: 'graph',
      method: 'POST',
      path: 'sendMail$',
      action: { type: 'status', status: 502 },
    });
    // A policy of one (a request narrowing a larger one to one person is refused).
    const carlOnly = createDeps(
      loadConfig({ ...env.settings, APPROVERS: 'carl@contoso.com', APPROVER_GROUPS: '' }),
      () => env.sandbox.clock.date(),
    );
    await expect(
      sendApprovalRequests(request(ref, { approvers: ['carl@contoso.com'] }), carlOnly),
    ).rejects.toMatchObject({
      retriable: true,
    });
    env.sandbox.faults.clear();
    expect(outboxFor(ref.instanceId)).toHaveLength(0);
    const r = await sendApprovalRequests(request(ref, { approvers: ['carl@contoso.com'] }), carlOnly);
    expect(r).toMatchObject({ ok: true, sentTo: ['carl@contoso.com'] });
    expect(outboxFor(ref.instanceId)).toHaveLength(1);
  });

  it('returns a failure (no throw) when Graph refuses the mailbox', async () => {
    const ref = env.ref();
    env.sandbox.faults.add({
      service: 'graph',
      method: 'POST',
      path: 'sendMail$',
      action: { type: 'status', status: 403 },
      times: 1,
    });
    const danOnly = createDeps(loadConfig({ ...env.settings, APPROVERS: 'dan@contoso.com', APPROVER_GROUPS: '' }), () =>
      env.sandbox.clock.date(),
    );
    const r = await sendApprovalRequests(request(ref, { approvers: ['dan@contoso.com'] }), danOnly);
    env.sandbox.faults.clear();
    expect(r).toMatchObject({ ok: false, failure: { service: 'graph', status: 403 } });
  });

  /** A provisioning plan input of the m365 profile for `ref` (apps and records known, as at the first gate). */
  const planInputFor = (ref: IntegrationRef): PlanInput => ({
    profile: m365SupportAad,
    integrationId: ref.integrationId,
    tenantId: ref.tenant,
    tenantName: ref.tenantName,
    serviceNowInstance: ref.serviceNowInstance,
    instanceUrl: `https://${ref.serviceNowInstance}.service-now.com`,
    values: {
      tenant: ref.tenant,
      tenantId: ref.tenant,
      tenantDomain: 'contoso.onmicrosoft.com',
      tenantName: ref.tenantName,
      instance: ref.serviceNowInstance,
      instanceUrl: `https://${ref.serviceNowInstance}.service-now.com`,
      authorityHost: 'https://login.microsoftonline.com',
      integrationId: ref.integrationId,
      redirectUri: `https://${ref.serviceNowInstance}.service-now.com/auth_redirect.do`,
      testEnvironment: 'No',
      'apps.outbound.secretName': `${ref.integrationId}-outbound`,
      'apps.restApi.secretName': `${ref.integrationId}-restapi`,
      'apps.restUser.secretName': `${ref.integrationId}-restuser`,
      'apps.restUser.appId': '33333333-3333-3333-3333-333333333333',
      'records.outboundProvider.sysId': '0123456789abcdef0123456789abcdef',
    },
    uniqueNames: { outbound: 'u-outbound', restApi: 'u-restapi', restUser: 'u-restuser' },
    grantUsers: [],
    ipAllowlist: false,
    requestedBy: [],
  });

  it('builds a kept plan only when it has the digest the run holds, and sends nothing otherwise', async () => {
    const ref = env.ref();
    const input = planInputFor(ref);
    const digest = planDigest(input);
    const keep = (source: PlanInput) =>
      recordPlan(
        {
          integrationId: ref.integrationId,
          instanceId: ref.instanceId,
          digest,
          mode: 'first',
          source: planSourceOf(source),
        },
        deps,
      );
    const kept = { plan: undefined, planOfRun: true, planDigest: digest };

    // Nothing kept yet: nothing sent.
    expect(await sendApprovalRequests(request(ref, kept), deps)).toMatchObject({
      ok: false,
      failure: { code: 'PlanNotKept' },
    });
    // A source that is not the run's plan is never kept.
    const more = { ...input, grantUsers: [{ userName: 'admin', role: 'x_mioms_m365_assis.administrator' }] };
    expect(await keep(more)).toMatchObject({ ok: false, failure: { code: 'PlanDigestMismatch' } });
    expect(await deps.approvalTokens.runPlan(ref.instanceId)).toBeUndefined();
    // Kept behind the activity's back (the table changed): refused when the links are sent.
    await deps.approvalTokens.savePlan({
      instanceId: ref.instanceId,
      digest,
      mode: 'first',
      source: planSourceOf(more),
    });
    expect(await sendApprovalRequests(request(ref, kept), deps)).toMatchObject({
      ok: false,
      failure: { code: 'PlanDigestMismatch' },
    });
    expect(outboxFor(ref.instanceId)).toEqual([]);

    // The run's plan: kept, built by the activity, shown in the mail and on the confirmation page.
    expect(await keep(input)).toEqual({ ok: true });
    expect(await sendApprovalRequests(request(ref, kept), deps)).toMatchObject({ ok: true });
    const mails = outboxFor(ref.instanceId);
    expect(mails).toHaveLength(2);
    for (const m of mails) expect(msg(m).body.content).toContain('33333333-3333-3333-3333-333333333333');
    expect(await deps.approvalTokens.roundPlan(ref.instanceId)).toEqual(buildPlan(input));
  });
});

describe('sendReport', () => {
  let env: ActivityEnv;
  beforeAll(async () => {
    env = await startActivityEnv();
  }, 60000);
  afterAll(() => env.close());

  it('mails the outcome, the checks with hints and the orphans, once', async () => {
    const ref = env.ref();
    const input = {
      ...ref,
      approvers: ['ann@contoso.com'],
      outcome: 'completed with failures',
      summary: 'Approved by ann@contoso.com',
      checks: [
        { name: 'outbound token', ok: true, detail: 'token issued' },
        { name: 'inbound table read', ok: false, detail: 'HTTP 401', hint: 'Set user_claim to <appid>' },
      ],
      orphans: [{ object: { kind: 'secret' as const, role: 'outbound', secretName: 'kv-name-1' }, reason: 'HTTP 403' }],
    };
    // Reports go only to people the approver policy names.
    const policyDeps = createDeps(
      loadConfig({ ...env.settings, APPROVERS: 'ann@contoso.com', APPROVER_GROUPS: '' }),
      () => env.sandbox.clock.date(),
    );
    expect(await sendReport(input, policyDeps)).toEqual({ ok: true, sentTo: ['ann@contoso.com'] });
    expect(await sendReport(input, policyDeps)).toEqual({ ok: true, sentTo: ['ann@contoso.com'] });
    const mails = env.sandbox.graph.outbox.filter((m) => msg(m).subject.includes(ref.integrationId));
    expect(mails).toHaveLength(1);
    const content = msg(mails[0]).body.content;
    expect(content).toContain('Set user_claim to &lt;appid&gt;');
    expect(content).toContain('kv-name-1');
    expect(content).toContain('1 of 2 passed');
  });

  describe('recipients', () => {
    const domain = () => env.sandbox.directory.tenantDomain;
    /** The sandbox's policy: APPROVERS names these two; the approvers group has ops.engineer and ops.lead. */
    const approver = () => `approver@${domain()}`;
    const second = () => `second.approver@${domain()}`;
    const engineer = () => `ops.engineer@${domain()}`;
    const report = (ref: IntegrationRef, approvers: string[], extra: { approversFromRound?: boolean } = {}) => ({
      ...ref,
      approvers,
      outcome: 'active',
      summary: 'Provisioning active.',
      checks: [],
      orphans: [],
      ...extra,
    });
    const reportsOf = (ref: IntegrationRef) =>
      env.sandbox.graph.outbox.filter((m) => msg(m).subject.includes(ref.integrationId));
    const sendMails = (since: number) =>
      env.sandbox.journal
        .entries({ service: 'graph', since })
        .filter((e) => e.method === 'POST' && e.path.endsWith('/sendMail'));
    const groupReads = (since: number) =>
      env.sandbox.journal
        .entries({ service: 'graph', since })
        .filter((e) => e.method === 'GET' && e.path.includes('/transitiveMembers'));

    it('one sendMail carries every recipient; a repeated execution sends nothing more', async () => {
      const ref = env.ref();
      const input = report(ref, [approver(), second(), engineer()]);
      const mark = env.sandbox.journal.mark();
      const first = await sendReport(input, env.deps);
      expect(first).toEqual({ ok: true, sentTo: [engineer(), approver(), second()] });
      expect(sendMails(mark)).toHaveLength(1);
      expect(reportsOf(ref)).toHaveLength(1);
      expect(to(reportsOf(ref)[0]).sort()).toEqual([approver(), engineer(), second()].sort());

      const again = env.sandbox.journal.mark();
      expect(await sendReport(input, env.deps)).toEqual(first);
      expect(sendMails(again)).toEqual([]);
      expect(reportsOf(ref)).toHaveLength(1);
    });

    it("with this round's approvers (approversFromRound) it reads no group and mails them as given", async () => {
      const ref = env.ref();
      const mark = env.sandbox.journal.mark();
      const out = await sendReport(
        report(ref, [engineer(), ` ${approver().toUpperCase()} `], { approversFromRound: true }),
        env.deps,
      );
      expect(out).toEqual({ ok: true, sentTo: [engineer(), approver()] });
      expect(groupReads(mark)).toEqual([]);
      // The report's mail is the only Graph call.
      expect(env.sandbox.journal.entries({ service: 'graph', since: mark })).toHaveLength(1);
      expect(reportsOf(ref).map(to)).toEqual([[engineer(), approver()]]);
    });

    it('more recipients than Exchange Online takes in one message: one message per 500, each sent once', async () => {
      const ref = env.ref();
      const many = Array.from({ length: 501 }, (_, i) => `member${i}@${domain()}`);
      const input = report(ref, many, { approversFromRound: true });
      const mark = env.sandbox.journal.mark();
      expect(await sendReport(input, env.deps)).toEqual({ ok: true, sentTo: many });
      expect(await sendReport(input, env.deps)).toEqual({ ok: true, sentTo: many });
      expect(sendMails(mark)).toHaveLength(2);
      expect(reportsOf(ref).map((m) => to(m).length)).toEqual([500, 1]);
      expect(reportsOf(ref).flatMap(to)).toEqual(many);
    });

    // An execution of sendReport that the previous release started (one message and one marker per
    // recipient, recipient = the address) and that the host lost before its completion was recorded is executed again
    // by this release (at-least-once activities): the per-address markers are not read, so everyone gets it twice.
    it('a report the previous release already sent (per-recipient markers) is not sent again', async () => {
      const ref = env.ref();
      const recipients = [approver(), second()];
      for (const recipient of recipients) {
        const key = { instanceId: ref.instanceId, kind: 'report' as const, round: 0, recipient };
        expect((await env.deps.approvalTokens.claimSend(key)).state).toBe('claimed');
        await env.deps.approvalTokens.completeSend(key);
      }
      const mark = env.sandbox.journal.mark();
      await sendReport(report(ref, recipients, { approversFromRound: true }), env.deps);
      expect(sendMails(mark)).toEqual([]);
    });

    it('without it the addresses are narrowed to the policy: someone no longer in it gets nothing', async () => {
      const ref = env.ref();
      const removed = `former.approver@${domain()}`;
      const mark = env.sandbox.journal.mark();
      const out = await sendReport(report(ref, [removed, second()]), env.deps);
      expect(out).toEqual({ ok: true, sentTo: [second()] });
      expect(groupReads(mark).length).toBeGreaterThan(0);
      expect(reportsOf(ref).map(to)).toEqual([[second()]]);
    });
  });
});
