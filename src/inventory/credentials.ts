/**
 * The credential inventory (`GET /api/credentials`): one row per app credential of every integration, built from the
 * registry alone (no Key Vault or Graph read per call), with the rotation module's own due rule for the next rotation
 * (src/rotation/due.ts `dueInstant`) and the profile's secret consumers with what the product recorded about them.
 * Pure: rows, filters, sorting and the CSV rendering; src/functions/inventory.ts serves them.
 */
import { z } from 'zod';

import { getProfile } from '../profiles';
import { consumerKey } from '../profiles/consumers';
import type { AppSpec } from '../profiles/types';
import type { IntegrationRecord, IntegrationStatus } from '../registry/types';
import { dueInstant, type DuePolicy } from '../rotation/due';

/** Every integration status (the registry's IntegrationStatus; the check below fails to compile when one is missing). */
export const INTEGRATION_STATUSES = [
  'provisioning',
  'awaiting-approval',
  'checking',
  'active',
  'failed',
  'rejected',
  'expired',
  'rolled-back',
  'decommissioning',
  'decommissioned',
] as const satisfies readonly IntegrationStatus[];
type Missing = Exclude<IntegrationStatus, (typeof INTEGRATION_STATUSES)[number]>;
const allStatuses: [Missing] extends [never] ? true : Missing = true;
void allStatuses;

const iso = z.string().describe('ISO 8601 date-time (UTC)');

export const consumerSchema = z.object({
  /** Stable name (src/profiles/consumers.ts). */
  key: z.string(),
  kind: z.enum(['servicenow', 'manual']),
  /** The ServiceNow record key (and its sys_id when registered), or where a person pastes the secret. */
  record: z.string().optional(),
  sysId: z.string().optional(),
  where: z.string().optional(),
  field: z.string(),
  /** True when the product recorded that this consumer holds the credential in use (see `confirmedBy`). */
  confirmed: z.boolean(),
  confirmedAt: iso.nullable(),
  /** `system` (the product wrote it into ServiceNow) or the address that confirmed the emailed hand-off. */
  confirmedBy: z.string().nullable(),
});

export const credentialRowSchema = z.object({
  integrationId: z.string(),
  profile: z.string(),
  /** The tenant id, and the verified domain the request named (if any). */
  tenant: z.string(),
  tenantDomain: z.string().nullable(),
  serviceNowInstance: z.string(),
  /** The integration's status. */
  status: z.enum(INTEGRATION_STATUSES),
  role: z.string(),
  /**
   * `client-secret`: an Entra client secret kept in Key Vault; `certificate`: a key credential whose certificate is
   * kept in Key Vault (ServiceNow signs private-key JWTs with it); `federated`: an app without a secret or certificate
   * of ours (a federated identity credential, or an existing service principal).
   */
  kind: z.enum(['client-secret', 'certificate', 'federated']),
  appId: z.string().nullable(),
  keyId: z.string().nullable(),
  secretName: z.string().nullable(),
  secretVersion: z.string().nullable(),
  /** Certificates: the Key Vault certificate, its version in use and its SHA-1 thumbprint (base64url `x5t`). */
  certificateName: z.string().nullable(),
  certificateVersion: z.string().nullable(),
  thumbprint: z.string().nullable(),
  /** When Key Vault created the secret version in use (recorded when it was written or adopted). */
  created: iso.nullable(),
  expires: iso.nullable(),
  /** When the rotation rule makes it due (expiry minus the window, or created plus the maximum age); null when the
   * integration is not active (only active integrations are rotated) or neither time is known. */
  nextRotation: iso.nullable(),
  /** True when that instant has passed: the next sweep rotates it. */
  rotationDue: z.boolean(),
  /** The last time the integration was proven to work: its last checks all passed, or the health check found it good. */
  lastVerified: iso.nullable(),
  consumers: z.array(consumerSchema),
});
export type CredentialRow = z.output<typeof credentialRowSchema>;
export type ConsumerRow = z.output<typeof consumerSchema>;

