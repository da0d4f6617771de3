/**
 * The fault matrix: every external operation the provisioning, rotation and compensation paths use × the faults a
 * real dependency shows (throttling, an outage, a dropped connection, no answer, a write applied after the client gave
 * up). The operations were enumerated from the sandbox's request journal of a clean provisioning, a clean rotation, a
 * silent re-provisioning and a rejected provisioning (method + path pattern per service); `test/faults/fault-matrix.test.ts`
 * checks that every call of such a clean run matches one of them, so the list cannot silently fall behind the product.
 *
 * Each operation names the flow that exercises it:
 * - `provision`: a first provisioning, approved by email: ends `active`, or `failed` with everything removed.
 * - `reject`: a first provisioning, rejected by email: the compensation path (DELETEs, removePassword, disabling and
 *   soft-deleting Key Vault secrets) runs under the fault; ends `rejected` with everything removed.
 * - `rotate`: a rotation (`POST /api/integrations/{id}/rotate`, hand-offs confirmed) of an active integration: ends
 *   `rotated`, or `rolled-back` with the old credential live.
 * - `rerun`: a re-provisioning of an active integration with the same plan (silent): the live integration stays as
 *   it was whatever the fault does.
 * The fault is armed when the flow starts (for `reject`, when the approval request waits, so it hits the rollback).
 *
 * Deadlines are the product's settings (GRAPH_TIMEOUT_SECONDS, KEY_VAULT_TIMEOUT_SECONDS, SERVICENOW_TIMEOUT_SECONDS,
 * ENTRA_TIMEOUT_SECONDS), set short so a hang ends quickly. Retry-After semantics:
 * https://www.rfc-editor.org/rfc/rfc9110#field.retry-after; Graph throttling:
 * https://learn.microsoft.com/graph/throttling; Key Vault throttling:
 * https://learn.microsoft.com/azure/key-vault/general/overview-throttling.
 */
import type { FaultAction } from '../../sandbox/core/faults';
import type { ServiceName } from '../../sandbox/core/types';

export type Flow = 'provision' | 'reject' | 'rotate' | 'rerun';

export interface Operation {
  /** Stable id, `service.what`. */
  id: string;
  service: ServiceName;
  method: string;
  /** Regular expression source matched against the request path; `{instance}` is the cell's ServiceNow instance. */
  path: string;
  flow: Flow;
}

/** The client deadline every cell runs with (seconds, one value for every service). */
export const DEADLINE_SECONDS = 1;

export const DEADLINE_SETTINGS: Record<string, string> = {
  GRAPH_TIMEOUT_SECONDS: String(DEADLINE_SECONDS),
  KEY_VAULT_TIMEOUT_SECONDS: String(DEADLINE_SECONDS),
  SERVICENOW_TIMEOUT_SECONDS: String(DEADLINE_SECONDS),
  ENTRA_TIMEOUT_SECONDS: String(DEADLINE_SECONDS),
};

/** How long a late write is held before it is applied: past the deadline. */
export const LATE_MS = DEADLINE_SECONDS * 1000 + 700;

export const FAULTS = {
  '429': { type: 'status', status: 429, headers: { 'Retry-After': '1' } },
  '503': { type: 'status', status: 503 },
  reset: { type: 'reset' },
  hang: { type: 'hang' },
  late: { type: 'latency', ms: LATE_MS },
} as const satisfies Record<string, FaultAction>;

export type FaultName = keyof typeof FAULTS;
export const FAULT_NAMES = Object.keys(FAULTS) as FaultName[];

/** How many matching calls each fault hits (then the rule is dropped). */
export const FAULT_TIMES = 2;

const GUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const HEX32 = '[0-9a-f]{32}';
/** A Table API path of one table on the cell's instance (v2 as the product calls it; any version matches). */
const table = (name: string, item = false) =>
  `^/{instance}/api/now/(v\\d+/)?table/${name}${item ? '/[0-9a-f]{32}' : ''}$`;
const sn = (flow: Flow, name: string, method: string, item: boolean): Operation => ({
  id: `servicenow.${name}.${method}`,
  service: 'servicenow',
  method,
  path: method === 'GET' ? table(name).replace('$', '(/[0-9a-f]{32})?$') : table(name, item),
  flow,
});

