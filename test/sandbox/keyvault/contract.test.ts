import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { call, harness } from './harness';
import { keyPaths, validate, type Schema, type SwaggerDoc } from './schema';

const CONTRACTS = '/work/shared/contracts/keyvault';

interface Operation {
  method: string;
  path: string;
  operationId: string;
  responses: Record<string, { schema?: Schema }>;
}
interface Example {
  parameters: Record<string, unknown> & { parameters?: unknown };
  responses: Record<string, { body?: unknown }>;
}
type Spec = SwaggerDoc & {
  paths: Record<
    string,
    Record<
      string,
      { operationId: string; 'x-ms-examples'?: Record<string, { $ref: string }>; responses: Operation['responses'] }
    >
  >;
};

const spec = JSON.parse(readFileSync(join(CONTRACTS, 'secrets-7.5.json'), 'utf8')) as Spec;

/** The operation each example file documents, from the spec's own `x-ms-examples` references. */
function operationsByExample(): Map<string, Operation> {
  const out = new Map<string, Operation>();
  for (const [path, ops] of Object.entries(spec.paths))
    for (const [method, o] of Object.entries(ops))
      for (const ex of Object.values(o['x-ms-examples'] ?? {}))
        out.set(ex.$ref.replace('./examples/', ''), {
          method: method.toUpperCase(),
          path,
          operationId: o.operationId,
          responses: o.responses,
        });
  return out;
}

/**
 * Keys our responses may add to the documented ones: `recoverableDays` came with 7.1 and the list examples were
 * recorded before `recoveryLevel` appeared on list items; both are declared in `SecretAttributes`.
 */
const ALLOWED_EXTRAS = [/(^|\.)attributes\.recoverableDays$/, /^value\[\]\.attributes\.recoveryLevel$/];

