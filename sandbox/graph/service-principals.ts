/**
 * /servicePrincipals: create {appId}, upsert by appId, update, get, list, `$count`, delete.
 *
 * Sources: Graph v1.0 pages serviceprincipal-post-serviceprincipals, serviceprincipal-upsert, serviceprincipal-update,
 * serviceprincipal-get, serviceprincipal-list, serviceprincipal-delete; docs/reference/microsoft.md#graph-permissions (OwnedBy must own the
 * backing application, microsoftgraph/microsoft-graph-docs#16138) and microsoft.md#replication-delays: right after the
 * application is created Graph answers 400 "The appId '…' of the service principal does not reference a valid
 * application object." with the detail code `NoBackingApplicationObject` (microsoftgraph/msgraph-sdk-dotnet#3108).
 *
 * Create, upsert and update take the writable properties of the update page
 * (https://learn.microsoft.com/graph/api/serviceprincipal-update, "Request body") and apply them: the upsert page's
 * own example creates with `{"displayName": "My app instance"}` and answers `displayName` "My app instance" beside
 * `appDisplayName` "My App" (https://learn.microsoft.com/graph/api/serviceprincipal-upsert).
 */
import type { SandboxResponse } from '../core/types';
import type { ServicePrincipal } from '../directory';
import { canRead, canWriteOwned, mayModify } from './auth';
import {
  GraphError,
  emptyResponse,
  insufficientPrivileges,
  invalidValue,
  jsonResponse,
  notFound,
  unknownProperty,
} from './errors';
import { type Env, type Json, findApp, invalidObjectId, isGuid, jsonBody, replicated } from './env';
import { SERVICE_PRINCIPAL_PROPERTIES, SERVICE_PRINCIPAL_WRITABLE, servicePrincipalJson } from './model';
import { applySelect, parseSelect } from './odata';
import { type ListOptions, countResponse, listResponse } from './paging';

const SP_TYPE = 'microsoft.graph.servicePrincipal';

export type SpKey = { kind: 'id' | 'appId'; value: string };

/** `customSecurityAttributes` also needs this application permission (serviceprincipal-update, note). */
const CUSTOM_SECURITY_ATTRIBUTES_PERMISSION = 'CustomSecAttributeAssignment.ReadWrite.All';

const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((t) => typeof t === 'string');

function readBody(env: Env, body: Json): Json {
  const out: Json = {};
  for (const [rawKey, value] of Object.entries(body)) {
    if (rawKey.startsWith('@')) continue;
    const key = SERVICE_PRINCIPAL_PROPERTIES.find((k) => k.toLowerCase() === rawKey.toLowerCase());
    if (!key) throw unknownProperty(rawKey, SP_TYPE);
    if (!SERVICE_PRINCIPAL_WRITABLE.has(key))
      throw new GraphError(400, 'Request_BadRequest', `Property '${key}' is read-only and cannot be set.`);
    if (['tags', 'servicePrincipalNames', 'alternativeNames', 'replyUrls', 'notificationEmailAddresses'].includes(key))
      if (!isStringArray(value)) throw invalidValue(key, 'Collection(Edm.String)');
    if (['appId', 'displayName'].includes(key) && typeof value !== 'string') throw invalidValue(key, 'Edm.String');
    if (key === 'appRoles' && !(Array.isArray(value) && value.every((r) => r !== null && typeof r === 'object')))
      throw invalidValue(key, 'Collection(microsoft.graph.appRole)');
    if (key === 'customSecurityAttributes' && !env.caller.roles.includes(CUSTOM_SECURITY_ATTRIBUTES_PERMISSION))
      throw insufficientPrivileges();
    out[key] = value;
  }
  return out;
}

/** Applies written properties: the modelled ones to their fields, the rest kept as written. */
function apply(sp: ServicePrincipal, props: Json): void {
  const { appId: _key, displayName, tags, servicePrincipalNames, appRoles, ...rest } = props;
  if (typeof displayName === 'string') sp.displayName = displayName;
  if (isStringArray(tags)) sp.tags = [...tags];
  // The appId stays a service principal name [inferred: Graph keeps it whatever the body lists].
  if (isStringArray(servicePrincipalNames))
    sp.servicePrincipalNames = [...new Set([sp.appId, ...servicePrincipalNames])];
  if (Array.isArray(appRoles)) {
    sp.appRoles = (appRoles as Json[])
      .filter((r) => typeof r.id === 'string' && typeof r.value === 'string')
      .map((r) => ({ id: r.id as string, value: r.value as string }));
    rest.appRoles = appRoles;
  }
  if (Object.keys(rest).length) sp.extra = { ...(sp.extra ?? {}), ...rest };
}

const noBackingApplication = (appId: string) => {
  const message = `The appId '${appId}' of the service principal does not reference a valid application object.`;
  return new GraphError(400, 'Request_BadRequest', message, [
    { code: 'NoBackingApplicationObject', message, target: 'appId' },
  ]);
};

function createFor(env: Env, appId: string, props: Json): ServicePrincipal {
  const app = findApp(env, { kind: 'appId', value: appId });
  if (!app || !replicated(env, app.createdAt)) throw noBackingApplication(appId);
  if (!mayModify(env.caller, app.owners)) throw insufficientPrivileges();
  if (env.directory.spByAppId(app.appId))
    throw new GraphError(
      409,
      'Request_MultipleObjectsWithSameKeyValue',
      'Another object with the same value for property servicePrincipalNames already exists.',
    );
  const sp = env.directory.addServicePrincipal({
    appId: app.appId,
    displayName: app.displayName,
    servicePrincipalNames: [app.appId, ...app.identifierUris],
    tags: [],
    owners: env.caller.servicePrincipalId ? [env.caller.servicePrincipalId] : [],
  });
  apply(sp, props);
  return sp;
}

