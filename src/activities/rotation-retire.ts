/**
 * Activity `retireCredential`: the last step of a rotation, run only after every consumer confirmed the new secret
 * and the grace period passed (step e of docs/reference/rotation.md#requirements; never revoke first:
 * rotation.md#dual-phase-rotation-never-revoke-first). Removes exactly the old password credential
 * (`removePassword(keyId)`) and disables exactly the old Key Vault version (`updateSecretProperties(enabled: false)`);
 * no other credential or version is touched.
 *
 * Guards (a wrong pairing must not take down the live secret): the version must exist, must not be the one Key Vault
 * serves as current, and, when it carries a `keyId` tag (ensureAppSecret writes one), must belong to `keyId`.
 * Idempotent: a credential already gone (or an app gone) gives `removed: false`, a version already disabled gives
 * `disabled: false`; a second run writes nothing. `removed`/`disabled` say whether THIS run changed something.
 */

import type { Failure } from '../contracts/provision';
import type { Deps } from '../app/deps';
import { currentVersion, disableVersion, listVersions, removeCredential, sameVersion } from './rotation-common';
import type { RetireCredentialInput, RetireCredentialResult } from '../contracts/rotation';
import { type ActivityLog, logLine } from './log';
import { failureOrThrow } from './failures';

const refuse = (message: string): { ok: false; failure: Failure } => ({
  ok: false,
  failure: { service: 'input', code: 'RefusedToRetire', message },
});

export async function retireCredential(
  input: RetireCredentialInput,
  deps: Deps,
  log?: ActivityLog,
): Promise<RetireCredentialResult> {
  const { secretName, version } = input.secret;
  try {
    const found = (await listVersions(deps, secretName)).find((v) => sameVersion(v.version, version));
    if (!found) return refuse(`Key Vault secret '${secretName}' has no version ${version}: nothing was retired`);
    const taggedKeyId = found.tags?.keyId;
    if (taggedKeyId && taggedKeyId.toLowerCase() !== input.keyId.toLowerCase())
      return refuse(
        `Key Vault secret '${secretName}' version ${version} belongs to credential ${taggedKeyId}, not ${input.keyId}: nothing was retired`,
      );
    if (found.enabled !== false && sameVersion((await currentVersion(deps, secretName))?.version, version))
      return refuse(
        `Key Vault secret '${secretName}' version ${version} is the current version (consumers reading the latest ` +
          'secret get it): nothing was retired',
      );

    const removal = await removeCredential(deps, input.appObjectId, input.keyId);
    if (removal === 'app-gone')
      logLine(log, 'warn', `retireCredential ${input.role}: application ${input.appObjectId} does not exist any more`);
    const disabled = await disableVersion(deps, input.secret);
    logLine(
      log,
      'info',
      `retireCredential ${input.role}: credential ${input.keyId} ${removal === 'removed' ? 'removed' : 'already gone'}, ` +
        `'${secretName}' version ${version} ${disabled ? 'disabled' : 'already disabled'}`,
    );
    return { ok: true, removed: removal === 'removed', disabled };
  } catch (err) {
    return { ok: false, failure: failureOrThrow(err) };
  }
}
