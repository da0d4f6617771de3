/**
 * The optional body of `DELETE /api/integrations/{id}`: `{ requestedBy?: email, reason?: text }`. Strict (unknown
 * fields are refused); every problem listed.
 */
import * as z from 'zod';

import { LIMITS } from './integration-request';

/** The longest reason kept (shown in the approval mail and the audit trail). */
export const MAX_REASON = 500;

export const decommissionRequestSchema = z
  .object({
    // Who asks: never an approver of the decommissioning.
    requestedBy: z
      .email('requestedBy must be an email address')
      .max(LIMITS.email, `requestedBy has at most ${LIMITS.email} characters`)
      .optional(),
    reason: z
      .string('reason must be a string')
      .trim()
      .min(1, 'reason must not be empty')
      .max(MAX_REASON, `reason must be at most ${MAX_REASON} characters`)
      // Also no invisible format characters (bidirectional overrides, zero-width) or lone surrogates: the approvers
      // read the reason, and it must show what it says (https://unicode.org/reports/tr9/, CVE-2021-42574).
      .regex(
        /^[^^\p{Cc}\p{Cf}\p{Cs}]+$/u,
        'reason must not contain ^, control characters, CR or LF, invisible format characters or lone surrogates',
      )
      .optional(),
  })
  .strict();

export type DecommissionRequest = z.infer<typeof decommissionRequestSchema>;

export function parseDecommissionRequest(
  body: unknown,
): { ok: true; value: DecommissionRequest } | { ok: false; problems: { field: string; message: string }[] } {
  if (body === undefined) return { ok: true, value: {} };
  const r = decommissionRequestSchema.safeParse(body);
  if (r.success) return { ok: true, value: r.data };
  return {
    ok: false,
    problems: r.error.issues.map((i) => ({
      field: i.path.length ? i.path.join('.') : '(body)',
      message:
        i.code === 'unrecognized_keys'
          ? `unknown field(s): ${i.keys
              .slice(0, 10)
              .map((k) => (k.length > 64 ? `${k.slice(0, 64)}…` : k))
              .join(', ')} (only requestedBy and reason are accepted)`
          : i.code === 'invalid_type' && i.path.length === 0
            ? 'body must be a JSON object'
            : i.message,
    })),
  };
}
