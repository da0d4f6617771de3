/**
 * The one module that registers every function (package.json `main`). Handler modules have no side effects, so
 * tests import them directly; the sandbox's function router loads this module and captures the registrations.
 */
import { app } from '@azure/functions';
import * as df from 'durable-functions';

import { sendApprovalRequestsHandler } from '../activities/approval';
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
import { provisionIntegration } from '../orchestrators/provisionIntegration';
import { PROVISION_ORCHESTRATOR } from '../orchestrators/provisionTypes';
import { APPROVAL_ROUTES } from './approvals';
import { getIntegrationHandler, listIntegrationsHandler, startIntegrationHandler } from './integrations';

app.setup({ enableHttpStream: false });

// Orchestrations
df.app.orchestration(PROVISION_ORCHESTRATOR, provisionIntegration);

// Activities: every name in ACTIVITY has exactly one handler (checked by test/functions/index.test.ts).
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
};
for (const [name, handler] of Object.entries(activities)) df.app.activity(name, { handler });

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
