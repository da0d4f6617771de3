/**
 * Triggers of a certificate rotation: the sweep's rule applied to an app whose registry credential is a certificate
 * (Key Vault certificate version properties: created, expires), and Key Vault's `Microsoft.KeyVault.CertificateNearExpiry`
 * event starting the same rotation as `SecretNearExpiry` does for a secret. Key Vault and the durable client are small
 * fakes here (the properties they answer are what the SDKs return); the orchestration itself is tested in the sandbox.
 */
import type { DurableClient } from 'durable-functions';

import { m365SupportAad } from '../../src/profiles/m365-support-aad';
import type { AppCredentialState, IntegrationRecord } from '../../src/registry/types';
import { assessCertificate, type VersionInfo } from '../../src/rotation/due';
import { rotationInstanceId } from '../../src/rotation/ids';
import {
  CERTIFICATE_NEAR_EXPIRY,
  handleNearExpiry,
  parseNearExpiry,
  SECRET_NEAR_EXPIRY,
} from '../../src/rotation/near-expiry';
import { findDue, rolesOf, type SweepDeps } from '../../src/rotation/sweep';
import type { RotationInput } from '../../src/orchestrators/rotation-types';

const DAY = 24 * 3600 * 1000;
const NOW = new Date('2027-03-15T02:00:00Z');
const POLICY = { windowDays: 30, maxAgeDays: 365 };
const at = (days: number) => new Date(NOW.getTime() + days * DAY);
const CERT = 'kv-int1-outbound-cert';

const certApp = (version: string, expiresInDays: number): AppCredentialState => ({
  appId: '11111111-1111-1111-1111-111111111111',
  objectId: '22222222-2222-2222-2222-222222222222',
  secretName: '',
  credential: {
    kind: 'certificate',
    certificateName: CERT,
    version,
    x5t: 'x5t',
    keyId: 'kc-1',
    expiresOn: at(expiresInDays).toISOString(),
  },
});
const certVersion = (version: string, created: number, expires: number, enabled = true): VersionInfo => ({
  version,
  enabled,
  createdOn: at(created),
  expiresOn: at(expires),
  tags: { integrationId: 'int1', role: 'outbound', appId: '11111111-1111-1111-1111-111111111111' },
});

describe('assessCertificate (the sweep rule for certificates)', () => {
  it('is due when the registry version expires within the window, due at expiry minus the window', () => {
    const a = assessCertificate('outbound', certApp('c1', 20), [certVersion('c1', -300, 20)], POLICY, NOW);
    expect(a).toMatchObject({ kind: 'due', role: 'outbound', reasons: ['expiry'], version: 'c1', keyId: 'kc-1' });
    expect(a.kind === 'due' && a.dueAt.toISOString()).toBe(at(-10).toISOString());
  });

  it('is due by maximum age, and not due inside both limits', () => {
    expect(
      assessCertificate('outbound', certApp('c1', 300), [certVersion('c1', -400, 300)], POLICY, NOW),
    ).toMatchObject({ kind: 'due', reasons: ['max-age'] });
    const a = assessCertificate('outbound', certApp('c1', 170), [certVersion('c1', -10, 170)], POLICY, NOW);
    expect(a).toMatchObject({ kind: 'not-due', reasons: [] });
    expect(a.kind === 'not-due' && a.dueAt.toISOString()).toBe(at(140).toISOString());
  });

  it("takes the version's expiry over the registry's, and the registry's when the version has none", () => {
    expect(assessCertificate('outbound', certApp('c1', 200), [certVersion('c1', -10, 20)], POLICY, NOW)).toMatchObject({
      kind: 'due',
      reasons: ['expiry'],
    });
    const noDates: VersionInfo = { version: 'c1', enabled: true, tags: {} };
    expect(assessCertificate('outbound', certApp('c1', 20), [noDates], POLICY, NOW)).toMatchObject({
      kind: 'due',
      reasons: ['expiry'],
    });
  });

  it('a newer enabled version (a rotation under way) does not change the due rule of the registry version', () => {
    const a = assessCertificate(
      'outbound',
      certApp('c1', 20),
      [certVersion('c1', -300, 20), certVersion('c2', -1, 364)],
      POLICY,
      NOW,
    );
    expect(a).toMatchObject({ kind: 'due', version: 'c1' });
  });

  it('is unknown without versions, or when the registry version is disabled', () => {
    expect(assessCertificate('outbound', certApp('c1', 20), [], POLICY, NOW)).toMatchObject({ kind: 'unknown' });
    expect(
      assessCertificate('outbound', certApp('c1', 20), [certVersion('c1', -300, 20, false)], POLICY, NOW),
    ).toMatchObject({ kind: 'unknown', reason: expect.stringMatching(/disabled/) });
  });
});

