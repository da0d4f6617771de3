/**
 * Key Vault certificates, with the key and the secret of the same name that every certificate has
 * (https://learn.microsoft.com/azure/key-vault/certificates/about-certificates): the data-plane operations
 * `@azure/keyvault-certificates` 4.10.3 and `@azure/keyvault-keys` 4.10.2 call (api/operations.js of each package),
 * wire shapes of the REST reference (https://learn.microsoft.com/rest/api/keyvault/certificates, .../keys/sign).
 *
 * Modelled: create (202 + the pending operation; self-signed issuer `Self` only; RSA 2048/3072/4096; exportable,
 * reuse_key), the operation (`inProgress` → `completed`), get (latest / version), list versions, get/update policy,
 * the secret (PFX or PEM; the private key only when the policy is exportable, about-certificates "Exportable or
 * non-exportable key"), the key (get; `sign` RS256/384/512 and PS256/384/512 over a digest). Real RSA keys and real
 * self-signed X.509 certificates (node:crypto keys, node-forge certificates and PKCS#12).
 * Not modelled: CA issuers, merge, import, delete/recover of certificates, EC keys, listing all certificates.
 */
import {
  constants,
  createHash,
  createPublicKey,
  generateKeyPair,
  privateEncrypt,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import { promisify } from 'node:util';

import forge from 'node-forge';

import type { SandboxRequest, SandboxResponse } from '../core/types';
import { badParameter, kvError } from './errors';
import { encodeSkipToken, page, secretName } from './params';
import { newVersionId } from './store';
import type { RecoveryPolicy } from './wire';

const generateRsa = promisify(generateKeyPair);

type Json = Record<string, unknown>;

/** The policy as the vault stores and returns it (snake_case wire names of `CertificatePolicy`). */
export interface WirePolicy {
  key_props: { exportable: boolean; kty: string; key_size: number; reuse_key: boolean };
  secret_props: { contentType: string };
  x509_props: { subject: string; ekus: string[]; key_usage: string[]; validity_months: number; sans?: Json };
  lifetime_actions: { trigger: { lifetime_percentage?: number; days_before_expiry?: number }; action: Json }[];
  issuer: { name: string };
  attributes: { enabled: boolean; created: number; updated: number };
}

interface CertVersion {
  version: string;
  der: Buffer;
  key: KeyObject;
  exportable: boolean;
  contentType: string;
  tags?: Record<string, string>;
  enabled: boolean;
  nbf: number;
  exp: number;
  created: number;
  updated: number;
}

interface Operation {
  requestId: string;
  version: string;
  status: 'inProgress' | 'completed';
  csr: string;
  created: number;
  /** Reads of the operation left before it completes. */
  readsLeft: number;
  key: KeyObject;
  policy: WirePolicy;
  tags?: Record<string, string>;
  enabled: boolean;
}

interface CertEntry {
  name: string;
  versions: CertVersion[];
  policy: WirePolicy;
  operation?: Operation;
}

export interface CertificateOptions {
  /**
   * How many reads of a create operation answer `inProgress` before it is `completed` (default 1). A real vault
   * takes a few seconds for a self-signed certificate; an operation nobody reads completes after
   * `completeAfterSeconds` (default 10) of sandbox time all the same.
   */
  operationReads?: number;
  completeAfterSeconds?: number;
}

export interface CertContext {
  origin: string;
  policy: RecoveryPolicy;
  now: number;
  apiVersion: string;
}

const ok = (body: unknown, status = 200): SandboxResponse => ({ status, body });

/**
 * 404s: `CertificateNotFound` / `KeyNotFound` with the vault's wording for secrets (errors.ts), which Azure SDK
 * recordings show for certificates and keys too ("A certificate with (name/id) … was not found in this key vault").
 */
const notFound = (kind: 'certificate' | 'key' | 'secret', nameOrId: string): SandboxResponse =>
  kvError(
    404,
    kind === 'certificate' ? 'CertificateNotFound' : kind === 'key' ? 'KeyNotFound' : 'SecretNotFound',
    `A ${kind} with (name/id) ${nameOrId} was not found in this key vault. If you recently deleted this ${kind} you ` +
      'may be able to recover it using the correct recovery command. For help resolving this issue, please see ' +
      'https://go.microsoft.com/fwlink/?linkid=2125182',
  );

/**
 * A create while an operation is pending: 409 (azure-sdk-for-python#13289: "Key Vault will respond 409 if a create
 * request for a certificate arrives while a prior operation on that cert is still pending"; the wording follows the
 * recorded ones for update/delete of a pending certificate, azure-sdk-for-js#35011 and #24086).
 */
const pendingConflict = (id: string): SandboxResponse =>
  kvError(
    409,
    'Conflict',
    `There was a conflict while creating the pending certificate '${id}'. This can happen when multiple ` +
      'operations are performed in parallel against the pending certificate. To avoid this error, perform ' +
      'operations against the pending certificate in a sequential manner.',
  );

const KEY_SIZES = [2048, 3072, 4096];
/** Self-signed defaults when the policy names none [inferred from `az keyvault certificate get-default-policy`]. */
const DEFAULT_EKUS = ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'];
const DEFAULT_KEY_USAGE = ['digitalSignature', 'keyEncipherment'];
const CONTENT_TYPES = ['application/x-pkcs12', 'application/x-pem-file'];

function parseJson(req: SandboxRequest): Json | SandboxResponse {
  try {
    const parsed = JSON.parse(req.body.toString('utf8') || '{}') as unknown;
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed as Json;
  } catch {
    /* below */
  }
  return badParameter('The request body is not valid JSON.'); // [inferred]
}

const isResponse = (x: unknown): x is SandboxResponse =>
  typeof x === 'object' && x !== null && 'status' in x && typeof (x as SandboxResponse).status === 'number';

function tagsOf(body: Json): Record<string, string> | undefined | SandboxResponse {
  const tags = body.tags;
  if (tags === undefined || tags === null) return undefined;
  if (typeof tags !== 'object' || Array.isArray(tags) || Object.values(tags).some((t) => typeof t !== 'string'))
    return badParameter('Tags must be a map of string keys to string values.'); // [inferred]
  return { ...(tags as Record<string, string>) };
}

/** Merges a requested policy onto the current one (or the defaults) and validates it. Messages [inferred]. */
function mergePolicy(raw: unknown, current: WirePolicy | undefined, now: number): WirePolicy | SandboxResponse {
  if (raw !== undefined && (typeof raw !== 'object' || raw === null)) return badParameter('Policy is invalid.');
  const p = (raw ?? {}) as Json;
  const key = { ...(current?.key_props ?? {}), ...((p.key_props as Json | undefined) ?? {}) } as Json;
  const x509 = { ...(current?.x509_props ?? {}), ...((p.x509_props as Json | undefined) ?? {}) } as Json;
  const issuer = { ...(current?.issuer ?? {}), ...((p.issuer as Json | undefined) ?? {}) } as Json;
  const secret = { ...(current?.secret_props ?? {}), ...((p.secret_props as Json | undefined) ?? {}) } as Json;
  const issuerName = issuer.name ?? 'Unknown';
  if (issuerName !== 'Self')
    // The stand-in issues self-signed certificates only; a real vault also takes `Unknown` (CSR + merge) and CAs.
    return badParameter(`The issuer ${JSON.stringify(issuerName)} is not supported by this vault.`);
  const kty = key.kty ?? 'RSA';
  if (kty !== 'RSA') return badParameter(`Key type ${JSON.stringify(kty)} is not supported by this vault.`);
  const keySize = key.key_size ?? 2048;
  if (typeof keySize !== 'number' || !KEY_SIZES.includes(keySize))
    return badParameter(`Invalid key size ${JSON.stringify(keySize)}. The key size must be 2048, 3072 or 4096.`);
  const subject = x509.subject;
  if (typeof subject !== 'string' || !/^\s*[A-Za-z]+\s*=/.test(subject))
    return badParameter('The certificate policy must specify a subject (for example CN=contoso.com).');
  const months = x509.validity_months ?? 12;
  if (typeof months !== 'number' || !Number.isInteger(months) || months < 1 || months > 1200)
    return badParameter('validity_months must be an integer between 1 and 1200.');
  const contentType = secret.contentType ?? 'application/x-pkcs12';
  if (typeof contentType !== 'string' || !CONTENT_TYPES.includes(contentType))
    return badParameter(`The content type ${JSON.stringify(contentType)} is not supported.`);
  const actions = (p.lifetime_actions ??
    current?.lifetime_actions ?? [
      // The service's default for a self-signed certificate without lifetime actions [inferred].
      { trigger: { lifetime_percentage: 80 }, action: { action_type: 'AutoRenew' } },
    ]) as WirePolicy['lifetime_actions'];
  if (!Array.isArray(actions)) return badParameter('lifetime_actions must be an array.');
  for (const a of actions) {
    const t = a?.trigger ?? {};
    const kinds = [t.lifetime_percentage, t.days_before_expiry].filter((v) => v !== undefined && v !== null);
    const type = (a?.action as Json | undefined)?.action_type;
    if (kinds.length !== 1 || (type !== 'EmailContacts' && type !== 'AutoRenew'))
      return badParameter('Each lifetime action needs exactly one trigger and an action_type.');
  }
  return {
    key_props: {
      exportable: key.exportable === true,
      kty: 'RSA',
      key_size: keySize,
      reuse_key: key.reuse_key === true,
    },
    secret_props: { contentType },
    x509_props: {
      subject,
      ekus: (x509.ekus as string[] | undefined) ?? DEFAULT_EKUS,
      key_usage: (x509.key_usage as string[] | undefined) ?? DEFAULT_KEY_USAGE,
      validity_months: months,
      ...(x509.sans ? { sans: x509.sans as Json } : {}),
    },
    lifetime_actions: actions.map((a) => ({
      trigger: Object.fromEntries(Object.entries(a.trigger).filter(([, v]) => v !== undefined && v !== null)),
      action: { action_type: a.action.action_type },
    })),
    issuer: { name: 'Self' },
    attributes: { enabled: true, created: current?.attributes.created ?? now, updated: now },
  };
}

/** `CN=a, O=b` → forge attributes (RFC 4514 order, no escaping beyond what the stand-in needs). */
function subjectAttributes(subject: string): forge.pki.CertificateField[] {
  return subject
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const i = part.indexOf('=');
      return { shortName: part.slice(0, i).trim(), value: part.slice(i + 1).trim() };
    });
}

