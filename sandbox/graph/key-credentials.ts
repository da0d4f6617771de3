/**
 * Certificate credentials of applications: the `keyCredentials` collection (PATCH replaces it whole) and the
 * `addKey` / `removeKey` actions with their proof of possession.
 *
 * Sources (microsoftgraph/microsoft-graph-docs-contrib, api-reference/v1.0): resources/keycredential.md,
 * api/application-update.md (PATCH replaces the collection; `key` is only returned by
 * `GET /applications/{id}?$select=keyCredentials`), api/application-addkey.md, api/application-removekey.md and
 * concepts/application-rollkey-prooftoken.md (proof: a JWT signed with the private key of one of the application's
 * existing valid certificates; `aud` 00000002-0000-0000-c000-000000000000, `iss` the application's object id, `nbf`,
 * `exp` at most nbf + 10 minutes; Application.ReadWrite.OwnedBy suffices for an owned app).
 *
 * Errors: an unusable proof answers 401 `Authentication_MissingOrMalformed` "Access Token missing or malformed."
 * (as reported for addKey in microsoftgraph/microsoft-graph-docs#10686 and microsoft-graph-docs-contrib#2862); about
 * 600 key credentials answer `Directory_ResourceSizeExceeded` "The size of the object has exceeded its limit. Please
 * reduce the number of values and retry your request" (microsoftgraph/microsoft-graph-docs#21469; status 403 as the
 * directory answered it in openshift/openshift-azure#1932). An invalid `key` and an unknown `keyId` on removeKey are
 * 400 `Request_BadRequest` [inferred wording].
 */
import type { SandboxResponse } from '../core/types';
import { decodeBase64, decodeJws, parseCertificate, verifyJwsSignature } from '../core/certificates';
import { newGuid } from '../core/random';
import type { Application, KeyCredential } from '../directory';
import { canWriteOwned, mayModify } from './auth';
import {
  GraphError,
  emptyResponse,
  insufficientPrivileges,
  invalidValue,
  jsonResponse,
  unknownProperty,
} from './errors';
import { type AppKey, type Env, type Json, isGuid, jsonBody } from './env';
import { keyCredentialJson } from './model';

/** Graph refuses an object beyond about 600 key credentials (microsoftgraph/microsoft-graph-docs#21469). */
export const MAX_KEY_CREDENTIALS = 600;
/** The audience of a proof of possession: the Azure AD Graph app id [doc application-rollkey-prooftoken]. */
export const PROOF_AUDIENCE = '00000002-0000-0000-c000-000000000000';
const PROOF_MAX_LIFETIME_S = 600;

const KEY_CREDENTIAL_PROPERTIES = [
  'customKeyIdentifier',
  'displayName',
  'endDateTime',
  'key',
  'keyId',
  'startDateTime',
  'type',
  'usage',
];

const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

const badRequest = (message: string) => new GraphError(400, 'Request_BadRequest', message);

export const resourceSizeExceeded = () =>
  new GraphError(
    403,
    'Directory_ResourceSizeExceeded',
    'The size of the object has exceeded its limit. Please reduce the number of values and retry your request.',
  );

const invalidProof = () =>
  new GraphError(401, 'Authentication_MissingOrMalformed', 'Access Token missing or malformed.');

function parseDate(value: unknown, name: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  const ms = typeof value === 'string' ? Date.parse(value) : NaN;
  if (Number.isNaN(ms)) throw invalidValue(name, 'Edm.DateTimeOffset');
  return ms;
}

/**
 * One keyCredential of a request body. Only `AsymmetricX509Cert` with usage `Verify` (a public certificate) is
 * modelled; the `key` must be a base64 DER certificate. Omitted dates come from the certificate, an omitted
 * customKeyIdentifier is its SHA-1 thumbprint, an omitted displayName its subject, an omitted keyId a new GUID
 * [doc resources/keycredential; observed behaviour of application-update].
 */
export function readKeyCredential(env: Env, value: unknown): KeyCredential {
  if (!isObject(value)) throw invalidValue('keyCredentials', 'Collection(microsoft.graph.keyCredential)');
  for (const k of Object.keys(value))
    if (!k.startsWith('@') && !KEY_CREDENTIAL_PROPERTIES.includes(k))
      throw unknownProperty(k, 'microsoft.graph.keyCredential');
  if (value.type !== 'AsymmetricX509Cert' || value.usage !== 'Verify')
    throw badRequest('Only key credentials of type AsymmetricX509Cert with usage Verify are supported.');
  if (typeof value.key !== 'string' || value.key === '')
    throw badRequest('Key credential key is required: send every credential back with its key.');
  const der = decodeBase64(value.key);
  const cert = der ? parseCertificate(der) : undefined;
  if (!cert) throw badRequest('Invalid certificate: the key value is not a valid certificate.');
  if (value.keyId !== undefined && value.keyId !== null && (typeof value.keyId !== 'string' || !isGuid(value.keyId)))
    throw invalidValue('keyId', 'Edm.Guid');
  if (value.displayName !== undefined && value.displayName !== null && typeof value.displayName !== 'string')
    throw invalidValue('displayName', 'Edm.String');
  const start = parseDate(value.startDateTime, 'startDateTime') ?? cert.notBefore;
  const end = parseDate(value.endDateTime, 'endDateTime') ?? cert.notAfter;
  if (end <= start) throw badRequest('The end date of the credential must be after its start date.');
  let custom = cert.thumbprintHex;
  if (typeof value.customKeyIdentifier === 'string' && value.customKeyIdentifier !== '')
    custom = value.customKeyIdentifier;
  return {
    keyId: typeof value.keyId === 'string' ? value.keyId.toLowerCase() : newGuid(),
    type: 'AsymmetricX509Cert',
    usage: 'Verify',
    key: cert.der,
    displayName: typeof value.displayName === 'string' ? value.displayName : cert.subject,
    customKeyIdentifier: custom,
    startDateTime: start,
    endDateTime: end,
    createdAt: env.clock.now(),
  };
}

