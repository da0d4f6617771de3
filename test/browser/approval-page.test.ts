/**
 * The approval pages in a real browser (headless Chromium): each page's stylesheet applies under its own
 * Content-Security-Policy with no violation reported, the plan is readable and hostile values stay text, and the
 * emailed review link works end to end: request an integration through the HTTP API, open the link from the captured
 * email, click Approve, see the result page, and see the integration become active.
 *
 * One browser for the whole file (2-core machines); screenshots go to test-artifacts/browser/.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

import type { Browser, Page } from 'puppeteer-core';

import { startLocalStack, type LocalStack } from '../../sandbox/stack';
import {
  confirmPage,
  decidedPage,
  errorPage,
  type ErrorKind,
  handoffConfirmPage,
  handoffDonePage,
  notEligiblePage,
  roundClosedPage,
  securityHeaders,
  waitingPage,
} from '../../src/approvals/pages';
import {
  api,
  approvalLink,
  provisionRequest,
  waitForApproval,
  waitForEnd,
  type IntegrationView,
} from '../e2e/api-driver';
import { computed, launchChromium, recordingPage, type Recorded, screenshot, visibleText } from './chromium';
import { HOSTILE, hostilePlan, plan, record } from './plan-fixtures';

/** The stylesheet's colours as computed styles report them (src/approvals/pages.ts). */
const GREEN = 'rgb(16, 124, 16)'; // .approve #107c10
const RED = 'rgb(197, 15, 31)'; // .reject #c50f1f
const BLUE = 'rgb(15, 108, 189)'; // .done #0f6cbd
const HEADER_GREY = 'rgb(243, 243, 243)'; // th #f3f3f3

const LONG = 180_000;

let browser: Browser;

beforeAll(async () => {
  browser = await launchChromium();
}, LONG);

afterAll(async () => {
  await browser?.close();
}, LONG);

/** No CSP violation by event or console, no console error, no dialog. */
function expectClean(r: Recorded) {
  expect(r.violations).toEqual([]);
  expect(r.cspConsole).toEqual([]);
  expect(r.errors).toEqual([]);
  expect(r.dialogs).toEqual([]);
}

/** The page's own stylesheet applied: the body layout and the font are the stylesheet's, not the defaults. */
async function expectStyled(page: Page) {
  expect(await computed(page, 'body', 'max-width')).toBe('832px'); // 52rem
  expect(await computed(page, 'body', 'font-family')).toMatch(/^"?Segoe UI"?, Arial, sans-serif$/);
}

