/**
 * Maps `/v1.0/...` paths (with OData key segments such as `applications(appId='…')`) to handlers. Segment names are
 * case-insensitive as in Graph; actions may be written bare (`addPassword`) or qualified (`microsoft.graph.addPassword`).
 */
import type { SandboxResponse } from '../core/types';
import {
  addPassword,
  countApplications,
  deleteApplication,
  getApplication,
  getDeletedItem,
  listApplications,
  listDeletedApplications,
  patchApplication,
  postApplication,
  purgeDeletedItem,
  removePassword,
  resolveApp,
  restoreDeletedItem,
  upsertApplication,
} from './applications';
import { type FicKey, deleteFic, getFic, listFics, patchFic, postFic } from './federated-credentials';
import { addKey, removeKey } from './key-credentials';
import {
  deleteAppRoleAssignedTo,
  getAppRoleAssignedTo,
  listAppRoleAssignedTo,
  listAppRoleAssignments,
  postAppRoleAssignedTo,
} from './app-role-assignments';
import { GraphError, methodNotAllowed, unknownSegment } from './errors';
import type { AppKey, Env } from './env';
import { listTransitiveMembers, transitiveMembersRoute } from './groups';
import { meNotAllowed, sendMail } from './mail';
import {
  countServicePrincipals,
  deleteServicePrincipal,
  getServicePrincipal,
  listServicePrincipals,
  patchServicePrincipal,
  postServicePrincipal,
  type SpKey,
  upsertServicePrincipal,
} from './service-principals';

type Handlers = Partial<Record<string, () => SandboxResponse>>;

function dispatch(env: Env, handlers: Handlers): SandboxResponse {
  const h = handlers[env.req.method];
  if (!h) throw methodNotAllowed();
  return h();
}

/** `name(key='v')`, `name('v')` or `name` → parts; undefined when the segment is malformed. */
function parseSegment(seg: string): { name: string; keyName?: string; keyValue?: string } | undefined {
  const m = /^([A-Za-z.]+)(?:\((?:([A-Za-z]+)=)?'((?:[^']|'')*)'\))?$/.exec(seg);
  if (!m) return undefined;
  return { name: m[1].toLowerCase(), keyName: m[2], keyValue: m[3]?.replace(/''/g, "'") };
}

const action = (seg: string | undefined) => seg?.toLowerCase().replace(/^microsoft\.graph\./, '');

export function route(env: Env): SandboxResponse {
  const raw = env.req.path.replace(/\/+$/, '');
  const parts = raw.split('/').filter((s) => s !== '');
  const version = parts.shift();
  if (version !== 'v1.0') throw new GraphError(400, 'BadRequest', `Invalid version: ${version ?? ''}`.trim());
  if (!parts.length) throw unknownSegment('');
  const head = parseSegment(parts[0]);
  if (!head) throw unknownSegment(parts[0]);

  if (head.name === 'applications') return applications(env, head, parts.slice(1));
  if (head.name === 'serviceprincipals') return servicePrincipals(env, head, parts.slice(1));
  if (head.name === 'directory' && head.keyValue === undefined) return directory(env, parts.slice(1));
  if (head.name === 'groups' && head.keyValue === undefined && parts.length >= 3) {
    const groupId = parts[1];
    const { cast } = transitiveMembersRoute(parts.slice(2));
    return dispatch(env, { GET: () => listTransitiveMembers(env, groupId, cast) });
  }
  if (head.name === 'users' && head.keyValue === undefined && parts.length === 3 && action(parts[2]) === 'sendmail')
    return dispatch(env, { POST: () => sendMail(env, parts[1]) });
  if (head.name === 'me' && head.keyValue === undefined) {
    if (env.caller.appOnly) meNotAllowed();
    throw unknownSegment('me');
  }
  throw unknownSegment(parts[0]);
}

