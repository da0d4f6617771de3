/**
 * App role assignments of service principals, i.e. granted application permissions:
 *
 * - `POST /servicePrincipals/{id | (appId='…')}/appRoleAssignedTo` {principalId, resourceId, appRoleId} → 201 with
 *   the appRoleAssignment (https://learn.microsoft.com/graph/api/serviceprincipal-post-approleassignedto);
 * - `GET …/appRoleAssignedTo` (granted *on* this resource) and `GET …/appRoleAssignments` (granted *to* this
 *   principal), paged like the other collections
 *   (https://learn.microsoft.com/graph/api/serviceprincipal-list-approleassignedto,
 *   https://learn.microsoft.com/graph/api/serviceprincipal-list-approleassignments);
 * - `GET …/appRoleAssignedTo/{id}` (https://learn.microsoft.com/graph/api/approleassignment-get) and
 *   `DELETE …/appRoleAssignedTo/{id}` → 204
 *   (https://learn.microsoft.com/graph/api/serviceprincipal-delete-approleassignedto).
 *
 * Permissions (application), from the same pages' tables: granting takes AppRoleAssignment.ReadWrite.All *and*
 * Application.Read.All or Directory.Read.All (the stand-in also takes the ReadWrite.All forms of the second
 * [inferred: they include the read]); AppRoleAssignment.ReadWrite.All alone is refused with 403. Deleting takes
 * AppRoleAssignment.ReadWrite.All. Listing and reading take Application.Read.All or a higher permission
 * (Application.ReadWrite.OwnedBy, Directory.Read.All, Application.ReadWrite.All, Directory.ReadWrite.All).
 * Otherwise 403 `Authorization_RequestDenied`.
 *
 * Errors of a grant, in the order the stand-in checks them:
 * - unknown body property, or an id that is not a GUID: 400 `BadRequest` from the OData reader;
 * - unknown resource service principal (the one in the path): 404 `Request_ResourceNotFound`;
 * - a principal that does not exist or has not replicated yet: 400 `Request_BadRequest` "Not a valid reference
 *   update." — what Graph answers for a principal created moments before
 *   (https://learn.microsoft.com/azure/service-fabric/service-fabric-cluster-creation-setup-aad, "Troubleshooting");
 *   a body `resourceId` that does not name the resource in the path answers the same [inferred];
 * - an `appRoleId` the resource does not offer, or offers only to other member types: 400 `Request_BadRequest`
 *   "Permission being assigned was not found on application …" (the prefix is what Graph clients match; the
 *   quoted appId after it is [inferred]). The default role `00000000-0000-0000-0000-000000000000` is accepted only
 *   by a resource that declares no app roles (https://learn.microsoft.com/graph/api/resources/approleassignment);
 * - the same principal, resource and role already assigned: 400 `Request_BadRequest` "Permission being assigned
 *   already exists on the object" (the message Graph clients compare against to treat a re-grant as done).
 */
import type { SandboxResponse } from '../core/types';
import { type AppRoleAssignment, type ServicePrincipal, newAppRoleAssignmentId } from '../directory';
import { canRead } from './auth';
import {
  GraphError,
  emptyResponse,
  insufficientPrivileges,
  invalidValue,
  jsonResponse,
  notFound,
  unknownProperty,
} from './errors';
import { type Env, type Json, isGuid, jsonBody, replicated } from './env';
import { isoTicks } from './model';
import { applySelect, parseSelect } from './odata';
import { type ListOptions, listResponse } from './paging';
import { type SpKey, resolveSp } from './service-principals';

const ASSIGNMENT_TYPE = 'microsoft.graph.appRoleAssignment';
const ASSIGN_PERMISSION = 'AppRoleAssignment.ReadWrite.All';
const DEFAULT_APP_ROLE_ID = '00000000-0000-0000-0000-000000000000';

/** Properties of microsoft.graph.appRoleAssignment (directoryObject's plus its own). */
export const APP_ROLE_ASSIGNMENT_PROPERTIES = [
  'id',
  'deletedDateTime',
  'appRoleId',
  'createdDateTime',
  'principalDisplayName',
  'principalId',
  'principalType',
  'resourceDisplayName',
  'resourceId',
] as const;

/** Read-only properties a client may echo back; the stand-in ignores them [inferred]. */
const READ_ONLY = new Set([
  'id',
  'deletedDateTime',
  'createdDateTime',
  'principalDisplayName',
  'principalType',
  'resourceDisplayName',
]);

