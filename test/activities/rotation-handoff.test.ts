import path from 'node:path';

import type { SentMail } from '../../sandbox/graph';
import { EventType } from '../../sandbox/durable/history';
import { startFunctionsHost, type FunctionsHost } from '../../sandbox/host';
import { reviewUrl } from '../../src/activities/approval';
import { APPROVAL_EVENT } from '../../src/contracts/provision';
import type { HandoffRequestInput } from '../../src/contracts/rotation';
import { sendHandoffRequests } from '../../src/activities/rotation-handoff';
import { fixture } from '../fixtures/approvals/state';
import { startActivityEnv, type ActivityEnv } from '../helpers/activity-env';

const PUBLIC = 'http://127.0.0.1:7071';
const SECRET_NAME = 'it-handoff-restApi';

type Message = { subject: string; body: { contentType: string; content: string }; toRecipients: unknown[] };
const msg = (m: SentMail) => m.message as Message;
const to = (m: SentMail) =>
  (msg(m).toRecipients as { emailAddress: { address: string } }[]).map((r) => r.emailAddress.address);
const tokenIn = (m: SentMail): string => {
  const found = /\/api\/approvals\/[^?"]+\?token=([A-Za-z0-9_-]{43})/.exec(msg(m).body.content);
  if (!found) throw new Error('no done link in the mail');
  return found[1];
};

let env: ActivityEnv;
let host: FunctionsHost;
let canary = '';
let version = '';
const lines: string[] = [];
const log = { info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m) };
let n = 0;

beforeAll(async () => {
  env = await startActivityEnv();
  fixture.deps = env.deps;
  host = await startFunctionsHost({
    entryModule: path.join(__dirname, '../fixtures/approvals/app.ts'),
    clock: env.sandbox.clock,
  });
  env.sandbox.keyvault.seedSecret(SECRET_NAME, `HandoffCanary8Q~${'z'.repeat(30)}`, { role: 'restApi' });
  const s = await env.deps.secrets.getSecret(SECRET_NAME);
  canary = s.value!;
  version = s.properties.version!;
}, 60000);
afterAll(async () => {
  await host?.close();
  await env?.close();
});
afterEach(() => env.sandbox.faults.clear());

/** A running instance (the fixture's orchestrator) and a hand-off request for it. */
async function request(role = 'restApi', overrides: Partial<HandoffRequestInput> = {}): Promise<HandoffRequestInput> {
  const instanceId = `rotate-handoff-${++n}`;
  host.durable.startNew('awaitApproval', { instanceId });
  await host.durable.waitForIdle();
  return {
    ...env.ref({ instanceId }),
    role,
    approvers: ['ann@contoso.com', 'Bob@Contoso.com'],
    consumers: [{ where: 'Microsoft 365 admin center > Settings > ServiceNow <Repositories>', field: 'Client secret' }],
    secret: { secretName: SECRET_NAME, version },
    expiresAt: new Date(env.sandbox.clock.now() + 7 * 24 * 3600_000).toISOString(),
    round: 0,
    ...overrides,
  };
}

const outboxFor = (instanceId: string, role?: string) =>
  env.sandbox.graph.outbox.filter(
    (m) =>
      msg(m).body.content.includes(`/api/approvals/${instanceId}?`) &&
      (role === undefined || msg(m).subject.includes(` ${role} `)),
  );
const url = (instanceId: string, token?: string) =>
  `${host.baseUrl}/api/approvals/${instanceId}${token === undefined ? '' : `?token=${token}`}`;
const raised = (instanceId: string) =>
  host.durable
    .history(instanceId)
    .filter((e) => e.EventType === EventType.EventRaised)
    .map((e) => ({ name: e.Name, input: e.Input === undefined ? undefined : (JSON.parse(e.Input) as unknown) }));

async function open(instanceId: string, token: string) {
  const res = await fetch(url(instanceId, token));
  expect(res.status).toBe(200);
  const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0];
  const page = await res.text();
  const csrf = /name="csrf" value="([^"]+)"/.exec(page)?.[1] ?? '';
  return { cookie, csrf, page, res };
}
const post = (instanceId: string, form: Record<string, string>, headers: Record<string, string> = {}) =>
  fetch(url(instanceId), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: PUBLIC, ...headers },
    body: new URLSearchParams(form).toString(),
  });

