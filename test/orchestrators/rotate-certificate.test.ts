/**
 * rotateCredentials for a role whose credential is a certificate, on the local durable engine with stub activities
 * (./harness.ts): the order of the phases (new version → key credential next to the old with the old as proof →
 * token → ServiceNow re-pointed → read back → grace → old key credential removed with the new as proof, old version
 * retired), AADSTS700027 waited out on durable timers, the rollback putting ServiceNow back on the old keystore
 * before the new key credential goes (and keeping both when it cannot), and a federated role skipped.
 */
import type { CredentialState } from '../../src/contracts/rotation';
import { ROTATION_ORCHESTRATOR, type RotationStatus } from '../../src/orchestrators/rotation-types';
import {
  appIdOf,
  credentialState,
  objectIdOf,
  ROTATION_ID,
  rotationInput,
  rotationStubs,
  SERVICENOW_SYS_IDS,
  sysIdOf,
} from './fixtures';
import { DAY, expectReplaySafe, OrchestratorHarness, type Stubs } from './harness';

const ID = ROTATION_ID;
const CERT = 'int-outbound-cert';
const OLD = { certificateName: CERT, version: 'c-old' };
const NEW = { certificateName: CERT, version: 'c-new' };

const certState = (role: string): CredentialState => ({
  ...credentialState(role),
  kind: 'certificate',
  secretName: '',
  registryKeyId: '',
  registryVersion: '',
  certificate: { ...OLD, x5t: 'x5t-old', keyId: 'kc-old', expiresOn: '2025-02-01T00:00:00.000Z' },
});

function certStubs(over: Stubs = {}): Stubs {
  return rotationStubs({
    inspectCredentials: () => ({
      found: true,
      credentials: [certState('outbound')],
      serviceNow: SERVICENOW_SYS_IDS,
      approvers: [],
    }),
    certificateRotationTarget: () => ({
      ok: true,
      tokenUrl: 'https://login.example/t/oauth2/token',
      clientId: appIdOf('outbound'),
      sendAsValue: 'private_key_jwt',
      providerColumn: 'jwt_provider',
    }),
    ensureCertificate: () => ({
      ok: true,
      ...NEW,
      x5t: 'x5t-new',
      x5tS256: 's',
      thumbprintHex: 'AB',
      notBefore: '2025-01-01T00:00:00.000Z',
      notAfter: '2026-01-01T00:00:00.000Z',
      created: true,
      createdOn: '2025-01-01T00:00:00.000Z',
    }),
    registerCertificate: () => ({ ok: true, keyId: 'kc-new', added: true }),
    verifyCertificateCredential: () => ({ ok: true, detail: 'token issued' }),
    ensureServiceNowCertificate: (i) => ({
      ok: true,
      certificateSysId: `cert-${i.version}`,
      keystoreAliasSysId: `alias-${i.version}`,
      providerSysId: 'provider',
      switched: true,
      records: [],
    }),
    confirmServiceNowCertificate: () => ({ ok: true, detail: 'ok' }),
    removeCertificate: () => ({ ok: true, removed: true }),
    retireCertificateVersion: () => ({ ok: true, deactivated: true, disabled: true }),
    rollbackCertificateRotation: () => ({ restored: ['keyCredential:kc-new'], orphans: [] }),
    ...over,
  });
}

function start(stubs: Stubs) {
  const h = new OrchestratorHarness(stubs);
  h.start(ROTATION_ORCHESTRATOR, ID, rotationInput({ roles: ['outbound'] }));
  return h;
}
const output = (h: OrchestratorHarness) => h.status(ID).output as RotationStatus;