const DIRECTORY_READ = [
  'Application.Read.All',
  'Directory.Read.All',
  'Application.ReadWrite.All',
  'Directory.ReadWrite.All',
];
const has = (env: Env, role: string) => env.caller.roles.includes(role);
const mayGrant = (env: Env) => has(env, ASSIGN_PERMISSION) && env.caller.roles.some((r) => DIRECTORY_READ.includes(r));
const mayRevoke = (env: Env) => has(env, ASSIGN_PERMISSION);
const mayList = (env: Env) => canRead(env.caller) || has(env, 'Directory.ReadWrite.All');

const notValidReference = () => new GraphError(400, 'Request_BadRequest', 'Not a valid reference update.');
const roleNotOffered = (resource: ServicePrincipal) =>
  new GraphError(
    400,
    'Request_BadRequest',
    `Permission being assigned was not found on application '${resource.appId}'.`,
  );
const alreadyAssigned = () =>
  new GraphError(400, 'Request_BadRequest', 'Permission being assigned already exists on the object');

type PrincipalType = 'User' | 'Group' | 'ServicePrincipal';
interface Principal {
  id: string;
  type: PrincipalType;
  displayName: string;
}

/** The user, group or service principal with this object id; `replicatedOnly` hides service principals just created. */
function findPrincipal(env: Env, id: string, replicatedOnly: boolean): Principal | undefined {
  const v = id.toLowerCase();
  for (const sp of env.directory.servicePrincipals.values())
    if (sp.deletedAt === null && sp.id.toLowerCase() === v && (!replicatedOnly || replicated(env, sp.createdAt)))
      return { id: sp.id, type: 'ServicePrincipal', displayName: sp.displayName };
  for (const u of env.directory.users.values())
    if (u.id.toLowerCase() === v) return { id: u.id, type: 'User', displayName: u.displayName };
  for (const g of env.directory.groups.values())
    if (g.id.toLowerCase() === v) return { id: g.id, type: 'Group', displayName: g.displayName };
  return undefined;
}

export function appRoleAssignmentJson(env: Env, a: AppRoleAssignment): Record<string, unknown> {
  const principal = findPrincipal(env, a.principalId, false);
  const resource = env.directory.servicePrincipals.get(a.resourceId);
  return {
    id: a.id,
    deletedDateTime: null,
    appRoleId: a.appRoleId,
    createdDateTime: isoTicks(a.createdAt ?? 0),
    principalDisplayName: principal?.displayName ?? null,
    principalId: a.principalId,
    principalType: principal?.type ?? 'ServicePrincipal',
    resourceDisplayName: resource?.displayName ?? null,
    resourceId: a.resourceId,
  };
}

/** The ids a grant names; `undefined` when absent or null. */
function readGrant(body: Json): { principalId?: string; resourceId?: string; appRoleId?: string } {
  const out: { principalId?: string; resourceId?: string; appRoleId?: string } = {};
  for (const [rawKey, value] of Object.entries(body)) {
    if (rawKey.startsWith('@')) continue;
    const key = APP_ROLE_ASSIGNMENT_PROPERTIES.find((k) => k.toLowerCase() === rawKey.toLowerCase());
    if (!key) throw unknownProperty(rawKey, ASSIGNMENT_TYPE);
    if (READ_ONLY.has(key) || value === null) continue;
    if (typeof value !== 'string' || !isGuid(value)) throw invalidValue(key, 'Edm.Guid');
    if (key === 'principalId' || key === 'resourceId' || key === 'appRoleId') out[key] = value;
  }
  return out;
}

/**
 * The id of the resource's app role that `appRoleId` names, if the principal's type may hold it: roles written with
 * `allowedMemberTypes` offer themselves to service principals only with `Application`, to users and groups only with
 * `User` (https://learn.microsoft.com/graph/api/resources/approle).
 */
function offeredRole(resource: ServicePrincipal, appRoleId: string, type: PrincipalType): string | undefined {
  const id = appRoleId.toLowerCase();
  if (id === DEFAULT_APP_ROLE_ID) return resource.appRoles.length === 0 ? DEFAULT_APP_ROLE_ID : undefined;
  const role = resource.appRoles.find((r) => r.id.toLowerCase() === id);
  if (!role) return undefined;
  const written = resource.extra?.appRoles;
  const definition = Array.isArray(written)
    ? (written as Json[]).find((r) => typeof r.id === 'string' && r.id.toLowerCase() === id)
    : undefined;
  const memberTypes = definition?.allowedMemberTypes;
  if (Array.isArray(memberTypes) && !memberTypes.includes(type === 'ServicePrincipal' ? 'Application' : 'User'))
    return undefined;
  return role.id;
}

const entityContext = (env: Env, resource: ServicePrincipal, select?: string[]) =>
  `${env.origin}/v1.0/$metadata#servicePrincipals('${resource.id}')/appRoleAssignedTo${select ? `(${select.join(',')})` : ''}/$entity`;

