/**
 * The operator dashboard without a stand-in: the model (counts, approvals, hand-offs, expiries, attention), the
 * rendering (every section, every status, empty fleet, escaping of hostile values, no secret or management URL, links
 * that keep the function key on our own origin), the headers (the stylesheet's hash is the CSP's), and the handler
 * on in-memory stores (one registry listing and one running-instance query for the overview, Easy Auth trust).
 */
import { createHash } from 'node:crypto';

import { HttpRequest, type HttpResponseInit } from '@azure/functions';
import type { DurableClient } from 'durable-functions';

import type { AppConfig } from '../../src/config';
import type { AuditEntry } from '../../src/contracts/fleet';
import { detailModel, overviewModel, STATUS_ORDER } from '../../src/dashboard/model';
import { dashboardHeaders, detailPage, overviewPage } from '../../src/dashboard/pages';
import { auditSeq } from '../../src/registry/audit';
import { createDashboardHandler, type DashboardDeps } from '../../src/functions/dashboard';
import { openApiChecker } from '../helpers/openapi-check';
import type { IntegrationRecord } from '../../src/registry/types';
import { auditTrail, fleet, idOf, NOW, running } from './fixtures';

const KEY = 'abc/+=&"<key>';

/** No markup from data: the hostile value only ever appears escaped. */
function expectEscaped(body: string) {
  expect(body).not.toContain('<script');
  expect(body).not.toContain('<img');
  expect(body).not.toContain('onerror=alert(1)>');
  expect(body).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
}

/** Nothing is loaded from anywhere, and no durable management URL or system key appears. */
function expectSelfContained(body: string) {
  expect(body).not.toMatch(/<(script|img|iframe|link|object|embed|form)\b/i);
  expect(body).not.toMatch(/<[a-z][^>]*\s(src|srcset|action|style|on[a-z]+)=/i);
  expect(body).not.toMatch(/runtime\/webhooks|statusQueryGetUri|sendEventPostUri|taskHub=/i);
  for (const href of body.matchAll(/href="([^"]*)"/g)) expect(href[1]).toMatch(/^\/api\/dashboard[/?]?/);
}

/** The page's text with runs of whitespace collapsed (templates wrap lines). */
const flat = (body: string): string => body.replace(/\s+/g, ' ');

const audit = (id: string): AuditEntry[] =>
  auditTrail().map((e, i) => ({ ...e, integrationId: id, seq: auditSeq(e, i) }));

describe('overview model', () => {
  const m = overviewModel(fleet(), running(), NOW);

  it('counts every status, in order, and the total', () => {
    expect(m.total).toBe(11);
    expect(m.counts.map((c) => c.status)).toEqual(STATUS_ORDER);
    expect(Object.fromEntries(m.counts.map((c) => [c.status, c.count]))).toEqual({
      active: 2,
      provisioning: 1,
      'awaiting-approval': 1,
      checking: 1,
      failed: 1,
      rejected: 1,
      expired: 1,
      'rolled-back': 1,
      decommissioning: 1,
      decommissioned: 1,
    });
  });

  it('lists the pending approval with its round from the custom status, and the hand-off of the running rotation', () => {
    expect(m.approvals).toEqual([
      {
        id: idOf(3),
        tenantName: 'Tenant 3',
        serviceNowInstance: 'dev00003',
        instanceId: `provision-${idOf(3)}`,
        approvers: ['alice@contoso.com', 'bob@contoso.com'],
        approvedBy: ['alice@contoso.com'],
        quorum: 2,
        since: '2031-02-28T10:05:00.000Z',
        deadline: '2031-03-03T10:05:00.000Z',
        reminders: 1,
      },
    ]);
    expect(m.handoffs).toEqual([
      {
        id: idOf(11),
        tenantName: 'Tenant 11',
        instanceId: `rotate-${idOf(11)}-20310310`,
        role: 'outbound',
        approvers: ['dave@contoso.com'],
        deadline: '2031-03-08T02:10:00.000Z',
        reminders: 0,
      },
    ]);
  });

  it('sorts credentials by expiry, soonest first, with days left; a decommissioned integration has none', () => {
    expect(m.expiring.map((e) => e.id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 11].map(idOf));
    expect(m.expiring[0].daysLeft).toBe(5);
    expect(m.expiringMore).toBe(0);
    expect(m.integrations.find((r) => r.id === idOf(10))?.nextExpiry).toBeUndefined();
  });

  it('shows what needs attention: findings, failing checks, failed runs and rotations, never a decommissioned row', () => {
    expect(m.attention.map((a) => [a.id, a.kind, a.what])).toEqual([
      [idOf(1), 'finding', 'record-drift'],
      [idOf(1), 'finding', 'unknown-credential'],
      [idOf(5), 'check', 'outbound-token'],
      [idOf(5), 'run', 'failed'],
      [idOf(8), 'rotation', 'rolled-back'],
    ]);
  });

  it('keeps the expiring list short on a large fleet and says how many more there are', () => {
    const many = Array.from({ length: 40 }, () => fleet()[10]).map((r, i) => ({ ...r, id: idOf(100 + i) }));
    const big = overviewModel(many, [], NOW);
    expect(big.expiring).toHaveLength(15);
    expect(big.expiringMore).toBe(25);
  });

  it('without the running orchestrations, approvals come from the registry and hand-offs are unknown', () => {
    const blind = overviewModel(fleet(), undefined, NOW);
    expect(blind.orchestrationsUnavailable).toBe(true);
    expect(blind.approvals.map((a) => [a.id, a.approvers, a.deadline])).toEqual([
      [idOf(3), ['alice@contoso.com', 'bob@contoso.com'], undefined],
    ]);
    expect(blind.handoffs).toEqual([]);
    expect(overviewPage(blind, { links: {} })).toContain('could not be read just now');
  });
});

