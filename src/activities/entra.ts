/**
 * Activity `ensureApp`: one Entra app registration per role, ensured by its alternate key `uniqueName`, and its service
 * principal, ensured by appId.
 *
 * - Look up first (`GET /applications(uniqueName='…')`, served by the sandbox; the upsert itself is the documented
 *   part, https://learn.microsoft.com/graph/api/application-upsert) so a re-run that finds everything in place writes
 *   nothing.
 * - Missing → `PATCH /applications(uniqueName='…')` with `Prefer: create-if-missing` (201 + object = we created it).
 *   The create body carries the tag `created-by-operation:<instanceId>`; later updates keep the tags they find, so a
 *   retry that cannot see the 201 (and compensation) can still tell an application this run created from one it found.
 * - A 204 on that upsert means the app exists but our read did not see it yet (replication,
 *   docs/reference/microsoft.md#replication-delays): thrown as retriable; the durable retry then reads it.
 * - Service principal: `GET /servicePrincipals(appId='…')`, else the upsert `PATCH /servicePrincipals(appId='…')` with
 *   `Prefer: create-if-missing` [doc serviceprincipal-upsert]; right after the app is created Graph answers 400
 *   NoBackingApplicationObject (retriable).
 * - An existing service principal (`input.existing`, e.g. Microsoft's first-party "Graph Connector Federated Credential
 *   App" the Copilot connector for ServiceNow uses: public repository MicrosoftDocs/copilot-connectors,
 *   `servicenow-knowledge-deployment.md`, "Federated Auth"): only `GET /servicePrincipals(appId='…')`;
 *   never created, changed or removed. Missing → a non-retriable failure carrying the profile's hand-off.
 * - Application.ReadWrite.OwnedBy (least privilege, https://learn.microsoft.com/graph/permissions-reference): an app
 *   with our uniqueName that we do not own answers 403 on update: a non-retriable failure naming the app.
 */

import type { AppPermissions, AppResult, EnsureAppInput, Outcome } from '../contracts/provision';
import type { Deps } from '../app/deps';
import { PRODUCT_TAG, createdByTag, integrationTag, roleTag } from './entra-graph';
import { failureOrThrow, retriable } from './failures';
import { graphCall, odataKey } from '../clients/graph';
import { type ActivityLog, logLine } from './log';
import { httpStatusOf } from '../lib/errors';
import { uniqueNameFor } from '../profiles/names';

interface GraphApplication {
  id: string;
  appId: string;
  displayName: string;
  signInAudience: string;
  tags: string[];
  notes: string | null;
  uniqueName: string | null;
  web?: { redirectUris?: string[] };
  requiredResourceAccess?: ResourceAccess[];
}

interface GraphServicePrincipal {
  id: string;
  appId: string;
  tags?: string[];
  appRoles?: { id: string; value: string | null; allowedMemberTypes?: string[]; isEnabled?: boolean }[];
}

interface ResourceAccess {
  resourceAppId: string;
  resourceAccess: { id: string; type: 'Role' | 'Scope' }[];
}

const APP_SELECT = 'id,appId,displayName,signInAudience,tags,notes,uniqueName,web,requiredResourceAccess';
/** Single tenant [doc resources/application signInAudience]. */
const SIGN_IN_AUDIENCE = 'AzureADMyOrg';

const notesFor = (input: EnsureAppInput) =>
  `Managed by m365-snow-provisioner for integration ${input.integrationId} (role ${input.role}). ` +
  'Client secrets are kept in Key Vault; do not add or remove them by hand.';

const ourTags = (input: EnsureAppInput) => [PRODUCT_TAG, integrationTag(input.integrationId), roleTag(input.role)];

const sameSet = (a: readonly string[], b: readonly string[]) => {
  const sa = new Set(a);
  const sb = new Set(b);
  return sa.size === sb.size && [...sa].every((x) => sb.has(x));
};

/**
 * Resolves permission values to the app role ids of the resource's service principal (the ids are per resource and
 * stable, but looked up by value rather than hard-coded: https://learn.microsoft.com/graph/permissions-reference).
 * A value the resource does not offer to applications is a non-retriable input problem.
 */
async function resolvePermissions(
  deps: Deps,
  wanted: NonNullable<EnsureAppInput['permissions']>,
): Promise<AppPermissions | { missing: string[] }> {
  const res = await graphCall<GraphServicePrincipal>(
    deps.graph,
    'GET',
    `/servicePrincipals(appId='${odataKey(wanted.resourceAppId)}')?$select=id,appId,appRoles`,
  );
  const sp = res.body;
  if (!sp?.id) throw retriable('ResourceNotReadable', `service principal of ${wanted.resourceAppId} not readable`);
  const byValue = new Map(
    (sp.appRoles ?? [])
      .filter((r) => r.isEnabled !== false && (r.allowedMemberTypes ?? ['Application']).includes('Application'))
      .map((r) => [r.value ?? '', r.id]),
  );
  const missing = wanted.values.filter((v) => !byValue.has(v));
  if (missing.length) return { missing };
  return {
    resourceAppId: wanted.resourceAppId,
    resourceSpId: sp.id,
    values: [...wanted.values],
    appRoleIds: wanted.values.map((v) => byValue.get(v) ?? ''),
  };
}

