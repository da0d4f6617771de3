/**
 * RS256 JWTs (RFC 7519) as JWS compact serialisations (RFC 7515), signed, decoded and verified with jose
 * (https://github.com/panva/jose). The key pair and its thumbprint are Node's; everything on the wire is jose's.
 */
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';

import {
  SignJWT,
  decodeJwt as decodeJwtClaims,
  decodeProtectedHeader,
  errors,
  importJWK,
  jwtVerify,
  type JWK,
  type KeyLike,
} from 'jose';

export type Claims = Record<string, unknown>;

/** A key-set entry: jose's JWK type, which carries `kid`, `use` and `x5t`. */
export type Jwk = JWK;

/** An RS256 signing key with a `kid`, as Entra publishes in its JWKS. */
export class SigningKey {
  readonly kid: string;
  private readonly privateKey: KeyObject;
  private readonly publicKey: KeyObject;

  constructor() {
    // Generated synchronously (jose's generateKeyPair is async) so that a key can be a field initialiser.
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.privateKey = privateKey;
    this.publicKey = publicKey;
    // Entra's kid and x5t are the base64url SHA-1 thumbprint of the signing certificate; a key thumbprint serves here.
    this.kid = createHash('sha1')
      .update(publicKey.export({ type: 'spki', format: 'der' }))
      .digest('base64url');
  }

  /** A compact JWS with header `{ typ: 'JWT', alg: 'RS256', x5t, kid }` over exactly these claims. */
  sign(claims: Claims): Promise<string> {
    return new SignJWT(claims)
      .setProtectedHeader({ typ: 'JWT', alg: 'RS256', x5t: this.kid, kid: this.kid })
      .sign(this.privateKey);
  }

  /**
   * The public key as a JWKS entry. Node's KeyObject export, which is what jose's exportJWK returns for a KeyObject;
   * kept synchronous because the JWKS documents and the stand-ins' key lists are built synchronously.
   */
  jwk(): Jwk {
    const jwk = this.publicKey.export({ format: 'jwk' });
    return { kty: 'RSA', use: 'sig', kid: this.kid, x5t: this.kid, n: jwk.n, e: jwk.e };
  }
}

export interface DecodedJwt {
  header: { alg?: string; kid?: string; typ?: string };
  claims: Claims;
}

/** Header and claims of a compact JWS whose header and payload are JSON objects, unverified; else undefined. */
export function decodeJwt(token: string): DecodedJwt | undefined {
  try {
    return { header: decodeProtectedHeader(token), claims: decodeJwtClaims(token) };
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

/** Why jose refused a token, in the words the stand-ins map to their services' messages. */
function refusalReason(err: unknown): string {
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'invalid signature';
  // JWTExpired, and an `exp` that is missing or not a number.
  if (err instanceof errors.JWTClaimValidationFailed || err instanceof errors.JWTExpired) {
    if (err.claim === 'exp') return 'token expired';
    if (err.claim === 'nbf' && err.reason === 'check_failed') return 'token not yet valid';
    return `invalid ${err.claim} claim`;
  }
  // A key jose cannot use for RS256 (not RSA, or under 2048 bits) is a TypeError.
  if (err instanceof TypeError) return 'unusable signing key';
  return 'malformed token';
}

/**
 * Verifies an RS256 JWT: signature against the key set (by kid), nbf/exp (exp required) with the allowed skew on the
 * given clock, then audience and issuer. jose checks signature and lifetime (`currentDate`, `clockTolerance`); audience
 * and issuer are checked here so that a lifetime failure is reported first and the values must match exactly.
 */
export async function verifyJwt(token: string, opts: VerifyOptions): Promise<VerifyResult> {
  const jwt = decodeJwt(token);
  if (!jwt) return { ok: false, reason: 'malformed token' };
  if (jwt.header.alg !== 'RS256') return { ok: false, reason: `unsupported alg ${String(jwt.header.alg)}` };
  const jwk = opts.keys.find((k) => k.kid === jwt.header.kid);
  if (!jwk) return { ok: false, reason: `unknown signing key ${String(jwt.header.kid)}` };
  let key: KeyLike | Uint8Array;
  try {
    key = await importJWK(jwk, 'RS256');
  } catch {
    return { ok: false, reason: 'unusable signing key' };
  }
  let claims: Claims;
  try {
    ({ payload: claims } = await jwtVerify(token, key, {
      algorithms: ['RS256'],
      currentDate: new Date(opts.now * 1000),
      clockTolerance: opts.skew ?? 0,
      requiredClaims: ['exp'],
    }));
  } catch (err) {
    return { ok: false, reason: refusalReason(err) };
  }
  const { aud, iss } = claims;
  if (opts.audiences && !opts.audiences.includes(String(aud)))
    return { ok: false, reason: `invalid audience ${String(aud)}` };
  if (opts.issuers && !opts.issuers.includes(String(iss)))
    return { ok: false, reason: `invalid issuer ${String(iss)}` };
  return { ok: true, claims };
}

/** The bearer token of an Authorization header, if any. */
export function bearerToken(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(value ?? '');
  return m?.[1];
}