describe('every approval page in Chromium, under its own Content-Security-Policy', () => {
  let server: http.Server;
  let base: string;
  const posts: string[] = [];
  const instanceId = 'provision-sn-dev12345-0a1b2c3d';
  const csrf = 'c'.repeat(43);

  const KINDS: ErrorKind[] = [
    'unknown',
    'expired',
    'used',
    'wrong-instance',
    'csrf',
    'bad-request',
    'not-found',
    'closed',
    'unavailable',
  ];

  /** The pages as the approval endpoints serve them: same bodies, same security headers. */
  function route(path: string): { status: number; body: string } | undefined {
    const input = { publicBaseUrl: base, record: record({ instanceId }), token: 'tok-123', csrf };
    if (path === '/confirm') return { status: 200, body: confirmPage(input) };
    if (path === '/confirm-plan') return { status: 200, body: confirmPage({ ...input, plan: plan() }) };
    if (path === '/confirm-hostile') return { status: 200, body: confirmPage({ ...input, plan: hostilePlan() }) };
    if (path === '/handoff')
      return { status: 200, body: handoffConfirmPage({ ...input, record: record({ purpose: 'handoff' }) }) };
    if (path === '/handoff-done') return { status: 200, body: handoffDonePage(record()) };
    if (path === '/rejected') return { status: 200, body: decidedPage('reject', record()) };
    if (path === '/closed')
      return roundClosedPage({ reason: 'decided', decidedBy: 'bob@contoso.com', decidedAt: '2031-01-01T00:00:00Z' });
    if (path === '/not-eligible') return notEligiblePage('not-in-policy');
    if (path === '/waiting') return { status: 200, body: waitingPage(record(), 2) };
    // Control: the confirm page with whitespace around the stylesheet, as a formatted template used to emit it. The
    // hash then covers fewer bytes than the element holds, and the browser must block the stylesheet.
    if (path === '/control-whitespace')
      return {
        status: 200,
        body: confirmPage(input).replace(/<style>([^<]*)<\/style>/, (_m, css: string) => `<style>\n  ${css}\n</style>`),
      };
    const kind = /^\/error\/(.+)$/.exec(path)?.[1] as ErrorKind | undefined;
    if (kind && KINDS.includes(kind)) return errorPage(kind);
    return undefined;
  }

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const path = new URL(req.url ?? '/', base).pathname;
      if (req.method === 'POST' && path === `/api/approvals/${instanceId}`) {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString()));
        req.on('end', () => {
          posts.push(body);
          res.writeHead(200, securityHeaders(base)).end(decidedPage('approve', record()));
        });
        return;
      }
      const page = req.method === 'GET' ? route(path) : undefined;
      if (!page) return void res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      res.writeHead(page.status, securityHeaders(base)).end(page.body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }, LONG);

  afterAll(async () => {
    // Chromium keeps connections alive; close them so the server can stop.
    server?.closeAllConnections();
    await new Promise<void>((resolve) => server?.close(() => resolve()));
  }, LONG);

  it(
    'confirm page with the plan: styled buttons and tables, the plan readable, zero CSP violations; Approve posts',
    async () => {
      const { page, recorded } = await recordingPage(browser);
      try {
        const res = await page.goto(`${base}/confirm-plan`, { waitUntil: 'load' });
        expect(res?.status()).toBe(200);
        await expectStyled(page);
        expect(await computed(page, 'button.approve', 'background-color')).toBe(GREEN);
        expect(await computed(page, 'button.reject', 'background-color')).toBe(RED);
        expect(await computed(page, 'button.approve', 'color')).toBe('rgb(255, 255, 255)');
        expect(await computed(page, 'th', 'background-color')).toBe(HEADER_GREY);
        expect(await computed(page, 'table', 'border-collapse')).toBe('collapse');
        const p = plan();
        const text = await visibleText(page);
        expect(text).toContain('What you are approving');
        expect(text).toContain(p.tenant.id);
        for (const a of p.apps) expect(text).toContain(a.displayName);
        for (const t of p.trust) expect(text).toContain(t.statement);
        expect(text).toContain('Key Vault secret sn-dev12345-0a1b2c3d-outbound');
        await screenshot(page, 'static-confirm-with-plan');

        // The form may post to our own origin (form-action) and the result page is styled too.
        const [result] = await Promise.all([
          page.waitForNavigation({ waitUntil: 'load' }),
          page.click('button.approve'),
        ]);
        expect(result?.status()).toBe(200);
        expect(posts.at(-1)).toBe(`token=tok-123&csrf=${csrf}&decision=approve`);
        expect(await page.title()).toBe('Approved');
        await expectStyled(page);
        expectClean(recorded);
      } finally {
        await page.close();
      }
    },
    LONG,
  );

  it(
    'control: a <style> element with bytes outside its hash is blocked, reported, and leaves the buttons unstyled',
    async () => {
      const { page, recorded } = await recordingPage(browser);
      try {
        await page.goto(`${base}/control-whitespace`, { waitUntil: 'load' });
        expect(await computed(page, 'button.approve', 'background-color')).not.toBe(GREEN);
        expect(await computed(page, 'body', 'max-width')).toBe('none');
        expect(recorded.violations.map((v) => [v.directive, v.blocked])).toContainEqual(['style-src-elem', 'inline']);
        expect(recorded.cspConsole.join('\n')).toMatch(/Content Security Policy/);
      } finally {
        await page.close();
      }
    },
    LONG,
  );

  it(
    'confirm page with hostile plan values: shown as text, no script runs, no element is injected',
    async () => {
      const { page, recorded } = await recordingPage(browser);
      try {
        await page.goto(`${base}/confirm-hostile`, { waitUntil: 'load' });
        expect(await page.evaluate('document.querySelectorAll("script, img, iframe").length')).toBe(0);
        const text = await visibleText(page);
        expect(text).toContain(HOSTILE);
        expect(await computed(page, 'button.approve', 'background-color')).toBe(GREEN);
        await screenshot(page, 'static-confirm-hostile');
        expectClean(recorded);
      } finally {
        await page.close();
      }
    },
    LONG,
  );

  it(
    'every other page (confirm without a plan, hand-off, result, round and error pages) is styled with zero violations',
    async () => {
      const { page, recorded } = await recordingPage(browser);
      try {
        const paths = [
          '/confirm',
          '/handoff',
          '/handoff-done',
          '/rejected',
          '/closed',
          '/not-eligible',
          '/waiting',
          ...KINDS.map((k) => `/error/${k}`),
        ];
        for (const path of paths) {
          const res = await page.goto(`${base}${path}`, { waitUntil: 'load' });
          expect({ path, status: res?.status() }).toEqual({ path, status: route(path)?.status });
          await expectStyled(page);
          if (path === '/confirm') {
            expect(await computed(page, 'button.approve', 'background-color')).toBe(GREEN);
            expect(await visibleText(page)).not.toContain('What you are approving');
          }
          if (path === '/handoff') expect(await computed(page, 'button.done', 'background-color')).toBe(BLUE);
          expect({ path, violations: recorded.violations, csp: recorded.cspConsole }).toEqual({
            path,
            violations: [],
            csp: [],
          });
        }
        await screenshot(page, 'static-error-unavailable');
        expect(recorded.dialogs).toEqual([]);
        expect(recorded.violations).toEqual([]);
      } finally {
        await page.close();
      }
    },
    LONG,
  );
});

