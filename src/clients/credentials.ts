/**
 * The app's own identity. In Azure: the managed identity (user-assigned when AZURE_CLIENT_ID is set, else
 * DefaultAzureCredential, which tries managed identity and developer sign-ins). Sandbox/dev: a ClientSecretCredential
 * against ENTRA_AUTHORITY_HOST with instance discovery off, since MSAL would otherwise call the real
 * login.microsoftonline.com/common/discovery/instance first (microsoft-apis.md §7.1, §7.2).
 */
import {
  ClientSecretCredential,
  DefaultAzureCredential,
  ManagedIdentityCredential,
  type TokenCredential,
} from '@azure/identity';

import type { AppConfig } from '../config';

export type CredentialConfig = Pick<AppConfig, 'tenantId' | 'identity' | 'entra'>;

export type CredentialKind = 'client-secret' | 'managed-identity' | 'default';

/** Which credential `createCredential` builds for these settings. */
export function credentialKind(config: CredentialConfig): CredentialKind {
  if (config.identity.clientSecret) return 'client-secret';
  if (config.identity.clientId) return 'managed-identity';
  return 'default';
}

export function createCredential(config: CredentialConfig): TokenCredential {
  const { clientId, clientSecret } = config.identity;
  switch (credentialKind(config)) {
    case 'client-secret':
      return new ClientSecretCredential(config.tenantId, clientId ?? '', clientSecret ?? '', {
        authorityHost: config.entra.authorityHost,
        disableInstanceDiscovery: true,
      });
    case 'managed-identity':
      return new ManagedIdentityCredential({ clientId: clientId ?? '' });
    default:
      return new DefaultAzureCredential({ tenantId: config.tenantId, authorityHost: config.entra.authorityHost });
  }
}
