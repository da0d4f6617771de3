/**
 * The entry module (package.json `main`): registers every function of the app, on one screen. Handler modules have no
 * side effects, so tests import them directly; the sandbox's function router loads this module and captures the
 * registrations (test/durable/real-entry.test.ts checks them).
 */
import { app } from '@azure/functions';
import * as df from 'durable-functions';

import { activities } from '../activities';
import { getDeps } from '../app/deps';
import { decommissionIntegration } from '../orchestrators/decommission-integration';
import { DECOMMISSION_ORCHESTRATOR } from '../orchestrators/decommission-types';
import { provisionIntegration } from '../orchestrators/provision-integration';
import { PROVISION_ORCHESTRATOR } from '../orchestrators/provision-types';
import { checkIntegrationHealth, HEALTH_ORCHESTRATOR } from '../orchestrators/check-health';
import { rotateCredentials } from '../orchestrators/rotate-credentials';
import { ROTATION_ORCHESTRATOR } from '../orchestrators/rotation-types';
import { createAlertHandlers } from './alerts';
import { createApprovalHandlers } from './approvals';
import { createDashboardHandler } from './dashboard';
import { deleteIntegration } from './decommission';
import { createHealthHandlers } from './health';
import { checkSettingsAtStartup, failFast } from './http';
import { getAudit, getIntegration, listIntegrations, startIntegration } from './integrations';
import { listProfiles } from './profiles';
import { listCredentials } from './inventory';
import { serviceNowBootstrapScript, serviceNowTrust } from './servicenow-trust';
import { serveOpenApi } from './openapi';
import { createRotationHandlers } from './rotation';
import { registerTriggers } from './triggers';

app.setup({ enableHttpStream: false });

// The settings are checked once, here, when the app loads: invalid ones are logged once by name and reason, and then
// every HTTP trigger answers 503 listing them and every timer, Event Grid trigger and activity throws the same
// ConfigError before doing anything (failFast). The functions are registered either way, so the app answers.
checkSettingsAtStartup();

// Orchestrations.
df.app.orchestration(PROVISION_ORCHESTRATOR, provisionIntegration);
df.app.orchestration(ROTATION_ORCHESTRATOR, rotateCredentials);
df.app.orchestration(DECOMMISSION_ORCHESTRATOR, decommissionIntegration);
df.app.orchestration(HEALTH_ORCHESTRATOR, checkIntegrationHealth);

// Activities: each entry of the catalogue under its key, with the app's dependencies and the invocation's log.
for (const [name, run] of Object.entries(activities))
  df.app.activity(name, { handler: failFast((input: unknown, ctx) => run(input as never, getDeps(), ctx)) });

// Triggers: HTTP API, approval links, rotation sweep and the Key Vault near-expiry event (src/functions/triggers.ts).
const approvals = createApprovalHandlers();
const rotation = createRotationHandlers();
const alerts = createAlertHandlers();
const health = createHealthHandlers();
registerTriggers({
  startIntegration,
  listIntegrations,
  getIntegration,
  getAudit,
  deleteIntegration,
  listProfiles,
  listCredentials,
  serviceNowBootstrap: serviceNowBootstrapScript,
  serviceNowTrust,
  openApiDocument: serveOpenApi,
  rotateIntegration: rotation.rotate,
  getRotation: rotation.status,
  dashboard: createDashboardHandler(),
  approvalPage: approvals.page,
  approvalDecision: approvals.decide,
  rotationSweep: rotation.sweep,
  secretNearExpiry: rotation.nearExpiry,
  alertSweep: alerts.sweep,
  checkHealth: health.check,
  getHealthCheck: health.status,
  healthSweep: health.sweep,
});