const forgeKey = (key: KeyObject) =>
  forge.pki.privateKeyFromPem(key.export({ type: 'pkcs1', format: 'pem' }).toString());

function addMonths(seconds: number, months: number): number {
  const d = new Date(seconds * 1000);
  d.setUTCMonth(d.getUTCMonth() + months);
  return Math.floor(d.getTime() / 1000);
}

/** A self-signed X.509 v3 certificate over `key`, valid from `nbf` for the policy's months (SHA-256 with RSA). */
function selfSigned(key: KeyObject, policy: WirePolicy, nbf: number): { der: Buffer; exp: number } {
  const fkey = forgeKey(key);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(fkey.n, fkey.e);
  // A positive 16-byte serial (RFC 5280 section 4.1.2.2).
  cert.serialNumber = `01${randomBytes(15).toString('hex')}`;
  const exp = addMonths(nbf, policy.x509_props.validity_months);
  cert.validity.notBefore = new Date(nbf * 1000);
  cert.validity.notAfter = new Date(exp * 1000);
  const name = subjectAttributes(policy.x509_props.subject);
  cert.setSubject(name);
  cert.setIssuer(name);
  const usage = new Set(policy.x509_props.key_usage);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    {
      name: 'keyUsage',
      critical: true,
      digitalSignature: usage.has('digitalSignature'),
      keyEncipherment: usage.has('keyEncipherment'),
      dataEncipherment: usage.has('dataEncipherment'),
      keyAgreement: usage.has('keyAgreement'),
    },
    {
      name: 'extKeyUsage',
      serverAuth: policy.x509_props.ekus.includes('1.3.6.1.5.5.7.3.1'),
      clientAuth: policy.x509_props.ekus.includes('1.3.6.1.5.5.7.3.2'),
    },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(fkey, forge.md.sha256.create());
  return { der: Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(cert)).getBytes(), 'binary'), exp };
}

