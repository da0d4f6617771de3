/**
 * Checks an HTTP answer of the app against its OpenAPI 3.1 document (src/functions/openapi.ts): the operation exists,
 * the status is documented for it, the media type is one it documents, and a JSON body is valid against the schema
 * (a JSON Schema 2020-12 validator, @cfworker/json-schema, with the whole document loaded so `$ref`s resolve). The e2e
 * helpers (test/e2e/api-driver.ts) run every answer they receive through `assertDocumented`.
 */
import { Validator, type Schema } from '@cfworker/json-schema';

import { buildOpenApiDocument } from '../../src/functions/openapi';
import type { OpenApiDocument } from '../../src/functions/openapi-schema';

const DOC_URI = 'https://openapi.invalid/openapi.json';

interface MediaType {
  schema?: Schema;
}
interface ResponseObject {
  description: string;
  content?: Record<string, MediaType>;
}
type Operation = { responses: Record<string, ResponseObject> };

export interface ObservedAnswer {
  method: string;
  /** The URL requested (absolute, or a path with query). */
  url: string;
  status: number;
  contentType: string | null;
  body: string;
}

const escape = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');

export class OpenApiChecker {
  private readonly validators = new Map<string, Validator>();
  private readonly templates: { path: string; re: RegExp; literal: number }[];

  constructor(readonly doc: OpenApiDocument = buildOpenApiDocument()) {
    this.templates = Object.entries(doc.paths)
      .map(([path, item]) => {
        // A catch-all parameter (`x-catch-all`, the host's `{*name}`) may hold `/`; any other one is one segment.
        const catchAll = new Set(
          Object.values(item as Record<string, { parameters?: { name: string; 'x-catch-all'?: boolean }[] }>)
            .flatMap((op) => op.parameters ?? [])
            .filter((p) => p['x-catch-all'])
            .map((p) => p.name),
        );
        // The host's catch-all also matches nothing at all (`dashboard/{*path}` serves `/api/dashboard`).
        const pattern = path
          .replace(/[.*+?^$()|[\]\\]/g, '\\$&')
          .replace(/\/\{(\w+)\}/g, (_, name: string) => (catchAll.has(name) ? '(?:/.*)?' : '/[^/]+'));
        return { path, re: new RegExp(`^${pattern}$`), literal: path.replace(/\{\w+\}/g, '').length };
      })
      // A literal segment wins over a template one (e.g. `/api/integrations` over `/api/{x}`).
      .sort((a, b) => b.literal - a.literal);
  }

  /** The document's path template a request path falls under. */
  pathOf(pathname: string): string | undefined {
    return this.templates.find((t) => t.re.test(pathname))?.path;
  }

  private validator(pointer: string): Validator {
    let v = this.validators.get(pointer);
    if (!v) {
      v = new Validator({ $ref: `${DOC_URI}#${pointer}` }, '2020-12', false);
      v.addSchema(this.doc, DOC_URI);
      this.validators.set(pointer, v);
    }
    return v;
  }

  /** Every way the answer departs from the document (empty when it conforms). */
  problems(a: ObservedAnswer): string[] {
    const url = new URL(a.url, 'https://app.invalid');
    const method = a.method.toLowerCase();
    const what = `${a.method.toUpperCase()} ${url.pathname} → ${a.status}`;
    const path = this.pathOf(url.pathname);
    const op = path ? (this.doc.paths[path][method] as Operation | undefined) : undefined;
    // A route or method the app does not serve: the Functions host answers 404 itself.
    if (!op) return a.status === 404 ? [] : [`${what}: no operation in the OpenAPI document`];
    const response = op.responses[String(a.status)];
    if (!response) return [`${what}: status not documented (documented: ${Object.keys(op.responses).join(', ')})`];
    const content = response.content ?? {};
    if (!Object.keys(content).length || method === 'head')
      return a.body === '' ? [] : [`${what}: the document says no body, got ${a.body.length} bytes`];
    const mediaType = (a.contentType ?? '').split(';')[0].trim().toLowerCase();
    if (!content[mediaType])
      return [`${what}: content type '${mediaType}' not documented (documented: ${Object.keys(content).join(', ')})`];
    if (!/json$/.test(mediaType)) return [];
    let body: unknown;
    try {
      body = JSON.parse(a.body);
    } catch {
      return [`${what}: body is not JSON`];
    }
    const pointer = ['', 'paths', path!, method, 'responses', String(a.status), 'content', mediaType, 'schema']
      .map(escape)
      .join('/');
    const result = this.validator(pointer).validate(body);
    if (result.valid) return [];
    // The leaf errors say what is wrong; the "subschema had errors" lines above them only repeat it.
    const leaves = result.errors.filter((e) => !/subschema|did not match|does not match schema/i.test(e.error));
    return (leaves.length ? leaves : result.errors)
      .slice(0, 10)
      .map((e) => `${what}: ${e.instanceLocation} ${e.error} (${e.keywordLocation})`);
  }

  /** Throws listing every problem: an answer the document does not describe fails the test that received it. */
  assertDocumented(a: ObservedAnswer): void {
    const problems = this.problems(a);
    if (problems.length) throw new Error(`answer does not match the OpenAPI document:\n- ${problems.join('\n- ')}`);
  }
}

let shared: OpenApiChecker | undefined;
/** One checker per test file (the document is built once). */
export const openApiChecker = (): OpenApiChecker => (shared ??= new OpenApiChecker());
