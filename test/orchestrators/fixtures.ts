/**
 * Inputs and canned activity results for the orchestrator unit tests: a ProvisionInput / RotationInput as the HTTP
 * starter and the rotation sweep build them (src/functions/integrations.ts, src/rotation/start.ts) with the default
 * settings (src/config.ts), and stubs whose results have the shapes of src/contracts/ (ids, names, versions; never a
 * secret). Every stub is deterministic: the same call gets the same answer, so two runs of a scenario can be compared.
 */
import type {
  AppResult,
  ApprovalDecision,
  CheckOutcome,
  IntegrationRef,
  RecordResult,
  SecretResult,
} from '../../src/contracts/provision';
import type { CredentialState, HandoffConfirmation } from '../../src/contracts/rotation';
import type { ProvisionInput } from '../../src/orchestrators/provision-types';
import type { RotationInput } from '../../src/orchestrators/rotation-types';
import { m365SupportAad } from '../../src/profiles/m365-support-aad';
import { START, type Stubs } from './harness';

export const ROLES = m365SupportAad.apps.map((a) => a.role); // outbound, restApi, restUser
export const APPROVER = 'approver@contoso.onmicrosoft.com';
export const SECOND_APPROVER = 'second.approver@contoso.onmicrosoft.com';

export const PROVISION_ID = 'sn-dev12345-0a1b2c3d';
export const ROTATION_ID = 'rotate-sn-dev12345-0a1b2c3d-20250101';

const ref = (instanceId: string): IntegrationRef => ({
  integrationId: PROVISION_ID,
  instanceId,
  profileId: m365SupportAad.id,
  tenant: '72f988bf-86f1-41af-91ab-2d7cd011db47',
  tenantName: 'Contoso',
  serviceNowInstance: 'dev12345',
});

export function provisionInput(over: Partial<ProvisionInput> = {}): ProvisionInput {
  return {
    ref: ref(PROVISION_ID),
    tenantDomain: 'contoso.onmicrosoft.com',
    requestedBy: ['requester@contoso.onmicrosoft.com'],
    ticket: { table: 'incident', number: 'INC0010001' },
    options: { testEnvironment: false, ipAllowlist: false, grantUsers: [] },
    settings: {
      quorum: 1,
      approvalTimeoutMinutes: 4320,
      reminderIntervalMinutes: 1440,
      onDeadline: 'rollback',
      checkAttempts: 6,
      checkRetrySeconds: 10,
    },
    endpoints: { authorityHost: 'https://login.microsoftonline.com', instanceUrl: 'https://dev12345.service-now.com' },
    operation: 'provision',
    ...over,
  };
}

export const appIdOf = (role: string) => `00000000-0000-4000-8000-${String(ROLES.indexOf(role) + 1).padStart(12, '0')}`;
export const objectIdOf = (role: string) =>
  `11111111-0000-4000-8000-${String(ROLES.indexOf(role) + 1).padStart(12, '0')}`;
export const sysIdOf = (key: string) => `sys-${key}`;
export const secretNameOf = (role: string) => `${PROVISION_ID}-${role}`.toLowerCase();

export const app = (role: string): AppResult => ({
  role,
  appId: appIdOf(role),
  objectId: objectIdOf(role),
  servicePrincipalId: `22222222-0000-4000-8000-${String(ROLES.indexOf(role) + 1).padStart(12, '0')}`,
  uniqueName: `${PROVISION_ID}-${role}`.toLowerCase(),
  created: true,
});

export const secret = (role: string, operation = 'provision'): SecretResult => ({
  role,
  secretName: secretNameOf(role),
  version: `v-${operation}-${role}`,
  keyId: `key-${operation}-${role}`,
  expiresOn: new Date(START + 180 * 86_400_000).toISOString(),
  created: true,
});

export const PASSING_CHECKS: CheckOutcome[] = m365SupportAad.checks.map((c) => ({
  name: c.kind,
  ok: true,
  detail: 'ok',
}));

/**
 * Every provisioning activity answering as on a clean tenant and instance: preflight finds nothing, each app,
 * secret and record is created, each check passes. A record is created by its first write and patched (activated)
 * by the second.
 */
