import type { SecretReader } from '../../src/clients/keyvault';
import { readSecretValue, toKeyVaultError } from '../../src/clients/keyvault';
import { ExternalServiceError } from '../../src/lib/errors';

const reader = (impl: SecretReader['getSecret']): SecretReader => ({ getSecret: impl });

describe('toKeyVaultError', () => {
  it('keeps status and code of a RestError, and marks throttling retriable', () => {
    const notFound = toKeyVaultError(
      Object.assign(new Error('A secret with (name/id) x was not found in this key vault.'), {
        name: 'RestError',
        statusCode: 404,
        code: 'SecretNotFound',
        request: { headers: { authorization: 'Bearer abc.def.ghi' } },
      }),
      "get secret 'x'",
    );
    expect(notFound).toMatchObject({ service: 'keyvault', status: 404, code: 'SecretNotFound', retriable: false });
    expect(JSON.stringify(notFound)).not.toContain('Bearer abc');
    expect(toKeyVaultError({ statusCode: 429, code: 'Throttled', message: 'slow down' }, 'set')).toMatchObject({
      retriable: true,
    });
    expect(toKeyVaultError({ code: 'ECONNRESET', message: 'socket hang up' }, 'get')).toMatchObject({
      status: undefined,
      code: 'ECONNRESET',
      retriable: true,
    });
  });
});

describe('readSecretValue', () => {
  it('returns the value, and refuses an empty one', async () => {
    const ok = reader(async (name) => ({ name, value: 'v4lue-123', properties: { name, vaultUrl: 'https://kv' } }));
    expect(await readSecretValue(ok, 'a')).toBe('v4lue-123');
    const empty = reader(async (name) => ({ name, value: '', properties: { name, vaultUrl: 'https://kv' } }));
    await expect(readSecretValue(empty, 'a')).rejects.toMatchObject({ code: 'SecretEmpty' });
  });

  it('normalises SDK failures', async () => {
    const failing = reader(() =>
      Promise.reject(Object.assign(new Error('Forbidden'), { statusCode: 403, code: 'Forbidden' })),
    );
    const err = await readSecretValue(failing, 'a').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExternalServiceError);
    expect(err).toMatchObject({ status: 403, code: 'Forbidden', retriable: false });
  });
});
