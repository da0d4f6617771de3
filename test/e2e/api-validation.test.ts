/**
 * bad requests get 400 with a problem document (RFC 9457) whose `errors` array lists every
 * problem, never a 500; ids are checked on GET (400 malformed, 404 unknown); the function key is required (401).
 * Through the local Functions host serving the real entry module, against the sandbox.
 */
import { LIMITS } from '../../src/api/integration-request';
import { startLocalStack, type LocalStack } from '../../sandbox/stack';
import { api, productWrites, provisionRequest, type ApiResponse } from './api-driver';

interface ProblemDocument {
  type: string;
  title: string;
  status: number;
  errors?: { field: string; message: string }[];
}

const GUID = '0b5e8f3a-6c1d-4e2f-9a7b-3c4d5e6f7a8b';

describe('integrations API: request validation', () => {
  let stack: LocalStack;
  let mark: number;
  let valid: Record<string, unknown>;

  beforeAll(async () => {
    stack = await startLocalStack();
    mark = stack.sandbox.journal.mark();
    valid = provisionRequest(stack);
  });

  afterAll(async () => {
    await stack?.close();
  });

  const post = (body: unknown, query = '') => api(stack, 'POST', `/api/integrations${query}`, { body });
  const withOptions = (options: Record<string, unknown>) => ({ ...valid, options });

  /** A 400 problem document; returns the fields it names. */
  function expectProblem(res: ApiResponse): string[] {
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const doc = res.json as ProblemDocument;
    expect(doc).toMatchObject({ type: 'about:blank', status: 400 });
    expect(Array.isArray(doc.errors)).toBe(true);
    for (const e of doc.errors ?? []) expect(e.message.length).toBeGreaterThan(0);
    return (doc.errors ?? []).map((e) => e.field);
  }

  describe('POST /api/integrations answers 400 naming the field', () => {
    const cases: [string, () => unknown, string][] = [
      ['a JSON array', () => [valid], '(body)'],
      ['a JSON string', () => 'provision please', '(body)'],
      ['an unknown top-level field', () => ({ ...valid, admin: true }), '(body)'],
      ['an unknown option', () => withOptions({ testEnvironment: true, purge: true }), 'options'],
      ['a missing tenant', () => ({ ...valid, tenant: undefined }), 'tenant'],
      ['a tenant that is neither GUID nor domain', () => ({ ...valid, tenant: 'not a tenant' }), 'tenant'],
      ['a tenant without a dot', () => ({ ...valid, tenant: 'contoso' }), 'tenant'],
      ['a tenant of the wrong type', () => ({ ...valid, tenant: 42 }), 'tenant'],
      ['a GUID tenant without tenantName', () => ({ ...valid, tenant: GUID, tenantName: undefined }), 'tenantName'],
      ['a bad tenantName', () => ({ ...valid, tenantName: 'Contoso^Evil' }), 'tenantName'],
      [
        'an instance name with capitals and _',
        () => ({ ...valid, serviceNowInstance: 'Dev_00000' }),
        'serviceNowInstance',
      ],
      ['an instance name starting with -', () => ({ ...valid, serviceNowInstance: '-dev00000' }), 'serviceNowInstance'],
      ['an instance name ending with -', () => ({ ...valid, serviceNowInstance: 'abc-' }), 'serviceNowInstance'],
      [
        'an instance name of 64 characters',
        () => ({ ...valid, serviceNowInstance: 'a'.repeat(64) }),
        'serviceNowInstance',
      ],
      [
        'an instance URL instead of a name',
        () => ({ ...valid, serviceNowInstance: 'dev1.service-now.com' }),
        'serviceNowInstance',
      ],
      ['an unknown profile', () => ({ ...valid, profile: 'nope' }), 'profile'],
      ['no approvers', () => ({ ...valid, approvers: [] }), 'approvers'],
      ['approvers as a string', () => ({ ...valid, approvers: 'approver@contoso.com' }), 'approvers'],
      [
        'an invalid approver email',
        () => ({ ...valid, approvers: ['approver@contoso.com', 'not-an-email'] }),
        'approvers.1',
      ],
      [
        'a ticket on an unsupported table',
        () => ({ ...valid, ticket: { table: 'sys_user', number: 'INC0010001' } }),
        'ticket.table',
      ],
      ['a ticket without sysId or number', () => ({ ...valid, ticket: { table: 'incident' } }), 'ticket'],
      [
        'a ticket with a malformed sysId',
        () => ({ ...valid, ticket: { table: 'incident', sysId: "x' OR 1=1" } }),
        'ticket.sysId',
      ],
      [
        'a ticket with a malformed number',
        () => ({ ...valid, ticket: { table: 'incident', number: 'INC^1' } }),
        'ticket.number',
      ],
      ['testEnvironment as a string', () => withOptions({ testEnvironment: 'yes' }), 'options.testEnvironment'],
      ['secretLifetimeDays as a string', () => withOptions({ secretLifetimeDays: '30' }), 'options.secretLifetimeDays'],
      [
        'secretLifetimeDays beyond 24 months',
        () => withOptions({ secretLifetimeDays: 731 }),
        'options.secretLifetimeDays',
      ],
      [
        'an http redirectUri',
        () => withOptions({ redirectUri: 'http://dev00000.service-now.com/x' }),
        'options.redirectUri',
      ],
      [
        'a grant role that is not offered',
        () => withOptions({ grantUsers: [{ userName: 'abel.tuter', role: 'admin' }] }),
        'options.grantUsers.0.role',
      ],
      [
        '^ in a grant userName',
        () => withOptions({ grantUsers: [{ userName: 'abel^ORuser_name=admin', role: 'insights_user' }] }),
        'options.grantUsers.0.userName',
      ],
      [
        'CR in a grant userName',
        () => withOptions({ grantUsers: [{ userName: 'abel\rtuter', role: 'insights_user' }] }),
        'options.grantUsers.0.userName',
      ],
      [
        'LF in a grant userName',
        () => withOptions({ grantUsers: [{ userName: 'abel\ntuter', role: 'insights_user' }] }),
        'options.grantUsers.0.userName',
      ],
    ];

    it.each(cases)('%s', async (_what, body, field) => {
      const fields = expectProblem(await post(body()));
      expect(fields).toContain(field);
    });

    it('invalid JSON', async () => {
      const res = await api(stack, 'POST', '/api/integrations', { rawBody: '{"tenant": "contoso.onmicrosoft.com",' });
      expect(expectProblem(res)).toEqual(['(body)']);
    });

    it('an empty body', async () => {
      const res = await api(stack, 'POST', '/api/integrations', { rawBody: '' });
      expect(expectProblem(res)).toContain('(body)');
    });

    it('a reprovision value other than true or false', async () => {
      const fields = expectProblem(await post(valid, '?reprovision=yes'));
      expect(fields).toEqual(['reprovision']);
    });
  });

  describe('every string and list has a maximum size (400 naming the field, never a 500)', () => {
    const instanceHost = () => new URL(stack.env().SERVICENOW_URL_TEMPLATE.replace('{instance}', 'x')).host;
    const long = (n: number) => 'a'.repeat(n);
    const cases: [string, () => unknown, string, RegExp][] = [
      [
        'an approver address of 40,000 characters',
        () => ({ ...valid, approvers: [`${long(40_000)}@contoso.com`] }),
        'approvers.0',
        /at most 254 characters/,
      ],
      [
        'an approver address of 255 characters',
        () => ({ ...valid, approvers: [`${long(255 - '@contoso.com'.length)}@contoso.com`] }),
        'approvers.0',
        /at most 254 characters/,
      ],
      [
        'requestedBy of 255 characters',
        () => ({ ...valid, requestedBy: `${long(255 - '@contoso.com'.length)}@contoso.com` }),
        'requestedBy',
        /at most 254 characters/,
      ],
      [
        '11 approvers',
        () => ({ ...valid, approvers: Array.from({ length: 11 }, (_, i) => `a${i}@contoso.com`) }),
        'approvers',
        /at most 10/,
      ],
      [
        'a tenant of 254 characters',
        () => ({ ...valid, tenant: `${long(240)}.${long(13)}` }),
        'tenant',
        /at most 253 characters/,
      ],
      [
        'a tenantName of 41 characters',
        () => ({ ...valid, tenantName: long(41) }),
        'tenantName',
        /at most 40 characters/,
      ],
      [
        'a serviceNowInstance of 10,000 characters',
        () => ({ ...valid, serviceNowInstance: long(10_000) }),
        'serviceNowInstance',
        /at most 63 characters/,
      ],
      ['a profile of 65 characters', () => ({ ...valid, profile: long(65) }), 'profile', /at most 64 characters/],
      [
        'a ticket sysId of 10,000 characters',
        () => ({ ...valid, ticket: { table: 'incident', sysId: 'a'.repeat(10_000) } }),
        'ticket.sysId',
        /at most 32 characters/,
      ],
      [
        'a ticket number of 21 characters',
        () => ({ ...valid, ticket: { table: 'incident', number: `INC${'1'.repeat(18)}` } }),
        'ticket.number',
        /at most 20 characters/,
      ],
      [
        'a grant userName of 101 characters',
        () => withOptions({ grantUsers: [{ userName: long(101), role: 'insights_user' }] }),
        'options.grantUsers.0.userName',
        /at most 100 characters/,
      ],
      [
        '51 grants',
        () =>
          withOptions({
            grantUsers: Array.from({ length: 51 }, (_, i) => ({ userName: `u${i}`, role: 'insights_user' })),
          }),
        'options.grantUsers',
        /at most 50/,
      ],
      [
        'a redirectUri on the instance host longer than Entra accepts',
        () => withOptions({ redirectUri: `https://${instanceHost()}/${long(LIMITS.redirectUri)}` }),
        'options.redirectUri',
        /at most 256 characters/,
      ],
    ];

    it.each(cases)('%s', async (_what, body, field, message) => {
      const res = await post(body());
      const fields = expectProblem(res);
      expect(fields).toContain(field);
      const problem = ((res.json as ProblemDocument).errors ?? []).find((e) => e.field === field);
      expect(problem?.message).toMatch(message);
      // A refused value is never echoed back whole.
      expect(res.text.length).toBeLessThan(2_000);
    });

    it('names at most ten unknown keys, each cut short', async () => {
      const body: Record<string, unknown> = { ...valid };
      for (let i = 0; i < 100; i++) body[`${long(500)}${i}`] = i;
      const res = await post(body);
      expect(expectProblem(res)).toContain('(body)');
      expect(res.text).toMatch(/and 90 more/);
      expect(res.text.length).toBeLessThan(2_000);
    });
  });

  describe('every problem is listed', () => {
    it('names each invalid field of one request', async () => {
      const res = await post({
        tenant: 'not a tenant',
        serviceNowInstance: 'Bad_Name',
        approvers: ['ok@contoso.com', 'nope'],
        ticket: { table: 'incident', sysId: 'short' },
        options: { testEnvironment: 1, grantUsers: [{ userName: 'a\nb', role: 'insights_user' }], extra: 1 },
        surplus: true,
      });
      const fields = expectProblem(res);
      const messages = ((res.json as ProblemDocument).errors ?? []).map((e) => e.message).join('\n');
      expect(messages).toMatch(/surplus/);
      expect(messages).toMatch(/extra/);
      for (const f of [
        'tenant',
        'serviceNowInstance',
        'approvers.1',
        'ticket.sysId',
        'options.testEnvironment',
        'options.grantUsers.0.userName',
        'options',
        '(body)',
      ])
        expect(fields).toContain(f);
    });

    it('lists a bad reprovision value together with the body problems', async () => {
      // "400 with a problem document listing every invalid field": the query parameter is one of them.
      const fields = expectProblem(await post({ ...valid, serviceNowInstance: 'Bad_Name' }, '?reprovision=maybe'));
      expect(fields).toEqual(expect.arrayContaining(['reprovision', 'serviceNowInstance']));
    });
  });

  describe('GET /api/integrations/{id}', () => {
    it.each([
      ['NOT-AN-ID'],
      ['sn-dev00000'],
      ['sn-dev00000-XYZ12345'],
      ['sn-dev00000-deadbeef0'],
      ["sn-dev00000-deadbee'"],
    ])('answers 400 for the malformed id %s', async (id) => {
      const fields = expectProblem(await api(stack, 'GET', `/api/integrations/${encodeURIComponent(id)}`));
      expect(fields).toEqual(['id']);
    });

    it('answers 404 with a problem document for an unknown well-formed id', async () => {
      const res = await api(stack, 'GET', '/api/integrations/sn-dev00000-deadbeef');
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(res.json).toMatchObject({ status: 404 });
    });
  });

  describe('function key', () => {
    it.each([
      ['POST', '/api/integrations'],
      ['GET', '/api/integrations'],
      ['GET', '/api/integrations/sn-dev00000-deadbeef'],
    ])('%s %s without the key answers 401 and runs nothing', async (method, path) => {
      const res = await api(stack, method, path, { key: null, ...(method === 'POST' ? { body: valid } : {}) });
      expect(res.status).toBe(401);
      expect(res.text).toBe('');
    });

    it('a wrong key answers 401', async () => {
      const res = await api(stack, 'POST', '/api/integrations', { key: 'not-the-key', body: valid });
      expect(res.status).toBe(401);
    });
  });

  describe('refused requests change nothing', () => {
    it('started no orchestration and wrote nothing to Graph, Key Vault or ServiceNow', async () => {
      expect(stack.host.durable.query()).toEqual([]);
      expect(productWrites(stack, mark)).toEqual([]);
      const list = await api(stack, 'GET', '/api/integrations');
      expect(list.status).toBe(200);
      expect((list.json as { integrations: unknown[] }).integrations).toEqual([]);
      // No call answered 500 (the host logs every unhandled error of a trigger).
      expect(stack.host.durable.logs.filter((l) => /unhandled error/.test(l.message))).toEqual([]);
    });
  });
});