describe('the emailed review link in Chromium, end to end through the local stack', () => {
  let stack: LocalStack;
  let id: string;
  let approver: string;
  let page: Page;
  let recorded: Recorded;

  beforeAll(async () => {
    stack = await startLocalStack({ settings: { CHECK_RETRY_SECONDS: '1' } });
    approver = `approver@${stack.env().SANDBOX_TENANT_DOMAIN}`;
    const started = await api(stack, 'POST', '/api/integrations', {
      body: provisionRequest(stack, { approvers: [approver, `second.${approver}`] }),
    });
    expect(started.status).toBe(202);
    id = (started.json as { id: string }).id;
    await waitForApproval(stack, id, 120_000);
    ({ page, recorded } = await recordingPage(browser));
  }, LONG);

  afterAll(async () => {
    await page?.close();
    await stack?.close();
  }, LONG);

  it(
    'the review page from the email is styled, shows the plan when it has one, and reports no CSP violation',
    async () => {
      const link = approvalLink(stack, approver, id);
      const res = await page.goto(link, { waitUntil: 'load' });
      expect(res?.status()).toBe(200);
      expect(res?.headers()['content-security-policy']).toContain("default-src 'none'");
      await screenshot(page, 'review-page');
      expect(await page.title()).toBe('Approve the ServiceNow integration?');
      await expectStyled(page);
      expect(await computed(page, 'button.approve', 'background-color')).toBe(GREEN);
      expect(await computed(page, 'button.reject', 'background-color')).toBe(RED);
      const text = await visibleText(page);
      expect(text).toContain(id);
      expect(text).toContain(approver);
      if (text.includes('What you are approving')) {
        const env = stack.env();
        expect(text).toContain(env.AZURE_TENANT_ID);
        expect(text).toContain(`ServiceNow M365 Support - Rest API (${env.SANDBOX_SERVICENOW_INSTANCE})`);
        expect(text).toContain(`Tokens that tenant ${env.AZURE_TENANT_ID} issues to app`);
      }
      expectClean(recorded);
    },
    LONG,
  );

  it(
    'Approve shows the result page, and the integration becomes active',
    async () => {
      const [result] = await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click('button.approve')]);
      expect(result?.status()).toBe(200);
      expect(result?.request().method()).toBe('POST');
      await screenshot(page, 'result-page');
      expect(await page.title()).toBe('Approved');
      expect(await visibleText(page)).toContain(`recorded as ${approver}`);
      await expectStyled(page);
      expectClean(recorded);

      await waitForEnd(stack, id, 120_000);
      const view = await api(stack, 'GET', `/api/integrations/${id}`);
      expect(view.status).toBe(200);
      expect((view.json as IntegrationView).status).toBe('active');
    },
    LONG,
  );
});