describe('rotateCredentials: a certificate', () => {
  it('new version, registered with the old as proof, proven, switched, read back; the old removed after the grace period', async () => {
    const h = start(certStubs());
    await h.idle();
    expect(h.sequence()).toEqual([
      'inspectCredentials',
      'addWorkNote',
      'certificateRotationTarget',
      'ensureCertificate',
      'registerCertificate',
      'verifyCertificateCredential',
      'ensureServiceNowCertificate',
      'confirmServiceNowCertificate',
      'verifyCertificateCredential',
    ]);
    expect(h.inputsOf('ensureCertificate')[0]).toMatchObject({
      certificateName: CERT,
      afterVersion: 'c-old',
      subject: `CN=${appIdOf('outbound')}`,
    });
    expect(h.inputsOf('registerCertificate')[0]).toMatchObject({
      ...NEW,
      proof: OLD,
      appObjectId: objectIdOf('outbound'),
    });
    expect(h.inputsOf('ensureServiceNowCertificate')[0]).toMatchObject({
      ...NEW,
      x5t: 'x5t-new',
      oauthEntity: { table: 'oauth_entity', sysId: sysIdOf('outboundProvider') },
      tokenUrl: 'https://login.example/t/oauth2/token',
    });
    // Nothing old is removed before the grace period.
    expect(h.sequence('removeCertificate')).toEqual([]);
    expect(h.pendingTimers(ID)).toEqual([DAY]);
    await h.advance(DAY);
    const end = await h.runToEnd(ID);
    expect(end.runtimeStatus).toBe('Completed');
    expect(h.inputsOf('removeCertificate')).toEqual([
      { appObjectId: objectIdOf('outbound'), keyId: 'kc-old', proof: NEW },
    ]);
    expect(h.inputsOf('retireCertificateVersion')[0]).toMatchObject({ certificate: OLD });
    expect(output(h)).toMatchObject({
      outcome: 'rotated',
      rotated: [
        {
          role: 'outbound',
          kind: 'certificate',
          oldKeyId: 'kc-old',
          newKeyId: 'kc-new',
          oldVersion: 'c-old',
          newVersion: 'c-new',
          expiresOn: '2026-01-01T00:00:00.000Z',
          oldRemoved: true,
        },
      ],
    });
    expect(h.inputsOf('updateRegistry').at(-1)).toMatchObject({
      secrets: [],
      credentials: [
        {
          role: 'outbound',
          kind: 'certificate',
          ...NEW,
          keyId: 'kc-new',
          serviceNow: { certificateSysId: 'cert-c-new', keystoreAliasSysId: 'alias-c-new', providerSysId: 'provider' },
        },
      ],
    });
    expect(h.sequence('rollbackCertificateRotation')).toEqual([]);
    await expectReplaySafe(h, ROTATION_ORCHESTRATOR, ID);
  });

  it('AADSTS700027 while Entra propagates the key: asked again on a durable timer, then switched', async () => {
    let calls = 0;
    const h = start(
      certStubs({
        verifyCertificateCredential: () =>
          ++calls < 3
            ? { ok: false, code: 'AADSTS700027', transient: true, detail: 'key not found' }
            : { ok: true, detail: 'token issued' },
      }),
    );
    await h.idle();
    expect(h.sequence('ensureServiceNowCertificate')).toEqual([]);
    expect(h.pendingTimers(ID)).toEqual([10_000]);
    await h.advance(10_000);
    await h.advance(10_000);
    expect(h.sequence('ensureServiceNowCertificate')).toEqual(['ensureServiceNowCertificate']);
  });

  it('a failure after the switch: ServiceNow back on the old keystore first, then the new credential removed', async () => {
    const h = start(certStubs({ confirmServiceNowCertificate: () => ({ ok: false, detail: 'not re-pointed' }) }));
    const end = await h.runToEnd(ID);
    expect(end.runtimeStatus).toBe('Completed');
    expect(output(h).outcome).toBe('rolled-back');
    const seq = h.sequence();
    const back = seq.lastIndexOf('ensureServiceNowCertificate');
    expect(h.inputsOf('ensureServiceNowCertificate').map((i) => [i.version, i.x5t])).toEqual([
      ['c-new', 'x5t-new'],
      ['c-old', 'x5t-old'],
    ]);
    expect(seq.indexOf('rollbackCertificateRotation')).toBeGreaterThan(back);
    expect(h.inputsOf('rollbackCertificateRotation')[0]).toMatchObject({ current: OLD, newVersion: 'c-new' });
    expect(h.sequence('removeCertificate')).toEqual([]);
  });

  it('a failure before the switch does not touch ServiceNow; the rollback finds the new version itself when unknown', async () => {
    const h = start(
      certStubs({
        ensureCertificate: () => ({ ok: false, failure: { service: 'keyvault', code: 'Forbidden', message: 'no' } }),
      }),
    );
    await h.runToEnd(ID);
    expect(output(h).outcome).toBe('rolled-back');
    expect(h.sequence('ensureServiceNowCertificate')).toEqual([]);
    expect(h.inputsOf('rollbackCertificateRotation')[0]).not.toHaveProperty('newVersion');
  });

  it('when ServiceNow cannot be put back, both certificates stay valid and it is reported', async () => {
    let n = 0;
    const h = start(
      certStubs({
        confirmServiceNowCertificate: () => ({ ok: false, detail: 'x' }),
        ensureServiceNowCertificate: (i) =>
          ++n === 1
            ? {
                ok: true,
                certificateSysId: 'c',
                keystoreAliasSysId: 'a',
                providerSysId: 'p',
                switched: true,
                records: [],
              }
            : {
                ok: false,
                failure: { service: 'servicenow', code: 'Forbidden', message: `refused ${String(i.version)}` },
              },
      }),
    );
    await h.runToEnd(ID);
    expect(output(h).outcome).toBe('rolled-back');
    expect(h.sequence('rollbackCertificateRotation')).toEqual([]);
    expect(output(h).orphans).toEqual([
      expect.objectContaining({ what: expect.stringMatching(/left both certificates valid/), id: 'kc-new' }),
    ]);
  });

  it('a federated role is skipped: nothing rotated, no error', async () => {
    const h = start(
      certStubs({
        inspectCredentials: () => ({
          found: true,
          credentials: [{ ...credentialState('outbound'), kind: 'federated' }],
          serviceNow: SERVICENOW_SYS_IDS,
          approvers: [],
        }),
      }),
    );
    const end = await h.runToEnd(ID);
    expect(end.runtimeStatus).toBe('Completed');
    expect(output(h)).toMatchObject({
      outcome: 'reconciled',
      rotated: [],
      skipped: [{ role: 'outbound', reason: expect.stringMatching(/federated/) }],
    });
    expect(output(h).error).toBeUndefined();
    expect(h.sequence()).toEqual(['inspectCredentials']);
  });
});
