/**
 * The read-only activities of the health and drift check (src/orchestrators/check-health.ts), and the one registry
 * write a repair needs before it starts its provisioning run.
 *
 * - readIntegration: the registry row (apps, sys_ids, the last check's finding subjects).
 * - inspectEntra: each app registration with its credentials (Graph `GET /applications/{id}` returns
 *   passwordCredentials and keyCredentials with keyId and endDateTime, never a secret:
 *   https://learn.microsoft.com/graph/api/resources/passwordcredential), the service principal by appId, and the Key
 *   Vault version properties of its secret (properties only, never a value:
 *   https://learn.microsoft.com/rest/api/keyvault/secrets/get-secret-versions/get-secret-versions). Which keyIds are
 *   ours is what the product recorded: the registry's keyId and the `keyId` tag ensureAppSecret writes on every
 *   version it stores (src/activities/secrets.ts), so during a rotation both the old and the new key are ours. Never
 *   inferred from times.
 * - inspectServiceNow: each approved record by its registered sys_id (only the columns the profile writes), and the
 *   roles the plan's users hold directly (`sys_user_has_role` rows that are not inherited and not pending/inactive).
 *
 * Nothing here writes to Entra, Key Vault or ServiceNow: only GETs (and the Table API's GETs).
 */
import type { Deps } from '../app/deps';
import { graphRaw, odataKey } from '../clients/graph';
import { toKeyVaultError } from '../clients/keyvault';
import { encodedQuery } from '../clients/servicenow';
import type {
  InspectEntraInput,
  InspectEntraResult,
  InspectServiceNowInput,
  InspectServiceNowResult,
  IntegrationSnapshot,
  ObservedApp,
  ObservedCredential,
} from '../contracts/health';
import { ensureErrorType, ExternalServiceError } from '../lib/errors';
import { type ActivityLog, logLine } from './log';
import { lookup, text } from './servicenow-common';

const notFound = (err: unknown): boolean => {
  const e = ensureErrorType(err);
  return e instanceof ExternalServiceError && e.status === 404;
};

export async function readIntegration(
  input: { integrationId: string },
  deps: Pick<Deps, 'registry'>,
): Promise<IntegrationSnapshot> {
  const row = (await deps.registry.get(input.integrationId))?.value;
  if (!row) return { found: false, apps: {}, serviceNow: {}, previous: [] };
  return {
    found: true,
    status: row.status,
    apps: Object.fromEntries(
      Object.entries(row.apps).map(([role, a]) => [
        role,
        {
          appId: a.appId,
          objectId: a.objectId,
          secretName: a.secretName,
          ...(a.secretVersion ? { secretVersion: a.secretVersion } : {}),
          ...(a.keyId ? { keyId: a.keyId } : {}),
          ...(a.credential ? { credential: a.credential } : {}),
        },
      ]),
    ),
    serviceNow: row.serviceNow,
    previous: row.health?.findings ?? [],
    ...(row.health?.lastGoodAt ? { lastGoodAt: row.health.lastGoodAt } : {}),
    instanceId: row.instanceId,
    ...(row.runs ? { runs: row.runs } : {}),
  };
}

async function servicePrincipalOf(deps: Pick<Deps, 'graph'>, appId: string): Promise<string | undefined> {
  try {
    const r = await graphRaw<{ id?: string }>(
      deps.graph,
      'GET',
      `/servicePrincipals(appId='${odataKey(appId)}')?$select=id,appId`,
    );
    return r.body?.id || undefined;
  } catch (err) {
    if (notFound(err)) return undefined;
    throw err;
  }
}

interface GraphCredential {
  keyId?: string;
  displayName?: string | null;
  endDateTime?: string | null;
}

