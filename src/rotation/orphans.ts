/**
 * The orphan sweep: what a run could not remove (a removal that kept failing through every retry) is kept on the
 * integration with the run that created it. The daily sweep tries each again, with the ownership markers of that
 * run, so only what that run created is ever removed. What is gone is dropped from the list; what stays longer than
 * a day is logged at error level every sweep (an alert rule on the Function App's logs picks it up).
 */
import { compensate } from '../activities/compensate';
import type { Deps } from '../app/deps';
import type { RecordedOrphan } from '../contracts/provision';
import { ensureErrorType } from '../lib/errors';
import type { IntegrationRecord } from '../registry/types';

/** Orphans older than this are reported as an alert on every sweep. */
export const ORPHAN_ALERT_MS = 24 * 3600_000;

export interface OrphanSweepResult {
  integrations: number;
  removed: number;
  remaining: number;
  /** Integrations with orphans older than ORPHAN_ALERT_MS after this sweep. */
  alerts: { integrationId: string; orphans: RecordedOrphan[] }[];
}

export type OrphanSweepDeps = Pick<Deps, 'registry' | 'now'> & Parameters<typeof compensate>[1];

/**
 * Ids the integration uses now (apps, ServiceNow records, current credentials): a later run may have taken over what
 * an earlier one left behind, and what is live is never an orphan.
 */
function liveIds(record: IntegrationRecord): Set<string> {
  // Only an integration that is live or being provisioned uses anything; a rejected or rolled-back one does not.
  if (!['active', 'provisioning', 'awaiting-approval', 'checking'].includes(record.status)) return new Set();
  const ids = new Set<string>(Object.values(record.serviceNow));
  for (const app of Object.values(record.apps))
    for (const id of [app.objectId, app.appId, app.keyId, app.secretVersion]) if (id) ids.add(id);
  return ids;
}

function isLive(o: RecordedOrphan, live: Set<string>, record: IntegrationRecord): boolean {
  const x = o.object;
  switch (x.kind) {
    case 'app':
      return live.has(x.objectId);
    case 'appCandidate':
      return live.size > 0 && record.apps[x.role] !== undefined;
    case 'secret':
      return (x.keyId !== undefined && live.has(x.keyId)) || (x.version !== undefined && live.has(x.version));
    case 'record':
      return live.has(x.sysId);
    case 'recordCandidate':
      return false; // the removal itself skips the rows the integration uses (`keep`)
    case 'certificate':
      return live.has(x.version);
    case 'keyCredential':
      return live.has(x.keyId);
    case 'federatedCredential':
      return live.has(x.name);
  }
}

async function retryOne(deps: OrphanSweepDeps, record: IntegrationRecord): Promise<RecordedOrphan[]> {
  const left: RecordedOrphan[] = [];
  const live = liveIds(record);
  const byRun = new Map<string, RecordedOrphan[]>();
  for (const o of record.orphans ?? [])
    if (!isLive(o, live, record)) byRun.set(o.instanceId, [...(byRun.get(o.instanceId) ?? []), o]);
  for (const [instanceId, orphans] of byRun) {
    const ref = {
      integrationId: record.id,
      instanceId,
      profileId: record.profile,
      tenant: record.tenant,
      tenantName: record.tenantName,
      serviceNowInstance: record.serviceNowInstance,
    };
    const result = await compensate(
      { ...ref, created: orphans.map((o) => o.object), final: true, keep: [...live] },
      deps,
    );
    for (const o of result.orphans) {
      const before = orphans.find((x) => JSON.stringify(x.object) === JSON.stringify(o.object));
      left.push({ ...o, instanceId, since: before?.since ?? deps.now().toISOString() });
    }
  }
  return left;
}

export async function sweepOrphans(
  deps: OrphanSweepDeps,
  log?: { error(...a: unknown[]): void },
): Promise<OrphanSweepResult> {
  const out: OrphanSweepResult = { integrations: 0, removed: 0, remaining: 0, alerts: [] };
  const now = deps.now().getTime();
  for (const record of await deps.registry.list()) {
    const before = record.orphans ?? [];
    if (!before.length) continue;
    out.integrations++;
    let left: RecordedOrphan[];
    try {
      left = await retryOne(deps, record);
    } catch (err) {
      log?.error(`orphan sweep of ${record.id} failed: ${ensureErrorType(err).message}`);
      left = before;
    }
    out.removed += before.length - left.length;
    out.remaining += left.length;
    if (left.length !== before.length)
      await deps.registry.update(record.id, (cur) => {
        const { orphans: _old, ...rest } = cur ?? record;
        return { ...rest, ...(left.length ? { orphans: left } : {}), updatedAt: deps.now().toISOString() };
      });
    const old = left.filter((o) => now - Date.parse(o.since) > ORPHAN_ALERT_MS);
    if (old.length) {
      out.alerts.push({ integrationId: record.id, orphans: old });
      log?.error(
        `ALERT integration ${record.id}: ${old.length} object(s) could not be removed for over a day: ${old
          .map((o) => `${o.object.kind} ${JSON.stringify(o.object)}: ${o.reason}`)
          .join('; ')}`,
      );
    }
  }
  return out;
}
