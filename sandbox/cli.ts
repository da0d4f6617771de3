import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

import { startLocalStack } from './stack';

/**
 * `npm run sandbox`: starts every stand-in, Azurite and the local Functions host (serving the product's functions
 * and the durable HTTP API), writes `.sandbox/env`, and stays up until SIGINT/SIGTERM.
 */
async function main(): Promise<void> {
  const port = (name: string) => Number(process.env[`SANDBOX_${name}_PORT`] ?? 0);
  const stack = await startLocalStack({
    ports: {
      entra: port('ENTRA'),
      graph: port('GRAPH'),
      keyvault: port('KEYVAULT'),
      servicenow: port('SERVICENOW'),
      control: port('CONTROL'),
    },
    functionsPort: port('FUNCTIONS'),
    timers: 'real',
  });
  const envFile = resolve(process.env.SANDBOX_ENV_FILE ?? resolve(process.cwd(), '.sandbox', 'env'));
  mkdirSync(dirname(envFile), { recursive: true });
  const lines = Object.entries(stack.env()).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  writeFileSync(envFile, lines.join('\n') + '\n', { mode: 0o600 });
  console.log(`sandbox up; environment written to ${envFile}`);
  for (const [name, url] of Object.entries({ ...stack.sandbox.urls, functions: stack.host.baseUrl }))
    console.log(`  ${name.padEnd(11)} ${url}`);
  const stop = () => {
    void stack.close().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