/** The requiredResourceAccess of an app: the declared permissions of every other resource kept, ours replaced. */
function resourceAccessWith(current: ResourceAccess[], p: AppPermissions | undefined): ResourceAccess[] | undefined {
  if (!p) return undefined;
  const others = current.filter((r) => r.resourceAppId.toLowerCase() !== p.resourceAppId.toLowerCase());
  return [
    ...others,
    { resourceAppId: p.resourceAppId, resourceAccess: p.appRoleIds.map((id) => ({ id, type: 'Role' })) },
  ];
}

const sameAccess = (a: ResourceAccess[], b: ResourceAccess[]) => {
  const key = (list: ResourceAccess[]) =>
    list
      .map(
        (r) =>
          `${r.resourceAppId.toLowerCase()}:${r.resourceAccess
            .map((x) => `${x.type}/${x.id.toLowerCase()}`)
            .sort()
            .join(',')}`,
      )
      .sort()
      .join(';');
  return key(a) === key(b);
};

/** The fields that differ from what we want, as a PATCH body (tags: ours added to whatever is there). */
function diff(app: GraphApplication, input: EnsureAppInput, permissions?: AppPermissions): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const access = resourceAccessWith(app.requiredResourceAccess ?? [], permissions);
  if (access && !sameAccess(app.requiredResourceAccess ?? [], access)) out.requiredResourceAccess = access;
  if (app.displayName !== input.displayName) out.displayName = input.displayName;
  if (app.signInAudience !== SIGN_IN_AUDIENCE) out.signInAudience = SIGN_IN_AUDIENCE;
  if (!sameSet(app.web?.redirectUris ?? [], input.redirectUris)) out.web = { redirectUris: [...input.redirectUris] };
  const tags = app.tags ?? [];
  const missing = ourTags(input).filter((t) => !tags.includes(t));
  if (missing.length) out.tags = [...tags, ...missing];
  if (app.notes !== notesFor(input)) out.notes = notesFor(input);
  return out;
}

async function readApp(deps: Deps, uniqueName: string): Promise<GraphApplication | undefined> {
  try {
    const res = await graphCall<GraphApplication>(
      deps.graph,
      'GET',
      `/applications(uniqueName='${odataKey(uniqueName)}')?$select=${APP_SELECT}`,
    );
    return res.body;
  } catch (err) {
    if (httpStatusOf(err) === 404) return undefined;
    throw err;
  }
}

/**
 * The service principal of `appId`: read first, else created by its upsert. For an app this call has just created
 * (`appIsNew`) there is nothing to read: the upsert comes first (its body only carries this integration's tags, which
 * any service principal of this new app already has), and a 204 (it exists) is answered by a read.
 */
async function ensureServicePrincipal(
  deps: Deps,
  input: EnsureAppInput,
  appId: string,
  appIsNew = false,
): Promise<string> {
  const path = `/servicePrincipals(appId='${odataKey(appId)}')`;
  const read = async () => {
    try {
      return (await graphCall<GraphServicePrincipal>(deps.graph, 'GET', `${path}?$select=id,appId,tags`)).body?.id;
    } catch (err) {
      if (httpStatusOf(err) !== 404) throw err;
      return undefined;
    }
  };
  if (!appIsNew) {
    const id = await read();
    if (id) return id;
  }
  const res = await graphCall<GraphServicePrincipal>(
    deps.graph,
    'PATCH',
    path,
    { tags: [PRODUCT_TAG, integrationTag(input.integrationId)] },
    { Prefer: 'create-if-missing' },
  );
  if (res.status === 201 && res.body?.id) return res.body.id;
  // 204: it exists (another execution of this run created it), but a read did not see it yet (replication).
  const id = appIsNew ? await read() : undefined;
  if (id) return id;
  throw retriable('ReplicationPending', `service principal of app ${appId} exists but is not readable yet`);
}

