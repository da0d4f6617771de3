// STUB: replaced by the Key Vault stand-in work.
import type { SandboxClock } from '../core/clock';
import type { Jwk } from '../core/jwt';
import type { StandIn } from '../core/types';

export interface KeyVaultOptions {
  recoverableDays?: number;
}

export interface KeyVaultDeps {
  clock: SandboxClock;
  tenantId: string;
  /** Entra's current signing keys, to verify bearer tokens. */
  signingKeys: () => Jwk[];
  /** Entra stand-in origin, named in the 401 challenge's `authorization` parameter. */
  authorityOrigin: () => string;
  origin: () => string;
}

export interface KeyVaultStandIn extends StandIn {
  /** Test/demo seeding, bypassing auth (e.g. the ServiceNow admin credentials a deployer stores). */
  seedSecret(name: string, value: string, tags?: Record<string, string>): void;
}

export function createKeyVault(_deps: KeyVaultDeps, _opts: KeyVaultOptions = {}): KeyVaultStandIn {
  return {
    service: 'keyvault',
    handle: async () => ({ status: 501 }),
    reset: () => undefined,
    seedSecret: () => undefined,
  };
}
