/**
 * Activity `compensate`: removes what this integration created, in reverse order of creation (ServiceNow records,
 * then Key Vault secrets, then Entra applications), and reports whatever could not be removed as an orphan with its
 * id and the reason. It never touches anything not listed, and re-checks the markers of listed Entra and Key Vault
 * objects before deleting them, so a pre-existing object slipped into the list is left alone (and reported).
 *
 * - ServiceNow: `DELETE /api/now/table/{table}/{sys_id}`; 404 counts as removed. Only a record the ownership ledger
 *   says this run created; a shared one only when its last reference goes (servicenow-common.ts removeOwnedRecord).
 * - Client secrets: the credential this run added leaves the app (removePassword, only with our marker), its Key
 *   Vault version is disabled, and the secret is soft-deleted (`beginDeleteSecret`, recoverable for the vault's
 *   retention; never purged: https://learn.microsoft.com/azure/key-vault/general/soft-delete-overview) only when
 *   every version in it was written by this run. Versions are matched by this run's `runId` tag.
 * - Entra: `DELETE /applications/{id}` moves the app to deleted items for 30 days, restorable
 *   (https://learn.microsoft.com/graph/api/application-delete); its service principal goes with it. Only an app tagged
 *   as created by this run. 404 counts as removed (note: right after creation a not-yet-replicated app also answers
 *   404, docs/reference/microsoft.md#replication-delays).
 */
import type { SecretProperties } from '@azure/keyvault-secrets';

import { toKeyVaultError } from '../clients/keyvault';
import { AppError, classify, ensureErrorType, httpStatusOf } from '../lib/errors';
import {
  describeObject,
  type CompensateInput,
  type CompensateResult,
  type CreatedObject,
  type IntegrationRef,
  type Orphan,
} from '../contracts/provision';
import type { Deps } from '../app/deps';
import { createdByIntegration, createdByRun } from './entra';
import { integrationTag, PRODUCT_TAG } from './entra-graph';
import { listVersions, removeCredential, sameVersion } from './rotation-common';
import { removeCertificate } from './key-credentials';
import { removeOwnedRecord, removeRecordCandidate } from './servicenow-common';
import { graphCall } from '../clients/graph';
import { type ActivityLog, logLine } from './log';
import { uniqueNameFor } from '../profiles/names';

type Removal = 'removed' | { reason: string; transient?: boolean };

// A key credential leaves the app before its certificate version is disabled (removeKey's proof is signed with it).
const ORDER: Record<CreatedObject['kind'], number> = {
  record: 0,
  recordCandidate: 0,
  secret: 1,
  keyCredential: 1,
  federatedCredential: 1,
  certificate: 2,
  app: 3,
  appCandidate: 3,
};

/** Only what the ownership ledger says this run created; shared records are released by reference count. */
async function removeRecord(
  deps: Deps,
  ref: IntegrationRef,
  o: Extract<CreatedObject, { kind: 'record' }>,
): Promise<Removal> {
  return removeOwnedRecord(deps, ref, o);
}

/**
 * A key credential this run added: removed from the app (removeKey with a proof signed by its own certificate while
 * that is valid, else PATCH without it; src/activities/key-credentials.ts). An app that is gone has nothing to remove.
 */
async function removeKeyCredential(deps: Deps, o: Extract<CreatedObject, { kind: 'keyCredential' }>): Promise<Removal> {
  if (!o.proof) return { reason: `key credential ${o.keyId}: no certificate recorded to prove its removal` };
  const r = await removeCertificate({ appObjectId: o.appObjectId, keyId: o.keyId, proof: o.proof }, deps).catch(
    (err: unknown) => {
      if (httpStatusOf(err) === 404) return { ok: true as const, removed: false };
      throw err;
    },
  );
  return r.ok ? 'removed' : { reason: r.failure.message };
}

/** A federated identity credential this run added, found by its name (ours by name) and deleted. */
async function removeFederatedCredential(
  deps: Deps,
  o: Extract<CreatedObject, { kind: 'federatedCredential' }>,
): Promise<Removal> {
  const path = `/applications/${encodeURIComponent(o.appObjectId)}/federatedIdentityCredentials`;
  let list: { id?: string; name?: string }[];
  try {
    list = (await graphCall<{ value?: { id?: string; name?: string }[] }>(deps.graph, 'GET', path)).body?.value ?? [];
  } catch (err) {
    if (httpStatusOf(err) === 404) return 'removed';
    throw err;
  }
  const found = list.find((f) => f.name === o.name);
  if (found?.id)
    await graphCall(deps.graph, 'DELETE', `${path}/${encodeURIComponent(found.id)}`).catch((err: unknown) => {
      if (httpStatusOf(err) !== 404) throw err;
    });
  return 'removed';
}