/** The service principal of an app the integration does not own, found by appId; never written. */
async function findExistingServicePrincipal(
  input: EnsureAppInput & { existing: NonNullable<EnsureAppInput['existing']> },
  deps: Deps,
  log?: ActivityLog,
): Promise<Outcome<AppResult>> {
  const { appId, missing } = input.existing;
  const uniqueName = uniqueNameFor(input.integrationId, input.role);
  try {
    let sp: GraphServicePrincipal | undefined;
    try {
      const res = await graphCall<GraphServicePrincipal>(
        deps.graph,
        'GET',
        `/servicePrincipals(appId='${odataKey(appId)}')?$select=id,appId`,
      );
      sp = res.body;
    } catch (err) {
      if (httpStatusOf(err) !== 404) throw err;
    }
    if (!sp?.id)
      return {
        ok: false,
        failure: {
          service: 'graph',
          code: 'ServicePrincipalMissing',
          message: `The tenant has no service principal for app ${appId} (role ${input.role}). ${missing}`,
        },
      };
    logLine(log, 'info', `ensureApp ${input.role}: found the service principal ${sp.id} of ${appId}`);
    return {
      ok: true,
      role: input.role,
      appId,
      objectId: '',
      servicePrincipalId: sp.id,
      uniqueName,
      created: false,
      existing: true,
    };
  } catch (err) {
    return { ok: false, failure: failureOrThrow(err) };
  }
}

export async function ensureApp(input: EnsureAppInput, deps: Deps, log?: ActivityLog): Promise<Outcome<AppResult>> {
  if (input.existing) return findExistingServicePrincipal({ ...input, existing: input.existing }, deps, log);
  const uniqueName = uniqueNameFor(input.integrationId, input.role);
  try {
    let permissions: AppPermissions | undefined;
    if (input.permissions) {
      const resolved = await resolvePermissions(deps, input.permissions);
      if ('missing' in resolved)
        return {
          ok: false,
          failure: {
            service: 'input',
            code: 'UnknownPermission',
            message: `${input.permissions.resourceAppId} offers no application permission ${resolved.missing.join(', ')}`,
          },
        };
      permissions = resolved;
    }
    let app = await readApp(deps, uniqueName);
    let createdNow = false;
    if (!app) {
      const body = {
        displayName: input.displayName,
        signInAudience: SIGN_IN_AUDIENCE,
        web: { redirectUris: [...input.redirectUris] },
        tags: [...ourTags(input), createdByTag(input.instanceId)],
        notes: notesFor(input),
        ...(permissions ? { requiredResourceAccess: resourceAccessWith([], permissions) } : {}),
      };
      const res = await graphCall<GraphApplication>(
        deps.graph,
        'PATCH',
        `/applications(uniqueName='${odataKey(uniqueName)}')`,
        body,
        { Prefer: 'create-if-missing' },
      );
      if (res.status !== 201 || !res.body?.id)
        throw retriable('ReplicationPending', `application '${uniqueName}' exists but is not readable yet`);
      app = res.body;
      createdNow = true;
      logLine(log, 'info', `ensureApp ${input.role}: created application ${app.id} (${uniqueName})`);
    } else {
      const patch = diff(app, input, permissions);
      if (Object.keys(patch).length) {
        try {
          await graphCall(deps.graph, 'PATCH', `/applications/${app.id}`, patch);
        } catch (err) {
          if (httpStatusOf(err) === 403)
            return {
              ok: false,
              failure: {
                ...failureOrThrow(err),
                message:
                  `Application '${uniqueName}' (${app.id}) exists but is not owned by this app's identity, which ` +
                  'holds Application.ReadWrite.OwnedBy only: make the identity an owner of it or delete it.',
              },
            };
          throw err;
        }
        logLine(log, 'info', `ensureApp ${input.role}: updated ${Object.keys(patch).join(', ')} of ${app.id}`);
      }
    }
    const servicePrincipalId = await ensureServicePrincipal(deps, input, app.appId, createdNow);
    const created = createdNow || (app.tags ?? []).includes(createdByTag(input.instanceId));
    return {
      ok: true,
      role: input.role,
      appId: app.appId,
      objectId: app.id,
      servicePrincipalId,
      uniqueName,
      created,
      ...(createdNow ? { createdNow: true } : {}),
      ...(permissions ? { permissions } : {}),
    };
  } catch (err) {
    if (httpStatusOf(err) === 403)
      return {
        ok: false,
        failure: failureOrThrow(
          err,
          `The app's identity needs Application.ReadWrite.OwnedBy and must own application '${uniqueName}'`,
        ),
      };
    return { ok: false, failure: failureOrThrow(err) };
  }
}

/**
 * Whether an application's tags say that some provisioning run of the integration created it (`provision-{id}` or
 * `provision-{id}-r{n}`, the instance ids of src/functions/integrations.ts): what decommissioning may delete. An app
 * the integration found and adopted carries no such tag and is left in place.
 */
export const createdByIntegration = (tags: readonly string[], integrationId: string): boolean => {
  if (!tags.includes(PRODUCT_TAG)) return false;
  const first = createdByTag(`provision-${integrationId}`);
  return tags.some((t) => t === first || (t.startsWith(`${first}-r`) && /^\d+$/.test(t.slice(first.length + 2))));
};

/** Whether an application's tags say that the given provisioning run created it. */
export const createdByRun = (tags: readonly string[], instanceId: string) =>
  tags.includes(createdByTag(instanceId)) && tags.includes(PRODUCT_TAG);
