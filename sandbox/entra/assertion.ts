/**
 * Client authentication with `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer` and a
 * `client_assertion` (RFC 7523 section 2.2), in the two forms Entra accepts:
 *
 * - **Certificate** (private_key_jwt, https://learn.microsoft.com/entra/identity-platform/certificate-credentials):
 *   header `alg` RS256 with `x5t` (base64url SHA-1 thumbprint), or PS256 with `x5t#S256` (base64url SHA-256), as that
 *   page describes (RS256 + x5t is still what most clients send: AzureAD/microsoft-authentication-library-for-dotnet#6125);
 *   claims `aud` = the token endpoint that was called, `iss` = `sub` = the client id, `exp`, `nbf`, `jti`. The signing
 *   certificate must be a key credential of the app, valid now, RSA of at least 2048 bits, and propagated: a key
 *   credential added less than `keyCredentialPropagationDelayMs` ago is answered like an unknown key.
 * - **Federated** (workload identity federation, https://learn.microsoft.com/entra/workload-id/workload-identity-federation):
 *   `iss` is the issuer of one of the app's federated identity credentials, `sub` and `aud` match that credential
 *   exactly (case-sensitive), the signature verifies with the issuer's published keys (`issuerKeys`, which the sandbox
 *   wires to the issuing stand-in's JWKS).
 *
 * Checks run in the order that reveals least to an unauthenticated caller: form, client id, audience, lifetime, key.
 */
import { type JsonWebKey, createPublicKey } from 'node:crypto';

import type { SandboxClock } from '../core/clock';
import { type DecodedJws, decodeJws, parseCertificate, verifyJwsSignature } from '../core/certificates';
import type { Application } from '../directory';
import { aadsts, type AadstsError } from './errors';

export const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** Allowed clock skew on assertion lifetimes [inferred: the 5 minutes Entra allows elsewhere]. */
const SKEW_S = 300;

export interface AssertionDeps {
  clock: SandboxClock;
  keyCredentialPropagationDelayMs: number;
  /** The keys an external issuer publishes (its JWKS), undefined when they cannot be had. */
  issuerKeys?: (issuer: string) => Promise<JsonWebKey[] | undefined>;
}