describe('Key Vault stand-in against the published contract (secrets 7.5)', () => {
  const h = harness();
  beforeAll(() => h.start());
  afterAll(() => h.stop());
  beforeEach(() => h.vault.reset());

  const ops = operationsByExample();
  const files = readdirSync(join(CONTRACTS, 'examples')).filter((f) => f.endsWith('.json'));

  it('knows the operation of every example file', () => {
    expect(files.length).toBeGreaterThanOrEqual(9);
    expect(files.filter((f) => !ops.has(f))).toEqual([]);
  });

  /** Puts the vault in the state the example presumes; returns the version to use for `{secret-version}`. */
  async function arrange(operationId: string, name: string): Promise<string | undefined> {
    const auth = { Authorization: `Bearer ${await h.token()}`, 'Content-Type': 'application/json' };
    const set = async (n: string, payload: unknown): Promise<{ id: string }> =>
      (
        await call(`${h.origin()}/secrets/${n}?api-version=7.5`, 'PUT', {
          headers: auth,
          body: JSON.stringify(payload),
        })
      ).json() as { id: string };
    const del = (n: string) => call(`${h.origin()}/secrets/${n}?api-version=7.5`, 'DELETE', { headers: auth });
    switch (operationId) {
      case 'SetSecret':
        return undefined;
      case 'GetSecrets':
        await set('listsecrettest0', { value: 'a', contentType: 'plainText' });
        await set('listsecrettest1', { value: 'b', contentType: 'plainText' });
        return undefined;
      case 'GetSecretVersions':
        await set(name, { value: 'one' });
        await set(name, { value: 'two' });
        return undefined;
      case 'GetSecret':
      case 'UpdateSecret':
        return (await set(name, { value: 'mysecretvalue' })).id.split('/').pop();
      default:
        // DeleteSecret needs a live secret; GetDeleted/Recover/Purge a deleted one.
        await set(name, { value: 'mysecretvalue' });
        if (operationId !== 'DeleteSecret') await del(name);
        return undefined;
    }
  }

  for (const file of files) {
    it(`replays ${file}: same status, documented keys, valid against the spec`, async () => {
      const op = ops.get(file)!;
      const example = JSON.parse(readFileSync(join(CONTRACTS, 'examples', file), 'utf8')) as Example;
      const p = example.parameters;
      const name = typeof p['secret-name'] === 'string' ? p['secret-name'] : undefined;
      const version = await arrange(op.operationId, name ?? '');
      const path = op.path.replace('{secret-name}', name ?? '').replace('{secret-version}', version ?? '');
      const query = new URLSearchParams({ 'api-version': String(p['api-version']) });
      if (typeof p.maxresults === 'number') query.set('maxresults', String(p.maxresults));
      const r = await call(`${h.origin()}${path}?${query.toString()}`, op.method, {
        headers: { Authorization: `Bearer ${await h.token()}`, 'Content-Type': 'application/json' },
        ...(p.parameters !== undefined ? { body: JSON.stringify(p.parameters) } : {}),
      });

      const [status, documented] = Object.entries(example.responses)[0];
      expect(r.status).toBe(Number(status));
      if (documented.body === undefined) {
        expect(r.body).toBe('');
        return;
      }
      const ours = r.json();
      const want = keyPaths(documented.body);
      const got = keyPaths(ours);
      expect([...want].filter((k) => !got.has(k))).toEqual([]);
      expect([...got].filter((k) => !want.has(k) && !ALLOWED_EXTRAS.some((re) => re.test(k)))).toEqual([]);
      expect(validate(spec, op.responses[status].schema!, ours)).toEqual([]);
      // Ids and links point at our origin, with the example's names.
      for (const k of ['id', 'recoveryId', 'nextLink'] as const)
        if (typeof ours[k] === 'string') expect(ours[k].startsWith(`${h.origin()}/`)).toBe(true);
    });
  }

  it('shapes errors as both ErrorResponse and KeyVaultError', async () => {
    const notFound = await call(`${h.origin()}/secrets/missing?api-version=7.5`, 'GET', {
      headers: { Authorization: `Bearer ${await h.token()}` },
    });
    const unauthenticated = await call(`${h.origin()}/secrets/missing?api-version=7.5`, 'GET');
    h.vault.seedSecret('gone', 'x');
    await call(`${h.origin()}/secrets/gone?api-version=7.5`, 'DELETE', {
      headers: { Authorization: `Bearer ${await h.token()}` },
    });
    const conflict = await call(`${h.origin()}/secrets/gone?api-version=7.5`, 'PUT', {
      headers: { Authorization: `Bearer ${await h.token()}` },
      body: '{"value":"y"}',
    });
    expect([notFound.status, unauthenticated.status, conflict.status]).toEqual([404, 401, 409]);
    for (const r of [notFound, unauthenticated, conflict]) {
      expect(validate(spec, { $ref: '#/definitions/Azure.Core.Foundations.ErrorResponse' }, r.json())).toEqual([]);
      expect(validate(spec, { $ref: '#/definitions/KeyVaultError' }, r.json())).toEqual([]);
    }
  });

  it('validates list pages of deleted secrets against DeletedSecretListResult', async () => {
    for (const n of ['d-one', 'd-two', 'd-three']) {
      h.vault.seedSecret(n, 'x', { t: n });
      await call(`${h.origin()}/secrets/${n}?api-version=7.5`, 'DELETE', {
        headers: { Authorization: `Bearer ${await h.token()}` },
      });
    }
    const first = await call(`${h.origin()}/deletedsecrets?api-version=7.5&maxresults=2`, 'GET', {
      headers: { Authorization: `Bearer ${await h.token()}` },
    });
    const page = first.json();
    expect(page.value).toHaveLength(2);
    expect(validate(spec, { $ref: '#/definitions/DeletedSecretListResult' }, page)).toEqual([]);
    const second = (
      await call(page.nextLink, 'GET', { headers: { Authorization: `Bearer ${await h.token()}` } })
    ).json();
    expect(second.value.map((d: { recoveryId: string }) => d.recoveryId.split('/').pop())).toEqual(['d-two']);
    expect(second.nextLink).toBeNull();
  });

  it('the schema walker itself reports wrong types, missing required keys and undeclared properties', () => {
    const problems = validate(
      spec,
      { $ref: '#/definitions/Azure.Core.Foundations.ErrorResponse' },
      {
        error: { code: 1 },
        extra: true,
      },
    );
    expect(problems).toEqual([
      '$.error: missing required message',
      '$.error.code: expected string',
      '$: undeclared property extra',
    ]);
  });
});