/** A PKCS#10 request for the pending operation's `csr` (the public key and subject; the vault returns one too). */
function csrOf(key: KeyObject, subject: string): string {
  const fkey = forgeKey(key);
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forge.pki.setRsaPublicKey(fkey.n, fkey.e);
  csr.setSubject(subjectAttributes(subject));
  csr.sign(fkey, forge.md.sha256.create());
  return Buffer.from(forge.asn1.toDer(forge.pki.certificationRequestToAsn1(csr)).getBytes(), 'binary').toString(
    'base64',
  );
}

/** The secret value: base64 PFX without a password (empty), or PEM; the key only when exportable. */
function secretValue(v: CertVersion): string {
  const cert = forge.pki.certificateFromAsn1(forge.asn1.fromDer(v.der.toString('binary')));
  if (v.contentType === 'application/x-pem-file') {
    const keyPem = v.exportable ? v.key.export({ type: 'pkcs8', format: 'pem' }).toString() : '';
    return keyPem + forge.pki.certificateToPem(cert);
  }
  const p12 = forge.pkcs12.toPkcs12Asn1(v.exportable ? forgeKey(v.key) : null, [cert], '', { algorithm: '3des' });
  return Buffer.from(forge.asn1.toDer(p12).getBytes(), 'binary').toString('base64');
}

