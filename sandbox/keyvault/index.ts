import type { SandboxClock } from '../core/clock';
import type { Jwk } from '../core/jwt';
import type { SandboxRequest, SandboxResponse, StandIn } from '../core/types';
import { authenticate } from './auth';
import { CertificateStore, type CertificateOptions } from './certificates';
import { newGuid } from '../core/random';
import { faultResponse, kvError } from './errors';
import * as op from './operations';
import { apiVersion } from './params';
import { dataActionOf, forbiddenByRbac, RoleAssignments, type KeyVaultRole } from './rbac';
import { SecretStore, type NewVersion } from './store';
import type { RecoveryPolicy } from './wire';

export { challengeHeader, VAULT_APP_ID, VAULT_RESOURCE } from './auth';
export { API_VERSIONS } from './params';
export { FUNCTION_IDENTITY_VAULT_ROLES, type KeyVaultRole } from './rbac';

export interface KeyVaultOptions {
  /** Soft-delete retention (7–90 days; default 90). */
  recoverableDays?: number;
  /**
   * The vault's DeletionRecoveryLevel. Default: `Recoverable+Purgeable` at 90 days, `CustomizedRecoverable+Purgeable`
   * below (swagger DeletionRecoveryLevel). A level without `Purgeable` (purge protection) refuses purges.
   */
  recoveryLevel?: string;
  /** Certificates: how long a create operation stays `inProgress` (certificates.ts). */
  certificates?: CertificateOptions;
}

export interface KeyVaultDeps {
  clock: SandboxClock;
  tenantId: string;
  /** Entra's current signing keys, to verify bearer tokens. */
  signingKeys: () => Jwk[];
  /** Entra stand-in origin, named in the 401 challenge's `authorization` parameter. */
  authorityOrigin: () => string;
  origin: () => string;
}

export interface KeyVaultStandIn extends StandIn {
  /** Test/demo seeding, bypassing auth (e.g. the ServiceNow admin credentials a deployer stores). */
  seedSecret(name: string, value: string, tags?: Record<string, string>): void;
  /** Seeding with attributes (epoch seconds, as the vault stores them); returns the new version's id. */
  seedSecretVersion(
    name: string,
    value: string,
    attributes?: {
      tags?: Record<string, string>;
      contentType?: string;
      exp?: number;
      nbf?: number;
      /** When the version was created (epoch seconds; default now): a credential written long ago. */
      created?: number;
    },
  ): string;
  /**
   * Azure RBAC on the vault (rbac.ts): the built-in roles of the app `appId`; `undefined` lifts the restriction
   * (callers never assigned a role have full access, as before roles were modelled).
   */
  assignRoles(appId: string, roles: KeyVaultRole[] | undefined): void;
}

function recoveryPolicy(opts: KeyVaultOptions): RecoveryPolicy {
  const recoverableDays = opts.recoverableDays ?? 90;
  if (!Number.isInteger(recoverableDays) || recoverableDays < 7 || recoverableDays > 90)
    throw new RangeError(`recoverableDays must be 7..90, got ${recoverableDays}`);
  const recoveryLevel =
    opts.recoveryLevel ?? (recoverableDays < 90 ? 'CustomizedRecoverable+Purgeable' : 'Recoverable+Purgeable');
  return { recoveryLevel, recoverableDays };
}

/** Unknown routes and methods [inferred: the vault's front door answers 404 / 405 with its envelope]. */
const notFound = (): SandboxResponse => kvError(404, 'NotFound', 'The requested resource was not found.');
const methodNotAllowed = (method: string): SandboxResponse =>
  kvError(405, 'MethodNotAllowed', `The requested method ${method} is not allowed for this resource.`);

/**
 * The service version a vault reports in `x-ms-keyvault-service-version` (a value seen in the recorded responses of
 * Azure/azure-sdk-for-js `sdk/keyvault/keyvault-secrets/recordings`; it changes with every service deployment).
 */
export const SERVICE_VERSION = '1.2.265.0';
/** The region the stand-in's vault reports (`x-ms-keyvault-region`). */
const REGION = 'westeurope';
/** The vault's name in RBAC messages. */
const VAULT_NAME = 'kv-sandbox';

