/**
 * Activity `rollbackRotation`: undoes a rotation that failed before the old credential was retired (a failure before
 * step e, docs/reference/rotation.md#requirements), so that every consumer ends up on the old secret, which keeps
 * working throughout (rotation.md#dual-phase-rotation-never-revoke-first, #compensation-on-partial-failure).
 *
 * Order, each step idempotent:
 * 1. read the OLD version's value and properties;
 * 2. write it back into each listed ServiceNow consumer (password2, own PATCH; writing the same value again is
 *    harmless and a masked password2 cannot be compared, so this step always writes);
 * 3. make the old value the latest Key Vault version again: a new version with the old value, expiry, content type and
 *    tags plus `restoredFrom=<oldVersion>`, unless the current version already is such a copy;
 * 4. disable the NEW version; 5. `removePassword(newKeyId)`.
 * Steps 4 and 5 retire the new secret, so they run only when steps 2 and 3 succeeded: while a consumer (or "the
 * latest" Key Vault version) still holds the new secret, removing it would cause the outage a rollback exists to
 * prevent. Every step that fails, or is held back, becomes an orphan with its id; the others carry on.
 */
import type { SecretProperties } from '@azure/keyvault-secrets';

import { toKeyVaultError } from '../clients/keyvault';
import { ensureErrorType } from '../lib/errors';
import type { Deps } from '../app/deps';
import { currentVersion, disableVersion, readVersion, removeCredential } from './rotation-common';
import type { RollbackRotationInput, RollbackRotationResult, ServiceNowSecretConsumer } from '../contracts/rotation';
import { type ActivityLog, logLine } from './log';

export const RESTORED_FROM_TAG = 'restoredFrom';

const consumerId = (c: ServiceNowSecretConsumer) => `${c.table}/${c.sysId}.${c.field}`;
const reasonOf = (err: unknown) => ensureErrorType(err).message;

/** Step 3: a new latest version holding the old value, unless the latest already is a copy of the old version. */
async function restoreLatest(
  deps: Deps,
  input: RollbackRotationInput,
  old: { value: string; properties: SecretProperties },
): Promise<boolean> {
  const { secretName, version } = input.oldSecret;
  const current = await currentVersion(deps, secretName);
  // Already the latest: the old version itself (the new one was never written), or a copy made by an earlier run.
  if (current?.version?.toLowerCase() === version.toLowerCase()) return false;
  if (current?.tags?.[RESTORED_FROM_TAG]?.toLowerCase() === version.toLowerCase()) return false;
  try {
    await deps.secrets.setSecret(secretName, old.value, {
      tags: { ...(old.properties.tags ?? {}), [RESTORED_FROM_TAG]: version },
      ...(old.properties.expiresOn ? { expiresOn: old.properties.expiresOn } : {}),
      ...(old.properties.contentType ? { contentType: old.properties.contentType } : {}),
    });
  } catch (err) {
    throw toKeyVaultError(err, `restore secret '${secretName}' from version ${version}`);
  }
  return true;
}

export async function rollbackRotation(
  input: RollbackRotationInput,
  deps: Deps,
  log?: ActivityLog,
): Promise<RollbackRotationResult> {
  const restored: string[] = [];
  const orphans: RollbackRotationResult['orphans'] = [];
  const orphan = (what: string, id: string, reason: string) => {
    orphans.push({ what, id, reason });
    logLine(log, 'warn', `rollbackRotation ${input.role}: ${what} ${id}: ${reason}`);
  };
  const oldId = `${input.oldSecret.secretName}/${input.oldSecret.version}`;
  const newId = `${input.newSecret.secretName}/${input.newSecret.version}`;

  // 1. The old value.
  let old: { value: string; properties: SecretProperties } | undefined;
  try {
    old = await readVersion(deps, input.oldSecret);
  } catch (err) {
    orphan('keyvault-version', oldId, `the old secret could not be read, nothing can be restored: ${reasonOf(err)}`);
  }

  // 2. ServiceNow consumers back to the old value.
  let consumersBack = old !== undefined;
  for (const c of input.serviceNowConsumers) {
    if (!old) {
      orphan('servicenow-consumer', consumerId(c), 'still holds the new secret (the old value is unavailable)');
      continue;
    }
    try {
      await deps.serviceNow(input.serviceNowInstance).setPassword2(c.table, c.sysId, c.field, old.value);
      restored.push(`servicenow:${consumerId(c)}`);
    } catch (err) {
      consumersBack = false;
      orphan('servicenow-consumer', consumerId(c), `still holds the new secret: ${reasonOf(err)}`);
    }
  }

  // 3. The old value is the latest Key Vault version again.
  let latestBack = false;
  if (old) {
    try {
      const wrote = await restoreLatest(deps, input, old);
      latestBack = true;
      restored.push(`keyvault:${input.oldSecret.secretName}<-${input.oldSecret.version}`);
      logLine(
        log,
        'info',
        `rollbackRotation ${input.role}: '${input.oldSecret.secretName}' ${wrote ? 'restored' : 'already restored'} from version ${input.oldSecret.version}`,
      );
    } catch (err) {
      orphan(
        'keyvault-secret',
        input.oldSecret.secretName,
        `the latest version still holds the new secret: ${reasonOf(err)}`,
      );
    }
  }

  // 4 and 5: retire the new secret only when nothing holds it any more.
  if (!consumersBack || !latestBack) {
    const why = 'kept: a consumer or the latest Key Vault version may still hold the new secret';
    orphan('keyvault-version', newId, why);
    orphan('credential', input.newKeyId, why);
    return { restored, orphans };
  }
  try {
    await disableVersion(deps, input.newSecret);
    restored.push(`keyvault-disabled:${newId}`);
  } catch (err) {
    orphan('keyvault-version', newId, `could not be disabled: ${reasonOf(err)}`);
  }
  try {
    const removal = await removeCredential(deps, input.appObjectId, input.newKeyId);
    restored.push(`credential-removed:${input.newKeyId}`);
    if (removal === 'app-gone')
      logLine(log, 'warn', `rollbackRotation ${input.role}: application ${input.appObjectId} does not exist any more`);
  } catch (err) {
    orphan('credential', input.newKeyId, `could not be removed: ${reasonOf(err)}`);
  }
  return { restored, orphans };
}