describe('parseNearExpiry: CertificateNearExpiry', () => {
  it('reads the Event Grid schema of a certificate event', () => {
    expect(
      parseNearExpiry({
        id: 'e1',
        subject: CERT,
        eventType: CERTIFICATE_NEAR_EXPIRY,
        data: {
          Id: `https://kv.vault.azure.net/certificates/${CERT}/c1`,
          VaultName: 'kv',
          ObjectType: 'Certificate',
          ObjectName: CERT,
          Version: 'c1',
          NBF: 1700000000,
          EXP: 1805000000,
        },
      }),
    ).toEqual({ certificateName: CERT, version: 'c1', expiresOn: new Date(1805000000 * 1000) });
  });

  it('reads CloudEvents with camelCase keys', () => {
    expect(
      parseNearExpiry({
        type: 'microsoft.keyvault.certificatenearexpiry',
        data: { objectType: 'certificate', objectName: CERT },
      }),
    ).toEqual({ certificateName: CERT });
  });

  it.each([
    [
      'a secret object in a certificate event',
      { eventType: CERTIFICATE_NEAR_EXPIRY, data: { ObjectType: 'Secret', ObjectName: 'x' } },
    ],
    [
      'a certificate object in a secret event',
      { eventType: SECRET_NEAR_EXPIRY, data: { ObjectType: 'Certificate', ObjectName: 'x' } },
    ],
    ['CertificateNewVersionCreated', { eventType: 'Microsoft.KeyVault.CertificateNewVersionCreated', subject: CERT }],
    ['CertificateExpired', { eventType: 'Microsoft.KeyVault.CertificateExpired', subject: CERT }],
  ])('ignores %s', (_label, event) => {
    expect(parseNearExpiry(event)).toBeUndefined();
  });
});

// ---- sweep and event over fakes ----

const ROLES = m365SupportAad.apps.map((a) => a.role);

function record(outbound: AppCredentialState, status: IntegrationRecord['status'] = 'active'): IntegrationRecord {
  const apps: Record<string, AppCredentialState> = { outbound };
  for (const role of ROLES.filter((r) => r !== 'outbound'))
    apps[role] = { appId: `app-${role}`, objectId: `obj-${role}`, secretName: `s-${role}`, keyId: `k-${role}` };
  return {
    id: 'int1',
    status,
    profile: m365SupportAad.id,
    serviceNowInstance: 'dev1',
    apps,
  } as unknown as IntegrationRecord;
}

function fakes(rec: IntegrationRecord, certificateVersions: VersionInfo[]) {
  const listed: string[] = [];
  const started: { name: string; instanceId: string; input: RotationInput }[] = [];
  const deps = {
    config: {
      rotation: {
        windowDays: 30,
        maxAgeDays: 365,
        secretLifetimeDays: 180,
        graceMinutes: 1,
        handoffReminderMinutes: 60,
        handoffDeadlineMinutes: 600,
        verifyAttempts: 3,
        verifyRetrySeconds: 10,
      },
      entra: { authorityHost: 'https://login.example' },
      serviceNow: { urlTemplate: 'https://{instance}.service-now.com' },
    },
    registry: { list: async () => [rec], get: async (id: string) => (id === rec.id ? { value: rec } : undefined) },
    secrets: {
      listPropertiesOfSecretVersions: (name: string) =>
        (async function* () {
          listed.push(`secret:${name}`);
          yield {
            name,
            version: 'v1',
            enabled: true,
            createdOn: at(-10),
            expiresOn: at(170),
            tags: { keyId: `k-${name.slice(2)}` },
          };
        })(),
    },
    certificates: {
      listPropertiesOfCertificateVersions: (name: string) =>
        (async function* () {
          listed.push(`certificate:${name}`);
          if (name !== CERT) return;
          for (const v of certificateVersions) yield { name, ...v };
        })(),
    },
  } as unknown as SweepDeps;
  const client = {
    getStatusBy: async () => [],
    getStatus: async () => {
      throw new Error('HTTP 404');
    },
    startNew: async (name: string, opts: { instanceId: string; input: RotationInput }) => {
      started.push({ name, ...opts });
      return opts.instanceId;
    },
  } as unknown as DurableClient;
  return { deps, client, listed, started };
}

