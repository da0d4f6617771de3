/**
 * When is a credential due? Pure: from the registry's view of one app credential and the Key Vault version
 * properties of its secret (tags, created, expires; never values).
 *
 * - Due when it expires within the rotation window, or is older than the maximum age
 *   (docs/reference/rotation.md#requirements). Its due instant is the earlier of `expires - window` and `created +
 *   maxAge`; the instance id carries that instant's UTC date, so every sweep until the rotation finishes computes the
 *   same id.
 * - Already rotated when the latest enabled version of the secret carries a different `keyId` tag than the registry
 *   and is newer than the registry's version: a rotation (ours, running or finished before the registry was updated)
 *   wrote it. That is reported for reconciliation, never rotated again.
 * The Key Vault tags are those ensureAppSecret writes: integrationId, role, appId, appObjectId, keyId, operation
 * (src/activities/secrets.ts; self-describing secrets, docs/reference/microsoft.md#key-vault-secrets).
 */
import type { AppCredentialState } from '../registry/types';

const DAY_MS = 24 * 3600 * 1000;

/** The non-secret properties of one Key Vault secret version (SecretProperties subset). */
export interface VersionInfo {
  version: string;
  enabled: boolean;
  createdOn?: Date;
  expiresOn?: Date;
  tags: Record<string, string>;
}

export interface DuePolicy {
  windowDays: number;
  maxAgeDays: number;
}

export type DueReason = 'expiry' | 'max-age';

/** A credential with a known due instant (`due` once that instant has passed). */
export interface TimedCredential {
  kind: 'due' | 'not-due';
  role: string;
  /** The instant the credential becomes (became) due. */
  dueAt: Date;
  reasons: DueReason[];
  keyId?: string;
  version?: string;
  expiresOn?: string;
  createdOn?: string;
}
export type DueCredential = TimedCredential & { kind: 'due' };

export type CredentialAssessment =
  | TimedCredential
  | {
      kind: 'rotated';
      role: string;
      registryKeyId?: string;
      latestKeyId: string;
      latestVersion: string;
      /** ISO expiry of the newer version (its credential's end). */
      latestExpiresOn?: string;
      /** ISO time Key Vault created the newer version. */
      latestCreatedOn?: string;
      /** The rotation operation that wrote the newer version (its `operation` tag), when known. */
      operation?: string;
    }
  | { kind: 'unknown'; role: string; reason: string };

const time = (d: Date | undefined): number => d?.getTime() ?? 0;

/** Versions written for this app (tags name its keyId; a version of another app under the same name is ignored). */
function ours(app: AppCredentialState, versions: VersionInfo[]): VersionInfo[] {
  return versions.filter(
    (v) =>
      v.tags.keyId !== undefined &&
      (v.tags.appId === undefined || v.tags.appId === app.appId) &&
      (v.tags.appObjectId === undefined || v.tags.appObjectId === app.objectId),
  );
}

/**
 * THE rule: a credential becomes due at the earlier of `expires - window` and `created + maxAge`; `reasons` lists
 * those already reached at `now`. Undefined when neither time is known. The sweep (assessCredential, from Key Vault's
 * version properties) and the credential inventory (from the registry's recorded times) both use it.
 */
export function dueInstant(
  times: { expiresOn?: Date; createdOn?: Date },
  policy: DuePolicy,
  now: Date,
): { dueAt: Date; reasons: DueReason[] } | undefined {
  const candidates: { at: number; reason: DueReason }[] = [];
  const { expiresOn, createdOn } = times;
  if (expiresOn && !Number.isNaN(expiresOn.getTime()))
    candidates.push({ at: expiresOn.getTime() - policy.windowDays * DAY_MS, reason: 'expiry' });
  if (createdOn && !Number.isNaN(createdOn.getTime()))
    candidates.push({ at: createdOn.getTime() + policy.maxAgeDays * DAY_MS, reason: 'max-age' });
  if (!candidates.length) return undefined;
  return {
    dueAt: new Date(Math.min(...candidates.map((c) => c.at))),
    reasons: candidates.filter((c) => c.at <= now.getTime()).map((c) => c.reason),
  };
}

