/**
 * Activity `ensureAppSecret`: one live client secret per app, added through Graph `addPassword` and written straight
 * to Key Vault in the same activity; only the secret's name, version, keyId and expiry leave it.
 *
 * What it reuses (a re-run, or a repeated execution of the activity, must not add a second credential):
 * - Provisioning (any operation that is not a rotation's) adopts the credential that is current: the newest enabled
 *   Key Vault version whose `keyId` tag is a credential still on the app, whichever run or operation wrote it (e.g.
 *   the rotation that retired the provisioning credential). It adds a credential only when there is none.
 * - A rotation (`rotate-YYYYMMDD`, src/rotation/ids.ts) must add a NEW credential next to the current one: it reuses
 *   only a version of its own operation, written by an earlier execution of the same rotation.
 *
 * Ownership is recorded, never inferred from times: every version written carries the tags {integrationId, role,
 * appId, appObjectId, keyId, operation, runId} (runId = the orchestration instance id). `created` is true exactly when
 * the version returned was written by this run, so a repeated execution still reports what its run added, and false
 * for what it adopted. Whether the whole secret is this run's is decided by compensation from the same tags (every
 * version written by this run; src/activities/compensate.ts), so nothing here needs to know whether the secret
 * existed before the write. (Versions written by earlier releases may also carry a `secretCreated` tag; it is no
 * longer written nor read.)
 *
 * Concurrency: two executions for one (integration, role) may run at once (at-least-once delivery, a host restart).
 * A lease on (integrationId, role) is claimed before anything is read (src/registry/leases.ts); the loser throws a
 * retriable error, and its durable retry then finds and adopts the winner's credential.
 *
 * Leftovers:
 * - A credential of this operation without any Key Vault version is what a run that died between addPassword and
 *   setSecret leaves behind; its value is lost, so it is removed (removePassword) and a new one added. A credential
 *   younger than IN_FLIGHT_GRACE_MS may belong to a writer whose lease expired while it was still writing: the
 *   activity then throws a retriable error instead of racing it.
 * - Key Vault 409 ObjectIsDeletedButRecoverable on set: recover the deleted secret, then set (never purge;
 *   https://learn.microsoft.com/azure/key-vault/general/soft-delete-overview). The recovered secret's older versions
 *   carry no runId of this run, so compensation keeps the secret.
 * - addPassword refused for the tenant's lifetime policy (400 CredentialInvalidLifetimeAsPerAppPolicy; the message is
 *   "Credential lifetime exceeds the max value allowed as per assigned policy '<id>'",
 *   https://github.com/Azure/azure-cli/issues/28522):
 *   retried once with the policy's maximum when the message states one, else a failure.
 */
import type { SecretProperties } from '@azure/keyvault-secrets';

import { toKeyVaultError } from '../clients/keyvault';
import { answered, ensureErrorType, ExternalServiceError, httpStatusOf } from '../lib/errors';
import { registerSecret } from '../lib/redact';
import { underLease } from './lease';
import type { EnsureAppSecretInput, Failure, Outcome, SecretResult } from '../contracts/provision';
import { listVersions } from './rotation-common';
import type { Deps } from '../app/deps';
import { credentialDisplayName } from './entra-graph';
import { failureOrThrow, retriable } from './failures';
import { graphCall } from '../clients/graph';
import { type ActivityLog, logLine } from './log';

/** How long a credential without a Key Vault version is presumed to be in flight (another run is writing it). */
export const IN_FLIGHT_GRACE_MS = 30_000;

export const SECRET_CONTENT_TYPE = 'text/plain; entra-client-secret';

const DAY_MS = 24 * 3600 * 1000;

/**
 * Key Vault secret names: 1–127 of `0-9a-zA-Z-`, starting with a letter
 * (https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules#microsoftkeyvault).
 */
const SECRET_NAME = /^[A-Za-z][A-Za-z0-9-]{0,126}$/;

interface GraphPasswordCredential {
  keyId: string;
  displayName: string | null;
  startDateTime: string | null;
  endDateTime: string | null;
}

