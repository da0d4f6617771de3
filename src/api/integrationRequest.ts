/**
 * The `POST /api/integrations` request: validated at the edge, every problem listed, so no unvalidated value reaches
 * an external call (ServiceNow encoded queries refuse `^`, CR and LF; Entra and ServiceNow names are constrained).
 */
import { createHash } from 'node:crypto';

import { z } from 'zod';

import { isValidServiceNowInstance, SERVICENOW_INSTANCE_RULE } from '../config';
import { DEFAULT_PROFILE_ID, PROFILES } from '../profiles';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** A verified domain (e.g. contoso.onmicrosoft.com): DNS labels, at least one dot. */
const DOMAIN = /^(?=.{4,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i;
/** Values that end up in ServiceNow encoded queries or names: no `^`, CR, LF, and printable. */
const SAFE_TEXT = /^[^^\p{Cc}]+$/u;

const safeText = (max: number, what: string) =>
  z
    .string()
    .trim()
    .min(1, `${what} must not be empty`)
    .max(max, `${what} must be at most ${max} characters`)
    .regex(SAFE_TEXT, `${what} must not contain ^, control characters, CR or LF`);

export const GRANTABLE_ROLES = ['insights_user', 'administrator'] as const;
export const TICKET_TABLES = ['incident', 'sc_req_item', 'change_request', 'task'] as const;

export const integrationRequestSchema = z
  .object({
    tenant: z
      .string()
      .trim()
      .refine((v) => GUID.test(v) || DOMAIN.test(v), 'tenant must be a tenant GUID or a verified domain'),
    tenantName: z
      .string()
      .trim()
      .regex(/^[A-Za-z0-9][A-Za-z0-9 _-]{0,39}$/, 'tenantName must be 1-40 letters, digits, spaces, _ or -')
      .optional(),
    // The same rule as the instance URL builder's: a name accepted here always yields an instance URL.
    serviceNowInstance: z
      .string()
      .refine(isValidServiceNowInstance, `serviceNowInstance must be an instance name: ${SERVICENOW_INSTANCE_RULE}`),
    profile: z
      .string()
      .refine((p) => Object.hasOwn(PROFILES, p), `profile must be one of: ${Object.keys(PROFILES).join(', ')}`)
      .optional(),
    // Approvers come from the approver policy (settings); a request may only narrow it to some of its addresses.
    approvers: z
      .array(z.email('each approver must be an email address').max(254, 'an email address has at most 254 characters'))
      .min(1, 'approvers, when given, must list at least one email address')
      .max(10, 'approvers may list at most 10 addresses')
      .optional(),
    // Who asks for the integration: never an approver of it.
    requestedBy: z
      .email('requestedBy must be an email address')
      .max(254, 'requestedBy has at most 254 characters')
      .optional(),
    ticket: z
      .object({
        table: z.enum(TICKET_TABLES, { error: `ticket.table must be one of: ${TICKET_TABLES.join(', ')}` }),
        sysId: z
          .string()
          .regex(/^[0-9a-f]{32}$/, 'ticket.sysId must be 32 hex characters')
          .optional(),
        number: z
          .string()
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
        grantUsers: z
          .array(
            z
              .object({
                userName: safeText(100, 'grantUsers[].userName'),
                role: z.enum(GRANTABLE_ROLES, {
                  error: `grantUsers[].role must be one of: ${GRANTABLE_ROLES.join(', ')}`,
                }),
              })
              .strict(),
          )
          .max(50)
          .optional(),
        secretLifetimeDays: z
          .number()
          .int()
          .min(1)
          .max(730, 'secretLifetimeDays must be at most 730 (24 months)')
          .optional(),
        redirectUri: z
          .url({ protocol: /^https$/, error: 'redirectUri must be an absolute https URL' })
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

/** Validates a parsed JSON body; lists every problem (field path + message). */
export function parseIntegrationRequest(body: unknown): Parsed {
  const r = integrationRequestSchema.safeParse(body);
  if (!r.success)
    return {
      ok: false,
      problems: r.error.issues.map((i) => ({
        field: i.path.length ? i.path.join('.') : '(body)',
        message: i.code === 'unrecognized_keys' ? `unknown field(s): ${i.keys.join(', ')}` : i.message,
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
