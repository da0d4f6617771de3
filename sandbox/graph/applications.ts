/**
 * /applications: create, upsert by uniqueName, get, list, update, delete, addPassword, removePassword.
 *
 * Sources: Graph v1.0 pages application-post-applications, application-upsert, application-get, application-list,
 * application-update, application-delete, application-addpassword, application-removepassword
 * (microsoftgraph/microsoft-graph-docs-contrib api-reference/v1.0/api/*.md) and docs/reference/microsoft.md
 * (application upsert, Graph errors, replication delays).
 */
import type { SandboxResponse } from '../core/types';
import type { Application } from '../directory';
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
import { type AppKey, type Env, type Json, findApp, invalidObjectId, isGuid, jsonBody, replicated } from './env';
import { APPLICATION_PROPERTIES, APPLICATION_READ_ONLY, applicationJson, isoTicks } from './model';
import { type ListOptions, countResponse, listResponse } from './paging';
import { applySelect, parseSelect } from './odata';
import { readKeyCredentials } from './key-credentials';

const APP_TYPE = 'microsoft.graph.application';
const SIGN_IN_AUDIENCES = [
  'AzureADMyOrg',
  'AzureADMultipleOrgs',
  'AzureADandPersonalMicrosoftAccount',
  'PersonalMicrosoftAccount',
];

const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

const directoryInvalid = (path: string) => new GraphError(400, 'Request_BadRequest', `Property ${path} is invalid.`);

/**
 * `requiredResourceAccess`: `[{ resourceAppId, resourceAccess: [{ id, type }] }]`
 * (https://learn.microsoft.com/graph/api/resources/requiredresourceaccess,
 * https://learn.microsoft.com/graph/api/resources/resourceaccess: `id` is an Edm.Guid, `type` is `Scope` for a
 * delegated permission or `Role` for an app role). Wrong JSON types and a malformed `id` fail in the OData reader (400
 * `BadRequest`, as for every other property); a `type` other than the two answers 400 `Request_BadRequest`
 * "Property requiredResourceAccess.resourceAccess is invalid." (the directory's wording as Graph clients report it);
 * a `resourceAppId` that is not a GUID answers the same way for that property [inferred]. Stored as
 * `{ resourceAppId, resourceAccess: [{ id, type }] }` and returned on GET (`$select=requiredResourceAccess`).
 */
function readRequiredResourceAccess(value: unknown): Json[] {
  const isObjectArray = (v: unknown): v is Json[] => Array.isArray(v) && v.every(isObject);
  if (!isObjectArray(value))
    throw invalidValue('requiredResourceAccess', 'Collection(microsoft.graph.requiredResourceAccess)');
  return value.map((entry) => {
    for (const k of Object.keys(entry))
      if (!k.startsWith('@') && k !== 'resourceAppId' && k !== 'resourceAccess')
        throw unknownProperty(k, 'microsoft.graph.requiredResourceAccess');
    const { resourceAppId, resourceAccess = [] } = entry;
    if (typeof resourceAppId !== 'string') throw invalidValue('resourceAppId', 'Edm.String');
    if (!isGuid(resourceAppId)) throw directoryInvalid('requiredResourceAccess.resourceAppId');
    if (!isObjectArray(resourceAccess))
      throw invalidValue('resourceAccess', 'Collection(microsoft.graph.resourceAccess)');
    return {
      resourceAppId,
      resourceAccess: resourceAccess.map((access) => {
        for (const k of Object.keys(access))
          if (!k.startsWith('@') && k !== 'id' && k !== 'type')
            throw unknownProperty(k, 'microsoft.graph.resourceAccess');
        if (typeof access.id !== 'string' || !isGuid(access.id)) throw invalidValue('id', 'Edm.Guid');
        if (access.type !== 'Role' && access.type !== 'Scope')
          throw directoryInvalid('requiredResourceAccess.resourceAccess');
        return { id: access.id, type: access.type };
      }),
    };
  });
}

/** The changes a body asks for, validated before anything is applied (a failed request changes nothing). */
type Changes = { typed: Partial<Application>; extra: Json };

