/**
 * Headless Chromium for the browser tests, one per test file: the executable named by CHROMIUM_PATH (scripts/ci-test.cjs
 * finds or installs Debian's chromium and sets it), else the first of chromium, chromium-browser, google-chrome on
 * PATH. Each page records every Content-Security-Policy violation, from the `securitypolicyviolation` event (W3C CSP3,
 * "Report a violation"; MDN SecurityPolicyViolationEvent) and from the console, where Chromium logs them too.
 */
import fs from 'node:fs';
import path from 'node:path';

import puppeteer, { type Browser, type Page } from 'puppeteer-core';

export const ARTIFACTS = path.join(__dirname, '..', '..', 'test-artifacts', 'browser');

export function chromiumPath(): string {
  const fromEnv = process.env.CHROMIUM_PATH;
  if (fromEnv) return fromEnv;
  for (const name of ['chromium', 'chromium-browser', 'google-chrome'])
    for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
      const candidate = path.join(dir, name);
      try {
        fs.accessSync(candidate, fs.constants.X_OK);
        return candidate;
      } catch {
        // not here
      }
    }
  throw new Error(
    "No Chromium found: run the tests with `npm test` (which installs Debian's chromium where it can), or install it " +
      '(`apt-get install -y chromium`) or set CHROMIUM_PATH to a Chromium or Chrome executable.',
  );
}

export async function launchChromium(): Promise<Browser> {
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  return puppeteer.launch({
    executablePath: chromiumPath(),
    headless: true,
    // Chromium's sandbox cannot start as root; /dev/shm is small in containers.
    args: [...(root ? ['--no-sandbox'] : []), '--disable-dev-shm-usage', '--disable-gpu', '--no-first-run'],
    timeout: 90_000,
    protocolTimeout: 120_000,
  });
}

export interface Recorded {
  /** `securitypolicyviolation` events: the violated directive and what was blocked. */
  violations: { directive: string; blocked: string; sample: string }[];
  /** Console messages about the Content-Security-Policy. */
  cspConsole: string[];
  /** Every console error and uncaught page error, for diagnosis. */
  errors: string[];
  dialogs: string[];
}

/** A new page that records, across its navigations, CSP violations, console errors and dialogs. */
export async function recordingPage(browser: Browser): Promise<{ page: Page; recorded: Recorded }> {
  const page = await browser.newPage();
  page.setDefaultTimeout(60_000);
  page.setDefaultNavigationTimeout(60_000);
  await page.setViewport({ width: 1100, height: 900 });
  const cspConsole: string[] = [];
  const errors: string[] = [];
  const dialogs: string[] = [];
  page.on('console', (m) => {
    const text = m.text();
    if (/content[- ]security[- ]policy/i.test(text)) cspConsole.push(text);
    if (m.type() === 'error') errors.push(text);
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  // The listener reports to Node through a binding, so violations of every document the page loads are kept.
  // Scripts the browser is told to run in every new document are not subject to the page's CSP, so the listener is
  // in place before the parser meets the <style> element.
  const violations: Recorded['violations'] = [];
  await page.exposeFunction('__reportCspViolation', (v: Recorded['violations'][number]) => {
    violations.push(v);
  });
  // (Page-side code is passed as source text: these tests compile without the DOM type library.)
  await page.evaluateOnNewDocument(`
    document.addEventListener('securitypolicyviolation', (e) => {
      void window.__reportCspViolation({ directive: e.violatedDirective, blocked: e.blockedURI, sample: e.sample });
    }, true);
  `);
  const recorded: Recorded = { violations, cspConsole, errors, dialogs };
  return { page, recorded };
}

export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** The computed value of a CSS property of the first element matching `selector`, or null when there is none. */
export const computed = async (page: Page, selector: string, property: string): Promise<string | null> =>
  (await page.evaluate(
    `(() => { const el = document.querySelector(${JSON.stringify(selector)});
      return el ? getComputedStyle(el).getPropertyValue(${JSON.stringify(property)}) : null; })()`,
  )) as string | null;

/** The rendered text of the page (what a person sees, markup excluded). */
export const visibleText = async (page: Page): Promise<string> =>
  (await page.evaluate('document.body.innerText')) as string;
