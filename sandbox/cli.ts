import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

import { startSandbox } from './index';

/** `npm run sandbox`: starts every stand-in, writes `.sandbox/env`, and stays up until SIGINT/SIGTERM. */
async function main(): Promise<void> {
  const port = (name: string, fallback: number) => Number(process.env[`SANDBOX_${name}_PORT`] ?? fallback);
  const sandbox = await startSandbox({
    ports: {
      entra: port('ENTRA', 0),
      graph: port('GRAPH', 0),
      keyvault: port('KEYVAULT', 0),
      servicenow: port('SERVICENOW', 0),
      control: port('CONTROL', 0),
    },
  });
  const envFile = resolve(process.env.SANDBOX_ENV_FILE ?? resolve(process.cwd(), '.sandbox', 'env'));
  mkdirSync(dirname(envFile), { recursive: true });
  const lines = Object.entries(sandbox.env()).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  writeFileSync(envFile, lines.join('\n') + '\n', { mode: 0o600 });
  console.log(`sandbox up; environment written to ${envFile}`);
  for (const [name, url] of Object.entries(sandbox.urls)) console.log(`  ${name.padEnd(11)} ${url}`);
  const stop = () => {
    void sandbox.close().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