const headerValue = (req: SandboxRequest | undefined, name: string) => {
  const v = req?.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

/**
 * Headers every vault response carries, success or error, as the recorded responses in Azure/azure-sdk-for-js
 * (`sdk/keyvault/keyvault-secrets/recordings`, 200, 204 and 401 alike) show them: `Cache-Control: no-cache`,
 * `Pragma: no-cache`, `Expires: -1`, a fresh `x-ms-request-id`, the caller's `x-ms-client-request-id` echoed when it
 * sent one, `x-ms-keyvault-region`, `x-ms-keyvault-service-version` and `x-ms-keyvault-network-info`. The SDK lists the
 * three `x-ms-keyvault-*` names among the headers it logs (`@azure/keyvault-secrets` SecretClient, logging options).
 */
export function vaultHeaders(req?: SandboxRequest): Record<string, string> {
  const clientRequestId = headerValue(req, 'x-ms-client-request-id');
  const addr = req?.remoteAddress.replace(/^::ffff:/, '') || '127.0.0.1';
  return {
    'Cache-Control': 'no-cache',
    Pragma: 'no-cache',
    Expires: '-1',
    'x-ms-keyvault-region': REGION,
    ...(clientRequestId ? { 'x-ms-client-request-id': clientRequestId } : {}),
    'x-ms-request-id': newGuid(),
    'x-ms-keyvault-service-version': SERVICE_VERSION,
    'x-ms-keyvault-network-info': `conn_type=Ipv4;addr=${addr};act_addr_fam=InterNetwork;`,
    'X-Content-Type-Options': 'nosniff',
    'Strict-Transport-Security': 'max-age=31536000;includeSubDomains',
  };
}

const withVaultHeaders = (res: SandboxResponse, req?: SandboxRequest): SandboxResponse => ({
  ...res,
  headers: { ...vaultHeaders(req), ...(res.headers ?? {}) },
});

const segmentsOf = (req: SandboxRequest) => req.path.replace(/^\/+/, '').replace(/\/$/, '').split('/');

/** Certificates and the keys and secrets they manage (certificates.ts); undefined for the other routes. */
function routeCertificates(
  ctx: op.OpContext,
  certs: CertificateStore,
  req: SandboxRequest,
): SandboxResponse | Promise<SandboxResponse> | undefined {
  const [collection, name, third, fourth, ...rest] = segmentsOf(req);
  const m = req.method;
  if (!name || rest.length) return undefined;
  if (collection === 'certificates' && name !== 'issuers' && name !== 'contacts') {
    if (third === 'create') return m === 'POST' ? certs.create(ctx, req, name) : methodNotAllowed(m);
    if (fourth !== undefined) return notFound();
    if (third === 'pending') return m === 'GET' ? certs.operation(ctx, name) : methodNotAllowed(m);
    if (third === 'policy') return m === 'GET' || m === 'PATCH' ? certs.policy(ctx, req, name) : methodNotAllowed(m);
    if (third === 'versions') return m === 'GET' ? certs.listVersions(ctx, req, name) : methodNotAllowed(m);
    if (m === 'PATCH') return certs.update(ctx, req, name, third);
    return m === 'GET' ? certs.get(ctx, name, third) : methodNotAllowed(m);
  }
  if (collection === 'keys') {
    if (fourth === 'sign' && third) return m === 'POST' ? certs.sign(ctx, req, name, third) : methodNotAllowed(m);
    if (fourth === undefined && third !== 'versions')
      return m === 'GET' ? certs.key(ctx, name, third) : methodNotAllowed(m);
    return notFound();
  }
  // The secret of a certificate is managed by it (about-certificates "Composition of a Certificate").
  if (collection === 'secrets' && m === 'GET' && third !== 'versions' && fourth === undefined && certs.has(name))
    return certs.secret(ctx, name, third);
  return undefined;
}

/** Maps `/{collection}/{name}/{rest}` onto the data-plane operations of secrets-7.5.json. */
function route(ctx: op.OpContext, req: SandboxRequest): SandboxResponse {
  // `/secrets/{name}/` (the SDK's get-latest, trailing slash) equals `/secrets/{name}`.
  const segments = segmentsOf(req);
  const [collection, name, third, ...rest] = segments;
  const m = req.method;
  if (rest.length) return notFound();
  if (collection === 'secrets') {
    if (name === undefined || name === '') return m === 'GET' ? op.listSecrets(ctx, req) : methodNotAllowed(m);
    if (third === undefined) {
      if (m === 'PUT') return op.setSecret(ctx, req, name);
      if (m === 'GET') return op.getSecret(ctx, name);
      if (m === 'DELETE') return op.deleteSecret(ctx, name);
      return methodNotAllowed(m);
    }
    if (third === 'versions' && m === 'GET') return op.listVersions(ctx, req, name);
    if (m === 'GET') return op.getSecret(ctx, name, third);
    if (m === 'PATCH') return op.updateSecret(ctx, req, name, third);
    return methodNotAllowed(m);
  }
  if (collection === 'deletedsecrets') {
    if (name === undefined || name === '') return m === 'GET' ? op.listDeletedSecrets(ctx, req) : methodNotAllowed(m);
    if (third === undefined) {
      if (m === 'GET') return op.getDeletedSecret(ctx, name);
      if (m === 'DELETE') return op.purgeDeletedSecret(ctx, name);
      return methodNotAllowed(m);
    }
    if (third === 'recover') return m === 'POST' ? op.recoverDeletedSecret(ctx, name) : methodNotAllowed(m);
  }
  return notFound();
}

/** The redacted journal body: a PUT's `value` becomes `[redacted]`; tags, contentType and attributes stay. */
function redact(req: SandboxRequest): unknown {
  if (!req.body.length) return undefined;
  const parsed = JSON.parse(req.body.toString('utf8')) as unknown;
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return '[body]';
  const body = parsed as Record<string, unknown>;
  return 'value' in body ? { ...body, value: '[redacted]' } : body;
}

/** Azure Key Vault secrets data plane (docs/reference/microsoft.md, the Key Vault sections), over one vault. */
export function createKeyVault(deps: KeyVaultDeps, opts: KeyVaultOptions = {}): KeyVaultStandIn {
  const policy = recoveryPolicy(opts);
  const store = new SecretStore(policy.recoverableDays);
  const certs = new CertificateStore(opts.certificates);
  const roles = new RoleAssignments();
  return {
    service: 'keyvault',
    async handle(req, hctx) {
      // Auth first: the SDK's first call per client carries neither token nor body and must get the challenge.
      const auth = await authenticate(req, {
        tenantId: deps.tenantId,
        authorityOrigin: deps.authorityOrigin(),
        keys: deps.signingKeys(),
        now: hctx.clock.seconds(),
      });
      if (!auth.ok) return withVaultHeaders(auth.response, req);
      hctx.setAuthSubject(auth.subject);
      const version = apiVersion(req);
      if (!version.ok) return withVaultHeaders(version.response, req);
      const segments = segmentsOf(req);
      const action = dataActionOf(req.method, segments);
      const caller = auth.subject.replace(/^app:/, '');
      if (action && !roles.allows(caller, action))
        return withVaultHeaders(forbiddenByRbac(caller, action, segments.slice(0, 2).join('/'), VAULT_NAME), req);
      const ctx = { store, origin: deps.origin(), policy, now: hctx.clock.seconds(), apiVersion: version.value };
      return withVaultHeaders((await routeCertificates(ctx, certs, req)) ?? route(ctx, req), req);
    },
    redactRequestBody: redact,
    faultResponse: (status, headers) => withVaultHeaders(faultResponse(status, headers)),
    reset: () => {
      store.clear();
      certs.clear();
      roles.clear();
    },
    assignRoles: (appId, assigned) => roles.assign(appId, assigned),
    seedSecret(name, value, tags) {
      const input: NewVersion = { value, ...(tags ? { tags } : {}) };
      const existing = store.find(name, deps.clock.seconds());
      if (existing?.deleted) store.purge(existing);
      store.addVersion(name, input, deps.clock.seconds());
    },
    seedSecretVersion(name, value, attributes = {}) {
      const existing = store.find(name, deps.clock.seconds());
      if (existing?.deleted) store.purge(existing);
      const { created, ...rest } = attributes;
      const { version } = store.addVersion(name, { value, ...rest }, deps.clock.seconds());
      if (created !== undefined) version.created = version.updated = created;
      return version.version;
    },
  };
}
