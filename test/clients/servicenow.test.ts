import { BasicAuthProvider } from '../../src/clients/servicenow-auth';
import { encodedQuery, ServiceNowClient, ServiceNowError, nextLink } from '../../src/clients/servicenow';
import type { SecretReader } from '../../src/clients/keyvault';
import { ValidationError } from '../../src/lib/errors';
import { createLogger, type LogRecord } from '../../src/lib/logger';
import { SandboxClock } from '../../sandbox/core/clock';
import { FaultInjector } from '../../sandbox/core/faults';
import { Journal } from '../../sandbox/core/journal';
import { serve, type RunningServer } from '../../sandbox/core/server';
import { loadTls } from '../../sandbox/core/tls';
import type { SandboxRequest, SandboxResponse, StandIn } from '../../sandbox/core/types';

const PASSWORD = 'Adm1n-Pa55word!-canary';
const USER = 'admin';
const BASIC = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
const sysId = (n: number) => n.toString(16).padStart(32, '0');
const envelope = (message: string, detail: string | null) => ({ error: { message, detail }, status: 'failure' });

/** A small Table API double: paging with Link headers, ServiceNow's error envelope, Basic auth. */
function tableStandIn(seen: SandboxRequest[]): StandIn & { origin: string } {
  const records = Array.from({ length: 5 }, (_, i) => ({ sys_id: sysId(i + 1), number: `INC000000${i + 1}` }));
  const self = {
    service: 'servicenow' as const,
    origin: '',
    reset: () => undefined,
    faultResponse: (status: number, headers: Record<string, string>): SandboxResponse => ({
      status,
      headers,
      body: envelope(
        status === 429 ? 'Rate limit exceeded' : 'Injected',
        status === 429 ? 'Rate limit of 100 requests per hour for Table API exceeded' : null,
      ),
    }),
    async handle(req: SandboxRequest): Promise<SandboxResponse> {
      seen.push(req);
      if (req.headers.authorization !== BASIC)
        return { status: 401, body: envelope('User Not Authenticated', 'Required to provide Auth information') };
      const m = /^\/dev1\/api\/now\/v2\/table\/([a-z0-9_]+)(?:\/([0-9a-f]{32}))?$/.exec(req.path);
      if (!m) return { status: 400, body: envelope('Requested URI does not represent any resource', null) };
      const [, table, id] = m;
      if (table !== 'incident') return { status: 400, body: envelope(`Invalid table ${table}`, null) };
      const found = id ? records.find((r) => r.sys_id === id) : undefined;
      if (id && !found && req.method !== 'POST')
        return {
          status: 404,
          body: envelope('No Record found', "Record doesn't exist or ACL restricts the record retrieval"),
        };
      if (req.method === 'GET' && found) return { status: 200, body: { result: found } };
      if (req.method === 'GET') {
        const limit = Number(req.query.get('sysparm_limit') ?? 10000);
        const offset = Number(req.query.get('sysparm_offset') ?? 0);
        const page = records.slice(offset, offset + limit);
        const headers: Record<string, string> = { 'X-Total-Count': String(records.length) };
        if (req.query.get('sysparm_suppress_pagination_header') !== 'true') {
          const link = (o: number, rel: string) => {
            const q = new URLSearchParams(req.query);
            q.set('sysparm_offset', String(o));
            return `<${self.origin}/dev1/api/now/v2/table/incident?${q.toString()}>;rel="${rel}"`;
          };
          const links = [link(0, 'first')];
          if (offset + limit < records.length) links.push(link(offset + limit, 'next'));
          links.push(link(Math.max(0, records.length - limit), 'last'));
          headers.Link = links.join(',');
        }
        return { status: 200, headers, body: { result: page } };
      }
      if (req.method === 'POST')
        return { status: 201, body: { result: { sys_id: sysId(99), ...JSON.parse(req.body.toString()) } } };
      if (req.method === 'PATCH')
        return req.headers['x-no-response-body'] === 'true'
          ? { status: 204 }
          : { status: 200, body: { result: { ...found, ...JSON.parse(req.body.toString()) } } };
      if (req.method === 'DELETE') return { status: 204 };
      return { status: 405, body: envelope('Method not Supported', null) };
    },
  };
  return self;
}

