/**
 * Key Vault certificates through `@azure/keyvault-certificates` CertificateClient, and signing with a certificate's
 * key through `@azure/keyvault-keys` CryptographyClient (the private key never leaves the vault). Both SDKs are loaded
 * when the first client is built, with the same pipeline policies as the SecretClient (src/clients/keyvault.ts).
 *
 * A certificate is a key and a secret of the same name and version
 * (https://learn.microsoft.com/azure/key-vault/certificates/about-certificates): the public certificate (`cer`) is on
 * the certificate, the signature comes from the key's `sign` operation over a digest computed here
 * (https://learn.microsoft.com/rest/api/keyvault/keys/sign/sign), and the PFX is the secret's value (exportable
 * policies only).
 */
import { createHash, X509Certificate } from 'node:crypto';

import type * as KeyVaultCertificates from '@azure/keyvault-certificates';
import type { CertificateClient } from '@azure/keyvault-certificates';
import type * as KeyVaultKeys from '@azure/keyvault-keys';
import type { CryptographyClient } from '@azure/keyvault-keys';

import type { CertificateFacts, CertificateRef } from '../contracts/credentials';
import { ExternalServiceError } from '../lib/errors';
import type { CertificateKeys, JwtAlgorithm } from './certificate-keys';
import { deadlinePolicy } from './deadline';
import {
  DEFAULT_KEY_VAULT_TIMEOUT_MS,
  refreshOn401Policy,
  toKeyVaultError,
  type SecretClientDeps,
  type SecretReader,
} from './keyvault';

export type CertificateClientDeps = SecretClientDeps;

const pipelineOptions = (deps: CertificateClientDeps) => ({
  disableChallengeResourceVerification: deps.challengeResourceVerification === false,
  additionalPolicies: [
    { policy: refreshOn401Policy(deps.credential), position: 'perCall' as const },
    { policy: deadlinePolicy(deps.timeoutMs ?? DEFAULT_KEY_VAULT_TIMEOUT_MS), position: 'perRetry' as const },
  ],
});

export function createCertificateClient(deps: CertificateClientDeps): CertificateClient {
  // Loaded when the first client is built, not when the app's entry module loads (src/app/deps.ts).
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use, see above
  const { CertificateClient } = require('@azure/keyvault-certificates') as typeof KeyVaultCertificates;
  return new CertificateClient(deps.vaultUrl, deps.credential, pipelineOptions(deps));
}

/** A client for one key version (`https://{vault}/keys/{name}/{version}`). */
export function createCryptographyClient(keyId: string, deps: CertificateClientDeps): CryptographyClient {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use, see above
  const { CryptographyClient } = require('@azure/keyvault-keys') as typeof KeyVaultKeys;
  return new CryptographyClient(keyId, deps.credential, pipelineOptions(deps));
}

/** The public facts of a DER certificate (thumbprints as JWT headers and Graph's customKeyIdentifier use them). */
export function certificateFacts(ref: CertificateRef, der: Buffer): CertificateFacts {
  const x509 = new X509Certificate(der);
  const sha1 = createHash('sha1').update(der).digest();
  return {
    certificateName: ref.certificateName,
    version: ref.version,
    x5t: sha1.toString('base64url'),
    x5tS256: createHash('sha256').update(der).digest('base64url'),
    thumbprintHex: sha1.toString('hex').toUpperCase(),
    notBefore: new Date(x509.validFrom).toISOString(),
    notAfter: new Date(x509.validTo).toISOString(),
  };
}

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** What KeyVaultCertificateKeys needs; a CertificateClient satisfies it. */
export type CertificateReader = Pick<CertificateClient, 'getCertificateVersion' | 'vaultUrl'>;

/** CertificateKeys over Key Vault: certificates for `cer`, the key for `sign`, the secret for the PFX. */
export class KeyVaultCertificateKeys implements CertificateKeys {
  private readonly signers = new Map<string, CryptographyClient>();

  constructor(
    private readonly certificates: CertificateReader,
    private readonly secrets: SecretReader,
    private readonly cryptographyClient: (keyId: string) => CryptographyClient,
  ) {}

  async publicCertificate(ref: CertificateRef): Promise<CertificateFacts & { cerBase64: string }> {
    let cer: Uint8Array | undefined;
    try {
      cer = (await this.certificates.getCertificateVersion(ref.certificateName, ref.version)).cer;
    } catch (err) {
      throw toKeyVaultError(err, `get certificate '${ref.certificateName}/${ref.version}'`);
    }
    if (!cer?.length) throw invalid(ref, 'CertificateEmpty', 'has no certificate (cer)');
    const der = Buffer.from(cer);
    return { ...certificateFacts(ref, der), cerBase64: der.toString('base64') };
  }

  async signJwt(
    ref: CertificateRef,
    alg: JwtAlgorithm,
    header: Record<string, unknown>,
    claims: Record<string, unknown>,
  ): Promise<string> {
    const signingInput = `${b64url({ ...header, alg, typ: 'JWT' })}.${b64url(claims)}`;
    // RS256 and PS256 both sign the SHA-256 digest of the JWS signing input (RFC 7518 sections 3.3 and 3.5).
    const digest = createHash('sha256').update(signingInput).digest();
    const keyId = `${this.certificates.vaultUrl.replace(/\/+$/, '')}/keys/${ref.certificateName}/${ref.version}`;
    let signer = this.signers.get(keyId);
    if (!signer) {
      signer = this.cryptographyClient(keyId);
      this.signers.set(keyId, signer);
    }
    let signature: Uint8Array;
    try {
      signature = (await signer.sign(alg, digest)).result;
    } catch (err) {
      throw toKeyVaultError(err, `sign with key '${ref.certificateName}/${ref.version}'`);
    }
    return `${signingInput}.${Buffer.from(signature).toString('base64url')}`;
  }

  async exportPkcs12(ref: CertificateRef): Promise<Buffer> {
    let secret: Awaited<ReturnType<SecretReader['getSecret']>>;
    try {
      secret = await this.secrets.getSecret(ref.certificateName, { version: ref.version });
    } catch (err) {
      throw toKeyVaultError(err, `get the PFX of certificate '${ref.certificateName}/${ref.version}'`);
    }
    if (secret.properties.contentType !== 'application/x-pkcs12')
      throw invalid(ref, 'NotPkcs12', `is stored as '${secret.properties.contentType ?? 'unknown'}', not PKCS#12`);
    if (!secret.value) throw invalid(ref, 'SecretEmpty', 'has no PFX');
    return Buffer.from(secret.value, 'base64');
  }
}

function invalid(ref: CertificateRef, code: string, what: string): ExternalServiceError {
  return new ExternalServiceError({
    service: 'keyvault',
    code,
    message: `Key Vault certificate '${ref.certificateName}/${ref.version}' ${what}`,
    retriable: false,
  });
}
