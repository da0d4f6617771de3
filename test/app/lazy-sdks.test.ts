/**
 * The SDKs only some functions use are loaded on first use (src/app/deps.ts, src/clients/*): not when the entry module
 * loads, and each when the composition root builds the first client that needs it. Each SDK module is wrapped so that
 * requiring it is recorded; the clients are the real ones.
 */
import type { Deps } from '../../src/app/deps';
import type { loadConfig as LoadConfig } from '../../src/config';

const SDKS = [
  '@azure/identity',
  '@azure/keyvault-secrets',
  '@azure/keyvault-certificates',
  '@azure/keyvault-keys',
  '@azure/data-tables',
  '@microsoft/microsoft-graph-client',
  '@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials',
];

const loaded: string[] = [];
for (const name of SDKS)
  jest.doMock(name, () => {
    loaded.push(name);
    return jest.requireActual<object>(name);
  });

const settings = {
  KEY_VAULT_URL: 'https://kv-prov.vault.azure.net/',
  SERVICENOW_CREDENTIALS_VAULT_URL: 'https://kv-sn-prov.vault.azure.net/',
  MAIL_SENDER: 'provisioner@contoso.com',
  PUBLIC_BASE_URL: 'https://func-prov.azurewebsites.net/',
  AZURE_TENANT_ID: '72f988bf-86f1-41af-91ab-2d7cd011db47',
  TASKHUB_NAME: 'provisioner',
  AzureWebJobsStorage__tableServiceUri: 'https://stprov.table.core.windows.net/',
  APPROVERS: 'approver@contoso.com',
  SERVICENOW_TOKEN_AUDIENCE: 'api://0f4b8e2a-7c1d-4e5f-9a3b-2c6d8e0f1a2b',
};

beforeEach(() => {
  loaded.length = 0;
});

describe('SDKs loaded on first use', () => {
  it('the entry module loads none of them', () => {
    // Outside the host the entry logs its settings problems and @azure/functions its test mode: not under test here.
    const quiet = [jest.spyOn(console, 'error'), jest.spyOn(console, 'warn')].map((s) =>
      s.mockImplementation(() => undefined),
    );
    try {
      jest.isolateModules(() => {
        // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded here, after the SDK modules are wrapped
        require('../../src/functions/index');
      });
    } finally {
      for (const s of quiet) s.mockRestore();
    }
    expect(loaded).toEqual([]);
  });

  it('the composition root builds each client, and loads its SDK, when it is first used', () => {
    let deps!: Deps;
    jest.isolateModules(() => {
      /* eslint-disable @typescript-eslint/no-require-imports -- loaded here, after the SDK modules are wrapped */
      const { createDeps } = require('../../src/app/deps') as typeof import('../../src/app/deps');
      const { loadConfig } = require('../../src/config') as { loadConfig: typeof LoadConfig };
      /* eslint-enable @typescript-eslint/no-require-imports */
      deps = createDeps(loadConfig(settings));
    });
    expect(loaded).toEqual([]);

    const registry = deps.registry; // a table client, with the app's identity (tableServiceUri)
    expect(loaded.sort()).toEqual(['@azure/data-tables', '@azure/identity']);
    expect(deps.registry).toBe(registry); // built once

    expect(deps.secrets.vaultUrl).toBe(settings.KEY_VAULT_URL);
    expect(deps.serviceNowSecrets.vaultUrl).toBe(settings.SERVICENOW_CREDENTIALS_VAULT_URL);
    expect(loaded).toContain('@azure/keyvault-secrets');
    expect(loaded).not.toContain('@microsoft/microsoft-graph-client');
    expect(loaded).not.toContain('@azure/keyvault-certificates');

    expect(deps.certificates.vaultUrl).toBe(settings.KEY_VAULT_URL);
    expect(loaded).toContain('@azure/keyvault-certificates');
    expect(deps.certificateKeys).toBe(deps.certificateKeys); // built once
    // The keys SDK only when a certificate's key first signs (a CryptographyClient per key version).
    expect(loaded).not.toContain('@azure/keyvault-keys');

    expect(typeof deps.graph.api).toBe('function');
    expect(loaded).toEqual(expect.arrayContaining(SDKS.filter((s) => s !== '@azure/keyvault-keys')));
    // Each SDK module was required once, whatever the number of clients built from it.
    expect(new Set(loaded).size).toBe(loaded.length);
  });
});
