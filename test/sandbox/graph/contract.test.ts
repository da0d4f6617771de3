/**
 * Contract tests: each documented sample (fixtures/samples.json, copied from /work/shared/contracts/graph) is sent to
 * the stand-in; the status must match, every property we return must be a structural property of the entity type in
 * fixtures/entities.json (CSDL of Graph v1.0), and every documented response property that the CSDL declares must be
 * present in ours. Documented keys the CSDL does not declare (e.g. `windows` in the upsert sample, navigation
 * `endpoints` in the servicePrincipal sample) are listed in `undeclared` and skipped.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { type Harness, call, mintToken, startGraph } from './helpers';

interface Sample {
  id: string;
  request: { method: string | null; exampleUrl: string | null; headers?: Record<string, string> | null; body: unknown };
  response: { status: number; headers: { name: string; value: string }[]; body?: unknown };
}

const fixtures = join(__dirname, 'fixtures');
const samples = (JSON.parse(readFileSync(join(fixtures, 'samples.json'), 'utf8')) as { samples: Sample[] }).samples;
const entities = JSON.parse(readFileSync(join(fixtures, 'entities.json'), 'utf8')) as {
  types: Record<string, { properties: { name: string }[]; allStructuralProperties?: { name: string }[] }>;
};

const propsOf = (type: string) => {
  const t = entities.types[`microsoft.graph.${type}`];
  return new Set((t.allStructuralProperties ?? t.properties).map((p) => p.name));
};

/** Which entity type each sample's response (or its `value` items) has. */
const RESPONSE_TYPE: Record<string, string | null> = {
  'applications-create': 'application',
  'applications-list': 'application',
  'applications-list-filter-startswith': 'application',
  'applications-get': 'application',
  'applications-get-by-appId-select': 'application',
  'applications-update': null,
  'applications-upsert-create': 'application',
  'applications-delete': null,
  'applications-addPassword': 'passwordCredential',
  'applications-removePassword': null,
  'servicePrincipals-create': 'servicePrincipal',
  'servicePrincipals-list': 'servicePrincipal',
  'servicePrincipals-get': 'servicePrincipal',
  'servicePrincipals-delete': null,
};

/**
 * Documented response keys the v1.0 CSDL does not declare, so we do not return them: `windows` (upsert sample),
 * `publisherName` (servicePrincipal samples; not in the v1.0 CSDL) and the navigation property `endpoints`.
 */
const KNOWN_UNDECLARED = ['windows', 'publisherName', 'endpoints'];

const keysOf = (o: unknown) => Object.keys(o as object).filter((k) => !k.startsWith('@'));

function checkShape(type: string, ours: unknown, documented: unknown): string[] {
  const declared = propsOf(type);
  const undeclared: string[] = [];
  const oursItems = (ours as { value?: unknown[] }).value ?? [ours];
  const docItems = (documented as { value?: unknown[] }).value ?? [documented];
  expect(oursItems.length).toBeGreaterThan(0);
  for (const item of oursItems)
    for (const k of keysOf(item)) expect([type, k, declared.has(k)]).toEqual([type, k, true]);
  const ourKeys = new Set(oursItems.flatMap(keysOf));
  for (const item of docItems)
    for (const k of keysOf(item)) {
      if (!declared.has(k)) undeclared.push(k);
      else expect([k, ourKeys.has(k)]).toEqual([k, true]);
    }
  return undeclared;
}

