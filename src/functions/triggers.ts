/**
 * Every trigger of the app in one table: name, kind and binding (route, methods, auth level, schedule), and the one
 * function that registers them (`registerTriggers`, called by src/functions/index.ts with the production handlers and
 * by test fixtures with handlers built on their own dependencies). HTTP handlers go behind the error boundary (RFC 9457
 * problem documents, 503 listing invalid settings, never a 500 for input); timer and Event Grid handlers behind
 * `failFast`, so invalid settings stop them before they do anything.
 *
 * Function keys protect the integrations API (`authLevel: 'function'`,
 * https://learn.microsoft.com/azure/azure-functions/function-keys-how-to); the approval pages are anonymous because the
 * single-use token in the link protects them.
 */
import type {
  EventGridEvent,
  HttpMethod,
  HttpRequest,
  HttpResponseInit,
  HttpTriggerOptions,
  InvocationContext,
  Timer as TimerInfo,
} from '@azure/functions';
import * as df from 'durable-functions';
import type { DurableClient } from 'durable-functions';

import { failFast, withErrorBoundary } from './http';

/** The handler shapes of durable client triggers (durable-functions' `df.app.client.*`). */
export type TimerClientHandler = (timer: TimerInfo, client: DurableClient, ctx: InvocationContext) => Promise<void>;
export type HttpClientHandler = (
  req: HttpRequest,
  client: DurableClient,
  ctx: InvocationContext,
) => Promise<HttpResponseInit>;
export type EventGridClientHandler = (
  event: EventGridEvent,
  client: DurableClient,
  ctx: InvocationContext,
) => Promise<void>;

type Http = { kind: 'http'; route: string; methods: readonly HttpMethod[]; authLevel: HttpTriggerOptions['authLevel'] };
type TimerBinding = { kind: 'timer'; schedule: string };
type EventGrid = { kind: 'eventGrid' };

export const TRIGGERS = {
  // The integrations API (function key).
  startIntegration: { kind: 'http', route: 'integrations', methods: ['POST'], authLevel: 'function' },
  listIntegrations: { kind: 'http', route: 'integrations', methods: ['GET'], authLevel: 'function' },
  getIntegration: { kind: 'http', route: 'integrations/{id}', methods: ['GET'], authLevel: 'function' },
  getAudit: { kind: 'http', route: 'integrations/{id}/audit', methods: ['GET'], authLevel: 'function' },
  deleteIntegration: { kind: 'http', route: 'integrations/{id}', methods: ['DELETE'], authLevel: 'function' },
  listProfiles: { kind: 'http', route: 'profiles', methods: ['GET'], authLevel: 'function' },
  listCredentials: { kind: 'http', route: 'credentials', methods: ['GET'], authLevel: 'function' },
  // Connecting a ServiceNow instance to the control plane (token trust, no password): the bootstrap script and its check.
  serviceNowBootstrap: { kind: 'http', route: 'servicenow/bootstrap', methods: ['GET'], authLevel: 'function' },
  serviceNowTrust: {
    kind: 'http',
    route: 'servicenow/instances/{name}/trust',
    methods: ['GET'],
    authLevel: 'function',
  },
  // The OpenAPI 3.1 document of this API (function key, like the API it describes).
  openApiDocument: { kind: 'http', route: 'openapi.json', methods: ['GET'], authLevel: 'function' },
  rotateIntegration: { kind: 'http', route: 'integrations/{id}/rotate', methods: ['POST'], authLevel: 'function' },
  getRotation: {
    kind: 'http',
    route: 'integrations/{id}/rotations/{instanceId}',
    methods: ['GET'],
    authLevel: 'function',
  },
  // The operator dashboard (function key; in Azure also Easy Auth sign-in, infra/app/auth.bicep). One function for
  // every page, so one function key opens them all: `dashboard` and `dashboard/integrations/{id}` (catch-all path).
  dashboard: { kind: 'http', route: 'dashboard/{*path}', methods: ['GET'], authLevel: 'function' },
  checkHealth: { kind: 'http', route: 'integrations/{id}/health', methods: ['POST'], authLevel: 'function' },
  getHealthCheck: {
    kind: 'http',
    route: 'integrations/{id}/health/{instanceId}',
    methods: ['GET'],
    authLevel: 'function',
  },
  // The emailed approval and hand-off links (anonymous: the token protects them).
  approvalPage: { kind: 'http', route: 'approvals/{instanceId}', methods: ['GET', 'HEAD'], authLevel: 'anonymous' },
  approvalDecision: { kind: 'http', route: 'approvals/{instanceId}', methods: ['POST'], authLevel: 'anonymous' },
  // The daily rotation sweep (NCRONTAB from the ROTATION_SCHEDULE setting).
  rotationSweep: { kind: 'timer', schedule: '%ROTATION_SCHEDULE%' },
  // The daily health and drift check (NCRONTAB from the HEALTH_SCHEDULE setting).
  healthSweep: { kind: 'timer', schedule: '%HEALTH_SCHEDULE%' },
  // Key Vault's Microsoft.KeyVault.SecretNearExpiry event through an Event Grid subscription (infra/app/keyvault-events.bicep).
  secretNearExpiry: { kind: 'eventGrid' },
  // The alert sweep (NCRONTAB from the ALERT_SCHEDULE setting, hourly by default).
  alertSweep: { kind: 'timer', schedule: '%ALERT_SCHEDULE%' },
} as const satisfies Record<string, Http | TimerBinding | EventGrid>;

export type TriggerName = keyof typeof TRIGGERS;

/** The handler each trigger kind takes. */
export type TriggerHandlers = {
  [K in TriggerName]: (typeof TRIGGERS)[K] extends { kind: 'http' }
    ? HttpClientHandler
    : (typeof TRIGGERS)[K] extends { kind: 'timer' }
      ? TimerClientHandler
      : EventGridClientHandler;
};

/** Registers every trigger of the app: a handler for each entry of TRIGGERS (a missing one does not compile). */
export function registerTriggers(handlers: TriggerHandlers): void {
  registerSomeTriggers(handlers);
}

/** Registers some triggers (test fixtures that serve a part of the app with their own dependencies). */
export function registerSomeTriggers(handlers: Partial<TriggerHandlers>): void {
  for (const [name, handler] of Object.entries(handlers) as [TriggerName, TriggerHandlers[TriggerName]][]) {
    const t: Http | TimerBinding | EventGrid = TRIGGERS[name];
    if (t.kind === 'http')
      df.app.client.http(name, {
        route: t.route,
        methods: [...t.methods],
        authLevel: t.authLevel,
        handler: withErrorBoundary(handler as HttpClientHandler),
      });
    else if (t.kind === 'timer')
      df.app.client.timer(name, { schedule: t.schedule, handler: failFast(handler as TimerClientHandler) });
    else df.app.client.eventGrid(name, { handler: failFast(handler as EventGridClientHandler) });
  }
}