export const credentialListSchema = z.object({
  generatedAt: iso,
  count: z.number().int(),
  credentials: z.array(credentialRowSchema),
});

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DOMAIN = /^(?=.{4,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i;
export const MAX_EXPIRING_WITHIN_DAYS = 3650;

/**
 * The query of `GET /api/credentials`: validates the filters (every problem listed) and documents them (OpenAPI).
 * Values are strings as they arrive in the URL.
 */
export const credentialQuerySchema = z
  .object({
    format: z.enum(['json', 'csv'], { error: 'format must be json or csv' }).optional(),
    expiringWithinDays: z
      .string()
      .regex(/^\d{1,5}$/, `expiringWithinDays must be a whole number of days from 0 to ${MAX_EXPIRING_WITHIN_DAYS}`)
      .refine(
        // One problem for a value that is not a number at all (the regex's).
        (v) => !/^\d{1,5}$/.test(v) || Number(v) <= MAX_EXPIRING_WITHIN_DAYS,
        `expiringWithinDays must be a whole number of days from 0 to ${MAX_EXPIRING_WITHIN_DAYS}`,
      )
      .optional(),
    profile: z
      .string()
      .max(64, 'profile must be at most 64 characters')
      .refine((v) => getProfile(v) !== undefined, 'profile must be a registered profile id')
      .optional(),
    tenant: z
      .string()
      .max(253, 'tenant must be at most 253 characters')
      .refine((v) => GUID.test(v) || DOMAIN.test(v), 'tenant must be a tenant GUID or a verified domain')
      .optional(),
    status: z
      .enum(INTEGRATION_STATUSES, { error: `status must be one of: ${INTEGRATION_STATUSES.join(', ')}` })
      .optional(),
  })
  .strict();

export interface CredentialFilters {
  format: 'json' | 'csv';
  expiringWithinDays?: number;
  profile?: string;
  /** Tenant ids or domains to match (lower case): the request's value, and its tenant id once resolved. */
  tenant?: string[];
  status?: IntegrationStatus;
}

export interface FilterProblem {
  field: string;
  message: string;
}

/** Parses the query (URLSearchParams): every problem listed, a repeated parameter is one. */
export function parseCredentialQuery(
  params: URLSearchParams,
): { ok: true; filters: CredentialFilters } | { ok: false; problems: FilterProblem[] } {
  const problems: FilterProblem[] = [];
  const raw: Record<string, string> = {};
  for (const key of new Set(params.keys())) {
    const values = params.getAll(key);
    if (values.length > 1) problems.push({ field: clip(key), message: `${clip(key)} must be given at most once` });
    raw[key] = values[0] ?? '';
  }
  const r = credentialQuerySchema.safeParse(raw);
  if (!r.success)
    for (const i of r.error.issues)
      if (i.code === 'unrecognized_keys')
        for (const k of i.keys.slice(0, 10))
          problems.push({
            field: clip(k),
            message: `unknown query parameter '${clip(k)}' (accepted: ${Object.keys(credentialQuerySchema.shape).join(', ')})`,
          });
      else problems.push({ field: i.path.join('.') || '(query)', message: i.message });
  if (problems.length || !r.success) return { ok: false, problems };
  const q = r.data;
  return {
    ok: true,
    filters: {
      format: q.format ?? 'json',
      ...(q.expiringWithinDays !== undefined ? { expiringWithinDays: Number(q.expiringWithinDays) } : {}),
      ...(q.profile ? { profile: q.profile } : {}),
      ...(q.tenant ? { tenant: [q.tenant.toLowerCase()] } : {}),
      ...(q.status ? { status: q.status } : {}),
    },
  };
}

const clip = (v: string): string => (v.length > 64 ? `${v.slice(0, 64)}…` : v);

const later = (a: string | null, b: string | undefined): string | null =>
  b && (!a || Date.parse(b) > Date.parse(a)) ? b : a;

/** The last time the integration was proven to work (integration-wide: checks are not per credential). */
export function lastVerified(record: IntegrationRecord): string | null {
  let at: string | null = null;
  // The checks of the last run: a success only when every one of them passed.
  if (record.checks.length && record.checks.every((c) => c.ok)) for (const c of record.checks) at = later(at, c.at);
  return later(at, record.health?.lastGoodAt);
}

/** The apps of a record in the profile's order (an app the profile no longer declares comes after, by role). */
function appsOf(record: IntegrationRecord): { role: string; spec?: AppSpec }[] {
  const profile = getProfile(record.profile);
  const declared = profile?.apps.map((spec) => ({ role: spec.role, spec })) ?? [];
  const extra = Object.keys(record.apps)
    .filter((role) => !declared.some((d) => d.role === role))
    .sort()
    .map((role) => ({ role }));
  return [...declared, ...extra];
}

/** The rows of one integration: every app of its profile, with or without a secret. */
export function credentialRows(record: IntegrationRecord, policy: DuePolicy, now: Date): CredentialRow[] {
  const verified = lastVerified(record);
  return appsOf(record).map(({ role, spec }) => {
    const app = record.apps[role];
    const withSecret = spec ? !spec.existing && spec.secretConsumers.length > 0 : Boolean(app?.secretName);
    const base = {
      integrationId: record.id,
      profile: record.profile,
      tenant: record.tenant,
      tenantDomain: record.tenantDomain ?? null,
      serviceNowInstance: record.serviceNowInstance,
      status: record.status,
      role,
      appId: app?.appId || spec?.existing?.appId || null,
      lastVerified: verified,
    };
    const noCertificate = { certificateName: null, certificateVersion: null, thumbprint: null };
    const cert = app?.credential?.kind === 'certificate' ? app.credential : undefined;
    if (!withSecret || !app || app.credential?.kind === 'federated')
      return {
        ...base,
        kind: withSecret && !app?.credential ? ('client-secret' as const) : ('federated' as const),
        keyId: null,
        secretName: null,
        secretVersion: null,
        ...noCertificate,
        created: null,
        expires: null,
        nextRotation: null,
        rotationDue: false,
        consumers: [],
      };
    const expiresOn = cert?.expiresOn ?? app.expiresOn;
    const due =
      record.status === 'active'
        ? dueInstant(
            {
              ...(expiresOn ? { expiresOn: new Date(expiresOn) } : {}),
              ...(app.createdOn ? { createdOn: new Date(app.createdOn) } : {}),
            },
            policy,
            now,
          )
        : undefined;
    const inUse = cert?.keyId ?? app.keyId;
    // The product writes a certificate's keystore into ServiceNow itself: its ServiceNow consumer holds the one in use.
    const confirmations = cert
      ? (spec?.secretConsumers ?? []).flatMap((c) =>
          c.kind === 'servicenow' && record.status === 'active'
            ? [{ consumer: consumerKey(c), keyId: cert.keyId, at: record.updatedAt, by: 'system' }]
            : [],
        )
      : (app.confirmations ?? []).filter((c) => inUse !== undefined && c.keyId === inUse);
    const consumers: ConsumerRow[] = (spec?.secretConsumers ?? []).map((c) => {
      const key = consumerKey(c);
      const confirmation = confirmations.find((x) => x.consumer === key);
      const where =
        c.kind === 'servicenow'
          ? {
              record: c.record,
              ...(record.serviceNow[c.record] ? { sysId: record.serviceNow[c.record] } : {}),
            }
          : { where: c.where };
      return {
        key,
        kind: c.kind,
        ...where,
        field: c.field,
        confirmed: confirmation !== undefined,
        confirmedAt: confirmation?.at ?? null,
        confirmedBy: confirmation?.by ?? null,
      };
    });
    return {
      ...base,
      kind: cert ? ('certificate' as const) : ('client-secret' as const),
      keyId: inUse ?? null,
      secretName: cert ? null : app.secretName || null,
      secretVersion: cert ? null : (app.secretVersion ?? null),
      ...(cert
        ? { certificateName: cert.certificateName, certificateVersion: cert.version, thumbprint: cert.x5t }
        : noCertificate),
      created: cert ? null : (app.createdOn ?? null),
      expires: expiresOn ?? null,
      nextRotation: due ? due.dueAt.toISOString() : null,
      rotationDue: due ? due.reasons.length > 0 : false,
      consumers,
    };
  });
}

const DAY_MS = 24 * 3600 * 1000;
const expiry = (r: CredentialRow): number => (r.expires ? Date.parse(r.expires) : Number.POSITIVE_INFINITY);

/** The inventory: every row of every integration that passes the filters, soonest expiry first. */
export function buildInventory(
  records: readonly IntegrationRecord[],
  filters: Omit<CredentialFilters, 'format'>,
  policy: DuePolicy,
  now: Date,
): CredentialRow[] {
  const tenants = filters.tenant?.map((t) => t.toLowerCase());
  const rows = records
    .filter((r) => !filters.profile || r.profile === filters.profile)
    .filter((r) => !filters.status || r.status === filters.status)
    .filter(
      (r) =>
        !tenants ||
        tenants.includes(r.tenant.toLowerCase()) ||
        (r.tenantDomain !== undefined && tenants.includes(r.tenantDomain.toLowerCase())),
    )
    .flatMap((r) => credentialRows(r, policy, now));
  const horizon = filters.expiringWithinDays !== undefined ? now.getTime() + filters.expiringWithinDays * DAY_MS : 0;
  return rows
    .filter((r) => filters.expiringWithinDays === undefined || expiry(r) <= horizon)
    .sort(
      (a, b) => expiry(a) - expiry(b) || a.integrationId.localeCompare(b.integrationId) || a.role.localeCompare(b.role),
    );
}

// ---------------------------------------------------------------------------------------------------------------
// CSV (RFC 4180)

export const CSV_COLUMNS = [
  'integrationId',
  'profile',
  'tenant',
  'tenantDomain',
  'serviceNowInstance',
  'status',
  'role',
  'kind',
  'appId',
  'keyId',
  'secretName',
  'secretVersion',
  'certificateName',
  'certificateVersion',
  'thumbprint',
  'created',
  'expires',
  'nextRotation',
  'rotationDue',
  'lastVerified',
  'consumers',
  'consumersConfirmed',
] as const;

/**
 * One CSV field: a value a spreadsheet would read as a formula (starting with `=`, `+`, `-`, `@`, tab or CR) gets a
 * leading `'` (OWASP "CSV Injection", https://owasp.org/www-community/attacks/CSV_Injection), and every field is
 * quoted with inner quotes doubled (RFC 4180 section 2, https://www.rfc-editor.org/rfc/rfc4180#section-2).
 */
export function csvField(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return `"${safe.replace(/"/g, '""')}"`;
}

const consumerText = (c: ConsumerRow): string =>
  c.confirmed ? `${c.key} (confirmed ${c.confirmedAt ?? ''} by ${c.confirmedBy ?? ''})` : `${c.key} (unconfirmed)`;

function csvValues(r: CredentialRow): Record<(typeof CSV_COLUMNS)[number], string> {
  return {
    integrationId: r.integrationId,
    profile: r.profile,
    tenant: r.tenant,
    tenantDomain: r.tenantDomain ?? '',
    serviceNowInstance: r.serviceNowInstance,
    status: r.status,
    role: r.role,
    kind: r.kind,
    appId: r.appId ?? '',
    keyId: r.keyId ?? '',
    secretName: r.secretName ?? '',
    secretVersion: r.secretVersion ?? '',
    certificateName: r.certificateName ?? '',
    certificateVersion: r.certificateVersion ?? '',
    thumbprint: r.thumbprint ?? '',
    created: r.created ?? '',
    expires: r.expires ?? '',
    nextRotation: r.nextRotation ?? '',
    rotationDue: String(r.rotationDue),
    lastVerified: r.lastVerified ?? '',
    consumers: r.consumers.map(consumerText).join('; '),
    consumersConfirmed: `${r.consumers.filter((c) => c.confirmed).length}/${r.consumers.length}`,
  };
}

/** The rows as CSV: a header row, then one record per row, CRLF line breaks (RFC 4180). */
export function toCsv(rows: readonly CredentialRow[]): string {
  const lines = [CSV_COLUMNS.map(csvField).join(',')];
  for (const r of rows) {
    const v = csvValues(r);
    lines.push(CSV_COLUMNS.map((c) => csvField(v[c])).join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}
