/**
 * Activity `preflight` (read-only; the first step of docs/reference/servicenow.md#order-of-operations:
 * credentials, sys_scope, tables exist, sys_dictionary …). Collects EVERY problem as a sentence and creates nothing:
 *
 * - Graph: the access token our identity gets for Graph carries the application permissions the product uses
 *   (`roles` claim of an app-only token, Entra access-token claims reference; decoded, not verified:
 *   diagnostic only).
 * - Key Vault: reachable (one page of secret properties); with SERVICENOW_AUTH_MODE=basic or oauth, the ServiceNow
 *   credential secrets exist (token auth, the default, reads none).
 * - ServiceNow, authenticated as configured (the identity's token, or the credentials read from Key Vault now):
 *   a Table API read works, which with token auth proves the trust the bootstrap script sets up (OIDC provider
 *   configuration, entity, machine user: a 401 names that step); the profile's scoped app is installed
 *   (`sys_scope`, servicenow.md#records-the-integration-writes);
 *   every table and column we write exists (`sys_db_object`, `sys_dictionary`; a child table's inherited columns are
 *   listed under its parent, servicenow.md#schema-discovery, so the parent chain is followed through
 *   `sys_db_object.super_class`); the roles exist (`sys_user_role`, servicenow.md#authentication-and-roles).
 * - Tenant: the v1 OpenID metadata of the tenant at ENTRA_AUTHORITY_HOST answers; its issuer
 *   (`https://sts.windows.net/{tid}/`, docs/reference/microsoft.md#access-token-claims) gives the tenant GUID. Not
 *   fetched again when the request resolved the tenant's domain from that metadata just before (`tenantVerified`).
 *
 * Retriable failures (429, 5xx, network) are thrown for the durable retry: a transient outage is not a "problem".
 */

import { decodeJwtPayload, fetchOpenIdMetadata } from '../clients/entra';
import { readSecretValue, toKeyVaultError } from '../clients/keyvault';
import { encodedQuery, ServiceNowClient, type SnRecord } from '../clients/servicenow';
import { entraEndpoints, serviceNowCredentialSecretNames, serviceNowInstanceUrl } from '../config';
import { ensureErrorType, ExternalServiceError } from '../lib/errors';
import { redactText } from '../lib/redact';
import type { PreflightResult } from '../contracts/provision';
import type { Deps } from '../app/deps';
import type { PreflightActivityInput } from '../contracts/provision';
import { lookup, text } from './servicenow-common';
import { IP_ACCESS_COLUMNS } from './servicenow-ip';
import { type ActivityLog, logLine } from './log';

/**
 * Graph application permissions the product relies on; ReadWrite.All also covers OwnedBy. Mail.Send is not required
 * in the token: the recommended grant is Exchange Online RBAC for Applications scoped to the one sender mailbox, which
 * is independent of Entra app roles and so never appears in the token's `roles`
 * (https://learn.microsoft.com/exchange/permissions-exo/application-rbac).
 */
export const REQUIRED_GRAPH_ROLES: ReadonlyArray<{ role: string; alternatives: string[]; why: string }> = [
  {
    role: 'Application.ReadWrite.OwnedBy',
    alternatives: ['Application.ReadWrite.All'],
    why: 'to create and update the app registrations',
  },
];

const GUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;

function describe(err: unknown): string {
  return redactText(ensureErrorType(err).message);
}

/** Re-throws what a durable retry may fix; returns otherwise. */
function rethrowRetriable(err: unknown): void {
  const e = ensureErrorType(err);
  if (e instanceof ExternalServiceError && e.retriable) throw e;
}

/** What giving admin consent needs (GRANT_ADMIN_CONSENT with a profile that declares application permissions). */
export const CONSENT_GRAPH_ROLES: ReadonlyArray<{ role: string; alternatives: string[]; why: string }> = [
  {
    role: 'AppRoleAssignment.ReadWrite.All',
    alternatives: [],
    why: 'to grant the application permissions the profile declares (GRANT_ADMIN_CONSENT=true)',
  },
  {
    role: 'Application.Read.All',
    alternatives: ['Application.ReadWrite.All', 'Directory.Read.All', 'Directory.ReadWrite.All'],
    why: 'to read the app role assignments it grants (GRANT_ADMIN_CONSENT=true)',
  },
];