/**
 * The collection a PATCH asks for. An entry that names the keyId of a credential the app already has keeps its
 * original addition time (it is the same credential sent back, not a new one).
 */
export function readKeyCredentials(env: Env, value: unknown, target: Application | undefined): KeyCredential[] {
  if (!Array.isArray(value)) throw invalidValue('keyCredentials', 'Collection(microsoft.graph.keyCredential)');
  const out = value.map((v) => readKeyCredential(env, v));
  const ids = new Set<string>();
  for (const c of out) {
    if (ids.has(c.keyId)) throw badRequest(`Duplicate keyId '${c.keyId}' in keyCredentials.`);
    ids.add(c.keyId);
    const before = target?.keyCredentials.find((k) => k.keyId === c.keyId && k.key.equals(c.key));
    if (before) c.createdAt = before.createdAt;
  }
  if (out.length > MAX_KEY_CREDENTIALS) throw resourceSizeExceeded();
  return out;
}

/**
 * Verifies a proof of possession for the app: signed (RS256 or PS256) by a certificate registered on the app and valid
 * now, found by the header's `x5t`, `x5t#S256` or `kid` (the hex thumbprint, as .NET's X509SigningCredentials sets it);
 * `aud`, `iss` = the app's object id, `nbf` and `exp` present, now within [nbf, exp], and exp - nbf at most 10 minutes.
 */
export function verifyProof(env: Env, app: Application, proof: unknown): void {
  if (typeof proof !== 'string' || !proof) throw invalidProof();
  const jws = decodeJws(proof);
  if (!jws) throw invalidProof();
  const now = env.clock.now();
  const nowS = Math.floor(now / 1000);
  const { header, claims } = jws;
  const cred = app.keyCredentials.find((c) => {
    if (now < c.startDateTime || now >= c.endDateTime) return false;
    const cert = parseCertificate(c.key);
    if (!cert) return false;
    return (
      (typeof header.x5t === 'string' && header.x5t === cert.x5t) ||
      (typeof header['x5t#S256'] === 'string' && header['x5t#S256'] === cert.x5tS256) ||
      (typeof header.kid === 'string' && header.kid.toUpperCase() === cert.thumbprintHex)
    );
  });
  const cert = cred ? parseCertificate(cred.key) : undefined;
  if (!cert || !verifyJwsSignature(jws, cert.publicKey)) throw invalidProof();
  const { aud, iss, nbf, exp } = claims;
  if (aud !== PROOF_AUDIENCE) throw invalidProof();
  if (typeof iss !== 'string' || iss.toLowerCase() !== app.id.toLowerCase()) throw invalidProof();
  if (typeof nbf !== 'number' || typeof exp !== 'number') throw invalidProof();
  if (exp - nbf > PROOF_MAX_LIFETIME_S || nowS < nbf || nowS >= exp) throw invalidProof();
}

function writableApp(env: Env, key: AppKey, resolve: (env: Env, key: AppKey) => Application): Application {
  if (!canWriteOwned(env.caller)) throw insufficientPrivileges();
  const app = resolve(env, key);
  if (!mayModify(env.caller, app.owners)) throw insufficientPrivileges();
  return app;
}

/** POST /applications/{id}/addKey {keyCredential, passwordCredential: null, proof} → 200 + the keyCredential. */
export function addKey(env: Env, key: AppKey, resolve: (env: Env, key: AppKey) => Application): SandboxResponse {
  const body = jsonBody(env);
  for (const k of Object.keys(body))
    if (!['keyCredential', 'passwordCredential', 'proof'].includes(k))
      throw unknownProperty(k, 'microsoft.graph.addKey');
  const app = writableApp(env, key, resolve);
  if (body.passwordCredential !== undefined && body.passwordCredential !== null)
    throw badRequest('passwordCredential is only used with keys of type X509CertAndPassword.');
  const credential = readKeyCredential(env, body.keyCredential);
  verifyProof(env, app, body.proof);
  if (app.keyCredentials.some((c) => c.keyId === credential.keyId))
    throw badRequest(`A key credential with keyId '${credential.keyId}' already exists.`);
  if (app.keyCredentials.length + 1 > MAX_KEY_CREDENTIALS) throw resourceSizeExceeded();
  app.keyCredentials.push(credential);
  return jsonResponse(env.ids, 200, {
    '@odata.context': `${env.origin}/v1.0/$metadata#microsoft.graph.keyCredential`,
    ...keyCredentialJson(credential, false),
  });
}

/** POST /applications/{id}/removeKey {keyId, proof} → 204. */
export function removeKey(env: Env, key: AppKey, resolve: (env: Env, key: AppKey) => Application): SandboxResponse {
  const body = jsonBody(env);
  for (const k of Object.keys(body))
    if (k !== 'keyId' && k !== 'proof') throw unknownProperty(k, 'microsoft.graph.removeKey');
  if (typeof body.keyId !== 'string' || !isGuid(body.keyId)) throw invalidValue('keyId', 'Edm.Guid');
  const app = writableApp(env, key, resolve);
  verifyProof(env, app, body.proof);
  const keyId = body.keyId.toLowerCase();
  const index = app.keyCredentials.findIndex((c) => c.keyId === keyId);
  if (index < 0) throw badRequest(`No key credential found with keyId '${body.keyId}'.`);
  app.keyCredentials.splice(index, 1);
  return emptyResponse(env.ids, 204);
}
