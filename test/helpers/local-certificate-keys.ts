/**
 * A local CertificateKeys (src/clients/certificate-keys.ts) for tests: node:crypto RSA keys and node-forge self-signed
 * certificates held in memory, JWTs signed with node:crypto, the PFX exported by node-forge without a password (as Key
 * Vault's secret endpoint returns it for an exportable certificate).
 */
import {
  createHash,
  createPrivateKey,
  generateKeyPairSync,
  sign as rsaSign,
  constants,
  randomBytes,
} from 'node:crypto';

import forge from 'node-forge';

import type { CertificateKeys, JwtAlgorithm } from '../../src/clients/certificate-keys';
import type { CertificateFacts, CertificateRef } from '../../src/contracts/credentials';

interface Held {
  privatePem: string;
  cert: forge.pki.Certificate;
  der: Buffer;
}

export class LocalCertificateKeys implements CertificateKeys {
  private readonly held = new Map<string, Held>();

  /** Creates a version (a fresh key and self-signed certificate) and returns its ref. */
  create(
    certificateName: string,
    opts: { subject?: string; validityDays?: number; bits?: number } = {},
  ): CertificateRef {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: opts.bits ?? 2048 });
    const cert = forge.pki.createCertificate();
    cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ format: 'pem', type: 'spki' }).toString());
    cert.serialNumber = `01${randomBytes(8).toString('hex')}`;
    const now = new Date();
    cert.validity.notBefore = new Date(Math.floor(now.getTime() / 1000) * 1000 - 60_000);
    cert.validity.notAfter = new Date(cert.validity.notBefore.getTime() + (opts.validityDays ?? 365) * 86_400_000);
    const attrs = [{ name: 'commonName', value: opts.subject ?? certificateName }];
    cert.setSubject(attrs);
    cert.setIssuer(attrs);
    const privatePem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    cert.sign(forge.pki.privateKeyFromPem(privatePem), forge.md.sha256.create());
    const der = Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(cert)).getBytes(), 'binary');
    const version = randomBytes(16).toString('hex');
    this.held.set(`${certificateName}/${version}`, { privatePem, cert, der });
    return { certificateName, version };
  }

  private get(ref: CertificateRef): Held {
    const h = this.held.get(`${ref.certificateName}/${ref.version}`);
    if (!h) throw new Error(`no certificate ${ref.certificateName}/${ref.version}`);
    return h;
  }

  facts(ref: CertificateRef): CertificateFacts {
    const h = this.get(ref);
    const sha1 = createHash('sha1').update(h.der).digest();
    return {
      ...ref,
      x5t: sha1.toString('base64url'),
      x5tS256: createHash('sha256').update(h.der).digest('base64url'),
      thumbprintHex: sha1.toString('hex').toUpperCase(),
      notBefore: h.cert.validity.notBefore.toISOString(),
      notAfter: h.cert.validity.notAfter.toISOString(),
    };
  }

  async publicCertificate(ref: CertificateRef): Promise<CertificateFacts & { cerBase64: string }> {
    return { ...this.facts(ref), cerBase64: this.get(ref).der.toString('base64') };
  }

  async signJwt(
    ref: CertificateRef,
    alg: JwtAlgorithm,
    header: Record<string, unknown>,
    claims: Record<string, unknown>,
  ): Promise<string> {
    const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const input = `${enc({ ...header, alg, typ: 'JWT' })}.${enc(claims)}`;
    const key = createPrivateKey(this.get(ref).privatePem);
    const signature =
      alg === 'PS256'
        ? rsaSign('sha256', Buffer.from(input), { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 })
        : rsaSign('sha256', Buffer.from(input), key);
    return `${input}.${signature.toString('base64url')}`;
  }

  async exportPkcs12(ref: CertificateRef): Promise<Buffer> {
    const h = this.get(ref);
    const p12 = forge.pkcs12.toPkcs12Asn1(forge.pki.privateKeyFromPem(h.privatePem), [h.cert], null, {
      algorithm: '3des',
    });
    return Buffer.from(forge.asn1.toDer(p12).getBytes(), 'binary');
  }
}
