import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export interface TlsMaterial {
  key: string;
  cert: string;
  /** The CA that signed `cert`; clients trust it through NODE_EXTRA_CA_CERTS. */
  ca: string;
  caPath: string;
}

/**
 * Reads the sandbox CA and leaf written by scripts/with-sandbox-ca.cjs. The script runs before Node starts, since
 * Node reads NODE_EXTRA_CA_CERTS only at start-up.
 */
export function loadTls(dir = process.env.SANDBOX_TLS_DIR ?? resolve(process.cwd(), '.sandbox', 'tls')): TlsMaterial {
  try {
    return {
      key: readFileSync(join(dir, 'server-key.pem'), 'utf8'),
      cert: readFileSync(join(dir, 'server.pem'), 'utf8'),
      ca: readFileSync(join(dir, 'ca.pem'), 'utf8'),
      caPath: join(dir, 'ca.pem'),
    };
  } catch (err) {
    throw new Error(
      `sandbox TLS material not found in ${dir}: run through scripts/with-sandbox-ca.cjs (npm test, npm run sandbox) ` +
        `so the CA exists before Node starts (${(err as Error).message})`,
      { cause: err },
    );
  }
}
