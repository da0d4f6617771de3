/**
 * Test environment for activities: the sandbox stand-ins and Azurite, and the product's real dependencies
 * (createDeps) built from the sandbox's settings, exactly as production builds them from app settings.
 */
import { startAzurite, type RunningAzurite } from '../../sandbox/azurite';
import { startSandbox, type Sandbox, type SandboxOptions } from '../../sandbox';
import { createDeps, type Deps } from '../../src/app/deps';
import type { IntegrationRef } from '../../src/contracts/provision';
import { loadConfig } from '../../src/config';

export interface ActivityEnv {
  sandbox: Sandbox;
  azurite: RunningAzurite;
  deps: Deps;
  settings: Record<string, string>;
  /** A fresh integration reference on the sandbox tenant and instance. */
  ref(overrides?: Partial<IntegrationRef>): IntegrationRef;
  close(): Promise<void>;
}

let counter = 0;

export async function startActivityEnv(opts: SandboxOptions = {}): Promise<ActivityEnv> {
  const sandbox = await startSandbox(opts);
  const azurite = await startAzurite();
  const settings = {
    ...sandbox.env(),
    AzureWebJobsStorage: azurite.connectionString,
    PUBLIC_BASE_URL: 'http://127.0.0.1:7071',
  };
  const deps = createDeps(loadConfig(settings), () => sandbox.clock.date());
  return {
    sandbox,
    azurite,
    deps,
    settings,
    ref: (overrides = {}) => {
      const n = ++counter;
      return {
        integrationId: `sn-${sandbox.env().SANDBOX_SERVICENOW_INSTANCE}-test${n}`,
        instanceId: `provision-test${n}`,
        profileId: 'm365-support-aad',
        tenant: sandbox.directory.tenantDomain,
        tenantName: 'Contoso',
        serviceNowInstance: sandbox.env().SANDBOX_SERVICENOW_INSTANCE,
        ...overrides,
      };
    },
    close: async () => {
      await Promise.all([sandbox.close(), azurite.close()]);
    },
  };
}