async function checkGraph(deps: Deps, problems: string[], grantsConsent: boolean): Promise<void> {
  let token: string | undefined;
  try {
    token = (await deps.credential.getToken(deps.config.graph.scope))?.token;
  } catch (err) {
    const status = (err as { statusCode?: unknown }).statusCode;
    if (typeof status === 'number' && (status === 429 || status >= 500)) throw ensureErrorType(err);
    problems.push(`The Function App identity could not get a Microsoft Graph token: ${describe(err)}`);
    return;
  }
  if (!token) {
    problems.push('The Function App identity got no Microsoft Graph token.');
    return;
  }
  const claims = decodeJwtPayload(token);
  if (!claims) return; // opaque token: nothing to diagnose
  const roles = Array.isArray(claims.roles) ? claims.roles.filter((r): r is string => typeof r === 'string') : [];
  for (const need of [...REQUIRED_GRAPH_ROLES, ...(grantsConsent ? CONSENT_GRAPH_ROLES : [])])
    if (![need.role, ...need.alternatives].some((r) => roles.includes(r)))
      problems.push(
        `The Function App identity's Microsoft Graph token lacks the application permission ${need.role} (needed ${need.why}); grant it as a Graph app role with admin consent. Token roles: ${roles.length ? roles.join(', ') : 'none'}.`,
      );
}

/**
 * Key Vault reachable, and the ServiceNow credential secrets exist. Resolves whether ServiceNow can be tried: with token
 * auth at once (no credential comes from the vault, so the ServiceNow checks need not wait for the vault check), else
 * once the credential secrets were read. `done` settles when every Key Vault problem is in `problems`.
 */
function checkKeyVault(
  deps: Deps,
  instance: string,
  problems: string[],
): { usable: Promise<boolean>; done: Promise<void> } {
  // The vault check and the credential reads are independent: all at once, the problems in this order.
  const vault = (async (): Promise<string[]> => {
    try {
      await deps.secrets.listPropertiesOfSecrets().byPage({ maxPageSize: 1 }).next();
      return [];
    } catch (err) {
      const e = toKeyVaultError(err, 'list secrets');
      if (e.retriable) throw e;
      return [`Key Vault ${deps.config.keyVault.url} is not usable by the Function App identity: ${describe(e)}`];
    }
  })();
  const names = serviceNowCredentialSecretNames(deps.config, instance);
  const mode = deps.config.serviceNow.authMode;
  if (mode === 'entra') {
    // Token auth: no ServiceNow secret to read.
    return { usable: Promise.resolve(true), done: vault.then((p) => void problems.push(...p)) };
  }
  const wanted =
    mode === 'oauth'
      ? [
          { name: names.clientId, what: 'OAuth client id' },
          { name: names.clientSecret, what: 'OAuth client secret' },
        ]
      : [
          { name: names.username, what: 'user name' },
          { name: names.password, what: 'password' },
        ];
  const reads = wanted.map(async ({ name, what }): Promise<string | undefined> => {
    try {
      await readSecretValue(deps.serviceNowSecrets, name); // value discarded: only its existence matters here
      return undefined;
    } catch (err) {
      rethrowRetriable(err);
      const status = err instanceof ExternalServiceError ? err.status : undefined;
      return status === 404
        ? `Key Vault secret '${name}' (the ServiceNow admin ${what} for instance ${instance}) does not exist or is disabled.`
        : `Key Vault secret '${name}' (the ServiceNow admin ${what} for instance ${instance}) cannot be read: ${describe(err)}`;
    }
  });
  const all = Promise.all([vault, ...reads]).then(([vaultProblems, ...secretProblems]) => {
    problems.push(...vaultProblems, ...secretProblems.filter((p): p is string => p !== undefined));
    return secretProblems.every((p) => p === undefined);
  });
  return { usable: all, done: all.then(() => undefined) };
}