describe('sendHandoffRequests', () => {
  it('emails each approver the place, field, secret name and version with a Done link, never the value', async () => {
    const input = await request();
    const out = await sendHandoffRequests(input, env.deps, log);
    expect(out).toEqual({
      ok: true,
      tokenIds: [expect.any(String), expect.any(String)],
      sentTo: ['ann@contoso.com', 'bob@contoso.com'],
    });
    const mails = outboxFor(input.instanceId);
    expect(mails.map(to)).toEqual([['ann@contoso.com'], ['bob@contoso.com']]);
    for (const m of mails) {
      const { content, contentType } = msg(m).body;
      expect(contentType).toBe('HTML');
      expect(msg(m).subject).toBe(`Update the restApi client secret of ServiceNow integration ${input.integrationId}`);
      expect(content).toContain(reviewUrl(PUBLIC, input.instanceId, tokenIn(m)));
      expect(content).toContain(SECRET_NAME);
      expect(content).toContain(version);
      expect(content).toContain(env.deps.config.keyVault.url);
      expect(content).toContain('Microsoft 365 admin center &gt; Settings &gt; ServiceNow &lt;Repositories&gt;');
      expect(content).toContain('Client secret');
      expect(content).not.toContain(canary);
      expect(content).not.toContain('<Repositories>');
    }
    expect(tokenIn(mails[0])).not.toBe(tokenIn(mails[1]));
    expect(JSON.stringify(out)).not.toContain(tokenIn(mails[0]));
    const inspected = await env.deps.approvalTokens.inspect(tokenIn(mails[1]), input.instanceId);
    expect(inspected).toMatchObject({
      ok: true,
      record: { approver: 'bob@contoso.com', purpose: 'handoff', eventName: 'HandoffDone-restApi' },
    });
    for (const l of lines) expect(l).not.toContain(canary);
  });

  it('sends nothing more when the same round runs again (also twice at once)', async () => {
    const input = await request();
    const first = await sendHandoffRequests(input, env.deps);
    const mark = env.sandbox.journal.mark();
    const again = await Promise.all([sendHandoffRequests(input, env.deps), sendHandoffRequests(input, env.deps)]);
    expect(outboxFor(input.instanceId)).toHaveLength(2);
    expect(env.sandbox.journal.writes({ since: mark })).toEqual([]);
    for (const r of again) expect(r).toEqual(first);
  });

  it('keeps the roles of one rotation apart: round 0 of each role, reminders only to who has not confirmed that role', async () => {
    const restApi = await request('restApi');
    const restUser = { ...restApi, role: 'restUser' };
    await sendHandoffRequests(restApi, env.deps);
    await sendHandoffRequests(restUser, env.deps);
    expect(outboxFor(restApi.instanceId)).toHaveLength(4);
    const annRestApi = outboxFor(restApi.instanceId, 'restApi').find((m) => to(m)[0] === 'ann@contoso.com')!;
    expect((await env.deps.approvalTokens.redeem(tokenIn(annRestApi), restApi.instanceId, 'done')).ok).toBe(true);

    const apiReminder = await sendHandoffRequests({ ...restApi, round: 1 }, env.deps);
    expect(apiReminder).toMatchObject({ ok: true, sentTo: ['bob@contoso.com'] });
    const userReminder = await sendHandoffRequests({ ...restUser, round: 1 }, env.deps);
    expect(userReminder).toMatchObject({ ok: true, sentTo: ['ann@contoso.com', 'bob@contoso.com'] });
    const reminders = outboxFor(restApi.instanceId).filter((m) => msg(m).subject.startsWith('Reminder: '));
    expect(reminders).toHaveLength(3);
    // The reminder round run again sends nothing.
    await sendHandoffRequests({ ...restApi, round: 1 }, env.deps);
    expect(outboxFor(restApi.instanceId)).toHaveLength(7);
  });

  it('returns a failure for a request without approvers or consumers, and when Graph refuses the mailbox', async () => {
    const input = await request();
    expect(await sendHandoffRequests({ ...input, approvers: [' '] }, env.deps)).toMatchObject({
      ok: false,
      failure: { service: 'input' },
    });
    expect(await sendHandoffRequests({ ...input, consumers: [] }, env.deps)).toMatchObject({
      ok: false,
      failure: { service: 'input' },
    });
    env.sandbox.faults.add({
      service: 'graph',
      method: 'POST',
      path: 'sendMail$',
      action: { type: 'status', status: 403 },
      times: 1,
    });
    expect(await sendHandoffRequests({ ...input, approvers: ['dan@contoso.com'] }, env.deps)).toMatchObject({
      ok: false,
      failure: { service: 'graph', status: 403 },
    });
  });
});