const x5t = (der: Buffer) => createHash('sha1').update(der).digest('base64url');

/** DigestInfo prefixes of RSASSA-PKCS1-v1_5 (RFC 8017 section 9.2, note 1). */
const DIGEST_INFO: Record<number, string> = {
  32: '3031300d060960864801650304020105000420',
  48: '3041300d060960864801650304020205000430',
  64: '3051300d060960864801650304020305000440',
};
const HASHES: Record<string, { hash: string; length: number; pss: boolean }> = {
  RS256: { hash: 'sha256', length: 32, pss: false },
  RS384: { hash: 'sha384', length: 48, pss: false },
  RS512: { hash: 'sha512', length: 64, pss: false },
  PS256: { hash: 'sha256', length: 32, pss: true },
  PS384: { hash: 'sha384', length: 48, pss: true },
  PS512: { hash: 'sha512', length: 64, pss: true },
};

/** MGF1 (RFC 8017 appendix B.2.1). */
function mgf1(seed: Buffer, length: number, hash: string): Buffer {
  const out: Buffer[] = [];
  for (let i = 0; Buffer.concat(out).length < length; i++) {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(i);
    out.push(createHash(hash).update(seed).update(c).digest());
  }
  return Buffer.concat(out).subarray(0, length);
}

/** EMSA-PSS-ENCODE (RFC 8017 section 9.1.1) with a salt as long as the hash, as Key Vault's PS* use. */
function pssEncode(mHash: Buffer, modBits: number, hash: string): Buffer {
  const hLen = mHash.length;
  const emBits = modBits - 1;
  const emLen = Math.ceil(emBits / 8);
  const salt = randomBytes(hLen);
  const h = createHash(hash)
    .update(Buffer.concat([Buffer.alloc(8), mHash, salt]))
    .digest();
  const db = Buffer.concat([Buffer.alloc(emLen - 2 * hLen - 2), Buffer.from([1]), salt]);
  const mask = mgf1(h, emLen - hLen - 1, hash);
  const masked = Buffer.from(db.map((b, i) => b ^ mask[i]));
  masked[0] &= 0xff >> (8 * emLen - emBits);
  return Buffer.concat([masked, h, Buffer.from([0xbc])]);
}

/** Signs a digest the way Key Vault's `sign` does: RSASSA-PKCS1-v1_5 or RSASSA-PSS over the given hash value. */
export function signDigest(key: KeyObject, alg: string, digest: Buffer): Buffer | undefined {
  const h = HASHES[alg];
  if (!h || digest.length !== h.length) return undefined;
  if (!h.pss)
    return privateEncrypt(
      { key, padding: constants.RSA_PKCS1_PADDING },
      Buffer.concat([Buffer.from(DIGEST_INFO[h.length], 'hex'), digest]),
    );
  const modBits = key.asymmetricKeyDetails?.modulusLength ?? 2048;
  const k = Math.ceil(modBits / 8);
  const em = pssEncode(digest, modBits, h.hash);
  return privateEncrypt({ key, padding: constants.RSA_NO_PADDING }, Buffer.concat([Buffer.alloc(k - em.length), em]));
}

/** The certificates of one vault, their keys and secrets. */
export class CertificateStore {
  private readonly entries = new Map<string, CertEntry>();

  constructor(private readonly opts: CertificateOptions = {}) {}

  private find(name: string): CertEntry | undefined {
    return this.entries.get(name.toLowerCase());
  }

  /** Whether a certificate (live, or its first version pending) holds this name: its secret and key are managed. */
  has(name: string): boolean {
    return this.find(name) !== undefined;
  }

  clear(): void {
    this.entries.clear();
  }