export function assessCredential(
  role: string,
  app: AppCredentialState,
  versions: VersionInfo[],
  policy: DuePolicy,
  now: Date,
): CredentialAssessment {
  const tagged = ours(app, versions);
  const current =
    (app.keyId ? tagged.find((v) => v.tags.keyId === app.keyId) : undefined) ??
    (app.secretVersion ? versions.find((v) => v.version === app.secretVersion) : undefined);
  const latest = tagged.filter((v) => v.enabled).sort((a, b) => time(b.createdOn) - time(a.createdOn))[0];

  if (latest && latest.tags.keyId !== app.keyId && (!current || time(latest.createdOn) > time(current.createdOn)))
    return {
      kind: 'rotated',
      role,
      ...(app.keyId ? { registryKeyId: app.keyId } : {}),
      latestKeyId: latest.tags.keyId,
      latestVersion: latest.version,
      ...(latest.expiresOn ? { latestExpiresOn: latest.expiresOn.toISOString() } : {}),
      ...(latest.createdOn ? { latestCreatedOn: latest.createdOn.toISOString() } : {}),
      ...(latest.tags.operation ? { operation: latest.tags.operation } : {}),
    };
  if (!versions.length) return { kind: 'unknown', role, reason: `Key Vault secret '${app.secretName}' has no version` };
  if (current && !current.enabled)
    return {
      kind: 'unknown',
      role,
      reason: `the registry's Key Vault version ${current.version} of '${app.secretName}' is disabled and no newer one exists`,
    };

  const expiresOn = current?.expiresOn ?? (app.expiresOn ? new Date(app.expiresOn) : undefined);
  const createdOn = current?.createdOn;
  const due = dueInstant({ expiresOn, createdOn }, policy, now);
  if (!due)
    return { kind: 'unknown', role, reason: `neither expiry nor creation time is known for '${app.secretName}'` };
  return {
    kind: due.reasons.length ? 'due' : 'not-due',
    role,
    dueAt: due.dueAt,
    reasons: due.reasons,
    ...(app.keyId ? { keyId: app.keyId } : {}),
    ...(current?.version ? { version: current.version } : {}),
    ...(expiresOn ? { expiresOn: expiresOn.toISOString() } : {}),
    ...(createdOn ? { createdOn: createdOn.toISOString() } : {}),
  };
}

/**
 * The same rule for a certificate credential (registry `credential.kind === 'certificate'`), from the Key Vault
 * certificate versions' properties (`listPropertiesOfCertificateVersions`: created, expires, enabled, tags; never the
 * key). The current version is the registry's; its expiry is the version's `expiresOn` (the certificate's notAfter),
 * else the registry's. A newer enabled version (a rotation under way, or one that stopped after writing it) does not
 * make the credential "rotated": the rotation that runs next adopts it (ensureCertificate with `afterVersion` returns
 * a version newer than the current one when one exists) and completes the switch, so nothing is reconciled by hand.
 */
export function assessCertificate(
  role: string,
  app: AppCredentialState,
  versions: VersionInfo[],
  policy: DuePolicy,
  now: Date,
): CredentialAssessment {
  const cred = app.credential;
  if (cred?.kind !== 'certificate') return { kind: 'unknown', role, reason: `the '${role}' app has no certificate` };
  const current = versions.find((v) => v.version.toLowerCase() === cred.version.toLowerCase());
  if (!versions.length)
    return { kind: 'unknown', role, reason: `Key Vault certificate '${cred.certificateName}' has no version` };
  if (current && !current.enabled)
    return {
      kind: 'unknown',
      role,
      reason: `the registry's Key Vault version ${current.version} of certificate '${cred.certificateName}' is disabled`,
    };
  const expiresOn = current?.expiresOn ?? (cred.expiresOn ? new Date(cred.expiresOn) : undefined);
  const createdOn = current?.createdOn;
  const due = dueInstant({ expiresOn, createdOn }, policy, now);
  if (!due)
    return {
      kind: 'unknown',
      role,
      reason: `neither expiry nor creation time is known for certificate '${cred.certificateName}'`,
    };
  return {
    kind: due.reasons.length ? 'due' : 'not-due',
    role,
    dueAt: due.dueAt,
    reasons: due.reasons,
    ...(cred.keyId ? { keyId: cred.keyId } : {}),
    version: cred.version,
    ...(expiresOn ? { expiresOn: expiresOn.toISOString() } : {}),
    ...(createdOn ? { createdOn: createdOn.toISOString() } : {}),
  };
}
