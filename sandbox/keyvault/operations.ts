import type { SandboxRequest, SandboxResponse } from '../core/types';
import { deletedButRecoverable, purgeNotAllowed, secretDisabled, secretNotFound } from './errors';
import { encodeSkipToken, page, secretName, setBody, updateBody, type Page } from './params';
import { currentVersion, findVersion, type SecretEntry, type SecretStore } from './store';
import { deletedSecretBundle, deletedSecretItem, secretBundle, secretItem, type RecoveryPolicy } from './wire';

/** What every operation needs: the store, the vault's origin, its recovery policy, "now" and the api-version. */
export interface OpContext {
  store: SecretStore;
  origin: string;
  policy: RecoveryPolicy;
  /** Epoch seconds on the sandbox clock. */
  now: number;
  apiVersion: string;
}

const ok = (body: unknown): SandboxResponse => ({ status: 200, body });

/** Soft delete applies unless the vault's level is plain `Purgeable` (DeletionRecoveryLevel in the swagger). */
const softDeletes = (policy: RecoveryPolicy) => policy.recoveryLevel.includes('Recoverable');
const purgeable = (policy: RecoveryPolicy) => policy.recoveryLevel.includes('Purgeable');

function listPage<T>(ctx: OpContext, req: SandboxRequest, path: string, items: T[]): SandboxResponse {
  const p = page(req);
  if (!p.ok) return p.response;
  const { skip, top }: Page = p.value;
  const slice = items.slice(skip, skip + top);
  const next = skip + top < items.length;
  // nextLink on the vault's own origin, carrying api-version, $skiptoken and maxresults (GetSecrets-example.json).
  const nextLink = next
    ? `${ctx.origin}${path}?api-version=${ctx.apiVersion}&$skiptoken=${encodeSkipToken(skip + top)}&maxresults=${top}`
    : null;
  return ok({ value: slice, nextLink });
}

/** PUT /secrets/{name}: every set adds a version (about-secrets). */
export function setSecret(ctx: OpContext, req: SandboxRequest, rawName: string): SandboxResponse {
  const name = secretName(rawName);
  if (!name.ok) return name.response;
  const body = setBody(req);
  if (!body.ok) return body.response;
  const existing = ctx.store.find(name.value, ctx.now);
  if (existing?.deleted) return deletedButRecoverable(existing.name);
  const { entry, version } = ctx.store.addVersion(name.value, body.value, ctx.now);
  return ok(secretBundle(ctx.origin, entry, version, ctx.policy, true));
}

/**
 * GET /secrets/{name}[/{version}]: a disabled version is refused with 403; expired or not-yet-valid versions are
 * served (about-secrets "Date-time controlled operations"; Azure/AzureKeyVault#19 shows a 200 for an expired one).
 */
export function getSecret(ctx: OpContext, rawName: string, version?: string): SandboxResponse {
  const name = secretName(rawName);
  if (!name.ok) return name.response;
  const entry = ctx.store.live(name.value, ctx.now);
  const v = entry && (version ? findVersion(entry, version) : currentVersion(entry));
  if (!entry || !v) return secretNotFound(version ? `${rawName}/${version}` : rawName);
  if (!v.enabled) return secretDisabled();
  return ok(secretBundle(ctx.origin, entry, v, ctx.policy, true));
}

/** PATCH /secrets/{name}/{version}: attributes, tags, contentType; answers without the value (UpdateSecret example). */
export function updateSecret(ctx: OpContext, req: SandboxRequest, rawName: string, version: string): SandboxResponse {
  const name = secretName(rawName);
  if (!name.ok) return name.response;
  const entry = ctx.store.live(name.value, ctx.now);
  const v = entry && findVersion(entry, version);
  if (!entry || !v) return secretNotFound(`${rawName}/${version}`);
  const body = updateBody(req);
  if (!body.ok) return body.response;
  ctx.store.update(v, body.value, ctx.now);
  return ok(secretBundle(ctx.origin, entry, v, ctx.policy, false));
}

/** GET /secrets/{name}/versions: properties only, versioned ids, paged. */
export function listVersions(ctx: OpContext, req: SandboxRequest, rawName: string): SandboxResponse {
  const name = secretName(rawName);
  if (!name.ok) return name.response;
  const entry = ctx.store.live(name.value, ctx.now);
  // An unknown name lists nothing rather than 404 (azure-sdk-for-js secrets test "can list secret versions (non existing)").
  const items = entry ? entry.versions.map((v) => secretItem(ctx.origin, entry, v, ctx.policy, true)) : [];
  return listPage(ctx, req, `/secrets/${rawName}/versions`, items);
}

/** GET /secrets: one item per live secret (its current version's properties), versionless ids, paged. */
export function listSecrets(ctx: OpContext, req: SandboxRequest): SandboxResponse {
  const items = ctx.store
    .list(ctx.now, 'live')
    .map((e) => secretItem(ctx.origin, e, currentVersion(e), ctx.policy, false));
  return listPage(ctx, req, '/secrets', items);
}

/** DELETE /secrets/{name}: soft delete, answering the DeletedSecretBundle (DeleteSecret example). */
export function deleteSecret(ctx: OpContext, rawName: string): SandboxResponse {
  const name = secretName(rawName);
  if (!name.ok) return name.response;
  const entry = ctx.store.live(name.value, ctx.now);
  if (!entry) return secretNotFound(rawName);
  if (!softDeletes(ctx.policy)) {
    const body = deletedSecretBundle(ctx.origin, entry, currentVersion(entry), ctx.policy);
    ctx.store.purge(entry);
    return ok(body);
  }
  ctx.store.softDelete(entry, ctx.now);
  return ok(deletedSecretBundle(ctx.origin, entry, currentVersion(entry), ctx.policy));
}

function deletedEntry(ctx: OpContext, rawName: string): SecretEntry | SandboxResponse {
  const name = secretName(rawName);
  if (!name.ok) return name.response;
  return ctx.store.deleted(name.value, ctx.now) ?? secretNotFound(rawName);
}

const isEntry = (x: SecretEntry | SandboxResponse): x is SecretEntry => 'versions' in x;

export function getDeletedSecret(ctx: OpContext, rawName: string): SandboxResponse {
  const e = deletedEntry(ctx, rawName);
  return isEntry(e) ? ok(deletedSecretBundle(ctx.origin, e, currentVersion(e), ctx.policy)) : e;
}

export function listDeletedSecrets(ctx: OpContext, req: SandboxRequest): SandboxResponse {
  const items = ctx.store
    .list(ctx.now, 'deleted')
    .map((e) => deletedSecretItem(ctx.origin, e, currentVersion(e), ctx.policy));
  return listPage(ctx, req, '/deletedsecrets', items);
}

/** POST /deletedsecrets/{name}/recover: back to live, answering the SecretBundle without value (example). */
export function recoverDeletedSecret(ctx: OpContext, rawName: string): SandboxResponse {
  const e = deletedEntry(ctx, rawName);
  if (!isEntry(e)) return e;
  ctx.store.recover(e);
  return ok(secretBundle(ctx.origin, e, currentVersion(e), ctx.policy, false));
}

/** DELETE /deletedsecrets/{name}: 204 (PurgeDeletedSecret example); refused when the level is not Purgeable. */
export function purgeDeletedSecret(ctx: OpContext, rawName: string): SandboxResponse {
  const e = deletedEntry(ctx, rawName);
  if (!isEntry(e)) return e;
  if (!purgeable(ctx.policy)) return purgeNotAllowed();
  ctx.store.purge(e);
  return { status: 204 };
}
