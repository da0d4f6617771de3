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
import type { ManualAction, RecordResult } from './provision';

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
}

// ---------------------------------------------------------------------------------------------------------------
// ServiceNow side of certificate and federated credentials (src/activities/servicenow-credential-support.ts,
// servicenow-certificate.ts, servicenow-federation.ts). Names, ids, versions and thumbprints only: never a key, a
// keystore or its password.

/** `sys_certificate` and `jwt_keystore_aliases` name of one Key Vault certificate version (natural key). */
export const serviceNowKeystoreName = (integrationId: string, role: string, kvVersion: string): string =>
  `m365-snow ${integrationId} ${role} ${kvVersion}`;

/** `jwt_provider` name of an app (one per app; rotation re-points its key), also the WIF connection's name. */
export const serviceNowProviderName = (integrationId: string, role: string): string =>
  `m365-snow ${integrationId} ${role}`;

/**
 * The subject ServiceNow sends in its federated assertion and the app's federated identity credential expects: a free
 * value that must match exactly on both sides (ServiceNow `configure-wif-azure`: "Subject to send in the token").
 */
export const federationSubject = (integrationId: string, role: string): string => `m365-snow:${integrationId}:${role}`;

/** Entra's audience for federated assertions (https://learn.microsoft.com/graph/api/resources/federatedidentitycredential). */
export const FEDERATION_AUDIENCE = 'api://AzureADTokenExchange';

export interface ServiceNowCredentialSupportInput {
  serviceNowInstance: string;
  table: 'oauth_entity';
}

/** Column names of the Workload Identity Connection table, found in sys_dictionary by their form labels. */
export interface WifColumns {
  name: string;
  clientId: string;
  tenantId: string;
  subject: string;
  /** The reference to the OAuth entity its business rules create. */
  oauthEntity?: string;
}

export interface ServiceNowCredentialSupport {
  /** The family release as the instance names it (`glide.buildname`), for messages only: decisions come from the schema. */
  release?: string;
  certificate: {
    supported: boolean;
    reasons: string[];
    /** Stored value of the send_client_credentials_as choice labelled "As Private Key JWT". */
    sendAsValue?: string;
    /** The oauth_entity column whose sys_dictionary `reference` is `jwt_provider`. */
    providerColumn?: string;
    /** The jwt_keystore_aliases column labelled "X.509 Certificate SHA-1 Thumbprint … (x5t)". */
    thumbprintColumn?: string;
  };
  federated: { supported: boolean; reasons: string[]; connectionTable?: string; columns?: WifColumns };
}

/** The IntegrationRef fields the ServiceNow ensures need (ownership is recorded per integration and run). */
export interface ServiceNowOwner {
  integrationId: string;
  /** Durable instance id of the run (ownership ledger). */
  instanceId: string;
  profileId: string;
  tenant: string;
  tenantName: string;
  serviceNowInstance: string;
}

export interface EnsureServiceNowCertificateInput extends ServiceNowOwner {
  role: string;
  certificateName: string;
  version: string;
  /** base64url SHA-1 thumbprint of the certificate (JWT header `x5t`). */
  x5t: string;
  /** The app's client id: iss and sub of the assertion. */
  clientId: string;
  /** The oauth_entity's token URL: the assertion's aud, exactly. */
  tokenUrl: string;
  oauthEntity: { table: string; sysId: string };
  sendAsValue: string;
  providerColumn: string;
  /** From serviceNowCredentialSupport; looked up when absent. */
  thumbprintColumn?: string;
  /**
   * false: build the chain and leave the oauth_entity as it is (a live provider that still sends its client secret is
   * switched only after the certificate was proven). Default true.
   */
  switchEntity?: boolean;
}

export interface EnsureServiceNowCertificateResult {
  certificateSysId: string;
  keystoreAliasSysId: string;
  providerSysId: string;
  /** True when this call pointed the oauth_entity at the provider (it was not already). */
  switched: boolean;
  /** Every record ensured, with `created` as the ownership ledger says (for compensation). */
  records: RecordResult[];
  manualAction?: ManualAction;
}

export interface EnsureServiceNowFederationInput extends ServiceNowOwner {
  role: string;
  clientId: string;
  /** Directory (tenant) id of the app registration. */
  tenantId: string;
  /** From serviceNowCredentialSupport (federated). */
  connectionTable?: string;
  columns?: WifColumns;
}

export interface EnsureServiceNowFederationResult {
  /** The values the app's federated identity credential must hold. */
  issuer: string;
  subject: string;
  audience: string;
  connectionSysId?: string;
  /** The OAuth entity the connection's business rules created (consumers reference it). */
  oauthEntitySysId?: string;
  created: boolean;
  records: RecordResult[];
  manualAction?: ManualAction;
}
