/**
 * Credential kinds: how ServiceNow proves itself to Entra when it asks for a token for an app.
 *
 * - `secret`: a client secret (password credential), kept in Key Vault and written to the ServiceNow record.
 * - `certificate`: a private_key_jwt client assertion signed with a certificate's key; the certificate lives in Key
 *   Vault (its public part is a key credential of the app), ServiceNow holds a PKCS12 keystore of it
 *   (https://learn.microsoft.com/entra/identity-platform/certificate-credentials).
 * - `federated`: workload identity federation; ServiceNow signs with its own instance key and the app trusts it
 *   through a federated identity credential: nothing is stored in Entra or Key Vault
 *   (https://learn.microsoft.com/entra/workload-id/workload-identity-federation).
 */
export type CredentialKind = 'secret' | 'certificate' | 'federated';

export const CREDENTIAL_KINDS: readonly CredentialKind[] = ['secret', 'certificate', 'federated'];

/** One version of a Key Vault certificate: what crosses the durable boundary (never the key or the PFX). */
export interface CertificateRef {
  certificateName: string;
  version: string;
}

/** The public facts of a certificate version. */
export interface CertificateFacts extends CertificateRef {
  /** base64url SHA-1 thumbprint of the DER certificate (JWT header `x5t`, RFC 7515 section 4.1.7). */
  x5t: string;
  /** base64url SHA-256 thumbprint (JWT header `x5t#S256`, RFC 7515 section 4.1.8). */
  x5tS256: string;
  /** Upper-case hex SHA-1 thumbprint: what Graph stores as a key credential's customKeyIdentifier. */
  thumbprintHex: string;
  notBefore: string;
  notAfter: string;
}

/** A non-secret credential a provisioning ensured for an app (kept in status and the registry). */
export type ProvisionedCredential =
  | {
      role: string;
      kind: 'certificate';
      certificateName: string;
      version: string;
      x5t: string;
      notAfter: string;
      /** The key credential's id on the app. */
      keyId: string;
      /** ServiceNow records of the keystore chain (sys_certificate, JWT key, JWT provider). */
      serviceNow?: { certificateSysId: string; keystoreAliasSysId: string; providerSysId: string };
    }
  | {
      role: string;
      kind: 'federated';
      /** The federated identity credential on the app. */
      name: string;
      issuer: string;
      subject: string;
      audiences: string[];
    };

/** `ensureCertificate`: the app's certificate in Key Vault (names and ids only; the key stays in the vault). */
export interface EnsureCertificateInput {
  integrationId: string;
  role: string;
  appId: string;
  /** The Key Vault certificate name (the app's secret name with `-cert` appended). */
  certificateName: string;
  /** X.500 subject of the self-signed certificate, `CN=<appId or the profile's name>`. */
  subject: string;
  validityMonths: number;
  /** Rotation: a version newer than this one is wanted (created when none exists). */
  afterVersion?: string;
}

export interface CertificateResult extends CertificateFacts {
  /** Whether the version did not exist when this execution started (it, or an overlapping one, created it). */
  created: boolean;
  /** ISO time Key Vault created the version. */
  createdOn: string;

// ---------------------------------------------------------------------------------------------------------------
// Entra certificate and federated credentials (src/activities/key-credentials.ts)

export interface RegisterCertificateInput {
  integrationId: string;
  role: string;
  appObjectId: string;
  appId: string;
  certificateName: string;
  version: string;
  /** A certificate version already registered and valid on the app, to sign addKey's proof of possession. */
  proof?: CertificateRef;
}

export interface RegisterCertificateResult {
  /** The key credential's keyId on the app. */
  keyId: string;
  /** False when the certificate was already registered (found by its thumbprint). */
  added: boolean;
}

export interface RemoveCertificateInput {
  appObjectId: string;
  keyId: string;
  /** A valid registered certificate version to sign removeKey's proof (may be the one being removed). */
  proof: CertificateRef;
}

export interface RemoveCertificateResult {
  removed: boolean;
}

export interface EnsureFederatedCredentialInput {
  appObjectId: string;
  /** Ours by name: `m365-snow-{integrationId}`. */
  name: string;
  issuer: string;
  subject: string;
  audiences: string[];
}

export interface EnsureFederatedCredentialResult {
  id: string;
  created: boolean;
  /** A same-named credential with other values was patched back. */
  patched: boolean;
}

export interface RemoveClientSecretsInput {
  appObjectId: string;
  /** The product's password credentials (keyIds recorded when they were added). */
  keyIds: string[];
}

export interface RemoveClientSecretsResult {
  /** The keyIds removed by this call (those already gone are not listed). */
  removed: string[];
}
