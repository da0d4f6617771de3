/**
 * The operator dashboard (one function, so one function key opens every page of it):
 *   GET /api/dashboard                         the fleet at a glance
 *   GET /api/dashboard/integrations/{id}       one integration: timeline, checks, credentials, health, audit trail
 *
 * Function key in the sandbox and in Azure (`authLevel: 'function'`); in Azure, App Service Authentication (Easy Auth)
 * with Microsoft Entra ID also requires a signed-in member of the operator group (infra/app/auth.bicep,
 * docs/deploy.md). The signed-in operator's name (`X-MS-CLIENT-PRINCIPAL-NAME`) is trusted only when the deployment
 * says Easy Auth fronts the app (EASY_AUTH_ENABLED): App Service sets that header and refuses it from outside
 * (https://learn.microsoft.com/azure/app-service/configure-authentication-user-identities), but without Easy Auth
 * anyone can send it. With EASY_AUTH_ENABLED and no such header the page is refused (fail closed if the dashboard path
 * were ever excluded from sign-in).
 *
 * The overview reads the registry once and the running orchestrations once (`getStatusBy` on Running and Pending):
 * no call per integration. Never a secret, never a durable management URL.
 */
import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import { OrchestrationRuntimeStatus, type DurableClient } from 'durable-functions';

import { INTEGRATION_ID } from '../api/integration-request';
import { getDeps, type Deps } from '../app/deps';
import { detailModel, overviewModel, type InstanceSnapshot } from '../dashboard/model';
import { dashboardHeaders, dashboardMessagePage, detailPage, overviewPage, type PageContext } from '../dashboard/pages';
import { orchestrationStatus } from '../lib/orchestration-status';
import { problem } from './http';
import type { HttpClientHandler } from './triggers';

export type DashboardDeps = Pick<Deps, 'config' | 'registry' | 'audit' | 'now'>;

/** The header App Service Authentication sets to the signed-in user's name (UPN or email). */
export const PRINCIPAL_NAME_HEADER = 'x-ms-client-principal-name';

/** Every running or pending orchestration, in one query; undefined when the durable API could not answer. */
async function runningInstances(client: DurableClient): Promise<InstanceSnapshot[] | undefined> {
  try {
    return await client.getStatusBy({
      runtimeStatus: [OrchestrationRuntimeStatus.Running, OrchestrationRuntimeStatus.Pending],
    });
  } catch {
    return undefined;
  }
}

/** `/.auth/login/aad` (App Service Authentication's sign-in endpoint) returning to the page asked for. */
export function signInHref(req: HttpRequest): string {
  const url = new URL(req.url);
  // The function key never goes into the sign-in flow: the redirect target travels through the identity provider.
  url.searchParams.delete('code');
  return `/.auth/login/aad?post_login_redirect_uri=${encodeURIComponent(url.pathname + url.search)}`;
}

const html = (status: number, body: string): HttpResponseInit => ({ status, body, headers: dashboardHeaders() });

export function createDashboardHandler(opts: { deps?: () => DashboardDeps } = {}): HttpClientHandler {
  const depsOf = opts.deps ?? getDeps;
  return async (req: HttpRequest, client: DurableClient): Promise<HttpResponseInit> => {
    const deps = depsOf();
    // `{*path}`: empty for the overview, `integrations/{id}` for a detail page, nothing else.
    const path = (req.params.path ?? '').replace(/^\/+|\/+$/g, '');
    const detail = /^integrations\/([^/]+)$/i.exec(path);
    if (path !== '' && !detail) return problem(404, 'No such dashboard page');
    const id = detail?.[1];
    if (id !== undefined && !INTEGRATION_ID.test(id))
      return problem(400, 'Invalid request', [{ field: 'id', message: 'id must look like sn-{instance}-{8 hex}' }]);

    const now = deps.now();
    let operator: string | undefined;
    if (deps.config.dashboard.easyAuth) {
      operator = req.headers.get(PRINCIPAL_NAME_HEADER)?.trim() || undefined;
      if (!operator)
        return html(
          401,
          dashboardMessagePage(
            'Sign-in required',
            'The dashboard is for signed-in members of the operator group.',
            now.toISOString(),
            // Easy Auth's sign-in endpoint, back to this page afterwards (a path on this origin).
            { href: signInHref(req), text: 'Sign in with Microsoft Entra ID' },
          ),
        );
    }
    const code = req.query.get('code') ?? undefined;
    const ctx: PageContext = { links: code ? { code } : {}, ...(operator ? { operator } : {}) };

    if (id === undefined) {
      const [records, running] = await Promise.all([deps.registry.list(), runningInstances(client)]);
      return html(200, overviewPage(overviewModel(records, running, now), ctx));
    }

    const record = await deps.registry.get(id);
    if (!record) return problem(404, `No integration ${id}`);
    const [provisioning, running, audit] = await Promise.all([
      orchestrationStatus(client, record.value.instanceId).catch(() => undefined),
      runningInstances(client),
      deps.audit.list(id),
    ]);
    return html(200, detailPage(detailModel(record.value, provisioning, running, audit, now), ctx));
  };
}
