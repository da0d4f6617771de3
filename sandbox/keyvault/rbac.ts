import type { SandboxResponse } from '../core/types';
import { kvError } from './errors';

/**
 * Key Vault's Azure RBAC permission model, minimally: each data-plane request needs one data action, and a caller
 * holds the data actions of its built-in roles ("Azure built-in roles for Key Vault data plane operations",
 * https://learn.microsoft.com/azure/key-vault/general/rbac-guide, and the role definitions in
 * https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/security). A caller with no roles
 * assigned in the stand-in keeps the full access every stand-in caller had before roles were modelled.
 */
export type KeyVaultRole =
  | 'Key Vault Administrator'
  | 'Key Vault Secrets Officer'
  | 'Key Vault Secrets User'
  | 'Key Vault Certificates Officer'
  | 'Key Vault Certificate User'
  | 'Key Vault Crypto Officer'
  | 'Key Vault Crypto User';

/** The data actions of each role (`*` as in the role definitions). */
const ROLE_ACTIONS: Record<KeyVaultRole, string[]> = {
  'Key Vault Administrator': ['Microsoft.KeyVault/vaults/*'],
  'Key Vault Secrets Officer': ['Microsoft.KeyVault/vaults/secrets/*'],
  'Key Vault Secrets User': [
    'Microsoft.KeyVault/vaults/secrets/getSecret/action',
    'Microsoft.KeyVault/vaults/secrets/readMetadata/action',
  ],
  'Key Vault Certificates Officer': [
    'Microsoft.KeyVault/vaults/certificatecas/*',
    'Microsoft.KeyVault/vaults/certificates/*',
    'Microsoft.KeyVault/vaults/certificatecontacts/write',
  ],
  'Key Vault Certificate User': [
    'Microsoft.KeyVault/vaults/certificates/read',
    'Microsoft.KeyVault/vaults/secrets/getSecret/action',
    'Microsoft.KeyVault/vaults/secrets/readMetadata/action',
    'Microsoft.KeyVault/vaults/keys/read',
  ],
  'Key Vault Crypto Officer': ['Microsoft.KeyVault/vaults/keys/*', 'Microsoft.KeyVault/vaults/keyrotationpolicies/*'],
  'Key Vault Crypto User': [
    'Microsoft.KeyVault/vaults/keys/read',
    'Microsoft.KeyVault/vaults/keys/update/action',
    'Microsoft.KeyVault/vaults/keys/backup/action',
    'Microsoft.KeyVault/vaults/keys/encrypt/action',
    'Microsoft.KeyVault/vaults/keys/decrypt/action',
    'Microsoft.KeyVault/vaults/keys/wrap/action',
    'Microsoft.KeyVault/vaults/keys/unwrap/action',
    'Microsoft.KeyVault/vaults/keys/sign/action',
    'Microsoft.KeyVault/vaults/keys/verify/action',
  ],
};

/**
 * What the deployment gives the Function App's identity on the vault of the client secrets and certificates
 * (infra/app/rbac.bicep): the sandbox's single vault enforces the same, so a call the deployed app could not make
 * fails here too. (It also serves as the ServiceNow credentials vault, which the identity reads: Secrets Officer
 * covers that.)
 */
export const FUNCTION_IDENTITY_VAULT_ROLES: readonly KeyVaultRole[] = [
  'Key Vault Secrets Officer',
  'Key Vault Certificates Officer',
  'Key Vault Crypto User',
];

const matches = (granted: string, action: string) =>
  granted.endsWith('/*') ? action.startsWith(granted.slice(0, -1)) : granted === action;

/** The data action a request needs (the operation tables of the rbac-guide), or undefined for unknown routes. */
export function dataActionOf(method: string, segments: string[]): string | undefined {
  const [collection, name, third, fourth] = segments;
  const p = 'Microsoft.KeyVault/vaults';
  if (collection === 'secrets' || collection === 'deletedsecrets') {
    if (collection === 'deletedsecrets') {
      if (third === 'recover') return `${p}/secrets/recover/action`;
      return method === 'DELETE' ? `${p}/secrets/purge/action` : `${p}/secrets/readMetadata/action`;
    }
    if (method === 'PUT') return `${p}/secrets/setSecret/action`;
    if (method === 'DELETE') return `${p}/secrets/delete`;
    if (method === 'PATCH') return `${p}/secrets/update/action`;
    if (!name || third === 'versions') return `${p}/secrets/readMetadata/action`;
    return `${p}/secrets/getSecret/action`;
  }
  if (collection === 'certificates') {
    if (third === 'create') return `${p}/certificates/create/action`;
    if (method === 'PATCH') return `${p}/certificates/update/action`;
    if (method === 'DELETE') return `${p}/certificates/delete`;
    return `${p}/certificates/read`;
  }
  if (collection === 'keys') {
    if (fourth === 'sign') return `${p}/keys/sign/action`;
    if (fourth === 'verify') return `${p}/keys/verify/action`;
    return `${p}/keys/read`;
  }
  return undefined;
}

/** Who holds which roles; callers never assigned any keep full access (see above). */
export class RoleAssignments {
  private readonly byCaller = new Map<string, KeyVaultRole[]>();

  /** `appId`'s roles on the vault; `undefined` removes the restriction. */
  assign(appId: string, roles: KeyVaultRole[] | undefined): void {
    if (roles) this.byCaller.set(appId.toLowerCase(), [...roles]);
    else this.byCaller.delete(appId.toLowerCase());
  }

  allows(appId: string, action: string): boolean {
    const roles = this.byCaller.get(appId.toLowerCase());
    if (!roles) return true;
    return roles.some((r) => ROLE_ACTIONS[r].some((granted) => matches(granted, action)));
  }

  clear(): void {
    this.byCaller.clear();
  }
}

/**
 * The vault's answer when no role assignment grants the action: 403 `Forbidden` with inner code `ForbiddenByRbac`
 * and the multi-line message real vaults send (a recorded one in microsoft/AL-Go#864 for `certificates/read`;
 * hashicorp/terraform-provider-azurerm#27817 for `keys/read`): caller, action, resource, "Assignment: (not found)".
 */
export function forbiddenByRbac(caller: string, action: string, resource: string, vaultName: string): SandboxResponse {
  return kvError(
    403,
    'Forbidden',
    'Caller is not authorized to perform action on resource.\r\n' +
      'If role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\n' +
      `Caller: appid=${caller}\r\n` +
      `Action: '${action}'\r\n` +
      `Resource: '/providers/microsoft.keyvault/vaults/${vaultName}/${resource.toLowerCase()}'\r\n` +
      "Assignment: (not found)\r\nDenyAssignmentId: null\r\nDecisionReason: 'DeniedWithNoValidRBAC' \r\n" +
      `Vault: ${vaultName};location=westeurope\r\n`,
    'ForbiddenByRbac',
  );
}
