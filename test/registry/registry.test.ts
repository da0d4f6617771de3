import { startAzurite, type RunningAzurite } from '../../sandbox/azurite';
import { createTableClient } from '../../src/clients/tables';
import { IntegrationRegistry, RegistryConcurrencyError, RegistryConflictError } from '../../src/registry/registry';
import type { IntegrationRecord } from '../../src/registry/types';

const record = (id: string, over: Partial<IntegrationRecord> = {}): IntegrationRecord => ({
  id,
  profile: 'm365-support-aad',
  tenant: 'contoso.onmicrosoft.com',
  tenantName: 'Contoso',
  serviceNowInstance: 'dev1',
  status: 'provisioning',
  instanceId: `provision-${id}`,
  ticket: { table: 'incident', number: 'INC0010001' },
  apps: {
    outbound: {
      appId: 'a1',
      objectId: 'o1',
      secretName: `${id}-outbound`,
      keyId: 'k1',
      expiresOn: '2027-05-01T00:00:00.000Z',
    },
  },
  serviceNow: { outboundProvider: '0123456789abcdef0123456789abcdef' },
  checks: [],
  createdAt: '2026-11-26T00:00:00.000Z',
  updatedAt: '2026-11-26T00:00:00.000Z',
  ...over,
});

describe('IntegrationRegistry on Azurite', () => {
  let azurite: RunningAzurite;
  let registry: IntegrationRegistry;

  beforeAll(async () => {
    azurite = await startAzurite();
    registry = new IntegrationRegistry(
      createTableClient({ connectionString: azurite.connectionString, table: 'integrations' }),
    );
  }, 60000);
  afterAll(() => azurite.close());

  it('round-trips a record with its nested state', async () => {
    await registry.create(record('int-a'));
    const got = await registry.get('int-a');
    expect(got?.value).toEqual(record('int-a'));
    expect(got?.etag).toMatch(/^W\//);
  });

  it('refuses to register the same id twice', async () => {
    await registry.create(record('int-b'));
    await expect(registry.create(record('int-b'))).rejects.toBeInstanceOf(RegistryConflictError);
  });

  it('refuses a replace based on a stale ETag', async () => {
    await registry.create(record('int-c'));
    const read = (await registry.get('int-c'))!;
    await registry.replace({ ...read.value, status: 'active' }, read.etag);
    await expect(registry.replace({ ...read.value, status: 'failed' }, read.etag)).rejects.toBeInstanceOf(
      RegistryConcurrencyError,
    );
    expect((await registry.get('int-c'))?.value.status).toBe('active');
  });

  it('serialises concurrent read-modify-write updates without losing one', async () => {
    await registry.create(record('int-d'));
    await Promise.all(
      ['a', 'b', 'c', 'd'].map((name) =>
        registry.update(
          'int-d',
          (cur) => ({
            ...cur!,
            checks: [...cur!.checks, { name, ok: true, detail: '', at: '2026-11-26T00:00:00.000Z' }],
          }),
          20,
        ),
      ),
    );
    const names = (await registry.get('int-d'))!.value.checks.map((c) => c.name).sort();
    expect(names).toEqual(['a', 'b', 'c', 'd']);
  });

  it('lists every integration and answers undefined for an unknown id', async () => {
    expect((await registry.list()).map((r) => r.id)).toEqual(
      expect.arrayContaining(['int-a', 'int-b', 'int-c', 'int-d']),
    );
    expect(await registry.get('nope')).toBeUndefined();
  });
});
