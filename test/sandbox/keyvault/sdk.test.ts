import type { RestError } from '@azure/core-rest-pipeline';

import { API_VERSIONS } from '../../../sandbox/keyvault';
import { AUTHORITY, CALLER_APP_ID, call, harness } from './harness';

const rejection = async (p: Promise<unknown>): Promise<RestError> => {
  try {
    await p;
  } catch (err) {
    return err as RestError;
  }
  throw new Error('expected a rejection');
};

describe('Key Vault stand-in with the real SecretClient', () => {
  const h = harness();
  beforeAll(() => h.start());
  afterAll(() => h.stop());
  beforeEach(() => {
    h.vault.reset();
    h.faults.clear();
    h.journal.clear();
    h.clock.reset();
  });

  it('passes the challenge: tenant and scope come from the 401, the first request carries no body', async () => {
    const cred = h.credential();
    const client = h.client(cred);
    const secret = await client.setSecret('sn-outbound-client-secret', 'canary-s3cret', {
      tags: { keyId: 'k1' },
      contentType: 'text/plain',
    });
    expect(secret.value).toBe('canary-s3cret');
    expect(cred.calls).toEqual([{ scopes: ['https://vault.azure.net/.default'], tenantId: h.tenantId }]);
    const [challenge, retried] = h.journal.raw({ service: 'keyvault' });
    expect(challenge).toMatchObject({ method: 'PUT', status: 401 });
    expect(challenge.rawRequestBody).toBe('');
    expect(JSON.parse(challenge.rawResponseBody)).toEqual({
      error: { code: 'Unauthorized', message: 'AKV10000: Request is missing a Bearer or PoP token.' },
    });
    expect(retried).toMatchObject({ method: 'PUT', status: 200, authSubject: `app:${CALLER_APP_ID}` });
    // The journal keeps tags but not the value.
    expect(retried.body).toEqual({
      value: '[redacted]',
      tags: { keyId: 'k1' },
      contentType: 'text/plain',
      attributes: {},
    });
    expect(JSON.stringify(h.journal.entries())).not.toContain('canary-s3cret');
  });

  it('answers a token-less call with the WWW-Authenticate challenge naming the authority and tenant', async () => {
    const r = await call(`${h.origin()}/secrets/x?api-version=7.5`, 'GET');
    expect(r.status).toBe(401);
    expect(r.headers['www-authenticate']).toBe(
      `Bearer authorization="${AUTHORITY}/${h.tenantId}", resource="https://vault.azure.net"`,
    );
  });

  it('sets versions, gets latest and by version, lists versions without values, updates and disables', async () => {
    const client = h.client(h.credential());
    const v1 = await client.setSecret('Rotating-Secret', 'one');
    const v2 = await client.setSecret('rotating-secret', 'two', { expiresOn: new Date('2030-01-01T00:00:00Z') });
    expect(v1.properties.version).toMatch(/^[0-9a-f]{32}$/);
    expect(v2.properties.version).not.toBe(v1.properties.version);
    expect(v2.properties.id).toBe(`${h.origin()}/secrets/Rotating-Secret/${v2.properties.version}`);
    expect(v2.properties.expiresOn?.toISOString()).toBe('2030-01-01T00:00:00.000Z');
    expect(v2.properties.recoveryLevel).toBe('Recoverable+Purgeable');
    expect(v2.properties.recoverableDays).toBe(90);

    expect((await client.getSecret('ROTATING-SECRET')).value).toBe('two');
    expect((await client.getSecret('rotating-secret', { version: v1.properties.version })).value).toBe('one');

    const versions = [];
    for await (const p of client.listPropertiesOfSecretVersions('rotating-secret')) versions.push(p);
    expect(versions.map((p) => p.version)).toEqual([v1.properties.version, v2.properties.version]);
    expect(versions.every((p) => !('value' in p))).toBe(true);

    const updated = await client.updateSecretProperties('rotating-secret', v2.properties.version!, {
      enabled: false,
      tags: { state: 'retired' },
    });
    expect(updated.enabled).toBe(false);
    expect(updated.tags).toEqual({ state: 'retired' });

    const refused = await rejection(client.getSecret('rotating-secret'));
    expect(refused.statusCode).toBe(403);
    expect(refused.code).toBe('Forbidden');
    expect(refused.message).toBe('Operation get is not allowed on a disabled secret.');
    // The older, still enabled version stays readable.
    expect((await client.getSecret('rotating-secret', { version: v1.properties.version })).value).toBe('one');
  });

  it('serves expired and not-yet-valid secrets (only disabled ones are refused)', async () => {
    const client = h.client(h.credential());
    await client.setSecret('expired', 'old', { expiresOn: new Date(Date.now() - 86400_000) });
    await client.setSecret('future', 'later', { notBefore: new Date(Date.now() + 86400_000) });
    expect((await client.getSecret('expired')).value).toBe('old');
    expect((await client.getSecret('future')).value).toBe('later');
  });

  it('lists secrets with tags and no values, following nextLink across pages', async () => {
    for (let i = 0; i < 27; i += 1) h.vault.seedSecret(`bulk-${String(i).padStart(2, '0')}`, `v${i}`, { n: String(i) });
    const client = h.client(h.credential());
    const all = [];
    for await (const p of client.listPropertiesOfSecrets()) all.push(p);
    expect(all).toHaveLength(27);
    expect(all[3]).toMatchObject({ name: 'bulk-03', tags: { n: '3' }, enabled: true });
    expect(all.every((p) => !('value' in p) && p.version === undefined)).toBe(true);

    const pages = [];
    for await (const pageItems of client.listPropertiesOfSecrets().byPage({ maxPageSize: 10 }))
      pages.push(pageItems.length);
    expect(pages).toEqual([10, 10, 7]);
    const nextLinks = h.journal.entries().filter((e) => e.query.$skiptoken !== undefined);
    expect(nextLinks.length).toBeGreaterThan(0);
  });

  it('soft-deletes with the delete poller, refuses re-creation with 409, recovers and purges', async () => {
    const client = h.client(h.credential());
    await client.setSecret('app-secret', 'v1', { tags: { purpose: 'test' } });
    const deleted = await (await client.beginDeleteSecret('app-secret', { intervalInMs: 10 })).pollUntilDone();
    expect(deleted.properties.recoveryId).toBe(`${h.origin()}/deletedsecrets/app-secret`);
    expect(deleted.properties.deletedOn).toBeInstanceOf(Date);
    expect(deleted.properties.scheduledPurgeDate!.getTime() - deleted.properties.deletedOn!.getTime()).toBe(
      90 * 86400_000,
    );

    const conflict = await rejection(client.setSecret('app-secret', 'v2'));
    expect(conflict.statusCode).toBe(409);
    expect(conflict.code).toBe('Conflict');
    expect(conflict.message).toBe(
      'Secret app-secret is currently in a deleted but recoverable state, and its name cannot be reused; in this ' +
        'state, the secret can only be recovered or purged.',
    );
    expect(JSON.parse(h.journal.raw().at(-1)!.rawResponseBody).error.innererror).toEqual({
      code: 'ObjectIsDeletedButRecoverable',
    });
    expect((await rejection(client.getSecret('app-secret'))).statusCode).toBe(404);

    const listed = [];
    for await (const d of client.listDeletedSecrets()) listed.push(d.name);
    expect(listed).toEqual(['app-secret']);

    const recovered = await (
      await client.beginRecoverDeletedSecret('app-secret', { intervalInMs: 10 })
    ).pollUntilDone();
    expect(recovered.name).toBe('app-secret');
    expect((await client.getSecret('app-secret')).value).toBe('v1');

    await (await client.beginDeleteSecret('app-secret', { intervalInMs: 10 })).pollUntilDone();
    await client.purgeDeletedSecret('app-secret');
    expect((await rejection(client.getDeletedSecret('app-secret'))).statusCode).toBe(404);
    expect((await client.setSecret('app-secret', 'fresh')).value).toBe('fresh');
  });

  it('purges soft-deleted secrets by itself once the retention has passed on the sandbox clock', async () => {
    const client = h.client(h.credential());
    await client.setSecret('short-lived', 'x');
    await (await client.beginDeleteSecret('short-lived', { intervalInMs: 10 })).pollUntilDone();
    h.clock.advance(91 * 86400_000);
    // A new client: the old one's cached token expired on the advanced sandbox clock.
    const later = h.client(h.credential());
    expect((await rejection(later.getDeletedSecret('short-lived'))).statusCode).toBe(404);
    expect((await later.setSecret('short-lived', 'reused')).value).toBe('reused');
  });

  it('answers a missing secret with 404 SecretNotFound and the real message', async () => {
    const err = await rejection(h.client(h.credential()).getSecret('nope'));
    expect(err.statusCode).toBe(404);
    expect(err.code).toBe('SecretNotFound');
    expect(err.message).toMatch(/^A secret with \(name\/id\) nope was not found in this key vault\. If you recently/);
  });

  it('refuses a token for another audience with 401 AKV10022 after the SDK retried once', async () => {
    const cred = h.credential({ aud: 'https://graph.microsoft.com' });
    const err = await rejection(h.client(cred).getSecret('anything'));
    expect(err.statusCode).toBe(401);
    expect(err.message).toBe(
      'AKV10022: Invalid audience. Expected https://vault.azure.net or cfa8b339-82a2-471a-a3c9-0fc0be7a4093, ' +
        'found: https://graph.microsoft.com.',
    );
    expect(cred.calls.length).toBeGreaterThanOrEqual(1);
  });

  it('accepts the appId and trailing-slash audiences, refuses other tenants, expired and foreign-key tokens', async () => {
    const get = (token: string) =>
      call(`${h.origin()}/secrets?api-version=7.5`, 'GET', { headers: { Authorization: `Bearer ${token}` } });
    expect((await get(await h.token({ aud: 'cfa8b339-82a2-471a-a3c9-0fc0be7a4093' }))).status).toBe(200);
    expect((await get(await h.token({ aud: 'https://vault.azure.net/' }))).status).toBe(200);

    const other = '99999999-9999-9999-9999-999999999999';
    const foreign = await get(await h.token({ tid: other, iss: `https://sts.windows.net/${other}/` }));
    expect(foreign.status).toBe(401);
    expect(foreign.json().error.message).toMatch(/^AKV10032: Invalid issuer\./);
    expect(foreign.headers['www-authenticate']).toContain(`/${h.tenantId}"`);

    const token = await h.token();
    h.clock.advance(2 * 3600_000);
    const expired = await get(token);
    expect(expired.status).toBe(401);
    expect(expired.json().error).toEqual({ code: 'Unauthorized', message: 'Token expired.' });

    const forged = `${token.split('.').slice(0, 2).join('.')}.${Buffer.from('x').toString('base64url')}`;
    expect((await get(forged)).status).toBe(401);
    expect((await get('not-a-jwt')).status).toBe(401);
  });

  it('requires a known api-version and accepts every supported one', async () => {
    const auth = { Authorization: `Bearer ${await h.token()}` };
    const missing = await call(`${h.origin()}/secrets`, 'GET', { headers: auth });
    expect(missing.status).toBe(400);
    expect(missing.json().error.code).toBe('BadParameter');
    const old = await call(`${h.origin()}/secrets?api-version=2016-10-01`, 'GET', { headers: auth });
    expect(old.status).toBe(400);
    expect(old.json().error).toEqual({
      code: 'BadParameter',
      message:
        'The specified version (2016-10-01) is not recognized. Consider using the latest supported version (2026-04-01).',
    });
    for (const v of API_VERSIONS)
      expect((await call(`${h.origin()}/secrets?api%2Dversion=${v}`, 'GET', { headers: auth })).status).toBe(200);
    const viaSdk = h.client(h.credential(), { serviceVersion: '7.0' });
    expect((await viaSdk.setSecret('old-sdk', 'v')).value).toBe('v');
  });

  it('retries an injected 429 transparently, honouring Retry-After', async () => {
    const client = h.client(h.credential());
    await client.setSecret('throttled', 'v');
    h.faults.add({
      service: 'keyvault',
      method: 'GET',
      path: '^/secrets/throttled',
      action: { type: 'status', status: 429, headers: { 'Retry-After': '1' } },
      times: 1,
    });
    const mark = h.journal.mark();
    expect((await client.getSecret('throttled')).value).toBe('v');
    const calls = h.journal.raw({ since: mark });
    expect(calls.map((c) => c.status)).toEqual([429, 200]);
    expect(JSON.parse(calls[0].rawResponseBody).error.code).toBe('Throttled');
  });

  it('carries x-ms-request-id, x-ms-keyvault-service-version and Cache-Control: no-cache on every answer', async () => {
    const seen: { status: number; headers: Record<string, string | undefined> }[] = [];
    const onResponse = (r: { status: number; headers: { get(name: string): string | undefined } }) =>
      seen.push({
        status: r.status,
        headers: Object.fromEntries(
          ['x-ms-request-id', 'x-ms-client-request-id', 'x-ms-keyvault-service-version', 'cache-control'].map((n) => [
            n,
            r.headers.get(n),
          ]),
        ),
      });
    const client = h.client(h.credential());
    await client.setSecret('headers-secret', 'v', { onResponse });
    await client.getSecret('headers-secret', { onResponse });
    const missing = await rejection(client.getSecret('no-such-secret'));
    expect(missing.statusCode).toBe(404);
    expect(missing.response?.headers.get('x-ms-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(missing.response?.headers.get('x-ms-keyvault-service-version')).toMatch(/^\d+(\.\d+)+$/);
    expect(missing.response?.headers.get('cache-control')).toBe('no-cache');
    expect(seen.map((r) => r.status)).toEqual([200, 200]);
    for (const r of seen) {
      expect(r.headers['x-ms-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      expect(r.headers['x-ms-keyvault-service-version']).toMatch(/^\d+(\.\d+)+$/);
      expect(r.headers['cache-control']).toBe('no-cache');
      // The SDK sends its own x-ms-client-request-id; the vault echoes it.
      expect(r.headers['x-ms-client-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    }
    expect(seen[0].headers['x-ms-request-id']).not.toBe(seen[1].headers['x-ms-request-id']);

    // The challenge and an injected fault carry them too.
    const challenge = await call(`${h.origin()}/secrets/x?api-version=7.5`, 'GET', {
      headers: { 'x-ms-client-request-id': 'caller-chosen-id' },
    });
    expect(challenge.status).toBe(401);
    expect(challenge.headers).toMatchObject({
      'cache-control': 'no-cache',
      pragma: 'no-cache',
      expires: '-1',
      'x-ms-client-request-id': 'caller-chosen-id',
      'x-ms-keyvault-region': expect.any(String),
      'x-ms-keyvault-network-info': expect.stringMatching(/^conn_type=Ipv4;addr=[0-9.]+;act_addr_fam=InterNetwork;$/),
    });
    expect(challenge.headers['x-ms-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    h.faults.add({ service: 'keyvault', action: { type: 'status', status: 503 }, times: 1 });
    const fault = await call(`${h.origin()}/secrets?api-version=7.5`, 'GET', {
      headers: { Authorization: `Bearer ${await h.token()}` },
    });
    expect(fault.status).toBe(503);
    expect(fault.headers['x-ms-keyvault-service-version']).toMatch(/^\d+(\.\d+)+$/);
    expect(fault.headers['x-ms-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers malformed input with BadParameter, never a 500', async () => {
    const auth = { Authorization: `Bearer ${await h.token()}`, 'Content-Type': 'application/json' };
    const put = (path: string, body: string) =>
      call(`${h.origin()}${path}?api-version=7.5`, 'PUT', { headers: auth, body });
    const cases = [
      await put('/secrets/ok-name', '{not json'),
      await put('/secrets/ok-name', '{}'),
      await put('/secrets/ok-name', '{"value":5}'),
      await put('/secrets/ok-name', '{"value":"v","tags":{"a":1}}'),
      await put('/secrets/ok-name', '{"value":"v","attributes":{"exp":"tomorrow"}}'),
      await put('/secrets/bad_name', '{"value":"v"}'),
      await put('/secrets/1starts-with-digit', '{"value":"v"}'),
      await put(`/secrets/${'a'.repeat(128)}`, '{"value":"v"}'),
    ];
    expect(cases.map((c) => [c.status, (c.json() as { error: { code: string } }).error.code])).toEqual(
      Array(cases.length).fill([400, 'BadParameter']),
    );
    expect(cases[5].json().error.message).toBe('The request URI contains an invalid name: bad_name');
    // An empty string is a valid value.
    expect((await put('/secrets/empty-value', '{"value":""}')).status).toBe(200);
    const unknown = await call(`${h.origin()}/keys?api-version=7.5`, 'GET', { headers: auth });
    expect(unknown.status).toBe(404);
    expect(h.journal.entries().some((e) => e.status >= 500)).toBe(false);
  });

  it('seeds proper versions and empties the vault on reset', async () => {
    h.vault.seedSecret('servicenow-dev-password', 'pw-1', { purpose: 'servicenow-admin' });
    h.vault.seedSecret('servicenow-dev-password', 'pw-2');
    const client = h.client(h.credential());
    const s = await client.getSecret('servicenow-dev-password');
    expect(s.value).toBe('pw-2');
    expect(s.properties.version).toMatch(/^[0-9a-f]{32}$/);
    h.vault.reset();
    expect((await rejection(client.getSecret('servicenow-dev-password'))).statusCode).toBe(404);
  });
});