/**
 * A Key Vault certificate version this run created: disabled (never deleted: a deleted certificate stays recoverable
 * under its name, and a later run creates a new version), and only when its tags say it is this integration's.
 */
async function disableCertificateVersion(
  deps: Deps,
  ref: IntegrationRef,
  o: Extract<CreatedObject, { kind: 'certificate' }>,
): Promise<Removal> {
  try {
    const c = await deps.certificates.getCertificateVersion(o.certificateName, o.version);
    if (c.properties.tags?.integration !== ref.integrationId)
      return {
        reason: `certificate ${o.certificateName} version ${o.version} is not this integration's; left in place`,
      };
    if (c.properties.enabled === false) return 'removed';
    await deps.certificates.updateCertificateProperties(o.certificateName, o.version, { enabled: false });
    return 'removed';
  } catch (err) {
    const e = toKeyVaultError(err, `disable certificate '${o.certificateName}'`);
    if (e.status === 404) return 'removed';
    throw e;
  }
}

/** Our credentials' display names (credentialDisplayName: `m365-snow-provisioner:<operation>`). */
const OUR_CREDENTIAL = `${PRODUCT_TAG}:`;

const sameKeyId = (a: string | undefined, b: string | undefined) =>
  a !== undefined && b !== undefined && a.toLowerCase() === b.toLowerCase();

/**
 * Removes the credential `keyId` from the app when it is still there and carries our marker. Returns a reason when it
 * is there without our marker (left in place), undefined otherwise (removed, already gone, or the app is gone).
 */
async function removeOurCredential(deps: Deps, appObjectId: string, keyId: string): Promise<string | undefined> {
  let credentials: { keyId: string; displayName?: string | null }[];
  try {
    const res = await graphCall<{ passwordCredentials?: { keyId: string; displayName?: string | null }[] }>(
      deps.graph,
      'GET',
      `/applications/${encodeURIComponent(appObjectId)}?$select=id,passwordCredentials`,
    );
    credentials = res.body?.passwordCredentials ?? [];
  } catch (err) {
    if (httpStatusOf(err) === 404) return undefined;
    throw err;
  }
  const found = credentials.find((c) => sameKeyId(c.keyId, keyId));
  if (!found) return undefined;
  if (!found.displayName?.startsWith(OUR_CREDENTIAL))
    return `credential ${keyId} on application ${appObjectId} does not carry our marker; left in place`;
  await removeCredential(deps, appObjectId, keyId);
  return undefined;
}

/**
 * A client secret this run added: the credential leaves the app, its Key Vault version is disabled, and the whole
 * secret is soft-deleted only when this run created it, known from recorded ownership: EVERY version carries this
 * run's `runId` and this integration's `integrationId` tags. A version written by anyone else (another run, a person,
 * the older versions of a soft-deleted secret this run recovered), even a disabled one, keeps the secret in place;
 * only this run's versions are disabled and its credentials removed. A version or credential this run did not write
 * is never touched. Without keyId and version (a parallel call that exhausted its retries) the versions tagged with
 * this run's id are the ones it added. `secretCreated: false` on the object (recorded by earlier releases, replayed
 * from an older orchestration history) still means "never delete"; the `secretCreated` tag older versions may carry
 * is not read.
 */
