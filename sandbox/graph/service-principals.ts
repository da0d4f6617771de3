/**
 * /servicePrincipals: create {appId}, upsert by appId, get, list, delete.
 *
 * Sources: Graph v1.0 pages serviceprincipal-post-serviceprincipals, serviceprincipal-upsert, serviceprincipal-get,
 * serviceprincipal-list, serviceprincipal-delete; docs/reference/microsoft.md#graph-permissions (OwnedBy must own the
 * backing application, microsoftgraph/microsoft-graph-docs#16138) and microsoft.md#replication-delays: right after the
 * application is created Graph answers 400 "The appId '…' of the service principal does not reference a valid
 * application object." with the detail code `NoBackingApplicationObject` (microsoftgraph/msgraph-sdk-dotnet#3108).
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
import { listResponse } from './paging';

const SP_TYPE = 'microsoft.graph.servicePrincipal';

type SpKey = { kind: 'id' | 'appId'; value: string };

function readBody(body: Json): Json {
  const out: Json = {};
  for (const [rawKey, value] of Object.entries(body)) {
    if (rawKey.startsWith('@')) continue;
    const key = SERVICE_PRINCIPAL_PROPERTIES.find((k) => k.toLowerCase() === rawKey.toLowerCase());
    if (!key) throw unknownProperty(rawKey, SP_TYPE);
    if (!SERVICE_PRINCIPAL_WRITABLE.has(key))
      throw new GraphError(400, 'Request_BadRequest', `Property '${key}' is read-only and cannot be set.`);
    if (key === 'tags' && !(Array.isArray(value) && value.every((t) => typeof t === 'string')))
      throw invalidValue(key, 'Collection(Edm.String)');
    if (key === 'appId' && typeof value !== 'string') throw invalidValue(key, 'Edm.String');
    out[key] = value;
  }
  return out;
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
  const { tags, appId: _ignored, ...extra } = props;
  return env.directory.addServicePrincipal({
    appId: app.appId,
    displayName: app.displayName,
    servicePrincipalNames: [app.appId, ...app.identifierUris],
    tags: Array.isArray(tags) ? (tags as string[]) : [],
    owners: env.caller.servicePrincipalId ? [env.caller.servicePrincipalId] : [],
    ...(Object.keys(extra).length ? { extra } : {}),
  });
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
  const props = readBody(jsonBody(env));
  if (typeof props.appId !== 'string' || !props.appId)
    throw new GraphError(400, 'Request_BadRequest', "Property 'appId' is required.");
  return created(env, createFor(env, props.appId, props));
}

/** PATCH /servicePrincipals(appId='…') with `Prefer: create-if-missing` → 201 / 204; without it a missing one is 404. */
export function upsertServicePrincipal(env: Env, appId: string): SandboxResponse {
  const prefer = String(env.req.headers.prefer ?? '').toLowerCase();
  const props = readBody(jsonBody(env));
  const existing = env.directory.spByAppId(appId) ?? env.directory.spByAppId(appId.toLowerCase());
  if (existing) {
    if (!mayModify(env.caller, existing.owners)) throw insufficientPrivileges();
    const { tags, appId: _ignored, ...extra } = props;
    if (Array.isArray(tags)) existing.tags = tags as string[];
    if (Object.keys(extra).length) existing.extra = { ...(existing.extra ?? {}), ...extra };
    return emptyResponse(env.ids, 204);
  }
  if (!prefer.includes('create-if-missing')) throw notFound(appId);
  if (!canWriteOwned(env.caller)) throw insufficientPrivileges();
  return created(env, createFor(env, appId, props));
}

function resolveSp(env: Env, key: SpKey): ServicePrincipal {
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

export function listServicePrincipals(env: Env): SandboxResponse {
  if (!canRead(env.caller)) throw insufficientPrivileges();
  const rows = [...env.directory.servicePrincipals.values()]
    .filter((s) => s.deletedAt === null)
    .map((s) => servicePrincipalJson(s, env.directory));
  return listResponse(env, rows, {
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
  });
}

/** DELETE /servicePrincipals/{id} → 204. */
export function deleteServicePrincipal(env: Env, key: SpKey): SandboxResponse {
  if (!canWriteOwned(env.caller)) throw insufficientPrivileges();
  const sp = resolveSp(env, key);
  if (!mayModify(env.caller, sp.owners)) throw insufficientPrivileges();
  sp.deletedAt = env.clock.now();
  return emptyResponse(env.ids, 204);
}
