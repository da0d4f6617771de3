/**
 * Every approval page is allowed by its own Content-Security-Policy: the `style-src` hash is recomputed here from the
 * bytes between `<style>` and `</style>` of the HTML each page emits (W3C CSP3: a hash source matches an inline
 * style element whose text content has that digest). Nothing else needs an allowance: no scripts, no style
 * attributes, no external resources.
 */
import { createHash } from 'node:crypto';

import {
  confirmPage,
  decidedPage,
  errorPage,
  type ErrorKind,
  handoffConfirmPage,
  handoffDonePage,
  inlineStyle,
  notEligiblePage,
  roundClosedPage,
  securityHeaders,
  waitingPage,
} from '../../src/approvals/pages';
import { hostilePlan, plan, PUBLIC, record } from '../browser/plan-fixtures';

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

const input = { publicBaseUrl: PUBLIC, record: record(), token: 'tok-123', csrf: 'c'.repeat(43) };
const PAGES: [string, string][] = [
  ['confirm', confirmPage(input)],
  ['confirm with a plan', confirmPage({ ...input, plan: plan() })],
  ['confirm with a hostile plan', confirmPage({ ...input, plan: hostilePlan() })],
  ['hand-off confirm', handoffConfirmPage({ ...input, record: record({ purpose: 'handoff' }) })],
  ['hand-off done', handoffDonePage(record())],
  ['approved', decidedPage('approve', record())],
  ['rejected', decidedPage('reject', record())],
  ...KINDS.map((k): [string, string] => [`error ${k}`, errorPage(k).body]),
  [
    'round closed (decided)',
    roundClosedPage({ reason: 'decided', decidedBy: 'bob@contoso.com', decidedAt: '2031-01-01T00:00:00Z' }).body,
  ],
  ['round closed (expired)', roundClosedPage({ reason: 'expired' }).body],
  ['not eligible', notEligiblePage('requester').body],
  ['waiting for more approvals', waitingPage(record(), 1)],
];

/** The directives of a CSP header value, by name. */
function directives(csp: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const d of csp.split(';')) {
    const [name, ...values] = d.trim().split(/\s+/);
    if (name) out.set(name.toLowerCase(), values);
  }
  return out;
}

const csp = () => directives(securityHeaders(PUBLIC)['Content-Security-Policy']);

describe('approval pages under their own Content-Security-Policy', () => {
  it.each(PAGES)('%s: the style-src hash is the hash of the exact text inside its one <style> element', (_n, body) => {
    const styles = [...body.matchAll(/<style>([\s\S]*?)<\/style>/g)];
    expect(styles).toHaveLength(1);
    expect(body.match(/<style/g)).toHaveLength(1);
    const digest = createHash('sha256').update(styles[0][1], 'utf8').digest('base64');
    expect(csp().get('style-src')).toEqual([`'sha256-${digest}'`]);
    // The text is the stylesheet itself: no whitespace the template could have added around it.
    expect(styles[0][1]).toBe(styles[0][1].trim());
    expect(styles[0][1]).toContain('.approve{background:#107c10');
  });

  it.each(PAGES)('%s: needs nothing else the policy forbids (no script, style attribute or resource)', (_n, body) => {
    expect(body).not.toMatch(/<script/i);
    expect(body).not.toMatch(/<[a-z][^>]*\sstyle=/i);
    expect(body).not.toMatch(/<(link|img|iframe|object|embed|base)\b/i);
    // No event-handler attribute in any tag (escaped text may say `onerror=`; a tag may not).
    expect(body).not.toMatch(/<[a-z][^>]*\son[a-z]+=/i);
  });

  it('sends a strict policy: nothing by default, no inline allowance, forms to our own origin, no framing or base', () => {
    const d = csp();
    expect(d.get('default-src')).toEqual(["'none'"]);
    expect(d.get('style-src')).toHaveLength(1);
    expect(d.get('style-src')?.[0]).toMatch(/^'sha256-[A-Za-z0-9+/]{43}='$/);
    expect(d.get('form-action')).toEqual(["'self'", PUBLIC]);
    expect(d.get('frame-ancestors')).toEqual(["'none'"]);
    expect(d.get('base-uri')).toEqual(["'none'"]);
    expect(d.has('script-src')).toBe(false);
    expect(securityHeaders(PUBLIC)['Content-Security-Policy']).not.toMatch(/unsafe-|\*/);
  });

  it('form-action names the origin of the public base URL, without its path', () => {
    expect(
      directives(securityHeaders('http://127.0.0.1:7071/sub/path')['Content-Security-Policy']).get('form-action'),
    ).toEqual(["'self'", 'http://127.0.0.1:7071']);
  });

  it('inlineStyle hashes the exact bytes it puts in the element, so whitespace changes the hash', () => {
    const a = inlineStyle('b{color:red}');
    const b = inlineStyle(' b{color:red}\n');
    expect(a.element.value).toBe('<style>b{color:red}</style>');
    expect(b.element.value).toBe('<style> b{color:red}\n</style>');
    expect(a.source).toBe(`'sha256-${createHash('sha256').update('b{color:red}').digest('base64')}'`);
    expect(b.source).not.toBe(a.source);
  });

  it('inlineStyle refuses a stylesheet that could close its element', () => {
    expect(() => inlineStyle('b{}</style><script>alert(1)</script>')).toThrow(/must not contain/);
  });
});
