import { ClientSecretCredential, DefaultAzureCredential, ManagedIdentityCredential } from '@azure/identity';

import { createCredential, credentialKind } from '../../src/clients/credentials';
import { loadConfig } from '../../src/config';

const base = {
  KEY_VAULT_URL: 'https://kv.vault.azure.net/',
  MAIL_SENDER: 'sender@contoso.com',
  PUBLIC_BASE_URL: 'https://func.azurewebsites.net',
  AZURE_TENANT_ID: '72f988bf-86f1-41af-91ab-2d7cd011db47',
  TASKHUB_NAME: 'hub1',
  AzureWebJobsStorage__tableServiceUri: 'https://st.table.core.windows.net',
  APPROVERS: 'approver@contoso.com',
  SERVICENOW_TOKEN_AUDIENCE: 'api://0f4b8e2a-7c1d-4e5f-9a3b-2c6d8e0f1a2b',
};
const CLIENT_ID = '11111111-2222-3333-4444-555555555555';

describe('createCredential', () => {
  it('uses a ClientSecretCredential when a secret is configured (sandbox/dev)', () => {
    const config = loadConfig({ ...base, AZURE_CLIENT_ID: CLIENT_ID, AZURE_CLIENT_SECRET: 'dev-secret-value' });
    expect(credentialKind(config)).toBe('client-secret');
    expect(createCredential(config).current).toBeInstanceOf(ClientSecretCredential);
  });

  it('uses the user-assigned managed identity when only a client id is configured', () => {
    const config = loadConfig({ ...base, AZURE_CLIENT_ID: CLIENT_ID });
    expect(credentialKind(config)).toBe('managed-identity');
    expect(createCredential(config).current).toBeInstanceOf(ManagedIdentityCredential);
  });

  it('falls back to DefaultAzureCredential (system-assigned identity, developer sign-in)', () => {
    const config = loadConfig(base);
    expect(credentialKind(config)).toBe('default');
    expect(createCredential(config).current).toBeInstanceOf(DefaultAzureCredential);
  });
});