export async function inspectEntra(
  input: InspectEntraInput,
  deps: Pick<Deps, 'graph' | 'secrets'>,
  log?: ActivityLog,
): Promise<InspectEntraResult> {
  const apps: ObservedApp[] = [];
  for (const app of input.apps) {
    if (app.existing) {
      const sp = await servicePrincipalOf(deps, app.appId);
      apps.push({
        role: app.role,
        exists: sp !== undefined,
        appId: app.appId,
        ...(sp ? { servicePrincipalId: sp } : {}),
        credentials: [],
        ownKeyIds: [],
      });
      continue;
    }
    let body:
      { appId?: string; passwordCredentials?: GraphCredential[]; keyCredentials?: GraphCredential[] } | undefined;
    try {
      body = (
        await graphRaw<typeof body>(
          deps.graph,
          'GET',
          `/applications/${encodeURIComponent(app.objectId)}?$select=id,appId,passwordCredentials,keyCredentials`,
        )
      ).body;
    } catch (err) {
      if (!notFound(err)) throw err;
    }
    if (!body) {
      apps.push({ role: app.role, exists: false, appId: app.appId, credentials: [], ownKeyIds: [] });
      continue;
    }
    const credentials: ObservedCredential[] = [
      ...(body.passwordCredentials ?? []).map((c) => ({ ...c, type: 'password' as const })),
      ...(body.keyCredentials ?? []).map((c) => ({ ...c, type: 'key' as const })),
    ]
      .filter((c): c is typeof c & { keyId: string } => typeof c.keyId === 'string')
      .map((c) => ({
        keyId: c.keyId,
        type: c.type,
        ...(c.displayName ? { displayName: c.displayName } : {}),
        ...(c.endDateTime ? { endDateTime: c.endDateTime } : {}),
      }));
    const own = new Set<string>(app.keyId ? [app.keyId.toLowerCase()] : []);
    let secret: ObservedApp['secret'];
    if (app.secretName) {
      const versions: { version: string; enabled: boolean; expiresOn?: string; keyId?: string }[] = [];
      try {
        for await (const p of deps.secrets.listPropertiesOfSecretVersions(app.secretName))
          versions.push({
            version: p.version ?? '',
            enabled: p.enabled !== false,
            ...(p.expiresOn ? { expiresOn: p.expiresOn.toISOString() } : {}),
            ...(p.tags?.keyId ? { keyId: p.tags.keyId } : {}),
          });
      } catch (err) {
        const e = toKeyVaultError(err, `list versions of '${app.secretName}'`);
        if (e.status !== 404) throw e;
      }
      for (const v of versions) if (v.keyId) own.add(v.keyId.toLowerCase());
      if (app.secretVersion) {
        const v = versions.find((x) => x.version === app.secretVersion);
        secret = {
          name: app.secretName,
          version: app.secretVersion,
          found: v !== undefined,
          ...(v ? { enabled: v.enabled } : {}),
          ...(v?.expiresOn ? { expiresOn: v.expiresOn } : {}),
        };
      }
    }
    let federated: ObservedApp['federated'];
    // Every federated identity credential of our app: ours (by the registry's name) and any other, which is a way in.
    // https://learn.microsoft.com/graph/api/application-list-federatedidentitycredentials (at most 20 per app).
    const fics =
      (
        await graphRaw<{
          value?: { id?: string; name?: string; issuer?: string; subject?: string; audiences?: string[] }[];
        }>(deps.graph, 'GET', `/applications/${encodeURIComponent(app.objectId)}/federatedIdentityCredentials`)
      ).body?.value ?? [];
    const otherFederated = fics
      .filter((x) => x.name !== app.federated?.name)
      .map((x) => ({ id: x.id ?? '', name: x.name ?? '', issuer: x.issuer ?? '', subject: x.subject ?? '' }));
    if (app.federated) {
      const f = fics.find((x) => x.name === app.federated?.name);
      federated = {
        name: app.federated.name,
        expected: { issuer: app.federated.issuer, subject: app.federated.subject },
        ...(f ? { found: { issuer: f.issuer ?? '', subject: f.subject ?? '', audiences: f.audiences ?? [] } } : {}),
      };
    }
    const sp = await servicePrincipalOf(deps, body.appId ?? app.appId);
    apps.push({
      role: app.role,
      exists: true,
      appId: body.appId ?? app.appId,
      ...(sp ? { servicePrincipalId: sp } : {}),
      credentials,
      ownKeyIds: [...own],
      ...(secret ? { secret } : {}),
      ...(federated ? { federated } : {}),
      ...(otherFederated.length ? { otherFederated } : {}),
    });
  }
  logLine(log, 'info', `health: inspected ${apps.length} app(s) of ${input.integrationId}`);
  return { apps };
}

