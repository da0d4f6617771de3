/**
 * Cross-site request forgery protection for the approval form: the double-submit cookie pattern with a
 * SameSite=Strict, HttpOnly cookie, plus an Origin/Referer check (OWASP Cross-Site Request Forgery Prevention Cheat
 * Sheet, "Signed Double-Submit Cookie" and "Verifying Origin With Standard Headers"). On https the cookie uses the
 * `__Host-` prefix (Secure, Path=/, no Domain: RFC 6265bis, "The __Host- Prefix"), so a sibling subdomain cannot plant it; browsers
 * refuse Secure cookies over plain http, so loopback http (the local Functions host) uses a plain name.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';

import type { Cookie } from '@azure/functions';

const BASE_NAME = 'approval-csrf';
const VALUE = /^[A-Za-z0-9_-]{43}$/;

export function csrfCookieName(publicBaseUrl: string): string {
  return new URL(publicBaseUrl).protocol === 'https:' ? `__Host-${BASE_NAME}` : BASE_NAME;
}

export function newCsrfValue(): string {
  return randomBytes(32).toString('base64url');
}

export function csrfCookie(publicBaseUrl: string, value: string): Cookie {
  const https = new URL(publicBaseUrl).protocol === 'https:';
  return {
    name: csrfCookieName(publicBaseUrl),
    value,
    path: '/',
    httpOnly: true,
    sameSite: 'Strict',
    ...(https ? { secure: true } : {}),
    // Long enough to read the page and decide; the token's own expiry bounds the decision.
    maxAge: 3600,
  };
}

/** The value of one cookie in a `Cookie` request header (RFC 6265, "The Cookie Header": `name=value; name2=value2`). */
export function readCookie(header: string | null, name: string): string | undefined {
  if (!header) return undefined;
  for (const pair of header.split(';')) {
    const i = pair.indexOf('=');
    if (i < 0) continue;
    if (pair.slice(0, i).trim() === name) return pair.slice(i + 1).trim();
  }
  return undefined;
}

export type CsrfCheck = { ok: true } | { ok: false; reason: string };

/**
 * The POST must carry the cookie and the same value in the form field, and an Origin (or, without one, a Referer)
 * naming our public origin when the browser sent one.
 *
 * `Origin: null` counts as absent: our pages are served with `Referrer-Policy: no-referrer`, and for a non-GET request
 * under that policy the Fetch standard serialises the request's origin as `null` (Fetch, "append a request Origin
 * header"), so a genuine same-origin form POST arrives with `Origin: null`. A cross-site POST cannot carry the
 * SameSite=Strict cookie, so the cookie comparison still decides.
 */
export function checkCsrf(
  publicBaseUrl: string,
  headers: { get(name: string): string | null },
  field: string | undefined,
): CsrfCheck {
  const expectedOrigin = new URL(publicBaseUrl).origin;
  const origin = headers.get('origin');
  if (origin && origin !== 'null' && origin !== expectedOrigin) return { ok: false, reason: 'origin' };
  if (!origin || origin === 'null') {
    const referer = headers.get('referer');
    if (referer) {
      let refOrigin: string | undefined;
      try {
        refOrigin = new URL(referer).origin;
      } catch {
        refOrigin = undefined;
      }
      if (refOrigin !== expectedOrigin) return { ok: false, reason: 'referer' };
    }
  }
  const cookie = readCookie(headers.get('cookie'), csrfCookieName(publicBaseUrl));
  if (!cookie || !VALUE.test(cookie)) return { ok: false, reason: 'missing cookie' };
  if (!field || !VALUE.test(field)) return { ok: false, reason: 'missing field' };
  if (!timingSafeEqual(Buffer.from(cookie), Buffer.from(field))) return { ok: false, reason: 'mismatch' };
  return { ok: true };
}
