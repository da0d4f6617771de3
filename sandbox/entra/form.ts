/**
 * Reading a token request: the form body and the client credentials (form fields or HTTP Basic).
 *
 * Entra reads OAuth parameters from the `application/x-www-form-urlencoded` body only; a parameter in the query
 * string does not count (microsoftgraph/microsoft-graph-docs#9207: `grant_type` in the query → AADSTS900144).
 * HTTP Basic client authentication is accepted (`client_secret_basic` in the discovery document); RFC 6749 section
 * 2.3.1 form-url-encodes id and secret before base64.
 */
import type { SandboxRequest } from '../core/types';

const header = (req: SandboxRequest, name: string): string | undefined => {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

export function isFormBody(req: SandboxRequest): boolean {
  return /^application\/x-www-form-urlencoded\b/i.test(header(req, 'content-type') ?? '');
}

/** The form parameters; an empty set when the body is not form-encoded (Entra then finds no parameters at all). */
export function formParams(req: SandboxRequest): URLSearchParams {
  return isFormBody(req) ? new URLSearchParams(req.body.toString('utf8')) : new URLSearchParams();
}

const formDecode = (s: string): string => {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
};

/** `Authorization: Basic base64(urlencode(id):urlencode(secret))`, if present and well-formed. */
export function basicCredentials(req: SandboxRequest): { clientId: string; clientSecret: string } | undefined {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header(req, 'authorization') ?? '');
  if (!m) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { clientId: formDecode(decoded.slice(0, colon)), clientSecret: formDecode(decoded.slice(colon + 1)) };
}

/** MSAL sends `client-request-id` in the query string and as a header; Entra echoes it as the correlation id. */
export function clientRequestId(req: SandboxRequest): string | undefined {
  return header(req, 'client-request-id') ?? req.query.get('client-request-id') ?? undefined;
}

/** The journal's view of a token request body: form fields with the client secret and assertion redacted. */
export function redactTokenBody(req: SandboxRequest): unknown {
  if (req.body.length === 0) return undefined;
  if (!isFormBody(req)) return `[${req.body.length} bytes, not form-encoded]`;
  const out: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(req.body.toString('utf8')))
    out[k] = k === 'client_secret' || k === 'client_assertion' ? '[redacted]' : v;
  return out;
}
