import { assessCredential, type VersionInfo } from '../../src/rotation/due';
import { rotationInstanceId, rotationOperation, yyyymmdd } from '../../src/rotation/ids';
import type { AppCredentialState } from '../../src/registry/types';

const DAY = 24 * 3600 * 1000;
const NOW = new Date('2027-03-15T02:00:00Z');
const POLICY = { windowDays: 30, maxAgeDays: 365 };
const APP: AppCredentialState = {
  appId: '11111111-1111-1111-1111-111111111111',
  objectId: '22222222-2222-2222-2222-222222222222',
  secretName: 'sn-dev-outbound',
  secretVersion: 'v1',
  keyId: 'key-1',
  expiresOn: '2027-09-01T00:00:00.000Z',
};

const at = (daysFromNow: number) => new Date(NOW.getTime() + daysFromNow * DAY);
function version(v: string, keyId: string | undefined, created: number, expires: number, enabled = true): VersionInfo {
  return {
    version: v,
    enabled,
    createdOn: at(created),
    expiresOn: at(expires),
    tags: keyId ? { keyId, appId: APP.appId, appObjectId: APP.objectId, role: 'outbound', operation: 'provision' } : {},
  };
}

describe('assessCredential', () => {
  it('is due when the registry version expires within the window; due at expiry minus the window', () => {
    const a = assessCredential('outbound', APP, [version('v1', 'key-1', -100, 20)], POLICY, NOW);
    expect(a).toMatchObject({ kind: 'due', role: 'outbound', reasons: ['expiry'], keyId: 'key-1', version: 'v1' });
    expect(a.kind === 'due' && a.dueAt.toISOString()).toBe(at(-10).toISOString());
  });

  it('is due when older than the maximum age even far from expiry', () => {
    const a = assessCredential('outbound', APP, [version('v1', 'key-1', -400, 300)], POLICY, NOW);
    expect(a).toMatchObject({ kind: 'due', reasons: ['max-age'] });
    expect(a.kind === 'due' && a.dueAt.toISOString()).toBe(at(-35).toISOString());
  });

  it('is not due inside both limits, and says when it will be', () => {
    const a = assessCredential('outbound', APP, [version('v1', 'key-1', -10, 170)], POLICY, NOW);
    expect(a).toMatchObject({ kind: 'not-due', reasons: [] });
    expect(a.kind === 'not-due' && a.dueAt.toISOString()).toBe(at(140).toISOString());
  });

  it('reports a newer enabled version with another keyId as already rotated (reconcile, not due)', () => {
    const versions = [version('v1', 'key-1', -100, 20), version('v2', 'key-2', -1, 179)];
    versions[1].tags.operation = 'rotate-20270314';
    expect(assessCredential('outbound', APP, versions, POLICY, NOW)).toEqual({
      kind: 'rotated',
      role: 'outbound',
      registryKeyId: 'key-1',
      latestKeyId: 'key-2',
      latestVersion: 'v2',
      latestExpiresOn: versions[1].expiresOn?.toISOString(),
      latestCreatedOn: versions[1].createdOn?.toISOString(),
      operation: 'rotate-20270314',
    });
  });

  it('ignores an older or disabled version with another keyId, and versions of another app', () => {
    const versions = [
      version('v0', 'key-0', -300, 50),
      version('v1', 'key-1', -100, 20),
      version('v2', 'key-2', -1, 179, false),
      { ...version('v3', 'key-3', 0, 179), tags: { keyId: 'key-3', appId: 'another-app' } },
    ];
    expect(assessCredential('outbound', APP, versions, POLICY, NOW).kind).toBe('due');
  });

  it('is unknown when the secret has no version or the registry version is disabled', () => {
    expect(assessCredential('outbound', APP, [], POLICY, NOW)).toMatchObject({ kind: 'unknown' });
    expect(assessCredential('outbound', APP, [version('v1', 'key-1', -100, 20, false)], POLICY, NOW)).toMatchObject({
      kind: 'unknown',
      reason: expect.stringMatching(/disabled/) as unknown,
    });
  });

  it('falls back to the registry expiry when the registry version is not listed', () => {
    const a = assessCredential(
      'outbound',
      { ...APP, expiresOn: at(10).toISOString() },
      [{ version: 'vx', enabled: true, tags: {} }],
      POLICY,
      NOW,
    );
    expect(a).toMatchObject({ kind: 'due', reasons: ['expiry'] });
  });
});

describe('rotation ids', () => {
  it('names the instance by integration and the UTC date of the due instant', () => {
    const due = new Date('2027-03-05T23:59:59Z');
    expect(yyyymmdd(due)).toBe('20270305');
    expect(rotationInstanceId('sn-dev-0a1b2c3d', due)).toBe('rotate-sn-dev-0a1b2c3d-20270305');
    expect(rotationOperation(due)).toBe('rotate-20270305');
  });
});
