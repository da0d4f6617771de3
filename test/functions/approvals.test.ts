import path from 'node:path';

import { EventType } from '../../sandbox/durable/history';
import { startFunctionsHost, type FunctionsHost } from '../../sandbox/host';
import { APPROVAL_EVENT } from '../../src/contracts/provision';
import { createDeps } from '../../src/app/deps';
import { loadConfig } from '../../src/config';
import { fixture } from '../fixtures/approvals/state';
import { startActivityEnv, type ActivityEnv } from '../helpers/activity-env';

const PUBLIC = 'http://127.0.0.1:7071';

describe('approval endpoints through the local Functions host', () => {
  let env: ActivityEnv;
  let host: FunctionsHost;
  let n = 0;

  beforeAll(async () => {
    env = await startActivityEnv();
    // The approver policy names the people whose links these tests use (decisions are checked against it).
    fixture.deps = createDeps(
      loadConfig({ ...env.settings, APPROVERS: 'ann@contoso.com;bob@contoso.com', APPROVER_GROUPS: '' }),
      () => env.sandbox.clock.date(),
    );
    host = await startFunctionsHost({
      entryModule: path.join(__dirname, '../fixtures/approvals/app.ts'),
      clock: env.sandbox.clock,
    });
  }, 60000);
  afterAll(async () => {
    await host.close();
    await env.close();
  });

  /** A waiting instance and a token for it. */
  async function waiting(approver = 'ann@contoso.com', expiresInMs = 24 * 3600_000) {
    const instanceId = `approve-${++n}`;
    host.durable.startNew('awaitApproval', { instanceId });
    await host.durable.waitForIdle();
    const issued = await issue(instanceId, approver, expiresInMs);
    return { instanceId, ...issued };
  }
  const issue = (instanceId: string, approver = 'ann@contoso.com', expiresInMs = 24 * 3600_000) =>
    env.deps.approvalTokens.issue({
      instanceId,
      approver,
      purpose: 'approval',
      eventName: APPROVAL_EVENT,
      expiresAt: new Date(env.sandbox.clock.now() + expiresInMs).toISOString(),
      subject: `integration-of-${instanceId}`,
    });

  const url = (instanceId: string, token?: string) =>
    `${host.baseUrl}/api/approvals/${instanceId}${token === undefined ? '' : `?token=${token}`}`;
  const events = (instanceId: string) =>
    host.durable.history(instanceId).filter((e) => e.EventType === EventType.EventRaised);
  const status = (instanceId: string) => host.durable.getStatus(instanceId)?.runtimeStatus;

  /** GET the page like a browser: returns the cookie pair and the hidden CSRF field. */
  async function open(instanceId: string, token: string) {
    const res = await fetch(url(instanceId, token));
    expect(res.status).toBe(200);
    const setCookie = res.headers.get('set-cookie') ?? '';
    const cookie = setCookie.split(';')[0];
    const csrf = /name="csrf" value="([^"]+)"/.exec(await res.text())?.[1];
    return { cookie, csrf: csrf ?? '' };
  }

  function post(
    instanceId: string,
    form: Record<string, string>,
    headers: Record<string, string> = {},
  ): Promise<Response> {
    return fetch(url(instanceId), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: PUBLIC, ...headers },
      body: new URLSearchParams(form).toString(),
    });
  }

  async function expectUnchanged(instanceId: string, token: string) {
    await host.durable.waitForIdle();
    expect(events(instanceId)).toHaveLength(0);
    expect(status(instanceId)).toBe('Running');
    expect((await env.deps.approvalTokens.inspect(token, instanceId)).ok).toBe(true);
  }

  function expectSecurityHeaders(res: Response) {
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toMatch(/form-action [^;]*http:\/\/127\.0\.0\.1:7071(;|$)/);
    expect(csp).not.toContain('unsafe-inline');
  }

  it('GET renders a confirmation page and changes nothing', async () => {
    const { instanceId, token } = await waiting();
    const res = await fetch(url(instanceId, token));
    expect(res.status).toBe(200);
    expectSecurityHeaders(res);
    const page = await res.text();
    expect(page).toContain(`integration-of-${instanceId}`);
    expect(page).toContain('ann@contoso.com');
    expect(page).toContain(`action="${PUBLIC}/api/approvals/${instanceId}"`);
    expect(page).toContain(`name="token" value="${token}"`);
    expect(page.split(token)).toHaveLength(2); // only in the hidden field
    expect(page).toMatch(/name="decision" value="approve"/);
    expect(page).toMatch(/name="decision" value="reject"/);
    const cookie = res.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/^approval-csrf=[A-Za-z0-9_-]{43}; Path=\//);
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toContain('SameSite=Strict');
    expect(page).toContain(`name="csrf" value="${cookie.split(';')[0].split('=')[1]}"`);
    // A scanner fetching the link twice still leaves it usable.
    expect((await fetch(url(instanceId, token))).status).toBe(200);
    await expectUnchanged(instanceId, token);
  });

  it('HEAD answers 200 without a body and changes nothing', async () => {
    const { instanceId, token } = await waiting();
    const res = await fetch(url(instanceId, token), { method: 'HEAD' });
    expect(res.status).toBe(200);
    expectSecurityHeaders(res);
    expect(await res.text()).toBe('');
    await expectUnchanged(instanceId, token);
  });

  it('a valid POST raises exactly one event with the approver from the token record', async () => {
    const { instanceId, token, tokenId } = await waiting('bob@contoso.com');
    const { cookie, csrf } = await open(instanceId, token);
    const res = await post(
      instanceId,
      { token, csrf, decision: 'reject', approver: 'mallory@evil.example' },
      { cookie },
    );
    expect(res.status).toBe(200);
    expectSecurityHeaders(res);
    const page = await res.text();
    expect(page).toContain('Rejected');
    expect(page).not.toContain(token);
    await host.durable.waitForStatus(instanceId, (s) => s.runtimeStatus === 'Completed');
    expect(events(instanceId)).toHaveLength(1);
    expect(host.durable.getStatus(instanceId)?.output).toEqual({
      decision: 'reject',
      approver: 'bob@contoso.com',
      at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      tokenId,
    });
    // Replayed: the same token again gets a clear page, and no second event.
    const again = await post(instanceId, { token, csrf, decision: 'approve' }, { cookie });
    expect(again.status).toBe(410);
    expect(await again.text()).toContain('already used');
    await host.durable.waitForIdle();
    expect(events(instanceId)).toHaveLength(1);
  });

  it('accepts Origin: null (what a no-referrer page sends on POST) when the cookie matches', async () => {
    const { instanceId, token } = await waiting();
    const { cookie, csrf } = await open(instanceId, token);
    const res = await post(instanceId, { token, csrf, decision: 'approve' }, { cookie, origin: 'null' });
    expect(res.status).toBe(200);
    await host.durable.waitForStatus(instanceId, (s) => s.runtimeStatus === 'Completed');
    expect(events(instanceId)).toHaveLength(1);
  });

  it('refuses a POST without the CSRF cookie, with a different cookie, or from another origin', async () => {
    const { instanceId, token } = await waiting();
    const { cookie, csrf } = await open(instanceId, token);
    const other = await open(instanceId, token);
    const cases: Array<[Record<string, string>, Record<string, string>]> = [
      [{ token, csrf, decision: 'approve' }, {}],
      [{ token, decision: 'approve' }, { cookie }],
      [{ token, csrf, decision: 'approve' }, { cookie: other.cookie }],
      [
        { token, csrf, decision: 'approve' },
        { cookie, origin: 'https://evil.example' },
      ],
      [
        { token, csrf, decision: 'approve' },
        { cookie, origin: 'null', referer: 'https://evil.example/x' },
      ],
    ];
    for (const [form, headers] of cases) {
      const res = await post(instanceId, form, headers);
      expect(res.status).toBe(403);
      expectSecurityHeaders(res);
      expect(await res.text()).toContain('could not be verified');
    }
    await expectUnchanged(instanceId, token);
  });

  it('refuses forged, expired and cross-instance tokens with a clear page and no event', async () => {
    const a = await waiting();
    const b = await waiting();
    const { cookie, csrf } = await open(a.instanceId, a.token);
    const forged = 'A'.repeat(43);
    const forgedGet = await fetch(url(a.instanceId, forged));
    expect(forgedGet.status).toBe(403);
    expect(await forgedGet.text()).toContain('not valid');
    expect((await fetch(url(a.instanceId, forged), { method: 'HEAD' })).status).toBe(403);
    expect((await fetch(url(a.instanceId))).status).toBe(403);
    const forgedPost = await post(a.instanceId, { token: forged, csrf, decision: 'approve' }, { cookie });
    expect(forgedPost.status).toBe(403);
    expect(await forgedPost.text()).not.toContain(forged);

    // a's token on b's URL.
    const cross = await post(b.instanceId, { token: a.token, csrf, decision: 'approve' }, { cookie });
    expect(cross.status).toBe(403);
    expect(await cross.text()).toContain('does not belong to this request');
    expect((await fetch(url(b.instanceId, a.token))).status).toBe(403);

    await expectUnchanged(a.instanceId, a.token);
    await expectUnchanged(b.instanceId, b.token);
  });

  it('refuses an expired token (sandbox clock) on GET and POST', async () => {
    const { instanceId, token } = await waiting('ann@contoso.com', 60 * 60_000);
    const { cookie, csrf } = await open(instanceId, token);
    env.sandbox.clock.advance(2 * 60 * 60_000);
    const get = await fetch(url(instanceId, token));
    expect(get.status).toBe(410);
    expect(await get.text()).toContain('expired');
    const res = await post(instanceId, { token, csrf, decision: 'approve' }, { cookie });
    expect(res.status).toBe(410);
    await host.durable.waitForIdle();
    expect(events(instanceId)).toHaveLength(0);
    expect(status(instanceId)).toBe('Running');
  });

  it('does not consume the token when the instance does not exist or no longer waits', async () => {
    const ghost = await issue('approve-ghost');
    const { cookie, csrf } = await open('approve-ghost', ghost.token);
    const res = await post('approve-ghost', { token: ghost.token, csrf, decision: 'approve' }, { cookie });
    expect(res.status).toBe(404);
    expect((await env.deps.approvalTokens.inspect(ghost.token, 'approve-ghost')).ok).toBe(true);

    const done = await waiting();
    host.durable.raiseEvent(done.instanceId, APPROVAL_EVENT, { decision: 'approve' });
    await host.durable.waitForStatus(done.instanceId, (s) => s.runtimeStatus === 'Completed');
    const late = await issue(done.instanceId);
    const closed = await post(done.instanceId, { token: late.token, csrf, decision: 'reject' }, { cookie });
    expect(closed.status).toBe(409);
    expect((await env.deps.approvalTokens.inspect(late.token, done.instanceId)).ok).toBe(true);
  });

  it('answers a malformed POST with 400, never 500', async () => {
    const { instanceId, token } = await waiting();
    const { cookie, csrf } = await open(instanceId, token);
    expect((await post(instanceId, { token, csrf, decision: 'maybe' }, { cookie })).status).toBe(400);
    const json = await fetch(url(instanceId), {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie },
      body: JSON.stringify({ token, csrf, decision: 'approve' }),
    });
    expect(json.status).toBe(400);
    await expectUnchanged(instanceId, token);
  });
});
