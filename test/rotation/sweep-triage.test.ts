/**
 * The sweep's triage (findDue) over many integrations: a slow or throttled Key Vault answer (the SDK waits out a 429's
 * Retry-After before it retries) holds up only its own integration, not the whole fleet behind it. Integrations are
 * assessed a bounded number at a time, and the result keeps the registry's order. No timing: the number of version
 * lists in flight is counted.
 */
import type { SecretProperties } from '@azure/keyvault-secrets';

import { m365SupportAad } from '../../src/profiles/m365-support-aad';
import type { IntegrationRecord } from '../../src/registry/types';
import {
  findDue,
  TRIAGE_CONCURRENCY,
  TRIAGE_THROTTLE_RETRIES,
  versionsOf,
  type SweepDeps,
} from '../../src/rotation/sweep';

const DAY = 24 * 3600 * 1000;
const NOW = new Date('2027-03-15T02:00:00Z');
const ROLES = m365SupportAad.apps.map((a) => a.role);

function record(i: number): IntegrationRecord {
  const apps = Object.fromEntries(
    ROLES.map((role) => [
      role,
      {
        appId: `app-${i}-${role}`,
        objectId: `obj-${i}-${role}`,
        secretName: `s-${i}-${role}`,
        keyId: `k-${i}-${role}`,
      },
    ]),
  );
  return { id: `int-${i}`, status: 'active', profile: m365SupportAad.id, apps } as unknown as IntegrationRecord;
}

it('assesses integrations a bounded number at a time, and reports them in the registry order', async () => {
  const records = Array.from({ length: 40 }, (_, i) => record(i));
  let inFlight = 0;
  let maxInFlight = 0;
  const waiting: (() => void)[] = [];
  // Each version list answers only once the test lets it: while they wait, the triage must start others.
  const release = () => {
    const next = waiting.splice(0);
    for (const r of next) r();
  };
  const secrets = {
    listPropertiesOfSecretVersions(name: string) {
      const [, i, role] = name.split('-');
      // Every fourth integration's outbound credential is due (expires inside the 30-day window).
      const due = Number(i) % 4 === 0 && role === 'outbound';
      return (async function* (): AsyncGenerator<SecretProperties> {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise<void>((resolve) => waiting.push(resolve));
        inFlight--;
        yield {
          name,
          vaultUrl: 'https://vault.example',
          version: 'v1',
          enabled: true,
          createdOn: new Date(NOW.getTime() - 10 * DAY),
          expiresOn: new Date(NOW.getTime() + (due ? 20 : 170) * DAY),
          tags: { keyId: `k-${i}-${role}`, appId: `app-${i}-${role}`, appObjectId: `obj-${i}-${role}` },
        };
      })();
    },
  };
  const deps = {
    config: { rotation: { windowDays: 30, maxAgeDays: 365 } },
    registry: { list: async () => records },
    secrets,
  } as unknown as SweepDeps;

  const pending = findDue(deps, NOW);
  let settled = false;
  void pending.then(() => (settled = true));
  while (!settled) {
    await new Promise((r) => setImmediate(r));
    release();
  }
  const result = await pending;

  expect(maxInFlight).toBeGreaterThan(1);
  expect(maxInFlight).toBeLessThanOrEqual(TRIAGE_CONCURRENCY);
  expect(result.checked).toBe(40);
  expect(result.problems).toEqual([]);
  expect(result.due.map((d) => d.integrationId)).toEqual(records.filter((_, i) => i % 4 === 0).map((r) => r.id));
  expect(result.due.every((d) => d.roles.length === 1 && d.roles[0] === 'outbound')).toBe(true);
});

it('lists again when Key Vault still throttles after the SDK gave up (429 past its retries), after the Retry-After', async () => {
  let calls = 0;
  const throttled = () =>
    Object.assign(new Error('Throttled'), {
      name: 'RestError',
      statusCode: 429,
      code: 'Throttled',
      response: { headers: { get: (h: string) => (h.toLowerCase() === 'retry-after' ? '0' : undefined) } },
    });
  const secrets = {
    listPropertiesOfSecretVersions(name: string) {
      calls++;
      const fail = calls <= 2;
      return (async function* (): AsyncGenerator<SecretProperties> {
        if (fail) throw throttled();
        yield { name, vaultUrl: 'https://vault.example', version: 'v1', enabled: true, tags: { keyId: 'k' } };
      })();
    },
  } as unknown as Pick<SweepDeps, 'secrets'>['secrets'];
  const versions = await versionsOf({ secrets }, 's-1-outbound');
  expect(versions.map((v) => v.version)).toEqual(['v1']);
  expect(calls).toBe(3);
});

it('still reports a throttled list once its retries are spent, and any other failure at once', async () => {
  let calls = 0;
  const failing = (statusCode: number) => ({
    listPropertiesOfSecretVersions() {
      calls++;
      const error = Object.assign(new Error('no'), { statusCode, response: { headers: { get: () => '0' } } });
      return { [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(error) }) };
    },
  });
  await expect(versionsOf({ secrets: failing(429) } as never, 's')).rejects.toMatchObject({ status: 429 });
  expect(calls).toBe(TRIAGE_THROTTLE_RETRIES + 1);
  calls = 0;
  await expect(versionsOf({ secrets: failing(403) } as never, 's')).rejects.toMatchObject({ status: 403 });
  expect(calls).toBe(1);
});
