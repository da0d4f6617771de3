import type { SandboxClock } from '../core/clock';
import type { SandboxRequest } from '../core/types';
import type { Application, Directory } from '../directory';
import type { Caller } from './auth';
import { GraphError, type RequestIds, unreadableBody } from './errors';

export interface GraphOptions {
  /** For this long after creation an object answers 404 Request_ResourceNotFound (400 NoBackingApplicationObject for its service principal). */
  replicationDelayMs?: number;
  /** Longest password lifetime the tenant's app management policy allows, in days (undefined = no policy). */
  maxPasswordLifetimeDays?: number;
}

export interface SentMail {
  /** Sandbox-clock time the message was accepted (ISO 8601). */
  at: string;
  /** The sending mailbox (mail address of the user in the path). */
  from: string;
  message: unknown;
  saveToSentItems?: boolean;
}

/** Everything a handler needs for one request. */
export interface Env {
  req: SandboxRequest;
  ids: RequestIds;
  caller: Caller;
  directory: Directory;
  clock: SandboxClock;
  /** The Graph stand-in origin (no trailing slash). */
  origin: string;
  opts: GraphOptions;
  outbox: SentMail[];
}

export type Json = Record<string, unknown>;

/** The JSON object body, `{}` when empty; Graph's BadRequest for anything unreadable. */
export function jsonBody(env: Env, allowEmpty = false): Json {
  const text = env.req.body.toString('utf8').trim();
  if (!text) {
    if (allowEmpty) return {};
    throw unreadableBody();
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw unreadableBody();
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw unreadableBody();
  return parsed as Json;
}

/** Has the object replicated, i.e. can requests that address it see it yet (docs/reference/microsoft.md#replication-delays)? */
export const replicated = (env: Env, createdAt: number) =>
  env.clock.now() >= createdAt + (env.opts.replicationDelayMs ?? 0);

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isGuid = (s: string) => GUID.test(s);

/** Graph's answer to an object id that is not a GUID [observed: "Invalid object identifier 'x'."]. */
export const invalidObjectId = (id: string) =>
  new GraphError(400, 'Request_BadRequest', `Invalid object identifier '${id}'.`);

export type AppKey = { kind: 'id' | 'appId' | 'uniqueName'; value: string };

export function findApp(env: Env, key: AppKey): Application | undefined {
  const v = key.value.toLowerCase();
  for (const a of env.directory.applications.values()) {
    if (a.deletedAt !== null) continue;
    if (key.kind === 'id' && a.id.toLowerCase() === v) return a;
    if (key.kind === 'appId' && a.appId.toLowerCase() === v) return a;
    if (key.kind === 'uniqueName' && a.uniqueName !== null && a.uniqueName.toLowerCase() === v) return a;
  }
  return undefined;
}
