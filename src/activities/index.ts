/**
 * Every activity of the app, declared once. The key is the name the activity is registered under
 * (src/functions/index.ts registers each entry) and the name the orchestrators call it by (src/orchestrators/calls.ts
 * derives their typed handles from `typeof activities`, as Temporal's `proxyActivities<typeof activities>()` does:
 * https://docs.temporal.io/develop/typescript/core-application#activity-execution).
 *
 * Each activity is a plain async function of (input, deps, log): its input and result types come from
 * src/contracts/, its side effects go through the clients in `deps` (src/app/deps.ts), and it logs through the
 * invocation context. To add one, write the function in its own module and add it here; nothing else to keep in sync.
 */
import type { Deps } from '../app/deps';
import { raiseAlerts } from './alerts';
import { grantAppPermissions } from './app-permissions';
import { closeApprovalRound, recordPlan, sendApprovalRequests } from './approval';
import { ensureCertificate } from './certificates';
import { runChecks } from './checks';
import { compensate } from './compensate';
import { planDecommission } from './decommission';
import { ensureApp } from './entra';
import { beginRepairRun, inspectEntra, inspectServiceNow, readIntegration } from './health';
import { inspectCredentials } from './inspect-credentials';
import {
  ensureFederatedCredential,
  registerCertificate,
  removeCertificate,
  removeClientSecrets,
} from './key-credentials';
import type { ActivityLog } from './log';
import { preflight } from './preflight';
import { updateRegistry } from './registry';
import { sendReport } from './report';
import { sendHandoffRequests } from './rotation-handoff';
import { retireCredential } from './rotation-retire';
import { rollbackRotation } from './rotation-rollback';
import {
  certificateRotationTarget,
  confirmServiceNowCertificate,
  retireCertificateVersion,
  rollbackCertificateRotation,
  verifyCertificateCredential,
} from './rotation-certificates';
import { setServiceNowSecret } from './rotation-servicenow';
import { verifyCredential } from './rotation-verify';
import { ensureAppSecret } from './secrets';
import { ensureIpAllowlist } from './servicenow-ip';
import { ensureServiceNowCertificate } from './servicenow-certificate';
import { serviceNowCredentialSupport } from './servicenow-credential-support';
import { ensureServiceNowFederation } from './servicenow-federation';
import { ensureServiceNowRecord } from './servicenow-record';
import { ensureRoleGrant } from './servicenow-roles';
import { addWorkNote } from './worknote';

/** The shape every activity has. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any input type: the catalogue is checked per entry
export type ActivityFunction = (input: any, deps: Deps, log?: ActivityLog) => Promise<unknown>;

export const activities = {
  // Provisioning (src/orchestrators/provision-integration.ts)
  preflight,
  ensureApp,
  ensureAppSecret,
  ensureCertificate,
  ensureServiceNowRecord,
  serviceNowCredentialSupport,
  ensureServiceNowCertificate,
  ensureServiceNowFederation,
  ensureRoleGrant,
  ensureIpAllowlist,
  grantAppPermissions,
  sendApprovalRequests,
  closeApprovalRound,
  recordPlan,
  runChecks,
  addWorkNote,
  sendReport,
  updateRegistry,
  compensate,
  // Rotation (src/orchestrators/rotate-credentials.ts)
  inspectCredentials,
  verifyCredential,
  setServiceNowSecret,
  sendHandoffRequests,
  retireCredential,
  rollbackRotation,
  // Rotation of certificate credentials (src/activities/rotation-certificates.ts)
  certificateRotationTarget,
  verifyCertificateCredential,
  confirmServiceNowCertificate,
  retireCertificateVersion,
  rollbackCertificateRotation,
  // Certificate and federated credentials in Entra (src/activities/key-credentials.ts)
  registerCertificate,
  removeCertificate,
  ensureFederatedCredential,
  removeClientSecrets,
  // Alerts (called by the health check at its end)
  raiseAlerts,
  // Decommissioning (src/orchestrators/decommission-integration.ts)
  planDecommission,
  // Health and drift check (src/orchestrators/check-health.ts)
  readIntegration,
  inspectEntra,
  inspectServiceNow,
  beginRepairRun,
} as const satisfies Record<string, ActivityFunction>;

export type Activities = typeof activities;
export type ActivityName = keyof Activities;