export const OPERATIONS: Operation[] = [
  // Entra token endpoint and discovery (the Function identity's tokens, the checks' v1 token, tenant resolution).
  { id: 'entra.token.v2', service: 'entra', method: 'POST', path: '/oauth2/v2\\.0/token$', flow: 'provision' },
  { id: 'entra.token.v1', service: 'entra', method: 'POST', path: '/oauth2/token$', flow: 'provision' },
  {
    id: 'entra.openid-configuration',
    service: 'entra',
    method: 'GET',
    path: '/\\.well-known/openid-configuration$',
    flow: 'provision',
  },
  { id: 'entra.keys', service: 'entra', method: 'GET', path: '/discovery/keys$', flow: 'provision' },
  // The v2 keys ServiceNow fetches to validate the product's own token (the control-plane trust's v2 metadata).
  { id: 'entra.keys.v2', service: 'entra', method: 'GET', path: '/discovery/v2\\.0/keys$', flow: 'provision' },
  { id: 'entra.token.v2@rotate', service: 'entra', method: 'POST', path: '/oauth2/v2\\.0/token$', flow: 'rotate' },

  // Graph: applications (upsert by uniqueName), credentials, service principals, approver groups, mail.
  {
    id: 'graph.applications.upsert',
    service: 'graph',
    method: 'PATCH',
    path: "^/v1\\.0/applications\\(uniqueName='[^']+'\\)$",
    flow: 'provision',
  },
  {
    id: 'graph.applications.getByUniqueName',
    service: 'graph',
    method: 'GET',
    path: "^/v1\\.0/applications\\(uniqueName='[^']+'\\)$",
    flow: 'provision',
  },
  {
    id: 'graph.applications.get',
    service: 'graph',
    method: 'GET',
    path: `^/v1\\.0/applications/${GUID}$`,
    flow: 'provision',
  },
  // The service principal of an app a provisioning has just created is upserted without a read; a re-run reads it.
  {
    id: 'graph.servicePrincipals.get',
    service: 'graph',
    method: 'GET',
    path: "^/v1\\.0/servicePrincipals\\(appId='[^']+'\\)$",
    flow: 'rerun',
  },
  {
    id: 'graph.servicePrincipals.upsert',
    service: 'graph',
    method: 'PATCH',
    path: "^/v1\\.0/servicePrincipals\\(appId='[^']+'\\)$",
    flow: 'provision',
  },
  {
    id: 'graph.addPassword',
    service: 'graph',
    method: 'POST',
    path: `^/v1\\.0/applications/${GUID}/addPassword$`,
    flow: 'provision',
  },
  {
    id: 'graph.groups.transitiveMembers',
    service: 'graph',
    method: 'GET',
    path: `^/v1\\.0/groups/${GUID}/transitiveMembers`,
    flow: 'provision',
  },
  { id: 'graph.sendMail', service: 'graph', method: 'POST', path: '^/v1\\.0/users/[^/]+/sendMail$', flow: 'provision' },
  {
    id: 'graph.applications.delete',
    service: 'graph',
    method: 'DELETE',
    path: `^/v1\\.0/applications/${GUID}$`,
    flow: 'reject',
  },
  {
    id: 'graph.removePassword',
    service: 'graph',
    method: 'POST',
    path: `^/v1\\.0/applications/${GUID}/removePassword$`,
    flow: 'reject',
  },
  {
    id: 'graph.addPassword@rotate',
    service: 'graph',
    method: 'POST',
    path: `^/v1\\.0/applications/${GUID}/addPassword$`,
    flow: 'rotate',
  },
  {
    id: 'graph.removePassword@rotate',
    service: 'graph',
    method: 'POST',
    path: `^/v1\\.0/applications/${GUID}/removePassword$`,
    flow: 'rotate',
  },
  {
    id: 'graph.applications.get@rotate',
    service: 'graph',
    method: 'GET',
    path: `^/v1\\.0/applications/${GUID}$`,
    flow: 'rotate',
  },
  {
    id: 'graph.sendMail@rotate',
    service: 'graph',
    method: 'POST',
    path: '^/v1\\.0/users/[^/]+/sendMail$',
    flow: 'rotate',
  },
  {
    id: 'graph.applications.getByUniqueName@rerun',
    service: 'graph',
    method: 'GET',
    path: "^/v1\\.0/applications\\(uniqueName='[^']+'\\)$",
    flow: 'rerun',
  },

  // Key Vault: the client secrets (set, get, list versions, update, delete). No ServiceNow credential is read: the
  // product authenticates to ServiceNow with its identity's Entra token (entra.token.v2 above).
  { id: 'keyvault.list', service: 'keyvault', method: 'GET', path: '^/secrets$', flow: 'provision' },
  { id: 'keyvault.set', service: 'keyvault', method: 'PUT', path: '^/secrets/sn-[^/]+$', flow: 'provision' },
  { id: 'keyvault.get', service: 'keyvault', method: 'GET', path: '^/secrets/sn-[^/]+/$', flow: 'provision' },
  // A first provisioning writes its secrets without listing versions (apps created bare); compensation lists them.
  {
    id: 'keyvault.listVersions',
    service: 'keyvault',
    method: 'GET',
    path: '^/secrets/sn-[^/]+/versions$',
    flow: 'reject',
  },
  { id: 'keyvault.update', service: 'keyvault', method: 'PATCH', path: `^/secrets/sn-[^/]+/${HEX32}$`, flow: 'reject' },
  { id: 'keyvault.delete', service: 'keyvault', method: 'DELETE', path: '^/secrets/sn-[^/]+$', flow: 'reject' },
  { id: 'keyvault.getDeleted', service: 'keyvault', method: 'GET', path: '^/deletedsecrets/sn-[^/]+$', flow: 'reject' },
  { id: 'keyvault.set@rotate', service: 'keyvault', method: 'PUT', path: '^/secrets/sn-[^/]+$', flow: 'rotate' },
  {
    id: 'keyvault.getVersion@rotate',
    service: 'keyvault',
    method: 'GET',
    path: `^/secrets/sn-[^/]+/${HEX32}$`,
    flow: 'rotate',
  },
  {
    id: 'keyvault.listVersions@rotate',
    service: 'keyvault',
    method: 'GET',
    path: '^/secrets/sn-[^/]+/versions$',
    flow: 'rotate',
  },
  {
    id: 'keyvault.update@rotate',
    service: 'keyvault',
    method: 'PATCH',
    path: `^/secrets/sn-[^/]+/${HEX32}$`,
    flow: 'rotate',
  },
  {
    id: 'keyvault.listVersions@rerun',
    service: 'keyvault',
    method: 'GET',
    path: '^/secrets/sn-[^/]+/versions$',
    flow: 'rerun',
  },

  // ServiceNow Table API, per table and method.
  sn('provision', 'sys_scope', 'GET', false),
  sn('provision', 'sys_db_object', 'GET', false),
  sn('provision', 'sys_dictionary', 'GET', false),
  sn('provision', 'sys_user_role', 'GET', false),
  sn('provision', 'oauth_entity', 'GET', false),
  sn('provision', 'oauth_entity', 'POST', false),
  sn('provision', 'oauth_entity', 'PATCH', true),
  sn('provision', 'oauth_entity_profile', 'GET', false),
  sn('provision', 'oauth_entity_profile', 'POST', false),
  sn('provision', 'oidc_provider_configuration', 'GET', false),
  sn('provision', 'oidc_provider_configuration', 'POST', false),
  sn('provision', 'oauth_oidc_entity', 'GET', false),
  sn('provision', 'oauth_oidc_entity', 'POST', false),
  sn('provision', 'oauth_oidc_entity', 'PATCH', true),
  sn('provision', 'sys_user', 'GET', false),
  sn('provision', 'sys_user', 'POST', false),
  sn('provision', 'sys_user', 'PATCH', true),
  sn('provision', 'sys_scope_privilege', 'GET', false),
  sn('provision', 'sys_scope_privilege', 'POST', false),
  sn('provision', 'sys_user_has_role', 'GET', false),
  sn('provision', 'sys_user_has_role', 'POST', false),
  sn('provision', 'incident', 'GET', false),
  sn('provision', 'incident', 'PATCH', true),
  sn('provision', 'sys_journal_field', 'GET', false),
  {
    id: 'servicenow.inbound.incident.GET',
    service: 'servicenow',
    method: 'GET',
    path: '^/{instance}/api/now/table/incident$',
    flow: 'provision',
  },
  sn('reject', 'oauth_entity', 'DELETE', true),
  sn('reject', 'oauth_entity_profile', 'DELETE', true),
  sn('reject', 'oidc_provider_configuration', 'DELETE', true),
  sn('reject', 'oauth_oidc_entity', 'DELETE', true),
  sn('reject', 'sys_user', 'DELETE', true),
  { ...sn('rotate', 'oauth_entity', 'PATCH', true), id: 'servicenow.oauth_entity.PATCH@rotate' },
  { ...sn('rotate', 'oauth_oidc_entity', 'PATCH', true), id: 'servicenow.oauth_oidc_entity.PATCH@rotate' },
  { ...sn('rerun', 'oauth_entity', 'GET', false), id: 'servicenow.oauth_entity.GET@rerun' },
  { ...sn('rerun', 'sys_user', 'GET', false), id: 'servicenow.sys_user.GET@rerun' },
  { id: 'entra.token.v1@rerun', service: 'entra', method: 'POST', path: '/oauth2/token$', flow: 'rerun' },
];

