/**
 * The rotation sweep (docs/reference/rotation.md#requirements): reads the registry (active integrations) and, per
 * credential, the Key Vault version properties of its secret (tags, created, expires: `listPropertiesOfSecretVersions`
 * returns properties only, never a value) or, for an app whose credential is a certificate, of its Key Vault
 * certificate (`listPropertiesOfCertificateVersions`), and starts one rotation orchestration per integration with due
 * credentials. Federated credentials store nothing and are never due.
 *
 * A sweep that fails on one integration (Key Vault throttled, a record without a profile) reports it and goes on with
 * the others; the next sweep picks it up.
 */
import { orchestrationStatus } from '../lib/orchestration-status';
import type { DurableClient } from 'durable-functions';
import type { CertificateClient } from '@azure/keyvault-certificates';

import type { Deps } from '../app/deps';
import { toKeyVaultError } from '../clients/keyvault';
import { backoffDelay, parseRetryAfter, realSleep } from '../lib/backoff';
import { ensureErrorType } from '../lib/errors';
import type { RotationInput, RotationStatus } from '../orchestrators/rotation-types';
import { getProfile } from '../profiles';
import type { IntegrationRecord } from '../registry/types';
import {
  assessCertificate,
  assessCredential,
  type CredentialAssessment,
  type DueCredential,
  type VersionInfo,
} from './due';
import { yyyymmdd } from './ids';
import { rotationInput, runningRotations, startRotation, type StartResult } from './start';

export type SweepDeps = Pick<Deps, 'config' | 'registry' | 'secrets'> & {
  /** Key Vault certificates (apps whose credential is a certificate): version properties only. */
  certificates: Pick<CertificateClient, 'listPropertiesOfCertificateVersions'>;
};

export interface DueIntegration {
  integrationId: string;
  record: IntegrationRecord;
  /** Due roles, in the profile's order. */
  roles: string[];
  /** The earliest due instant of those roles: its UTC date names the instance and the operation. */
  dueDate: Date;
  credentials: DueCredential[];
}

export interface Reconcile {
  integrationId: string;
  role: string;
  registryKeyId?: string;
  latestKeyId: string;
  latestVersion: string;
  latestExpiresOn?: string;
  latestCreatedOn?: string;
  operation?: string;
}

export interface SweepProblem {
  integrationId: string;
  role?: string;
  reason: string;
}

export interface FindDueResult {
  /** Active integrations examined. */
  checked: number;
  due: DueIntegration[];
  /** Credentials a rotation already replaced (newer Key Vault version than the registry's): reconcile, don't rotate. */
  reconcile: Reconcile[];
  problems: SweepProblem[];
}

export interface IntegrationAssessment {
  credentials: CredentialAssessment[];
  problems: SweepProblem[];
}

/**
 * Lists again this many times when Key Vault still answers 429 after the SDK's own retries (3, each after the
 * answer's Retry-After): under sustained throttling a credential would otherwise go unassessed until the next day's
 * sweep. Each wait is the last answer's Retry-After (or a backoff without one), as Key Vault's throttling guidance asks
 * (https://learn.microsoft.com/azure/key-vault/general/overview-throttling).
 */
export const TRIAGE_THROTTLE_RETRIES = 3;
const THROTTLE_BACKOFF = { baseMs: 1000, maxMs: 10_000 };

/** The Retry-After of a failed SDK call (RestError `response.headers`), in ms. */
function retryAfterOf(err: unknown): number | undefined {
  const headers = (err as { response?: { headers?: { get?: (name: string) => string | undefined } } } | null)?.response
    ?.headers;
  return parseRetryAfter(typeof headers?.get === 'function' ? headers.get('retry-after') : undefined);
}

/** Every Key Vault version of a secret, properties only; empty when the name does not exist. */
export async function versionsOf(deps: Pick<Deps, 'secrets'>, secretName: string): Promise<VersionInfo[]> {
  return listWithRetry(`list versions of '${secretName}'`, () =>
    deps.secrets.listPropertiesOfSecretVersions(secretName),
  );
}

/** Every Key Vault version of a certificate, properties only (no key, no cer needed); empty when it does not exist. */
export async function certificateVersionsOf(
  deps: Pick<SweepDeps, 'certificates'>,
  certificateName: string,
): Promise<VersionInfo[]> {
  return listWithRetry(`list versions of certificate '${certificateName}'`, () =>
    deps.certificates.listPropertiesOfCertificateVersions(certificateName),
  );
}

interface ListedProperties {
  version?: string;
  enabled?: boolean;
  createdOn?: Date;
  expiresOn?: Date;
  tags?: Record<string, string>;
}

