import { ADMIN_SYS_ID, seededRoles } from '../../../sandbox/servicenow/seed';
import { INSTANCE, startServiceNow, type Harness } from './helpers';

describe('ServiceNow stand-in: Table API', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startServiceNow({ deniedWrites: ['sys_scope_privilege'] });
  });
  afterAll(() => h.close());
  beforeEach(() => {
    h.sn.reset();
    h.sn.setRateLimits([]);
    h.journal.clear();
  });

  describe('CRUD', () => {
    it('creates (201 + Location), reads, patches, puts and deletes (204) with string values', async () => {
      const created = await h.admin.post('/api/now/table/incident', {
        short_description: 'Provisioning run',
        urgency: 2,
        active: true,
        bogus_field: 'ignored',
      });
      expect(created.status).toBe(201);
      const rec = created.data.result;
      expect(rec.sys_id).toMatch(/^[0-9a-f]{32}$/);
      expect(created.headers.location).toBe(`${h.base}/api/now/table/incident/${rec.sys_id}`);
      expect(rec).toMatchObject({ urgency: '2', active: 'true', sys_class_name: 'incident', sys_mod_count: '0' });
      expect(rec.number).toMatch(/^INC\d{7}$/);
      expect(rec.sys_created_on).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
      expect(rec.sys_created_by).toBe('admin');
      expect(rec).not.toHaveProperty('bogus_field');

      const got = await h.admin.get(`/api/now/table/incident/${rec.sys_id}`);
      expect(got.status).toBe(200);
      expect(got.data.result.short_description).toBe('Provisioning run');

      const patched = await h.admin.patch(`/api/now/table/incident/${rec.sys_id}`, { state: '2' });
      expect(patched.status).toBe(200);
      expect(patched.data.result).toMatchObject({ state: '2', sys_mod_count: '1' });
      const put = await h.admin.put(`/api/now/v2/table/incident/${rec.sys_id}`, { short_description: 'Renamed' });
      expect(put.data.result).toMatchObject({ short_description: 'Renamed', state: '2', sys_mod_count: '2' });

      const del = await h.admin.delete(`/api/now/table/incident/${rec.sys_id}`);
      expect(del.status).toBe(204);
      expect(del.data).toBe('');
      expect((await h.admin.get(`/api/now/table/incident/${rec.sys_id}`)).status).toBe(404);
    });

    it('suppresses the echoed record with X-no-response-body', async () => {
      const r = await h.admin.post(
        '/api/now/table/incident',
        { short_description: 'quiet' },
        { headers: { 'X-no-response-body': 'true' } },
      );
      expect(r.status).toBe(201);
      expect(r.data).toBe('');
      expect(r.headers.location).toMatch(/\/api\/now\/table\/incident\/[0-9a-f]{32}$/);
    });

    it('answers an empty list with 404 in v1 and 200 [] in v2 and unversioned', async () => {
      const q = { params: { sysparm_query: 'number=INC9999999' } };
      expect((await h.admin.get('/api/now/v1/table/incident', q)).status).toBe(404);
      const v2 = await h.admin.get('/api/now/v2/table/incident', q);
      expect([v2.status, v2.data]).toEqual([200, { result: [] }]);
      expect((await h.admin.get('/api/now/table/incident', q)).data).toEqual({ result: [] });
    });

    it('shows OIDC entities in oauth_entity queries with their class, and only parent columns there', async () => {
      const config = await h.admin.post('/api/now/table/oidc_provider_configuration', { name: 'Contoso Azure' });
      const oidc = await h.admin.post('/api/now/table/oauth_oidc_entity', {
        name: 'contoso_application_inbound_api',
        client_id: 'aud-1',
        oidc_provider_configuration: config.data.result.sys_id,
      });
      expect(oidc.status).toBe(201);
      const parent = await h.admin.get('/api/now/table/oauth_entity', { params: { sysparm_query: 'client_id=aud-1' } });
      expect(parent.data.result).toHaveLength(1);
      expect(parent.data.result[0].sys_class_name).toBe('oauth_oidc_entity');
      expect(parent.data.result[0]).not.toHaveProperty('oidc_provider_configuration');
      const child = await h.admin.get('/api/now/table/oauth_oidc_entity', {
        params: { sysparm_query: 'client_id=aud-1' },
      });
      expect(child.data.result[0].oidc_provider_configuration.value).toBe(config.data.result.sys_id);
    });
  });

  describe('queries', () => {
    const numbers = (r: { data: { result: { number: string }[] } }) => r.data.result.map((x) => x.number);

    it('ignores a term on a misspelled field and returns every row', async () => {
      const all = await h.admin.get('/api/now/table/incident');
      const typo = await h.admin.get('/api/now/table/incident', { params: { sysparm_query: 'numbr=INC0000046' } });
      expect(typo.data.result.length).toBe(all.data.result.length);
      expect(typo.data.result.length).toBeGreaterThan(1);
    });

    it('supports ^OR, STARTSWITH, IN, ISEMPTY, ^NQ and ORDERBYDESC', async () => {
      const or = await h.admin.get('/api/now/table/incident', {
        params: { sysparm_query: 'number=INC0000046^ORnumber=INC0000050^ORDERBYnumber' },
      });
      expect(numbers(or)).toEqual(['INC0000046', 'INC0000050']);
      const starts = await h.admin.get('/api/now/table/sys_user_role', {
        params: { sysparm_query: 'nameSTARTSWITHx_mioms' },
      });
      expect(starts.data.result.map((r: { name: string }) => r.name).sort()).toEqual([
        'x_mioms_m365_assis.administrator',
        'x_mioms_m365_assis.insights_user',
      ]);
      const inq = await h.admin.get('/api/now/table/incident', {
        params: { sysparm_query: 'numberININC0000050,INC0000060^ORDERBYDESCnumber' },
      });
      expect(numbers(inq)).toEqual(['INC0000060', 'INC0000050']);
      const nq = await h.admin.get('/api/now/table/incident', {
        params: { sysparm_query: 'state=7^NQnumber=INC0000046^ORDERBYnumber' },
      });
      expect(numbers(nq)).toEqual(['INC0000046', 'INC0000060']);
      const empty = await h.admin.get('/api/now/table/incident', {
        params: { sysparm_query: 'assigned_toISEMPTY^active=true' },
      });
      expect(numbers(empty)).toEqual(['INC0000046']);
    });

    it('pages with sysparm_limit/offset, X-Total-Count and Link', async () => {
      // The seeded roles: the base ones plus every registered profile's (at least three pages of three).
      const total = seededRoles().length;
      expect(total).toBeGreaterThan(6);
      const lastOffset = Math.floor((total - 1) / 3) * 3;
      const r = await h.admin.get('/api/now/table/sys_user_role', { params: { sysparm_limit: 3, sysparm_offset: 3 } });
      expect(r.data.result).toHaveLength(3);
      expect(r.headers['x-total-count']).toBe(String(total));
      const links = String(r.headers.link);
      expect(links).toContain(`<${h.base}/api/now/table/sys_user_role?sysparm_limit=3&sysparm_offset=0>;rel="first"`);
      expect(links).toContain('sysparm_offset=0>;rel="prev"');
      expect(links).toContain('sysparm_offset=6>;rel="next"');
      expect(links).toContain(`sysparm_offset=${lastOffset}>;rel="last"`);
      const last = await h.admin.get('/api/now/table/sys_user_role', {
        params: { sysparm_limit: 3, sysparm_offset: lastOffset },
      });
      expect(last.data.result).toHaveLength(total - lastOffset);
      expect(String(last.headers.link)).not.toContain('rel="next"');
    });

    it('returns only known sysparm_fields and dot-walks a reference', async () => {
      const r = await h.admin.get('/api/now/table/sys_user_has_role', {
        params: { sysparm_query: `user=${ADMIN_SYS_ID}`, sysparm_fields: 'role.name,user.user_name,nope,sys_id' },
      });
      expect(r.data.result).toEqual([
        { 'role.name': 'admin', 'user.user_name': 'admin', sys_id: expect.stringMatching(/^[0-9a-f]{32}$/) },
      ]);
    });
  });

  describe('values', () => {
    it('returns references as {link,value}, plain with exclude_reference_link, and display values', async () => {
      const id = 'ef43c6d40a0a0b5700c77f9bf387afe3';
      const raw = await h.admin.get(`/api/now/table/incident/${id}`, {
        params: { sysparm_fields: 'assigned_to,state' },
      });
      expect(raw.data.result).toEqual({
        assigned_to: { link: `${h.base}/api/now/table/sys_user/${ADMIN_SYS_ID}`, value: ADMIN_SYS_ID },
        state: '2',
      });
      const plain = await h.admin.get(`/api/now/table/incident/${id}`, {
        params: { sysparm_fields: 'assigned_to', sysparm_exclude_reference_link: 'true' },
      });
      expect(plain.data.result).toEqual({ assigned_to: ADMIN_SYS_ID });
      const shown = await h.admin.get(`/api/now/table/incident/${id}`, {
        params: { sysparm_fields: 'assigned_to,state', sysparm_display_value: 'true' },
      });
      expect(shown.data.result).toEqual({
        assigned_to: {
          display_value: 'System Administrator',
          link: `${h.base}/api/now/table/sys_user/${ADMIN_SYS_ID}`,
        },
        state: 'In Progress',
      });
      const both = await h.admin.get(`/api/now/table/incident/${id}`, {
        params: { sysparm_fields: 'state,number', sysparm_display_value: 'all' },
      });
      expect(both.data.result).toEqual({
        state: { display_value: 'In Progress', value: '2' },
        number: { display_value: 'INC0000050', value: 'INC0000050' },
      });
    });

    it('saves password2 only with sysparm_input_display_value=true and never returns it in clear', async () => {
      const created = await h.admin.post('/api/now/table/oauth_entity', {
        name: 'Contoso M365 Support Outbound',
        type: 'oauth_provider',
        client_id: 'app-1',
        client_secret: 'dropped-secret-1',
      });
      const id = created.data.result.sys_id;
      expect(created.data.result.client_secret).toBe('');
      expect(h.sn.secretOf(INSTANCE, 'oauth_entity', id)).toBeUndefined();

      const saved = await h.admin.patch(
        `/api/now/table/oauth_entity/${id}`,
        { client_secret: 'kept-secret-2' },
        { params: { sysparm_input_display_value: 'true' } },
      );
      expect(saved.status).toBe(200);
      expect(h.sn.secretOf(INSTANCE, 'oauth_entity', id)).toBe('kept-secret-2');
      const read = await h.admin.get(`/api/now/table/oauth_entity/${id}`, { params: { sysparm_display_value: 'all' } });
      expect(JSON.stringify(read.data)).not.toContain('kept-secret-2');
      expect(JSON.stringify(saved.data)).not.toContain('kept-secret-2');
      expect(JSON.stringify(h.journal.entries())).not.toContain('kept-secret-2');
      expect(JSON.stringify(h.journal.entries())).toContain('[redacted]');
    });

    it('appends journal fields to sys_journal_field and reads them back as ""', async () => {
      const id = 'a9e30c7dc61122760116894de7bcc7bd';
      const r = await h.admin.patch(`/api/now/table/incident/${id}`, { work_notes: 'Step 1/5 done' });
      await h.admin.patch(`/api/now/table/incident/${id}`, { work_notes: 'Step 2/5 done', comments: 'Hello' });
      expect(r.data.result.work_notes).toBe('');
      const entries = await h.admin.get('/api/now/table/sys_journal_field', {
        params: { sysparm_query: `element_id=${id}^ORDERBYsys_created_on`, sysparm_fields: 'name,element,value' },
      });
      expect(entries.data.result).toEqual([
        { name: 'incident', element: 'work_notes', value: 'Step 1/5 done' },
        { name: 'incident', element: 'work_notes', value: 'Step 2/5 done' },
        { name: 'incident', element: 'comments', value: 'Hello' },
      ]);
    });

    it('lists every column of every table in sys_dictionary, inherited ones under the parent', async () => {
      const child = await h.admin.get('/api/now/table/sys_dictionary', {
        params: { sysparm_query: 'name=oauth_oidc_entity^elementISNOTEMPTY', sysparm_fields: 'element' },
      });
      expect(child.data.result).toEqual([{ element: 'oidc_provider_configuration' }]);
      const parent = await h.admin.get('/api/now/table/sys_dictionary', {
        params: { sysparm_query: 'name=oauth_entity^element=client_secret', sysparm_fields: 'internal_type' },
      });
      expect(parent.data.result).toEqual([{ internal_type: 'password2' }]);
    });
  });

  describe('errors', () => {
    it('answers 401 with the envelope for missing or wrong credentials', async () => {
      for (const client of [h.as(undefined), h.as({ username: 'admin', password: 'wrong' })]) {
        const r = await client.get('/api/now/table/incident');
        expect(r.status).toBe(401);
        expect(r.data).toEqual({
          error: { message: 'User Not Authenticated', detail: 'Required to provide Auth information' },
          status: 'failure',
        });
      }
    });

    it('refuses an inactive user', async () => {
      h.sn.setUserPassword(INSTANCE, 'abel.tuter', 'Abel-pass1');
      const abel = h.as({ username: 'abel.tuter', password: 'Abel-pass1' });
      expect((await abel.get('/api/now/table/incident')).status).toBe(200);
      const user = h.sn.records(INSTANCE, 'sys_user').find((u) => u.values.user_name === 'abel.tuter')!;
      await h.admin.patch(`/api/now/table/sys_user/${user.values.sys_id}`, { active: false });
      expect((await abel.get('/api/now/table/incident')).status).toBe(401);
    });

    it('answers 400 Invalid table, 404 No Record found, 405 and 400 on bad JSON', async () => {
      const table = await h.admin.get('/api/now/table/not_a_table');
      expect([table.status, table.data]).toEqual([
        400,
        { error: { message: 'Invalid table not_a_table', detail: null }, status: 'failure' },
      ]);
      const missing = await h.admin.get(`/api/now/table/incident/${'0'.repeat(32)}`);
      expect(missing.status).toBe(404);
      expect(missing.data.error.message).toBe('No Record found');
      expect((await h.admin.delete('/api/now/table/incident')).status).toBe(405);
      const bad = await h.admin.post('/api/now/table/incident', '{"short_description":', {
        headers: { 'Content-Type': 'application/json' },
      });
      expect(bad.status).toBe(400);
      expect(bad.data.status).toBe('failure');
    });

    it('answers a plain 404 page for an unknown instance', async () => {
      const r = await h.admin.get(`${h.server.origin}/nosuchinstance/api/now/table/incident`);
      expect(r.status).toBe(404);
      expect(String(r.headers['content-type'])).toContain('text/html');
    });

    it('refuses writes to protected tables with 403 even for admin, but still reads them', async () => {
      const r = await h.admin.post('/api/now/table/sys_scope_privilege', {
        target_name: 'oauth_entity',
        operation: 'read',
      });
      expect(r.status).toBe(403);
      expect(r.data).toEqual({
        error: { message: 'Operation Failed', detail: 'ACL Exception Insert Failed due to security constraints' },
        status: 'failure',
      });
      expect((await h.admin.get('/api/now/table/sys_scope_privilege')).status).toBe(200);
    });

    it('enforces roles: no ticket role → 403 on incident lists, 404 on one; no admin → 403 on OAuth writes', async () => {
      h.sn.seedRecord(INSTANCE, 'sys_user', { user_name: 'norole', user_password: 'NoRole-pass1' });
      const norole = h.as({ username: 'norole', password: 'NoRole-pass1' });
      expect((await norole.get('/api/now/table/incident')).status).toBe(403);
      expect((await norole.get('/api/now/table/incident/a9e30c7dc61122760116894de7bcc7bd')).status).toBe(404);
      const w = await norole.post('/api/now/table/oauth_entity', { name: 'x' });
      expect(w.status).toBe(403);
      expect(w.data.error.detail).toContain('Insert Failed');
    });
  });

  describe('rate limiting and faults', () => {
    it('answers 429 with Retry-After and X-RateLimit-* once the hourly budget is spent', async () => {
      h.sn.setRateLimits([{ sysId: 'a'.repeat(32), user: 'admin', requestsPerHour: 2 }]);
      const ok = await h.admin.get('/api/now/table/incident', { params: { sysparm_limit: 1 } });
      expect(ok.headers['x-ratelimit-limit']).toBe('2');
      await h.admin.get('/api/now/table/incident', { params: { sysparm_limit: 1 } });
      const limited = await h.admin.get('/api/now/table/incident', { params: { sysparm_limit: 1 } });
      expect(limited.status).toBe(429);
      expect(limited.data).toEqual({
        error: { message: 'Rate limit exceeded', detail: 'Rate limit of 2 requests per hour for Table API exceeded' },
        status: 'failure',
      });
      expect(limited.headers['x-ratelimit-rule']).toBe('a'.repeat(32));
      const reset = Number(limited.headers['x-ratelimit-reset']);
      expect(reset % 3600).toBe(0);
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
      h.clock.advance(3600_000);
      expect((await h.admin.get('/api/now/table/incident', { params: { sysparm_limit: 1 } })).status).toBe(200);
    });

    it('gives injected 429s and 503s the ServiceNow envelope', async () => {
      h.faults.add({ service: 'servicenow', action: { type: 'status', status: 429 }, times: 1 });
      h.faults.add({ service: 'servicenow', action: { type: 'status', status: 503 }, times: 1 });
      const r429 = await h.admin.get('/api/now/table/incident');
      expect(r429.status).toBe(429);
      expect(r429.headers['retry-after']).toBe('1');
      expect(r429.data.error.message).toBe('Rate limit exceeded');
      const r503 = await h.admin.get('/api/now/table/incident');
      expect(r503.status).toBe(503);
      expect(r503.data).toEqual({ error: { message: 'Service Unavailable', detail: null }, status: 'failure' });
    });
  });

  describe('OAuth server (oauth_token.do)', () => {
    const form = (v: Record<string, string>) => new URLSearchParams(v).toString();
    const tokenRequest = (body: Record<string, string>) =>
      h
        .as(undefined)
        .post('/oauth_token.do', form(body), { headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });

    it('issues a client_credentials token that works as Bearer for the application user until it expires', async () => {
      h.sn.seedRecord(INSTANCE, 'oauth_entity', {
        name: 'provisioner',
        type: 'client',
        client_id: 'cid-1',
        client_secret: 'csecret-1',
        user: ADMIN_SYS_ID,
      });
      const bad = await tokenRequest({ grant_type: 'client_credentials', client_id: 'cid-1', client_secret: 'wrong' });
      expect([bad.status, bad.data]).toEqual([401, { error_description: 'access_denied', error: 'server_error' }]);
      const t = await tokenRequest({
        grant_type: 'client_credentials',
        client_id: 'cid-1',
        client_secret: 'csecret-1',
      });
      expect(t.status).toBe(200);
      expect(t.data).toEqual({
        access_token: expect.any(String),
        scope: 'useraccount',
        token_type: 'Bearer',
        expires_in: 1799,
      });
      const api = h.as({ bearer: t.data.access_token });
      expect((await api.get('/api/now/table/incident', { params: { sysparm_limit: 1 } })).status).toBe(200);
      expect(h.journal.entries().at(-1)?.authSubject).toBe('user:admin');
      expect(JSON.stringify(h.journal.entries())).not.toContain('csecret-1');
      h.clock.advance(1801_000);
      expect((await api.get('/api/now/table/incident')).status).toBe(401);
    });

    it('refuses client_credentials when the property is off', async () => {
      h.sn.seedRecord(INSTANCE, 'oauth_entity', {
        name: 'p',
        type: 'client',
        client_id: 'cid-2',
        client_secret: 's2',
        user: ADMIN_SYS_ID,
      });
      const prop = h.sn.records(INSTANCE, 'sys_properties').find((p) => p.values.name.includes('client.credential'))!;
      await h.admin.patch(`/api/now/table/sys_properties/${prop.values.sys_id}`, { value: 'false' });
      const t = await tokenRequest({ grant_type: 'client_credentials', client_id: 'cid-2', client_secret: 's2' });
      expect(t.status).toBe(401);
      expect(t.data.error_description).toBe('access_denied');
    });
  });
});
