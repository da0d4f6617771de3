import type { AppConfig } from '../../../src/config';
import { requestTokenV1, requestTokenV2, fetchOpenIdMetadata } from '../../../src/clients/entra';
import { entraEndpoints } from '../../../src/config';
import type { Sandbox } from '../../../sandbox';
import { sandboxConfig, startClientSandbox } from './helpers';

describe('Entra token client against the sandbox', () => {
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

  const base = () => ({
    authorityHost: config.entra.authorityHost,
    tenant: config.tenantId,
    clientId: config.identity.clientId ?? '',
    clientSecret: config.identity.clientSecret ?? '',
  });

  it('returns AADSTS7000215 for a wrong secret (v2), without the secret', async () => {
    const r = await requestTokenV2({ ...base(), clientSecret: 'not-the-Secret-123', scope: config.graph.scope });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error).toBe('invalid_client');
    expect(r.errorCodes[0]).toBe(7000215);
    expect([400, 401]).toContain(r.status);
    expect(r.description).toMatch(/^AADSTS7000215/);
    expect(r.description).not.toMatch(/Trace ID/);
    expect(JSON.stringify(r)).not.toContain('not-the-Secret-123');
  });

  it('gets tokens from v1 (resource) and v2 (scope) with the right secret', async () => {
    const v2 = await requestTokenV2({ ...base(), scope: config.graph.scope });
    expect(v2).toMatchObject({ ok: true });
    const v1 = await requestTokenV1({ ...base(), resource: config.graph.baseUrl });
    expect(v1).toMatchObject({ ok: true });
    if (v1.ok) expect(v1.expiresOn).toBeGreaterThan(Date.now());
  });

  it('fetches the v2 OpenID metadata built from the authority host', async () => {
    const doc = await fetchOpenIdMetadata(entraEndpoints(config.entra.authorityHost, config.tenantId).metadataV2);
    expect(doc.issuer).toContain(config.tenantId);
  });
});