export function provisionStubs(over: Stubs = {}): Stubs {
  const written = new Set<string>();
  return {
    preflight: () => ({ problems: [], tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47', scopeSysId: 'sys-scope' }),
    ensureApp: (i) => ({ ok: true, ...app(i.role) }),
    ensureAppSecret: (i) => ({ ok: true, ...secret(i.role, i.operation) }),
    ensureServiceNowRecord: (i) => {
      const first = !written.has(i.key);
      written.add(i.key);
      const record: RecordResult = {
        key: i.key,
        table: i.table,
        sysId: sysIdOf(i.key),
        created: first,
        ...(first ? {} : { updated: true }),
        ...(i.shared ? { shared: true } : {}),
        mismatches: [],
      };
      return { ok: true, ...record };
    },
    ensureRoleGrant: (i) => ({
      ok: true,
      userName: i.userName,
      role: i.role,
      sysId: sysIdOf(`grant-${i.role}`),
      created: true,
    }),
    ensureIpAllowlist: (i) => ({
      ok: true,
      needed: true,
      created: i.addresses.map((address, n) => ({ address, sysId: sysIdOf(`ip-${n}`) })),
    }),
    sendApprovalRequests: (i) => ({
      ok: true,
      tokenIds: [`tok-${i.round}`],
      sentTo: [APPROVER, SECOND_APPROVER],
      eligible: [APPROVER, SECOND_APPROVER],
      quorum: i.quorum,
      dropped: [],
    }),
    closeApprovalRound: () => ({ closed: 2 }),
    recordPlan: () => ({ ok: true }),
    runChecks: () => PASSING_CHECKS,
    addWorkNote: () => ({ written: true }),
    sendReport: (i) => ({ ok: true, sentTo: i.approvers }),
    updateRegistry: () => undefined,
    compensate: (i) => ({ removed: i.created, orphans: [] }),
    ...over,
  };
}

/** The ApprovalDecision event the approval endpoint raises for a decision on the plan with `digest`. */
export const decision = (
  digest: string,
  d: ApprovalDecision['decision'] = 'approve',
  approver = APPROVER,
  at = new Date(START).toISOString(),
): ApprovalDecision => ({ decision: d, approver, at, tokenId: `tok-${approver}`, planDigest: digest });

// ---- rotation ----

export const ROTATION_OPERATION = 'rotate-20250101';

export function rotationInput(over: Partial<RotationInput> = {}): RotationInput {
  return {
    ref: ref(ROTATION_ID),
    roles: ROLES,
    operation: ROTATION_OPERATION,
    reason: 'sweep',
    approvers: [APPROVER],
    ticket: { table: 'incident', number: 'INC0010001' },
    settings: {
      secretLifetimeDays: 180,
      graceMinutes: 1440,
      handoffReminderMinutes: 1440,
      handoffDeadlineMinutes: 10080,
      verifyAttempts: 6,
      verifyRetrySeconds: 10,
    },
    endpoints: { authorityHost: 'https://login.microsoftonline.com', instanceUrl: 'https://dev12345.service-now.com' },
    ...over,
  };
}

/** A role whose registry credential is the provisioning one and has no newer Key Vault version. */
export const credentialState = (role: string): CredentialState => ({
  role,
  kind: 'secret',
  appId: appIdOf(role),
  appObjectId: objectIdOf(role),
  secretName: secretNameOf(role),
  registryKeyId: `key-provision-${role}`,
  registryVersion: `v-provision-${role}`,
  latestVersion: `v-provision-${role}`,
  latestKeyId: `key-provision-${role}`,
  latestOperation: 'provision',
  expiresOn: new Date(START + 10 * 86_400_000).toISOString(),
});

export const SERVICENOW_SYS_IDS: Record<string, string> = Object.fromEntries(
  m365SupportAad.serviceNow.records.map((r) => [r.key, sysIdOf(r.key)]),
);

export function rotationStubs(over: Stubs = {}): Stubs {
  return {
    inspectCredentials: (i) => ({
      found: true,
      credentials: i.roles.map(credentialState),
      serviceNow: SERVICENOW_SYS_IDS,
      approvers: [APPROVER],
    }),
    ensureAppSecret: (i) => ({ ok: true, ...secret(i.role, i.operation) }),
    verifyCredential: () => ({ ok: true, detail: 'token issued' }),
    setServiceNowSecret: () => ({ ok: true, written: true }),
    sendHandoffRequests: (i) => ({ ok: true, tokenIds: [`handoff-${i.role}-${i.round}`], sentTo: i.approvers }),
    runChecks: (i) => i.checks.map((c) => ({ name: c.kind, ok: true, detail: 'ok' })),
    retireCredential: () => ({ ok: true, removed: true, disabled: true }),
    rollbackRotation: (i) => ({ restored: [i.role], orphans: [] }),
    updateRegistry: () => undefined,
    addWorkNote: () => ({ written: true }),
    sendReport: (i) => ({ ok: true, sentTo: i.approvers }),
    ...over,
  };
}

export const handoffDone = (approver = APPROVER, at = new Date(START).toISOString()): HandoffConfirmation => ({
  decision: 'done',
  approver,
  at,
  tokenId: `handoff-${approver}`,
});
