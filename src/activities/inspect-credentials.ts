/**
 * Activity `inspectCredentials`: the rotation orchestrator's re-check before it acts
 * (docs/reference/rotation.md#re-check-before-acting-overlapping-timers). Reads the registry row and, per role, the Key
 * Vault version properties (tags, dates; never values), and says which version is current. Read-only.
 */
import type { InvocationContext } from '@azure/functions';
import type { ActivityHandler } from 'durable-functions';

import type { IntegrationRef } from './contracts';
import { getDeps, type Deps } from './deps';

export interface InspectCredentialsInput extends IntegrationRef {
  roles: string[];
  /** The rotation's operation: a Key Vault version tagged with it was written by an earlier run of this rotation. */
  operation: string;
}

export interface CredentialState {
  role: string;
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
}

export async function inspectCredentials(
  input: InspectCredentialsInput,
  deps: Pick<Deps, 'registry' | 'secrets'>,
): Promise<InspectCredentialsResult> {
  const row = await deps.registry.get(input.integrationId);
  if (!row) return { found: false, credentials: [], serviceNow: {}, approvers: [] };
  const credentials: CredentialState[] = [];
  for (const role of input.roles) {
    const app = row.value.apps[role];
    if (!app) continue;
    let latest: { version: string; created: number; tags: Record<string, string> } | undefined;
    for await (const p of deps.secrets.listPropertiesOfSecretVersions(app.secretName)) {
      if (p.enabled === false || !p.version) continue;
      const created = p.createdOn?.getTime() ?? 0;
      if (!latest || created > latest.created || (created === latest.created && p.version > latest.version))
        latest = { version: p.version, created, tags: p.tags ?? {} };
    }
    credentials.push({
      role,
      appId: app.appId,
      appObjectId: app.objectId,
      secretName: app.secretName,
      registryKeyId: app.keyId ?? '',
      registryVersion: app.secretVersion ?? '',
      ...(latest
        ? {
            latestVersion: latest.version,
            ...(latest.tags.keyId ? { latestKeyId: latest.tags.keyId } : {}),
            ...(latest.tags.operation ? { latestOperation: latest.tags.operation } : {}),
          }
        : {}),
      ...(app.expiresOn ? { expiresOn: app.expiresOn } : {}),
    });
  }
  return {
    found: true,
    credentials,
    serviceNow: row.value.serviceNow,
    approvers: row.value.approvers ?? [],
  };
}

export const inspectCredentialsHandler: ActivityHandler = (input: unknown, _ctx: InvocationContext) =>
  inspectCredentials(input as InspectCredentialsInput, getDeps());