describe('overview page', () => {
  const body = overviewPage(overviewModel(fleet(), running(), NOW), { links: { code: KEY } });

  it('has every section, every status and every integration, with hostile values as text', () => {
    for (const section of ['status', 'attention', 'approvals', 'handoffs', 'expiring', 'integrations'])
      expect(body).toContain(`<section id="${section}">`);
    for (const s of STATUS_ORDER) expect(body).toContain(`>${s}</span>`);
    for (let n = 1; n <= 11; n++) expect(body).toContain(idOf(n));
    expect(body).toContain('Pending approvals (1)');
    expect(body).toContain('Pending hand-offs (1)');
    expect(body).toContain('dave@contoso.com');
    expect(body).toContain('(quorum 2)');
    expectEscaped(body);
    expectSelfContained(body);
  });

  it('links to the detail pages on our own origin, carrying the function key it was opened with (URL-encoded)', () => {
    const encoded = encodeURIComponent(KEY).replace(/&/g, '&amp;');
    expect(body).toContain(`href="/api/dashboard/integrations/${idOf(3)}?code=${encoded}"`);
    expect(body).toContain(`href="/api/dashboard?code=${encoded}"`);
    const keyless = overviewPage(overviewModel(fleet(), running(), NOW), { links: {} });
    expect(keyless).not.toContain('code=');
    expect(keyless).toContain(`href="/api/dashboard/integrations/${idOf(3)}"`);
  });

  it('renders an empty fleet with every section saying so', () => {
    const empty = overviewPage(overviewModel([], [], NOW), { links: {} });
    expect(empty).toContain('<strong>0</strong>total');
    expect(empty).toContain('No integration is registered yet.');
    expect(empty).toContain('No provisioning run is waiting for an approval.');
    expect(empty).toContain('No rotation is waiting for a hand-off confirmation.');
    expect(empty).toContain('No credential with an expiry is recorded.');
    expect(empty).toContain('Nothing failing');
    expectSelfContained(empty);
  });

  it('is served under a CSP whose only style source is the hash of the page stylesheet', () => {
    const h = dashboardHeaders();
    const css = /<style>([^<]*)<\/style>/.exec(body)?.[1] ?? '';
    const hash = createHash('sha256').update(css, 'utf8').digest('base64');
    expect(h['Content-Security-Policy']).toBe(
      `default-src 'none'; style-src 'sha256-${hash}'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'`,
    );
    expect(h).toMatchObject({
      'Content-Type': 'text/html; charset=utf-8',
      'Cache-Control': 'no-store',
      'Referrer-Policy': 'no-referrer',
      'X-Content-Type-Options': 'nosniff',
      'X-Frame-Options': 'DENY',
    });
    expect(body.match(/<style>/g)).toHaveLength(1);
    expect(body).not.toMatch(/\sstyle=/);
  });
});