interface AddedPassword extends GraphPasswordCredential {
  secretText: string;
}

const inputFailure = (message: string): { ok: false; failure: Failure } => ({
  ok: false,
  failure: { service: 'input', code: 'InvalidInput', message },
});

async function readCredentials(deps: Deps, appObjectId: string): Promise<GraphPasswordCredential[]> {
  const res = await graphCall<{ passwordCredentials?: GraphPasswordCredential[] }>(
    deps.graph,
    'GET',
    `/applications/${encodeURIComponent(appObjectId)}?$select=id,appId,passwordCredentials`,
  );
  return res.body?.passwordCredentials ?? [];
}

async function removePassword(deps: Deps, appObjectId: string, keyId: string): Promise<void> {
  try {
    await graphCall(deps.graph, 'POST', `/applications/${encodeURIComponent(appObjectId)}/removePassword`, { keyId });
  } catch (err) {
    // Already gone: Graph answers 400 for an unknown keyId (the sandbox models it so; undocumented).
    if (httpStatusOf(err) === 400 && (err as ExternalServiceError).code === 'Request_BadRequest') return;
    throw err;
  }
}

/** A maximum lifetime stated in the policy error (ISO 8601 `P90D` or "90 days"), in days. */
export function policyMaxDays(message: string): number | undefined {
  const iso = /\bP(\d+)D\b/.exec(message);
  if (iso) return Number(iso[1]);
  const words = /\b(\d+)\s*days?\b/i.exec(message);
  return words ? Number(words[1]) : undefined;
}

async function addPassword(
  deps: Deps,
  input: EnsureAppSecretInput,
  log: ActivityLog | undefined,
): Promise<AddedPassword | { failure: Failure }> {
  // Whole seconds: Key Vault keeps expiresOn in Unix seconds, so the first run and a re-run report the same instant.
  const start = new Date(Math.floor(deps.now().getTime() / 1000) * 1000);
  const attempt = (days: number) =>
    graphCall<AddedPassword>(deps.graph, 'POST', `/applications/${encodeURIComponent(input.appObjectId)}/addPassword`, {
      passwordCredential: {
        displayName: credentialDisplayName(input.operation),
        startDateTime: start.toISOString(),
        endDateTime: new Date(start.getTime() + days * DAY_MS).toISOString(),
      },
    });
  try {
    return await attemptOrLifetimeRetry(attempt, input.lifetimeDays, log);
  } catch (err) {
    const e = ensureErrorType(err);
    // No answer (timeout, reset): the credential may have been added anyway, and its value is lost to us. Give it one
    // deadline to land, then remove what this attempt added (our marker and this attempt's start instant).
    if (!answered(e)) await removeLateCredential(deps, input, start, log);
    if (e instanceof ExternalServiceError && e.status === 403)
      return {
        failure: failureOrThrow(
          e,
          `The app's identity must own application ${input.appObjectId} to add a secret (Application.ReadWrite.OwnedBy)`,
        ),
      };
    return { failure: failureOrThrow(e) };
  }
}

async function removeLateCredential(
  deps: Deps,
  input: EnsureAppSecretInput,
  start: Date,
  log: ActivityLog | undefined,
): Promise<void> {
  await new Promise((r) => setTimeout(r, deps.config.graph.timeoutMs));
  const displayName = credentialDisplayName(input.operation);
  try {
    for (const c of await readCredentials(deps, input.appObjectId))
      if (c.displayName === displayName && c.startDateTime && Date.parse(c.startDateTime) === start.getTime()) {
        logLine(log, 'warn', `ensureAppSecret ${input.role}: removing credential ${c.keyId} added without an answer`);
        await removePassword(deps, input.appObjectId, c.keyId);
      }
  } catch {
    // The next attempt finds it (a marked credential without a Key Vault version) and removes it then.
  }
}

