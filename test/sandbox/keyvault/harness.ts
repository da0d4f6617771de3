import { request } from 'node:https';

import { SecretClient } from '@azure/keyvault-secrets';

import { SandboxClock } from '../../../sandbox/core/clock';
import { FaultInjector } from '../../../sandbox/core/faults';
import { Journal } from '../../../sandbox/core/journal';
import { SigningKey, type Claims } from '../../../sandbox/core/jwt';
import { newGuid } from '../../../sandbox/core/random';
import { serve, type RunningServer } from '../../../sandbox/core/server';
import { loadTls } from '../../../sandbox/core/tls';
import { createKeyVault, type KeyVaultOptions, type KeyVaultStandIn } from '../../../sandbox/keyvault';

export const AUTHORITY = 'https://login.microsoftonline.com';
export const CALLER_APP_ID = '11111111-2222-3333-4444-555555555555';

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- test convenience: assertions read parsed bodies freely
  json: () => any;
}

/** A plain HTTPS call, to see the raw status, headers and body. */
export function call(
  url: string,
  method: string,
  opts: { headers?: Record<string, string>; body?: string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) as unknown });
      });
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

type Credential = ConstructorParameters<typeof SecretClient>[1];

/** A TokenCredential minting v1 app tokens with the harness key; records what it was asked for. */
export class RecordingCredential implements Credential {
  readonly calls: { scopes: string[]; tenantId?: string }[] = [];

  constructor(
    private readonly mint: (extra?: Claims) => Promise<string>,
    private readonly overrides: Claims = {},
  ) {}

  async getToken(scopes: string | string[], options?: { tenantId?: string }) {
    this.calls.push({ scopes: [...(Array.isArray(scopes) ? scopes : [scopes])], tenantId: options?.tenantId });
    return {
      token: await this.mint(this.overrides),
      expiresOnTimestamp: Date.now() + 3600_000,
      tokenType: 'Bearer' as const,
    };
  }
}

export interface Harness {
  clock: SandboxClock;
  faults: FaultInjector;
  journal: Journal;
  vault: KeyVaultStandIn;
  tenantId: string;
  origin: () => string;
  /** A v1 Key Vault token for the harness tenant, claims overridable. */
  token: (extra?: Claims) => Promise<string>;
  credential: (extra?: Claims) => RecordingCredential;
  client: (credential: RecordingCredential, options?: ConstructorParameters<typeof SecretClient>[2]) => SecretClient;
  start: () => Promise<void>;
  stop: () => Promise<void>;
}

export function harness(opts: KeyVaultOptions = {}): Harness {
  const clock = new SandboxClock();
  const faults = new FaultInjector(1);
  const journal = new Journal();
  const key = new SigningKey();
  const tenantId = newGuid();
  let server: RunningServer | undefined;
  const origin = () => server?.origin ?? '';
  const vault = createKeyVault(
    { clock, tenantId, signingKeys: () => [key.jwk()], authorityOrigin: () => AUTHORITY, origin },
    opts,
  );
  const token = (extra: Claims = {}) => {
    const now = clock.seconds();
    return key.sign({
      aud: 'https://vault.azure.net',
      iss: `https://sts.windows.net/${tenantId}/`,
      iat: now,
      nbf: now,
      exp: now + 3600,
      appid: CALLER_APP_ID,
      appidacr: '1',
      idtyp: 'app',
      oid: newGuid(),
      tid: tenantId,
      ver: '1.0',
      ...extra,
    });
  };
  return {
    clock,
    faults,
    journal,
    vault,
    tenantId,
    origin,
    token,
    credential: (extra = {}) => new RecordingCredential(token, extra),
    client: (credential, options = {}) =>
      new SecretClient(`${origin()}/`, credential, { disableChallengeResourceVerification: true, ...options }),
    start: async () => {
      server = await serve({ standIn: vault, tls: loadTls(), clock, faults, journal });
    },
    stop: async () => {
      await server?.close();
    },
  };
}
