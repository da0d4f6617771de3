/**
 * Fuzzing the HTTP edge: over a thousand bad requests, generated from a fixed seed, against the integrations API
 * (POST /api/integrations, GET /api/integrations/{id}, POST /api/integrations/{id}/rotate) and the approval endpoints,
 * through the local Functions host serving the real entry module. Wrong types, huge strings, unicode and control
 * characters, bad JSON, deep nesting, oversized bodies, malformed paths and percent-encoding, wrong content types,
 * missing and wrong keys. Every answer is below 500, every JSON answer says `nosniff`, and nothing is created: no
 * orchestration, no registry row, no write to Graph, Key Vault or ServiceNow.
 */
import http from 'node:http';

import { csrfCookieName } from '../../src/approvals/csrf';
import { startLocalStack, type LocalStack } from '../../sandbox/stack';
import { productWrites, provisionRequest } from '../e2e/api-driver';

const SEED = 0x5eed_f022;
const COUNT = 1200;

/** mulberry32: a small, well-known 32-bit PRNG; the same seed gives the same requests on every run. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[int(0, xs.length - 1)];
  return { next, int, pick };
}
type Rng = ReturnType<typeof prng>;

interface FuzzRequest {
  what: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}
interface FuzzResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
}

// ---- values ----

const UNICODE = ['é', 'ß', 'Ω', '中文', '😀', '\u202e', '\u200b', '\ufeff', '\ud800', '\udfff', 'ﷺ', '\u0301'];
const CONTROL = ['\u0000', '\u0001', '\b', '\t', '\n', '\r', '\u001b', '\u007f', '\u0085', '\u2028'];
const PUNCT = ['^', '%', "'", '"', '<', '>', '&', '\\', '/', '..', '{', '}', '$', '*', '?', '#', ';', '|', '=', ' '];

function junkString(r: Rng, min: number, max: number, classes: string[][]): string {
  const n = r.int(min, max);
  const parts: string[] = [];
  let len = 0;
  while (len < n) {
    const piece = r.next() < 0.5 ? String.fromCharCode(r.int(0x61, 0x7a)) : r.pick(r.pick(classes));
    parts.push(piece);
    len += piece.length;
  }
  return parts.join('');
}

/** Percent-encodes a string, lone surrogates (which UTF-8 cannot carry) replaced by U+FFFD first. */
const enc = (v: string): string =>
  encodeURIComponent(v.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd'));

/** Nested arrays or objects `depth` levels deep. */
function deep(depth: number, kind: 'array' | 'object'): string {
  return kind === 'array'
    ? `${'['.repeat(depth)}1${']'.repeat(depth)}`
    : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

/**
 * A value wrong for a field, whatever field it is: only values no field accepts (no booleans where booleans are
 * valid, no plain unicode for free-text names).
 */
function badValue(r: Rng, field: string): unknown {
  const boolField = field.endsWith('testEnvironment') || field.endsWith('ipAllowlist');
  const freeText = field.endsWith('userName');
  // An empty list of grants and empty options are valid requests.
  const emptyOk = field === 'options.grantUsers' || field === 'options';
  const kinds = [
    'null',
    'number',
    'float',
    'bigNumber',
    ...(emptyOk ? [] : ['emptyArray', 'emptyObject']),
    'deepArray',
    'deepObject',
    'huge',
    'control',
    'longEmail',
    'emailWithControl',
    'arrayOfJunk',
    ...(boolField ? [] : ['bool']),
    ...(freeText ? [] : ['unicode', 'punct']),
  ];
  switch (r.pick(kinds)) {
    case 'null':
      return null;
    case 'number':
      return r.int(-1_000_000, 1_000_000);
    case 'float':
      return r.next() * 1e6 - 5e5 + 0.5;
    case 'bigNumber':
      return r.pick([1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, 5e-324]);
    case 'emptyArray':
      return [];
    case 'emptyObject':
      return {};
    case 'deepArray':
      return JSON.parse(deep(r.int(10, 400), 'array')) as unknown;
    case 'deepObject':
      return JSON.parse(deep(r.int(10, 400), 'object')) as unknown;
    case 'huge':
      return junkString(r, 300, 40_000, [UNICODE, PUNCT, CONTROL]);
    case 'control':
      return `${junkString(r, 0, 20, [PUNCT])}${r.pick(CONTROL)}${junkString(r, 0, 20, [UNICODE])}`;
    case 'longEmail':
      return `${'a'.repeat(r.int(250, 40_000))}@contoso.com`;
    case 'emailWithControl':
      return `ann${r.pick(CONTROL)}@contoso.com`;
    case 'arrayOfJunk':
      return Array.from({ length: r.int(1, 200) }, () => junkString(r, 1, 30, [UNICODE, CONTROL]));
    case 'bool':
      return r.next() < 0.5;
    case 'unicode':
      return junkString(r, 1, 60, [UNICODE]);
    default:
      return `x${r.pick(PUNCT)}${junkString(r, 1, 30, [PUNCT])}`;
  }
}

const FIELDS = [
  'tenant',
  'tenantName',
  'serviceNowInstance',
  'profile',
  'approvers',
  'approvers.0',
  'requestedBy',
  'ticket',
  'ticket.table',
  'ticket.sysId',
  'ticket.number',
  'options',
  'options.testEnvironment',
  'options.ipAllowlist',
  'options.grantUsers',
  'options.grantUsers.0',
  'options.grantUsers.0.userName',
  'options.grantUsers.0.role',
  'options.secretLifetimeDays',
  'options.redirectUri',
] as const;

/** Sets `path` (dots; numeric parts index arrays) in a copy of `obj`, creating containers on the way. */
function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let cur: Record<string, unknown> = obj;
  for (let i = 0; i < parts.length - 1; i++) {
    const key = parts[i];
    const nextIsIndex = /^\d+$/.test(parts[i + 1]);
    const existing = cur[key];
    if (typeof existing !== 'object' || existing === null) cur[key] = nextIsIndex ? [] : {};
    cur = cur[key] as Record<string, unknown>;
  }
  cur[parts[parts.length - 1]] = value;
}

// ---- request generators ----

function generators(stack: LocalStack) {
  const key = stack.host.functionKey;
  const valid = provisionRequest(stack, {
    ticket: { table: 'incident', number: 'INC0010001' },
    options: { testEnvironment: true, grantUsers: [{ userName: 'abel.tuter', role: 'insights_user' }] },
  });
  const json = (v: unknown) => Buffer.from(JSON.stringify(v));
  const withKey = (h: Record<string, string> = {}) => ({
    'content-type': 'application/json',
    'x-functions-key': key,
    ...h,
  });
  const wellFormedId = (r: Rng) =>
    `sn-${r.pick(['dev00000', 'a', 'x-y'])}-${r.int(0, 0xffffffff).toString(16).padStart(8, '0')}`;
  const junkId = (r: Rng) =>
    r.pick([
      () => enc(junkString(r, 1, 300, [UNICODE, PUNCT, CONTROL])),
      () => 'a'.repeat(r.int(64, 3000)),
      () => `sn-${'z'.repeat(r.int(60, 200))}-deadbeef`,
      () => `sn-dev00000-${'f'.repeat(r.int(9, 40))}`,
      () => r.pick(['%', '%z', '%zz', '%E0%A4%A', '%C0%AF', '%ED%A0%80', '%FF', 'a%', '%%', '%0']),
      () => `${enc(r.pick(CONTROL))}${r.int(0, 99)}`,
      () => r.pick(['..', '.', '%2e%2e', '%2F', 'a%2Fb', '~', '!$&()*+,;=']),
    ])();

  /** POST /api/integrations with a valid body broken in 1-3 fields (each value wrong for its field). */
  const mutated = (r: Rng): FuzzRequest => {
    const body = JSON.parse(JSON.stringify(valid)) as Record<string, unknown>;
    const fields = Array.from({ length: r.int(1, 3) }, () => r.pick(FIELDS));
    for (const f of fields) setPath(body, f, badValue(r, f));
    return {
      what: `mutated ${fields.join(',')}`,
      method: 'POST',
      path: '/api/integrations',
      headers: withKey(),
      body: json(body),
    };
  };

  const unknownKeys = (r: Rng): FuzzRequest => {
    const body: Record<string, unknown> = { ...valid };
    for (let i = r.int(1, 300); i > 0; i--) body[junkString(r, 1, r.pick([10, 500]), [UNICODE, PUNCT, CONTROL])] = i;
    if (r.next() < 0.5) body.options = { testEnvironment: true, [junkString(r, 1, 40, [PUNCT])]: badValue(r, 'x') };
    return { what: 'unknown keys', method: 'POST', path: '/api/integrations', headers: withKey(), body: json(body) };
  };

  const rawBody = (r: Rng): FuzzRequest => {
    const text = JSON.stringify(valid);
    const raw = r.pick([
      () => Buffer.from(text.slice(0, r.int(0, text.length - 1))),
      () => Buffer.from(text.replace(/"/g, "'")),
      () => Buffer.from(`${text},`),
      () => Buffer.from(text.replace('}', ',}')),
      () => Buffer.from(r.pick(['null', 'true', '0', '-1', '""', '"x"', '[]', '{}', 'NaN', 'Infinity', 'undefined'])),
      () => Buffer.from(deep(r.int(1_000, 30_000), r.pick(['array', 'object'] as const))),
      () => Buffer.from(Array.from({ length: r.int(1, 2000) }, () => r.int(0, 255))),
      () => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`{"tenant":"\\ud800${'\u0000'}"}`)]),
      () => Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x3a, 0x31, 0x7d]), // {"\xc3(":1} invalid UTF-8
      () => Buffer.from(`{"tenant":${'"a",'.repeat(r.int(1, 5000))}"b"}`), // duplicate keys
      () => Buffer.from(JSON.stringify({ ...valid, tenant: `${'\\u0000'.repeat(50)}` })),
    ])();
    return { what: 'raw body', method: 'POST', path: '/api/integrations', headers: withKey(), body: raw };
  };

  const oversized = (r: Rng): FuzzRequest => {
    const size = r.int(64 * 1024 + 1, 300 * 1024);
    const filler = JSON.stringify({ ...valid, tenantName: 'x'.repeat(size) });
    return {
      what: `oversized ${size}`,
      method: 'POST',
      path: '/api/integrations',
      headers: withKey(),
      body: Buffer.from(filler),
    };
  };

  const contentType = (r: Rng): FuzzRequest => {
    const type = r.pick([
      'text/plain',
      'application/xml',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/json; charset=utf-16',
      'application/octet-stream',
      '',
      '\u00e9/\u00e9',
      'a'.repeat(2000),
    ]);
    const broken = { ...valid, serviceNowInstance: badValue(r, 'serviceNowInstance') };
    const body = r.next() < 0.5 ? json(broken) : Buffer.from(`tenant=${encodeURIComponent(String(valid.tenant))}&x=1`);
    const headers = withKey({ 'content-type': type.replace(/[^\t\x20-\x7e]/g, '?') });
    return { what: `content-type ${type.slice(0, 30)}`, method: 'POST', path: '/api/integrations', headers, body };
  };

  /** A valid body, but no key, a wrong key or the key in the wrong place: 401 before anything runs. */
  const badKey = (r: Rng): FuzzRequest => {
    const wrong = r.pick([
      () => ({ path: '/api/integrations', headers: { 'content-type': 'application/json' } }),
      () => ({ path: '/api/integrations', headers: { 'content-type': 'application/json', 'x-functions-key': '' } }),
      () => ({
        path: '/api/integrations',
        headers: { 'content-type': 'application/json', 'x-functions-key': `${key}x` },
      }),
      () => ({
        path: '/api/integrations',
        headers: { 'content-type': 'application/json', 'x-functions-key': key.slice(0, -1) },
      }),
      () => ({
        path: `/api/integrations?code=${enc(junkString(r, 1, 80, [UNICODE, PUNCT]))}`,
        headers: { 'content-type': 'application/json' },
      }),
      () => ({
        path: '/api/integrations',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      }),
      () => ({
        path: '/api/integrations',
        headers: { 'content-type': 'application/json', 'x-functions-key': key.toUpperCase() },
      }),
    ])();
    return { what: 'bad key', method: 'POST', body: json(valid), ...wrong };
  };

  const getIntegration = (r: Rng): FuzzRequest => {
    const id = r.next() < 0.3 ? wellFormedId(r) : junkId(r);
    const query = r.next() < 0.3 ? `?${junkId(r)}=${junkId(r)}` : '';
    const headers = r.next() < 0.1 ? {} : withKey();
    return { what: 'get integration', method: 'GET', path: `/api/integrations/${id}${query}`, headers };
  };

  const rotate = (r: Rng): FuzzRequest => {
    const id = r.next() < 0.5 ? wellFormedId(r) : junkId(r);
    const body = r.pick([
      () => json({ roles: badValue(r, 'roles') }),
      () => json({ roles: Array.from({ length: r.int(1, 500) }, () => junkString(r, 1, 20, [UNICODE])) }),
      () => json({ [junkString(r, 1, 300, [PUNCT, UNICODE])]: 1 }),
      () => Buffer.from(deep(r.int(100, 3000), 'array')),
      () => Buffer.from('x'.repeat(r.int(4097, 20_000))),
      () => Buffer.from('{"roles":['),
      () => json(badValue(r, 'body')),
    ])();
    const headers = r.next() < 0.1 ? { 'content-type': 'application/json' } : withKey();
    return { what: 'rotate', method: 'POST', path: `/api/integrations/${id}/rotate`, headers, body };
  };

  /** The approval link (GET/HEAD) and the decision (POST): anonymous, so junk must fail on the token or the form. */
  const approval = (r: Rng): FuzzRequest => {
    const instance = r.next() < 0.5 ? `provision-${wellFormedId(r)}` : junkId(r);
    const token = enc(junkString(r, 0, r.pick([40, 3000]), [UNICODE, PUNCT, CONTROL]));
    const method = r.pick(['GET', 'HEAD', 'POST', 'POST', 'POST']);
    if (method !== 'POST')
      return { what: `approval ${method}`, method, path: `/api/approvals/${instance}?token=${token}`, headers: {} };
    const csrf = junkString(r, 1, 40, [PUNCT]).replace(/[;\s,]/g, '');
    const cookie = `${csrfCookieName(stack.host.baseUrl)}=${enc(csrf)}`;
    const decision = r.pick(['approve', 'reject', 'done', '', 'APPROVE', junkString(r, 1, 30, [UNICODE, CONTROL])]);
    const form = r.pick([
      () => `token=${token}&csrf=${enc(csrf)}&decision=${enc(decision)}`,
      () => `token=${token}&decision=approve`,
      () => `${'a=1&'.repeat(r.int(1, 3000))}`,
      () => junkString(r, 1, 6000, [PUNCT, UNICODE, CONTROL]),
      () => `token=%&csrf=%zz&decision=%E0%A4%A`,
    ])();
    const headers: Record<string, string> = {
      'content-type': r.pick(['application/x-www-form-urlencoded', 'application/json', 'text/plain', '']),
      ...(r.next() < 0.7 ? { cookie } : {}),
      ...(r.next() < 0.5 ? { origin: r.pick([stack.host.baseUrl, 'null', 'https://evil.example']) } : {}),
    };
    return { what: 'approval POST', method, path: `/api/approvals/${instance}`, headers, body: Buffer.from(form) };
  };

  /** Malformed paths and percent-encoding, with the right key: the host answers 400/404, no function fails. */
  const malformedPath = (r: Rng): FuzzRequest => {
    const bad = r.pick(['%', '%z', '%zz', '%E0%A4%A', '%C0%AF', '%ED%A0%80', '%FF%FE', 'a%', '%%41', '%u0041']);
    const path = r.pick([
      `/api/integrations/${bad}`,
      `/api/integrations/${bad}/rotate`,
      `/api/approvals/${bad}`,
      `/api/${bad}/integrations`,
      `/api/integrations/sn-dev00000-deadbeef/${bad}`,
      `/api/integrations//${wellFormedId(r)}`,
      `/api/integrations/${wellFormedId(r)}/rotate/extra`,
      `/api/integrations/${'a/'.repeat(r.int(10, 400))}`,
      `/api//approvals/${bad}?token=${bad}`,
      `/runtime/webhooks/durabletask/instances/${bad}`,
      `/runtime/webhooks/durabletask/orchestrators/provisionIntegration/${bad}`,
    ]);
    const method = r.pick(['GET', 'POST', 'HEAD', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);
    return {
      what: `malformed path ${method} ${path.slice(0, 60)}`,
      method,
      path,
      headers: withKey(),
      ...(method === 'POST' ? { body: json(valid) } : {}),
    };
  };

  /** The durable HTTP API without the system key: a start or an event must never get through. */
  const durableWithoutKey = (r: Rng): FuzzRequest => {
    const path = r.pick([
      '/runtime/webhooks/durabletask/orchestrators/provisionIntegration',
      `/runtime/webhooks/durabletask/orchestrators/provisionIntegration/provision-${wellFormedId(r)}`,
      `/runtime/webhooks/durabletask/orchestrators/rotateCredentials?code=${encodeURIComponent(key)}`,
      `/runtime/webhooks/durabletask/instances/provision-x/raiseEvent/ApprovalDecision`,
      '/runtime/webhooks/durabletask/instances',
    ]);
    const headers = r.pick<Record<string, string>>([{}, { 'x-functions-key': key }, { 'x-functions-key': 'x' }]);
    return {
      what: 'durable without system key',
      method: path.includes('/instances') && !path.includes('raiseEvent') ? 'GET' : 'POST',
      path,
      headers,
      body: json({}),
    };
  };

  return [
    [mutated, 30],
    [unknownKeys, 6],
    [rawBody, 10],
    [oversized, 3],
    [contentType, 5],
    [badKey, 6],
    [getIntegration, 10],
    [rotate, 10],
    [approval, 12],
    [malformedPath, 8],
    [durableWithoutKey, 3],
  ] as const;
}

