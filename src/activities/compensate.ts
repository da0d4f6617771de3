/**
 * Activity `compensate`: removes what this integration created, in reverse order of creation (ServiceNow records,
 * then Key Vault secrets, then Entra applications), and reports whatever could not be removed as an orphan with its
 * id and the reason. It never touches anything not listed, and re-checks the markers of listed Entra and Key Vault
 * objects before deleting them, so a pre-existing object slipped into the list is left alone (and reported).
 *
 * - ServiceNow: `DELETE /api/now/table/{table}/{sys_id}`; 404 counts as removed. Only a record the ownership ledger
 *   says this run created; a shared one only when its last reference goes (servicenow-common.ts removeOwnedRecord).
 * - Key Vault: `beginDeleteSecret` = soft delete (recoverable for the vault's retention); never purge
 *   (lessons-from-peers §5.1, microsoft-apis.md §6.3). Only a secret whose versions carry our integrationId tag.
 * - Entra: `DELETE /applications/{id}` moves the app to deleted items for 30 days, restorable
 *   (microsoft-apis.md §2.5); its service principal goes with it. Only an app tagged as created by this run.
 *   404 counts as removed (note: right after creation a not-yet-replicated app also answers 404, §4.3).
 */
import type { InvocationContext } from '@azure/functions';
import type { ActivityHandler } from 'durable-functions';

import { toKeyVaultError } from '../clients/keyvault';
import { ensureErrorType } from '../lib/errors';
import type { CompensateInput, CompensateResult, CreatedObject, IntegrationRef, Orphan } from './contracts';
import { getDeps, type Deps } from './deps';
import { createdByRun } from './entra';
import { graphCall, logLine, statusOf, uniqueNameFor, type ActivityLog } from './entra-graph';
import { removeOwnedRecord } from './servicenow-common';

type Removal = 'removed' | { reason: string };

const ORDER: Record<CreatedObject['kind'], number> = { record: 0, secret: 1, app: 2, appCandidate: 2 };

/** Only what the ownership ledger says this run created; shared records are released by reference count. */
async function removeRecord(
  deps: Deps,
  ref: IntegrationRef,
  o: Extract<CreatedObject, { kind: 'record' }>,
): Promise<Removal> {
  return removeOwnedRecord(deps, ref, o);
}

async function removeSecret(
  deps: Deps,
  ref: IntegrationRef,
  o: Extract<CreatedObject, { kind: 'secret' }>,
): Promise<Removal> {
  let ours = false;
  let any = false;
  try {
    for await (const p of deps.secrets.listPropertiesOfSecretVersions(o.secretName)) {
      any = true;
      if (p.tags?.integrationId === ref.integrationId) ours = true;
    }
  } catch (err) {
    const e = toKeyVaultError(err, `list versions of '${o.secretName}'`);
    if (e.status !== 404) throw e;
  }
  if (!any) return 'removed';
  if (!ours) return { reason: `not written by integration ${ref.integrationId} (no matching tag); left in place` };
  try {
    // The first poll sends the DELETE; waiting for the deleted state is not needed to know it was accepted.
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
    if (statusOf(err) === 404) return 'removed';
    throw err;
  }
  if (!createdByRun(tags, ref.instanceId))
    return { reason: `not created by provisioning run ${ref.instanceId} (no creation tag); left in place` };
  try {
    await graphCall(deps.graph, 'DELETE', path);
  } catch (err) {
    if (statusOf(err) !== 404) throw err;
  }
  return 'removed';
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
    if (statusOf(err) === 404) return 'removed';
    throw err;
  }
  if (!found?.id) return 'removed';
  return removeApp(deps, ref, { kind: 'app', role: o.role, objectId: found.id, appId: found.appId ?? '' });
}

const describe = (o: CreatedObject) =>
  o.kind === 'app'
    ? `app ${o.role} ${o.objectId}`
    : o.kind === 'appCandidate'
      ? `app ${o.role} (by uniqueName)`
      : o.kind === 'secret'
        ? `secret ${o.secretName}`
        : `record ${o.table}/${o.sysId}`;

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
          : object.kind === 'secret'
            ? await removeSecret(deps, input, object)
            : object.kind === 'appCandidate'
              ? await removeAppCandidate(deps, input, object)
              : await removeApp(deps, input, object);
    } catch (err) {
      outcome = { reason: ensureErrorType(err).message };
    }
    if (outcome === 'removed') {
      removed.push(object);
      logLine(log, 'info', `compensate: removed ${describe(object)}`);
    } else {
      orphans.push({ object, reason: outcome.reason });
      logLine(log, 'warn', `compensate: could not remove ${describe(object)}: ${outcome.reason}`);
    }
  }
  return { removed, orphans };
}

export const compensateHandler: ActivityHandler = (input: unknown, ctx: InvocationContext) =>
  compensate(input as CompensateInput, getDeps(), ctx);