describe('the sweep finds certificates due', () => {
  it('lists the certificate versions (not a secret) of a certificate app and reports it due by the same rule', async () => {
    const rec = record(certApp('c1', 20));
    const { deps, listed } = fakes(rec, [certVersion('c1', -300, 20)]);
    expect(rolesOf(rec)).toEqual(ROLES);
    const found = await findDue(deps, NOW);
    expect(listed).toContain(`certificate:${CERT}`);
    expect(listed).not.toContain('secret:');
    expect(found.problems).toEqual([]);
    expect(found.due).toHaveLength(1);
    expect(found.due[0]).toMatchObject({ integrationId: 'int1', roles: ['outbound'] });
    expect(found.due[0].dueDate.toISOString()).toBe(at(-10).toISOString());
  });

  it('a federated credential is never listed nor due (nothing to rotate)', async () => {
    const fed: AppCredentialState = {
      appId: 'a',
      objectId: 'o',
      secretName: '',
      credential: { kind: 'federated', name: 'm365-snow-int1', issuer: 'https://x.service-now.com', subject: 's' },
    };
    const rec = record(fed);
    const { deps, listed } = fakes(rec, []);
    expect(rolesOf(rec)).toEqual(ROLES.filter((r) => r !== 'outbound'));
    const found = await findDue(deps, NOW);
    expect(found.due).toEqual([]);
    expect(found.problems).toEqual([]);
    expect(listed.some((l) => l.startsWith('certificate:'))).toBe(false);
  });
});

describe('CertificateNearExpiry starts the rotation', () => {
  const event = (version?: string) => ({
    eventType: CERTIFICATE_NEAR_EXPIRY,
    subject: CERT,
    data: { ObjectType: 'Certificate', ObjectName: CERT, ...(version ? { Version: version } : {}) },
  });

  it('maps the certificate to its integration by its tags and starts the rotation the sweep would (forced as a backstop)', async () => {
    const rec = record(certApp('c1', 29));
    const { deps, client, started } = fakes(rec, [certVersion('c1', -300, 29)]);
    const r = await handleNearExpiry(deps, client, event('c1'), NOW);
    expect(r).toMatchObject({
      handled: true,
      rotation: { integrationId: 'int1', roles: ['outbound'], result: 'started' },
    });
    expect(started).toHaveLength(1);
    expect(started[0].instanceId).toBe(rotationInstanceId('int1', at(-1)));
    expect(started[0].input).toMatchObject({ reason: 'near-expiry-event', roles: ['outbound'] });
  });

  it('before the window (the event comes 30 days ahead, the window may be shorter) the role is still rotated', async () => {
    const rec = record(certApp('c1', 45));
    const { deps, client, started } = fakes(rec, [certVersion('c1', -300, 45)]);
    const r = await handleNearExpiry(deps, client, event(), NOW);
    expect(r.handled).toBe(true);
    expect(started[0].instanceId).toBe(rotationInstanceId('int1', at(15)));
  });

  it('ignores an older version (already rotated), an untagged certificate, and an integration not active', async () => {
    const rotated = record(certApp('c2', 300));
    let f = fakes(rotated, [certVersion('c1', -300, 20), certVersion('c2', -1, 300)]);
    expect(await handleNearExpiry(f.deps, f.client, event('c1'), NOW)).toEqual({
      handled: false,
      reason: expect.stringMatching(/already rotated/),
    });
    f = fakes(record(certApp('c1', 20)), [{ ...certVersion('c1', -300, 20), tags: {} }]);
    expect(await handleNearExpiry(f.deps, f.client, event('c1'), NOW)).toEqual({
      handled: false,
      reason: expect.stringMatching(/not a credential of an integration/),
    });
    f = fakes(record(certApp('c1', 20), 'decommissioning'), [certVersion('c1', -300, 20)]);
    expect(await handleNearExpiry(f.deps, f.client, event('c1'), NOW)).toEqual({
      handled: false,
      reason: expect.stringMatching(/decommissioning/),
    });
    expect(f.started).toEqual([]);
  });
});
