/**
 * The one module that registers every function (package.json `main`). Handler modules have no side effects, so
 * tests import them directly; the sandbox's function router loads this module and captures the registrations.
 */
import { app } from '@azure/functions';
import * as df from 'durable-functions';

import { closeApprovalRoundHandler, sendApprovalRequestsHandler } from '../activities/approval';
import { runChecksHandler } from '../activities/checks';
import { compensateHandler } from '../activities/compensate';
import { ACTIVITY } from '../activities/contracts';
import { ensureAppHandler } from '../activities/entra';
import { preflightHandler } from '../activities/preflight';
import { updateRegistryHandler } from '../activities/registry';
import { sendReportHandler } from '../activities/report';
import { ensureAppSecretHandler } from '../activities/secrets';
import { ensureIpAllowlistHandler } from '../activities/servicenow-ip';
import { ensureServiceNowRecordHandler } from '../activities/servicenow-record';
import { ensureRoleGrantHandler } from '../activities/servicenow-roles';
import { addWorkNoteHandler } from '../activities/worknote';
import { inspectCredentialsHandler } from '../activities/inspect-credentials';
import { ROTATION_ACTIVITY } from '../activities/rotation-contracts';
import { sendHandoffRequestsHandler } from '../activities/rotation-handoff';
import { retireCredentialHandler } from '../activities/rotation-retire';
import { rollbackRotationHandler } from '../activities/rotation-rollback';
import { setServiceNowSecretHandler } from '../activities/rotation-servicenow';
import { verifyCredentialHandler } from '../activities/rotation-verify';
import { rotateCredentials } from '../orchestrators/rotateCredentials';
import { INSPECT_CREDENTIALS } from '../orchestrators/rotationCalls';
import { ROTATION_ORCHESTRATOR } from '../orchestrators/rotationTypes';
import { provisionIntegration } from '../orchestrators/provisionIntegration';
import { PROVISION_ORCHESTRATOR } from '../orchestrators/provisionTypes';
import { APPROVAL_ROUTES } from './approvals';
import { checkSettingsAtStartup, failFast } from './http';
import { getIntegrationHandler, listIntegrationsHandler, startIntegrationHandler } from './integrations';
import { registerRotationFunctions } from './rotation';

app.setup({ enableHttpStream: false });

// The settings are checked once, here, when the app loads: invalid ones are logged once by name and reason, and then
// every HTTP trigger answers 503 listing them (withErrorBoundary) and every timer and activity throws the same
// ConfigError before doing anything (failFast). The functions are registered either way, so the app answers.
checkSettingsAtStartup();

// Orchestrations
df.app.orchestration(PROVISION_ORCHESTRATOR, provisionIntegration);
df.app.orchestration(ROTATION_ORCHESTRATOR, rotateCredentials);

// Activities: every name in ACTIVITY has exactly one handler (the Record type enforces it;
// test/durable/realEntry.test.ts checks the registrations).
const activities: Record<(typeof ACTIVITY)[keyof typeof ACTIVITY], df.ActivityHandler> = {
  [ACTIVITY.preflight]: preflightHandler,
  [ACTIVITY.ensureApp]: ensureAppHandler,
  [ACTIVITY.ensureAppSecret]: ensureAppSecretHandler,
  [ACTIVITY.ensureServiceNowRecord]: ensureServiceNowRecordHandler,
  [ACTIVITY.ensureRoleGrant]: ensureRoleGrantHandler,
  [ACTIVITY.ensureIpAllowlist]: ensureIpAllowlistHandler,
  [ACTIVITY.sendApprovalRequests]: sendApprovalRequestsHandler,
  [ACTIVITY.runChecks]: runChecksHandler,
  [ACTIVITY.addWorkNote]: addWorkNoteHandler,
  [ACTIVITY.sendReport]: sendReportHandler,
  [ACTIVITY.updateRegistry]: updateRegistryHandler,
  [ACTIVITY.compensate]: compensateHandler,
  [ACTIVITY.closeApprovalRound]: closeApprovalRoundHandler,
};
const rotationActivities: Record<(typeof ROTATION_ACTIVITY)[keyof typeof ROTATION_ACTIVITY], df.ActivityHandler> = {
  [ROTATION_ACTIVITY.verifyCredential]: verifyCredentialHandler,
  [ROTATION_ACTIVITY.setServiceNowSecret]: setServiceNowSecretHandler,
  [ROTATION_ACTIVITY.sendHandoffRequests]: sendHandoffRequestsHandler,
  [ROTATION_ACTIVITY.retireCredential]: retireCredentialHandler,
  [ROTATION_ACTIVITY.rollbackRotation]: rollbackRotationHandler,
};
for (const [name, handler] of Object.entries({
  ...activities,
  ...rotationActivities,
  [INSPECT_CREDENTIALS]: inspectCredentialsHandler,
}))
  df.app.activity(name, { handler: failFast(handler) });

// HTTP: the integrations API (function key) and the approval pages (anonymous: the single-use token protects them).
df.app.client.http('startIntegration', {
  route: 'integrations',
  methods: ['POST'],
  authLevel: 'function',
  handler: startIntegrationHandler,
});
df.app.client.http('listIntegrations', {
  route: 'integrations',
  methods: ['GET'],
  authLevel: 'function',
  handler: listIntegrationsHandler,
});
df.app.client.http('getIntegration', {
  route: 'integrations/{id}',
  methods: ['GET'],
  authLevel: 'function',
  handler: getIntegrationHandler,
});
for (const r of Object.values(APPROVAL_ROUTES))
  df.app.client.http(r.name, { route: r.route, methods: [...r.methods], authLevel: r.authLevel, handler: r.handler });

// Rotation: the daily sweep (%ROTATION_SCHEDULE%), on-demand POST /api/integrations/{id}/rotate, the rotation status
// route and the Key Vault SecretNearExpiry Event Grid backstop (see ROTATION_FUNCTIONS).
registerRotationFunctions();