async function removeSecret(
  deps: Deps,
  ref: IntegrationRef,
  o: Extract<CreatedObject, { kind: 'secret' }>,
): Promise<Removal> {
  const versions = await listVersions(deps, o.secretName);
  if (o.retire) return retireSecret(deps, ref, o, versions);
  const ofRun = (v: SecretProperties) =>
    v.tags?.runId === ref.instanceId && v.tags?.integrationId === ref.integrationId;
  let targets: { version?: SecretProperties; keyId?: string }[];
  if (o.version || o.keyId) {
    const v = versions.find((x) => (o.version ? sameVersion(x.version, o.version) : sameKeyId(x.tags?.keyId, o.keyId)));
    if (v && !ofRun(v))
      return {
        reason: `version ${v.version} of '${o.secretName}' was not written by run ${ref.instanceId}; left in place`,
      };
    if (v && o.keyId && v.tags?.keyId && !sameKeyId(v.tags.keyId, o.keyId))
      return {
        reason: `version ${v.version} of '${o.secretName}' belongs to credential ${v.tags.keyId}, not ${o.keyId}; left in place`,
      };
    targets = [{ version: v, keyId: o.keyId ?? v?.tags?.keyId }];
  } else {
    // No version of this run: it added nothing here (a credential it added without storing it is removed by the
    // activity itself, or by the next run as a credential whose value was lost), and nothing else is touched.
    targets = versions.filter(ofRun).map((v) => ({ version: v, keyId: v.tags?.keyId }));
    if (!targets.length) return 'removed';
  }

  const problems: string[] = [];
  for (const t of targets) {
    const appObjectId = o.appObjectId ?? t.version?.tags?.appObjectId;
    if (t.keyId && appObjectId) {
      const problem = await removeOurCredential(deps, appObjectId, t.keyId);
      // A live credential we may not remove keeps its value: leave the version enabled too.
      if (problem) {
        problems.push(problem);
        continue;
      }
    }
    if (t.version?.version && t.version.enabled !== false) {
      try {
        await deps.secrets.updateSecretProperties(o.secretName, t.version.version, { enabled: false });
      } catch (err) {
        const e = toKeyVaultError(err, `disable secret '${o.secretName}' version ${t.version.version}`);
        if (e.status !== 404) throw e;
      }
    }
  }
  if (problems.length) return { reason: problems.join('; ') };

  const deletable = o.secretCreated !== false && versions.length > 0 && versions.every(ofRun);
  if (deletable) {
    try {
      // Soft delete, never purge. The first poll sends the DELETE; waiting for the deleted state is not needed.
      await deps.secrets.beginDeleteSecret(o.secretName);
    } catch (err) {
      const e = toKeyVaultError(err, `delete secret '${o.secretName}'`);
      if (e.status !== 404) throw e;
    }
  }
  return 'removed';
}

/**
 * Decommissioning a client secret: every version must carry this integration's tag (a version written by anyone else
 * keeps the whole secret in place, reported). The credentials the versions name leave the app (only with our marker;
 * the app's deletion takes them anyway), then the secret is soft-deleted: recoverable for the vault's retention,
 * never purged (https://learn.microsoft.com/azure/key-vault/general/soft-delete-overview). No version (never
 * written, or already deleted) is done.
 */
async function retireSecret(
  deps: Deps,
  ref: IntegrationRef,
  o: Extract<CreatedObject, { kind: 'secret' }>,
  versions: SecretProperties[],
): Promise<Removal> {
  if (!versions.length) return 'removed';
  const foreign = versions.filter((v) => v.tags?.integrationId !== ref.integrationId);
  if (foreign.length)
    return {
      reason: `${foreign.length} version(s) of '${o.secretName}' do not carry integration ${ref.integrationId}'s tag; left in place`,
    };
  const problems: string[] = [];
  for (const v of versions) {
    const appObjectId = o.appObjectId ?? v.tags?.appObjectId;
    const keyId = v.tags?.keyId;
    if (!appObjectId || !keyId) continue;
    const problem = await removeOurCredential(deps, appObjectId, keyId);
    if (problem) problems.push(problem);
  }
  if (problems.length) return { reason: problems.join('; ') };
  try {
    await deps.secrets.beginDeleteSecret(o.secretName);
  } catch (err) {
    const e = toKeyVaultError(err, `delete secret '${o.secretName}'`);
    if (e.status !== 404) throw e;
  }
  return 'removed';
}

async function removeApp(
  deps: Deps,
  ref: IntegrationRef,
  o: Extract<CreatedObject, { kind: 'app' }>,
): Promise<Removal> {
  const path = `/applications/${encodeURIComponent(o.objectId)}`;
  let tags: string[];
  try {
    tags = (await graphCall<{ tags?: string[] }>(deps.graph, 'GET', `${path}?$select=id,appId,tags`)).body?.tags ?? [];
  } catch (err) {
    if (httpStatusOf(err) !== 404) throw err;
    // Gone already (an earlier attempt deleted it): a decommissioning still makes sure its service principal went.
    if (o.retire) await removeServicePrincipalLeftBehind(deps, ref, o.appId);
    return 'removed';
  }
  if (o.retire ? !createdByIntegration(tags, ref.integrationId) : !createdByRun(tags, ref.instanceId))
    return {
      reason: o.retire
        ? `not created by integration ${ref.integrationId} (no creation tag of its runs); left in place`
        : `not created by provisioning run ${ref.instanceId} (no creation tag); left in place`,
    };
  try {
    await graphCall(deps.graph, 'DELETE', path);
  } catch (err) {
    if (httpStatusOf(err) !== 404) throw err;
  }
  if (o.retire) await removeServicePrincipalLeftBehind(deps, ref, o.appId);
  return 'removed';
}

