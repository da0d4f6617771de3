/**
 * Activity `inspectCredentials`: the rotation orchestrator's re-check before it acts
 * (docs/reference/rotation.md#re-check-before-acting-overlapping-timers). Reads the registry row and, per role, the Key
 * Vault version properties (tags, dates; never values), and says which version is current. Read-only.
 *
 * A role whose registry credential is a certificate reports its kind and facts (the Key Vault certificate version in
 * use, its key credential and expiry) and the newest enabled certificate version; a federated credential reports its
 * kind only (nothing stored, nothing to rotate).
 */

import type { Deps } from '../app/deps';
import type { CredentialState, InspectCredentialsInput, InspectCredentialsResult } from '../contracts/rotation';

export async function inspectCredentials(
  input: InspectCredentialsInput,
  deps: Pick<Deps, 'registry' | 'secrets' | 'certificates'>,
): Promise<InspectCredentialsResult> {
  const row = await deps.registry.get(input.integrationId);
  if (!row) return { found: false, credentials: [], serviceNow: {}, approvers: [] };
  const credentials: CredentialState[] = [];
  for (const role of input.roles) {
    const app = row.value.apps[role];
    if (!app) continue;
    const base = {
      role,
      appId: app.appId,
      appObjectId: app.objectId,
      secretName: app.secretName,
      registryKeyId: app.keyId ?? '',
      registryVersion: app.secretVersion ?? '',
    };
    const cred = app.credential;
    if (cred?.kind === 'federated') {
      credentials.push({ ...base, kind: 'federated' });
      continue;
    }
    if (cred?.kind === 'certificate') {
      let latest: { version: string; created: number } | undefined;
      for await (const p of deps.certificates.listPropertiesOfCertificateVersions(cred.certificateName)) {
        if (p.enabled === false || !p.version) continue;
        const created = p.createdOn?.getTime() ?? 0;
        if (!latest || created > latest.created) latest = { version: p.version, created };
      }
      credentials.push({
        ...base,
        kind: 'certificate',
        certificate: {
          certificateName: cred.certificateName,
          version: cred.version,
          x5t: cred.x5t,
          keyId: cred.keyId,
          expiresOn: cred.expiresOn,
          ...(latest ? { latestVersion: latest.version } : {}),
        },
        expiresOn: cred.expiresOn,
      });
      continue;
    }
    let latest: { version: string; created: number; tags: Record<string, string> } | undefined;
    for await (const p of deps.secrets.listPropertiesOfSecretVersions(app.secretName)) {
      if (p.enabled === false || !p.version) continue;
      const created = p.createdOn?.getTime() ?? 0;
      if (!latest || created > latest.created || (created === latest.created && p.version > latest.version))
        latest = { version: p.version, created, tags: p.tags ?? {} };
    }
    credentials.push({
      ...base,
      kind: 'secret',
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
    status: row.value.status,
  };
}
