import type { IntegrationRecord } from '../registry/types';
import type { RegistryUpdateInput } from '../contracts/provision';
import type { Deps } from '../app/deps';

/** Applies an orchestration milestone to the registry row (non-secret state only). */
export function applyUpdate(record: IntegrationRecord, u: RegistryUpdateInput): IntegrationRecord {
  const apps = { ...record.apps };
  for (const app of u.apps ?? [])
    apps[app.role] = {
      ...apps[app.role],
      appId: app.appId,
      objectId: app.objectId,
      secretName: apps[app.role]?.secretName ?? '',
    };
  for (const s of u.secrets ?? []) {
    const current = apps[s.role];
    if (!current) continue;
    // Times and confirmations belong to one credential: a new one starts without the old one's.
    const { createdOn: _created, confirmations, ...rest } = current;
    const kept = confirmations?.filter((c) => c.keyId === s.keyId) ?? [];
    apps[s.role] = {
      ...rest,
      secretName: s.secretName,
      secretVersion: s.version,
      keyId: s.keyId,
      expiresOn: s.expiresOn,
      ...(s.createdOn
        ? { createdOn: s.createdOn }
        : s.keyId === current.keyId && _created
          ? { createdOn: _created }
          : {}),
      ...(kept.length ? { confirmations: kept } : {}),
    };
  }
  for (const c of u.credentials ?? []) {
    const current = apps[c.role];
    if (!current) continue;
    apps[c.role] = {
      ...current,
      credential:
        c.kind === 'certificate'
          ? {
              kind: 'certificate',
              certificateName: c.certificateName,
              version: c.version,
              x5t: c.x5t,
              keyId: c.keyId,
              expiresOn: c.notAfter,
            }
          : { kind: 'federated', name: c.name, issuer: c.issuer, subject: c.subject },
    };
  }
  for (const role of u.retiredSecrets ?? []) {
    const current = apps[role];
    if (!current) continue;
    const { secretVersion: _v, keyId: _k, expiresOn: _e, createdOn: _c, confirmations: _f, ...rest } = current;
    apps[role] = { ...rest, secretName: '' };
  }
  for (const { role, ...c } of u.confirmations ?? []) {
    const current = apps[role];
    if (!current || current.keyId !== c.keyId) continue;
    const others = (current.confirmations ?? []).filter((x) => x.keyId === c.keyId && x.consumer !== c.consumer);
    apps[role] = { ...current, confirmations: [...others, c] };
  }
  const serviceNow = { ...record.serviceNow };
  for (const r of u.records ?? []) if (r.sysId) serviceNow[r.key] = r.sysId;
  for (const key of u.dropRecords ?? []) delete serviceNow[key];
  const orphans = u.orphans
    ? [
        ...(record.orphans ?? []).filter((o) => o.instanceId !== u.orphans?.instanceId),
        ...u.orphans.items.map((o) => ({
          ...o,
          instanceId: u.orphans!.instanceId,
          since:
            record.orphans?.find(
              (r) => r.instanceId === u.orphans?.instanceId && JSON.stringify(r.object) === JSON.stringify(o.object),
            )?.since ?? u.at,
        })),
      ]
    : record.orphans;
  const { orphans: _previous, ...rest } = record;
  return {
    ...rest,
    ...(u.status ? { status: u.status } : {}),
    ...(u.approval ? { approval: u.approval } : {}),
    ...(u.approvers ? { approvers: u.approvers } : {}),
    ...(u.lastRun ? { lastRun: u.lastRun } : {}),
    ...(u.lastRotation ? { lastRotation: u.lastRotation } : {}),
    ...(u.decommission ? { decommission: u.decommission } : {}),
    ...(u.health ? { health: u.health } : {}),
    ...(u.tenantName ? { tenantName: u.tenantName } : {}),
    ...(u.tenantDomain ? { tenantDomain: u.tenantDomain } : {}),
    ...(u.ticket ? { ticket: u.ticket } : {}),
    ...(u.appliedDigest ? { appliedDigest: u.appliedDigest } : {}),
    ...(orphans?.length ? { orphans } : {}),
    apps,
    serviceNow,
    ...(u.checks ? { checks: u.checks.map((c) => ({ ...c, at: u.at })) } : {}),
    updatedAt: u.at,
  };
}

/** Whether the update changes the row (an update may only carry audit events). */
const changesRow = (u: RegistryUpdateInput): boolean =>
  Object.entries(u).some(([k, v]) => v !== undefined && !['integrationId', 'at', 'audit'].includes(k));

/**
 * Idempotent: a replay of the same milestone (same `at`) leaves the row as it is and records its audit events once.
 * The events are recorded first: a milestone is never on the row without its trail.
 */
export async function updateRegistry(
  input: RegistryUpdateInput,
  deps: Pick<Deps, 'registry' | 'audit'>,
): Promise<void> {
  if (input.audit?.length) await deps.audit.append(input.integrationId, input.audit);
  if (!changesRow(input)) return;
  const current = await deps.registry.get(input.integrationId);
  if (!current) throw new Error(`integration ${input.integrationId} is not registered`);
  const next = applyUpdate(current.value, input);
  if (JSON.stringify(next) === JSON.stringify(current.value)) return;
  await deps.registry.update(input.integrationId, (cur) => applyUpdate(cur ?? current.value, input));
}