/** `2024-10-02T22:05:03.0000000Z`, as AADSTS700024 prints times. */
const ticks = (ms: number) => new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$10000Z');
/** `06/29/2021 21:13:15`, as AADSTS700027 prints a key's validity. */
const usDate = (ms: number) => {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCMonth() + 1)}/${p(d.getUTCDate())}/${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`;
};

function lifetimeError(deps: AssertionDeps, claims: Record<string, unknown>): AadstsError | null {
  const nowS = deps.clock.seconds();
  const exp = typeof claims.exp === 'number' ? claims.exp : undefined;
  const nbf = typeof claims.nbf === 'number' ? claims.nbf : 0;
  if (exp === undefined || nowS > exp + SKEW_S || nowS < nbf - SKEW_S)
    return aadsts.assertionTimeRange(ticks(deps.clock.now()), ticks(nbf * 1000), ticks((exp ?? 0) * 1000));
  return null;
}

/** The certificate form; null when the assertion authenticates the client. */
function certificateAssertion(
  deps: AssertionDeps,
  app: Application,
  jws: DecodedJws,
  tokenUrls: string[],
): AadstsError | null {
  const { header, claims } = jws;
  if (claims.iss !== app.appId || claims.sub !== app.appId) return aadsts.assertionClientIdMismatch();
  if (typeof claims.aud !== 'string' || !tokenUrls.includes(claims.aud)) return aadsts.assertionAudience();
  const lifetime = lifetimeError(deps, claims);
  if (lifetime) return lifetime;
  const x5t = typeof header.x5t === 'string' ? header.x5t : undefined;
  const x5tS256 = typeof header['x5t#S256'] === 'string' ? header['x5t#S256'] : undefined;
  const now = deps.clock.now();
  let named = '';
  for (const cred of app.keyCredentials) {
    const cert = parseCertificate(cred.key);
    if (!cert) continue;
    const matches = (x5t !== undefined && x5t === cert.x5t) || (x5tS256 !== undefined && x5tS256 === cert.x5tS256);
    if (!matches) continue;
    named = cert.thumbprintHex;
    // Not propagated yet: Entra does not know the key yet.
    if (now < cred.createdAt + deps.keyCredentialPropagationDelayMs) break;
    if (now < cred.startDateTime || now >= cred.endDateTime)
      return aadsts.expiredClientKey(cert.thumbprintHex, usDate(cred.startDateTime), usDate(cred.endDateTime));
    if (cert.rsaBits === undefined || cert.rsaBits < 2048)
      return aadsts.weakAssertionKey(cert.thumbprintHex, cert.rsaBits ?? 0);
    if (!verifyJwsSignature(jws, cert.publicKey))
      return aadsts.badAssertionSignature(cert.thumbprintHex, usDate(cred.startDateTime), usDate(cred.endDateTime));
    return null;
  }
  const shown = named || (x5t ? Buffer.from(x5t, 'base64url').toString('hex').toUpperCase() : '');
  return aadsts.invalidClientAssertion(app.appId, shown);
}

/** The federated form; null when the assertion authenticates the client. */
async function federatedAssertion(deps: AssertionDeps, app: Application, jws: DecodedJws): Promise<AadstsError | null> {
  const { claims } = jws;
  const text = (v: unknown) => (typeof v === 'string' ? v : '');
  const iss = text(claims.iss);
  const sub = text(claims.sub);
  const aud = Array.isArray(claims.aud) ? claims.aud.map(text) : [text(claims.aud)];
  const byIssuer = app.federatedIdentityCredentials.filter((f) => f.issuer === iss);
  if (!byIssuer.length) return aadsts.noFederatedRecord(iss, sub, aud.join(','));
  const bySubject = byIssuer.filter((f) => f.subject === sub);
  if (!bySubject.length) return aadsts.noFederatedSubject(sub);
  if (!bySubject.some((f) => f.audiences.some((a) => aud.includes(a))))
    return aadsts.noFederatedAudience(aud.join(','));
  const lifetime = lifetimeError(deps, claims);
  if (lifetime) return lifetime;
  const keys = deps.issuerKeys ? await deps.issuerKeys(iss).catch(() => undefined) : undefined;
  if (!keys) return aadsts.externalOidcFailed();
  const kid = typeof jws.header.kid === 'string' ? jws.header.kid : undefined;
  const candidates = keys.filter((k) => kid === undefined || (k as { kid?: string }).kid === kid);
  for (const jwk of candidates) {
    try {
      if (verifyJwsSignature(jws, createPublicKey({ key: jwk, format: 'jwk' }))) return null;
    } catch {
      // not an RSA key usable here: try the next one
    }
  }
  return aadsts.federatedSignature();
}

/**
 * Authenticates a client by its assertion: null when accepted, else Entra's error. `tokenUrls` are the `aud` values
 * the called endpoint accepts (its URL with the tenant as called and with the tenant id).
 */
export async function checkClientAssertion(
  deps: AssertionDeps,
  app: Application,
  assertionType: string | null,
  assertion: string,
  tokenUrls: string[],
): Promise<AadstsError | null> {
  // Without the jwt-bearer type Entra does not read the assertion at all [inferred: the credential is then missing].
  if (assertionType !== JWT_BEARER) return aadsts.missingClientCredential();
  const jws = decodeJws(assertion);
  if (!jws) return aadsts.malformedAssertion();
  const iss = jws.claims.iss;
  if (iss === app.appId) return certificateAssertion(deps, app, jws, tokenUrls);
  if (typeof iss === 'string' && app.federatedIdentityCredentials.some((f) => f.issuer === iss))
    return federatedAssertion(deps, app, jws);
  // An assertion that names a certificate but another client: the client-id mismatch; otherwise no federation record.
  if (jws.header.x5t !== undefined || jws.header['x5t#S256'] !== undefined) return aadsts.assertionClientIdMismatch();
  return federatedAssertion(deps, app, jws);
}
