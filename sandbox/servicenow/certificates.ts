/**
 * Certificates, attachments and the instance's outbound assertions.
 *
 * - Attachment API (`api-reference/rest-apis/c_AttachmentAPI`, https://www.servicenow.com/docs/r/api-reference/rest-apis/c_AttachmentAPI.html):
 *   `POST /api/now/attachment/file?table_name=&table_sys_id=&file_name=` with the bytes as the body and the file's
 *   Content-Type (mandatory) → 201 with the metadata and `Location`; 400 when a mandatory parameter is missing; 404 when
 *   the record does not exist or is not accessible. `GET /api/now/attachment?sysparm_query=…` lists metadata,
 *   `GET /api/now/attachment/{sys_id}[/file]`, `DELETE /api/now/attachment/{sys_id}` → 204. Deleting a record deletes
 *   its attachments (store.ts) [inferred: the platform's cascade of sys_attachment rows].
 * - Keystore validation: the docs validate a keystore with the form's "Validate Stores/Certificates" UI action, which has
 *   no REST equivalent (`platform-administration/dynamic-translation/attach-jks-google-translator`). What a REST client
 *   can observe is modelled: once a PKCS12 `sys_certificate` has an attachment and its key store password, the instance
 *   parses it and fills `expires`, `valid_from`, `subject`, `issuer` [inferred]; an unreadable store or a wrong
 *   password leaves them empty (not valid).
 * - KB1217702: one active but invalid `sys_certificate` makes connection tests fail, also unrelated ones
 *   (https://support.servicenow.com/kb?id=kb_article_view&sysparm_article=KB1217702): modelled by `outboundAssertion`
 *   refusing while any active PKCS12 certificate is invalid.
 * - Outbound assertion: what the instance does when it needs a token for an oauth_entity whose Send Credentials is
 *   "As Private Key JWT" (`platform-security/authentication/config-private-key-jwt-outbound-oauth`): provider → JWT key
 *   → keystore; an RS256 JWT with `kid` and `x5t` in the header, aud/iss/sub from the provider's claims, exp/iat/jti
 *   added (`platform-administration/config-jwt-credential-flow`). For a Workload Identity Connection (Brazil,
 *   `configure-wif-azure`, `workload-identity-federation`): signed with the instance's own key, iss = the instance URL,
 *   sub = the connection's subject, aud = `api://AzureADTokenExchange`; the public key is served at the issuer's
 *   `/.well-known/openid-configuration` and its `jwks_uri` (path [inferred]: the docs name no path).
 */
import { createHash, createPrivateKey, generateKeyPairSync, randomUUID, sign } from 'node:crypto';

import forge from 'node-forge';

import type { SandboxRequest, SandboxResponse } from '../core/types';
import { canRead, canWrite } from './acl';
import type { Caller } from './auth';
import { aclWriteFailed, methodNotAllowed, snError } from './errors';
import { matches, parseQuery } from './query';
import { releaseHas } from './release';
import { renderRow } from './render';
import { glideDateTime, type InstanceStore, type Row } from './store';

/** Label of the send_client_credentials_as choice for private-key JWT (its stored value is looked up, never assumed). */
export const PRIVATE_KEY_JWT_LABEL = 'As Private Key JWT';
export const WIF_TABLE = 'oauth_workload_identity_connection';
/** Entra's audience for federated assertions (https://learn.microsoft.com/graph/api/resources/federatedidentitycredential). */
export const AZURE_TOKEN_EXCHANGE = 'api://AzureADTokenExchange';
/** Where the instance publishes its JWKS [inferred path], relative to the instance (issuer) URL. */
export const JWKS_PATH = '/.well-known/jwks.json';

const JSON_HEADERS = { 'Content-Type': 'application/json;charset=UTF-8' };

