/**
 * Deadlines for outbound calls made through the Azure SDK pipeline (`@azure/core-rest-pipeline`): Key Vault's
 * SecretClient and the `@azure/identity` credentials. Without one, a request whose server never answers waits for
 * the operating system's TCP timeouts (minutes). The pipeline supports a per-request `abortSignal` and `timeout`
 * (PipelineRequest, https://learn.microsoft.com/javascript/api/@azure/core-rest-pipeline/pipelinerequest); this
 * policy, added per retry, gives every attempt its own deadline that covers connecting, the response headers and the
 * body, and turns its expiry into an error named `TimeoutError` with code `Timeout` (classified as transient by
 * lib/errors.ts `classify`). The SDK's own retry strategy does not retry it (only ETIMEDOUT/ECONNRESET-style system
 * errors and 408/5xx responses), so the caller's retry (the durable retry policy) takes over.
 */
import type { PipelinePolicy } from '@azure/core-rest-pipeline';

import { TIMEOUT_CODE } from '../lib/errors';

export const DEADLINE_POLICY_NAME = 'm365SnowDeadlinePolicy';

/** A call that did not finish within its deadline, before it is wrapped into an ExternalServiceError. */
export class DeadlineExceeded extends Error {
  readonly code = TIMEOUT_CODE;

  constructor(
    readonly what: string,
    readonly timeoutMs: number,
  ) {
    super(`${what} did not answer within ${timeoutMs} ms`);
    this.name = 'TimeoutError';
  }
}

/** Azure SDK pipeline policy: each attempt must finish within `timeoutMs` (position `perRetry`). */
export function deadlinePolicy(timeoutMs: number, onTimeout?: () => void): PipelinePolicy {
  return {
    name: DEADLINE_POLICY_NAME,
    async sendRequest(request, next) {
      const original = request.abortSignal;
      const deadline = AbortSignal.timeout(timeoutMs);
      // The pipeline's AbortSignalLike is a DOM AbortSignal at run time (Node's fetch and http take it as one).
      request.abortSignal = original ? AbortSignal.any([original as AbortSignal, deadline]) : deadline;
      try {
        const response = await next(request);
        return response;
      } catch (err) {
        if (deadline.aborted && !original?.aborted) {
          onTimeout?.();
          const url = new URL(request.url);
          throw new DeadlineExceeded(`${request.method} ${url.origin}${url.pathname}`, timeoutMs);
        }
        throw err;
      } finally {
        request.abortSignal = original;
      }
    },
  };
}