describe('ServiceNowClient over HTTPS', () => {
  const clock = new SandboxClock();
  const faults = new FaultInjector(3);
  const journal = new Journal();
  const seen: SandboxRequest[] = [];
  const standIn = tableStandIn(seen);
  let server: RunningServer;
  let secretReads = 0;
  const secrets: SecretReader = {
    getSecret: async (name: string) => {
      secretReads++;
      const value = { 'sn-dev1-username': USER, 'sn-dev1-password': PASSWORD }[name];
      return { name, value, properties: { name, vaultUrl: 'https://kv' } };
    },
  };
  const sleeps: number[] = [];
  const client = (extra: Partial<ConstructorParameters<typeof ServiceNowClient>[0]> = {}) =>
    new ServiceNowClient({
      instanceUrl: `${server.origin}/dev1`,
      auth: new BasicAuthProvider({ secrets, usernameSecret: 'sn-dev1-username', passwordSecret: 'sn-dev1-password' }),
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      random: () => 0.5,
      logger: createLogger('servicenow', () => undefined),
      ...extra,
    });

  beforeAll(async () => {
    server = await serve({ standIn, tls: loadTls(), clock, faults, journal });
    standIn.origin = server.origin;
  });
  afterAll(() => server.close());
  beforeEach(() => {
    faults.clear();
    journal.clear();
    seen.length = 0;
    sleeps.length = 0;
    secretReads = 0;
  });

  describe('Table API helpers', () => {
    it('lists every page by following Link rel="next", with the v2 path, JSON Accept and plain references', async () => {
      const rows = await client().list('incident', {
        pageSize: 2,
        query: encodedQuery().startsWith('number', 'INC'),
        fields: ['sys_id', 'number'],
      });
      expect(rows.map((r) => r.number)).toEqual(['INC0000001', 'INC0000002', 'INC0000003', 'INC0000004', 'INC0000005']);
      expect(seen.map((r) => r.query.get('sysparm_offset'))).toEqual(['0', '2', '4']);
      for (const r of seen) {
        expect(r.path).toBe('/dev1/api/now/v2/table/incident');
        expect(r.headers.accept).toBe('application/json');
        expect(r.query.get('sysparm_exclude_reference_link')).toBe('true');
        expect(r.query.get('sysparm_query')).toBe('numberSTARTSWITHINC');
        expect(r.query.get('sysparm_fields')).toBe('sys_id,number');
      }
      expect(seen[0].url.search).toContain('sysparm_query=numberSTARTSWITHINC');
    });

    it('falls back to offset paging when the Link header is suppressed', async () => {
      const rows = await client().list('incident', { pageSize: 2, suppressPaginationHeader: true });
      expect(rows).toHaveLength(5);
      expect(seen.map((r) => r.query.get('sysparm_offset'))).toEqual(['0', '2', '4']);
      expect(seen.every((r) => r.query.get('sysparm_suppress_pagination_header') === 'true')).toBe(true);
    });

    it('refuses to read more than maxRecords', async () => {
      await expect(client().list('incident', { pageSize: 2, maxRecords: 3 })).rejects.toMatchObject({
        code: 'TooManyRecords',
      });
    });

    it('reads one record, and answers undefined for 404 without retrying', async () => {
      const c = client();
      expect(await c.get('incident', sysId(2))).toEqual({ sys_id: sysId(2), number: 'INC0000002' });
      expect(await c.get('incident', sysId(77))).toBeUndefined();
      expect(journal.entries().map((e) => e.status)).toEqual([200, 404]);
    });

    it('inserts, patches and removes with JSON bodies', async () => {
      const c = client();
      expect(await c.insert('incident', { short_description: 'x' })).toEqual({
        sys_id: sysId(99),
        short_description: 'x',
      });
      expect(await c.patch('incident', sysId(1), { state: '2' }, { inputDisplayValue: true })).toMatchObject({
        state: '2',
      });
      expect(await c.remove('incident', sysId(1))).toBe(true);
      expect(await c.remove('incident', sysId(55))).toBe(false);
      expect(seen.map((r) => [r.method, r.headers['content-type']])).toEqual([
        ['POST', 'application/json'],
        ['PATCH', 'application/json'],
        ['DELETE', undefined],
        ['DELETE', undefined],
      ]);
      expect(seen[1].query.get('sysparm_input_display_value')).toBe('true');
    });

    it('writes a password2 field in its own PATCH with input display values and no response body', async () => {
      await client().setPassword2('incident', sysId(3), 'client_secret', 'new-Secret-Value-123');
      expect(seen).toHaveLength(1);
      expect(seen[0].method).toBe('PATCH');
      expect(seen[0].query.get('sysparm_input_display_value')).toBe('true');
      expect(seen[0].headers['x-no-response-body']).toBe('true');
      expect(JSON.parse(seen[0].body.toString())).toEqual({ client_secret: 'new-Secret-Value-123' });
    });

    it('asks a password2 PATCH for the listed non-secret fields as its answer, never for the secret field', async () => {
      const c = client();
      const row = await c.setPassword2('incident', sysId(3), 'client_secret', 'new-Secret-Value-123', {
        fields: ['sys_id', 'short_description'],
      });
      expect(row).toMatchObject({ sys_id: sysId(3) });
      expect(seen).toHaveLength(1);
      expect(seen[0].query.get('sysparm_input_display_value')).toBe('true');
      expect(seen[0].query.get('sysparm_fields')).toBe('sys_id,short_description');
      expect(seen[0].headers['x-no-response-body']).toBeUndefined();
      await expect(
        c.setPassword2('incident', sysId(3), 'client_secret', 'new-Secret-Value-123', {
          fields: ['sys_id', 'client_secret'],
        }),
      ).rejects.toThrow(ValidationError);
      expect(seen).toHaveLength(1);
    });

    it('refuses unsafe table names, sys_ids and field names before sending', async () => {
      const c = client();
      await expect(c.get('incident/../sys_user', sysId(1))).rejects.toThrow(ValidationError);
      await expect(c.get('incident', 'not-a-sys-id')).rejects.toThrow(ValidationError);
      await expect(c.list('incident', { fields: ['number,caller_id'] })).rejects.toThrow(ValidationError);
      expect(seen).toHaveLength(0);
    });

    it('reads credentials from Key Vault once and reuses them within the cache time', async () => {
      const c = client();
      await c.get('incident', sysId(1));
      await c.get('incident', sysId(2));
      expect(secretReads).toBe(2); // username + password, once
    });
  });

  describe('errors', () => {
    it('types errors with status and the envelope message and detail', async () => {
      const err = (await client()
        .list('problem_x')
        .catch((e: unknown) => e)) as ServiceNowError;
      expect(err).toBeInstanceOf(ServiceNowError);
      expect(err).toMatchObject({
        service: 'servicenow',
        status: 400,
        serviceMessage: 'Invalid table problem_x',
        retriable: false,
      });
    });

    it('re-reads credentials after a 401 and never puts the password in the error', async () => {
      const c = new ServiceNowClient({
        instanceUrl: `${server.origin}/dev1`,
        auth: new BasicAuthProvider({
          secrets,
          usernameSecret: 'sn-dev1-username',
          passwordSecret: 'sn-dev1-password',
        }),
        sleep: async () => undefined,
      });
      faults.add({
        action: {
          type: 'status',
          status: 401,
          body: envelope('User Not Authenticated', 'Required to provide Auth information'),
        },
        times: 2,
      });
      const err = (await c.get('incident', sysId(1)).catch((e: unknown) => e)) as ServiceNowError;
      expect(err).toMatchObject({
        status: 401,
        serviceMessage: 'User Not Authenticated',
        detail: 'Required to provide Auth information',
        retriable: false,
      });
      // The first 401 dropped the cached credentials and re-read them once; the second 401 is the answer.
      expect(journal.entries().map((e) => e.status)).toEqual([401, 401]);
      expect(secretReads).toBe(4);
      expect(JSON.stringify({ ...err, m: err.message, s: err.stack })).not.toContain(PASSWORD);
      await c.get('incident', sysId(1));
      expect(secretReads).toBe(6);
    });
  });

  describe('retries', () => {
    it('waits at least Retry-After (1 s) after a 429 and retries once', async () => {
      faults.add({
        service: 'servicenow',
        method: 'GET',
        action: { type: 'status', status: 429, headers: { 'Retry-After': '1' } },
        times: 1,
      });
      expect(await client().get('incident', sysId(1))).toMatchObject({ number: 'INC0000001' });
      expect(sleeps).toHaveLength(1);
      expect(sleeps[0]).toBeGreaterThanOrEqual(1000);
      expect(journal.entries().map((e) => e.status)).toEqual([429, 200]);
    });

    it('really sleeps: the retry after a 429 with Retry-After: 1 is at least 1 s after the first call', async () => {
      faults.add({
        service: 'servicenow',
        action: { type: 'status', status: 429, headers: { 'Retry-After': '1' } },
        times: 1,
      });
      const logs: LogRecord[] = [];
      const c = new ServiceNowClient({
        instanceUrl: `${server.origin}/dev1`,
        logger: createLogger('servicenow', (r) => logs.push(r)),
        auth: new BasicAuthProvider({
          secrets,
          usernameSecret: 'sn-dev1-username',
          passwordSecret: 'sn-dev1-password',
        }),
      });
      await c.get('incident', sysId(1));
      const [first, second] = journal.entries();
      expect([first.status, second.status]).toEqual([429, 200]);
      expect(logs).toEqual([
        expect.objectContaining({
          level: 'warn',
          message: 'retrying',
          fields: expect.objectContaining({ status: 429, attempt: 1 }),
        }),
      ]);
      expect(JSON.stringify(logs)).not.toContain(PASSWORD);
      expect(Date.parse(second.at) - Date.parse(first.at)).toBeGreaterThanOrEqual(1000);
    });

    it('honours Retry-After given as an HTTP date', async () => {
      const at = new Date(Date.now() + 3000).toUTCString();
      faults.add({
        service: 'servicenow',
        action: { type: 'status', status: 429, headers: { 'Retry-After': at } },
        times: 1,
      });
      await client().get('incident', sysId(1));
      expect(sleeps).toHaveLength(1);
      expect(sleeps[0]).toBeGreaterThan(1000);
      expect(sleeps[0]).toBeLessThanOrEqual(3250);
    });

    it.each([502, 503, 504])('retries %i with jittered backoff', async (status) => {
      faults.add({ service: 'servicenow', action: { type: 'status', status }, times: 2 });
      await client().get('incident', sysId(1));
      expect(journal.entries().map((e) => e.status)).toEqual([status, status, 200]);
      expect(sleeps).toEqual([375, 750]); // base 500: (250 + 0.5*250), (500 + 0.5*500)
    });

    it('answers a 401 once by dropping the cached credentials and sending again, without a backoff', async () => {
      let invalidations = 0;
      const auth = {
        kind: 'basic' as const,
        authorization: async () => BASIC,
        invalidate: () => void (invalidations += 1),
      };
      const c = client({ auth });
      faults.add({ service: 'servicenow', action: { type: 'status', status: 401 }, times: 1 });
      expect(await c.get('incident', sysId(1))).toMatchObject({ number: 'INC0000001' });
      expect(invalidations).toBe(1);
      expect(journal.entries().map((e) => e.status)).toEqual([401, 200]);
      expect(sleeps).toEqual([]);
    });

    it('fails a hung request at its deadline with a retriable Timeout, retrying reads within the bounded attempts', async () => {
      faults.add({ service: 'servicenow', action: { type: 'hang' }, times: 1 });
      const c = client({ timeoutMs: 300 });
      expect(await c.get('incident', sysId(4))).toMatchObject({ number: 'INC0000004' });
      expect(journal.entries().map((e) => e.fault ?? e.status)).toEqual(['hang', 200]);
      faults.add({ service: 'servicenow', action: { type: 'hang' } });
      await expect(
        client({ timeoutMs: 300, retry: { maxAttempts: 2 } }).get('incident', sysId(4)),
      ).rejects.toMatchObject({
        service: 'servicenow',
        code: 'Timeout',
        retriable: true,
      });
    });

    it('retries a 500 like the other transient statuses, never 501', async () => {
      faults.add({ service: 'servicenow', action: { type: 'status', status: 500 }, times: 1 });
      expect(await client().get('incident', sysId(1))).toMatchObject({ number: 'INC0000001' });
      faults.add({ service: 'servicenow', action: { type: 'status', status: 501 }, times: 1 });
      await expect(client().get('incident', sysId(1))).rejects.toMatchObject({ status: 501, retriable: false });
    });

    it.each([400, 403, 404])('never retries %i', async (status) => {
      faults.add({ service: 'servicenow', action: { type: 'status', status }, times: 1 });
      await expect(client().list('incident')).rejects.toMatchObject({ status, retriable: false });
      expect(journal.entries()).toHaveLength(1);
      expect(sleeps).toEqual([]);
    });

    it('retries a reset connection for reads', async () => {
      faults.add({ service: 'servicenow', action: { type: 'reset' }, times: 1 });
      expect(await client().get('incident', sysId(4))).toMatchObject({ number: 'INC0000004' });
      expect(journal.entries().map((e) => e.fault ?? e.status)).toEqual(['reset', 200]);
      expect(sleeps).toHaveLength(1);
    });

    it('does not re-send an insert whose connection was reset (it may have been applied); the activity may retry', async () => {
      faults.add({ service: 'servicenow', action: { type: 'reset' }, times: 1 });
      // Retriable for the activity, which looks the record up by its natural key before inserting again.
      await expect(client().insert('incident', { short_description: 'x' })).rejects.toMatchObject({
        service: 'servicenow',
        code: 'ECONNRESET',
        retriable: true,
      });
      expect(journal.entries()).toHaveLength(1);
    });

    it('gives up after the bounded number of attempts with a retriable error', async () => {
      faults.add({ service: 'servicenow', action: { type: 'status', status: 503 } });
      await expect(client({ retry: { maxAttempts: 3 } }).get('incident', sysId(1))).rejects.toMatchObject({
        status: 503,
        retriable: true,
      });
      expect(journal.entries()).toHaveLength(3);
      expect(sleeps).toHaveLength(2);
    });

    it('does not wait for a Retry-After beyond the cap; the error carries it for a durable retry', async () => {
      faults.add({
        service: 'servicenow',
        action: { type: 'status', status: 429, headers: { 'Retry-After': '3600' } },
        times: 1,
      });
      await expect(client().get('incident', sysId(1))).rejects.toMatchObject({
        status: 429,
        retriable: true,
        retryAfterMs: 3_600_000,
      });
      expect(sleeps).toEqual([]);
    });
  });
});

describe('nextLink', () => {
  it('finds rel="next" among several links', () => {
    const h =
      '<https://i.service-now.com/api/now/table/incident?sysparm_offset=0>;rel="first",<https://i.service-now.com/api/now/table/incident?sysparm_offset=10>;rel="next"';
    expect(nextLink(h)).toBe('https://i.service-now.com/api/now/table/incident?sysparm_offset=10');
    expect(nextLink('<https://x/a>;rel="last"')).toBeUndefined();
    expect(nextLink(undefined)).toBeUndefined();
  });
});
