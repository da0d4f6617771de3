/**
 * GET /groups/{id}/transitiveMembers and its OData casts (`/microsoft.graph.user`, `/microsoft.graph.group`): a flat
 * list of every member, through nested groups [doc https://learn.microsoft.com/graph/api/group-list-transitivemembers].
 *
 * - Permissions (application): GroupMember.Read.All least privileged; Group.Read.All, GroupMember.ReadWrite.All,
 *   Group.ReadWrite.All, Directory.Read.All and Directory.ReadWrite.All also do [same page, Permissions]. Without one:
 *   403 `Authorization_RequestDenied`.
 * - Member objects the caller may not read are still listed, with only `@odata.type` and `id`; every other property is
 *   null [doc https://learn.microsoft.com/graph/permissions-overview, "Limited information returned for inaccessible
 *   member objects"]. Reading users' `mail` and `userPrincipalName` takes User.ReadBasic.All (or User.Read.All,
 *   Directory.Read.All) [doc https://learn.microsoft.com/graph/permissions-reference].
 * - Unknown group: 404 `Request_ResourceNotFound`; an id that is not a GUID: 400 "Invalid object identifier".
 * - A cast to a type that cannot be a member: 400 `Request_UnsupportedQuery` [same page: "An attempt to filter by an
 *   OData cast that represents an unsupported member type returns a 400 Bad Request error with the
 *   Request_UnsupportedQuery code"; the message text is inferred].
 * - The current page lets a cast be used without the advanced query parameters ("You can also filter the results on
 *   the OData type"); earlier versions of the page asked for `ConsistencyLevel: eventual` and `$count=true`. The
 *   stand-in accepts both forms [inferred: the first thing to check against a real tenant].
 * - Server-driven paging: 100 objects a page by default, `$top` up to 999, `@odata.nextLink` [same page; doc
 *   https://learn.microsoft.com/graph/paging].
 */
import type { Group, User } from '../directory';
import type { SandboxResponse } from '../core/types';
import { GraphError, insufficientPrivileges, notFound, unknownSegment } from './errors';
import { type Env, invalidObjectId, isGuid } from './env';
import type { Row } from './odata';
import { listResponse } from './paging';

const READ_MEMBERS = [
  'GroupMember.Read.All',
  'Group.Read.All',
  'GroupMember.ReadWrite.All',
  'Group.ReadWrite.All',
  'Directory.Read.All',
  'Directory.ReadWrite.All',
];
const READ_USERS = [
  'User.ReadBasic.All',
  'User.Read.All',
  'User.ReadWrite.All',
  'Directory.Read.All',
  'Directory.ReadWrite.All',
];
const READ_GROUPS = READ_MEMBERS;

const USER_PROPERTIES = ['id', 'displayName', 'mail', 'userPrincipalName', 'givenName', 'surname', 'accountEnabled'];
const GROUP_PROPERTIES = ['id', 'displayName', 'description', 'mail', 'mailEnabled', 'securityEnabled', 'groupTypes'];
/** directoryObject properties plus those of the member types the stand-in models (for $select on the uncast list). */
const MEMBER_PROPERTIES = [...new Set(['@odata.type', ...USER_PROPERTIES, ...GROUP_PROPERTIES])];

/** Types that can be group members (Learn "Group membership"); the stand-in holds users and groups only. */
const MEMBER_TYPES = ['user', 'group', 'device', 'orgcontact', 'serviceprincipal'];

const has = (env: Env, roles: string[]) => env.caller.roles.some((r) => roles.includes(r));

function userRow(env: Env, u: User, typed: boolean): Row {
  const readable = has(env, READ_USERS);
  const row: Row = {
    id: u.id,
    displayName: readable ? u.displayName : null,
    mail: readable && u.mail !== '' ? u.mail : null,
    userPrincipalName: readable ? u.userPrincipalName : null,
    givenName: null,
    surname: null,
    accountEnabled: readable ? true : null,
  };
  return typed ? { '@odata.type': '#microsoft.graph.user', ...row } : row;
}

function groupRow(env: Env, g: Group, typed: boolean): Row {
  const readable = has(env, READ_GROUPS);
  const row: Row = {
    id: g.id,
    displayName: readable ? g.displayName : null,
    description: null,
    mail: null,
    mailEnabled: readable ? false : null,
    securityEnabled: readable ? true : null,
    groupTypes: readable ? [] : null,
  };
  return typed ? { '@odata.type': '#microsoft.graph.group', ...row } : row;
}

/** `/groups/{id}/transitiveMembers[/microsoft.graph.{type}]`, GET only (the router dispatches the method). */
export function listTransitiveMembers(env: Env, groupId: string, cast: string | undefined): SandboxResponse {
  if (!has(env, READ_MEMBERS)) throw insufficientPrivileges();
  if (!isGuid(groupId)) throw invalidObjectId(groupId);
  const group = env.directory.groups.get(groupId.toLowerCase());
  if (!group) throw notFound(groupId);
  const members = env.directory.transitiveMembers(group.id);
  const path = `/v1.0/groups/${group.id}/transitiveMembers${cast === undefined ? '' : `/microsoft.graph.${cast}`}`;
  const filter = (resource: string, properties: readonly string[]) => ({
    resource,
    properties,
    filterable: { displayName: { kind: 'string' as const, ops: ['eq', 'startswith'] } },
  });
  if (cast === undefined)
    return listResponse(
      env,
      members.map((m) => (m.kind === 'user' ? userRow(env, m.user, true) : groupRow(env, m.group, true))),
      { path, contextSet: 'directoryObjects', filter: filter('DirectoryObject', MEMBER_PROPERTIES) },
    );
  if (cast === 'user')
    return listResponse(
      env,
      members.flatMap((m) => (m.kind === 'user' ? [userRow(env, m.user, false)] : [])),
      { path, contextSet: 'users', filter: filter('User', USER_PROPERTIES) },
    );
  if (cast === 'group')
    return listResponse(
      env,
      members.flatMap((m) => (m.kind === 'group' ? [groupRow(env, m.group, false)] : [])),
      { path, contextSet: 'groups', filter: filter('Group', GROUP_PROPERTIES) },
    );
  if (MEMBER_TYPES.includes(cast))
    // Devices, contacts and service principals are not modelled: such a cast lists nothing.
    return listResponse(env, [], { path, contextSet: `${cast}s`, filter: filter(cast, ['id']) });
  throw new GraphError(
    400,
    'Request_UnsupportedQuery',
    `The type 'microsoft.graph.${cast}' is not a supported member type for this relationship.`,
  );
}

/** Parses the segments after `groups/{id}`: `transitiveMembers` and an optional cast. */
export function transitiveMembersRoute(rest: string[]): { cast: string | undefined } {
  if (rest[0]?.toLowerCase() !== 'transitivemembers') throw unknownSegment(rest[0] ?? 'groups');
  if (rest.length === 1) return { cast: undefined };
  const m = /^microsoft\.graph\.([A-Za-z]+)$/i.exec(rest[1]);
  if (!m || rest.length > 2) throw unknownSegment(rest[rest.length > 2 && m ? 2 : 1]);
  return { cast: m[1].toLowerCase() };
}
