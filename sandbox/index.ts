import type { JsonWebKey } from 'node:crypto';
import { bootstrapPlan } from '../src/bootstrap/plan';
import { controlPlaneRoles } from '../src/bootstrap/roles';
import { allProfiles } from '../src/profiles';
import { SandboxClock } from './core/clock';
import { FaultInjector, latencyFromEnv, ServiceLatency, type LatencyModel } from './core/faults';
import { Journal } from './core/journal';
import { serve, type RunningServer } from './core/server';
import { loadTls, type TlsMaterial } from './core/tls';
import type { StandIn } from './core/types';
import { createControl } from './control';
import { Directory, type DirectoryOptions, SEEDED_GROUPS } from './directory';
import { createEntra, type EntraOptions } from './entra';
import { createGraph, type GraphOptions, type GraphStandIn } from './graph';
import { createKeyVault, FUNCTION_IDENTITY_VAULT_ROLES, type KeyVaultOptions, type KeyVaultStandIn } from './keyvault';
import { createServiceNow, type ServiceNowOptions, type ServiceNowStandIn } from './servicenow';

export interface SandboxOptions {
  /** Seed for fault probabilities. */
  seed?: number;
  /** Fixed ports (npm run sandbox); 0 or omitted = any free port. */
  ports?: Partial<Record<'entra' | 'graph' | 'keyvault' | 'servicenow' | 'control', number>>;
  tls?: TlsMaterial;
  directory?: DirectoryOptions;
  entra?: EntraOptions;
  graph?: GraphOptions;
  keyvault?: KeyVaultOptions;
  servicenow?: ServiceNowOptions;
  /**
   * Modelled per-service latency (sandbox/core/faults.ts): `true` = the defaults (Entra 90 ms, Graph 120 ms, Key Vault
   * 60 ms, ServiceNow 250 ms), an object overrides them. Omitted: from SANDBOX_LATENCY / SANDBOX_LATENCY_<SERVICE>_MS,
   * else off.
   */
  latency?: boolean | LatencyModel;
  /**
   * How the product authenticates to the ServiceNow stand-in. `entra` (default, as in Azure): the instances trust the
   * Function identity's tokens for the control-plane audience (the bootstrap records are seeded on every instance) and
   * no ServiceNow password is in the settings or the vault. `basic`: the admin credentials are stored in the sandbox
   * Key Vault and SERVICENOW_AUTH_MODE=basic (tests of the fallback ask for it).
   */
  serviceNowAuth?: 'entra' | 'basic';
}

export interface Sandbox {
  readonly clock: SandboxClock;
  readonly faults: FaultInjector;
  /** Modelled service latency; `latency.set(true)` turns the defaults on while the sandbox runs. */
  readonly latency: ServiceLatency;
  readonly journal: Journal;
  readonly directory: Directory;
  readonly entra: StandIn;
  readonly graph: GraphStandIn;
  readonly keyvault: KeyVaultStandIn;
  readonly servicenow: ServiceNowStandIn;
  readonly urls: { entra: string; graph: string; keyvault: string; servicenow: string; control: string };
  readonly caPath: string;
  /** The `.sandbox/env` variables (dotenv), as the product and tests consume them. */
  env(): Record<string, string>;
  /** Back to the seeded state: stores, faults, journal, outbox and clock. */
  reset(): void;
  close(): Promise<void>;
}