describe('detail page', () => {
  const records = fleet();

  it('shows the timeline, the approval round, manual action titles (never their values), checks and credentials', () => {
    const r = records[2];
    const [prov] = running();
    const body = detailPage(detailModel(r, prov, running(), [], NOW), { links: { code: 'k' } });
    const steps = [...body.matchAll(/<code>(preflight|entra-apps|awaiting-approval)<\/code>/g)].map((x) => x[1]);
    expect(steps).toEqual(['awaiting-approval', 'preflight', 'entra-apps', 'awaiting-approval']); // current, then order
    expect(flat(body)).toContain(
      'Waiting for approval from alice@contoso.com, bob@contoso.com until 2031-03-03T10:05:00.000Z',
    );
    expect(flat(body)).toContain('approved so far by alice@contoso.com (quorum 2)');
    expect(body).toContain('Guided setup (ServiceNow admin)');
    expect(body).not.toContain('kv-name');
    expect(body).toContain(`${r.id}-outbound`);
    expect(body).toContain(r.apps.outbound.keyId!);
    expect(body).toContain('No audit event is recorded for this integration.');
    expect(body).toContain('Not checked yet.');
    expectSelfContained(body);
  });

  it('shows health findings and the audit trail, hostile values as text', () => {
    const r = records[0];
    const body = detailPage(detailModel(r, undefined, [], audit(r.id), NOW), { links: {} });
    expect(body).toContain('record:oidcProvider:client_id');
    expect(body).toContain('unknown-credential');
    expect(body).toContain('last good 2031-02-28T02:00:00.000Z');
    expect(body).toContain('Audit trail (5)');
    for (const kind of ['requested', 'approval-requested', 'approved', 'activated', 'drift-found'])
      expect(body).toContain(`<code>${kind}</code>`);
    expect(body).toContain('subject=record:oidcProvider:client_id · repairable=true');
    expect(body).toContain('No provisioning run found.');
    expectEscaped(body);
    expectSelfContained(body);
  });

  it('shows a running rotation waiting for a hand-off, and a decommissioning run', () => {
    const withRotation = detailPage(detailModel(records[10], undefined, running(), [], NOW), { links: {} });
    expect(withRotation).toContain(`Rotation <code>rotate-${idOf(11)}-20310310</code>`);
    expect(flat(withRotation)).toContain('Waiting for hand-off of outbound from dave@contoso.com');
    const decom = detailPage(detailModel(records[8], undefined, [], [], NOW), { links: {} });
    expect(decom).toContain('>decommissioning</span>');
    expect(decom).toContain(`decommission-${idOf(9)}`);
    expect(decom).toContain('by carol@contoso.com');
    const gone = detailPage(detailModel(records[9], undefined, [], [], NOW), { links: {} });
    expect(gone).toContain('>decommissioned</span>');
    expect(gone).toContain('Needs attention (0)');
  });

  it('shows failing checks with their hint and a failed run', () => {
    const body = detailPage(detailModel(records[4], undefined, [], [], NOW), { links: {} });
    expect(body).toContain('AADSTS7000215');
    expect(body).toContain('the secret is wrong');
    expect(body).toContain('>failed</span>');
    expect(body).toContain('Graph 403');
  });
});

