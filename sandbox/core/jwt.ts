import {
  createHash,
  createPublicKey,
  createSign,
  createVerify,
  generateKeyPairSync,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';

export type Claims = Record<string, unknown>;

export interface Jwk extends JsonWebKey {
  kid?: string;
  use?: string;
  x5t?: string;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

/** An RS256 signing key with a `kid`, as Entra publishes in its JWKS. */
export class SigningKey {
  readonly kid: string;
  private readonly privateKey: KeyObject;
  private readonly publicKey: KeyObject;

  constructor() {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.privateKey = privateKey;
    this.publicKey = publicKey;
    // Entra's kid and x5t are the base64url SHA-1 thumbprint of the signing certificate; a key thumbprint serves here.
    this.kid = b64url(
      createHash('sha1')
        .update(publicKey.export({ type: 'spki', format: 'der' }))
        .digest(),
    );
  }

  sign(claims: Claims): string {
    const header = { typ: 'JWT', alg: 'RS256', x5t: this.kid, kid: this.kid };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = createSign('RSA-SHA256').update(input).sign(this.privateKey);
    return `${input}.${b64url(signature)}`;
  }

  jwk(): Jwk {
    const jwk = this.publicKey.export({ format: 'jwk' });
    return { kty: 'RSA', use: 'sig', kid: this.kid, x5t: this.kid, n: jwk.n, e: jwk.e };
  }
}

export interface DecodedJwt {
  header: { alg?: string; kid?: string; typ?: string };
  claims: Claims;
  signingInput: string;
  signature: Buffer;
}

export function decodeJwt(token: string): DecodedJwt | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    return {
      header: JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8')) as DecodedJwt['header'],
      claims: JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as Claims,
      signingInput: `${parts[0]}.${parts[1]}`,
      signature: Buffer.from(parts[2], 'base64url'),
    };
  } catch {
    return undefined;
  }
}

export type VerifyResult = { ok: true; claims: Claims } | { ok: false; reason: string };

export interface VerifyOptions {
  keys: Jwk[];
  /** Epoch seconds. */
  now: number;
  /** Accepted audiences; omitted = any. */
  audiences?: string[];
  /** Accepted issuers; omitted = any. */
  issuers?: string[];
  /** Allowed clock skew in seconds. */
  skew?: number;
}

/** Verifies an RS256 JWT: signature against the key set (by kid), nbf/exp, audience and issuer. */
export function verifyJwt(token: string, opts: VerifyOptions): VerifyResult {
  const jwt = decodeJwt(token);
  if (!jwt) return { ok: false, reason: 'malformed token' };
  if (jwt.header.alg !== 'RS256') return { ok: false, reason: `unsupported alg ${String(jwt.header.alg)}` };
  const jwk = opts.keys.find((k) => k.kid === jwt.header.kid);
  if (!jwk) return { ok: false, reason: `unknown signing key ${String(jwt.header.kid)}` };
  let key: KeyObject;
  try {
    key = createPublicKey({ key: jwk, format: 'jwk' });
  } catch {
    return { ok: false, reason: 'unusable signing key' };
  }
  if (!createVerify('RSA-SHA256').update(jwt.signingInput).verify(key, jwt.signature))
    return { ok: false, reason: 'invalid signature' };
  const skew = opts.skew ?? 0;
  const { exp, nbf, aud, iss } = jwt.claims;
  if (typeof exp !== 'number' || exp + skew <= opts.now) return { ok: false, reason: 'token expired' };
  if (typeof nbf === 'number' && nbf - skew > opts.now) return { ok: false, reason: 'token not yet valid' };
  if (opts.audiences && !opts.audiences.includes(String(aud)))
    return { ok: false, reason: `invalid audience ${String(aud)}` };
  if (opts.issuers && !opts.issuers.includes(String(iss)))
    return { ok: false, reason: `invalid issuer ${String(iss)}` };
  return { ok: true, claims: jwt.claims };
}

/** The bearer token of an Authorization header, if any. */
export function bearerToken(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(value ?? '');
  return m?.[1];
}