async function disableLateVersions(
  deps: Deps,
  secretName: string,
  keyId: string,
  log: ActivityLog | undefined,
): Promise<void> {
  await new Promise((r) => setTimeout(r, deps.config.keyVault.timeoutMs));
  try {
    for (const v of await listVersions(deps, secretName))
      if (v.enabled !== false && v.version && sameKeyId(v.tags?.[TAG.keyId], keyId)) {
        logLine(
          log,
          'warn',
          `ensureAppSecret: disabling version ${v.version} of ${secretName} written without an answer`,
        );
        await deps.secrets.updateSecretProperties(secretName, v.version, { enabled: false });
      }
  } catch {
    // Reported by the next attempt or the health check; the credential itself is already removed.
  }
}

async function attemptOrLifetimeRetry(
  attempt: (days: number) => Promise<{ body: AddedPassword | undefined }>,
  days: number,
  log: ActivityLog | undefined,
): Promise<AddedPassword> {
  let res;
  try {
    res = await attempt(days);
  } catch (err) {
    const e = ensureErrorType(err);
    const max = e instanceof ExternalServiceError && e.status === 400 ? policyMaxDays(e.message) : undefined;
    if (e.code !== 'CredentialInvalidLifetimeAsPerAppPolicy' || max === undefined || max >= days) throw e;
    logLine(log, 'warn', `addPassword: lifetime ${days} d refused by the tenant policy; retrying with ${max} d`);
    res = await attempt(max);
  }
  const pc = res.body;
  if (!pc?.keyId || typeof pc.secretText !== 'string')
    throw new ExternalServiceError({
      service: 'graph',
      code: 'UnexpectedResponse',
      message: 'Graph addPassword answered without keyId or secretText',
      retriable: false,
    });
  registerSecret(pc.secretText);
  return pc;
}

const isDeletedButRecoverable = (err: unknown): boolean => {
  const e = err as { statusCode?: unknown; code?: unknown; message?: unknown; details?: unknown };
  if (e?.statusCode !== 409) return false;
  const inner = (e.details as { error?: { innererror?: { code?: unknown } } } | undefined)?.error?.innererror?.code;
  return (
    inner === 'ObjectIsDeletedButRecoverable' ||
    e.code === 'ObjectIsDeletedButRecoverable' ||
    (typeof e.message === 'string' && e.message.includes('deleted but recoverable'))
  );
};

/**
 * setSecret; on a soft-deleted name recover it first (never purge), then set. Returns the new version's properties.
 * The recovered secret keeps its older versions (not this run's), which is what keeps compensation from deleting it.
 */
async function setSecret(
  deps: Deps,
  name: string,
  value: string,
  options: { tags: Record<string, string>; expiresOn: Date },
  log: ActivityLog | undefined,
): Promise<SecretProperties> {
  const opts = { ...options, contentType: SECRET_CONTENT_TYPE };
  try {
    return (await deps.secrets.setSecret(name, value, opts)).properties;
  } catch (err) {
    if (!isDeletedButRecoverable(err)) throw toKeyVaultError(err, `set secret '${name}'`);
  }
  logLine(log, 'warn', `Key Vault secret '${name}' is soft-deleted: recovering it before writing a new version`);
  try {
    const poller = await deps.secrets.beginRecoverDeletedSecret(name);
    await poller.pollUntilDone();
    return (await deps.secrets.setSecret(name, value, opts)).properties;
  } catch (err) {
    throw toKeyVaultError(err, `recover and set secret '${name}'`);
  }
}

const iso = (d: Date | string | null | undefined) => (d ? new Date(d).toISOString() : '');

/** The Key Vault tags ensureAppSecret writes on every version (read by rotation, the sweep and compensation). */
export const TAG = {
  integrationId: 'integrationId',
  role: 'role',
  appId: 'appId',
  appObjectId: 'appObjectId',
  keyId: 'keyId',
  operation: 'operation',
  /** The orchestration instance id of the run that wrote the version. */
  runId: 'runId',
} as const;

/** How long the lease on (integrationId, role) lasts; the activity normally finishes in seconds. */
export const SECRET_LEASE_MS = 60_000;
export const SECRET_LEASE_SCOPE = 'app-secret';