/**
 * Deleting an application deletes its service principal in the home tenant with it
 * (https://learn.microsoft.com/entra/identity/enterprise-apps/restore-application), so decommissioning sends no second
 * DELETE for it. It checks instead: a service principal of the app still there that carries this integration's tag
 * (replication, or a directory that did not cascade) is deleted explicitly (`DELETE /servicePrincipals(appId='…')`,
 * https://learn.microsoft.com/graph/api/serviceprincipal-delete; Application.ReadWrite.OwnedBy suffices for ours).
 * 404 = gone.
 */
async function removeServicePrincipalLeftBehind(deps: Deps, ref: IntegrationRef, appId: string): Promise<void> {
  if (!appId) return;
  const path = `/servicePrincipals(appId='${encodeURIComponent(appId)}')`;
  let tags: string[];
  try {
    tags = (await graphCall<{ tags?: string[] }>(deps.graph, 'GET', `${path}?$select=id,appId,tags`)).body?.tags ?? [];
  } catch (err) {
    if (httpStatusOf(err) === 404) return;
    throw err;
  }
  if (!tags.includes(integrationTag(ref.integrationId))) return;
  try {
    await graphCall(deps.graph, 'DELETE', path);
  } catch (err) {
    if (httpStatusOf(err) !== 404) throw err;
  }
}

/** An app known only by role: look it up by its uniqueName; nothing there means nothing to remove. */
async function removeAppCandidate(
  deps: Deps,
  ref: IntegrationRef,
  o: Extract<CreatedObject, { kind: 'appCandidate' }>,
): Promise<Removal> {
  let found: { id?: string; appId?: string } | undefined;
  try {
    const uniqueName = uniqueNameFor(ref.integrationId, o.role);
    found = (
      await graphCall<{ id?: string; appId?: string }>(
        deps.graph,
        'GET',
        `/applications(uniqueName='${uniqueName}')?$select=id,appId`,
      )
    ).body;
  } catch (err) {
    if (httpStatusOf(err) === 404) return 'removed';
    throw err;
  }
  if (!found?.id) return 'removed';
  return removeApp(deps, ref, { kind: 'app', role: o.role, objectId: found.id, appId: found.appId ?? '' });
}

const describe = describeObject;

export async function compensate(input: CompensateInput, deps: Deps, log?: ActivityLog): Promise<CompensateResult> {
  const removed: CreatedObject[] = [];
  const orphans: Orphan[] = [];
  // Reverse creation order: by kind, and within a kind the later-created first.
  const work = input.created
    .map((object, index) => ({ object, index }))
    .sort((a, b) => ORDER[a.object.kind] - ORDER[b.object.kind] || b.index - a.index)
    .map((w) => w.object);
  for (const object of work) {
    let outcome: Removal;
    try {
      outcome =
        object.kind === 'record'
          ? await removeRecord(deps, input, object)
          : object.kind === 'recordCandidate'
            ? await removeRecordCandidate(deps, input, object, input.keep)
            : object.kind === 'secret'
              ? await removeSecret(deps, input, object)
              : object.kind === 'keyCredential'
                ? await removeKeyCredential(deps, object)
                : object.kind === 'federatedCredential'
                  ? await removeFederatedCredential(deps, object)
                  : object.kind === 'certificate'
                    ? await disableCertificateVersion(deps, input, object)
                    : object.kind === 'appCandidate'
                      ? await removeAppCandidate(deps, input, object)
                      : await removeApp(deps, input, object);
    } catch (err) {
      outcome = { reason: ensureErrorType(err).message, transient: classify(err).transient };
    }
    if (outcome === 'removed') {
      removed.push(object);
      logLine(log, 'info', `compensate: removed ${describe(object)}`);
    } else {
      orphans.push({ object, reason: outcome.reason, ...(outcome.transient ? { transient: true } : {}) });
      logLine(log, 'warn', `compensate: could not remove ${describe(object)}: ${outcome.reason}`);
    }
  }
  // A removal that failed for a reason that may pass (throttling, an outage, a reset, a timeout) is worth the same
  // durable retries as a forward step: throw so the retry policy runs the whole (idempotent) removal again. The last
  // attempt (`final`) reports instead.
  const transient = orphans.filter((o) => o.transient);
  if (transient.length && !input.final)
    throw new AppError(
      `${transient.length} removal(s) failed transiently: ${transient.map((o) => describe(o.object)).join(', ')}`,
      'CompensationIncomplete',
    );
  return { removed, orphans };
}
