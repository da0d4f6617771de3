import { createHash, verify, X509Certificate, constants } from 'node:crypto';

import type { RestError } from '@azure/core-rest-pipeline';
import { CertificateClient, type CertificatePolicy } from '@azure/keyvault-certificates';
import { CryptographyClient } from '@azure/keyvault-keys';
import { SecretClient } from '@azure/keyvault-secrets';
import forge from 'node-forge';

import { CALLER_APP_ID, call, harness } from './harness';

const rejection = async (p: Promise<unknown>): Promise<RestError> => {
  try {
    await p;
  } catch (err) {
    return err as RestError;
  }
  throw new Error('expected a rejection');
};

const POLICY: CertificatePolicy = {
  issuerName: 'Self',
  subject: 'CN=sn-outbound',
  keyType: 'RSA',
  keySize: 2048,
  exportable: true,
  reuseKey: false,
  contentType: 'application/x-pkcs12',
  validityInMonths: 12,
  lifetimeActions: [{ action: 'EmailContacts', daysBeforeExpiry: 30 }],
};
const FAST = { intervalInMs: 10 };

describe('Key Vault stand-in: certificates, their keys and secrets, with the real SDK clients', () => {
  const h = harness({ certificates: { operationReads: 2 } });
  const vaultUrl = () => `${h.origin()}/`;
  const certs = () => new CertificateClient(vaultUrl(), h.credential(), { disableChallengeResourceVerification: true });
  const secrets = () => new SecretClient(vaultUrl(), h.credential(), { disableChallengeResourceVerification: true });
  const crypto = (keyId: string) =>
    new CryptographyClient(keyId, h.credential(), { disableChallengeResourceVerification: true });
  beforeAll(() => h.start());
  afterAll(() => h.stop());
  beforeEach(() => {
    h.vault.reset();
    h.journal.clear();
  });

  it('creates a self-signed certificate through the pending operation; cer, x5t, attributes, tags and policy', async () => {
    const poller = await certs().beginCreateCertificate('sn-outbound-cert', POLICY, {
      ...FAST,
      tags: { integration: 'i1', role: 'outbound' },
    });
    const cert = await poller.pollUntilDone();
    const calls = h.journal.raw({ service: 'keyvault' }).filter((e) => e.status !== 401);
    expect(calls.map((c) => `${c.method} ${c.status}`)).toEqual([
      'POST 202',
      'GET 200', // pending: inProgress
      'GET 200', // pending: inProgress
      'GET 200', // pending: completed
      'GET 200', // the certificate
    ]);
    const der = Buffer.from(cert.cer!);
    const x509 = new X509Certificate(der);
    expect(x509.subject).toBe('CN=sn-outbound');
    expect(x509.issuer).toBe('CN=sn-outbound');
    expect(x509.verify(x509.publicKey)).toBe(true);
    expect(x509.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(Buffer.from(cert.properties.x509Thumbprint!).toString('hex')).toBe(
      createHash('sha1').update(der).digest('hex'),
    );
    expect(cert.properties.tags).toEqual({ integration: 'i1', role: 'outbound' });
    expect(cert.properties.notBefore?.getTime()).toBe(Date.parse(x509.validFrom));
    expect(cert.properties.expiresOn?.getTime()).toBe(Date.parse(x509.validTo));
    const months = (cert.properties.expiresOn!.getUTCFullYear() - cert.properties.notBefore!.getUTCFullYear()) * 12;
    expect(months + cert.properties.expiresOn!.getUTCMonth() - cert.properties.notBefore!.getUTCMonth()).toBe(12);
    expect(cert.keyId).toBe(`${h.origin()}/keys/sn-outbound-cert/${cert.properties.version}`);
    expect(cert.secretId).toBe(`${h.origin()}/secrets/sn-outbound-cert/${cert.properties.version}`);
    const policy = await certs().getCertificatePolicy('sn-outbound-cert');
    expect(policy).toMatchObject({
      issuerName: 'Self',
      subject: 'CN=sn-outbound',
      keyType: 'RSA',
      keySize: 2048,
      exportable: true,
      reuseKey: false,
      contentType: 'application/x-pkcs12',
      validityInMonths: 12,
      lifetimeActions: [{ action: 'EmailContacts', daysBeforeExpiry: 30 }],
    });
  });

  it('answers 409 to a create while one is pending, shows the pending first version disabled, then serves both', async () => {
    const client = certs();
    const first = await client.beginCreateCertificate('c1', POLICY, FAST);
    const conflict = await rejection(client.beginCreateCertificate('c1', POLICY, FAST));
    expect(conflict.statusCode).toBe(409);
    expect(conflict.code).toBe('Conflict');
    // The pending first version: disabled, no cer yet.
    const pending = await client.getCertificate('c1');
    expect(pending.cer).toBeUndefined();
    expect(pending.properties.enabled).toBe(false);
    const v1 = await first.pollUntilDone();
    const v2 = await (await client.beginCreateCertificate('c1', POLICY, FAST)).pollUntilDone();
    expect(v2.properties.version).not.toBe(v1.properties.version);
    expect((await client.getCertificate('c1')).properties.version).toBe(v2.properties.version);
    expect((await client.getCertificateVersion('c1', v1.properties.version!)).cer).toEqual(v1.cer);
    const versions = [];
    for await (const p of client.listPropertiesOfCertificateVersions('c1')) versions.push(p.version);
    expect(versions.sort()).toEqual([v1.properties.version, v2.properties.version].sort());
    // reuseKey false: a new key per version.
    expect(new X509Certificate(Buffer.from(v1.cer!)).publicKey.export({ format: 'jwk' }).n).not.toBe(
      new X509Certificate(Buffer.from(v2.cer!)).publicKey.export({ format: 'jwk' }).n,
    );
  });

  it('returns the PFX as the secret of the same name: key and certificate only when exportable', async () => {
    const cert = await (await certs().beginCreateCertificate('pfx', POLICY, FAST)).pollUntilDone();
    const secret = await secrets().getSecret('pfx', { version: cert.properties.version });
    expect(secret.properties.contentType).toBe('application/x-pkcs12');
    expect(secret.properties.managed).toBe(true);
    const p12 = forge.pkcs12.pkcs12FromAsn1(
      forge.asn1.fromDer(Buffer.from(secret.value!, 'base64').toString('binary')),
      '',
    );
    const keys = p12.getBags({ bagType: forge.pki.oids.pkcs8ShroudedKeyBag })[forge.pki.oids.pkcs8ShroudedKeyBag] ?? [];
    const certBags = p12.getBags({ bagType: forge.pki.oids.certBag })[forge.pki.oids.certBag] ?? [];
    expect([keys.length, certBags.length]).toEqual([1, 1]);
    const der = forge.asn1.toDer(forge.pki.certificateToAsn1(certBags[0].cert!)).getBytes();
    expect(Buffer.from(der, 'binary')).toEqual(Buffer.from(cert.cer!));
    expect((keys[0].key as forge.pki.rsa.PrivateKey).n.toString(16)).toBe(
      (certBags[0].cert!.publicKey as forge.pki.rsa.PublicKey).n.toString(16),
    );

    const locked = await (
      await certs().beginCreateCertificate('nonexp', { ...POLICY, exportable: false }, FAST)
    ).pollUntilDone();
    const value = (await secrets().getSecret('nonexp', { version: locked.properties.version })).value!;
    const p12b = forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(Buffer.from(value, 'base64').toString('binary')), '');
    expect(p12b.getBags({ bagType: forge.pki.oids.pkcs8ShroudedKeyBag })[forge.pki.oids.pkcs8ShroudedKeyBag]).toEqual(
      [],
    );
  });

  it("signs digests with the certificate's key (RS256, PS256): the signatures verify with the cer", async () => {
    const cert = await (await certs().beginCreateCertificate('signer', POLICY, FAST)).pollUntilDone();
    const publicKey = new X509Certificate(Buffer.from(cert.cer!)).publicKey;
    const data = Buffer.from('header.payload');
    const digest = createHash('sha256').update(data).digest();
    const client = crypto(cert.keyId!);
    const rs = await client.sign('RS256', digest);
    expect(verify('sha256', data, publicKey, Buffer.from(rs.result))).toBe(true);
    const ps = await client.sign('PS256', digest);
    expect(
      verify('sha256', data, { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, ps.result),
    ).toBe(true);
    const wrongLength = await rejection(client.sign('RS256', Buffer.alloc(20)));
    expect(wrongLength.statusCode).toBe(400);
  });

  it('updates a version (Update Certificate): disabled, its key signs no more; tags replaced', async () => {
    const cert = await (
      await certs().beginCreateCertificate('to-disable', POLICY, { ...FAST, tags: { integration: 'i1' } })
    ).pollUntilDone();
    const version = cert.properties.version!;
    const updated = await certs().updateCertificateProperties('to-disable', version, {
      enabled: false,
      tags: { integration: 'i1', retired: 'true' },
    });
    expect([updated.properties.enabled, updated.properties.tags]).toEqual([
      false,
      { integration: 'i1', retired: 'true' },
    ]);
    expect((await certs().getCertificateVersion('to-disable', version)).properties.enabled).toBe(false);
    const refused = await rejection(crypto(cert.keyId!).sign('RS256', createHash('sha256').update('x').digest()));
    expect(refused.statusCode).toBe(403);
    expect((await rejection(certs().updateCertificateProperties('to-disable', 'f'.repeat(32), {}))).statusCode).toBe(
      404,
    );
  });

  it('disables exactly one version (rotation retires the old one): the other stays enabled and still signs', async () => {
    const create = async () =>
      (await (await certs().beginCreateCertificate('rot-cert', POLICY, FAST)).pollUntilDone()).properties.version!;
    const v1 = await create();
    const v2 = await create();
    const updated = await certs().updateCertificateProperties('rot-cert', v1, { enabled: false });
    expect(updated.properties).toMatchObject({ version: v1, enabled: false });
    const listed = [];
    for await (const p of certs().listPropertiesOfCertificateVersions('rot-cert')) listed.push(p);
    expect(Object.fromEntries(listed.map((p) => [p.version, p.enabled]))).toEqual({ [v1]: false, [v2]: true });
    const digest = createHash('sha256').update('x').digest();
    const keyOf = async (v: string) => crypto((await certs().getCertificateVersion('rot-cert', v)).keyId!);
    expect((await rejection((await keyOf(v1)).sign('RS256', digest))).statusCode).toBe(403);
    expect((await (await keyOf(v2)).sign('RS256', digest)).result.length).toBe(256);
  });

  it('refuses a policy it cannot issue: another issuer, a small key, no subject', async () => {
    for (const bad of [
      { ...POLICY, issuerName: 'Unknown' },
      { ...POLICY, keySize: 1024 },
      { issuerName: 'Self', keyType: 'RSA' as const, keySize: 2048 },
    ]) {
      const err = await rejection(certs().beginCreateCertificate('bad', bad as CertificatePolicy, FAST));
      expect(err).toMatchObject({ statusCode: 400, code: 'BadParameter' });
    }
  });

  it('enforces Azure RBAC: Certificates Officer to create, Crypto User to sign (403 ForbiddenByRbac otherwise)', async () => {
    h.vault.assignRoles(CALLER_APP_ID, ['Key Vault Secrets Officer']);
    const denied = await rejection(certs().beginCreateCertificate('rbac', POLICY, FAST));
    expect(denied.statusCode).toBe(403);
    expect(denied.message).toContain("Action: 'Microsoft.KeyVault/vaults/certificates/create/action'");

    h.vault.assignRoles(CALLER_APP_ID, ['Key Vault Secrets Officer', 'Key Vault Certificates Officer']);
    const cert = await (await certs().beginCreateCertificate('rbac', POLICY, FAST)).pollUntilDone();
    expect((await secrets().getSecret('rbac')).value).toBeTruthy(); // the PFX, as a secret
    const noSign = await rejection(crypto(cert.keyId!).sign('RS256', Buffer.alloc(32)));
    expect(noSign.statusCode).toBe(403);
    const raw = h.journal.raw({ service: 'keyvault' }).filter((e) => e.status === 403);
    expect(
      raw.map(
        (r) => (JSON.parse(r.rawResponseBody) as { error: { innererror: { code: string } } }).error.innererror.code,
      ),
    ).toContain('ForbiddenByRbac');

    h.vault.assignRoles(CALLER_APP_ID, ['Key Vault Certificates Officer', 'Key Vault Crypto User']);
    await expect(crypto(cert.keyId!).sign('RS256', Buffer.alloc(32))).resolves.toMatchObject({ algorithm: 'RS256' });
    const noSecret = await rejection(secrets().getSecret('rbac'));
    expect(noSecret.statusCode).toBe(403);
  });

  it('updates the policy (the next version follows it) and keeps what the update does not name', async () => {
    const client = certs();
    await (await client.beginCreateCertificate('pol', POLICY, FAST)).pollUntilDone();
    await client.updateCertificatePolicy('pol', {
      issuerName: 'Self',
      subject: 'CN=renamed',
      lifetimeActions: [{ action: 'EmailContacts', lifetimePercentage: 90 }],
    });
    // Read back: updateCertificatePolicy of @azure/keyvault-certificates 4.10.3 resolves to an empty policy (it
    // never keeps the response body), whatever the vault answers.
    expect(await client.getCertificatePolicy('pol')).toMatchObject({
      subject: 'CN=renamed',
      keySize: 2048,
      exportable: true,
      lifetimeActions: [{ action: 'EmailContacts', lifetimePercentage: 90 }],
    });
    const next = await (await client.beginCreateCertificate('pol', {} as CertificatePolicy, FAST)).pollUntilDone();
    expect(new X509Certificate(Buffer.from(next.cer!)).subject).toBe('CN=renamed');
  });

  it('answers the pending operation of an unknown certificate with 404', async () => {
    const token = await h.token();
    const r = await call(`${h.origin()}/certificates/nope/pending?api-version=7.5`, 'GET', {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(r.status).toBe(404);
    expect(r.json().error.code).toBe('CertificateNotFound');
  });
});