describe('hand-off confirmation through the approval endpoints', () => {
  /** A running instance, its hand-off emails sent, and Ann's link. */
  async function handedOff(role = 'restApi') {
    const input = await request(role);
    await sendHandoffRequests(input, env.deps);
    const ann = outboxFor(input.instanceId).find((m) => to(m)[0] === 'ann@contoso.com')!;
    return { instanceId: input.instanceId, token: tokenIn(ann) };
  }

  it('GET and HEAD render a "Confirm you updated" page with one Done button and change nothing', async () => {
    const { instanceId, token } = await handedOff();
    const { page, res } = await open(instanceId, token);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('content-security-policy')).toMatch(/form-action 'self' [^;]*/);
    expect(res.headers.get('content-security-policy')).toContain(PUBLIC);
    expect(page).toContain('Confirm you updated');
    expect(page).toContain(SECRET_NAME);
    expect(page).toContain(version);
    expect(page).toContain('ann@contoso.com');
    expect(page).toMatch(/name="decision" value="done"/);
    expect(page).not.toMatch(/value="approve"|value="reject"/);
    expect(page.split(token)).toHaveLength(2); // only in the hidden field
    expect(page).not.toContain(canary);
    const head = await fetch(url(instanceId, token), { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    await host.durable.waitForIdle();
    expect(raised(instanceId)).toEqual([]);
    expect((await env.deps.approvalTokens.inspect(token, instanceId)).ok).toBe(true);
  });

  it('POST done raises HandoffDone-<role> once, with the approver from the token record', async () => {
    const { instanceId, token } = await handedOff('restUser');
    const { cookie, csrf } = await open(instanceId, token);
    const res = await post(instanceId, { token, csrf, decision: 'done', approver: 'mallory@evil.example' }, { cookie });
    expect(res.status).toBe(200);
    const page = await res.text();
    expect(page).toContain('Thank you');
    expect(page).not.toContain(token);
    await host.durable.waitForIdle();
    const stillOpen = await env.deps.approvalTokens.openFor(instanceId);
    expect(stillOpen.map((t) => t.approver)).toEqual(['bob@contoso.com']); // Bob's link stays usable
    expect(raised(instanceId)).toEqual([
      {
        name: 'HandoffDone-restUser',
        input: {
          decision: 'done',
          approver: 'ann@contoso.com',
          at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
          tokenId: expect.any(String),
        },
      },
    ]);
    // Single use: the same link again gets a clear page and raises nothing.
    const again = await post(instanceId, { token, csrf, decision: 'done' }, { cookie });
    expect(again.status).toBe(410);
    await host.durable.waitForIdle();
    expect(raised(instanceId)).toHaveLength(1);
  });

  it('a hand-off token cannot approve and an approval token cannot confirm a hand-off', async () => {
    const { instanceId, token } = await handedOff();
    const { cookie, csrf } = await open(instanceId, token);
    for (const decision of ['approve', 'reject']) {
      const res = await post(instanceId, { token, csrf, decision }, { cookie });
      expect(res.status).toBe(400);
    }
    const approval = await env.deps.approvalTokens.issue({
      instanceId,
      approver: 'ann@contoso.com',
      purpose: 'approval',
      eventName: APPROVAL_EVENT,
      expiresAt: new Date(env.sandbox.clock.now() + 3600_000).toISOString(),
      subject: 'x',
    });
    const wrong = await post(instanceId, { token: approval.token, csrf, decision: 'done' }, { cookie });
    expect(wrong.status).toBe(400);
    await host.durable.waitForIdle();
    expect(raised(instanceId)).toEqual([]);
    expect((await env.deps.approvalTokens.inspect(token, instanceId)).ok).toBe(true);
    expect((await env.deps.approvalTokens.inspect(approval.token, instanceId)).ok).toBe(true);
  });

  it('refuses a POST without the CSRF cookie and raises nothing', async () => {
    const { instanceId, token } = await handedOff();
    const { csrf } = await open(instanceId, token);
    const res = await post(instanceId, { token, csrf, decision: 'done' });
    expect(res.status).toBe(403);
    await host.durable.waitForIdle();
    expect(raised(instanceId)).toEqual([]);
    expect((await env.deps.approvalTokens.inspect(token, instanceId)).ok).toBe(true);
  });
});
