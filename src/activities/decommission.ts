/**
 * Activity `planDecommission` (read-only): what decommissioning an integration removes, found from what records
 * ownership, never from names or timestamps:
 *
 * - Entra applications named on the registry row that carry the creation tag of one of the integration's provisioning
 *   runs (an adopted or pre-existing app carries none and stays); their service principals and credentials go with them.
 * - Key Vault secrets named on the row whose every version carries the integration's tag (soft-deleted, never purged).
 * - ServiceNow records the ownership ledger says a run of the integration created (its claims with a sys_id), oldest
 *   first so the removal (later-created first) deletes dependents before what they point to.
 * - Its references to shared records (cross-scope privileges, role grants, IP allow rules): released; a record is
 *   deleted only when no other integration references it and an integration created it.
 *
 * Records on the row the ledger does not attribute to the integration (a person's, another integration's, one that
 * existed before) are listed as kept. Idempotent and side-effect free: a re-run of a finished decommissioning finds
 * nothing left to remove.
 */
import type { Deps } from '../app/deps';
import type { DecommissionPlan, KeptObject, PlanDecommissionInput } from '../contracts/decommission';
import { describeObject, type ApprovalPlan, type CreatedObject, type Outcome } from '../contracts/provision';
import { graphCall } from '../clients/graph';
import { serviceNowInstanceUrl } from '../config';
import { getProfile } from '../profiles';
import { httpStatusOf } from '../lib/errors';
import { PRE_EXISTING } from '../registry/ownership';
import { createdByIntegration } from './entra';
import { failureOrThrow, inputFailure } from './failures';
import { type ActivityLog, logLine } from './log';
import { listVersions } from './rotation-common';

interface GraphApp {
  id?: string;
  appId?: string;
  displayName?: string;
  uniqueName?: string;
  tags?: string[];
}