const header = (req: SandboxRequest, name: string) => {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

// ------------------------------------------------------------------------------------------------------------------
// Attachment API

export interface AttachmentContext {
  store: InstanceStore;
  caller: Caller;
  base: string;
  deniedWrites: ReadonlySet<string>;
}

const metadata = (ctx: AttachmentContext, row: Row): Record<string, unknown> => ({
  ...renderRow(ctx.store, row, {
    base: ctx.base,
    table: 'sys_attachment',
    display: 'false',
    excludeReferenceLink: true,
  }),
  download_link: `${ctx.base}/api/now/attachment/${row.values.sys_id}/file`,
});

/** `/api/now[/v1]/attachment[/file | /{sys_id}[/file]]`, or undefined when the path is not the Attachment API. */
export function handleAttachment(
  req: SandboxRequest,
  rest: string,
  ctx: AttachmentContext,
): { response: SandboxResponse; touched?: string } | undefined {
  const m = /^\/api\/now(?:\/v1)?\/attachment(?:\/([^/]+))?(?:\/(file))?\/?$/.exec(rest);
  if (!m) return undefined;
  const [, first, file] = m;
  const method = req.method.toUpperCase();
  if (first === 'file' && !file) {
    if (method !== 'POST') return { response: methodNotAllowed() };
    return upload(req, ctx);
  }
  if (!first) {
    if (method !== 'GET') return { response: methodNotAllowed() };
    const parsed = parseQuery('sys_attachment', req.query.get('sysparm_query') ?? '');
    const limit = Number(req.query.get('sysparm_limit') ?? '1000') || 1000;
    const rows = ctx.store
      .rowsOf('sys_attachment')
      .filter((r) => matches(ctx.store, r, parsed) && canRead(ctx.caller, r.values.table_name))
      .slice(0, limit);
    return { response: { status: 200, headers: JSON_HEADERS, body: { result: rows.map((r) => metadata(ctx, r)) } } };
  }
  const row = ctx.store.get(first);
  const visible = row && row.table === 'sys_attachment' && canRead(ctx.caller, row.values.table_name);
  if (!visible) return { response: snError(404, "Record doesn't exist or ACL restricts the record retrieval", null) };
  if (method === 'GET' && file)
    return {
      response: {
        status: 200,
        headers: { 'Content-Type': row.values.content_type || 'application/octet-stream' },
        body: ctx.store.file(first) ?? Buffer.alloc(0),
      },
    };
  if (method === 'GET')
    return { response: { status: 200, headers: JSON_HEADERS, body: { result: metadata(ctx, row) } } };
  if (method === 'DELETE' && !file) {
    if (ctx.deniedWrites.has('sys_attachment') || !canWrite(ctx.caller, row.values.table_name))
      return { response: aclWriteFailed('Delete') };
    ctx.store.delete(first);
    return { response: { status: 204 }, touched: row.values.table_sys_id };
  }
  return { response: methodNotAllowed() };
}

function upload(req: SandboxRequest, ctx: AttachmentContext): { response: SandboxResponse; touched?: string } {
  const table = req.query.get('table_name') ?? '';
  const sysId = req.query.get('table_sys_id') ?? '';
  const fileName = req.query.get('file_name') ?? '';
  const contentType = header(req, 'content-type');
  if (!table || !sysId || !fileName)
    return {
      response: snError(400, 'Bad Request', 'Missing mandatory parameter table_name, table_sys_id or file_name'),
    };
  // "This header is mandatory to post file attachments" (c_AttachmentAPI) [wording inferred].
  if (!contentType) return { response: snError(400, 'Bad Request', 'Content-Type header is required') };
  const target = ctx.store.get(sysId);
  if (!target || !ctx.store.rowsOf(table).includes(target) || !canRead(ctx.caller, table))
    return { response: snError(404, 'Not Found', "Record doesn't exist or ACL restricts the record retrieval") };
  if (ctx.deniedWrites.has('sys_attachment') || !canWrite(ctx.caller, table))
    return { response: aclWriteFailed('Insert') };
  const row = ctx.store.insert(
    'sys_attachment',
    {
      file_name: fileName,
      table_name: table,
      table_sys_id: sysId,
      content_type: contentType,
      size_bytes: String(req.body.length),
      size_compressed: String(req.body.length),
      hash: createHash('sha256').update(req.body).digest('hex'),
    },
    { inputDisplayValue: false, user: ctx.caller.userName },
  );
  ctx.store.putFile(row.values.sys_id, Buffer.from(req.body));
  return {
    response: {
      status: 201,
      headers: { ...JSON_HEADERS, Location: `${ctx.base}/api/now/attachment/${row.values.sys_id}` },
      body: { result: metadata(ctx, row) },
    },
    touched: sysId,
  };
}

// ------------------------------------------------------------------------------------------------------------------
// Keystores

interface Parsed {
  cert: forge.pki.Certificate;
  key?: forge.pki.rsa.PrivateKey;
}

/** Parsed stores by (content, password) digest: parsing a PBE-protected store in JS takes about a second. */
const parsedCache = new Map<string, Parsed | undefined>();

/** The single entry of a PKCS12 store, or undefined when it cannot be read with `password`. */
export function readPkcs12(bytes: Buffer, password: string): Parsed | undefined {
  const id = createHash('sha256').update(bytes).update('\0').update(password).digest('hex');
  if (parsedCache.has(id)) return parsedCache.get(id);
  const parsed = parsePkcs12(bytes, password);
  if (parsedCache.size > 200) parsedCache.clear();
  parsedCache.set(id, parsed);
  return parsed;
}

function parsePkcs12(bytes: Buffer, password: string): Parsed | undefined {
  try {
    const asn1 = forge.asn1.fromDer(forge.util.createBuffer(bytes.toString('binary')));
    const p12 = forge.pkcs12.pkcs12FromAsn1(asn1, false, password);
    const cert = p12.getBags({ bagType: forge.pki.oids.certBag })[forge.pki.oids.certBag]?.[0]?.cert;
    const keyBag =
      p12.getBags({ bagType: forge.pki.oids.pkcs8ShroudedKeyBag })[forge.pki.oids.pkcs8ShroudedKeyBag]?.[0] ??
      p12.getBags({ bagType: forge.pki.oids.keyBag })[forge.pki.oids.keyBag]?.[0];
    if (!cert) return undefined;
    return { cert, ...(keyBag?.key ? { key: keyBag.key } : {}) };
  } catch {
    return undefined;
  }
}

const dn = (attrs: forge.pki.CertificateField[]) =>
  attrs.map((a) => `${a.shortName ?? a.name ?? a.type}=${String(a.value)}`).join(', ');

/** The oldest attachment of a record (the instance reads the first keystore attached). */
export function firstAttachment(store: InstanceStore, sysId: string): Row | undefined {
  return store
    .rowsOf('sys_attachment')
    .filter((r) => r.values.table_sys_id === sysId)
    .sort((a, b) =>
      `${a.values.sys_created_on}|${a.values.sys_id}`.localeCompare(`${b.values.sys_created_on}|${b.values.sys_id}`),
    )[0];
}

/** Parses a PKCS12 certificate's store and fills (or clears) what the instance reports about it. */
export function validateCertificate(store: InstanceStore, sysId: string): void {
  const row = store.get(sysId);
  if (!row || row.table !== 'sys_certificate' || row.values.type !== 'pkcs12_key_store') return;
  const attachment = firstAttachment(store, sysId);
  const bytes = attachment ? store.file(attachment.values.sys_id) : undefined;
  const password = store.secret(sysId, 'key_store_password');
  const parsed = bytes && password !== undefined ? readPkcs12(bytes, password) : undefined;
  const facts = parsed
    ? {
        expires: glideDateTime(parsed.cert.validity.notAfter.getTime()),
        valid_from: glideDateTime(parsed.cert.validity.notBefore.getTime()),
        subject: dn(parsed.cert.subject.attributes),
        issuer: dn(parsed.cert.issuer.attributes),
        expires_in: String(
          Math.max(0, Math.floor((parsed.cert.validity.notAfter.getTime() - Date.now()) / 86_400_000)),
        ),
      }
    : { expires: '', valid_from: '', subject: '', issuer: '', expires_in: '' };
  Object.assign(row.values, facts);
}

/** True when a PKCS12 certificate's store was read (its facts are filled). */
export const certificateValid = (row: Row): boolean =>
  row.values.type !== 'pkcs12_key_store' || row.values.expires !== '';

// ------------------------------------------------------------------------------------------------------------------
// Business rules run after writes

/** What the instance does after a write touching `sysId` (a record, or the record an attachment belongs to). */
export function afterWrite(store: InstanceStore, sysId: string | undefined): void {
  if (!sysId) return;
  const row = store.get(sysId);
  if (row?.table === 'sys_certificate') validateCertificate(store, sysId);
  if (row?.table === WIF_TABLE && !row.values.oauth_entity) wifConnectionCreated(store, row);
}

/**
 * The Workload Identity Connection's business rules: create the OAuth entity (client credentials to Azure) and its
 * profile, and link them (`configure-wif-azure`: "Business rules automatically create the underlying OAuth entity and
 * OAuth entity profile").
 */
function wifConnectionCreated(store: InstanceStore, conn: Row): void {
  const sys = { inputDisplayValue: true, user: 'system' };
  const tokenUrl =
    conn.values.azure_url_override || `https://login.microsoftonline.com/${conn.values.tenant_id}/oauth2/v2.0/token`;
  const entity = store.insert(
    'oauth_entity',
    {
      name: conn.values.name,
      type: 'oauth_provider',
      client_id: conn.values.client_id,
      default_grant_type: 'client_credentials',
      token_url: tokenUrl,
      active: 'true',
    },
    sys,
  );
  store.insert(
    'oauth_entity_profile',
    {
      name: `${conn.values.name} default_profile`,
      oauth_entity: entity.values.sys_id,
      grant_type: 'client_credentials',
      default: 'true',
    },
    sys,
  );
  conn.values.oauth_entity = entity.values.sys_id;
}

// ------------------------------------------------------------------------------------------------------------------
// The instance's own signing key (Workload Identity Federation)

export interface InstanceKey {
  kid: string;
  privatePem: string;
  jwk: Record<string, unknown>;
}

export function newInstanceKey(): InstanceKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = publicKey.export({ format: 'jwk' }) as Record<string, unknown>;
  // RFC 7638 thumbprint as the kid.
  const kid = createHash('sha256')
    .update(JSON.stringify({ e: jwk.e, kty: jwk.kty, n: jwk.n }))
    .digest('base64url');
  return {
    kid,
    privatePem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    jwk: { ...jwk, kid, use: 'sig', alg: 'RS256' },
  };
}

