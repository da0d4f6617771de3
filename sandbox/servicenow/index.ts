// STUB: replaced by the ServiceNow stand-in work.
import type { SandboxClock } from '../core/clock';
import type { StandIn } from '../core/types';

export interface ServiceNowOptions {
  /** Instance names served; the instance is the first path segment: https://127.0.0.1:{port}/{instance}/api/now/... */
  instances?: string[];
  adminUser?: string;
  adminPassword?: string;
}

export interface ServiceNowDeps {
  clock: SandboxClock;
  origin: () => string;
}

export interface ServiceNowStandIn extends StandIn {
  readonly adminUser: string;
  readonly adminPassword: string;
  readonly instances: string[];
}

export function createServiceNow(_deps: ServiceNowDeps, opts: ServiceNowOptions = {}): ServiceNowStandIn {
  return {
    service: 'servicenow',
    adminUser: opts.adminUser ?? 'admin',
    adminPassword: opts.adminPassword ?? '',
    instances: opts.instances ?? ['dev00000'],
    handle: async () => ({ status: 501 }),
    reset: () => undefined,
  };
}