  /** Completes the operation when its reads are used up or its time has come. */
  private settle(e: CertEntry, now: number, read: boolean): void {
    const op = e.operation;
    if (!op || op.status !== 'inProgress') return;
    const due = now >= op.created + (this.opts.completeAfterSeconds ?? 10);
    if (!due) {
      if (!read) return;
      if (op.readsLeft > 0) {
        op.readsLeft -= 1;
        return;
      }
    }
    const nbf = op.created;
    const { der, exp } = selfSigned(op.key, op.policy, nbf);
    e.versions.push({
      version: op.version,
      der,
      key: op.key,
      exportable: op.policy.key_props.exportable,
      contentType: op.policy.secret_props.contentType,
      ...(op.tags ? { tags: op.tags } : {}),
      enabled: op.enabled,
      nbf,
      exp,
      created: now,
      updated: now,
    });
    op.status = 'completed';
  }

  private live(name: string, now: number): CertEntry | undefined {
    const e = this.find(name);
    if (e) this.settle(e, now, false);
    return e && e.versions.length ? e : undefined;
  }

  private version(e: CertEntry, version?: string): CertVersion | undefined {
    return version ? e.versions.find((v) => v.version === version.toLowerCase()) : e.versions[e.versions.length - 1];
  }

  private attributes(ctx: CertContext, v: CertVersion) {
    return {
      enabled: v.enabled,
      nbf: v.nbf,
      exp: v.exp,
      created: v.created,
      updated: v.updated,
      recoveryLevel: ctx.policy.recoveryLevel,
      recoverableDays: ctx.policy.recoverableDays,
    };
  }

  private policyBody(ctx: CertContext, e: CertEntry) {
    return { id: `${ctx.origin}/certificates/${e.name}/policy`, ...e.policy };
  }

  private bundle(ctx: CertContext, e: CertEntry, v: CertVersion, withPolicy: boolean) {
    return {
      id: `${ctx.origin}/certificates/${e.name}/${v.version}`,
      kid: `${ctx.origin}/keys/${e.name}/${v.version}`,
      sid: `${ctx.origin}/secrets/${e.name}/${v.version}`,
      x5t: x5t(v.der),
      cer: v.der.toString('base64'),
      attributes: this.attributes(ctx, v),
      ...(v.tags ? { tags: { ...v.tags } } : {}),
      ...(withPolicy ? { policy: this.policyBody(ctx, e) } : {}),
    };
  }

  private operationBody(ctx: CertContext, e: CertEntry, op: Operation) {
    return {
      id: `${ctx.origin}/certificates/${e.name}/pending`,
      issuer: { name: 'Self' },
      csr: op.csr,
      cancellation_requested: false,
      status: op.status,
      status_details:
        op.status === 'completed' ? '' : 'Pending certificate created. Certificate request is in progress.',
      ...(op.status === 'completed' ? { target: `${ctx.origin}/certificates/${e.name}` } : {}),
      request_id: op.requestId,
    };
  }

  /** POST /certificates/{name}/create → 202 and the pending operation. */
  async create(ctx: CertContext, req: SandboxRequest, rawName: string): Promise<SandboxResponse> {
    const name = secretName(rawName);
    if (!name.ok) return name.response;
    const body = parseJson(req);
    if (isResponse(body)) return body;
    const existing = this.find(name.value);
    if (existing) this.settle(existing, ctx.now, false);
    if (existing?.operation?.status === 'inProgress')
      return pendingConflict(`${ctx.origin}/certificates/${existing.name}/${existing.operation.version}`);
    const policy = mergePolicy(body.policy, existing?.policy, ctx.now);
    if (isResponse(policy)) return policy;
    const tags = tagsOf(body);
    if (isResponse(tags)) return tags;
    const attrs = (body.attributes ?? {}) as Json;
    const previous = existing?.versions[existing.versions.length - 1];
    const reuse =
      policy.key_props.reuse_key && previous?.key.asymmetricKeyDetails?.modulusLength === policy.key_props.key_size;
    const key = reuse
      ? previous.key
      : (await generateRsa('rsa', { modulusLength: policy.key_props.key_size })).privateKey;
    // Re-read: another create may have started while the key was generated.
    const entry = this.find(name.value) ?? { name: name.value, versions: [], policy };
    if (entry.operation?.status === 'inProgress')
      return pendingConflict(`${ctx.origin}/certificates/${entry.name}/${entry.operation.version}`);
    entry.policy = policy;
    entry.operation = {
      requestId: newVersionId(),
      version: newVersionId(),
      status: 'inProgress',
      csr: csrOf(key, policy.x509_props.subject),
      created: ctx.now,
      readsLeft: this.opts.operationReads ?? 1,
      key,
      policy,
      ...(tags ? { tags } : {}),
      enabled: attrs.enabled !== false,
    };
    this.entries.set(name.value.toLowerCase(), entry);
    return ok(this.operationBody(ctx, entry, entry.operation), 202);
  }

