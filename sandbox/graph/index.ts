/**
 * Microsoft Graph v1.0 stand-in: the applications, servicePrincipals (with their app role assignments,
 * ./app-role-assignments.ts), deleted-items, sendMail and group transitiveMembers (./groups.ts) endpoints the product
 * uses, with Graph's auth, permissions, eventual consistency, OData query options and error envelope.
 * See docs/reference/microsoft.md (the Graph sections) for the behaviours modelled and their public sources; each
 * module cites its pages.
 */
import type { SandboxClock } from '../core/clock';
import type { HandlerContext, SandboxRequest, SandboxResponse, StandIn } from '../core/types';
import type { Directory } from '../directory';
import { authenticate } from './auth';
import { type Env, type GraphOptions, type SentMail } from './env';
import { GraphError, type RequestIds, graphError, requestIds } from './errors';
import { route } from './router';

export type { GraphOptions, SentMail } from './env';

export interface GraphStandIn extends StandIn {
  readonly outbox: SentMail[];
}

export interface GraphDeps {
  clock: SandboxClock;
  directory: Directory;
  origin: () => string;
}

const toResponse = (ids: RequestIds, err: GraphError): SandboxResponse =>
  graphError(ids, err.status, err.code, err.message, {
    ...(err.details ? { details: err.details } : {}),
    ...(err.headers ? { headers: err.headers } : {}),
  });

/** Keys whose values never go to the journal's redacted body. */
const SECRET_KEYS = new Set(['secrettext', 'password', 'clientsecret', 'client_secret']);

function redact(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(redact);
  if (v !== null && typeof v === 'object')
    return Object.fromEntries(
      Object.entries(v as Record<string, unknown>).map(([k, x]) => [
        k,
        SECRET_KEYS.has(k.toLowerCase()) ? '[redacted]' : redact(x),
      ]),
    );
  return v;
}

/** Graph's body for service-side statuses [samples.json `throttled-429`; doc errors for 503/504]. */
function serviceErrorBody(status: number, ids: RequestIds): unknown {
  const inner = {
    date: ids.date.toISOString().slice(0, 19),
    'request-id': ids.requestId,
    'client-request-id': ids.clientRequestId,
  };
  if (status === 429)
    return {
      error: {
        code: 'TooManyRequests',
        innerError: {
          code: '429',
          date: inner.date,
          message: 'Please retry after',
          'request-id': inner['request-id'],
          status: '429',
        },
        message: 'Please retry again later.',
      },
    };
  // Directory endpoints refuse with Authorization_RequestDenied (https://learn.microsoft.com/graph/errors).
  if (status === 403)
    return {
      error: {
        code: 'Authorization_RequestDenied',
        message: 'Insufficient privileges to complete the operation.',
        innerError: inner,
      },
    };
  if (status === 503)
    return {
      error: {
        code: 'serviceNotAvailable',
        message:
          'The service is temporarily unavailable for maintenance or is overloaded. You may repeat the request after a delay, the length of which may be specified in a Retry-After header.',
        innerError: inner,
      },
    };
  if (status === 504)
    return {
      error: {
        code: 'UnknownError',
        message:
          'The server, while acting as a proxy, did not receive a timely response from the upstream server it needed to access in attempting to complete the request.',
        innerError: inner,
      },
    };
  return {
    error: {
      code: status >= 500 ? 'generalException' : 'BadRequest',
      message: 'An unspecified error has occurred.',
      innerError: inner,
    },
  };
}

export function createGraph(deps: GraphDeps, opts: GraphOptions = {}): GraphStandIn {
  const outbox: SentMail[] = [];
  return {
    service: 'graph',
    outbox,
    async handle(req: SandboxRequest, ctx: HandlerContext): Promise<SandboxResponse> {
      const ids = requestIds(req, ctx.clock.date());
      try {
        const caller = await authenticate(req, deps.directory, deps.origin(), ctx.clock.seconds());
        ctx.setAuthSubject(`app:${caller.appId}`);
        const env: Env = {
          req,
          ids,
          caller,
          directory: deps.directory,
          clock: ctx.clock,
          origin: deps.origin(),
          opts,
          outbox,
        };
        return route(env);
      } catch (err) {
        if (err instanceof GraphError) return toResponse(ids, err);
        throw err;
      }
    },
    redactRequestBody(req: SandboxRequest): unknown {
      if (!req.body.length) return undefined;
      try {
        return redact(JSON.parse(req.body.toString('utf8')));
      } catch {
        return '[unparseable body]';
      }
    },
    faultResponse(status: number, headers: Record<string, string>): SandboxResponse {
      const ids = requestIds({ headers: {} } as SandboxRequest, deps.clock.date());
      const out: Record<string, string> = {
        'Content-Type': 'application/json',
        'request-id': ids.requestId,
        'client-request-id': ids.clientRequestId,
        ...headers,
      };
      const hasRetryAfter = Object.keys(out).some((h) => h.toLowerCase() === 'retry-after');
      // Graph sends Retry-After with 429 and often with 503/504 [doc throttling]; the sandbox defaults it to 1 s.
      if (!hasRetryAfter && [429, 503, 504].includes(status)) out['Retry-After'] = '1';
      return { status, headers: out, body: serviceErrorBody(status, ids) };
    },
    reset(): void {
      outbox.length = 0;
    },
  };
}