export async function inspectServiceNow(
  input: InspectServiceNowInput,
  deps: Pick<Deps, 'serviceNow'>,
  log?: ActivityLog,
): Promise<InspectServiceNowResult> {
  const sn = deps.serviceNow(input.serviceNowInstance);
  const records: InspectServiceNowResult['records'] = [];
  for (const r of input.records) {
    const columns = Object.keys(r.fields);
    const live = await sn.get(r.table, r.sysId, { fields: columns.length ? columns : ['sys_id'] });
    records.push({
      key: r.key,
      found: live !== undefined,
      values: live ? Object.fromEntries(Object.keys(r.fields).map((f) => [f, text(live[f]) ?? ''])) : {},
    });
  }
  const users = [...new Set([...input.grants.map((g) => g.userName), ...input.ownUsers])];
  const roles: Record<string, string[]> = {};
  const missingUsers: string[] = [];
  const roleNames = new Map<string, string | undefined>();
  for (const userName of users) {
    const found = await lookup(sn, 'sys_user', { user_name: userName }, []);
    const userId = found.matched.length === 1 ? text(found.matched[0].sys_id) : undefined;
    if (!userId) {
      missingUsers.push(userName);
      continue;
    }
    const q = encodedQuery().eq('user', userId);
    const rows = (
      await sn.list('sys_user_has_role', { query: q, fields: ['user', 'role', 'state', 'inherited'] })
    ).filter((g) => q.matches(g));
    const held = new Set<string>();
    for (const g of rows) {
      const state = text(g.state);
      // Inherited rows come with a role that contains them; pending or inactive grants give nothing.
      if (text(g.inherited) === 'true' || (state && state !== 'active')) continue;
      const roleId = text(g.role) ?? '';
      if (!/^[0-9a-f]{32}$/.test(roleId)) continue;
      if (!roleNames.has(roleId))
        roleNames.set(roleId, text((await sn.get('sys_user_role', roleId, { fields: ['name'] }))?.name));
      const name = roleNames.get(roleId);
      if (name) held.add(name);
    }
    roles[userName] = [...held].sort();
  }
  logLine(
    log,
    'info',
    `health: inspected ${records.length} record(s) and ${users.length} user(s) of ${input.integrationId}`,
  );
  return { records, roles, missingUsers };
}

/**
 * Names the repair's provisioning run on the registry row (as the HTTP starter does for a re-provisioning), compare-
 * and-set on the run the row names: `started: false` when another run took the row meanwhile.
 */
export async function beginRepairRun(
  input: { integrationId: string; expectInstanceId: string; instanceId: string; run: number; at: string },
  deps: Pick<Deps, 'registry'>,
): Promise<{ started: boolean; reason?: string }> {
  let outcome: { started: boolean; reason?: string } = { started: false, reason: 'not registered' };
  await deps.registry.update(input.integrationId, (cur) => {
    if (!cur) throw new Error(`integration ${input.integrationId} is not registered`);
    if (cur.instanceId === input.instanceId) {
      outcome = { started: true };
      return cur;
    }
    if (cur.instanceId !== input.expectInstanceId || cur.status !== 'active') {
      outcome = { started: false, reason: `run ${cur.instanceId} (${cur.status}) holds the integration` };
      return cur;
    }
    outcome = { started: true };
    return { ...cur, instanceId: input.instanceId, runs: input.run, updatedAt: input.at };
  });
  return outcome;
}
