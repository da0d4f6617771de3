/**
 * What each HTTP trigger of TRIGGERS (src/functions/triggers.ts) takes and answers, as the zod schemas its handler
 * validates with and answers with (defined next to the handlers). The OpenAPI 3.1 document (src/functions/openapi.ts)
 * is generated from this table, so the document cannot describe another API than the one that validates.
 *
 * Adding an HTTP route: its TRIGGERS entry, and here one entry under the same name with an operation per method. The
 * type `ApiOperations` requires exactly that (a trigger without its entry, or a method without its operation, does
 * not compile), and test/functions/openapi.test.ts fails for a route the document lacks. Responses every operation
 * has (401 without the function key, 500, 503 with invalid settings) are added by the generator.
 */
import * as z from 'zod';

import { decommissionRequestSchema } from '../api/decommission-request';
import { integrationIdSchema, integrationRequestSchema } from '../api/integration-request';
import { credentialListSchema, credentialQuerySchema } from '../inventory/credentials';
import { approvalFormSchema, approvalPageQuerySchema } from './approvals';
import { decommissionAnswerSchema } from './decommission';
import { healthQuerySchema, healthStartedSchema, healthStatusSchema } from './health';
import {
  auditListSchema,
  integrationAcceptedSchema,
  integrationListSchema,
  integrationViewSchema,
  startQuerySchema,
} from './integrations';
import { openApiDocumentSchema } from './openapi-schema';
import { profileListSchema } from './profiles';
import { rotateBodySchema, rotationInstanceIdSchema, rotationStartedSchema, rotationStatusSchema } from './rotation';
import { bootstrapQuerySchema, trustPathSchema, trustReportSchema } from './servicenow-trust';
import type { TRIGGERS, TriggerName } from './triggers';

/** One response: a JSON body (its schema), a problem document, an HTML page, CSV, plain text, or nothing. */
export interface ResponseDoc {
  description: string;
  json?: z.ZodType;
  problem?: true;
  html?: true;
  csv?: true;
  text?: true;
}

export interface OperationDoc {
  summary: string;
  description?: string;
  /** Path parameters by name (a route's `{name}` without an entry is a plain string). */
  path?: Record<string, z.ZodType>;
  /** Query parameters: the schema the handler validates them with. */
  query?: z.ZodObject;
  /** The request body: JSON or an HTML form, and whether it may be absent. */
  body?: { json?: z.ZodType; form?: z.ZodObject; required: boolean };
  responses: Record<number, ResponseDoc>;
}

export type HttpTriggerName = {
  [K in TriggerName]: (typeof TRIGGERS)[K] extends { kind: 'http' } ? K : never;
}[TriggerName];
type MethodOf<K extends HttpTriggerName> = Lowercase<(typeof TRIGGERS)[K]['methods'][number]>;

/** An operation for every method of every HTTP trigger. */
export type ApiOperations = { [K in HttpTriggerName]: { [M in MethodOf<K>]: OperationDoc } };

const problem = (description: string): ResponseDoc => ({ description, problem: true });
const badRequest = problem('Invalid request: every problem listed in `errors` (field and message)');
const tooLarge = problem('Content Too Large: the body is over the cap');
const idParam = { id: integrationIdSchema };
const page = (description: string): ResponseDoc => ({ description, html: true });

