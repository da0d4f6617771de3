/**
 * Connecting a ServiceNow instance to the control plane without a ServiceNow password (docs/deploy.md, "Connect an
 * instance"):
 *
 * - `GET /api/servicenow/bootstrap?instance=<name>` (function key): the background script an instance administrator
 *   runs once (text/plain; src/bootstrap/script.ts). It names no secret: the tenant, the audience's client id, the
 *   identity's object id and the roles. 400 lists every problem with the query; 409 when the deployment lacks the
 *   settings the script needs.
 * - `GET /api/servicenow/instances/{name}/trust` (function key): a token-authenticated read as the machine user and
 *   what is wrong, if anything (src/bootstrap/trust.ts). Read-only; 200 with `ok` either way.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { DurableClient } from 'durable-functions';
import * as z from 'zod';

import { getDeps, type Deps } from '../app/deps';
import { renderBootstrapScript } from '../bootstrap/script';
import { checkTrust, deploymentPlan } from '../bootstrap/trust';
import { isValidServiceNowInstance, SERVICENOW_INSTANCE_RULE } from '../config';
import { jsonAs, problem, type Problem } from './http';

const instanceName = z
  .string({ error: 'instance is required' })
  .min(1, 'instance is required')
  .refine(isValidServiceNowInstance, `instance must be a ServiceNow instance name: ${SERVICENOW_INSTANCE_RULE}`);

/** `?instance=<name>`, nothing else. */
export const bootstrapQuerySchema = z.object({ instance: instanceName }).strict();
export const trustPathSchema = instanceName;

export const trustReportSchema = z.object({
  instance: z.string(),
  ok: z.boolean(),
  authMode: z.enum(['entra', 'basic', 'oauth']),
  expected: z.object({
    metadataUrl: z.string(),
    clientId: z.string(),
    userName: z.string(),
    roles: z.array(z.string()),
  }),
  token: z.object({ aud: z.string(), iss: z.string(), oid: z.string() }).optional(),
  user: z
    .object({ sysId: z.string(), active: z.boolean(), lockedOut: z.boolean(), webServiceAccessOnly: z.boolean() })
    .optional(),
  roles: z
    .object({ granted: z.array(z.string()), missing: z.array(z.string()), extra: z.array(z.string()) })
    .optional(),
  problems: z.array(z.string()),
});

const clip = (v: string): string => (v.length > 64 ? `${v.slice(0, 64)}…` : v);

function parseQuery(params: URLSearchParams): { ok: true; instance: string } | { ok: false; problems: Problem[] } {
  const problems: Problem[] = [];
  const raw: Record<string, string> = {};
  for (const key of new Set(params.keys())) {
    const values = params.getAll(key);
    if (values.length > 1) problems.push({ field: clip(key), message: `${clip(key)} must be given at most once` });
    raw[key] = values[0] ?? '';
  }
  const r = bootstrapQuerySchema.safeParse(raw);
  if (!r.success)
    for (const i of r.error.issues)
      if (i.code === 'unrecognized_keys')
        for (const k of i.keys.slice(0, 10))
          problems.push({ field: clip(k), message: `unknown query parameter '${clip(k)}' (accepted: instance)` });
      else problems.push({ field: i.path.join('.') || 'instance', message: i.message });
  if (problems.length || !r.success) return { ok: false, problems };
  return { ok: true, instance: r.data.instance };
}

type TrustDeps = Pick<Deps, 'config' | 'credential'>;

export async function serviceNowBootstrapScript(
  request: HttpRequest,
  _client: DurableClient,
  _context: InvocationContext,
  deps: TrustDeps = getDeps(),
): Promise<HttpResponseInit> {
  const query = parseQuery(request.query);
  if (!query.ok) return problem(400, 'Invalid request', query.problems);
  const planned = deploymentPlan(deps.config);
  if (!planned.ok)
    return problem(409, 'This deployment lacks the settings the bootstrap script needs', planned.missing);
  return {
    status: 200,
    body: renderBootstrapScript(planned.plan, query.instance),
    headers: {
      'Content-Type': 'text/plain; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      'Content-Disposition': `attachment; filename="connect-${query.instance}.js"`,
    },
  };
}

export async function serviceNowTrust(
  request: HttpRequest,
  _client: DurableClient,
  _context: InvocationContext,
  deps: TrustDeps = getDeps(),
): Promise<HttpResponseInit> {
  const name = trustPathSchema.safeParse(request.params.name ?? '');
  if (!name.success)
    return problem(
      400,
      'Invalid request',
      name.error.issues.map((i) => ({ field: 'name', message: i.message.replace(/^instance/, 'name') })),
    );
  const planned = deploymentPlan(deps.config);
  if (!planned.ok) return problem(409, 'This deployment lacks the settings the trust check needs', planned.missing);
  const report = await checkTrust(deps.config, deps.credential, planned.plan, name.data);
  return jsonAs(trustReportSchema, 200, report);
}
