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
import type * as Alerts from './alerts';
import type * as Approvals from './approvals';
import type * as Dashboard from './dashboard';
import type * as Decommission from './decommission';
import type * as Health from './health';
import { checkSettingsAtStartup, failFast } from './http';
import type * as Integrations from './integrations';
import type * as Profiles from './profiles';
import type * as Inventory from './inventory';
import type * as ServiceNowTrust from './servicenow-trust';
import type * as OpenApi from './openapi';
import type * as Rotation from './rotation';
import {
  registerTriggers,
  type EventGridClientHandler,
  type HttpClientHandler,
  type TimerClientHandler,
} from './triggers';

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
// Each trigger's module (its request schemas, pages, OpenAPI document) is loaded on the first call of one of its
// functions, not when the app loads: every cold start loads the app, an invocation needs one module. Literal requires,
// so that the bundler (scripts/package.cjs) still includes them; the handler factories still run once per process.
/* eslint-disable @typescript-eslint/no-require-imports -- loaded on first use, see above */
const integrations = onFirstUse(() => require('./integrations') as typeof Integrations);
const decommission = onFirstUse(() => require('./decommission') as typeof Decommission);
const profiles = onFirstUse(() => require('./profiles') as typeof Profiles);
const inventory = onFirstUse(() => require('./inventory') as typeof Inventory);
const serviceNowTrust = onFirstUse(() => require('./servicenow-trust') as typeof ServiceNowTrust);
const openApi = onFirstUse(() => require('./openapi') as typeof OpenApi);
const approvals = onFirstUse(() => (require('./approvals') as typeof Approvals).createApprovalHandlers());
const rotation = onFirstUse(() => (require('./rotation') as typeof Rotation).createRotationHandlers());
const alerts = onFirstUse(() => (require('./alerts') as typeof Alerts).createAlertHandlers());
const health = onFirstUse(() => (require('./health') as typeof Health).createHealthHandlers());
const dashboard = onFirstUse(() => (require('./dashboard') as typeof Dashboard).createDashboardHandler());
/* eslint-enable @typescript-eslint/no-require-imports */
registerTriggers({
  startIntegration: http(() => integrations().startIntegration),
  listIntegrations: http(() => integrations().listIntegrations),
  getIntegration: http(() => integrations().getIntegration),
  getAudit: http(() => integrations().getAudit),
  deleteIntegration: http(() => decommission().deleteIntegration),
  listProfiles: http(() => profiles().listProfiles),
  listCredentials: http(() => inventory().listCredentials),
  serviceNowBootstrap: http(() => serviceNowTrust().serviceNowBootstrapScript),
  serviceNowTrust: http(() => serviceNowTrust().serviceNowTrust),
  openApiDocument: http(() => openApi().serveOpenApi),
  rotateIntegration: http(() => rotation().rotate),
  getRotation: http(() => rotation().status),
  dashboard: http(dashboard),
  approvalPage: http(() => approvals().page),
  approvalDecision: http(() => approvals().decide),
  rotationSweep: timer(() => rotation().sweep),
  secretNearExpiry: eventGrid(() => rotation().nearExpiry),
  alertSweep: timer(() => alerts().sweep),
  checkHealth: http(() => health().check),
  getHealthCheck: http(() => health().status),
  healthSweep: timer(() => health().sweep),
});

/** `load` run on the first call; later calls return its result. */
function onFirstUse<T>(load: () => T): () => T {
  let loaded: { value: T } | undefined;
  return () => (loaded ??= { value: load() }).value;
}

/** A handler that calls the one `handler()` returns, on each invocation (its module loaded on the first). */
function http(handler: () => HttpClientHandler): HttpClientHandler {
  return (req, client, ctx) => handler()(req, client, ctx);
}
function timer(handler: () => TimerClientHandler): TimerClientHandler {
  return (info, client, ctx) => handler()(info, client, ctx);
}
function eventGrid(handler: () => EventGridClientHandler): EventGridClientHandler {
  return (event, client, ctx) => handler()(event, client, ctx);
}