function readApplicationBody(env: Env, body: Json, target: Application | undefined): Changes {
  const typed: Partial<Application> = {};
  const extra: Json = {};
  for (const [rawKey, value] of Object.entries(body)) {
    if (rawKey.startsWith('@')) continue; // instance annotations such as @odata.type
    const key = APPLICATION_PROPERTIES.find((k) => k.toLowerCase() === rawKey.toLowerCase());
    if (!key) throw unknownProperty(rawKey, APP_TYPE);
    if (key === 'passwordCredentials') {
      // Documented: passwordCredentials cannot be set by create/update; use addPassword/removePassword. An empty list is
      // what serialisers send for "none" and changes nothing here.
      if (Array.isArray(value) && value.length === 0) continue;
      throw new GraphError(
        400,
        'Request_BadRequest',
        "Property 'passwordCredentials' cannot be set on create or update. Use addPassword and removePassword.",
      );
    }
    if (APPLICATION_READ_ONLY.has(key))
      throw new GraphError(400, 'Request_BadRequest', `Property '${key}' is read-only and cannot be set.`);
    switch (key) {
      case 'displayName':
        if (typeof value !== 'string') throw invalidValue(key, 'Edm.String');
        typed.displayName = value;
        break;
      case 'notes':
        if (value !== null && typeof value !== 'string') throw invalidValue(key, 'Edm.String');
        typed.notes = value;
        break;
      case 'uniqueName':
        if (typeof value !== 'string' || !value) throw invalidValue(key, 'Edm.String');
        // uniqueName is settable only while null, then immutable [doc resources/application].
        if (target && target.uniqueName !== null && target.uniqueName !== value)
          throw new GraphError(400, 'Request_BadRequest', "Property 'uniqueName' cannot be changed once set.");
        typed.uniqueName = value;
        break;
      case 'signInAudience':
        if (typeof value !== 'string' || !SIGN_IN_AUDIENCES.includes(value))
          throw new GraphError(400, 'Request_BadRequest', `Property 'signInAudience' has an invalid value.`);
        typed.signInAudience = value;
        break;
      case 'tags':
        if (!isStringArray(value)) throw invalidValue(key, 'Collection(Edm.String)');
        typed.tags = [...value];
        break;
      case 'identifierUris':
        if (!isStringArray(value)) throw invalidValue(key, 'Collection(Edm.String)');
        typed.identifierUris = [...value];
        break;
      case 'web': {
        if (!isObject(value)) throw invalidValue(key, 'microsoft.graph.webApplication');
        const uris = value.redirectUris ?? [];
        if (!isStringArray(uris)) throw invalidValue('redirectUris', 'Collection(Edm.String)');
        typed.web = { redirectUris: [...uris] };
        extra.web = Object.fromEntries(Object.entries(value).filter(([k]) => k !== 'redirectUris'));
        break;
      }
      case 'api': {
        if (!isObject(value)) throw invalidValue(key, 'microsoft.graph.apiApplication');
        const v = value.requestedAccessTokenVersion ?? null;
        if (v !== null && v !== 1 && v !== 2) throw invalidValue('requestedAccessTokenVersion', 'Edm.Int32');
        typed.api = { requestedAccessTokenVersion: v };
        extra.api = Object.fromEntries(Object.entries(value).filter(([k]) => k !== 'requestedAccessTokenVersion'));
        break;
      }
      case 'requiredResourceAccess':
        extra.requiredResourceAccess = readRequiredResourceAccess(value);
        break;
      case 'keyCredentials':
        // The whole collection is replaced [doc application-update].
        typed.keyCredentials = readKeyCredentials(env, value, target);
        break;
      default:
        extra[key] = value;
    }
  }
  if (typeof typed.uniqueName === 'string') {
    const other = findApp(env, { kind: 'uniqueName', value: typed.uniqueName });
    if (other && other !== target) throw conflict('uniqueName');
  }
  return { typed, extra };
}

/** [observed Graph message for alternate-key/identifierUris collisions] */
const conflict = (property: string) =>
  new GraphError(
    409,
    'Request_MultipleObjectsWithSameKeyValue',
    `Another object with the same value for property ${property} already exists.`,
  );

function apply(app: Application, changes: Changes): void {
  Object.assign(app, changes.typed);
  if (Object.keys(changes.extra).length) app.extra = { ...(app.extra ?? {}), ...changes.extra };
}

function create(env: Env, body: Json, uniqueName?: string): Application {
  const changes = readApplicationBody(env, body, undefined);
  if (typeof changes.typed.displayName !== 'string' || changes.typed.displayName === '')
    throw new GraphError(400, 'Request_BadRequest', "Property 'displayName' is required.");
  if (uniqueName !== undefined) {
    if (changes.typed.uniqueName !== undefined && changes.typed.uniqueName !== uniqueName)
      throw new GraphError(
        400,
        'Request_BadRequest',
        "Property 'uniqueName' does not match the key in the request URL.",
      );
    changes.typed.uniqueName = uniqueName;
  }
  const app = env.directory.addApplication({
    displayName: changes.typed.displayName,
    createdByAppId: env.caller.appId || null,
    // An OwnedBy caller becomes owner of what it creates [public-code microsoftgraph/msgraph-sdk-powershell#829].
    owners: env.caller.servicePrincipalId ? [env.caller.servicePrincipalId] : [],
  });
  apply(app, changes);
  return app;
}

