/**
 * Key Vault stand-in: UpdateCertificate (`PATCH /certificates/{name}/{version}`, the SDK's
 * `updateCertificateProperties`), which a certificate rotation uses to disable the version it retires or rolls back
 * (https://learn.microsoft.com/rest/api/keyvault/certificates/update-certificate): the version's `enabled` and tags
 * change, the other versions do not, its key refuses `sign` once disabled, and an unknown version is a 404.
 */
import { createHash } from 'node:crypto';

import type { RestError } from '@azure/core-rest-pipeline';
import { CertificateClient, type CertificatePolicy } from '@azure/keyvault-certificates';
import { CryptographyClient } from '@azure/keyvault-keys';

import { harness } from './harness';

const POLICY: CertificatePolicy = {
  issuerName: 'Self',
  subject: 'CN=sn-outbound',
  keyType: 'RSA',
  keySize: 2048,
  exportable: true,
  reuseKey: false,
  contentType: 'application/x-pkcs12',
  validityInMonths: 12,
};
const FAST = { intervalInMs: 10 };

describe('Key Vault stand-in: updateCertificateProperties', () => {
  const h = harness();
  const opts = { disableChallengeResourceVerification: true };
  const certs = () => new CertificateClient(`${h.origin()}/`, h.credential(), opts);
  beforeAll(() => h.start());
  afterAll(() => h.stop());
  beforeEach(() => h.vault.reset());

  async function twoVersions(name: string) {
    const first = await (await certs().beginCreateCertificate(name, POLICY, FAST)).pollUntilDone();
    const second = await (await certs().beginCreateCertificate(name, POLICY, FAST)).pollUntilDone();
    return [first.properties.version!, second.properties.version!];
  }

  it('disables exactly one version; its key then refuses to sign; the other still signs', async () => {
    const [v1, v2] = await twoVersions('rot-cert');
    const updated = await certs().updateCertificateProperties('rot-cert', v1, {
      enabled: false,
      tags: { retired: 'true' },
    });
    expect(updated.properties).toMatchObject({ version: v1, enabled: false, tags: { retired: 'true' } });
    const listed = [];
    for await (const p of certs().listPropertiesOfCertificateVersions('rot-cert')) listed.push(p);
    expect(Object.fromEntries(listed.map((p) => [p.version, p.enabled]))).toEqual({ [v1]: false, [v2]: true });

    const digest = createHash('sha256').update('x').digest();
    const keyOf = async (v: string) =>
      new CryptographyClient((await certs().getCertificateVersion('rot-cert', v)).keyId!, h.credential(), opts);
    const refused = await (await keyOf(v1)).sign('RS256', digest).then(
      () => undefined,
      (err: unknown) => err as RestError,
    );
    expect(refused?.statusCode).toBe(403);
    expect((await (await keyOf(v2)).sign('RS256', digest)).result.length).toBe(256);
  });

  it('an unknown version answers 404', async () => {
    await twoVersions('rot-cert');
    const err = await certs()
      .updateCertificateProperties('rot-cert', '0'.repeat(32), { enabled: false })
      .then(
        () => undefined,
        (e: unknown) => e as RestError,
      );
    expect(err?.statusCode).toBe(404);
  });
});