export interface Cell {
  id: string;
  op: Operation;
  fault: FaultName;
}

export const cellId = (op: Operation, fault: FaultName): string => `${op.id} × ${fault}`;

export const ALL_CELLS: Cell[] = OPERATIONS.flatMap((op) =>
  FAULT_NAMES.map((fault) => ({ id: cellId(op, fault), op, fault })),
);

/** mulberry32: a small seeded generator (https://gist.github.com/tommyettinger/46a874533244883189143505d203312c). */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const DEFAULT_SAMPLE = 12;
export const DEFAULT_SEED = 20240611;

/**
 * The cells to run: `FAULT_MATRIX_SAMPLE` = `all` (every cell, `npm run faults`) or a count (default 12, the CI
 * lane) drawn with `FAULT_MATRIX_SEED` (fixed default) from all cells;
 * `FAULT_MATRIX_CELLS` (a regular expression on the cell id) narrows either.
 */
export function selectCells(env: NodeJS.ProcessEnv = process.env): Cell[] {
  const filter = env.FAULT_MATRIX_CELLS ? new RegExp(env.FAULT_MATRIX_CELLS) : undefined;
  const pool = ALL_CELLS.filter((c) => !filter || filter.test(c.id));
  const sample = env.FAULT_MATRIX_SAMPLE ?? String(DEFAULT_SAMPLE);
  if (sample === 'all') return pool;
  const n = Number(sample);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`FAULT_MATRIX_SAMPLE must be 'all' or a positive integer: ${sample}`);
  const random = seeded(Number(env.FAULT_MATRIX_SEED ?? DEFAULT_SEED));
  // Fisher-Yates on a copy, then the first n in matrix order.
  const shuffled = [...pool];
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
  }
  const chosen = new Set(shuffled.slice(0, n).map((c) => c.id));
  return pool.filter((c) => chosen.has(c.id));
}

