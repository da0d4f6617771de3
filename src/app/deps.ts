/**
 * The composition root for activities and HTTP functions: builds each external client once from the settings
 * (src/config.ts) and hands them out. Activities take a `Deps` argument so tests can pass clients built against the
 * sandbox; production handlers call `getDeps()`.
 *
 * Each client is built on first use (a getter), so that the entry module loads none of the SDKs and a function loads
 * only those it uses: `@azure/identity` (with MSAL), `@azure/keyvault-secrets`, `@azure/data-tables` and the Graph
 * client are required by src/clients/* when they build their first client. Loading them took most of the entry
 * module's load time, which every cold start pays (bench/footprint.ts measures it).
 */
import type { TokenCredential } from '@azure/identity';
import type { CertificateClient } from '@azure/keyvault-certificates';
import type { SecretClient } from '@azure/keyvault-secrets';
import type { Client } from '@microsoft/microsoft-graph-client';

import { AlertStore } from '../alerts/store';
import { ApprovalTokenStore } from '../approvals/tokens';
import { createCredential } from '../clients/credentials';
import { setEntraTimeout } from '../clients/entra';
import { createGraphClient } from '../clients/graph';
import type { CertificateKeys } from '../clients/certificate-keys';
import { createSecretClient } from '../clients/keyvault';
import {
  createCertificateClient,
  createCryptographyClient,
  KeyVaultCertificateKeys,
} from '../clients/keyvault-certificates';
import { ServiceNowClient } from '../clients/servicenow';
import { createServiceNowAuth } from '../clients/servicenow-auth';
import { createTableClient } from '../clients/tables';
import { getConfig, serviceNowInstanceUrl, type AppConfig } from '../config';
import { AuditLog } from '../registry/audit';
import { OwnershipLedger } from '../registry/ownership';
import { LeaseStore } from '../registry/leases';
import { IntegrationRegistry } from '../registry/registry';

export interface Deps {
  config: AppConfig;
  credential: TokenCredential;
  graph: Client;
  /** The vault of the client secrets the app creates and rotates (KEY_VAULT_URL). */
  secrets: SecretClient;
  /** The certificates the app creates (KEY_VAULT_URL, the vault of the client secrets). */
  certificates: CertificateClient;
  /** Public certificate, signing through Key Vault and the PFX of those certificates (over `certificates`). */
  certificateKeys: CertificateKeys;
  /**
   * The vault of the ServiceNow admin credentials (SERVICENOW_CREDENTIALS_VAULT_URL), read-only for the app in Azure.
   * The same client as `secrets` when both settings name one vault (the sandbox).
   */
  serviceNowSecrets: SecretClient;
  /**
   * One client per ServiceNow instance: with SERVICENOW_AUTH_MODE=entra (default) authenticated by Entra tokens of
   * `credential`; with basic/oauth by credentials read from `serviceNowSecrets` at use time.
   */
  serviceNow(instance: string): ServiceNowClient;
  registry: IntegrationRegistry;
  approvalTokens: ApprovalTokenStore;
  /** Who created which ServiceNow record, and who references the shared ones (table `ownership`). */
  ownership: OwnershipLedger;
  /** Short leases (table `leases`): one writer at a time per client secret (integration, role). */
  leases: LeaseStore;
  /** The append-only audit trail of every integration (table `audit`). */
  audit: AuditLog;
  /** Which alert conditions were seen and which alerts were delivered (table `alerts`). */
  alerts: AlertStore;
  now(): Date;
}

