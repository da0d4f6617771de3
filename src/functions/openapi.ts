/**
 * GET /api/openapi.json: the OpenAPI 3.1 document of the whole HTTP API (https://spec.openapis.org/oas/v3.1.0),
 * generated from the TRIGGERS table (routes, methods, auth levels) and the zod schemas the handlers validate requests
 * with and answer with (src/functions/api-operations.ts), through zod's own JSON Schema 2020-12 output
 * (`z.toJSONSchema`, https://zod.dev/json-schema). Errors are RFC 9457 problem documents
 * (`application/problem+json`, components.schemas.Problem).
 *
 * Behind the function key like the API it describes: the document tells nobody anything they could not learn with a
 * key, but it maps every route and validation rule of the app, and the only callers that need it (ServiceNow flows,
 * tooling) hold a key anyway; only the emailed approval links are anonymous
 * (https://learn.microsoft.com/azure/azure-functions/function-keys-how-to).
 */
import type { HttpResponseInit } from '@azure/functions';
import * as z from 'zod';

import { API_OPERATIONS, type OperationDoc, type ResponseDoc } from './api-operations';
import { json, problemSchema } from './http';
import type { OpenApiDocument } from './openapi-schema';
import { TRIGGERS } from './triggers';

type JsonSchema = Record<string, unknown>;

/** A zod schema as JSON Schema 2020-12, to embed in the document (`io: 'input'` for what a request may send). */
export function jsonSchemaOf(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io,
    unrepresentable: 'any',
  }) as JsonSchema;
  // Embedded schemas must stand alone: a `$defs` reference (`#/$defs/...`) would point at the document's root.
  if ('$defs' in rest) throw new Error('an API schema must not be recursive or use registered ids ($defs)');
  return rest;
}

const PROBLEM_REF = { $ref: '#/components/schemas/Problem' };
const PROBLEM_CONTENT = { 'application/problem+json': { schema: PROBLEM_REF } };

function responseObject(r: ResponseDoc): Record<string, unknown> {
  const content: Record<string, unknown> = {
    ...(r.json ? { 'application/json': { schema: jsonSchemaOf(r.json, 'output') } } : {}),
    ...(r.problem ? PROBLEM_CONTENT : {}),
    ...(r.html ? { 'text/html': { schema: { type: 'string' } } } : {}),
    ...(r.csv ? { 'text/csv': { schema: { type: 'string' } } } : {}),
    ...(r.text ? { 'text/plain': { schema: { type: 'string' } } } : {}),
  };
  return { description: r.description, ...(Object.keys(content).length ? { content } : {}) };
}

/** Responses every operation has, added to (or merged into) what the table says. */
function commonResponses(authLevel: string): Record<number, ResponseDoc> {
  const common: Record<number, ResponseDoc> = {
    500: { description: 'Internal error (no details)', problem: true },
    503: {
      description: 'The app settings are invalid (each listed), or a dependency could not be asked',
      problem: true,
    },
  };
  if (authLevel !== 'anonymous')
    common[401] = { description: 'No valid function key (answered by the Functions host, without a body)' };
  return common;
}

/**
 * The OpenAPI path of a Functions route: `/api/` + the route, with the host's optional `{name?}` and catch-all
 * `{*name}` parameters written as plain `{name}` (OpenAPI path templates have neither,
 * https://spec.openapis.org/oas/v3.1.0#path-templating); a catch-all parameter is marked `x-catch-all` (it may hold
 * `/`).
 */
export const openApiPath = (route: string): string => `/api/${route.replace(/\{\*?(\w+)\??\}/g, '{$1}')}`;

const routeParams = (route: string): { name: string; catchAll: boolean }[] =>
  [...route.matchAll(/\{(\*?)(\w+)\??\}/g)].map((m) => ({ name: m[2], catchAll: m[1] === '*' }));

function operationObject(name: string, method: string, route: string, authLevel: string, op: OperationDoc) {
  const parameters: Record<string, unknown>[] = routeParams(route).map(({ name: p, catchAll }) => ({
    name: p,
    in: 'path',
    required: true,
    schema: op.path?.[p] ? jsonSchemaOf(op.path[p], 'input') : { type: 'string' },
    ...(catchAll ? { 'x-catch-all': true } : {}),
  }));
  if (op.query) {
    const q = jsonSchemaOf(op.query, 'input') as { properties?: Record<string, JsonSchema>; required?: string[] };
    for (const [p, schema] of Object.entries(q.properties ?? {}))
      parameters.push({ name: p, in: 'query', required: q.required?.includes(p) ?? false, schema });
  }
  const responses: Record<string, unknown> = {};
  const table = op.responses;
  const common = commonResponses(authLevel);
  for (const status of [...new Set([...Object.keys(table), ...Object.keys(common)].map(Number))].sort()) {
    const own = table[status];
    const extra = common[status];
    // A status the handler answers itself and the error boundary answers too (503): both bodies are possible.
    const merged: ResponseDoc | undefined =
      own && extra ? { ...own, problem: own.problem ?? extra.problem } : (own ?? extra);
    if (merged) responses[String(status)] = responseObject(merged);
  }
  return {
    operationId: method === 'head' ? `${name}Head` : name,
    summary: op.summary,
    ...(op.description ? { description: op.description } : {}),
    security: authLevel === 'anonymous' ? [] : [{ functionKey: [] }, { functionKeyQuery: [] }],
    ...(parameters.length ? { parameters } : {}),
    ...(op.body
      ? {
          requestBody: {
            required: op.body.required,
            content: {
              ...(op.body.json ? { 'application/json': { schema: jsonSchemaOf(op.body.json, 'input') } } : {}),
              ...(op.body.form
                ? { 'application/x-www-form-urlencoded': { schema: jsonSchemaOf(op.body.form, 'input') } }
                : {}),
            },
          },
        }
      : {}),
    responses,
  };
}

/** The version of the API this document describes (OpenAPI `info.version`); bump it when the API changes. */
export const API_VERSION = '1.0.0';

/** Builds the document (pure; the same every time for one build of the app). */
export function buildOpenApiDocument(version = API_VERSION): OpenApiDocument {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [name, t] of Object.entries(TRIGGERS)) {
    if (t.kind !== 'http') continue;
    const ops = API_OPERATIONS[name as keyof typeof API_OPERATIONS] as Record<string, OperationDoc | undefined>;
    const item = (paths[openApiPath(t.route)] ??= {});
    for (const m of t.methods) {
      const method = m.toLowerCase();
      const op = ops[method];
      if (!op) throw new Error(`no OpenAPI operation for ${m} ${openApiPath(t.route)} (${name})`);
      item[method] = operationObject(name, method, t.route, t.authLevel, op);
    }
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'm365-snow-provisioner',
      version,
      description:
        'Provisions and rotates the Entra app registrations, Key Vault secrets and ServiceNow records that connect ' +
        'ServiceNow to Microsoft 365. Errors are RFC 9457 problem documents listing every problem.',
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    paths,
    components: {
      schemas: { Problem: jsonSchemaOf(problemSchema, 'output') },
      securitySchemes: {
        functionKey: { type: 'apiKey', in: 'header', name: 'x-functions-key' },
        functionKeyQuery: { type: 'apiKey', in: 'query', name: 'code' },
      },
    },
  };
}

let cached: OpenApiDocument | undefined;

export async function serveOpenApi(): Promise<HttpResponseInit> {
  cached ??= buildOpenApiDocument();
  return json(200, cached);
}
