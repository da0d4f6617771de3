/**
 * The operator dashboard in a real browser (headless Chromium), served by the local Functions host from the real entry
 * module behind its function key: a fleet seeded through the real stores against Azurite (registry rows of every
 * status with a hostile tenant name, health findings, failing checks, audit entries) plus one integration provisioned
 * through the HTTP API and waiting for its approval. The overview and the detail pages show the fleet, report zero
 * CSP violations, keep the function key on our own origin, and work with JavaScript disabled.
 *
 * One browser for the whole file (2-core machines); screenshots go to test-artifacts/browser/.
 */
import type { Browser, HTTPRequest, Page } from 'puppeteer-core';

import { getDeps } from '../../src/app/deps';
import { startLocalStack, type LocalStack } from '../../sandbox/stack';
import { api, provisionRequest, waitForApproval } from '../e2e/api-driver';
import { auditTrail, fleet, HOSTILE, idOf } from '../dashboard/fixtures';
import { computed, launchChromium, recordingPage, type Recorded, screenshot, visibleText } from './chromium';

const LONG = 180_000;

let browser: Browser;
let stack: LocalStack;
let provisioned: string;
let base: string;
let key: string;

beforeAll(async () => {
  [browser, stack] = await Promise.all([launchChromium(), startLocalStack({ settings: { CHECK_RETRY_SECONDS: '1' } })]);
  base = stack.host.baseUrl;
  key = stack.host.functionKey;
  const started = await api(stack, 'POST', '/api/integrations', { body: provisionRequest(stack) });
  expect(started.status).toBe(202);
  provisioned = (started.json as { id: string }).id;
  await waitForApproval(stack, provisioned, 120_000);
  // The seeded fleet, through the product's own stores (the registry and the audit trail in Azurite).
  const deps = getDeps();
  for (const r of fleet()) await deps.registry.create(r);
  await deps.audit.append(idOf(1), auditTrail());
}, LONG);

afterAll(async () => {
  await browser?.close();
  await stack?.close();
}, LONG);

/** No CSP violation by event or console, no console error, no dialog. */
function expectClean(r: Recorded) {
  expect(r.violations).toEqual([]);
  expect(r.cspConsole).toEqual([]);
  expect(r.errors).toEqual([]);
  expect(r.dialogs).toEqual([]);
}

/** Every request the page makes goes to our own origin (the key in the URL never reaches another one). */
function recordRequests(page: Page): string[] {
  const seen: string[] = [];
  page.on('request', (r: HTTPRequest) => {
    seen.push(r.url());
  });
  return seen;
}

const hrefs = async (page: Page): Promise<string[]> =>
  (await page.evaluate('[...document.querySelectorAll("a[href]")].map((a) => a.href)')) as string[];