describe('graph stand-in: documented samples (contract)', () => {
  let h: Harness;
  let token: string;
  let app: { id: string; appId: string };

  beforeAll(async () => {
    h = await startGraph();
    token = await mintToken(h, { roles: ['Application.ReadWrite.All', 'Mail.Send'] });
  });
  afterAll(() => h.close());

  /** The documented URL, made concrete for this tenant: placeholders replaced with a live app's ids. */
  const concrete = (s: Sample): string => {
    const url = new URL(s.request.exampleUrl!.replace(/ /g, '%20'));
    let path = decodeURIComponent(url.pathname)
      .replace(/\/applications\/(\{id\}|[0-9a-f-]{36})/, `/applications/${app.id}`)
      .replace(/appId='[^']*'/, `appId='${app.appId}'`)
      .replace(/uniqueName='[^']*'/, `uniqueName='contract-${Date.now()}'`);
    if (
      s.id.startsWith('servicePrincipals-') &&
      s.id !== 'servicePrincipals-create' &&
      s.id !== 'servicePrincipals-list'
    ) {
      const sp = h.directory.spByAppId(app.appId)!;
      path = path.replace(/\/servicePrincipals\/(\{id\}|[0-9a-f-]{36})/, `/servicePrincipals/${sp.id}`);
    }
    return `${path}${url.search}`;
  };

  const run = async (id: string) => {
    const s = samples.find((x) => x.id === id)!;
    expect(s).toBeDefined();
    let body = s.request.body;
    if (id === 'servicePrincipals-create') body = { appId: app.appId };
    if (id === 'applications-removePassword') {
      const { credential } = h.directory.addPassword(h.directory.applications.get(app.id)!, {});
      body = { keyId: credential.keyId };
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(s.request.headers ?? {}))
      if (k.toLowerCase() !== 'content-type') headers[k] = v;
    const reply = await call(h, s.request.method!, concrete(s), {
      token,
      headers,
      ...(body === null || body === undefined ? {} : { body: body }),
    });
    expect([id, reply.status]).toEqual([id, s.response.status]);
    const type = RESPONSE_TYPE[id];
    if (type) return checkShape(type, reply.json, s.response.body);
    expect(reply.text).toBe('');
    return [];
  };

  beforeEach(() => {
    const a = h.directory.addApplication({ displayName: 'a contract app', createdAt: 0 });
    app = { id: a.id, appId: a.appId };
  });

  it.each(
    Object.keys(RESPONSE_TYPE).filter((id) => id !== 'servicePrincipals-get' && id !== 'servicePrincipals-delete'),
  )('%s', async (id) => {
    const undeclared = await run(id);
    expect(undeclared.filter((k) => !KNOWN_UNDECLARED.includes(k))).toEqual([]);
  });

  it.each(['servicePrincipals-get', 'servicePrincipals-delete'])('%s', async (id) => {
    h.directory.addServicePrincipal({ appId: app.appId, displayName: 'a contract app', createdAt: 0 });
    const undeclared = await run(id);
    expect(undeclared.filter((k) => !KNOWN_UNDECLARED.includes(k))).toEqual([]);
  });

  it('me-sendMail: the documented body is accepted on /users/{upn}/sendMail (202); /me is app-only → 400', async () => {
    const s = samples.find((x) => x.id === 'me-sendMail')!;
    const sent = await call(h, 'POST', `/v1.0/users/${h.directory.mailSender}/sendMail`, {
      token,
      body: s.request.body as object,
    });
    expect([sent.status, sent.text]).toEqual([s.response.status, '']);
    expect(h.graph.outbox.at(-1)?.saveToSentItems).toBe(false);
    const me = await call(h, 'POST', '/v1.0/me/sendMail', { token, body: s.request.body as object });
    expect(me.status).toBe(400);
  });

  it('throttled-429: the injected fault carries the documented body keys and Retry-After', async () => {
    const s = samples.find((x) => x.id === 'throttled-429')!;
    h.faults.add({
      service: 'graph',
      action: { type: 'status', status: 429, headers: { 'Retry-After': '2' } },
      times: 1,
    });
    const r = await call(h, 'GET', '/v1.0/applications', { token });
    expect(r.status).toBe(s.response.status);
    expect(r.headers['retry-after']).toBe('2');
    const doc = s.response.body as { error: Record<string, unknown> & { innerError: object } };
    expect(Object.keys(r.json.error).sort()).toEqual(Object.keys(doc.error).sort());
    expect(Object.keys(r.json.error.innerError).sort()).toEqual(Object.keys(doc.error.innerError).sort());
  });

  it('error envelope: our errors carry the documented error keys', async () => {
    const s = samples.find((x) => x.id === 'error-400-protectionPolicy-deactivate')!;
    const r = await call(h, 'GET', '/v1.0/applications?$top=0', { token });
    expect(r.status).toBe(400);
    const doc = s.response.body as { error: Record<string, unknown> & { innerError: object } };
    expect(Object.keys(r.json.error).sort()).toEqual(Object.keys(doc.error).sort());
    expect(Object.keys(r.json.error.innerError).sort()).toEqual(Object.keys(doc.error.innerError).sort());
  });
});