  /** GET /certificates/{name}/pending. */
  operation(ctx: CertContext, rawName: string): SandboxResponse {
    const e = this.find(rawName);
    if (!e?.operation) return notFound('certificate', rawName);
    this.settle(e, ctx.now, true);
    return ok(this.operationBody(ctx, e, e.operation));
  }

  /**
   * GET /certificates/{name}[/{version}]: the latest with its policy; a version without. While the first version is
   * being created the latest is that pending one: disabled, without `cer` and `x5t` [inferred: the SDK's
   * CertificateOperationPoller reads the certificate before its operation, which would fail on a 404].
   */
  get(ctx: CertContext, rawName: string, version?: string): SandboxResponse {
    const pending = this.find(rawName);
    if (pending) this.settle(pending, ctx.now, false);
    const op = pending?.operation;
    if (pending && op && !pending.versions.length && (!version || version.toLowerCase() === op.version))
      return ok({
        id: `${ctx.origin}/certificates/${pending.name}/${op.version}`,
        kid: `${ctx.origin}/keys/${pending.name}/${op.version}`,
        sid: `${ctx.origin}/secrets/${pending.name}/${op.version}`,
        attributes: {
          enabled: false,
          created: op.created,
          updated: op.created,
          recoveryLevel: ctx.policy.recoveryLevel,
          recoverableDays: ctx.policy.recoverableDays,
        },
        ...(op.tags ? { tags: { ...op.tags } } : {}),
        ...(version ? {} : { policy: this.policyBody(ctx, pending) }),
      });
    const e = this.live(rawName, ctx.now);
    const v = e && this.version(e, version);
    if (!e || !v) return notFound('certificate', version ? `${rawName}/${version}` : rawName);
    return ok(this.bundle(ctx, e, v, !version));
  }

  /**
   * PATCH /certificates/{name}/{version} (Update Certificate: the version's editable attributes and its tags; the
   * managed key and secret share the version's attributes here, https://learn.microsoft.com/rest/api/keyvault/certificates/update-certificate/update-certificate).
   */
  update(ctx: CertContext, req: SandboxRequest, rawName: string, version?: string): SandboxResponse {
    const e = this.live(rawName, ctx.now);
    const v = e && this.version(e, version);
    if (!e || !v) return notFound('certificate', version ? `${rawName}/${version}` : rawName);
    const body = parseJson(req);
    if (isResponse(body)) return body;
    const attributes = (body.attributes ?? {}) as { enabled?: unknown };
    if (attributes.enabled !== undefined && typeof attributes.enabled !== 'boolean')
      return badParameter('attributes.enabled must be a boolean.'); // [inferred wording]
    if (typeof attributes.enabled === 'boolean') v.enabled = attributes.enabled;
    if (body.tags !== undefined) v.tags = { ...(body.tags as Record<string, string>) };
    v.updated = ctx.now;
    return ok(this.bundle(ctx, e, v, !version));
  }

  /** GET /certificates/{name}/versions: `CertificateItem`s (id, x5t, attributes, tags), paged like secrets. */
  listVersions(ctx: CertContext, req: SandboxRequest, rawName: string): SandboxResponse {
    const p = page(req);
    if (!p.ok) return p.response;
    const e = this.live(rawName, ctx.now);
    const items = (e?.versions ?? []).map((v) => ({
      id: `${ctx.origin}/certificates/${e?.name}/${v.version}`,
      x5t: x5t(v.der),
      attributes: this.attributes(ctx, v),
      ...(v.tags ? { tags: { ...v.tags } } : {}),
    }));
    const { skip, top } = p.value;
    const more = skip + top < items.length;
    const nextLink = more
      ? `${ctx.origin}/certificates/${rawName}/versions?api-version=${ctx.apiVersion}` +
        `&$skiptoken=${encodeSkipToken(skip + top)}&maxresults=${top}`
      : null;
    return ok({ value: items.slice(skip, skip + top), nextLink });
  }