export const API_OPERATIONS: ApiOperations = {
  startIntegration: {
    post: {
      summary: 'Start provisioning an integration',
      description:
        'Validated at the edge (every problem listed). 202 when a run starts, 409 while one runs, 200 with the ' +
        'integration when it is done (`?reprovision=true` runs it again).',
      query: startQuerySchema,
      body: { json: integrationRequestSchema, required: true },
      responses: {
        200: { description: 'Already provisioned: the integration', json: integrationViewSchema },
        202: { description: 'Provisioning started', json: integrationAcceptedSchema },
        400: badRequest,
        409: {
          description: 'A run of this integration is running (JSON), or it is decommissioned (problem)',
          json: integrationAcceptedSchema,
          problem: true,
        },
        413: tooLarge,
      },
    },
  },
  listIntegrations: {
    get: {
      summary: 'Every integration in the registry',
      responses: { 200: { description: 'The integrations', json: integrationListSchema } },
    },
  },
  getIntegration: {
    get: {
      summary: 'One integration: status, steps, what was created, checks',
      path: idParam,
      responses: {
        200: { description: 'The integration', json: integrationViewSchema },
        400: badRequest,
        404: problem('No such integration'),
      },
    },
  },
  getAudit: {
    get: {
      summary: "An integration's audit trail, oldest first",
      description:
        'Every request, plan put to approvers, decision (who, when, through which link and round), activation, ' +
        'rotation, hand-off confirmation, health finding, alert and decommissioning step. Append-only.',
      path: idParam,
      responses: {
        200: { description: 'The audit trail', json: auditListSchema },
        400: badRequest,
        404: problem('No such integration'),
      },
    },
  },
  deleteIntegration: {
    delete: {
      summary: 'Decommission an integration (after an approval through the same gate as provisioning)',
      description:
        'Removes exactly what the integration owns once approved. 202 when the run starts, 200 with the outcome ' +
        'once decommissioned, 409 while a run of it is in progress.',
      path: idParam,
      body: { json: decommissionRequestSchema, required: false },
      responses: {
        200: { description: 'Already decommissioned', json: decommissionAnswerSchema },
        202: { description: 'Decommissioning started', json: decommissionAnswerSchema },
        400: badRequest,
        404: problem('No such integration'),
        409: { description: 'A run of this integration is in progress', json: decommissionAnswerSchema },
        413: tooLarge,
      },
    },
  },
  checkHealth: {
    post: {
      summary: 'Run the health and drift check of an active integration now (`repair=true` puts drift back)',
      path: idParam,
      query: healthQuerySchema,
      responses: {
        202: { description: 'Check started', json: healthStartedSchema },
        400: badRequest,
        404: problem('No such integration'),
        409: {
          description: 'A check is running (JSON), or the integration cannot be checked now (problem)',
          json: healthStartedSchema,
          problem: true,
        },
      },
    },
  },
  getHealthCheck: {
    get: {
      summary: "A health check's step and result",
      path: { ...idParam, instanceId: rotationInstanceIdSchema },
      responses: {
        200: { description: 'The health check', json: healthStatusSchema },
        404: problem('No such health check'),
      },
    },
  },
  dashboard: {
    get: {
      summary: 'The operator dashboard: the fleet at a glance, and one page per integration (HTML, no script)',
      description:
        '`dashboard` is the overview, `dashboard/integrations/{id}` a detail page. In Azure it sits behind App ' +
        'Service Authentication restricted to an operator group.',
      path: { path: z.string() },
      responses: {
        200: page('The page'),
        400: badRequest,
        // With EASY_AUTH_ENABLED and no signed-in operator: a page with the sign-in link (the host's 401 has no body).
        401: page('Sign-in required (no signed-in operator), or no valid function key (no body)'),
        404: problem('No such page or integration'),
      },
    },
  },
  listProfiles: {
    get: {
      summary: 'The integration profiles this deployment provisions',
      responses: { 200: { description: 'The profiles', json: profileListSchema } },
    },
  },
  listCredentials: {
    get: {
      summary: 'The credential inventory of every integration (JSON, or CSV with `format=csv`)',
      description:
        'One row per app credential, soonest expiry first, with the next rotation date (the rotation rule), the ' +
        'last time the integration was verified and the secret consumers with their confirmations.',
      query: credentialQuerySchema,
      responses: {
        200: { description: 'The inventory', json: credentialListSchema, csv: true },
        400: badRequest,
      },
    },
  },
  serviceNowBootstrap: {
    get: {
      summary: "The background script that makes a ServiceNow instance trust this app's managed identity",
      description:
        'An instance administrator runs it once (System Definition > Scripts - Background): it ensures an OIDC ' +
        "provider configuration for this tenant's v2 metadata, an OIDC entity whose client id is the token audience, " +
        "and a web-service-only machine user whose user_name is the identity's object id, with exactly the roles the " +
        'registered profiles need (listed and justified in its comments). Idempotent. Names no secret.',
      query: bootstrapQuerySchema,
      responses: {
        200: { description: 'The script (text/plain)', text: true },
        400: badRequest,
        409: problem('The deployment lacks SERVICENOW_TOKEN_AUDIENCE or SERVICENOW_IDENTITY_OBJECT_ID (each listed)'),
      },
    },
  },
  serviceNowTrust: {
    get: {
      summary: 'Checks that a ServiceNow instance accepts our token, and says what is wrong',
      description:
        'Gets a token for the audience, compares its claims with the settings, and reads the machine user and its ' +
        'roles with it (read-only). 200 with `ok` and the problems, if any.',
      path: { name: trustPathSchema },
      responses: {
        200: { description: 'The trust report', json: trustReportSchema },
        400: badRequest,
        409: problem('The deployment lacks SERVICENOW_TOKEN_AUDIENCE or SERVICENOW_IDENTITY_OBJECT_ID (each listed)'),
      },
    },
  },
  openApiDocument: {
    get: {
      summary: 'This document (OpenAPI 3.1)',
      responses: { 200: { description: 'The OpenAPI document', json: openApiDocumentSchema } },
    },
  },
  rotateIntegration: {
    post: {
      summary: 'Rotate the client secrets of an active integration now',
      path: idParam,
      body: { json: rotateBodySchema([]), required: false },
      responses: {
        200: { description: "Today's rotation already completed", json: rotationStartedSchema },
        202: { description: 'Rotation started', json: rotationStartedSchema },
        400: badRequest,
        404: problem('No such integration'),
        409: {
          description: 'A rotation is running (JSON), or the integration cannot be rotated (problem)',
          json: rotationStartedSchema,
          problem: true,
        },
        413: tooLarge,
      },
    },
  },
  getRotation: {
    get: {
      summary: "A rotation's step log",
      path: { ...idParam, instanceId: rotationInstanceIdSchema },
      responses: {
        200: { description: 'The rotation', json: rotationStatusSchema },
        404: problem('No such rotation'),
      },
    },
  },
  approvalPage: {
    get: {
      summary: 'The page of an emailed approval or hand-off link (renders, decides nothing)',
      query: approvalPageQuerySchema,
      responses: {
        200: page('The plan and the decision form'),
        400: page('Bad request'),
        403: page('Not allowed'),
        404: page('Unknown link'),
        409: page('Already decided'),
        410: page('Expired, used or closed'),
        503: page('Unavailable, try again'),
      },
    },
    head: {
      summary: 'Whether an emailed link is usable (no body)',
      query: approvalPageQuerySchema,
      responses: {
        200: { description: 'Usable' },
        400: { description: 'Bad request' },
        403: { description: 'Not allowed' },
        404: { description: 'Unknown link' },
        409: { description: 'Already decided' },
        410: { description: 'Expired, used or closed' },
        503: { description: 'Unavailable, try again' },
      },
    },
  },
  approvalDecision: {
    post: {
      summary: 'Decide (approve, reject) or confirm a hand-off (done) through an emailed link',
      body: { form: approvalFormSchema, required: true },
      responses: {
        200: page('Decision recorded'),
        400: page('Bad request'),
        403: page('Not allowed (CSRF check, approver no longer eligible)'),
        404: page('Unknown link'),
        409: page('Already decided'),
        410: page('Expired, used or closed'),
        503: page('Unavailable, try again'),
      },
    },
  },
};