export async function planDecommission(
  input: PlanDecommissionInput,
  deps: Deps,
  log?: ActivityLog,
): Promise<Outcome<DecommissionPlan>> {
  try {
    const row = await deps.registry.get(input.integrationId);
    if (!row) return inputFailure('NotRegistered', `integration ${input.integrationId} is not registered`);
    const record = row.value;
    const remove: CreatedObject[] = [];
    const keep: KeptObject[] = [];
    const removeText: string[] = [];
    const apps: ApprovalPlan['apps'] = [];

    // ServiceNow: the ledger's claims (unshared records any run of the integration created).
    const claims = (await deps.ownership.claimsOf(input.integrationId)).filter(
      (c) => c.serviceNowInstance === input.serviceNowInstance,
    );
    const claimed = new Set<string>();
    for (const c of claims) {
      if (!c.sysId) {
        keep.push({
          what: `${c.table} '${c.key}'`,
          reason: 'an insert that never got an answer (no sys_id recorded); the orphan sweep of its run looks for it',
        });
        continue;
      }
      claimed.add(c.sysId);
      const o: CreatedObject = { kind: 'record', key: c.key, table: c.table, sysId: c.sysId, retire: true };
      remove.push(o);
      removeText.push(`ServiceNow ${describeObject(o)}`);
    }
    // Shared records: this integration's references are released.
    const keyOf = new Map(Object.entries(record.serviceNow).map(([k, sysId]) => [sysId, k]));
    for (const e of await deps.ownership.sharedHeldBy(input.serviceNowInstance, input.integrationId)) {
      if (!e.sysId) continue;
      claimed.add(e.sysId);
      const others = Object.keys(e.holders).filter((h) => h !== input.integrationId);
      const key = keyOf.get(e.sysId) ?? `shared:${e.table}:${JSON.stringify(e.naturalKey)}`;
      const o: CreatedObject = { kind: 'record', key, table: e.table, sysId: e.sysId, shared: true, retire: true };
      remove.push(o);
      const fate = others.length
        ? `reference released; the record stays (${others.length} other integration(s) reference it)`
        : e.createdBy === '' || e.createdBy === PRE_EXISTING
          ? 'reference released; the record stays (it existed before any integration)'
          : 'deleted (no other integration references it)';
      removeText.push(`ServiceNow shared ${describeObject(o)}: ${fate}`);
    }
    for (const [key, sysId] of Object.entries(record.serviceNow))
      if (!claimed.has(sysId))
        keep.push({
          what: `ServiceNow record ${key} (${sysId})`,
          reason: 'the ownership ledger does not say this integration created it; left in place',
        });

    // Key Vault and Entra, per app on the row.
    const secrets: CreatedObject[] = [];
    for (const [role, a] of Object.entries(record.apps)) {
      if (a.secretName) {
        const versions = await listVersions(deps, a.secretName);
        const foreign = versions.filter((v) => v.tags?.integrationId !== input.integrationId);
        if (foreign.length)
          keep.push({
            what: `Key Vault secret ${a.secretName}`,
            reason: `${foreign.length} version(s) were not written by this integration; left in place`,
          });
        else if (versions.length) {
          const o: CreatedObject = {
            kind: 'secret',
            role,
            secretName: a.secretName,
            ...(a.objectId ? { appObjectId: a.objectId } : {}),
            retire: true,
          };
          secrets.push(o);
          removeText.push(
            `Key Vault secret ${a.secretName} (${versions.length} version(s)): soft-deleted, recoverable`,
          );
        }
      }
      if (!a.objectId) continue;
      let app: GraphApp | undefined;
      try {
        app = (
          await graphCall<GraphApp>(
            deps.graph,
            'GET',
            `/applications/${encodeURIComponent(a.objectId)}?$select=id,appId,displayName,uniqueName,tags`,
          )
        ).body;
      } catch (err) {
        if (httpStatusOf(err) !== 404) throw err;
      }
      if (!app?.id) continue; // already gone
      if (!createdByIntegration(app.tags ?? [], input.integrationId)) {
        keep.push({
          what: `Entra application ${app.displayName ?? role} (${app.appId ?? a.appId})`,
          reason: 'not created by this integration (no creation tag of its runs); left in place',
        });
        continue;
      }
      const o: CreatedObject = { kind: 'app', role, objectId: app.id, appId: app.appId ?? a.appId, retire: true };
      remove.push(o);
      removeText.push(
        `Entra ${describeObject(o)} with its service principal and credentials (deleted items, restorable for 30 days)`,
      );
      apps.push({
        role,
        displayName: app.displayName ?? role,
        uniqueName: app.uniqueName ?? '',
        appId: app.appId ?? a.appId,
        purpose: 'removed by the decommissioning',
        redirectUris: [],
      });
    }
    remove.push(...secrets);

    const summary: ApprovalPlan = {
      integrationId: input.integrationId,
      profile: { id: record.profile, title: getProfile(record.profile)?.title ?? record.profile },
      tenant: {
        id: record.tenant,
        name: record.tenantName,
        ...(record.tenantDomain ? { domain: record.tenantDomain } : {}),
      },
      serviceNow: {
        instance: input.serviceNowInstance,
        url: serviceNowInstanceUrl(deps.config, input.serviceNowInstance),
      },
      apps,
      trust: [],
      records: [],
      roleGrants: [],
      privileges: [],
      ipRules: [],
      manualSteps: [],
      requestedBy: [...input.requestedBy].sort(),
      decommission: {
        ...(input.reason ? { reason: input.reason } : {}),
        remove: removeText,
        keep: keep.map((k) => `${k.what}: ${k.reason}`),
      },
    };
    logLine(
      log,
      'info',
      `decommission plan of ${input.integrationId}: ${remove.length} to remove, ${keep.length} kept`,
    );
    return { ok: true, remove, keep, summary };
  } catch (err) {
    return { ok: false, failure: failureOrThrow(err) };
  }
}