function applications(env: Env, head: ReturnType<typeof parseSegment> & object, rest: string[]): SandboxResponse {
  let key: AppKey | undefined;
  if (head.keyValue !== undefined) {
    const kn = (head.keyName ?? 'id').toLowerCase();
    if (kn === 'appid') key = { kind: 'appId', value: head.keyValue };
    // GET/PATCH/DELETE /applications(uniqueName='…') are v1.0 endpoints (Graph PowerShell SDK
    // Get-/Update-/Remove-MgApplicationByUniqueName, generated from the v1.0 OpenAPI description).
    else if (kn === 'uniquename') key = { kind: 'uniqueName', value: head.keyValue };
    else if (kn === 'id') key = { kind: 'id', value: head.keyValue };
    else throw unknownSegment(`applications(${head.keyName}='${head.keyValue}')`);
  } else if (rest.length === 1 && rest[0] === '$count') {
    return dispatch(env, { GET: () => countApplications(env) });
  } else if (rest.length) {
    key = { kind: 'id', value: rest.shift() as string };
  }
  if (!key) return dispatch(env, { GET: () => listApplications(env), POST: () => postApplication(env) });
  const k = key;
  if (rest.length === 0)
    return dispatch(env, {
      GET: () => getApplication(env, k),
      PATCH: () => (k.kind === 'uniqueName' ? upsertApplication(env, k.value) : patchApplication(env, k)),
      DELETE: () => deleteApplication(env, k),
    });
  if (rest.length === 1) {
    const a = action(rest[0]);
    if (a === 'addpassword') return dispatch(env, { POST: () => addPassword(env, k) });
    if (a === 'removepassword') return dispatch(env, { POST: () => removePassword(env, k) });
    if (a === 'addkey') return dispatch(env, { POST: () => addKey(env, k, resolveApp) });
    if (a === 'removekey') return dispatch(env, { POST: () => removeKey(env, k, resolveApp) });
  }
  // federatedIdentityCredentials, federatedIdentityCredentials/{id}, federatedIdentityCredentials(name='…')
  const nav = parseSegment(rest[0]);
  if (nav?.name === 'federatedidentitycredentials' && rest.length <= 2) {
    let fic: FicKey | undefined;
    if (nav.keyValue !== undefined) {
      if (rest.length === 2 || (nav.keyName ?? 'id').toLowerCase() !== 'name') throw unknownSegment(rest[0]);
      fic = { kind: 'name', value: nav.keyValue };
    } else if (rest.length === 2) fic = { kind: 'id', value: rest[1] };
    if (!fic)
      return dispatch(env, { GET: () => listFics(env, k, resolveApp), POST: () => postFic(env, k, resolveApp) });
    const f = fic;
    return dispatch(env, {
      GET: () => getFic(env, k, f, resolveApp),
      PATCH: () => patchFic(env, k, f, resolveApp),
      DELETE: () => deleteFic(env, k, f, resolveApp),
    });
  }
  throw unknownSegment(rest[0]);
}

function servicePrincipals(env: Env, head: ReturnType<typeof parseSegment> & object, rest: string[]): SandboxResponse {
  let key: SpKey;
  if (head.keyValue !== undefined) {
    const kn = (head.keyName ?? 'id').toLowerCase();
    if (kn !== 'appid' && kn !== 'id') throw unknownSegment(`servicePrincipals(${head.keyName}='${head.keyValue}')`);
    key = { kind: kn === 'appid' ? 'appId' : 'id', value: head.keyValue };
  } else if (!rest.length) {
    return dispatch(env, { GET: () => listServicePrincipals(env), POST: () => postServicePrincipal(env) });
  } else if (rest.length === 1 && rest[0] === '$count') {
    return dispatch(env, { GET: () => countServicePrincipals(env) });
  } else {
    key = { kind: 'id', value: rest.shift() as string };
  }
  const k = key;
  if (!rest.length)
    return dispatch(env, {
      GET: () => getServicePrincipal(env, k),
      PATCH: () => (k.kind === 'appId' ? upsertServicePrincipal(env, k.value) : patchServicePrincipal(env, k)),
      DELETE: () => deleteServicePrincipal(env, k),
    });
  // Navigation properties (https://learn.microsoft.com/graph/api/resources/serviceprincipal, "Relationships").
  const nav = rest[0].toLowerCase();
  if (nav === 'approleassignedto' && rest.length === 1)
    return dispatch(env, { GET: () => listAppRoleAssignedTo(env, k), POST: () => postAppRoleAssignedTo(env, k) });
  if (nav === 'approleassignedto' && rest.length === 2) {
    const assignmentId = rest[1];
    return dispatch(env, {
      GET: () => getAppRoleAssignedTo(env, k, assignmentId),
      DELETE: () => deleteAppRoleAssignedTo(env, k, assignmentId),
    });
  }
  if (nav === 'approleassignments' && rest.length === 1)
    return dispatch(env, { GET: () => listAppRoleAssignments(env, k) });
  throw unknownSegment(rest.length > 2 ? rest[2] : rest[0]);
}

function directory(env: Env, rest: string[]): SandboxResponse {
  if (rest[0]?.toLowerCase() !== 'deleteditems') throw unknownSegment(rest[0] ?? 'directory');
  const [, second, third] = rest;
  if (second === undefined || rest.length > 3) throw unknownSegment(rest[3] ?? 'deletedItems');
  if (action(second) === 'application' && rest.length === 2)
    return dispatch(env, { GET: () => listDeletedApplications(env) });
  if (rest.length === 2)
    return dispatch(env, { GET: () => getDeletedItem(env, second), DELETE: () => purgeDeletedItem(env, second) });
  if (action(third) === 'restore') return dispatch(env, { POST: () => restoreDeletedItem(env, second) });
  throw unknownSegment(third);
}