async function listWithRetry(what: string, list: () => AsyncIterable<ListedProperties>): Promise<VersionInfo[]> {
  for (let retry = 0; ; retry++) {
    const out: VersionInfo[] = [];
    try {
      for await (const p of list())
        out.push({
          version: p.version ?? '',
          enabled: p.enabled !== false,
          ...(p.createdOn ? { createdOn: p.createdOn } : {}),
          ...(p.expiresOn ? { expiresOn: p.expiresOn } : {}),
          tags: p.tags ?? {},
        });
      return out;
    } catch (err) {
      const e = toKeyVaultError(err, what);
      if (e.status === 404) return out;
      if (e.status !== 429 || retry >= TRIAGE_THROTTLE_RETRIES) throw e;
      await realSleep(retryAfterOf(err) ?? backoffDelay(retry, THROTTLE_BACKOFF));
    }
  }
}

/** A role rotated as a certificate (its registry credential); federated credentials have nothing to rotate. */
export const isCertificateRole = (app: IntegrationRecord['apps'][string] | undefined): boolean =>
  app?.credential?.kind === 'certificate';

/**
 * The profile's roles this integration has rotatable credentials for (a client secret or a certificate), in the
 * profile's order. A federated credential stores nothing to rotate: its role is not listed.
 */
export function rolesOf(record: IntegrationRecord): string[] | undefined {
  const profile = getProfile(record.profile);
  return profile?.apps
    .map((a) => a.role)
    .filter((role) => record.apps[role]?.secretName || isCertificateRole(record.apps[role]));
}

/** Assesses every credential of one integration. */
export async function assessIntegration(
  deps: SweepDeps,
  record: IntegrationRecord,
  now: Date,
): Promise<IntegrationAssessment> {
  const roles = rolesOf(record);
  if (!roles)
    return { credentials: [], problems: [{ integrationId: record.id, reason: `unknown profile '${record.profile}'` }] };
  const policy = { windowDays: deps.config.rotation.windowDays, maxAgeDays: deps.config.rotation.maxAgeDays };
  const credentials: CredentialAssessment[] = [];
  const problems: SweepProblem[] = [];
  for (const role of roles) {
    const app = record.apps[role];
    try {
      if (app.credential?.kind === 'certificate')
        credentials.push(
          assessCertificate(role, app, await certificateVersionsOf(deps, app.credential.certificateName), policy, now),
        );
      else credentials.push(assessCredential(role, app, await versionsOf(deps, app.secretName), policy, now));
    } catch (err) {
      problems.push({ integrationId: record.id, role, reason: ensureErrorType(err).message });
    }
  }
  for (const c of credentials)
    if (c.kind === 'unknown') problems.push({ integrationId: record.id, role: c.role, reason: c.reason });
  return { credentials, problems };
}

/** Folds one integration's assessment into the sweep result. */
function collect(result: FindDueResult, record: IntegrationRecord, a: IntegrationAssessment): void {
  result.problems.push(...a.problems);
  for (const c of a.credentials)
    if (c.kind === 'rotated')
      result.reconcile.push({
        integrationId: record.id,
        role: c.role,
        ...(c.registryKeyId ? { registryKeyId: c.registryKeyId } : {}),
        latestKeyId: c.latestKeyId,
        latestVersion: c.latestVersion,
        ...(c.latestExpiresOn ? { latestExpiresOn: c.latestExpiresOn } : {}),
        ...(c.latestCreatedOn ? { latestCreatedOn: c.latestCreatedOn } : {}),
        ...(c.operation ? { operation: c.operation } : {}),
      });
  const due = a.credentials.filter((c): c is DueCredential => c.kind === 'due');
  // A rotation in flight for one role (its new version already written) means the integration's rotation is running:
  // its other roles are in the same orchestration, so nothing is started beside it.
  if (!due.length || a.credentials.some((c) => c.kind === 'rotated')) return;
  result.due.push({
    integrationId: record.id,
    record,
    roles: due.map((c) => c.role),
    dueDate: new Date(Math.min(...due.map((c) => c.dueAt.getTime()))),
    credentials: due,
  });
}

/**
 * Integrations assessed at once. Each assessment lists the Key Vault versions of its secrets one after another; a
 * throttled list waits out the 429's Retry-After inside the SDK's retry policy before it retries
 * (https://learn.microsoft.com/azure/key-vault/general/overview-throttling), so assessed one at a time every wait
 * would hold up the whole fleet behind it. 16 lists in flight at a typical 60 ms answer make about 2,700 calls per 10
 * seconds, below the vault's limit of 4,000 transactions per 10 seconds
 * (https://learn.microsoft.com/azure/key-vault/general/service-limits).
 */
export const TRIAGE_CONCURRENCY = 16;