describe('the dashboard handler', () => {
  const calls: string[] = [];
  const store = new Map(fleet().map((r) => [r.id, r]));
  const config = (easyAuth: boolean) => ({ dashboard: { easyAuth } }) as unknown as AppConfig;
  const deps = (easyAuth = false): DashboardDeps => ({
    config: config(easyAuth),
    now: () => NOW,
    registry: {
      list: () => (calls.push('list'), Promise.resolve([...store.values()])),
      get: (id: string) => {
        calls.push(`get ${id}`);
        const value = store.get(id);
        return Promise.resolve(value ? { value, etag: '*' } : undefined);
      },
    } as unknown as DashboardDeps['registry'],
    audit: {
      list: (id: string) => (calls.push(`audit ${id}`), Promise.resolve(audit(id))),
    } as unknown as DashboardDeps['audit'],
  });
  // Management URLs as the real API returns them next to each status: never rendered.
  const withUrls = running().map((s) => ({
    ...s,
    statusQueryGetUri: 'https://x/runtime/webhooks/durabletask/i?code=SYS',
  }));
  const client = (fail = false) =>
    ({
      getStatusBy: () => (
        calls.push('getStatusBy'),
        fail ? Promise.reject(new Error('HTTP 500')) : Promise.resolve(withUrls)
      ),
      getStatus: (id: string) => {
        calls.push(`getStatus ${id}`);
        const s = withUrls.find((x) => x.instanceId === id);
        return s ? Promise.resolve(s) : Promise.reject(new Error('HTTP 404'));
      },
    }) as unknown as DurableClient;
  const request = (path: string, params: Record<string, string>, headers: Record<string, string> = {}) =>
    new HttpRequest({ method: 'GET', url: `https://app.example.net${path}`, params, headers });
  const run = async (
    path: string,
    params: Record<string, string> = {},
    opts: { easyAuth?: boolean; headers?: Record<string, string>; fail?: boolean } = {},
  ): Promise<HttpResponseInit & { body: string }> => {
    calls.length = 0;
    const handler = createDashboardHandler({ deps: () => deps(opts.easyAuth) });
    const res = await handler(request(path, params, opts.headers), client(opts.fail), undefined as never);
    return { ...res, body: typeof res.body === 'string' ? res.body : JSON.stringify(res.jsonBody) };
  };

  it('renders the overview from one registry listing and one running-instance query', async () => {
    const res = await run('/api/dashboard?code=k1');
    expect(res.status).toBe(200);
    expect(calls.sort()).toEqual(['getStatusBy', 'list']);
    expect((res.headers as Record<string, string>)['Content-Security-Policy']).toContain("default-src 'none'");
    expect(res.body).toContain(`href="/api/dashboard/integrations/${idOf(3)}?code=k1"`);
    expect(res.body).toContain('dave@contoso.com');
    expectEscaped(res.body);
    expectSelfContained(res.body);
  });

  it('renders a detail page from the row, its provisioning status, the running rotations and the audit trail', async () => {
    const res = await run(`/api/dashboard/integrations/${idOf(3)}`, { path: `integrations/${idOf(3)}` });
    expect(res.status).toBe(200);
    expect(calls.sort()).toEqual([
      `audit ${idOf(3)}`,
      `get ${idOf(3)}`,
      `getStatus provision-${idOf(3)}`,
      'getStatusBy',
    ]);
    expect(res.body).toContain('Waiting for approval');
    expect(res.body).toContain('Audit trail (5)');
    expectSelfContained(res.body);
  });

  it('answers problems for a bad id, an unknown integration and an unknown page', async () => {
    const bad = await run('/api/dashboard/integrations/x', { path: 'integrations/<x>' });
    expect([bad.status, JSON.parse(bad.body).errors[0].field]).toEqual([400, 'id']);
    const missing = await run(`/api/dashboard/integrations/${idOf(99)}`, { path: `integrations/${idOf(99)}` });
    expect(missing.status).toBe(404);
    expect((await run('/api/dashboard/other', { path: 'other' })).status).toBe(404);
    expect((await run('/api/dashboard/integrations', { path: 'integrations' })).status).toBe(404);
  });

  it('still renders when the durable API fails, saying so', async () => {
    const res = await run('/api/dashboard', {}, { fail: true });
    expect(res.status).toBe(200);
    expect(res.body).toContain('could not be read just now');
  });

  it('ignores the principal header unless EASY_AUTH_ENABLED says App Service Authentication fronts the app', async () => {
    const spoof = { 'x-ms-client-principal-name': 'mallory@evil.example' };
    const off = await run('/api/dashboard', {}, { headers: spoof });
    expect(off.status).toBe(200);
    expect(off.body).not.toContain('mallory');
    expect(off.body).not.toContain('signed in as');

    const on = await run(
      '/api/dashboard',
      {},
      { easyAuth: true, headers: { 'x-ms-client-principal-name': `op<b>@contoso.com` } },
    );
    expect(on.status).toBe(200);
    expect(on.body).toContain('signed in as <strong class="operator">op&lt;b&gt;@contoso.com</strong>');

    const anonymous = await run('/api/dashboard', {}, { easyAuth: true });
    expect(anonymous.status).toBe(401);
    expect(anonymous.body).toContain('Sign-in required');
    expect(anonymous.body).toContain('href="/.auth/login/aad?post_login_redirect_uri=%2Fapi%2Fdashboard"');
    expect(calls).toEqual([]);
  });

  it('never hands the function key to the sign-in flow (it leaves the origin with the redirect)', async () => {
    const res = await run(
      '/api/dashboard/integrations/sn-dev00001-a0b0c001?code=secret-function-key&x=1',
      {
        path: 'integrations/sn-dev00001-a0b0c001',
      },
      { easyAuth: true },
    );
    expect(res.status).toBe(401);
    expect(res.body).not.toContain('secret-function-key');
    expect(res.body).toContain(
      `href="/.auth/login/aad?post_login_redirect_uri=${encodeURIComponent('/api/dashboard/integrations/sn-dev00001-a0b0c001?x=1').replace(/&/g, '&amp;')}"`,
    );
  });

  it('answers the sign-in page (401, HTML) as the OpenAPI document describes it', async () => {
    const anonymous = await run('/api/dashboard', {}, { easyAuth: true });
    expect(anonymous.status).toBe(401);
    const headers = anonymous.headers as Record<string, string>;
    expect(
      openApiChecker().problems({
        method: 'GET',
        url: '/api/dashboard',
        status: 401,
        contentType: headers['Content-Type'],
        body: anonymous.body,
      }),
    ).toEqual([]);
  });

  it('never shows a management URL or the system key', async () => {
    for (const [path, params] of [
      ['/api/dashboard', {}],
      [`/api/dashboard/integrations/${idOf(11)}`, { path: `integrations/${idOf(11)}` }],
    ] as const) {
      const res = await run(path, params);
      expect(res.body).not.toContain('SYS');
      expect(res.body).not.toContain('durabletask');
    }
  });
});

// Keep the fixture honest: the record type is the registry's.
const _typed: IntegrationRecord[] = fleet();
void _typed;