/** Starts every stand-in over HTTPS on 127.0.0.1 in this process. */
export async function startSandbox(opts: SandboxOptions = {}): Promise<Sandbox> {
  const tls = opts.tls ?? loadTls();
  const clock = new SandboxClock();
  const faults = new FaultInjector(opts.seed ?? 1);
  const latency = new ServiceLatency(opts.latency ?? latencyFromEnv());
  const journal = new Journal();
  const directory = new Directory(clock, opts.directory);
  const origins: Record<string, string> = {};
  const origin = (name: string) => () => origins[name] ?? '';

  // Federated client assertions: Entra finds the issuer's keys as it would through the issuer's OpenID configuration;
  // the ServiceNow stand-in publishes each instance's (created after Entra, so looked up at use).
  const late: { servicenow?: { instanceJwks(issuer: string): { keys: JsonWebKey[] } | undefined } } = {};
  const entra = createEntra(
    { clock, directory, origin: origin('entra'), graphOrigin: origin('graph') },
    {
      issuerKeys: (issuer: string) => Promise.resolve(late.servicenow?.instanceJwks(issuer)?.keys),
      ...opts.entra,
    },
  );
  const graph = createGraph({ clock, directory, origin: origin('graph') }, opts.graph);
  const keyvault = createKeyVault(
    {
      clock,
      tenantId: directory.tenantId,
      signingKeys: () => [directory.signingKey.jwk()],
      authorityOrigin: origin('entra'),
      origin: origin('keyvault'),
    },
    opts.keyvault,
  );
  const servicenow = createServiceNow({ clock, origin: origin('servicenow') }, opts.servicenow);
  late.servicenow = servicenow;

  const instance = servicenow.instances[0] ?? 'dev00000';
  const authMode = opts.serviceNowAuth ?? 'entra';
  // Basic mode only: what a deployer then does once (docs/deploy.md): store the ServiceNow admin credentials in Key
  // Vault under the names the product reads (SERVICENOW_CREDENTIAL_SECRET_PREFIX, default `servicenow-`).
  const seedVault = () => {
    if (authMode !== 'basic') return;
    keyvault.seedSecret(`servicenow-${instance}-username`, servicenow.adminUser, { purpose: 'servicenow-admin' });
    keyvault.seedSecret(`servicenow-${instance}-password`, servicenow.adminPassword, { purpose: 'servicenow-admin' });
  };
  seedVault();
  // The Function identity's Key Vault roles, as infra/app/rbac.bicep assigns them.
  const grantVaultRoles = () =>
    keyvault.assignRoles(directory.functionIdentity.clientId, [...FUNCTION_IDENTITY_VAULT_ROLES]);
  grantVaultRoles();
  // Token mode: what an instance administrator does once per instance (docs/deploy.md, "Connect an instance"): run
  // the bootstrap script, here applied from the same plan the script is rendered from.
  const trustPlan = () =>
    bootstrapPlan({
      tenantId: directory.tenantId,
      authorityHost: origins.entra ?? '',
      clientId: directory.controlPlaneAudience.appId,
      objectId: directory.functionIdentity.servicePrincipalId,
      roles: controlPlaneRoles(allProfiles()),
    });
  const seedTrust = () => {
    if (authMode !== 'entra') return;
    const plan = trustPlan();
    for (const name of servicenow.instances) {
      const applied = servicenow.applyBootstrap(name, plan);
      if (applied.stopped) throw new Error(`sandbox: bootstrap of ${name} stopped: ${applied.stopped}`);
    }
  };
  const resetAll = () => {
    clock.reset();
    faults.clear();
    journal.clear();
    directory.reset();
    for (const s of [entra, graph, keyvault, servicenow]) s.reset();
    seedVault();
    grantVaultRoles();
    seedTrust();
  };
  const control = createControl({ clock, faults, journal, outbox: () => graph.outbox, reset: resetAll });

  const servers: RunningServer[] = [];
  const start = async (name: keyof NonNullable<SandboxOptions['ports']>, standIn: StandIn, j = journal) => {
    const s = await serve({ standIn, tls, clock, faults, latency, journal: j, port: opts.ports?.[name] ?? 0 });
    servers.push(s);
    origins[name] = s.origin;
    return s.origin;
  };
  try {
    const urls = {
      entra: await start('entra', entra),
      graph: await start('graph', graph),
      keyvault: await start('keyvault', keyvault),
      servicenow: await start('servicenow', servicenow),
      control: await start('control', control, new Journal()),
    };
    seedTrust(); // the provider configuration names the Entra stand-in's metadata URL, known once it listens
    return {
      clock,
      faults,
      latency,
      journal,
      directory,
      entra,
      graph,
      keyvault,
      servicenow,
      urls,
      caPath: tls.caPath,
      reset: resetAll,
      env: () => ({
        NODE_EXTRA_CA_CERTS: tls.caPath,
        AZURE_TENANT_ID: directory.tenantId,
        SANDBOX_TENANT_DOMAIN: directory.tenantDomain,
        AZURE_CLIENT_ID: directory.functionIdentity.clientId,
        AZURE_CLIENT_SECRET: directory.functionIdentity.clientSecret,
        ENTRA_AUTHORITY_HOST: urls.entra,
        GRAPH_BASE_URL: urls.graph,
        KEY_VAULT_URL: `${urls.keyvault}/`,
        SERVICENOW_URL_TEMPLATE: `${urls.servicenow}/{instance}`,
        SERVICENOW_AUTH_MODE: authMode,
        SANDBOX_SERVICENOW_INSTANCE: instance,
        SANDBOX_SERVICENOW_ADMIN_USER: servicenow.adminUser,
        // The control plane's trust (token mode): the audience it asks tokens for, and its machine user's user_name.
        SERVICENOW_TOKEN_AUDIENCE: directory.controlPlaneAudience.identifierUri,
        SERVICENOW_IDENTITY_OBJECT_ID: directory.functionIdentity.servicePrincipalId,
        // No ServiceNow password in the settings unless the basic fallback is asked for.
        ...(authMode === 'basic' ? { SANDBOX_SERVICENOW_ADMIN_PASSWORD: servicenow.adminPassword } : {}),
        SANDBOX_CONTROL_URL: urls.control,
        MAIL_SENDER: directory.mailSender,
        // The approver policy: two seeded people and the seeded approvers group (sandbox/directory).
        APPROVERS: `approver@${directory.tenantDomain};second.approver@${directory.tenantDomain}`,
        APPROVER_GROUPS: SEEDED_GROUPS.approvers,
        // The vault is on 127.0.0.1, not under vault.azure.net, so the SDK's challenge resource check must be off.
        KEY_VAULT_CHALLENGE_RESOURCE_VERIFICATION: 'false',
        TASKHUB_NAME: 'sandboxhub',
        // The sandbox's Function identity may grant the application permissions a profile declares (it holds
        // AppRoleAssignment.ReadWrite.All and Application.Read.All), as a deployment that allows it would.
        GRANT_ADMIN_CONSENT: 'true',
      }),
      close: async () => {
        await Promise.all(servers.map((s) => s.close()));
      },
    };
  } catch (err) {
    await Promise.all(servers.map((s) => s.close()));
    throw err;
  }
}