const entityContext = (env: Env, select?: string[]) =>
  `${env.origin}/v1.0/$metadata#applications${select ? `(${select.join(',')})` : ''}/$entity`;

function created(env: Env, app: Application): SandboxResponse {
  return jsonResponse(
    env.ids,
    201,
    { '@odata.context': entityContext(env), ...applicationJson(app, env.directory) },
    {
      Location: `${env.origin}/v2/${env.directory.tenantId}/directoryObjects/${app.id}/Microsoft.DirectoryServices.Application`,
    },
  );
}

/** POST /applications → 201 with the full object. */
export function postApplication(env: Env): SandboxResponse {
  if (!canWriteOwned(env.caller)) throw insufficientPrivileges();
  return created(env, create(env, jsonBody(env)));
}

/**
 * PATCH /applications(uniqueName='…'): with `Prefer: create-if-missing` a missing app is created (201 + object), an
 * existing one updated (204); without the header a missing one is 404 [doc application-upsert]. The lookup is by
 * alternate key on the write path, so an existing but not yet replicated app still answers 204.
 */
export function upsertApplication(env: Env, uniqueName: string): SandboxResponse {
  const prefer = String(env.req.headers.prefer ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase());
  const body = jsonBody(env);
  const existing = findApp(env, { kind: 'uniqueName', value: uniqueName });
  if (existing) {
    if (!mayModify(env.caller, existing.owners)) throw insufficientPrivileges();
    apply(existing, readApplicationBody(env, body, existing));
    return emptyResponse(env.ids, 204);
  }
  if (!prefer.includes('create-if-missing')) throw notFound(uniqueName);
  if (!canWriteOwned(env.caller)) throw insufficientPrivileges();
  return created(env, create(env, body, uniqueName));
}

/** The live, replicated application a key addresses, or Graph's 404 / 400. */
export function resolveApp(env: Env, key: AppKey): Application {
  if (key.kind === 'id' && !isGuid(key.value)) throw invalidObjectId(key.value);
  const app = findApp(env, key);
  if (!app || !replicated(env, app.createdAt)) throw notFound(key.value);
  return app;
}

export function getApplication(env: Env, key: AppKey): SandboxResponse {
  if (!canRead(env.caller)) throw insufficientPrivileges();
  const select = parseSelect(env.req.query.get('$select'), APPLICATION_PROPERTIES);
  const app = resolveApp(env, key);
  return jsonResponse(env.ids, 200, {
    '@odata.context': entityContext(env, select),
    // `key` of keyCredentials only when keyCredentials is selected explicitly [doc application-update].
    ...applySelect(applicationJson(app, env.directory, { withKeys: select?.includes('keyCredentials') }), select),
  });
}

const APPLICATION_LIST: ListOptions = {
  path: '/v1.0/applications',
  contextSet: 'applications',
  filter: {
    resource: 'Application',
    properties: APPLICATION_PROPERTIES,
    filterable: {
      id: { kind: 'string', ops: ['eq'] },
      appId: { kind: 'string', ops: ['eq'] },
      displayName: { kind: 'string', ops: ['eq', 'startswith'] },
      uniqueName: { kind: 'string', ops: ['eq', 'startswith'] },
      signInAudience: { kind: 'string', ops: ['eq'] },
      publisherDomain: { kind: 'string', ops: ['eq', 'startswith'] },
      tags: { kind: 'collection', ops: ['any'] },
      identifierUris: { kind: 'collection', ops: ['any'] },
    },
  },
};

function applicationRows(env: Env) {
  if (!canRead(env.caller)) throw insufficientPrivileges();
  return [...env.directory.applications.values()]
    .filter((a) => a.deletedAt === null)
    .map((a) => applicationJson(a, env.directory));
}

export function listApplications(env: Env): SandboxResponse {
  return listResponse(env, applicationRows(env), APPLICATION_LIST);
}

/** GET /applications/$count (advanced query: needs `ConsistencyLevel: eventual`). */
export function countApplications(env: Env): SandboxResponse {
  return countResponse(env, applicationRows(env), APPLICATION_LIST);
}