/** The OpenID configuration and JWKS the instance serves from Brazil on (public, no authentication). */
export function handleWellKnown(
  rest: string,
  store: InstanceStore,
  key: InstanceKey,
  issuer: string,
): SandboxResponse | undefined {
  if (rest !== '/.well-known/openid-configuration' && rest !== JWKS_PATH) return undefined;
  if (!releaseHas(store.release, 'brazil')) return undefined;
  if (rest === JWKS_PATH) return { status: 200, headers: JSON_HEADERS, body: { keys: [key.jwk] } };
  return {
    status: 200,
    headers: JSON_HEADERS,
    body: {
      issuer,
      jwks_uri: `${issuer}${JWKS_PATH}`,
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['id_token'],
      subject_types_supported: ['public'],
    },
  };
}

// ------------------------------------------------------------------------------------------------------------------
// Outbound assertions

export interface OutboundAssertion {
  kind: 'certificate' | 'federated';
  clientId: string;
  tokenUrl: string;
  assertion: string;
}

const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

function signJwt(header: Record<string, unknown>, claims: Record<string, unknown>, privatePem: string): string {
  const input = `${b64url({ alg: 'RS256', typ: 'JWT', ...header })}.${b64url(claims)}`;
  const signature = sign('RSA-SHA256', Buffer.from(input), createPrivateKey(privatePem)).toString('base64url');
  return `${input}.${signature}`;
}

