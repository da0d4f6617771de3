/**
 * KeyVaultCertificateKeys (deps.certificateKeys) over HTTPS against the sandbox's Key Vault stand-in, with the
 * product's own clients (createDeps from the sandbox settings) and the real SDKs.
 */
import { createHash, X509Certificate } from 'node:crypto';

import { compactVerify, importX509 } from 'jose';
import forge from 'node-forge';

import type { Sandbox } from '../../../sandbox';
import { FUNCTION_IDENTITY_VAULT_ROLES } from '../../../sandbox/keyvault';
import { certificatePolicy } from '../../../src/activities/certificates';
import { createDeps, type Deps } from '../../../src/app/deps';
import type { CertificateRef } from '../../../src/contracts/credentials';
import { ExternalServiceError } from '../../../src/lib/errors';
import { sandboxConfig, startClientSandbox } from './helpers';

let sandbox: Sandbox;
let deps: Deps;
let ref: CertificateRef;
let cer: Buffer;

beforeAll(async () => {
  sandbox = await startClientSandbox();
  deps = createDeps(sandboxConfig(sandbox));
  const poller = await deps.certificates.beginCreateCertificate(
    'sn-keys-cert',
    certificatePolicy({ subject: 'CN=sn-keys', validityMonths: 12 }),
    { intervalInMs: 20 },
  );
  const cert = await poller.pollUntilDone();
  ref = { certificateName: 'sn-keys-cert', version: cert.properties.version! };
  cer = Buffer.from(cert.cer!);
});
afterAll(async () => {
  await sandbox?.close();
});
afterEach(() => sandbox.keyvault.assignRoles(sandbox.env().AZURE_CLIENT_ID, [...FUNCTION_IDENTITY_VAULT_ROLES]));

const pem = (der: Buffer) => `-----BEGIN CERTIFICATE-----\n${der.toString('base64')}\n-----END CERTIFICATE-----`;

describe('KeyVaultCertificateKeys', () => {
  it('gives the public certificate and its facts (thumbprints, validity) of the version', async () => {
    const pub = await deps.certificateKeys.publicCertificate(ref);
    expect(Buffer.from(pub.cerBase64, 'base64')).toEqual(cer);
    const sha1 = createHash('sha1').update(cer).digest();
    const x509 = new X509Certificate(cer);
    expect(pub).toEqual({
      ...ref,
      cerBase64: cer.toString('base64'),
      x5t: sha1.toString('base64url'),
      x5tS256: createHash('sha256').update(cer).digest('base64url'),
      thumbprintHex: x509.fingerprint.replace(/:/g, ''),
      notBefore: new Date(x509.validFrom).toISOString(),
      notAfter: new Date(x509.validTo).toISOString(),
    });
    expect(pub.thumbprintHex).toBe(sha1.toString('hex').toUpperCase());
  });

  it.each(['RS256', 'PS256'] as const)(
    'signs a JWT through Key Vault (%s) that verifies with the public key of the cer',
    async (alg) => {
      const pub = await deps.certificateKeys.publicCertificate(ref);
      const header = alg === 'RS256' ? { x5t: pub.x5t } : { 'x5t#S256': pub.x5tS256 };
      const claims = { aud: 'https://login.microsoftonline.com/t/oauth2/v2.0/token', iss: 'c', sub: 'c', jti: 'j1' };
      const jwt = await deps.certificateKeys.signJwt(ref, alg, header, claims);
      const { payload, protectedHeader } = await compactVerify(jwt, await importX509(pem(cer), alg));
      expect(protectedHeader).toEqual({ ...header, alg, typ: 'JWT' });
      expect(JSON.parse(Buffer.from(payload).toString())).toEqual(claims);
      // The signature was made in the vault: a sign request for the key's version was sent.
      const signs = sandbox.journal
        .entries()
        .filter((e) => e.service === 'keyvault' && e.path === `/keys/${ref.certificateName}/${ref.version}/sign`);
      expect(signs.length).toBeGreaterThan(0);
    },
  );

  it('exports the PFX: one private key and one certificate, the key matching the cer', async () => {
    const pfx = await deps.certificateKeys.exportPkcs12(ref);
    const p12 = forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(pfx.toString('binary')), '');
    const bags = p12.safeContents.flatMap((c) => c.safeBags);
    expect(bags.map((b) => b.type).sort()).toEqual([forge.pki.oids.certBag, forge.pki.oids.pkcs8ShroudedKeyBag].sort());
    const cert = bags.find((b) => b.type === forge.pki.oids.certBag)!.cert!;
    const key = bags.find((b) => b.type === forge.pki.oids.pkcs8ShroudedKeyBag)!.key as forge.pki.rsa.PrivateKey;
    expect(Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(cert)).getBytes(), 'binary')).toEqual(cer);
    expect(key.n.equals((cert.publicKey as forge.pki.rsa.PublicKey).n)).toBe(true);
  });

  it('normalises Key Vault refusals: an unknown version (404), a sign the identity may not do (403)', async () => {
    const missing = deps.certificateKeys.publicCertificate({ ...ref, version: '0'.repeat(32) });
    await expect(missing).rejects.toBeInstanceOf(ExternalServiceError);
    await expect(missing).rejects.toMatchObject({ service: 'keyvault', status: 404, code: 'CertificateNotFound' });

    sandbox.keyvault.assignRoles(sandbox.env().AZURE_CLIENT_ID, [
      'Key Vault Secrets Officer',
      'Key Vault Certificates Officer',
    ]);
    // A fresh composition root: the CryptographyClient of the previous tests has the key cached.
    const fresh = createDeps(sandboxConfig(sandbox));
    const denied = fresh.certificateKeys.signJwt(ref, 'RS256', {}, { a: 1 });
    await expect(denied).rejects.toMatchObject({ service: 'keyvault', status: 403, code: 'Forbidden' });
    await expect(denied).rejects.not.toHaveProperty('request');
  });
});