/** The rule for the sandbox's fault injector. */
export function faultRule(cell: Cell, instance: string) {
  return {
    service: cell.op.service,
    method: cell.op.method,
    path: cell.op.path.replace('{instance}', instance),
    action: FAULTS[cell.fault],
    times: FAULT_TIMES,
  };
}

/** The summary: operations × faults, survived/total per cell that ran. */
export function summary(results: Map<string, boolean>): string {
  const ops = OPERATIONS.filter((op) => FAULT_NAMES.some((f) => results.has(cellId(op, f))));
  const width = Math.max(...ops.map((o) => o.id.length), 'operation'.length);
  const col = 7;
  const lines = [`${'operation'.padEnd(width)} ${FAULT_NAMES.map((f) => f.padStart(col)).join(' ')}`];
  for (const op of ops)
    lines.push(
      `${op.id.padEnd(width)} ${FAULT_NAMES.map((f) => {
        const r = results.get(cellId(op, f));
        return (r === undefined ? '·' : r ? 'ok' : 'FAIL').padStart(col);
      }).join(' ')}`,
    );
  const survived = [...results.values()].filter(Boolean).length;
  lines.push(`fault matrix: ${survived}/${results.size} cells survived (of ${ALL_CELLS.length} in the full matrix)`);
  return lines.join('\n');
}
