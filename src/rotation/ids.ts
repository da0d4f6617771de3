/**
 * Deterministic names of a rotation: one orchestration per integration and due date. Two sweeps (or two hosts, or the
 * sweep and the Event Grid backstop) that find the same credential due compute the same instance id, and the Durable
 * runtime refuses a second start of a running instance id (HTTP 409), so a credential is never rotated twice
 * (docs/reference/rotation.md#requirements; docs/reference/durable-functions.md#deterministic-instance-ids).
 */

/** `YYYYMMDD` of a UTC date. */
export function yyyymmdd(date: Date): string {
  return date.toISOString().slice(0, 10).replace(/-/g, '');
}

/** Prefix shared by every rotation instance of one integration. */
export const rotationInstancePrefix = (integrationId: string): string => `rotate-${integrationId}-`;
/** Whether `instanceId` is a rotation of this integration (not of one whose id extends its id: the date must follow). */
export const isRotationInstanceOf = (integrationId: string, instanceId: string): boolean =>
  instanceId.startsWith(rotationInstancePrefix(integrationId)) &&
  /^\d{8}$/.test(instanceId.slice(rotationInstancePrefix(integrationId).length));

/** `rotate-{integrationId}-{YYYYMMDD of the due date}`. */
export const rotationInstanceId = (integrationId: string, dueDate: Date): string =>
  `${rotationInstancePrefix(integrationId)}${yyyymmdd(dueDate)}`;

/** `rotate-{YYYYMMDD}`: marks the new Graph credential and Key Vault version (EnsureAppSecretInput.operation). */
export const rotationOperation = (dueDate: Date): string => `rotate-${yyyymmdd(dueDate)}`;