describe('the operator dashboard in Chromium', () => {
  it(
    'overview: the seeded fleet and the pending approval, styled, hostile values as text, zero CSP violations',
    async () => {
      const { page, recorded } = await recordingPage(browser);
      const requests = recordRequests(page);
      try {
        const res = await page.goto(`${base}/api/dashboard?code=${encodeURIComponent(key)}`, { waitUntil: 'load' });
        expect(res?.status()).toBe(200);
        const headers = res?.headers() ?? {};
        expect(headers['content-security-policy']).toMatch(/^default-src 'none'; style-src 'sha256-[^']+'; /);
        expect(headers['referrer-policy']).toBe('no-referrer');
        expect(headers['cache-control']).toBe('no-store');
        expect(await page.title()).toBe('Integration fleet');
        // The stylesheet applied under the CSP.
        expect(await computed(page, 'body', 'max-width')).toBe('1280px'); // 80rem
        expect(await computed(page, 'th', 'background-color')).toBe('rgb(243, 243, 243)');

        const text = await visibleText(page);
        for (let n = 1; n <= 11; n++) expect(text).toContain(idOf(n));
        expect(text).toContain(provisioned);
        expect(text).toContain(HOSTILE); // shown as text...
        expect(await page.evaluate('document.querySelectorAll("script, img, iframe").length')).toBe(0); // ...not markup
        expect(text).toContain('decommissioning');
        expect(text).toContain('decommissioned');
        // The provisioned integration waits for its round, with the approvers from the running orchestration.
        const approvals = (await page.evaluate('document.querySelector("#approvals").innerText')) as string;
        expect(approvals).toContain(provisioned);
        expect(approvals).toContain(`approver@${stack.env().SANDBOX_TENANT_DOMAIN}`);
        expect(approvals).toContain(idOf(3));
        const attention = (await page.evaluate('document.querySelector("#attention").innerText')) as string;
        expect(attention).toContain('record-drift');
        expect(attention).toContain('outbound-token');
        expect(attention).toContain('rolled-back');
        await screenshot(page, 'dashboard-overview');

        // Every link stays on our origin and keeps the key, so the detail pages open in the browser.
        const links = await hrefs(page);
        expect(links.length).toBeGreaterThan(12);
        for (const l of links) {
          expect(new URL(l).origin).toBe(new URL(base).origin);
          expect(new URL(l).searchParams.get('code')).toBe(key);
        }
        for (const r of requests) expect(new URL(r).origin).toBe(new URL(base).origin);
        expectClean(recorded);
      } finally {
        await page.close();
      }
    },
    LONG,
  );

  it(
    'detail pages: following the links shows the timeline, health findings, credentials and the audit trail',
    async () => {
      const { page, recorded } = await recordingPage(browser);
      const requests = recordRequests(page);
      try {
        await page.goto(`${base}/api/dashboard?code=${encodeURIComponent(key)}`, { waitUntil: 'load' });
        // The seeded integration with drift (its tenant name is the hostile string).
        const [seeded] = await Promise.all([
          page.waitForNavigation({ waitUntil: 'load' }),
          page.click(`#integrations a[href^="/api/dashboard/integrations/${idOf(1)}?"]`),
        ]);
        expect(seeded?.status()).toBe(200);
        let text = await visibleText(page);
        expect(text).toContain(`Integration ${HOSTILE}`);
        for (const kind of ['requested', 'approval-requested', 'approved', 'activated', 'drift-found'])
          expect(text).toContain(kind);
        expect(text).toContain('record:oidcProvider:client_id');
        expect(text).toContain('unknown-credential');
        expect(text).toContain(`${idOf(1)}-outbound`);
        expect(await page.evaluate('document.querySelectorAll("script, img, iframe").length')).toBe(0);
        await screenshot(page, 'dashboard-detail-seeded');

        // The provisioned one: the provisioning run's timeline up to the approval gate.
        await Promise.all([
          page.waitForNavigation({ waitUntil: 'load' }),
          page.click('nav a'), // back to the overview, key kept
        ]);
        const [live] = await Promise.all([
          page.waitForNavigation({ waitUntil: 'load' }),
          page.click(`#approvals a[href^="/api/dashboard/integrations/${provisioned}?"]`),
        ]);
        expect(live?.status()).toBe(200);
        text = await visibleText(page);
        expect(text).toContain(provisioned);
        expect(text).toContain('Waiting for approval from');
        const steps = (await page.evaluate(
          '[...document.querySelectorAll("table.timeline tbody tr td:nth-child(2)")].map((td) => td.innerText)',
        )) as string[];
        expect(steps.length).toBeGreaterThan(2);
        expect(steps[0]).toBe('preflight');
        const audit = (await page.evaluate('document.querySelector("#audit").innerText')) as string;
        expect(audit).toContain('Audit trail');
        await screenshot(page, 'dashboard-detail-awaiting-approval');

        for (const r of requests) expect(new URL(r).origin).toBe(new URL(base).origin);
        expectClean(recorded);
      } finally {
        await page.close();
      }
    },
    LONG,
  );

  it(
    'works with JavaScript disabled: the overview renders and its links open the detail pages',
    async () => {
      const { page, recorded } = await recordingPage(browser);
      try {
        await page.setJavaScriptEnabled(false);
        const res = await page.goto(`${base}/api/dashboard?code=${encodeURIComponent(key)}`, { waitUntil: 'load' });
        expect(res?.status()).toBe(200);
        const body = await res!.text();
        expect(body).toContain(provisioned);
        expect(body).not.toMatch(/<script\b/i);
        const [detail] = await Promise.all([
          page.waitForNavigation({ waitUntil: 'load' }),
          page.click(`#integrations a[href^="/api/dashboard/integrations/${idOf(9)}?"]`),
        ]);
        expect(detail?.status()).toBe(200);
        expect(detail?.url()).toBe(`${base}/api/dashboard/integrations/${idOf(9)}?code=${encodeURIComponent(key)}`);
        const detailBody = await detail!.text();
        expect(detailBody).toContain('decommissioning');
        expect(detailBody).toContain('carol@contoso.com');
        await screenshot(page, 'dashboard-detail-no-javascript');
        expect(recorded.cspConsole).toEqual([]);
        expect(recorded.dialogs).toEqual([]);
      } finally {
        await page.close();
      }
    },
    LONG,
  );

  it(
    'never shows a client secret, the ServiceNow admin password or the durable system key (canary scan)',
    async () => {
      const deps = getDeps();
      const record = (await deps.registry.get(provisioned))?.value;
      const canaries: { what: string; value: string }[] = [];
      for (const [role, a] of Object.entries(record?.apps ?? {})) {
        const secret = await deps.secrets.getSecret(a.secretName);
        expect(secret.value?.length ?? 0).toBeGreaterThanOrEqual(16);
        canaries.push({ what: `client secret ${role}`, value: secret.value ?? '' });
      }
      expect(canaries.length).toBeGreaterThan(0);
      canaries.push({ what: 'ServiceNow admin password', value: stack.sandbox.servicenow.adminPassword });
      canaries.push({ what: 'durable system key', value: stack.host.systemKey });
      const pages = [
        '/api/dashboard',
        `/api/dashboard/integrations/${provisioned}`,
        `/api/dashboard/integrations/${idOf(1)}`,
      ];
      for (const path of pages) {
        const res = await fetch(`${base}${path}?code=${encodeURIComponent(key)}`);
        expect(res.status).toBe(200);
        const body = await res.text();
        expect(body).toContain('</html>');
        expect(canaries.filter((c) => body.includes(c.value)).map((c) => `${c.what} in ${path}`)).toEqual([]);
        expect(body).not.toMatch(/runtime\/webhooks/);
      }
    },
    LONG,
  );

  it(
    'without the function key the dashboard answers 401 and shows nothing of the fleet',
    async () => {
      const res = await fetch(`${base}/api/dashboard`);
      expect(res.status).toBe(401);
      const text = await res.text();
      expect(text).not.toContain(idOf(1));
    },
    LONG,
  );
});