  /** GET / PATCH /certificates/{name}/policy. */
  async policy(ctx: CertContext, req: SandboxRequest, rawName: string): Promise<SandboxResponse> {
    const e = this.find(rawName);
    if (!e) return notFound('certificate', rawName);
    if (req.method === 'GET') return ok(this.policyBody(ctx, e));
    const body = parseJson(req);
    if (isResponse(body)) return body;
    const merged = mergePolicy(body, e.policy, ctx.now);
    if (isResponse(merged)) return merged;
    e.policy = merged;
    return ok(this.policyBody(ctx, e));
  }

  /** GET /secrets/{name}[/{version}] of a certificate: the managed secret (`kid`, `managed: true`). */
  secret(ctx: CertContext, rawName: string, version?: string): SandboxResponse {
    const e = this.live(rawName, ctx.now);
    const v = e && this.version(e, version);
    if (!e || !v) return notFound('secret', version ? `${rawName}/${version}` : rawName);
    return ok({
      value: secretValue(v),
      contentType: v.contentType,
      id: `${ctx.origin}/secrets/${e.name}/${v.version}`,
      kid: `${ctx.origin}/keys/${e.name}/${v.version}`,
      managed: true,
      attributes: this.attributes(ctx, v),
      ...(v.tags ? { tags: { ...v.tags } } : {}),
    });
  }

  private keyBody(ctx: CertContext, e: CertEntry, v: CertVersion) {
    const jwk = createPublicKey(v.key).export({ format: 'jwk' });
    return {
      key: {
        kid: `${ctx.origin}/keys/${e.name}/${v.version}`,
        kty: 'RSA',
        key_ops: ['sign', 'verify', 'wrapKey', 'unwrapKey', 'encrypt', 'decrypt'],
        n: jwk.n,
        e: jwk.e,
      },
      // [sandbox] @azure/keyvault-keys' CryptographyClient refuses locally to use a fetched key before its `nbf`,
      // judged by the process clock; virtual time (the sandbox clock moved ahead) would make a key created "now" look
      // not yet valid to it. The stand-in itself still refuses `sign` outside nbf..exp on the sandbox clock (below).
      attributes: {
        ...this.attributes(ctx, v),
        nbf: Math.min(v.nbf, Math.floor(Date.now() / 1000)),
        exportable: v.exportable,
      },
      ...(v.tags ? { tags: { ...v.tags } } : {}),
      managed: true,
    };
  }

  /** GET /keys/{name}[/{version}]: the public JWK of the certificate's key. */
  key(ctx: CertContext, rawName: string, version?: string): SandboxResponse {
    const e = this.live(rawName, ctx.now);
    const v = e && this.version(e, version);
    if (!e || !v) return notFound('key', version ? `${rawName}/${version}` : rawName);
    return ok(this.keyBody(ctx, e, v));
  }

  /** POST /keys/{name}/{version}/sign {alg, value: base64url digest} → {kid, value: base64url signature}. */
  sign(ctx: CertContext, req: SandboxRequest, rawName: string, version: string): SandboxResponse {
    const e = this.live(rawName, ctx.now);
    const v = e && this.version(e, version);
    if (!e || !v) return notFound('key', `${rawName}/${version}`);
    const body = parseJson(req);
    if (isResponse(body)) return body;
    if (typeof body.alg !== 'string' || !HASHES[body.alg])
      return badParameter(`Invalid algorithm '${String(body.alg)}' for an RSA key.`); // [inferred]
    if (!v.enabled) return kvError(403, 'Forbidden', 'Operation sign is not allowed on a disabled key.', 'KeyDisabled');
    if (v.exp <= ctx.now || v.nbf > ctx.now)
      // Date-time controlled operations: sign is refused outside nbf..exp (about-keys) [wording inferred].
      return kvError(403, 'Forbidden', 'Operation sign is not allowed on an expired or not yet valid key.');
    const digest = Buffer.from(typeof body.value === 'string' ? body.value : '', 'base64url');
    const signature = signDigest(v.key, body.alg, digest);
    if (!signature) return badParameter(`The digest length is invalid for the algorithm ${body.alg}.`); // [inferred]
    return ok({ kid: `${ctx.origin}/keys/${e.name}/${v.version}`, value: signature.toString('base64url') });
  }
}
