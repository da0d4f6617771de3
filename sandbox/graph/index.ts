// STUB: replaced by the Graph stand-in work.
import type { SandboxClock } from '../core/clock';
import type { StandIn } from '../core/types';
import type { Directory } from '../directory';

export interface GraphOptions {
  /** For this long after creation an object answers 404 Request_ResourceNotFound (400 NoBackingApplicationObject for its service principal). */
  replicationDelayMs?: number;
  /** Longest password lifetime the tenant's app management policy allows, in days (undefined = no policy). */
  maxPasswordLifetimeDays?: number;
}

export interface SentMail {
  at: string;
  from: string;
  message: unknown;
}

export interface GraphStandIn extends StandIn {
  readonly outbox: SentMail[];
}

export interface GraphDeps {
  clock: SandboxClock;
  directory: Directory;
  origin: () => string;
}

export function createGraph(_deps: GraphDeps, _opts: GraphOptions = {}): GraphStandIn {
  return { service: 'graph', outbox: [], handle: async () => ({ status: 501 }), reset: () => undefined };
}