/** The stored value of a choice by its label, as the platform resolves a form's selection. */
export const choiceValue = (store: InstanceStore, table: string, element: string, label: string): string | undefined =>
  store
    .rowsOf('sys_choice')
    .find((r) => r.values.name === table && r.values.element === element && r.values.label === label)?.values.value;

/** How an oauth_entity authenticates to its provider: a client secret, a private key JWT, or federation (WIF). */
export function credentialModeOf(store: InstanceStore, entitySysId: string): 'secret' | 'certificate' | 'federated' {
  if (releaseHas(store.release, 'brazil') && store.rowsOf(WIF_TABLE).some((r) => r.values.oauth_entity === entitySysId))
    return 'federated';
  const jwtValue = choiceValue(store, 'oauth_entity', 'send_client_credentials_as', PRIVATE_KEY_JWT_LABEL);
  const entity = store.get(entitySysId);
  return jwtValue && entity?.values.send_client_credentials_as === jwtValue ? 'certificate' : 'secret';
}

/**
 * What the instance signs when it needs a token for `entitySysId` (see the module comment). Throws with the reason the
 * instance's connection test would give when it cannot.
 */
export function outboundAssertion(
  store: InstanceStore,
  entitySysId: string,
  opts: { issuer: string; key: InstanceKey; nowMs: number },
): OutboundAssertion {
  const entity = store.get(entitySysId);
  if (!entity || !store.rowsOf('oauth_entity').includes(entity)) throw new Error(`no oauth_entity ${entitySysId}`);
  const broken = store.rowsOf('sys_certificate').filter((c) => c.values.active === 'true' && !certificateValid(c));
  if (broken.length)
    throw new Error(`active certificate(s) ${broken.map((c) => c.values.name).join(', ')} invalid (KB1217702)`);
  const now = Math.floor(opts.nowMs / 1000);
  const times = { iat: now, nbf: now, exp: now + 300, jti: randomUUID() };

  const conn = releaseHas(store.release, 'brazil')
    ? store.rowsOf(WIF_TABLE).find((r) => r.values.oauth_entity === entitySysId)
    : undefined;
  if (conn)
    return {
      kind: 'federated',
      clientId: conn.values.client_id,
      tokenUrl: entity.values.token_url,
      assertion: signJwt(
        { kid: opts.key.kid },
        { iss: opts.issuer, sub: conn.values.subject, aud: AZURE_TOKEN_EXCHANGE, ...times },
        opts.key.privatePem,
      ),
    };

  const jwtValue = choiceValue(store, 'oauth_entity', 'send_client_credentials_as', PRIVATE_KEY_JWT_LABEL);
  if (!jwtValue || entity.values.send_client_credentials_as !== jwtValue)
    throw new Error(`oauth_entity ${entity.values.name} does not send credentials as a private key JWT`);
  const provider = store.get(entity.values.jwt_provider ?? '');
  if (!provider || provider.values.active !== 'true') throw new Error('no active JWT provider on the oauth_entity');
  const jwtKey = store.get(provider.values.jwt_keystore_aliases ?? '');
  if (!jwtKey || jwtKey.values.active !== 'true') throw new Error('the JWT provider has no active JWT key');
  const cert = store.get(jwtKey.values.signing_keystore ?? '');
  if (!cert || cert.values.active !== 'true' || !certificateValid(cert))
    throw new Error('the JWT key has no active, valid signing keystore');
  const attachment = firstAttachment(store, cert.values.sys_id);
  const bytes = attachment ? store.file(attachment.values.sys_id) : undefined;
  const keyPassword = store.secret(jwtKey.values.sys_id, 'signing_key_password');
  const parsed = bytes && keyPassword !== undefined ? readPkcs12(bytes, keyPassword) : undefined;
  if (!parsed?.key) throw new Error("the signing key cannot be read with the JWT key's signing key password");
  const claims = Object.fromEntries(
    store
      .rowsOf('jwt_claim_validation')
      .filter((r) => r.values.jwt_provider === provider.values.sys_id)
      .map((r) => [r.values.name, r.values.value]),
  );
  const header: Record<string, unknown> = {};
  if (jwtKey.values.kid) header.kid = jwtKey.values.kid;
  if (jwtKey.values.certificate_thumbprint) header.x5t = jwtKey.values.certificate_thumbprint;
  return {
    kind: 'certificate',
    clientId: entity.values.client_id,
    tokenUrl: entity.values.token_url,
    assertion: signJwt(header, { ...claims, ...times }, forge.pki.privateKeyToPem(parsed.key)),
  };
}
