/**
 * Shared steps of the rotation activities: reading the value of one exact Key Vault version, the properties of a
 * version (without its value), disabling a version, and removing one password credential from an app, each
 * idempotent (look first, write only when something is left to do).
 *
 * - A version's value: `GET /secrets/{name}/{version}`; a disabled version answers 403 `Forbidden` with inner code
 *   `SecretDisabled` (docs/reference/microsoft.md#key-vault-secrets; azure-sdk-for-js keyvault-secrets tests).
 * - A version's attributes: `GET /secrets/{name}/versions` lists properties only (no values), so checking whether a
 *   version is enabled never reads a secret.
 * - Disabling: `PATCH /secrets/{name}/{version}` with `attributes.enabled=false` (SecretClient.updateSecretProperties).
 * - Removing a credential: `POST /applications/{id}/removePassword {keyId}` (application-removepassword); read the
 *   app's passwordCredentials first so a re-run writes nothing. Graph answers an unknown keyId with 400 and has been
 *   seen to answer 400 for concurrent credential changes (docs/reference/rotation.md#compensation-on-partial-failure):
 *   after a 400 the app is read again, and the credential still being there is a retriable condition, never "done".
 */
import type { SecretProperties } from '@azure/keyvault-secrets';

import { toKeyVaultError } from '../clients/keyvault';
import { ExternalServiceError, httpStatusOf, ValidationError } from '../lib/errors';
import { registerSecret } from '../lib/redact';
import type { Deps } from '../app/deps';
import type { SecretVersionRef } from '../contracts/rotation';
import { retriable } from './failures';
import { graphCall } from '../clients/graph';

/** Exactly this version: its value (registered for redaction) and properties. Throws ExternalServiceError. */
export async function readVersion(
  deps: Deps,
  ref: SecretVersionRef,
): Promise<{ value: string; properties: SecretProperties }> {
  if (!ref.version)
    throw new ValidationError(`a Key Vault version of '${ref.secretName}' is required (never "the latest")`);
  let secret;
  try {
    secret = await deps.secrets.getSecret(ref.secretName, { version: ref.version });
  } catch (err) {
    throw toKeyVaultError(err, `get secret '${ref.secretName}' version ${ref.version}`);
  }
  if (!secret.value)
    throw new ExternalServiceError({
      service: 'keyvault',
      code: 'SecretEmpty',
      message: `Key Vault secret '${ref.secretName}' version ${ref.version} has no value`,
      retriable: false,
    });
  registerSecret(secret.value);
  return { value: secret.value, properties: secret.properties };
}

/** The value of exactly this version (registered for redaction). Throws ExternalServiceError. */
export async function readVersionValue(deps: Deps, ref: SecretVersionRef): Promise<string> {
  return (await readVersion(deps, ref)).value;
}

/**
 * The version `getSecret(name)` serves (the latest, which readers of "the current secret" get), or undefined when the
 * latest version is disabled (403) or the name does not exist (404). Reads the value and discards it (registered for
 * redaction): Key Vault has no "current version" query without the value.
 */
export async function currentVersion(deps: Deps, secretName: string): Promise<SecretProperties | undefined> {
  try {
    const s = await deps.secrets.getSecret(secretName);
    registerSecret(s.value);
    return s.properties;
  } catch (err) {
    if (isSecretDisabled(err)) return undefined;
    const e = toKeyVaultError(err, `get secret '${secretName}'`);
    if (e.status === 404) return undefined;
    throw e;
  }
}

/**
 * 403 with inner code `SecretDisabled` ("Operation get is not allowed on a disabled secret."), as opposed to a 403
 * for missing access (inner `AccessDenied` / `ForbiddenByPolicy`) (azure-sdk-for-js keyvault-secrets recordings).
 */
function isSecretDisabled(err: unknown): boolean {
  const e = err as { statusCode?: unknown; message?: unknown; details?: unknown };
  if (e?.statusCode !== 403) return false;
  const inner = (e.details as { error?: { innererror?: { code?: unknown } } } | undefined)?.error?.innererror?.code;
  return inner === 'SecretDisabled' || (typeof e.message === 'string' && /disabled secret/i.test(e.message));
}

/** Every version's properties (no values); an unknown name lists nothing (a 404 likewise: azure-sdk-for-js secrets tests). */
export async function listVersions(deps: Deps, secretName: string): Promise<SecretProperties[]> {
  const out: SecretProperties[] = [];
  try {
    for await (const p of deps.secrets.listPropertiesOfSecretVersions(secretName)) out.push(p);
  } catch (err) {
    const e = toKeyVaultError(err, `list versions of '${secretName}'`);
    if (e.status !== 404) throw e;
  }
  return out;
}

export const sameVersion = (a: string | undefined, b: string): boolean =>
  a !== undefined && a.toLowerCase() === b.toLowerCase();

/**
 * Disables one version. Returns true when this call disabled it, false when it already was; a version that does not
 * exist is a non-retriable 404 ExternalServiceError.
 */
export async function disableVersion(deps: Deps, ref: SecretVersionRef): Promise<boolean> {
  const found = (await listVersions(deps, ref.secretName)).find((v) => sameVersion(v.version, ref.version));
  if (!found)
    throw new ExternalServiceError({
      service: 'keyvault',
      status: 404,
      code: 'SecretNotFound',
      message: `Key Vault secret '${ref.secretName}' has no version ${ref.version}`,
      retriable: false,
    });
  if (found.enabled === false) return false;
  try {
    await deps.secrets.updateSecretProperties(ref.secretName, ref.version, { enabled: false });
  } catch (err) {
    throw toKeyVaultError(err, `disable secret '${ref.secretName}' version ${ref.version}`);
  }
  return true;
}

interface PasswordCredential {
  keyId: string;
}

/** The app's credential keyIds, or undefined when the application does not exist (404). */
async function credentialKeyIds(deps: Deps, appObjectId: string): Promise<Set<string> | undefined> {
  try {
    const res = await graphCall<{ passwordCredentials?: PasswordCredential[] }>(
      deps.graph,
      'GET',
      `/applications/${encodeURIComponent(appObjectId)}?$select=id,passwordCredentials`,
    );
    return new Set((res.body?.passwordCredentials ?? []).map((c) => c.keyId.toLowerCase()));
  } catch (err) {
    if (httpStatusOf(err) === 404) return undefined;
    throw err;
  }
}

export type Removal = 'removed' | 'absent' | 'app-gone';

/** Removes exactly the credential `keyId` from the app; touches no other credential. */
export async function removeCredential(deps: Deps, appObjectId: string, keyId: string): Promise<Removal> {
  const before = await credentialKeyIds(deps, appObjectId);
  if (!before) return 'app-gone';
  if (!before.has(keyId.toLowerCase())) return 'absent';
  try {
    await graphCall(deps.graph, 'POST', `/applications/${encodeURIComponent(appObjectId)}/removePassword`, { keyId });
    return 'removed';
  } catch (err) {
    const status = httpStatusOf(err);
    if (status !== 400 && status !== 404) throw err;
    // Gone in the meantime (another run) or a refusal that a retry may get past: look again.
    const after = await credentialKeyIds(deps, appObjectId);
    if (!after) return 'app-gone';
    if (!after.has(keyId.toLowerCase())) return 'absent';
    throw retriable(
      'CredentialStillPresent',
      `Graph removePassword answered ${status} and credential ${keyId} is still on application ${appObjectId}`,
    );
  }
}
