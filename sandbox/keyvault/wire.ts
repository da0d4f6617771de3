import type { SecretEntry, SecretVersion } from './store';

/** What the vault says about deletion for every object (swagger `DeletionRecoveryLevel`, `recoverableDays`). */
export interface RecoveryPolicy {
  recoveryLevel: string;
  recoverableDays: number;
}

export interface WireAttributes {
  enabled: boolean;
  nbf?: number;
  exp?: number;
  created: number;
  updated: number;
  recoveryLevel: string;
  recoverableDays: number;
}

/** `SecretAttributes`: epoch seconds; `nbf`/`exp` only when set (GetSecret-example.json). */
function attributes(v: SecretVersion, policy: RecoveryPolicy): WireAttributes {
  return {
    enabled: v.enabled,
    ...(v.nbf !== undefined ? { nbf: v.nbf } : {}),
    ...(v.exp !== undefined ? { exp: v.exp } : {}),
    created: v.created,
    updated: v.updated,
    recoveryLevel: policy.recoveryLevel,
    recoverableDays: policy.recoverableDays,
  };
}

/** `contentType` and `tags` appear only when set (SetSecret/UpdateSecret examples); `kid`/`managed` never (no certs). */
function optional(v: SecretVersion): { contentType?: string; tags?: Record<string, string> } {
  return {
    ...(v.contentType !== undefined ? { contentType: v.contentType } : {}),
    ...(v.tags !== undefined ? { tags: { ...v.tags } } : {}),
  };
}

export const secretId = (origin: string, name: string, version?: string): string =>
  `${origin}/secrets/${name}${version ? `/${version}` : ''}`;

/** `SecretBundle`; `withValue` false for update and recover (UpdateSecret / RecoverDeletedSecret examples). */
export function secretBundle(
  origin: string,
  e: SecretEntry,
  v: SecretVersion,
  policy: RecoveryPolicy,
  withValue: boolean,
) {
  return {
    ...(withValue ? { value: v.value } : {}),
    id: secretId(origin, e.name, v.version),
    ...optional(v),
    attributes: attributes(v, policy),
  };
}

function deletion(origin: string, e: SecretEntry) {
  return {
    recoveryId: `${origin}/deletedsecrets/${e.name}`,
    deletedDate: e.deleted?.deletedDate,
    scheduledPurgeDate: e.deleted?.scheduledPurgeDate,
  };
}

/** `DeletedSecretBundle` without the value (DeleteSecret / GetDeletedSecret examples). */
export function deletedSecretBundle(origin: string, e: SecretEntry, v: SecretVersion, policy: RecoveryPolicy) {
  return { ...deletion(origin, e), ...secretBundle(origin, e, v, policy, false) };
}

/** `SecretItem` of a list: versionless id for GET /secrets, versioned id for GET /secrets/{name}/versions. */
export function secretItem(
  origin: string,
  e: SecretEntry,
  v: SecretVersion,
  policy: RecoveryPolicy,
  versioned: boolean,
) {
  return {
    id: secretId(origin, e.name, versioned ? v.version : undefined),
    ...optional(v),
    attributes: attributes(v, policy),
  };
}

export function deletedSecretItem(origin: string, e: SecretEntry, v: SecretVersion, policy: RecoveryPolicy) {
  return { ...deletion(origin, e), ...secretItem(origin, e, v, policy, false) };
}
