// STUB: replaced by the Entra stand-in work.
import type { SandboxClock } from '../core/clock';
import type { StandIn } from '../core/types';
import type { Directory } from '../directory';

export interface EntraOptions {
  /** How long a newly added password is refused (AADSTS7000215), as in Entra. */
  secretPropagationDelayMs?: number;
}

export interface EntraDeps {
  clock: SandboxClock;
  directory: Directory;
  /** This stand-in's own origin, for discovery documents. Known once the server listens. */
  origin: () => string;
  /** Graph stand-in origin, accepted as a resource identifier for Microsoft Graph. */
  graphOrigin: () => string;
}

export function createEntra(_deps: EntraDeps, _opts: EntraOptions = {}): StandIn {
  return { service: 'entra', handle: async () => ({ status: 501 }), reset: () => undefined };
}