export function createDeps(config: AppConfig, now: () => Date = () => new Date()): Deps {
  // Raw Entra calls (connectivity checks, metadata) take ENTRA_TIMEOUT_SECONDS unless a caller passes its own.
  setEntraTimeout(config.entra.timeoutMs);
  const credential = once(() => createCredential(config));
  const secrets = once(() =>
    createSecretClient({
      vaultUrl: config.keyVault.url,
      credential: credential(),
      challengeResourceVerification: config.keyVault.challengeResourceVerification,
      timeoutMs: config.keyVault.timeoutMs,
    }),
  );
  const vaultDeps = () => ({
    vaultUrl: config.keyVault.url,
    credential: credential(),
    challengeResourceVerification: config.keyVault.challengeResourceVerification,
    timeoutMs: config.keyVault.timeoutMs,
  });
  const certificates = once(() => createCertificateClient(vaultDeps()));
  const certificateKeys = once(
    () =>
      new KeyVaultCertificateKeys(certificates(), secrets(), (keyId) => createCryptographyClient(keyId, vaultDeps())),
  );
  const serviceNowSecrets = once(() =>
    config.serviceNow.credentialsVaultUrl === config.keyVault.url
      ? secrets()
      : createSecretClient({
          vaultUrl: config.serviceNow.credentialsVaultUrl,
          credential: credential(),
          challengeResourceVerification: config.keyVault.challengeResourceVerification,
          timeoutMs: config.keyVault.timeoutMs,
        }),
  );
  const table = (name: string) =>
    createTableClient(
      'serviceUrl' in config.tables
        ? { url: config.tables.serviceUrl, credential: credential(), table: name }
        : { connectionString: config.tables.connectionString, table: name },
    );
  const graph = once(() =>
    createGraphClient({
      credential: credential(),
      baseUrl: config.graph.baseUrl,
      scopes: [config.graph.scope],
      timeoutMs: config.graph.timeoutMs,
    }),
  );
  const registry = once(() => new IntegrationRegistry(table('integrations')));
  const approvalTokens = once(() => new ApprovalTokenStore(table('approvals'), now));
  const leases = once(() => new LeaseStore(table('leases'), now));
  const ownership = once(() => new OwnershipLedger(table('ownership'), now));
  const audit = once(() => new AuditLog(table('audit')));
  const alerts = once(() => new AlertStore(table('alerts'), now));
  const serviceNowClients = new Map<string, ServiceNowClient>();
  return {
    config,
    get credential() {
      return credential();
    },
    get graph() {
      return graph();
    },
    get secrets() {
      return secrets();
    },
    get certificates() {
      return certificates();
    },
    get certificateKeys() {
      return certificateKeys();
    },
    get serviceNowSecrets() {
      return serviceNowSecrets();
    },
    serviceNow(instance) {
      let client = serviceNowClients.get(instance);
      if (!client) {
        client = new ServiceNowClient({
          instanceUrl: serviceNowInstanceUrl(config, instance),
          // Token auth (the default) reads no secret: the vault client is built only for basic/oauth.
          auth: createServiceNowAuth(config, instance, serviceNowSecrets, {}, credential),
          timeoutMs: config.serviceNow.timeoutMs,
        });
        serviceNowClients.set(instance, client);
      }
      return client;
    },
    get registry() {
      return registry();
    },
    get approvalTokens() {
      return approvalTokens();
    },
    get leases() {
      return leases();
    },
    get ownership() {
      return ownership();
    },
    get audit() {
      return audit();
    },
    get alerts() {
      return alerts();
    },
    now,
  };
}

/** `build` run once, on the first call; later calls return its result. */
function once<T>(build: () => T): () => T {
  let built: { value: T } | undefined;
  return () => (built ??= { value: build() }).value;
}

let cached: { config: AppConfig; deps: Deps } | undefined;
let clock: () => Date = () => new Date();

/**
 * The clock the process-wide dependencies use (approval-token expiry, rotation due dates). Production keeps the
 * system clock; the local stack points it at the sandbox clock so virtual time reaches the product.
 */
export function useClock(now: () => Date): void {
  clock = now;
  cached = undefined;
}

/** The process-wide dependencies, rebuilt when the settings change (tests reset the config cache). */
export function getDeps(): Deps {
  const config = getConfig();
  if (cached?.config !== config) cached = { config, deps: createDeps(config, () => clock()) };
  return cached.deps;
}
