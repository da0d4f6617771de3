/**
 * GET /api/credentials (function key): the credential inventory of every integration (src/inventory/credentials.ts),
 * JSON by default, `?format=csv` for a spreadsheet. Filters `expiringWithinDays`, `profile`, `tenant` (id or verified
 * domain), `status`; a bad value answers 400 listing every problem. Reads the registry only (plus, for a tenant named
 * by domain, its OpenID metadata to learn the tenant id): never Key Vault, never a secret value.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { DurableClient } from 'durable-functions';

import { canonicalTenant } from '../api/tenant';
import { getDeps, type Deps } from '../app/deps';
import { buildInventory, parseCredentialQuery, toCsv } from '../inventory/credentials';
import { json, problem } from './http';

export type InventoryDeps = Pick<Deps, 'config' | 'registry' | 'now'>;

export async function listCredentials(
  request: HttpRequest,
  _client: DurableClient,
  _context: InvocationContext,
  deps: InventoryDeps = getDeps(),
): Promise<HttpResponseInit> {
  const parsed = parseCredentialQuery(request.query);
  if (!parsed.ok) return problem(400, 'Invalid request', parsed.problems);
  const { format, ...filters } = parsed.filters;
  const records = await deps.registry.list();
  const wanted = filters.tenant?.[0];
  // A verified domain names the same tenant as its id: an integration requested by id matches it too, so the domain
  // is resolved to its tenant id (the tenant's OpenID metadata, as for a provisioning request).
  if (wanted && !/^[0-9a-f-]{36}$/.test(wanted)) {
    const resolved = await canonicalTenant(deps.config, wanted, deps.config.entra.timeoutMs);
    if (!resolved.ok)
      return resolved.status === 400
        ? problem(400, 'Invalid request', [{ field: 'tenant', message: resolved.message }])
        : problem(503, 'Tenant could not be resolved', [{ field: 'tenant', message: resolved.message }]);
    filters.tenant = [wanted, resolved.tenantId];
  }
  const now = deps.now();
  const policy = { windowDays: deps.config.rotation.windowDays, maxAgeDays: deps.config.rotation.maxAgeDays };
  const rows = buildInventory(records, filters, policy, now);
  if (format === 'csv')
    return {
      status: 200,
      body: toCsv(rows),
      headers: {
        'Content-Type': 'text/csv; charset=utf-8',
        'Content-Disposition': 'attachment; filename="credentials.csv"',
        'Cache-Control': 'no-store',
        'X-Content-Type-Options': 'nosniff',
      },
    };
  return json(200, { generatedAt: now.toISOString(), count: rows.length, credentials: rows });
}