/**
 * Whether an operation must add a credential of its own (a rotation, named by rotationOperation in
 * src/rotation/ids.ts) rather than adopt the current one (provisioning).
 */
export const addsOwnCredential = (operation: string): boolean => /^rotate-/.test(operation);

const sameKeyId = (a: string | undefined, b: string | undefined) =>
  a !== undefined && b !== undefined && a.toLowerCase() === b.toLowerCase();

const newestFirst = (a: SecretProperties, b: SecretProperties) =>
  (b.createdOn?.getTime() ?? 0) - (a.createdOn?.getTime() ?? 0);

export async function ensureAppSecret(
  input: EnsureAppSecretInput,
  deps: Deps,
  log?: ActivityLog,
): Promise<Outcome<SecretResult>> {
  if (!SECRET_NAME.test(input.secretName))
    return inputFailure(`'${input.secretName}' is not a valid Key Vault secret name`);
  if (!Number.isInteger(input.lifetimeDays) || input.lifetimeDays < 1)
    return inputFailure(`secret lifetime must be a whole number of days >= 1, got ${input.lifetimeDays}`);
  if (!input.operation) return inputFailure('operation is required');
  if (!input.instanceId) return inputFailure('instanceId (the run id) is required');
  try {
    return await underLease(
      deps,
      {
        scope: SECRET_LEASE_SCOPE,
        key: [input.integrationId, input.role],
        ttlMs: SECRET_LEASE_MS,
        owner: input.instanceId,
        busyCode: 'SecretWriteInProgress',
        busy: (heldBy) =>
          `another execution (${heldBy}) is writing the client secret of ${input.role} for ` +
          `${input.integrationId}; retry after it finished`,
        what: `ensureAppSecret ${input.role}`,
      },
      () => ensureUnderLease(input, deps, log),
      log,
    );
  } catch (err) {
    return { ok: false, failure: failureOrThrow(err) };
  }
}

/** The scope of the write-ahead markers: one per application object, taken once and never released. */
export const SECRET_MARKER_SCOPE = 'app-secret-first-write';
/** Never expires in practice (a lease store row whose expiry is a century away). */
const MARKER_TTL_MS = 100 * 365 * 24 * 3600_000;

/**
 * Claims the application's write-ahead marker (a row of the leases table, under the secret lease): true only for the
 * first execution ever to ask for this application object, before any credential can have been added to it.
 */
async function claimFirstWrite(deps: Deps, input: EnsureAppSecretInput): Promise<boolean> {
  const claim = await deps.leases.acquire(
    SECRET_MARKER_SCOPE,
    [input.integrationId, input.role, input.appObjectId],
    MARKER_TTL_MS,
    input.instanceId,
  );
  return claim.ok;
}