/** POST /servicePrincipals/{id}/appRoleAssignedTo → 201 + appRoleAssignment. */
export function postAppRoleAssignedTo(env: Env, key: SpKey): SandboxResponse {
  if (!mayGrant(env)) throw insufficientPrivileges();
  const grant = readGrant(jsonBody(env));
  const resource = resolveSp(env, key);
  if (grant.resourceId === undefined || grant.resourceId.toLowerCase() !== resource.id.toLowerCase())
    throw notValidReference();
  const principal = grant.principalId === undefined ? undefined : findPrincipal(env, grant.principalId, true);
  if (!principal) throw notValidReference();
  const appRoleId = offeredRole(resource, grant.appRoleId ?? DEFAULT_APP_ROLE_ID, principal.type);
  if (appRoleId === undefined) throw roleNotOffered(resource);
  const assignments = env.directory.appRoleAssignments;
  if (
    assignments.some((a) => a.principalId === principal.id && a.resourceId === resource.id && a.appRoleId === appRoleId)
  )
    throw alreadyAssigned();
  const assignment: AppRoleAssignment = {
    id: newAppRoleAssignmentId(principal.id),
    principalId: principal.id,
    resourceId: resource.id,
    appRoleId,
    createdAt: env.clock.now(),
  };
  assignments.push(assignment);
  return jsonResponse(env.ids, 201, {
    '@odata.context': entityContext(env, resource),
    ...appRoleAssignmentJson(env, assignment),
  });
}

function assignmentOn(env: Env, resource: ServicePrincipal, assignmentId: string): AppRoleAssignment {
  const found = env.directory.appRoleAssignments.find((a) => a.id === assignmentId && a.resourceId === resource.id);
  if (!found) throw notFound(assignmentId);
  return found;
}

/** GET /servicePrincipals/{id}/appRoleAssignedTo/{assignmentId}. */
export function getAppRoleAssignedTo(env: Env, key: SpKey, assignmentId: string): SandboxResponse {
  if (!mayList(env)) throw insufficientPrivileges();
  const select = parseSelect(env.req.query.get('$select'), APP_ROLE_ASSIGNMENT_PROPERTIES);
  const resource = resolveSp(env, key);
  const assignment = assignmentOn(env, resource, assignmentId);
  return jsonResponse(env.ids, 200, {
    '@odata.context': entityContext(env, resource, select),
    ...applySelect(appRoleAssignmentJson(env, assignment), select),
  });
}

/** DELETE /servicePrincipals/{id}/appRoleAssignedTo/{assignmentId} → 204; an unknown id is 404. */
export function deleteAppRoleAssignedTo(env: Env, key: SpKey, assignmentId: string): SandboxResponse {
  if (!mayRevoke(env)) throw insufficientPrivileges();
  const resource = resolveSp(env, key);
  const assignment = assignmentOn(env, resource, assignmentId);
  const assignments = env.directory.appRoleAssignments;
  assignments.splice(assignments.indexOf(assignment), 1);
  return emptyResponse(env.ids, 204);
}

const listOptions = (sp: ServicePrincipal, nav: string): ListOptions => ({
  path: `/v1.0/servicePrincipals/${sp.id}/${nav}`,
  contextSet: `servicePrincipals('${sp.id}')/${nav}`,
  filter: {
    resource: 'AppRoleAssignment',
    properties: APP_ROLE_ASSIGNMENT_PROPERTIES,
    filterable: {
      principalId: { kind: 'string', ops: ['eq'] },
      resourceId: { kind: 'string', ops: ['eq'] },
      principalDisplayName: { kind: 'string', ops: ['eq', 'startswith'] },
    },
  },
});

/** GET /servicePrincipals/{id}/appRoleAssignedTo: the grants on this resource service principal. */
export function listAppRoleAssignedTo(env: Env, key: SpKey): SandboxResponse {
  if (!mayList(env)) throw insufficientPrivileges();
  const sp = resolveSp(env, key);
  const rows = env.directory.appRoleAssignments
    .filter((a) => a.resourceId === sp.id)
    .map((a) => appRoleAssignmentJson(env, a));
  return listResponse(env, rows, listOptions(sp, 'appRoleAssignedTo'));
}

/** GET /servicePrincipals/{id}/appRoleAssignments: the grants this service principal holds. */
export function listAppRoleAssignments(env: Env, key: SpKey): SandboxResponse {
  if (!mayList(env)) throw insufficientPrivileges();
  const sp = resolveSp(env, key);
  const rows = env.directory.appRoleAssignments
    .filter((a) => a.principalId === sp.id)
    .map((a) => appRoleAssignmentJson(env, a));
  return listResponse(env, rows, listOptions(sp, 'appRoleAssignments'));
}
