/**
 * The contract between the rotation orchestrator (`rotateCredentials`) and its activities. As for provisioning:
 * only ids, names, versions and non-secret values cross the durable boundary; activities throw only for retriable
 * failures and return `{ ok: false, failure }` otherwise (see provision.ts).
 *
 * Rotation is dual-phase (docs/reference/rotation.md): add the new credential and a new Key Vault version
 * (ensureAppSecret with a `rotate-…` operation), prove the new secret yields a token, update every consumer (API
 * ones directly, manual ones through an emailed hand-off with a "done" link), and only when every consumer is
 * confirmed and a grace period has passed, remove the old credential and disable the old Key Vault version. A
 * failure before that rolls back to the old secret everywhere and removes the new credential.
 */
import type { CertificateRef } from './credentials';
import type { IntegrationRef, ManualAction, Outcome } from './provision';

/** Hand-off confirmations arrive as this event, one name per role (docs/reference/durable-functions.md#distinct-event-names). */
export const handoffEventName = (role: string): string => `HandoffDone-${role}`;

/** A Key Vault secret version: which value a consumer should hold. */
export interface SecretVersionRef {
  secretName: string;
  version: string;
}

export interface VerifyCredentialInput extends IntegrationRef {
  role: string;
  appId: string;
  secret: SecretVersionRef;
}
export interface VerifyCredentialResult {
  ok: boolean;
  /** AADSTS code or HTTP status of a failure. */
  code?: string;
  /** True while Entra may still be propagating the new secret (retry later). */
  transient?: boolean;
  detail: string;
}

/** A ServiceNow password2 field that holds an app's client secret (from the profile's secret consumers). */
export interface ServiceNowSecretConsumer {
  record: string;
  table: string;
  sysId: string;
  field: string;
}

export interface SetServiceNowSecretInput extends IntegrationRef {
  role: string;
  consumer: ServiceNowSecretConsumer;
  secret: SecretVersionRef;
  /**
   * Where a person sets the field by hand (a provisioning run): a 403 then answers `ok: true, written: false` with a
   * manual action instead of a failure, as for the record itself. Without it (rotation) a 403 is a failure.
   */
  manualFallback?: string;
}
export type SetServiceNowSecretResult = Outcome<{ written: boolean; manualAction?: ManualAction }>;

export interface HandoffRequestInput extends IntegrationRef {
  role: string;
  approvers: string[];
  /** Where and which field a person must update (from the profile's manual consumers). */
  consumers: { where: string; field: string }[];
  secret: SecretVersionRef;
  /** ISO expiry of the links (the hand-off deadline). */
  expiresAt: string;
  round: number;
}
export type HandoffRequestResult = Outcome<{ tokenIds: string[]; sentTo: string[] }>;

/** Payload of the hand-off event (raised by the approval endpoint for a `handoff` token; never carries a token). */
export interface HandoffConfirmation {
  decision: 'done';
  approver: string;
  at: string;
  tokenId: string;
}

export interface RetireCredentialInput extends IntegrationRef {
  role: string;
  appObjectId: string;
  /** The credential and Key Vault version being retired. */
  keyId: string;
  secret: SecretVersionRef;
}
export type RetireCredentialResult = Outcome<{ removed: boolean; disabled: boolean }>;

export interface RollbackRotationInput extends IntegrationRef {
  role: string;
  appObjectId: string;
  /** The credential the rotation added (removed by the rollback). */
  newKeyId: string;
  newSecret: SecretVersionRef;
  /** The version consumers go back to; it becomes the latest Key Vault version again. */
  oldSecret: SecretVersionRef;
  /** ServiceNow consumers already switched to the new secret: written back to the old one first. */
  serviceNowConsumers: ServiceNowSecretConsumer[];
}
export interface RollbackRotationResult {
  restored: string[];
  /** What could not be undone, with its id; reported, never silently dropped. */
  orphans: { what: string; id: string; reason: string }[];
}

