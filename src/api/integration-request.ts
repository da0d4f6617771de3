/**
 * The `POST /api/integrations` request: validated at the edge, every problem listed, so no unvalidated value reaches
 * an external call (ServiceNow encoded queries refuse `^`, CR and LF; Entra and ServiceNow names are constrained).
 */
import { createHash } from 'node:crypto';

import * as z from 'zod';

import { isValidServiceNowInstance, SERVICENOW_INSTANCE_RULE } from '../config';
import { CREDENTIAL_KINDS } from '../contracts/credentials';
import { DEFAULT_PROFILE_ID, getProfile, profileIds } from '../profiles';
import { credentialKindsOf } from '../profiles/credential-kinds';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** A verified domain (e.g. contoso.onmicrosoft.com): DNS labels, at least one dot. */
const DOMAIN = /^(?=.{4,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i;
/** Values that end up in ServiceNow encoded queries or names: no `^`, CR, LF, and printable. */
const SAFE_TEXT = /^[^^\p{Cc}]+$/u;

/**
 * The longest value each field takes, so no value of unbounded size reaches a regular expression, an external call or
 * a log line (the body itself is capped at 64 KiB). Arrays are bounded too; objects are strict (no unknown keys).
 */
export const LIMITS = {
  /** An address in an SMTP path: 256 octets with the angle brackets (https://www.rfc-editor.org/rfc/rfc5321#section-4.5.3.1.3). */
  email: 254,
  /** A domain name in text form (https://www.rfc-editor.org/rfc/rfc1035#section-2.3.4: 255 octets on the wire). */
  tenant: 253,
  tenantName: 40,
  /** A DNS label (https://www.rfc-editor.org/rfc/rfc1035#section-2.3.4). */
  serviceNowInstance: 63,
  profile: 64,
  /** ServiceNow sys_user.user_name. */
  userName: 100,
  /** Entra accepts redirect URIs of at most 256 characters (https://learn.microsoft.com/entra/identity-platform/reply-url). */
  redirectUri: 256,
  ticketSysId: 32,
  ticketNumber: 20,
  approvers: 10,
  grantUsers: 50,
} as const;

/** A string of at most `max` characters: the bound is checked first, so a huge value gets one short message. */
const bounded = (max: number, what: string) => z.string().max(max, `${what} must be at most ${max} characters`);

const safeText = (max: number, what: string) =>
  z
    .string()
    .trim()
    .min(1, `${what} must not be empty`)
    .max(max, `${what} must be at most ${max} characters`)
    .regex(SAFE_TEXT, `${what} must not contain ^, control characters, CR or LF`);

/** The longest client-secret lifetime the Entra admin center offers, 24 months (https://learn.microsoft.com/entra/identity-platform/how-to-add-credentials). */
export const MAX_SECRET_LIFETIME_DAYS = 730;
export const TICKET_TABLES = ['incident', 'sc_req_item', 'change_request', 'task'] as const;

export const integrationRequestSchema = z
  .object({
    tenant: bounded(LIMITS.tenant, 'tenant')
      .trim()
      .refine((v) => GUID.test(v) || DOMAIN.test(v), 'tenant must be a tenant GUID or a verified domain'),
    tenantName: bounded(LIMITS.tenantName, 'tenantName')
      .trim()
      .regex(/^[A-Za-z0-9][A-Za-z0-9 _-]{0,39}$/, 'tenantName must be 1-40 letters, digits, spaces, _ or -')
      .optional(),
    // The same rule as the instance URL builder's: a name accepted here always yields an instance URL.
    serviceNowInstance: bounded(LIMITS.serviceNowInstance, 'serviceNowInstance').refine(
      isValidServiceNowInstance,
      `serviceNowInstance must be an instance name: ${SERVICENOW_INSTANCE_RULE}`,
    ),
    profile: bounded(LIMITS.profile, 'profile').optional(), // a registered profile id: checked below
    // Approvers come from the approver policy (settings); a request may only narrow it to some of its addresses.
    approvers: z
      .array(
        z
          .email('each approver must be an email address')
          .max(LIMITS.email, `an email address has at most ${LIMITS.email} characters`),
      )
      .min(1, 'approvers, when given, must list at least one email address')
      .max(LIMITS.approvers, `approvers may list at most ${LIMITS.approvers} addresses`)
      .optional(),
    // Who asks for the integration: never an approver of it.
    requestedBy: z
      .email('requestedBy must be an email address')
      .max(LIMITS.email, `requestedBy has at most ${LIMITS.email} characters`)
      .optional(),
    ticket: z
      .object({
        table: z.enum(TICKET_TABLES, { error: `ticket.table must be one of: ${TICKET_TABLES.join(', ')}` }),
        sysId: bounded(LIMITS.ticketSysId, 'ticket.sysId')
          .regex(/^[0-9a-f]{32}$/, 'ticket.sysId must be 32 hex characters')
          .optional(),
        number: bounded(LIMITS.ticketNumber, 'ticket.number')
          .regex(/^[A-Z]{2,8}[0-9]{4,12}$/, 'ticket.number must look like INC0012345')
          .optional(),
      })
      .strict()
      .refine((t) => t.sysId !== undefined || t.number !== undefined, 'ticket needs sysId or number')
      .optional(),
    options: z
      .object({
        testEnvironment: z.boolean().optional(),
        ipAllowlist: z.boolean().optional(),
        // One of the profile's application-permission tiers (checked below).
        permissionTier: bounded(LIMITS.profile, 'options.permissionTier').optional(),
        // How ServiceNow proves itself to Entra for the apps it calls with (checked against the profile below).
        credential: z
          .enum(CREDENTIAL_KINDS, { error: `options.credential must be one of: ${CREDENTIAL_KINDS.join(', ')}` })
          .optional(),
        grantUsers: z
          .array(
            z
              .object({
                userName: safeText(LIMITS.userName, 'grantUsers[].userName'),
                // Checked against the profile's grantable roles below (each profile declares its own).
                role: bounded(LIMITS.userName, 'grantUsers[].role'),
              })
              .strict(),
          )
          .max(LIMITS.grantUsers, `grantUsers may list at most ${LIMITS.grantUsers} entries`)
          .optional(),
        secretLifetimeDays: z
          .number()
          .int()
          .min(1)
          .max(MAX_SECRET_LIFETIME_DAYS, `secretLifetimeDays must be at most ${MAX_SECRET_LIFETIME_DAYS} (24 months)`)
          .optional(),
        redirectUri: z
          .url({ protocol: /^https$/, error: 'redirectUri must be an absolute https URL' })
          .max(LIMITS.redirectUri, `redirectUri must be at most ${LIMITS.redirectUri} characters`)
          .refine((v) => SAFE_TEXT.test(v), 'redirectUri must not contain ^, CR or LF')
          .optional(),
      })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((v, ctx) => {
    // Narrowing the approvers picks who decides: only allowed when the request names who asks (requestedBy or the
    // ticket, whose caller and opened-by are excluded), so nobody can narrow the round down to themselves unnamed.
    if (v.approvers && !v.requestedBy && !v.ticket)
      ctx.addIssue({
        code: 'custom',
        path: ['approvers'],
        message: 'approvers may only narrow the approver policy when requestedBy or ticket names the requester',
      });
    const profile = getProfile(v.profile ?? DEFAULT_PROFILE_ID);
    if (!profile)
      ctx.addIssue({
        code: 'custom',
        path: ['profile'],
        message: `profile must be one of: ${profileIds().join(', ')}`,
      });
    const tier = v.options?.permissionTier;
    if (profile && tier !== undefined) {
      const tiers = [...new Set(profile.apps.flatMap((a) => Object.keys(a.applicationPermissions?.tiers ?? {})))];
      if (!tiers.includes(tier))
        ctx.addIssue({
          code: 'custom',
          path: ['options', 'permissionTier'],
          message: tiers.length
            ? `options.permissionTier must be one of: ${tiers.join(', ')} (profile ${profile.id})`
            : `profile ${profile.id} declares no application permissions`,
        });
    }
    const credential = v.options?.credential;
    if (profile && credential !== undefined && credential !== 'secret') {
      const allowing = profile.apps.filter((a) => credentialKindsOf(a).includes(credential));
      if (!allowing.length)
        ctx.addIssue({
          code: 'custom',
          path: ['options', 'credential'],
          message: `profile ${profile.id} allows options.credential ${[
            ...new Set(profile.apps.flatMap((a) => credentialKindsOf(a))),
          ].join(', ')} only`,
        });
    }
    // The roles a request may grant are the chosen profile's (IntegrationProfile.serviceNow.grantableUserRoles).
    if (profile)
      (v.options?.grantUsers ?? []).forEach((g, i) => {
        const grantable = Object.keys(profile.serviceNow.grantableUserRoles);
        if (!Object.hasOwn(profile.serviceNow.grantableUserRoles, g.role))
          ctx.addIssue({
            code: 'custom',
            path: ['options', 'grantUsers', i, 'role'],
            message: grantable.length
              ? `grantUsers[].role must be one of: ${grantable.join(', ')} (profile ${profile.id})`
              : `profile ${profile.id} grants no roles to named users`,
          });
      });
    if (GUID.test(v.tenant) && !v.tenantName)
      ctx.addIssue({ code: 'custom', path: ['tenantName'], message: 'tenantName is required when tenant is a GUID' });
  });

export type IntegrationRequest = z.infer<typeof integrationRequestSchema>;

export interface FieldProblem {
  field: string;
  message: string;
}

export type Parsed = { ok: true; value: NormalisedRequest } | { ok: false; problems: FieldProblem[] };

export interface NormalisedRequest extends IntegrationRequest {
  tenant: string;
  tenantName: string;
  profile: string;
}

/** Unknown keys named back to the caller: at most 10, each cut to 64 characters (a key may be as long as the body). */
function echoKeys(keys: readonly string[]): string {
  const shown = keys.slice(0, 10).map((k) => (k.length > 64 ? `${k.slice(0, 64)}…` : k));
  return keys.length > shown.length ? `${shown.join(', ')} and ${keys.length - shown.length} more` : shown.join(', ');
}

/** Validates a parsed JSON body; lists every problem (field path + message). */
export function parseIntegrationRequest(body: unknown): Parsed {
  const r = integrationRequestSchema.safeParse(body);
  if (!r.success)
    return {
      ok: false,
      problems: r.error.issues.map((i) => ({
        field: i.path.length ? i.path.join('.') : '(body)',
        message: i.code === 'unrecognized_keys' ? `unknown field(s): ${echoKeys(i.keys)}` : i.message,
      })),
    };
  const tenant = r.data.tenant.toLowerCase();
  const label = tenant.split('.')[0] ?? tenant;
  return {
    ok: true,
    value: {
      ...r.data,
      tenant,
      tenantName: r.data.tenantName ?? label.charAt(0).toUpperCase() + label.slice(1),
      profile: r.data.profile ?? DEFAULT_PROFILE_ID,
    },
  };
}

/**
 * The integration id, derived from (tenant, instance, profile) so the same request always names the same
 * integration: `sn-{instance}-{8 hex}`. Valid as a durable instance id, a table row key and a Key Vault name part.
 */
export function integrationIdFor(tenant: string, instance: string, profile: string): string {
  const hash = createHash('sha256').update(`${tenant.toLowerCase()}|${instance}|${profile}`).digest('hex').slice(0, 8);
  return `sn-${instance}-${hash}`;
}

export const INTEGRATION_ID = /^sn-[a-z0-9][a-z0-9-]{0,62}-[0-9a-f]{8}$/;

/** The `{id}` path parameter of the integration routes (validates and documents it). */
export const integrationIdSchema = z.string().regex(INTEGRATION_ID, 'id must look like sn-{instance}-{8 hex}');