/** sys_db_object rows by name, following super_class to the root tables. */
async function tableLineages(
  client: ServiceNowClient,
  tables: string[],
): Promise<{ lineage: Map<string, string[]>; missing: string[] }> {
  const q = encodedQuery().in('name', tables);
  const rows = (await client.list(`sys_db_object`, { query: q, fields: ['sys_id', 'name', 'super_class'] })).filter(
    (r) => q.matches(r),
  );
  const byId = new Map<string, SnRecord>(rows.map((r) => [text(r.sys_id) ?? '', r]));
  const byName = new Map<string, SnRecord>(rows.map((r) => [text(r.name) ?? '', r]));
  for (let depth = 0; depth < 10; depth++) {
    const parents = [...byId.values()]
      .map((r) => text(r.super_class) ?? '')
      .filter((id) => /^[0-9a-f]{32}$/.test(id) && !byId.has(id));
    if (!parents.length) break;
    const pq = encodedQuery().in('sys_id', [...new Set(parents)]);
    for (const r of await client.list('sys_db_object', { query: pq, fields: ['sys_id', 'name', 'super_class'] }))
      if (pq.matches(r)) byId.set(text(r.sys_id) ?? '', r);
  }
  const lineage = new Map<string, string[]>();
  const missing: string[] = [];
  for (const t of tables) {
    let row = byName.get(t);
    if (!row) {
      missing.push(t);
      continue;
    }
    const chain: string[] = [];
    for (let i = 0; row && i < 10; i++) {
      chain.push(text(row.name) ?? '');
      row = byId.get(text(row.super_class) ?? '');
    }
    lineage.set(t, chain);
  }
  return { lineage, missing };
}

/** The scoped app is installed and active: its sys_id. */
async function checkScope(
  client: ServiceNowClient,
  requiredScope: string | undefined,
  where: string,
  problems: string[],
): Promise<string | undefined> {
  let scopeSysId: string | undefined;
  if (requiredScope) {
    try {
      const sq = encodedQuery().eq('scope', requiredScope);
      const rows = (
        await client.list('sys_scope', { query: sq, fields: ['sys_id', 'scope', 'active', 'version'] })
      ).filter((r) => sq.matches(r));
      if (!rows.length)
        problems.push(`${where} does not have the app '${requiredScope}' installed (no sys_scope record).`);
      else if (rows.length > 1) problems.push(`${where} has ${rows.length} sys_scope records for '${requiredScope}'.`);
      else if (text(rows[0].active) === 'false')
        problems.push(`${where} has the app '${requiredScope}' installed but inactive.`);
      else scopeSysId = text(rows[0].sys_id);
    } catch (err) {
      rethrowRetriable(err);
      problems.push(`${where}: sys_scope cannot be read: ${describe(err)}`);
    }
  }
  return scopeSysId;
}

/** Every table and column the profile writes exists (columns may be inherited). */
async function checkTables(
  client: ServiceNowClient,
  input: PreflightActivityInput,
  where: string,
  problems: string[],
): Promise<void> {
  const required = { ...input.profile.serviceNow.requiredColumns };
  if (input.ipAllowlist) required.ip_access = [...new Set([...(required.ip_access ?? []), ...IP_ACCESS_COLUMNS])];
  const tables = Object.keys(required);
  if (tables.length) {
    try {
      const { lineage, missing } = await tableLineages(client, tables);
      for (const t of missing) problems.push(`${where} has no table '${t}' (sys_db_object).`);
      const all = [...new Set([...lineage.values()].flat())];
      const columns = new Map<string, Set<string>>(all.map((t) => [t, new Set<string>()]));
      if (all.length) {
        const dq = encodedQuery().in('name', all);
        const rows = await client.list('sys_dictionary', {
          query: dq,
          fields: ['name', 'element'],
          pageSize: 500,
          maxRecords: 20_000,
        });
        for (const r of rows) {
          const element = text(r.element) ?? '';
          if (dq.matches(r) && element !== '') columns.get(text(r.name) ?? '')?.add(element);
        }
      }
      for (const [t, cols] of Object.entries(required)) {
        const chain = lineage.get(t);
        if (!chain) continue;
        for (const c of cols)
          if (!chain.some((table) => columns.get(table)?.has(c)))
            problems.push(
              `${where}: column '${t}.${c}' does not exist (no sys_dictionary entry on ${chain.join(' or ')}).`,
            );
      }
    } catch (err) {
      rethrowRetriable(err);
      problems.push(`${where}: the schema (sys_db_object, sys_dictionary) cannot be read: ${describe(err)}`);
    }
  }
}

