import { join } from 'node:path';

import { useClock } from '../src/app/deps';
import { DEFAULTS, resetConfigCache } from '../src/config';
import { startAzurite, type RunningAzurite } from './azurite';
import { startFunctionsHost, type FunctionsHost, type FunctionsHostOptions } from './host';
import { startSandbox, type Sandbox, type SandboxOptions } from './index';
import { serve, type RunningServer } from './core/server';
import { loadTls } from './core/tls';
import { createWebhookReceivers, type WebhookStandIn } from './webhook';

/** Key Vault secrets holding the alert webhook URLs of the stand-ins (ALERT_WEBHOOK_SECRET_NAME names one). */
export const WEBHOOK_SECRETS = { teams: 'alert-webhook-teams', json: 'alert-webhook-json' } as const;

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
  /** The alert webhook receivers (a Teams Workflows trigger and a generic JSON hook) and their URLs. */
  readonly webhooks: {
    receivers: WebhookStandIn;
    urls: { teams: string; json: string };
    /** Stores the URLs in the sandbox Key Vault again (after `sandbox.reset()`, which empties the vault). */
    seed(): void;
  };
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
  const receivers = createWebhookReceivers();
  let webhookServer: RunningServer;
  try {
    webhookServer = await serve({
      standIn: receivers,
      tls: opts.tls ?? loadTls(),
      clock: sandbox.clock,
      faults: sandbox.faults,
      journal: sandbox.journal,
    });
  } catch (err) {
    await Promise.all([sandbox.close(), azurite.close()]);
    throw err;
  }
  const webhookUrls = { teams: receivers.workflow(webhookServer.origin), json: receivers.hook(webhookServer.origin) };
  const seedWebhooks = () => {
    sandbox.keyvault.seedSecret(WEBHOOK_SECRETS.teams, webhookUrls.teams, { purpose: 'alert-webhook' });
    sandbox.keyvault.seedSecret(WEBHOOK_SECRETS.json, webhookUrls.json, { purpose: 'alert-webhook' });
  };
  seedWebhooks();
  const entryModule = opts.entryModule ?? require.resolve(join(__dirname, '..', 'src', 'functions', 'index'));
  // App settings go into the environment before the host loads the entry module: trigger bindings such as
  // `%ROTATION_SCHEDULE%` are resolved from them at load time, as the Functions host does.
  const base: Record<string, string> = {
    ...sandbox.env(),
    AzureWebJobsStorage: azurite.connectionString,
    ROTATION_SCHEDULE: DEFAULTS.ROTATION_SCHEDULE,
    ALERT_SCHEDULE: DEFAULTS.ALERT_SCHEDULE,
    // Alerting is off unless a test turns it on (ALERT_CHANNELS in `settings`): the hourly sweep runs whenever a test
    // advances the clock, and other tests count the mails they expect.
    ALERT_CHANNELS: 'none',
    // The webhook stand-ins' URLs are in the sandbox Key Vault under these names (seeded below).
    ALERT_WEBHOOK_SECRET_NAME: WEBHOOK_SECRETS.teams,
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
    await Promise.all([sandbox.close(), azurite.close(), webhookServer.close()]);
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
    webhooks: { receivers, urls: webhookUrls, seed: seedWebhooks },
    env,
    close: async () => {
      await host.close();
      await Promise.all([sandbox.close(), azurite.close(), webhookServer.close()]);
      useClock(() => new Date());
      restore();
      resetConfigCache();
    },
  };
}