/** PATCH /applications/{id} → 204. */
export function patchApplication(env: Env, key: AppKey): SandboxResponse {
  if (!canWriteOwned(env.caller)) throw insufficientPrivileges();
  const body = jsonBody(env);
  const app = resolveApp(env, key);
  if (!mayModify(env.caller, app.owners)) throw insufficientPrivileges();
  apply(app, readApplicationBody(env, body, app));
  return emptyResponse(env.ids, 204);
}

/**
 * DELETE /applications/{id} → 204; the app moves to deleted items for 30 days [doc application-delete]. Its service
 * principal in the home tenant is deleted with it
 * (https://learn.microsoft.com/entra/identity/enterprise-apps/restore-application), and with the service principal the
 * app role assignments it holds or grants. Restoring the application does not bring the service principal back
 * (https://learn.microsoft.com/graph/api/directory-deleteditems-restore).
 */
export function deleteApplication(env: Env, key: AppKey): SandboxResponse {
  if (!canWriteOwned(env.caller)) throw insufficientPrivileges();
  const app = resolveApp(env, key);
  if (!mayModify(env.caller, app.owners)) throw insufficientPrivileges();
  const now = env.clock.now();
  app.deletedAt = now;
  const sp = env.directory.spByAppId(app.appId);
  if (sp) {
    sp.deletedAt = now;
    env.directory.removeAssignmentsOf(sp.id);
  }
  return emptyResponse(env.ids, 204);
}

const DAY_MS = 24 * 3600 * 1000;
/** Id of the sandbox tenant's default app management policy, quoted in the lifetime error. */
export const DEFAULT_APP_MANAGEMENT_POLICY_ID = '00000000-0000-0000-0000-000000000000';

function parseDate(value: unknown, name: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  const ms = typeof value === 'string' ? Date.parse(value) : NaN;
  if (!Number.isFinite(ms)) throw invalidValue(name, 'Edm.DateTimeOffset');
  return ms;
}

/**
 * POST /applications/{id}/addPassword → 200 + passwordCredential with `secretText` (only here) [doc
 * application-addpassword]; defaults: start now, end start + 2 years. With a tenant lifetime policy a longer lifetime
 * is refused with 400 `CredentialInvalidLifetimeAsPerAppPolicy` [public-code OfficeDev/microsoft-365-agents-toolkit#10998,
 * Azure/azure-cli#28522: "Credential lifetime exceeds the max value allowed as per assigned policy '<id>'."].
 */
export function addPassword(env: Env, key: AppKey): SandboxResponse {
  if (!canWriteOwned(env.caller)) throw insufficientPrivileges();
  const body = jsonBody(env, true);
  for (const k of Object.keys(body))
    if (k.toLowerCase() !== 'passwordcredential') throw unknownProperty(k, 'microsoft.graph.addPassword');
  const pcKey = Object.keys(body)[0];
  const pc = pcKey === undefined ? {} : body[pcKey];
  if (pc !== null && !isObject(pc)) throw invalidValue('passwordCredential', 'microsoft.graph.passwordCredential');
  const input: Json = pc ?? {};
  const allowed = ['customKeyIdentifier', 'displayName', 'endDateTime', 'hint', 'keyId', 'secretText', 'startDateTime'];
  for (const k of Object.keys(input))
    if (!k.startsWith('@') && !allowed.includes(k)) throw unknownProperty(k, 'microsoft.graph.passwordCredential');
  if (input.displayName !== undefined && input.displayName !== null && typeof input.displayName !== 'string')
    throw invalidValue('displayName', 'Edm.String');
  const start = parseDate(input.startDateTime, 'startDateTime') ?? env.clock.now();
  const end = parseDate(input.endDateTime, 'endDateTime') ?? start + 2 * 365 * DAY_MS;
  if (end <= start)
    throw new GraphError(400, 'Request_BadRequest', 'The end date of the credential must be after its start date.');
  const app = resolveApp(env, key);
  if (!mayModify(env.caller, app.owners)) throw insufficientPrivileges();
  const max = env.opts.maxPasswordLifetimeDays;
  if (max !== undefined && end - start > max * DAY_MS) {
    const message = `Credential lifetime exceeds the max value allowed as per assigned policy '${DEFAULT_APP_MANAGEMENT_POLICY_ID}'.`;
    throw new GraphError(400, 'CredentialInvalidLifetimeAsPerAppPolicy', message, [
      { code: 'InvalidKeyEndDate', message, target: 'EndDate' },
    ]);
  }
  const { credential, secretText } = env.directory.addPassword(app, {
    displayName: typeof input.displayName === 'string' ? input.displayName : null,
    startDateTime: start,
    endDateTime: end,
  });
  return jsonResponse(env.ids, 200, {
    '@odata.context': `${env.origin}/v1.0/$metadata#microsoft.graph.passwordCredential`,
    customKeyIdentifier: null,
    displayName: credential.displayName,
    endDateTime: isoTicks(credential.endDateTime),
    hint: credential.hint,
    keyId: credential.keyId,
    secretText,
    startDateTime: isoTicks(credential.startDateTime),
  });
}