/** Records the integration needs and never writes (e.g. an installed spoke's connection alias). */
async function checkRequiredRecords(
  client: ServiceNowClient,
  records: NonNullable<PreflightActivityInput['profile']['serviceNow']['requiredRecords']>,
  where: string,
  problems: string[],
): Promise<void> {
  for (const r of records) {
    const what = `${r.table} ${Object.entries(r.naturalKey)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')}`;
    try {
      const found = await lookup(client, r.table, r.naturalKey, []);
      if (found.matched.length !== 1)
        problems.push(
          `${where} has ${found.matched.length ? `${found.matched.length} records` : 'no record'} ${what}: ${r.missing}.`,
        );
    } catch (err) {
      rethrowRetriable(err);
      problems.push(`${where}: ${r.table} cannot be read: ${describe(err)}`);
    }
  }
}

/** Why a token-authenticated call was refused, and the bootstrap step that fixes it. */
export function entraTrustProblem(deps: Deps, instance: string, status: number | undefined, detail: string): string {
  const where = `ServiceNow instance '${instance}'`;
  const token = deps.config.serviceNow.token;
  const bootstrap =
    `Connect the instance once: GET /api/servicenow/bootstrap?instance=${instance} returns a background script an ` +
    `instance administrator runs (it creates the OIDC provider configuration, the OIDC entity with client id ` +
    `${token?.clientId ?? '(SERVICENOW_TOKEN_AUDIENCE)'} and the machine user ` +
    `${deps.config.serviceNow.identityObjectId ?? '(SERVICENOW_IDENTITY_OBJECT_ID)'}); then ` +
    `GET /api/servicenow/instances/${instance}/trust checks it.`;
  if (status === 401)
    return (
      `${where} rejected the app's Entra token (SERVICENOW_AUTH_MODE=entra, audience ${token?.audience ?? '?'}): ` +
      `the instance does not trust it: no active OIDC entity for that client id, the provider configuration's ` +
      `metadata URL is not our tenant's, or the machine user is missing, inactive or locked. ${bootstrap} (${detail})`
    );
  return `${where} could not be reached with the app's Entra token (SERVICENOW_AUTH_MODE=entra): ${detail}. ${bootstrap}`;
}

async function checkServiceNow(
  deps: Deps,
  input: PreflightActivityInput,
  problems: string[],
  auth: { ok: boolean },
): Promise<string | undefined> {
  const instance = input.serviceNowInstance;
  const req = input.profile.serviceNow;
  // The one ServiceNow client of the instance (with its deadline, SERVICENOW_TIMEOUT_SECONDS). With basic/oauth it is
  // made to read the admin credentials from Key Vault afresh: the preflight checks what is stored now, not what was
  // cached. Token auth stores nothing to re-read: the app's cached Entra token is what every later call carries, and a
  // token the instance refuses (401) is dropped and replaced once by the client itself (EntraTokenAuthProvider).
  // Forgetting it here would replace the shared credential and with it the cached Graph and Key Vault tokens
  // (RefreshableCredential.refresh), so every provisioning would ask Entra for all of them again.
  const client = deps.serviceNow(instance);
  if (deps.config.serviceNow.authMode !== 'entra') client.forgetCredentials();
  const where = `ServiceNow instance '${instance}'`;

  // 1. Credentials: one Table API read (sys_user_role, which every later check needs anyway).
  const roles = req.requiredRoles;
  const rq = roles.length ? encodedQuery().in('name', roles) : encodedQuery().eq('name', 'admin');
  let roleRows: SnRecord[];
  try {
    roleRows = await client.list('sys_user_role', { query: rq, fields: ['sys_id', 'name'] });
  } catch (err) {
    rethrowRetriable(err);
    const status = err instanceof ExternalServiceError ? err.status : undefined;
    if (deps.config.serviceNow.authMode === 'entra' && status !== 404) {
      problems.push(entraTrustProblem(deps, instance, status, describe(err)));
      problems.push(`${where}: the app, table, column and role checks were not run because the Table API read failed.`);
      return undefined;
    }
    const names = serviceNowCredentialSecretNames(deps.config, instance);
    const secrets =
      deps.config.serviceNow.authMode === 'oauth'
        ? `'${names.clientId}', '${names.clientSecret}'`
        : `'${names.username}', '${names.password}'`;
    problems.push(
      status === 401
        ? `${where} rejected the admin credentials from Key Vault (secrets ${secrets}): ${describe(err)}`
        : status === 404
          ? `${where} was not found at ${serviceNowInstanceUrl(deps.config, instance)} (check the instance name): ${describe(err)}`
          : `${where} could not be read with the admin credentials from Key Vault (secrets ${secrets}): ${describe(err)}`,
    );
    problems.push(`${where}: the app, table, column and role checks were not run because the Table API read failed.`);
    return undefined;
  }
  auth.ok = true;
  const present = new Set(roleRows.filter((r) => rq.matches(r)).map((r) => text(r.name)));
  for (const role of roles) if (!present.has(role)) problems.push(`${where} has no role '${role}' (sys_user_role).`);

  // 2.–4. The scoped app, the tables and columns, and the records the integration needs: independent reads, all at
  // once; their problems keep this order.
  const scopeProblems: string[] = [];
  const tableProblems: string[] = [];
  const recordProblems: string[] = [];
  const [scopeSysId] = await Promise.all([
    checkScope(client, req.requiredScope, where, scopeProblems),
    checkTables(client, input, where, tableProblems),
    checkRequiredRecords(client, req.requiredRecords ?? [], where, recordProblems),
  ]);
  problems.push(...scopeProblems, ...tableProblems, ...recordProblems);
  return scopeSysId;
}

