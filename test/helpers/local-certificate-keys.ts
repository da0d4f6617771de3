/**
 * A local CertificateKeys for tests: RSA keys from node:crypto, self-signed certificates from node-forge, JWS signatures
 * with node:crypto (RS256 = RSASSA-PKCS1-v1_5 SHA-256, PS256 = RSASSA-PSS SHA-256 with a 32-byte salt: RFC 7518
 * section 3.3 and 3.5). The product uses the Key Vault implementation; this one stands in where a test needs
 * certificates without Key Vault.
 */
import { constants, createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';

import forge from 'node-forge';

import type { CertificateKeys, JwtAlgorithm } from '../../src/clients/certificate-keys';
import type { CertificateFacts, CertificateRef } from '../../src/contracts/credentials';

interface Entry {
  privateKey: KeyObject;
  der: Buffer;
  facts: CertificateFacts;
  pkcs12: Buffer;
}

export interface LocalCertificateOptions {
  /** RSA modulus length; default 2048. */
  bits?: number;
  subject?: string;
  notBefore?: Date;
  notAfter?: Date;
}

const key = (ref: CertificateRef) => `${ref.certificateName}/${ref.version}`;

export class LocalCertificateKeys implements CertificateKeys {
  private readonly entries = new Map<string, Entry>();
  /** Every signJwt call, for assertions on what was signed (claims and header only). */
  readonly signed: Array<{ ref: CertificateRef; alg: JwtAlgorithm; header: Record<string, unknown> }> = [];

  /** Creates a certificate version and returns its public facts. */
  add(ref: CertificateRef, opts: LocalCertificateOptions = {}): CertificateFacts & { cerBase64: string } {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: opts.bits ?? 2048 });
    const cert = forge.pki.createCertificate();
    cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString());
    cert.serialNumber = `01${createHash('sha1').update(key(ref)).digest('hex').slice(0, 16)}`;
    const notBefore = opts.notBefore ?? new Date(Date.now() - 60_000);
    const notAfter = opts.notAfter ?? new Date(notBefore.getTime() + 365 * 24 * 3600 * 1000);
    cert.validity.notBefore = notBefore;
    cert.validity.notAfter = notAfter;
    const attrs = [{ name: 'commonName', value: opts.subject ?? ref.certificateName }];
    cert.setSubject(attrs);
    cert.setIssuer(attrs);
    const forgeKey = forge.pki.privateKeyFromPem(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
    cert.sign(forgeKey, forge.md.sha256.create());
    const der = Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(cert)).getBytes(), 'binary');
    const sha1 = createHash('sha1').update(der).digest();
    const p12 = forge.pkcs12.toPkcs12Asn1(forgeKey, [cert], null, { algorithm: '3des' });
    const facts: CertificateFacts = {
      ...ref,
      x5t: sha1.toString('base64url'),
      x5tS256: createHash('sha256').update(der).digest('base64url'),
      thumbprintHex: sha1.toString('hex').toUpperCase(),
      notBefore: notBefore.toISOString(),
      notAfter: notAfter.toISOString(),
    };
    this.entries.set(key(ref), {
      privateKey,
      der,
      facts,
      pkcs12: Buffer.from(forge.asn1.toDer(p12).getBytes(), 'binary'),
    });
    return { ...facts, cerBase64: der.toString('base64') };
  }

  /** Creates a version with a fresh random version id (as Key Vault names versions) and returns its ref. */
  create(certificateName: string, opts: LocalCertificateOptions & { validityDays?: number } = {}): CertificateRef {
    const ref = { certificateName, version: randomBytes(16).toString('hex') };
    const notBefore = opts.notBefore ?? new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
    this.add(ref, {
      ...opts,
      notBefore,
      ...(opts.validityDays ? { notAfter: new Date(notBefore.getTime() + opts.validityDays * 86_400_000) } : {}),
    });
    return ref;
  }

  facts(ref: CertificateRef): CertificateFacts {
    return this.entry(ref).facts;
  }

  private entry(ref: CertificateRef): Entry {
    const e = this.entries.get(key(ref));
    if (!e) throw new Error(`no local certificate ${key(ref)}`);
    return e;
  }

  publicCertificate(ref: CertificateRef): Promise<CertificateFacts & { cerBase64: string }> {
    const e = this.entry(ref);
    return Promise.resolve({ ...e.facts, cerBase64: e.der.toString('base64') });
  }

  signJwt(
    ref: CertificateRef,
    alg: JwtAlgorithm,
    header: Record<string, unknown>,
    claims: Record<string, unknown>,
  ): Promise<string> {
    const e = this.entry(ref);
    const full = { ...header, alg, typ: 'JWT' };
    this.signed.push({ ref, alg, header: full });
    const input = `${Buffer.from(JSON.stringify(full)).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
    const signature =
      alg === 'RS256'
        ? sign('sha256', Buffer.from(input), e.privateKey)
        : sign('sha256', Buffer.from(input), {
            key: e.privateKey,
            padding: constants.RSA_PKCS1_PSS_PADDING,
            saltLength: 32,
          });
    return Promise.resolve(`${input}.${signature.toString('base64url')}`);
  }

  exportPkcs12(ref: CertificateRef): Promise<Buffer> {
    return Promise.resolve(this.entry(ref).pkcs12);
  }
}
