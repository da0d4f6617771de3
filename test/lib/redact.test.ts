/**
 * The redactor masks secrets however they are written: Entra client secrets of every shape Entra issues (including
 * those that begin with `~`, `.` or `-`), and registered secret values as they are, JSON-escaped (JSON.stringify, or
 * every character but letters and digits as \uXXXX) and URL-encoded (encodeURIComponent, form encoding with `+`,
 * %7E for `~`).
 */
import { randomInt } from 'node:crypto';

import { clearRegisteredSecrets, REDACTED, redactText, redactValue, registerSecret } from '../../src/lib/redact';

/** The characters Entra uses in client secret text. */
const ENTRA_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789~._-';
const pick = (set: string, n: number) => Array.from({ length: n }, () => set[randomInt(set.length)]).join('');

/** An Entra client secret: 3 characters, a digit, "Q~", then 34 characters; the first character as given. */
const entraSecret = (first: string) => `${first}${pick(ENTRA_CHARS, 2)}${randomInt(10)}Q~${pick(ENTRA_CHARS, 34)}`;

/** Every UTF-16 code unit but letters and digits as a JSON \uXXXX escape, as some serialisers write strings. */
const uEscaped = (s: string, upper = false) =>
  Array.from({ length: s.length }, (_, i) => {
    if (/[A-Za-z0-9]/.test(s[i])) return s[i];
    const hex = s.charCodeAt(i).toString(16).padStart(4, '0');
    return `\\u${upper ? hex.toUpperCase() : hex}`;
  }).join('');
/** JSON.stringify's escaping of the value inside a JSON string. */
const jsonInner = (s: string) => JSON.stringify(s).slice(1, -1);
/** application/x-www-form-urlencoded, as URLSearchParams writes it (`+` for space, %7E for `~`). */
const formEncoded = (s: string) => new URLSearchParams({ v: s }).toString().slice(2);
/** Percent-encoding of every character but letters and digits (encodeURIComponent leaves `-_.!~*'()` alone). */
const percentAll = (s: string) =>
  [...s]
    .map((ch) =>
      /[A-Za-z0-9]/.test(ch)
        ? ch
        : ch.charCodeAt(0) < 0x80
          ? `%${ch.charCodeAt(0).toString(16).padStart(2, '0').toUpperCase()}`
          : encodeURIComponent(ch),
    )
    .join('');

afterEach(() => clearRegisteredSecrets());

describe('the Entra client secret pattern', () => {
  it.each(['a', 'Z', '7', '~', '.', '-', '_'])('masks a generated secret beginning with %j', (first) => {
    for (let i = 0; i < 20; i++) {
      const secret = entraSecret(first);
      for (const text of [
        `client secret ${secret} was added`,
        `secret:${secret}`,
        `"${secret}"`,
        `(${secret})`,
        secret,
      ]) {
        const out = redactText(text);
        expect(out).toContain(REDACTED);
        // Nothing of the secret after its first character survives.
        expect(out).not.toContain(secret.slice(1, 12));
      }
    }
  });

  it('masks a generated secret written with \\u007e or %7E for its tildes', () => {
    for (let i = 0; i < 20; i++) {
      const secret = entraSecret(pick('~.-a', 1));
      const core = secret.slice(4, 14).replace(/~/g, '');
      for (const text of [
        `{"secretText":"x","note":"${secret.replace(/~/g, '\\u007e')}"}`,
        `{"note":"${secret.replace(/~/g, '\\u007E')}"}`,
        `https://example.invalid/cb?state=${secret.replace(/~/g, '%7E')}`,
        `next=${secret.replace(/~/g, '%7e')}&x=1`,
      ]) {
        const out = redactText(text);
        expect(out).toContain(REDACTED);
        expect(out).not.toContain(`${core.slice(0, 6)}`);
      }
    }
  });

  it('leaves ordinary text, GUIDs and URLs alone', () => {
    const text =
      'App 0b5e8f3a-6c1d-4e2f-9a7b-3c4d5e6f7a8b was created at https://login.microsoftonline.com/contoso/v2.0 ' +
      'with uniqueName sn-dev00000-1a2b3c4d-outbound; basic or oauth.';
    expect(redactText(text)).toBe(text);
  });
});

describe('registered secret values', () => {
  /** Secrets with the characters that change under JSON or URL encoding. */
  const generated = () => [
    `${pick(ENTRA_CHARS, 10)}"${pick(ENTRA_CHARS, 10)}\\${pick(ENTRA_CHARS, 6)}`,
    `pa ss ${pick(ENTRA_CHARS, 8)} wo/rd+&=?#${pick(ENTRA_CHARS, 4)}`,
    `${pick(ENTRA_CHARS, 12)}~${pick(ENTRA_CHARS, 12)}`,
    `tab\there\nnewline${pick(ENTRA_CHARS, 8)}`,
    `ünïcødé-${pick(ENTRA_CHARS, 8)}-€-😀`,
    `</script>${pick(ENTRA_CHARS, 10)}<'&>`,
  ];

  const forms: [string, (s: string) => string][] = [
    ['as is', (s) => s],
    ['JSON.stringify inner form', jsonInner],
    ['every character but letters and digits \\u-escaped', (s) => uEscaped(s)],
    ['every character but letters and digits \\u-escaped, upper-case hex', (s) => uEscaped(s, true)],
    ['encodeURIComponent', encodeURIComponent],
    [
      'encodeURIComponent, lower-case hex',
      (s) => encodeURIComponent(s).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()),
    ],
    ['form-encoded (+ for space, %7E)', formEncoded],
    ['every non-alphanumeric percent-encoded', percentAll],
  ];

  it.each(forms)('masks every generated secret %s, inside other text', (_form, encode) => {
    for (let round = 0; round < 5; round++) {
      for (const secret of generated()) {
        clearRegisteredSecrets();
        registerSecret(secret);
        const encoded = encode(secret);
        const text = `before ${encoded} after`;
        expect(redactText(text)).toBe(`before ${REDACTED} after`);
      }
    }
  });

  it('masks a registered secret inside a serialised JSON document and a query string', () => {
    const secret = `Sec"ret ~ ${pick(ENTRA_CHARS, 16)}/+`;
    registerSecret(secret);
    const json = JSON.stringify({ note: `the value ${secret} leaked` });
    expect(redactText(json)).not.toContain(jsonInner(secret));
    expect(redactText(json)).toContain(REDACTED);
    const query = `https://example.invalid/cb?${new URLSearchParams({ note: secret, x: '1' }).toString()}`;
    expect(redactText(query)).toBe(`https://example.invalid/cb?note=${REDACTED}&x=1`);
    expect(redactValue({ message: json })).toEqual({ message: redactText(json) });
  });

  it('does not mask text that merely resembles a registered secret', () => {
    registerSecret('abcdefgh-1234');
    expect(redactText('abcdefgh-123 and ABCDEFGH-1234 and abcdefgh%2D1235')).toBe(
      'abcdefgh-123 and ABCDEFGH-1234 and abcdefgh%2D1235',
    );
  });
});