async function checkTenant(deps: Deps, tenant: string, problems: string[]): Promise<string | undefined> {
  const url = entraEndpoints(deps.config.entra.authorityHost, tenant).metadataV1;
  try {
    const metadata = await fetchOpenIdMetadata(url, deps.config.entra.timeoutMs);
    const tid = GUID.exec(metadata.issuer)?.[0]?.toLowerCase();
    if (!tid) problems.push(`The OpenID metadata of tenant '${tenant}' has an issuer without a tenant id.`);
    return tid;
  } catch (err) {
    rethrowRetriable(err);
    problems.push(`Tenant '${tenant}' does not resolve at ${deps.config.entra.authorityHost}: ${describe(err)}`);
    return undefined;
  }
}

export async function preflight(
  input: PreflightActivityInput,
  deps: Deps,
  log?: ActivityLog,
): Promise<PreflightResult> {
  const graphProblems: string[] = [];
  const vaultProblems: string[] = [];
  const snProblems: string[] = [];
  const tenantProblems: string[] = [];
  let credentialsInVault = false;
  const mode = deps.config.serviceNow.authMode;
  const auth = { ok: false };
  const keyVault = checkKeyVault(deps, input.serviceNowInstance, vaultProblems);
  const [, , scopeSysId, tenantId] = await Promise.all([
    checkGraph(
      deps,
      graphProblems,
      deps.config.provisioning.grantAdminConsent && input.profile.grantsPermissions === true,
    ),
    keyVault.done,
    keyVault.usable.then((usable) => {
      credentialsInVault = usable;
      return usable ? checkServiceNow(deps, input, snProblems, auth) : undefined;
    }),
    input.tenantVerified
      ? Promise.resolve(input.tenant.toLowerCase())
      : checkTenant(deps, input.tenant, tenantProblems),
  ]);
  if (!credentialsInVault)
    snProblems.push(
      `ServiceNow instance '${input.serviceNowInstance}' was not checked (app, tables, columns, roles): its admin credentials are not readable from Key Vault.`,
    );
  const problems = [...graphProblems, ...vaultProblems, ...snProblems, ...tenantProblems];
  logLine(
    log,
    problems.length ? 'warn' : 'info',
    `preflight: ${problems.length} problem(s); ServiceNow auth ${mode} ${auth.ok ? 'accepted' : 'not accepted'}`,
  );
  return {
    problems,
    ...(scopeSysId ? { scopeSysId } : {}),
    ...(tenantId ? { tenantId } : {}),
    serviceNowAuth: { mode, ok: auth.ok },
  };
}