/** The due credentials of every active integration (reads only). */
export async function findDue(deps: SweepDeps, now: Date): Promise<FindDueResult> {
  const records = (await deps.registry.list()).filter((r) => r.status === 'active');
  const result: FindDueResult = { checked: records.length, due: [], reconcile: [], problems: [] };
  const assessed = new Array<IntegrationAssessment>(records.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < records.length; i = next++) assessed[i] = await assessIntegration(deps, records[i], now);
  };
  await Promise.all(Array.from({ length: Math.min(TRIAGE_CONCURRENCY, records.length) }, worker));
  // In the registry's order, whichever answered first.
  records.forEach((record, i) => collect(result, record, assessed[i]));
  return result;
}

export interface StartedRotation {
  integrationId: string;
  instanceId: string;
  roles: string[];
  result: StartResult;
}

export interface SweepResult extends FindDueResult {
  rotations: StartedRotation[];
  /** Registry rows brought up to date with Key Vault (no rotation of theirs was running). */
  reconciled: Reconcile[];
}

/** True when a completed rotation instance rolled back (its output's outcome; the old secrets stayed in use). */
async function rolledBack(client: DurableClient, instanceId: string): Promise<boolean> {
  const output = (await orchestrationStatus(client, instanceId))?.output as Partial<RotationStatus> | null | undefined;
  return output?.outcome === 'rolled-back';
}

/**
 * Starts the rotation of one due integration (shared by the sweep and the Event Grid backstop).
 *
 * With `now` (the sweep): when the due date's rotation completed but rolled back, the credential is still due and
 * still heading for its expiry, so it is tried again under the id of `now`'s date. A new id (not a restart of the
 * completed one) because the hand-off sent-markers and tokens are keyed by instance id: a restart under the old id
 * would send no hand-off email. At most one attempt per day; two sweeps on the same day compute the same id.
 */
export async function startDue(
  deps: SweepDeps,
  client: DurableClient,
  due: DueIntegration,
  reason: RotationInput['reason'],
  running?: Map<string, string>,
  now?: Date,
): Promise<StartedRotation> {
  const input = rotationInput(deps.config, due.record, due.roles, due.dueDate, reason);
  let { instanceId, result } = await startRotation(client, input, running);
  if (
    now &&
    result === 'completed' &&
    yyyymmdd(now) !== yyyymmdd(due.dueDate) &&
    (await rolledBack(client, instanceId))
  ) {
    const retry = rotationInput(deps.config, due.record, due.roles, now, reason);
    ({ instanceId, result } = await startRotation(client, retry, running));
  }
  return { integrationId: due.integrationId, instanceId, roles: due.roles, result };
}

/** Finds what is due and starts one rotation per integration (idempotent across sweeps and hosts). */
export async function startDueRotations(deps: SweepDeps, client: DurableClient, now: Date): Promise<SweepResult> {
  const found = await findDue(deps, now);
  const running =
    found.due.length || found.reconcile.length ? await runningRotations(client) : new Map<string, string>();
  const rotations: StartedRotation[] = [];
  for (const due of found.due) {
    try {
      rotations.push(await startDue(deps, client, due, 'sweep', running, now));
    } catch (err) {
      found.problems.push({ integrationId: due.integrationId, reason: `not started: ${ensureErrorType(err).message}` });
    }
  }
  // A newer Key Vault version than the registry's, with no rotation of that integration running: a rotation finished
  // but its registry write was lost, or a person rotated by hand. The registry follows Key Vault (its tags), so the
  // integration is assessed on its real credential from now on instead of being blocked.
  const reconciled: Reconcile[] = [];
  for (const r of found.reconcile) {
    if (running.has(r.integrationId)) continue;
    try {
      await deps.registry.update(r.integrationId, (cur) => {
        if (!cur) throw new Error(`integration ${r.integrationId} is not registered`);
        const app = cur.apps[r.role];
        if (!app) return cur;
        // The old expiry no longer applies; without one on the new version, the maximum age governs.
        const { expiresOn: _stale, createdOn: _staleCreated, confirmations: _staleConfirmed, ...rest } = app;
        return {
          ...cur,
          apps: {
            ...cur.apps,
            [r.role]: {
              ...rest,
              keyId: r.latestKeyId,
              secretVersion: r.latestVersion,
              ...(r.latestExpiresOn ? { expiresOn: r.latestExpiresOn } : {}),
              ...(r.latestCreatedOn ? { createdOn: r.latestCreatedOn } : {}),
            },
          },
          updatedAt: now.toISOString(),
        };
      });
      reconciled.push(r);
    } catch (err) {
      found.problems.push({
        integrationId: r.integrationId,
        role: r.role,
        reason: `not reconciled: ${ensureErrorType(err).message}`,
      });
    }
  }
  return { ...found, rotations, reconciled };
}