async function ensureUnderLease(
  input: EnsureAppSecretInput,
  deps: Deps,
  log: ActivityLog | undefined,
): Promise<Outcome<SecretResult>> {
  const displayName = credentialDisplayName(input.operation);
  const ownOnly = addsOwnCredential(input.operation);
  // Independent reads: at once. Every execution claims the application's write-ahead marker before it may add a
  // credential. An application ensureApp created bare in this run has none until the first claimant adds one: when
  // that is this execution, it knows the list without reading it (a Graph read less on the way of every first
  // provisioning). Any other execution (a retry of the activity, an overlapping run, a rotation) finds the marker
  // taken and reads the credentials, as idempotency needs.
  const first = await claimFirstWrite(deps, input);
  const bare = input.appCreatedBare === true && first;
  // Bare, nothing can be reused or be an orphan (both need a credential on the app), so the Key Vault versions are not
  // listed either: whether the secret existed before this write does not matter here (compensation decides from the
  // versions' runId tags whether the whole secret is this run's).
  const [credentials, versions] = bare
    ? [[] as GraphPasswordCredential[], [] as SecretProperties[]]
    : await Promise.all([readCredentials(deps, input.appObjectId), listVersions(deps, input.secretName)]);
  // A credential that has expired is not live, even while it is still listed on the app (Entra keeps expired
  // credentials until they are removed): adopting it would leave the integration with a secret that no longer works.
  const nowMs = deps.now().getTime();
  const live = (v: SecretProperties) =>
    v.enabled !== false &&
    credentials.some(
      (c) => sameKeyId(c.keyId, v.tags?.[TAG.keyId]) && (!c.endDateTime || Date.parse(c.endDateTime) > nowMs),
    );
  const reusable = versions
    .filter(live)
    .filter(
      (v) =>
        !ownOnly || (v.tags?.[TAG.operation] === input.operation && v.tags?.[TAG.appObjectId] === input.appObjectId),
    )
    .sort(newestFirst);

  // Credentials of this operation with no version at all: the value is lost (a run died before setSecret).
  const orphans = credentials.filter(
    (c) => c.displayName === displayName && !versions.some((v) => sameKeyId(v.tags?.[TAG.keyId], c.keyId)),
  );
  const now = deps.now().getTime();
  const inFlight = orphans.filter(
    (c) => now - (c.startDateTime ? Date.parse(c.startDateTime) : 0) < IN_FLIGHT_GRACE_MS,
  );
  if (inFlight.length && !reusable.length)
    throw retriable(
      'CredentialWriteInProgress',
      `a credential of operation '${input.operation}' was added ${Math.round((now - Date.parse(inFlight[0].startDateTime ?? '')) / 1000)} s ago and has no Key Vault version yet`,
    );
  for (const o of orphans.filter((c) => !inFlight.includes(c))) {
    logLine(log, 'warn', `ensureAppSecret ${input.role}: removing credential ${o.keyId} whose value was never stored`);
    await removePassword(deps, input.appObjectId, o.keyId);
  }

  const found = reusable[0];
  if (found) {
    const created = found.tags?.[TAG.runId] === input.instanceId;
    logLine(
      log,
      'info',
      `ensureAppSecret ${input.role}: ${created ? "reusing this run's" : 'adopting the current'} credential ` +
        `${found.tags?.[TAG.keyId]} (${input.secretName} version ${found.version})`,
    );
    return {
      ok: true,
      role: input.role,
      secretName: input.secretName,
      version: found.version ?? '',
      keyId: found.tags?.[TAG.keyId] ?? '',
      expiresOn: iso(found.expiresOn),
      ...(found.createdOn ? { createdOn: iso(found.createdOn) } : {}),
      created,
    };
  }

  const added = await addPassword(deps, input, log);
  if ('failure' in added) return { ok: false, failure: added.failure };
  const expiresOn = new Date(added.endDateTime ?? deps.now());
  let props: SecretProperties;
  try {
    props = await setSecret(
      deps,
      input.secretName,
      added.secretText,
      {
        expiresOn,
        tags: {
          [TAG.integrationId]: input.integrationId,
          [TAG.role]: input.role,
          [TAG.appId]: input.appId,
          [TAG.appObjectId]: input.appObjectId,
          [TAG.keyId]: added.keyId,
          [TAG.operation]: input.operation,
          [TAG.runId]: input.instanceId,
        },
      },
      log,
    );
  } catch (err) {
    // The value exists nowhere else: drop the credential now (a re-run would otherwise find and remove it).
    await removePassword(deps, input.appObjectId, added.keyId).catch(() =>
      logLine(log, 'warn', `ensureAppSecret ${input.role}: could not remove unstored credential ${added.keyId}`),
    );
    // Without an answer the version may still land (a dead credential as the newest version): give it one deadline,
    // then disable whatever version carries that credential.
    if (!answered(err)) await disableLateVersions(deps, input.secretName, added.keyId, log);
    throw err;
  }
  logLine(log, 'info', `ensureAppSecret ${input.role}: credential ${added.keyId} stored as ${input.secretName}`);
  return {
    ok: true,
    role: input.role,
    secretName: input.secretName,
    version: props.version ?? '',
    keyId: added.keyId,
    expiresOn: expiresOn.toISOString(),
    ...(props.createdOn ? { createdOn: iso(props.createdOn) } : {}),
    created: true,
  };
}
