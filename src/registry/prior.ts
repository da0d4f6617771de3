import type { ProvisionInput } from '../orchestrators/provision-types';
import type { IntegrationRecord } from './types';

/** What a new provisioning run of a registered integration learns from its row (starter and health repair alike). */
export function priorState(
  record: IntegrationRecord,
): Pick<
  ProvisionInput,
  'approved' | 'appliedDigest' | 'priorApps' | 'priorRecords' | 'notify' | 'priorSecretRoles' | 'priorCredentialKinds'
> {
  const secretRoles = Object.entries(record.apps)
    .filter(([, a]) => a.secretVersion !== undefined || a.keyId !== undefined)
    .map(([role]) => role);
  const credentialKinds = Object.fromEntries(
    Object.entries(record.apps).flatMap(([role, a]) => (a.credential ? [[role, a.credential.kind]] : [])),
  );
  return {
    ...(record.approval ? { approved: record.approval } : {}),
    ...(record.appliedDigest ? { appliedDigest: record.appliedDigest } : {}),
    ...(Object.keys(record.apps).length
      ? { priorApps: Object.fromEntries(Object.entries(record.apps).map(([role, a]) => [role, a.appId])) }
      : {}),
    ...(Object.keys(record.serviceNow).length ? { priorRecords: record.serviceNow } : {}),
    ...(record.approvers?.length ? { notify: record.approvers } : {}),
    ...(secretRoles.length ? { priorSecretRoles: secretRoles } : {}),
    ...(Object.keys(credentialKinds).length ? { priorCredentialKinds: credentialKinds } : {}),
  };
}
