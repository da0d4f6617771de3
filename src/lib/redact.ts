/**
 * Masking of secrets in text and structured log fields. Used by the error boundary (errors.ts) and the logger
 * (logger.ts) so that client secrets, passwords and bearer tokens never reach logs or error messages.
 */

export const REDACTED = '[redacted]';

/** Exact secret values seen at run time (e.g. read from Key Vault), masked wherever they appear. */
const knownSecrets = new Set<string>();

/** Bound on remembered values (tokens are registered on every acquisition); the oldest are forgotten first. */
const MAX_KNOWN = 500;

/** Registers a value (at least 8 characters) to be masked in every later redaction. */
export function registerSecret(value: string | undefined | null): void {
  if (typeof value !== 'string' || value.length < 8) return;
  knownSecrets.delete(value);
  knownSecrets.add(value);
  while (knownSecrets.size > MAX_KNOWN) {
    const oldest = knownSecrets.values().next().value;
    if (oldest === undefined) break;
    knownSecrets.delete(oldest);
  }
}

/** Forgets every registered value (tests). */
export function clearRegisteredSecrets(): void {
  knownSecrets.clear();
}

/** Field names whose values are always masked in structured data. */
const SECRET_KEY = /(secret|password|passwd|pwd|token|authorization|assertion|api[-_]?key|credential|cookie|^value$)/i;

const PATTERNS: Array<[RegExp, string]> = [
  // Authorization header values (RFC 6750 bearer, RFC 7617 basic).
  // Credentials are at least 8 characters, so prose such as "basic or oauth" is left alone.
  [/\b(Bearer|Basic)\s+[A-Za-z0-9\-._~+/]{8,}=*/gi, `$1 ${REDACTED}`],
  // JWTs (header.payload.signature, base64url): access and id tokens.
  [/\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g, REDACTED],
  // Entra client secret text: 3 characters, a digit, "Q~", then ~31-34 characters (the format Entra issues since 2021).
  [/\b[A-Za-z0-9_\-.]{3}\dQ~[A-Za-z0-9_\-.~]{20,}/g, REDACTED],
  // Form or query parameters carrying secrets (OAuth client credentials, RFC 6749 §2.3.1 / §4.4).
  [
    /\b(client_secret|password|access_token|refresh_token|id_token|client_assertion|code|sig)=([^&\s"']+)/gi,
    `$1=${REDACTED}`,
  ],
  // JSON members carrying secrets.
  [
    /("(?:[A-Za-z_]*(?:secret|password|token|authorization|assertion)[A-Za-z_]*|value)"\s*:\s*)"(?:[^"\\]|\\.)*"/gi,
    `$1"${REDACTED}"`,
  ],
];

/** Masks registered secret values and anything that looks like a secret or bearer token. */
export function redactText(text: string): string {
  let out = text;
  for (const secret of knownSecrets) out = out.split(secret).join(REDACTED);
  for (const [pattern, replacement] of PATTERNS) out = out.replace(pattern, replacement);
  return out;
}

/** Deep copy of structured data with secret-named fields masked and strings redacted. */
export function redactValue(value: unknown, depth = 0): unknown {
  if (depth > 8) return '[depth]';
  if (typeof value === 'string') return redactText(value);
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Error) return redactText(`${value.name}: ${value.message}`);
  if (Array.isArray(value)) return value.map((v) => redactValue(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    out[k] = SECRET_KEY.test(k) && v !== undefined && v !== null && v !== '' ? REDACTED : redactValue(v, depth + 1);
  }
  return out;
}