/** Whether every segment of a path percent-decodes (RFC 3986 section 2.1, UTF-8). */
function decodable(path: string): boolean {
  try {
    path.split('/').forEach((p) => decodeURIComponent(p));
    return true;
  } catch {
    return false;
  }
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });

function send(baseUrl: string, req: FuzzRequest): Promise<FuzzResponse> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const r = http.request(
      {
        agent,
        hostname,
        port,
        method: req.method,
        path: req.path,
        headers: { ...req.headers, ...(req.body ? { 'content-length': String(req.body.length) } : {}) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
        res.on('error', reject);
      },
    );
    // The host may answer (413, 401) and close before reading a large body: that is an answer, not a failure.
    r.on('error', reject);
    r.end(req.body);
  });
}

describe('fuzzing the HTTP API (fixed seed)', () => {
  // 1,200 requests one after another: a few seconds alone, longer on a busy machine.
  jest.setTimeout(120_000);
  let stack: LocalStack;
  let mark: number;

  beforeAll(async () => {
    stack = await startLocalStack();
    mark = stack.sandbox.journal.mark();
  }, 60000);

  afterAll(async () => {
    agent.destroy();
    await stack?.close();
  });

  it(`answers ${COUNT} bad requests below 500 and creates nothing`, async () => {
    const r = prng(SEED);
    const gens = generators(stack);
    const total = gens.reduce((n, [, w]) => n + w, 0);
    const requests: FuzzRequest[] = [];
    for (let i = 0; i < COUNT; i++) {
      let roll = r.int(1, total);
      const gen = gens.find(([, w]) => (roll -= w) <= 0)![0];
      requests.push(gen(r));
    }

    const results: { req: FuzzRequest; res: FuzzResponse }[] = [];
    const queue = [...requests];
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let req = queue.shift(); req; req = queue.shift())
          results.push({ req, res: await send(stack.host.baseUrl, req) });
      }),
    );

    expect(results).toHaveLength(COUNT);
    const serverErrors = results
      .filter(({ res }) => res.status >= 500)
      .map(({ req, res }) => `${res.status} ${req.what}: ${req.method} ${req.path.slice(0, 120)}`);
    expect(serverErrors).toEqual([]);
    // JSON answers (problem documents) are never sniffed as something else.
    const sniffable = results
      .filter(({ res }) => /json/.test(String(res.headers['content-type'] ?? '')))
      .filter(({ res }) => res.headers['x-content-type-options'] !== 'nosniff')
      .map(({ req, res }) => `${res.status} ${req.what}`);
    expect(sniffable).toEqual([]);
    // The run reached every kind of refusal (so the generators exercise what they claim).
    const statuses = new Set(results.map(({ res }) => res.status));
    for (const s of [400, 401, 403, 404, 413]) expect([s, statuses.has(s)]).toEqual([s, true]);
    // A path with malformed percent-encoding is the host's own 400, whatever the route, method or key.
    const malformed = results.filter(({ req }) => !decodable(req.path.split('?')[0]));
    expect(malformed.length).toBeGreaterThan(50);
    expect(
      malformed.filter(({ res }) => res.status !== 400).map(({ req, res }) => `${res.status} ${req.path}`),
    ).toEqual([]);
  });

  it('started no orchestration and wrote nothing to Graph, Key Vault or ServiceNow', async () => {
    await stack.host.durable.waitForIdle();
    expect(stack.host.durable.query()).toEqual([]);
    expect(productWrites(stack, mark)).toEqual([]);
    expect(stack.host.durable.logs.filter((l) => /unhandled error/.test(l.message))).toEqual([]);
    const list = await fetch(`${stack.host.baseUrl}/api/integrations`, {
      headers: { 'x-functions-key': stack.host.functionKey },
    });
    expect(list.status).toBe(200);
    expect(((await list.json()) as { integrations: unknown[] }).integrations).toEqual([]);
  });
});
