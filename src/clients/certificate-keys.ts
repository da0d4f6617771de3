/**
 * What the activities need from the certificates they create, behind one interface (implemented over Key Vault's
 * certificates, keys and secrets; tests may pass a local implementation). The private key stays in Key Vault for
 * signing; only `exportPkcs12` returns key material, for the one activity that hands a keystore to ServiceNow.
 */
import type { CertificateFacts, CertificateRef } from '../contracts/credentials';

export type JwtAlgorithm = 'RS256' | 'PS256';

export interface CertificateKeys {
  /** The public certificate (DER, base64) and its facts. */
  publicCertificate(ref: CertificateRef): Promise<CertificateFacts & { cerBase64: string }>;
  /**
   * A compact JWS over `header` (alg and typ are set here; callers add x5t / x5t#S256 / kid) and `claims`, signed with
   * the certificate version's key through Key Vault's `sign` operation (the key never leaves the vault).
   */
  signJwt(
    ref: CertificateRef,
    alg: JwtAlgorithm,
    header: Record<string, unknown>,
    claims: Record<string, unknown>,
  ): Promise<string>;
  /** The PFX Key Vault holds for the version (exportable policy; no password), for re-wrapping. Never log it. */
  exportPkcs12(ref: CertificateRef): Promise<Buffer>;
}
