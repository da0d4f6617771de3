/**
 * Activity `setServiceNowSecret`: writes the value of exactly one Key Vault version into a ServiceNow password2
 * field (the outbound `oauth_entity.client_secret`, the OIDC entity's secret), in its own PATCH with
 * `sysparm_input_display_value=true` (ServiceNowClient.setPassword2;
 * docs/reference/servicenow.md#encrypted-and-password2-fields).
 *
 * Used by rotation (the new version) and by provisioning (the run's version, once the records exist).
 * Idempotent by nature: a password2 field reads back masked, so it cannot be compared, and writing the same value
 * again changes nothing. 403 (the account may not write that table or field) returns `{ ok: false }` with a clear
 * message, so the rotation hands the consumer off to a person; with `manualFallback` (provisioning) it returns the
 * manual action instead. 401/404/400 return `{ ok: false }`; 429/5xx are retried by the client and then thrown for a
 * durable retry. The value never appears in results, logs or errors.
 */

import { ensureErrorType, ExternalServiceError } from '../lib/errors';
import type { Deps } from '../app/deps';
import { readVersionValue } from './rotation-common';
import type { SetServiceNowSecretInput, SetServiceNowSecretResult } from '../contracts/rotation';
import { type ActivityLog, logLine } from './log';
import { failureOrThrow } from './failures';
import { manualAction } from './servicenow-common';

export async function setServiceNowSecret(
  input: SetServiceNowSecretInput,
  deps: Deps,
  log?: ActivityLog,
): Promise<SetServiceNowSecretResult> {
  const { consumer, secret } = input;
  const where = `${consumer.table}.${consumer.field} of ${consumer.record} (${consumer.sysId}) on ${input.serviceNowInstance}`;
  try {
    const value = await readVersionValue(deps, secret);
    try {
      await deps
        .serviceNow(input.serviceNowInstance)
        .setPassword2(consumer.table, consumer.sysId, consumer.field, value);
    } catch (err) {
      const e = ensureErrorType(err);
      if (e instanceof ExternalServiceError && e.status === 403 && input.manualFallback !== undefined) {
        logLine(
          log,
          'warn',
          `setServiceNowSecret ${input.role}: ServiceNow refused to write ${where} (403), handing off`,
        );
        return {
          ok: true,
          written: false,
          manualAction: manualAction(
            `ServiceNow: set ${consumer.field} of ${consumer.table} record '${consumer.record}'`,
            [
              { label: 'Where', value: input.manualFallback },
              { label: 'Table', value: consumer.table },
              { label: 'sys_id', value: consumer.sysId },
              {
                label: `${consumer.field} (paste the value of this Key Vault secret)`,
                value: `${secret.secretName} (version ${secret.version})`,
              },
            ],
          ),
        };
      }
      if (e instanceof ExternalServiceError && e.status === 403)
        return {
          ok: false,
          failure: {
            service: 'servicenow',
            status: 403,
            code: e.code,
            message:
              `ServiceNow refused to write ${where} (403): the provisioner's ServiceNow account may not update ` +
              `this field. A person must set it to the value of Key Vault secret '${secret.secretName}' version ` +
              `${secret.version}.`,
          },
        };
      throw e;
    }
    logLine(
      log,
      'info',
      `setServiceNowSecret ${input.role}: ${where} set from '${secret.secretName}' ${secret.version}`,
    );
    return { ok: true, written: true };
  } catch (err) {
    return { ok: false, failure: failureOrThrow(err) };
  }
}