export interface InspectCredentialsInput extends IntegrationRef {
  roles: string[];
  /** The rotation's operation: a Key Vault version tagged with it was written by an earlier run of this rotation. */
  operation: string;
}

export interface CredentialState {
  role: string;
  /**
   * What the registry says the role's credential is: a client secret, a certificate (rotated through Key Vault, the
   * app's key credentials and ServiceNow's keystore) or a federated credential (nothing stored: never rotated).
   */
  kind: 'secret' | 'certificate' | 'federated';
  /** The certificate in use (kind `certificate`): the registry's Key Vault version, its key credential and expiry. */
  certificate?: CertificateRef & {
    x5t: string;
    keyId: string;
    expiresOn: string;
    /** The newest enabled Key Vault version of the certificate (a rotation may have written it). */
    latestVersion?: string;
  };
  appId: string;
  appObjectId: string;
  secretName: string;
  /** What the registry says is in use. */
  registryKeyId: string;
  registryVersion: string;
  /** The newest enabled Key Vault version and its tags. */
  latestVersion?: string;
  latestKeyId?: string;
  latestOperation?: string;
  /** ISO expiry of the registry's credential. */
  expiresOn?: string;
}

export interface InspectCredentialsResult {
  found: boolean;
  credentials: CredentialState[];
  /** sys_ids of the ServiceNow records by profile record key (consumers of the secrets). */
  serviceNow: Record<string, string>;
  approvers: string[];
  /** The integration's registry status now (a rotation that raced a decommissioning finds it `decommissioning`). */
  status?: string;
}

// ---------------------------------------------------------------------------------------------------------------
// Certificate rotation (src/activities/rotation-certificates.ts): new Key Vault version → key credential added next
// to the old one (addKey, proof signed by the old) → token proven → ServiceNow's JWT provider re-pointed → read back
// → grace → old key credential removed (proof signed by the new), old sys_certificate deactivated, old version
// disabled. A failure before the switch holds puts ServiceNow back on the old keystore first, then removes the new.

/** The ServiceNow side of an app's certificate credential, read from the instance (never guessed). */
export interface CertificateTargetInput extends IntegrationRef {
  role: string;
  oauthEntity: { table: string; sysId: string };
}
export type CertificateTargetResult = Outcome<{
  /** The oauth_entity's token_url: the assertion's aud, exactly. */
  tokenUrl: string;
  /** The oauth_entity's client_id (iss = sub). */
  clientId: string;
  sendAsValue: string;
  providerColumn: string;
  thumbprintColumn?: string;
}>;

export interface VerifyCertificateInput extends IntegrationRef {
  role: string;
  appId: string;
  certificate: CertificateRef;
  /** The token URL the consumer uses (the assertion's aud). */
  tokenUrl: string;
}

/** Reads back that the oauth_entity's JWT provider signs with exactly this keystore (active). */
export interface ConfirmServiceNowCertificateInput extends IntegrationRef {
  role: string;
  oauthEntity: { table: string; sysId: string };
  providerColumn: string;
  expected: { providerSysId: string; keystoreAliasSysId: string; certificateSysId: string };
}
export interface ConfirmServiceNowCertificateResult {
  ok: boolean;
  detail: string;
}

/** After the grace period: the old version's sys_certificate deactivated and its Key Vault version disabled. */
export interface RetireCertificateVersionInput extends IntegrationRef {
  role: string;
  certificate: CertificateRef;
}
export type RetireCertificateVersionResult = Outcome<{ deactivated: boolean; disabled: boolean }>;

export interface RollbackCertificateRotationInput extends IntegrationRef {
  role: string;
  appObjectId: string;
  /** The certificate consumers go back to (still registered and valid): signs removeKey's proof. */
  current: CertificateRef;
  /** The version the rotation created, when it is known; else every enabled version newer than `current`. */
  newVersion?: string;
}
