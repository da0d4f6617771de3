/**
 * Masking of secrets in text and structured log fields. Used by the error boundary (errors.ts) and the logger
 * (logger.ts) so that client secrets, passwords and bearer tokens never reach logs or error messages.
 */

export const REDACTED = '[redacted]';

/**
 * Exact secret values seen at run time (e.g. read from Key Vault), masked wherever they appear, also when they were
 * written JSON-escaped or URL-encoded: each value maps to a pattern that accepts, character by character, the
 * character itself, its JSON escapes (RFC 8259 section 7: `\"`, `\\`, `\/`, `\n`..., `\uXXXX`) and its percent-encoded
 * UTF-8 bytes (RFC 3986 section 2.1; `+` for a space in form encoding, WHATWG URL application/x-www-form-urlencoded),
 * hex digits in either case. So the JSON.stringify inner form, encodeURIComponent, URLSearchParams and mixtures of
 * them are all masked.
 */
const knownSecrets = new Map<string, Matcher>();
/** The registered values, longest first (a value containing another is masked whole); rebuilt on change. */
let ordered: Matcher[] | undefined;

interface Matcher {
  pattern: RegExp;
  /** A run of letters and digits of the value (unchanged by JSON and URL encoding), to skip the pattern quickly. */
  anchor: string;
  length: number;
}

/** Bound on remembered values (tokens are registered on every acquisition); the oldest are forgotten first. */
const MAX_KNOWN = 500;

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
/** A hex number as a pattern accepting upper- and lower-case digits. */
const hexRe = (n: number, width: number) =>
  [...n.toString(16).padStart(width, '0')].map((d) => (/[a-f]/.test(d) ? `[${d}${d.toUpperCase()}]` : d)).join('');
const JSON_SHORT: Record<string, string> = {
  '"': '\\"',
  '\\': '\\\\',
  '/': '\\/',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};

/** The ways one character (code point) of a secret may be written. */
function charPattern(ch: string): string {
  const forms = new Set<string>([escapeRe(ch)]);
  const units = Array.from({ length: ch.length }, (_, i) => ch.charCodeAt(i));
  forms.add(units.map((u) => `\\\\u${hexRe(u, 4)}`).join(''));
  if (JSON_SHORT[ch]) forms.add(escapeRe(JSON_SHORT[ch]));
  forms.add([...Buffer.from(ch, 'utf8')].map((b) => `%${hexRe(b, 2)}`).join(''));
  if (ch === ' ') forms.add('\\+');
  return forms.size === 1 ? escapeRe(ch) : `(?:${[...forms].join('|')})`;
}

function matcherFor(value: string): Matcher {
  const runs = value.match(/[A-Za-z0-9]+/g) ?? [];
  const anchor = runs.reduce((a, b) => (b.length > a.length ? b : a), '');
  return { pattern: new RegExp([...value].map(charPattern).join(''), 'g'), anchor, length: value.length };
}

/** Registers a value (at least 8 characters) to be masked in every later redaction. */
export function registerSecret(value: string | undefined | null): void {
  if (typeof value !== 'string' || value.length < 8) return;
  const matcher = knownSecrets.get(value) ?? matcherFor(value);
  knownSecrets.delete(value);
  knownSecrets.set(value, matcher);
  while (knownSecrets.size > MAX_KNOWN) {
    const oldest = knownSecrets.keys().next().value;
    if (oldest === undefined) break;
    knownSecrets.delete(oldest);
  }
  ordered = undefined;
}

/** Forgets every registered value (tests). */
export function clearRegisteredSecrets(): void {
  knownSecrets.clear();
  ordered = undefined;
}

/** Field names whose values are always masked in structured data. */
const SECRET_KEY = /(secret|password|passwd|pwd|token|authorization|assertion|api[-_]?key|credential|cookie|^value$)/i;

/** One character of Entra client secret text, `~` also as \u007e or %7E. */
const TILDE = String.raw`(?:~|\\u007[eE]|%7[eE])`;
const SECRET_CHAR = String.raw`(?:[A-Za-z0-9_.\-]|${TILDE})`;
const ENTRA_SECRET = new RegExp(String.raw`(?<![A-Za-z0-9_.~\-])${SECRET_CHAR}{3}\dQ${TILDE}${SECRET_CHAR}{20,}`, 'g');

const PATTERNS: Array<[RegExp, string]> = [
  // Authorization header values (RFC 6750 bearer, RFC 7617 basic).
  // Credentials are at least 8 characters, so prose such as "basic or oauth" is left alone.
  [/\b(Bearer|Basic)\s+[A-Za-z0-9\-._~+/]{8,}=*/gi, `$1 ${REDACTED}`],
  // JWTs (header.payload.signature, base64url): access and id tokens.
  [/\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g, REDACTED],
  // Entra client secret text: 3 characters, a digit, "Q~", then ~31-34 characters (the format Entra issues since
  // 2021), from the alphabet letters, digits and `~ . _ -`: a secret may begin with any of them, so the start is "not
  // preceded by a secret character" rather than a word boundary. `~` may be JSON-escaped (\u007e) or
  // percent-encoded (%7E).
  [ENTRA_SECRET, REDACTED],
  // Form or query parameters carrying secrets (OAuth client credentials, RFC 6749 sections 2.3.1 and 4.4).
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
  ordered ??= [...knownSecrets.values()].sort((a, b) => b.length - a.length);
  for (const m of ordered) {
    // Serialisers and URL encoders never escape letters or digits, so every encoded form contains the anchor.
    if (m.anchor.length >= 4 && !out.includes(m.anchor)) continue;
    out = out.replace(m.pattern, REDACTED);
  }
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
