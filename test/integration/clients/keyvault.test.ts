import type { AppConfig } from '../../../src/config';
import { createCredential } from '../../../src/clients/credentials';
import { createSecretClient, readSecretValue } from '../../../src/clients/keyvault';
import { ExternalServiceError } from '../../../src/lib/errors';
import type { Sandbox } from '../../../sandbox';
import { sandboxConfig, startClientSandbox } from './helpers';

describe('Key Vault client against the sandbox', () => {
  let sandbox: Sandbox;
  let config: AppConfig;

  beforeAll(async () => {
    sandbox = await startClientSandbox();
  });
  afterAll(() => sandbox.close());
  beforeEach(() => {
    // reset() re-seeds the directory, including the Function identity's app id and secret: re-read env().
    sandbox.reset();
    config = sandboxConfig(sandbox);
  });

  const client = () =>
    createSecretClient({
      vaultUrl: config.keyVault.url,
      credential: createCredential(config),
      challengeResourceVerification: config.keyVault.challengeResourceVerification,
    });

  it('passes the 401 challenge, then round-trips a secret', async () => {
    const secrets = client();
    await secrets.setSecret('integration-canary', 'canary-Value-42', { tags: { purpose: 'test' } });
    expect(await readSecretValue(secrets, 'integration-canary')).toBe('canary-Value-42');
    const kv = sandbox.journal.entries({ service: 'keyvault' });
    // The SDK's first request goes without a token and gets the challenge; the retry carries the token.
    expect(kv[0]).toMatchObject({ method: 'PUT', status: 401 });
    expect(kv[1]).toMatchObject({ method: 'PUT', status: 200 });
    expect(kv[1].authSubject).toBeDefined();
    expect(sandbox.journal.entries({ service: 'entra' }).some((e) => e.method === 'POST' && e.status === 200)).toBe(
      true,
    );
  });

  it('reads a seeded secret and types a missing one as 404 SecretNotFound', async () => {
    sandbox.keyvault.seedSecret('seeded-one', 'seeded-Value-1');
    const secrets = client();
    expect(await readSecretValue(secrets, 'seeded-one')).toBe('seeded-Value-1');
    const err = (await readSecretValue(secrets, 'nope').catch((e: unknown) => e)) as ExternalServiceError;
    expect(err).toBeInstanceOf(ExternalServiceError);
    expect(err).toMatchObject({ service: 'keyvault', status: 404, code: 'SecretNotFound', retriable: false });
  });
});
