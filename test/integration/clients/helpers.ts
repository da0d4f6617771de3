import { type AppConfig, loadConfig } from '../../../src/config';
import { type Sandbox, startSandbox } from '../../../sandbox';

/** Settings the sandbox env does not carry: the public base URL of our HTTP functions. */
// The registry's storage is not used by the client tests: the development-storage shorthand satisfies the setting.
export const EXTRA_SETTINGS = {
  PUBLIC_BASE_URL: 'https://127.0.0.1:7071/api',
  AzureWebJobsStorage: 'UseDevelopmentStorage=true',
};

/** The product config the way the app builds it: from the sandbox's env plus the few extra settings. */
export function sandboxConfig(sandbox: Sandbox, extra: Record<string, string> = {}): AppConfig {
  return loadConfig({ ...sandbox.env(), ...EXTRA_SETTINGS, ...extra });
}

export async function startClientSandbox(): Promise<Sandbox> {
  return startSandbox();
}
