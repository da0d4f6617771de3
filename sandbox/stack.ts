import { join } from 'node:path';

import { useClock } from '../src/app/deps';
import { DEFAULTS, resetConfigCache } from '../src/config';
import { startAzurite, type RunningAzurite } from './azurite';
import { startFunctionsHost, type FunctionsHost, type FunctionsHostOptions } from './host';
import { startSandbox, type Sandbox, type SandboxOptions } from './index';

export interface LocalStackOptions extends SandboxOptions {
  /** The entry module whose registrations the local host serves; default: the product's (src/functions/index). */
  entryModule?: string;
  /** 'virtual' (tests advance time) or 'real' (demo, npm run sandbox). */
  timers?: FunctionsHostOptions['timers'];
  atLeastOnce?: FunctionsHostOptions['atLeastOnce'];
  onEpisode?: FunctionsHostOptions['onEpisode'];
  functionsPort?: number;
  /** Settings to add or override (e.g. shorter approval deadlines in a test). */
  settings?: Record<string, string>;
}

/** The stand-ins, Azurite and the local Functions host, wired like an Azure deployment of the app. */
export interface LocalStack {
  readonly sandbox: Sandbox;
  readonly azurite: RunningAzurite;
  readonly host: FunctionsHost;
  /** Every setting the product reads, plus FUNCTIONS_BASE_URL and FUNCTIONS_KEY. */
  env(): Record<string, string>;
  close(): Promise<void>;
}

/**
 * Starts everything the product needs locally. The product runs in this process and reads its settings from
 * `process.env` (as in Azure), so the stack sets them there and restores the previous values on close.
 */
export async function startLocalStack(opts: LocalStackOptions = {}): Promise<LocalStack> {
  const sandbox = await startSandbox(opts);
  const azurite = await startAzurite().catch(async (err: unknown) => {
    await sandbox.close();
    throw err;
  });
  const entryModule = opts.entryModule ?? require.resolve(join(__dirname, '..', 'src', 'functions', 'index'));
  // App settings go into the environment before the host loads the entry module: trigger bindings such as
  // `%ROTATION_SCHEDULE%` are resolved from them at load time, as the Functions host does.
  const base: Record<string, string> = {
    ...sandbox.env(),
    AzureWebJobsStorage: azurite.connectionString,
    ROTATION_SCHEDULE: DEFAULTS.ROTATION_SCHEDULE,
    HEALTH_SCHEDULE: DEFAULTS.HEALTH_SCHEDULE,
    ...(opts.settings ?? {}),
  };
  const previous: Record<string, string | undefined> = {};
  const apply = (values: Record<string, string>) => {
    for (const [k, v] of Object.entries(values)) {
      if (!(k in previous)) previous[k] = process.env[k];
      process.env[k] = v;
    }
  };
  const restore = () => {
    for (const [k, v] of Object.entries(previous)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  apply(base);
  let host: FunctionsHost;
  try {
    host = await startFunctionsHost({
      entryModule,
      clock: sandbox.clock,
      timers: opts.timers ?? 'virtual',
      taskHub: sandbox.env().TASKHUB_NAME,
      ...(opts.functionsPort !== undefined ? { port: opts.functionsPort } : {}),
      ...(opts.atLeastOnce !== undefined ? { atLeastOnce: opts.atLeastOnce } : {}),
      ...(opts.onEpisode ? { onEpisode: opts.onEpisode } : {}),
    });
  } catch (err) {
    restore();
    await Promise.all([sandbox.close(), azurite.close()]);
    throw err;
  }
  const env = (): Record<string, string> => ({
    ...base,
    ...sandbox.env(),
    PUBLIC_BASE_URL: host.baseUrl,
    FUNCTIONS_BASE_URL: host.baseUrl,
    FUNCTIONS_KEY: host.functionKey,
    // The durable HTTP API wants the system key, as the real host's does (`code=`).
    FUNCTIONS_SYSTEM_KEY: host.systemKey,
    ...(opts.settings ?? {}),
  });
  apply(env());
  resetConfigCache();
  useClock(() => sandbox.clock.date());
  return {
    sandbox,
    azurite,
    host,
    env,
    close: async () => {
      await host.close();
      await Promise.all([sandbox.close(), azurite.close()]);
      useClock(() => new Date());
      restore();
      resetConfigCache();
    },
  };
}
