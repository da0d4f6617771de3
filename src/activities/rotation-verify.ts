/**
 * Activity `verifyCredential`: proves that exactly one Key Vault version of an app's client secret yields a token,
 * before any consumer is switched to it (docs/reference/rotation.md#verify-before-switching: after addPassword, poll
 * token acquisition with the new secret before pushing it on).
 *
 * A client-credentials request to the tenant's v2 token endpoint with `scope = {graph}/.default`
 * (docs/reference/microsoft.md#token-endpoints, src/clients/entra.ts requestTokenV2). AADSTS7000215 (secret not known
 * yet), 7000222 and 700016 (app not replicated yet) are what Entra answers for a minute or two after a secret is added
 * (docs/reference/microsoft.md#replication-delays;
 * https://github.com/microsoftgraph/microsoft-graph-docs/issues/17966), so they come back `transient` and the
 * orchestrator retries them with a durable timer. 429/5xx and network failures are thrown (durable retry). The token
 * and the secret never leave the activity; the result carries codes and a redacted detail only.
 */

import { requestTokenV2 } from '../clients/entra';
import { ensureErrorType, ExternalServiceError, ValidationError } from '../lib/errors';
import { redactText } from '../lib/redact';
import type { Deps } from '../app/deps';
import { readVersionValue } from './rotation-common';
import type { VerifyCredentialInput, VerifyCredentialResult } from '../contracts/rotation';
import { type ActivityLog, logLine } from './log';

/** Entra's answers while a new secret or app is still propagating. */
export const PROPAGATION_AADSTS: ReadonlySet<number> = new Set([7000215, 7000222, 700016]);

const result = (r: VerifyCredentialResult): VerifyCredentialResult => ({ ...r, detail: redactText(r.detail) });

export async function verifyCredential(
  input: VerifyCredentialInput,
  deps: Deps,
  log?: ActivityLog,
): Promise<VerifyCredentialResult> {
  const what = `${input.role} app ${input.appId} with '${input.secret.secretName}' version ${input.secret.version}`;
  let value: string;
  try {
    value = await readVersionValue(deps, input.secret);
  } catch (err) {
    const e = ensureErrorType(err);
    if (e instanceof ExternalServiceError && e.retriable) throw e;
    if (e instanceof ExternalServiceError || e instanceof ValidationError)
      return result({
        ok: false,
        code: e instanceof ExternalServiceError && e.status !== undefined ? `keyvault-${e.status}` : e.code,
        detail: `the secret version could not be read: ${e.message}`,
      });
    throw e;
  }

  const token = await requestTokenV2({
    authorityHost: deps.config.entra.authorityHost,
    tenant: input.tenant,
    clientId: input.appId,
    clientSecret: value,
    scope: `${deps.config.graph.baseUrl}/.default`,
    timeoutMs: deps.config.entra.timeoutMs,
  });
  if (token.ok) {
    const claimed = token.claims?.appid ?? token.claims?.azp;
    const appid = typeof claimed === 'string' ? claimed : undefined;
    if (appid !== undefined && appid !== input.appId)
      return result({
        ok: false,
        code: 'WrongApplication',
        detail: `Entra issued a token for application ${appid}, not ${input.appId}`,
      });
    logLine(log, 'info', `verifyCredential: ${what} yields a token`);
    return { ok: true, detail: `Entra issued a token for ${what}` };
  }

  if (token.status === 429 || token.status >= 500)
    throw new ExternalServiceError({
      service: 'entra',
      status: token.status,
      code: token.error,
      message: `Entra token endpoint answered ${token.status} ${token.error} for ${what}`,
      retriable: true,
    });
  const aadsts = token.errorCodes[0];
  const transient = aadsts !== undefined && PROPAGATION_AADSTS.has(aadsts);
  logLine(
    log,
    'warn',
    `verifyCredential: ${what} refused (${token.status} ${token.error}${aadsts ? ` AADSTS${aadsts}` : ''})${transient ? ', may still be propagating' : ''}`,
  );
  return result({
    ok: false,
    code: aadsts !== undefined ? `AADSTS${aadsts}` : `HTTP${token.status}`,
    ...(transient ? { transient: true } : {}),
    detail: `Entra answered ${token.status} ${token.error}: ${token.description}`,
  });
}