/**
 * POST /applications/{id}/removePassword {keyId} → 204 [doc application-removepassword]. The answer for an unknown keyId
 * is not documented; a 400 Request_BadRequest naming the keyId is the closest documented shape [inferred].
 */
export function removePassword(env: Env, key: AppKey): SandboxResponse {
  if (!canWriteOwned(env.caller)) throw insufficientPrivileges();
  const body = jsonBody(env);
  for (const k of Object.keys(body)) if (k !== 'keyId') throw unknownProperty(k, 'microsoft.graph.removePassword');
  const keyId = body.keyId;
  if (typeof keyId !== 'string' || !isGuid(keyId)) throw invalidValue('keyId', 'Edm.Guid');
  const app = resolveApp(env, key);
  if (!mayModify(env.caller, app.owners)) throw insufficientPrivileges();
  const index = app.passwordCredentials.findIndex((c) => c.keyId.toLowerCase() === keyId.toLowerCase());
  if (index < 0) throw new GraphError(400, 'Request_BadRequest', `No password credential found with keyId '${keyId}'.`);
  app.passwordCredentials.splice(index, 1);
  return emptyResponse(env.ids, 204);
}

// ---- deleted items [doc directory-deleteditems-list, -get, -restore, -delete] ----

const deletedApp = (env: Env, id: string): Application => {
  if (!isGuid(id)) throw invalidObjectId(id);
  const app = env.directory.applications.get(id.toLowerCase()) ?? env.directory.applications.get(id);
  if (!app || app.deletedAt === null) throw notFound(id);
  return app;
};

export function listDeletedApplications(env: Env): SandboxResponse {
  if (!canRead(env.caller)) throw insufficientPrivileges();
  const rows = [...env.directory.applications.values()]
    .filter((a) => a.deletedAt !== null)
    .map((a) => ({ '@odata.type': '#microsoft.graph.application', ...applicationJson(a, env.directory) }));
  return listResponse(env, rows, {
    path: '/v1.0/directory/deletedItems/microsoft.graph.application',
    contextSet: 'applications',
    filter: {
      resource: 'Application',
      properties: APPLICATION_PROPERTIES,
      filterable: {
        id: { kind: 'string', ops: ['eq'] },
        appId: { kind: 'string', ops: ['eq'] },
        displayName: { kind: 'string', ops: ['eq', 'startswith'] },
        tags: { kind: 'collection', ops: ['any'] },
      },
    },
  });
}

export function getDeletedItem(env: Env, id: string): SandboxResponse {
  if (!canRead(env.caller)) throw insufficientPrivileges();
  const app = deletedApp(env, id);
  return jsonResponse(env.ids, 200, {
    '@odata.context': `${env.origin}/v1.0/$metadata#directory/deletedItems/$entity`,
    '@odata.type': '#microsoft.graph.application',
    ...applicationJson(app, env.directory),
  });
}

/** POST /directory/deletedItems/{id}/restore → 200 + the object. A uniqueName now taken by another app conflicts. */
export function restoreDeletedItem(env: Env, id: string): SandboxResponse {
  if (!canWriteOwned(env.caller)) throw insufficientPrivileges();
  const app = deletedApp(env, id);
  if (!mayModify(env.caller, app.owners)) throw insufficientPrivileges();
  if (app.uniqueName !== null && findApp(env, { kind: 'uniqueName', value: app.uniqueName }))
    throw conflict('uniqueName');
  if (env.directory.appByAppId(app.appId)) throw conflict('appId');
  app.deletedAt = null;
  return jsonResponse(env.ids, 200, {
    '@odata.context': `${env.origin}/v1.0/$metadata#directoryObjects/$entity`,
    '@odata.type': '#microsoft.graph.application',
    ...applicationJson(app, env.directory),
  });
}

/** DELETE /directory/deletedItems/{id} → 204, permanently. */
export function purgeDeletedItem(env: Env, id: string): SandboxResponse {
  if (!canWriteOwned(env.caller)) throw insufficientPrivileges();
  const app = deletedApp(env, id);
  if (!mayModify(env.caller, app.owners)) throw insufficientPrivileges();
  env.directory.applications.delete(app.id);
  return emptyResponse(env.ids, 204);
}