const entityContext = (env: Env, select?: string[]) =>
  `${env.origin}/v1.0/$metadata#servicePrincipals${select ? `(${select.join(',')})` : ''}/$entity`;

const created = (env: Env, sp: ServicePrincipal) =>
  jsonResponse(env.ids, 201, {
    '@odata.context': entityContext(env),
    ...servicePrincipalJson(sp, env.directory),
  });

/** POST /servicePrincipals {appId} → 201. */
export function postServicePrincipal(env: Env): SandboxResponse {
  if (!canWriteOwned(env.caller)) throw insufficientPrivileges();
  const props = readBody(env, jsonBody(env));
  if (typeof props.appId !== 'string' || !props.appId)
    throw new GraphError(400, 'Request_BadRequest', "Property 'appId' is required.");
  return created(env, createFor(env, props.appId, props));
}

/**
 * PATCH /servicePrincipals(appId='…') with `Prefer: create-if-missing` → 201 with the object / 204 after updating the
 * existing one; without the header it is a plain update, and a missing one is 404.
 */
export function upsertServicePrincipal(env: Env, appId: string): SandboxResponse {
  const prefer = String(env.req.headers.prefer ?? '').toLowerCase();
  const props = readBody(env, jsonBody(env));
  const existing = env.directory.spByAppId(appId) ?? env.directory.spByAppId(appId.toLowerCase());
  if (existing) {
    if (!mayModify(env.caller, existing.owners)) throw insufficientPrivileges();
    apply(existing, props);
    return emptyResponse(env.ids, 204);
  }
  if (!prefer.includes('create-if-missing')) throw notFound(appId);
  if (!canWriteOwned(env.caller)) throw insufficientPrivileges();
  return created(env, createFor(env, appId, props));
}

/** PATCH /servicePrincipals/{id} → 204 (serviceprincipal-update). */
export function patchServicePrincipal(env: Env, key: SpKey): SandboxResponse {
  if (!canWriteOwned(env.caller)) throw insufficientPrivileges();
  const props = readBody(env, jsonBody(env));
  const sp = resolveSp(env, key);
  if (!mayModify(env.caller, sp.owners)) throw insufficientPrivileges();
  apply(sp, props);
  return emptyResponse(env.ids, 204);
}

/** The live, replicated service principal a key addresses, or Graph's 404 / 400. */
export function resolveSp(env: Env, key: SpKey): ServicePrincipal {
  if (key.kind === 'id' && !isGuid(key.value)) throw invalidObjectId(key.value);
  const v = key.value.toLowerCase();
  for (const sp of env.directory.servicePrincipals.values()) {
    if (sp.deletedAt !== null) continue;
    const match = key.kind === 'id' ? sp.id.toLowerCase() === v : sp.appId.toLowerCase() === v;
    if (match) {
      if (!replicated(env, sp.createdAt)) break;
      return sp;
    }
  }
  throw notFound(key.value);
}

export function getServicePrincipal(env: Env, key: SpKey): SandboxResponse {
  if (!canRead(env.caller)) throw insufficientPrivileges();
  const select = parseSelect(env.req.query.get('$select'), SERVICE_PRINCIPAL_PROPERTIES);
  const sp = resolveSp(env, key);
  return jsonResponse(env.ids, 200, {
    '@odata.context': entityContext(env, select),
    ...applySelect(servicePrincipalJson(sp, env.directory), select),
  });
}

const SERVICE_PRINCIPAL_LIST: ListOptions = {
  path: '/v1.0/servicePrincipals',
  contextSet: 'servicePrincipals',
  filter: {
    resource: 'ServicePrincipal',
    properties: SERVICE_PRINCIPAL_PROPERTIES,
    filterable: {
      id: { kind: 'string', ops: ['eq'] },
      appId: { kind: 'string', ops: ['eq'] },
      displayName: { kind: 'string', ops: ['eq', 'startswith'] },
      servicePrincipalNames: { kind: 'collection', ops: ['any'] },
      tags: { kind: 'collection', ops: ['any'] },
    },
  },
};

function servicePrincipalRows(env: Env) {
  if (!canRead(env.caller)) throw insufficientPrivileges();
  return [...env.directory.servicePrincipals.values()]
    .filter((s) => s.deletedAt === null)
    .map((s) => servicePrincipalJson(s, env.directory));
}

export function listServicePrincipals(env: Env): SandboxResponse {
  return listResponse(env, servicePrincipalRows(env), SERVICE_PRINCIPAL_LIST);
}

/** GET /servicePrincipals/$count (advanced query: needs `ConsistencyLevel: eventual`). */
export function countServicePrincipals(env: Env): SandboxResponse {
  return countResponse(env, servicePrincipalRows(env), SERVICE_PRINCIPAL_LIST);
}

/** DELETE /servicePrincipals/{id} → 204; the app role assignments it holds or grants go with it. */
export function deleteServicePrincipal(env: Env, key: SpKey): SandboxResponse {
  if (!canWriteOwned(env.caller)) throw insufficientPrivileges();
  const sp = resolveSp(env, key);
  if (!mayModify(env.caller, sp.owners)) throw insufficientPrivileges();
  sp.deletedAt = env.clock.now();
  env.directory.removeAssignmentsOf(sp.id);
  return emptyResponse(env.ids, 204);
}
