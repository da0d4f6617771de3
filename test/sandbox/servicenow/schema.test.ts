/**
 * The stand-in's tables carry the documented columns of every table the product touches, so a query on a real column
 * filters instead of being dropped as an unknown field; and the tables the next profiles need (credentials,
 * connections, aliases, access controls, OAuth scopes) exist with their documented columns.
 */
import { INSTANCE, startServiceNow, type Harness } from './helpers';

describe('ServiceNow stand-in: documented columns and tables', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startServiceNow();
  });
  afterAll(() => h.close());
  beforeEach(() => h.sn.reset());

  /** Columns the product reads or filters on, and documented ones beside them, per table with seeded rows. */
  const COLUMNS: [string, string[]][] = [
    [
      'incident',
      [
        'approval',
        'assignment_group',
        'caused_by',
        'contract',
        'hold_reason',
        'resolved_by',
        'service_offering',
        'sys_domain',
        'task_effective_number',
        'watch_list',
      ],
    ],
    ['sc_req_item', ['request', 'cat_item', 'quantity', 'backordered', 'configuration_item', 'estimated_delivery']],
    ['sc_request', ['requested_for', 'special_instructions']],
    [
      'change_request',
      ['backout_plan', 'cab_date_time', 'chg_model', 'implementation_plan', 'phase', 'requested_by_date', 'start_date'],
    ],
    ['sys_user', ['password_needs_reset', 'manager', 'department', 'title', 'vip', 'employee_number', 'time_zone']],
    ['sys_user_role', ['assignable_by', 'can_delegate', 'grantable', 'scoped_admin']],
  ];

  it.each(COLUMNS)('filters %s on its documented columns instead of ignoring the term', async (table, columns) => {
    const all = await h.admin.get(`/api/now/table/${table}`, { params: { sysparm_fields: 'sys_id' } });
    expect(all.data.result.length).toBeGreaterThan(0);
    for (const column of columns) {
      const r = await h.admin.get(`/api/now/table/${table}`, {
        params: { sysparm_query: `${column}=no-such-value-anywhere`, sysparm_fields: 'sys_id' },
      });
      // An unknown column would be dropped and every row returned (the SN-TABLE quirk).
      expect([table, column, r.data.result.length]).toEqual([table, column, 0]);
      const dict = await h.admin.get('/api/now/table/sys_dictionary', {
        params: { sysparm_query: `element=${column}`, sysparm_fields: 'name' },
      });
      expect([table, column, dict.data.result.length > 0]).toEqual([table, column, true]);
    }
  });

  it('returns the documented task and change_request columns with their defaults', async () => {
    const created = await h.admin.post('/api/now/table/change_request', { short_description: 'Rotate secrets' });
    expect(created.status).toBe(201);
    expect(created.data.result).toMatchObject({
      number: expect.stringMatching(/^CHG\d{7}$/),
      approval: 'not requested',
      upon_approval: 'proceed',
      upon_reject: 'cancel',
      phase: 'requested',
      cab_required: 'false',
      sys_domain: { value: 'global' },
      sys_domain_path: '/',
      comments_and_work_notes: '',
      approval_history: '',
    });
    expect(created.data.result.task_effective_number).toBe(created.data.result.number);
  });

  it('dot-walks through more than one reference, in fields and in queries', async () => {
    const r = await h.admin.get('/api/now/table/sc_req_item', {
      params: {
        sysparm_query: 'request.requested_for.user_name=admin',
        sysparm_fields: 'number,request.number,request.requested_for.email,request.requested_for.manager.email',
      },
    });
    expect(r.data.result).toEqual([
      {
        number: 'RITM0010001',
        'request.number': 'REQ0010001',
        'request.requested_for.email': 'admin@example.com',
        'request.requested_for.manager.email': '',
      },
    ]);
    const none = await h.admin.get('/api/now/table/sc_req_item', {
      params: { sysparm_query: 'request.requested_for.user_name=abel.tuter' },
    });
    expect(none.data.result).toEqual([]);
  });

  it('holds aliases, OAuth 2.0 credentials and HTTP connections, children listed under their parents', async () => {
    const alias = await h.admin.post('/api/now/table/sys_alias', {
      name: 'AzureAD',
      id: 'sn_azure_ad_spoke.AzureAD',
      type: 'connection',
      connection_type: 'http_connection',
      multiple_connections: 'false',
    });
    expect(alias.status).toBe(201);
    const entity = await h.admin.post('/api/now/table/oauth_entity', {
      name: 'Microsoft Entra ID_clientCredentials',
      type: 'oauth_provider',
      client_id: 'app-1',
      default_grant_type: 'client_credentials',
    });
    const profile = await h.admin.post('/api/now/table/oauth_entity_profile', {
      name: 'Microsoft Entra ID_clientCredentials default_profile',
      oauth_entity: entity.data.result.sys_id,
      grant_type: 'client_credentials',
      default: 'true',
    });
    const scope = await h.admin.post('/api/now/table/oauth_entity_scope', {
      name: 'graph_default',
      oauth_entity_scope: 'https://graph.microsoft.com/.default',
      oauth_entity: entity.data.result.sys_id,
    });
    const profileScope = await h.admin.post('/api/now/table/oauth_entity_profile_scope', {
      oauth_entity_profile: profile.data.result.sys_id,
      oauth_entity_scope: scope.data.result.sys_id,
    });
    expect(profileScope.status).toBe(201);
    const credential = await h.admin.post('/api/now/table/oauth_2_0_credentials', {
      name: 'Azure AD Credentials',
      oauth_entity_profile: profile.data.result.sys_id,
      active: 'true',
    });
    expect(credential.data.result).toMatchObject({ order: '100', sys_class_name: 'oauth_2_0_credentials' });
    const connection = await h.admin.post('/api/now/table/http_connection', {
      name: 'Azure AD',
      connection_alias: alias.data.result.sys_id,
      credential: credential.data.result.sys_id,
      connection_url: 'https://graph.microsoft.com',
      active: 'true',
    });
    expect(connection.status).toBe(201);

    // The read-back chain a check follows: alias → active connection → credential → profile → entity.
    const chain = await h.admin.get('/api/now/table/sys_connection', {
      params: {
        sysparm_query: 'connection_alias.id=sn_azure_ad_spoke.AzureAD^active=true',
        sysparm_fields:
          'sys_class_name,connection_url,credential.name,credential.oauth_entity_profile.oauth_entity.client_id',
      },
    });
    expect(chain.data.result).toEqual([
      {
        sys_class_name: 'http_connection',
        connection_url: 'https://graph.microsoft.com',
        'credential.name': 'Azure AD Credentials',
        // `credential` references the parent table, which has no oauth_entity_profile: the unknown field is left out;
        // the child's columns are reached on the child table.
      },
    ]);
    const viaChild = await h.admin.get('/api/now/table/oauth_2_0_credentials', {
      params: { sysparm_fields: 'oauth_entity_profile.oauth_entity.client_id' },
    });
    expect(viaChild.data.result).toEqual([{ 'oauth_entity_profile.oauth_entity.client_id': 'app-1' }]);

    const parents = await h.admin.get('/api/now/table/sys_db_object', {
      params: {
        sysparm_query: 'nameINhttp_connection,oauth_2_0_credentials^ORDERBYname',
        sysparm_fields: 'name,super_class.name',
      },
    });
    expect(parents.data.result).toEqual([
      { name: 'http_connection', 'super_class.name': 'sys_connection' },
      { name: 'oauth_2_0_credentials', 'super_class.name': 'discovery_credentials' },
    ]);
  });

  it('lists the OIDC v2 records: provider configuration columns, OIDC entity and the auth scope mapping', async () => {
    const config = await h.admin.post('/api/now/table/oidc_provider_configuration', {
      name: 'Microsoft Entra ID',
      oidc_url: 'https://login.microsoftonline.com/tid/v2.0/.well-known/openid-configuration',
      oidc_config_cache_life_span: '120',
      user_claim: 'oid',
      user_field: 'user_name',
      enable_jti_verification: 'false',
    });
    const entity = await h.admin.post('/api/now/table/oauth_oidc_entity', {
      name: 'Microsoft Entra ID',
      client_id: '933838e2-bec1-440f-a634-9363c82e5b6d',
      active: 'true',
      oidc_provider_configuration: config.data.result.sys_id,
      scope_restriction_status: 'useraccount',
    });
    const scope = h.sn.records(INSTANCE, 'sys_auth_scope').find((r) => r.values.name === 'useraccount')!;
    const mapping = await h.admin.post('/api/now/table/oauth_entity_auth_scope_mapping', {
      oauth_entity: entity.data.result.sys_id,
      auth_scope: scope.values.sys_id,
    });
    expect(mapping.status).toBe(201);
    const read = await h.admin.get('/api/now/table/oauth_oidc_entity', {
      params: {
        sysparm_query: 'client_id=933838e2-bec1-440f-a634-9363c82e5b6d^active=true',
        sysparm_fields: 'scope_restriction_status,oidc_provider_configuration.user_claim',
      },
    });
    expect(read.data.result).toEqual([
      { scope_restriction_status: 'useraccount', 'oidc_provider_configuration.user_claim': 'oid' },
    ]);
  });

  describe('access controls', () => {
    it('refuses every Table API write to sys_security_acl and sys_security_acl_role with 403, even for admin', async () => {
      const acl = await h.admin.post('/api/now/table/sys_security_acl', {
        name: 'kb_knowledge',
        type: 'record',
        operation: 'read',
        active: 'true',
        admin_overrides: 'true',
      });
      expect(acl.status).toBe(403);
      expect(acl.data).toEqual({
        error: { message: 'Operation Failed', detail: 'ACL Exception Insert Failed due to security constraints' },
        status: 'failure',
      });
      const role = h.sn.records(INSTANCE, 'sys_user_role').find((r) => r.values.name === 'itil')!;
      const seeded = h.sn.seedRecord(INSTANCE, 'sys_security_acl', {
        name: 'incident',
        type: 'record',
        operation: 'read',
      });
      const link = await h.admin.post('/api/now/table/sys_security_acl_role', {
        sys_security_acl: seeded,
        sys_user_role: role.values.sys_id,
      });
      expect(link.status).toBe(403);
      expect((await h.admin.patch(`/api/now/table/sys_security_acl/${seeded}`, { active: 'false' })).status).toBe(403);
      expect((await h.admin.delete(`/api/now/table/sys_security_acl/${seeded}`)).status).toBe(403);
      // Reading stays possible for admin, and nothing changed.
      const read = await h.admin.get(`/api/now/table/sys_security_acl/${seeded}`, {
        params: { sysparm_fields: 'name,operation,active,admin_overrides,decision_type' },
      });
      expect(read.data.result).toEqual({
        name: 'incident',
        operation: 'read',
        active: 'true',
        admin_overrides: 'true',
        decision_type: 'allow',
      });
      expect(h.sn.records(INSTANCE, 'sys_security_acl_role')).toEqual([]);
    });

    it('hides the ACL, credential and connection tables from users without admin', async () => {
      h.sn.seedRecord(INSTANCE, 'sys_user', { user_name: 'itil.user', user_password: 'Itil-pass1' });
      const user = h.sn.records(INSTANCE, 'sys_user').find((u) => u.values.user_name === 'itil.user')!;
      const itil = h.sn.records(INSTANCE, 'sys_user_role').find((r) => r.values.name === 'itil')!;
      h.sn.seedRecord(INSTANCE, 'sys_user_has_role', { user: user.values.sys_id, role: itil.values.sys_id });
      const client = h.as({ username: 'itil.user', password: 'Itil-pass1' });
      for (const table of ['sys_security_acl', 'sys_security_acl_role', 'oauth_2_0_credentials', 'http_connection'])
        expect([table, (await client.get(`/api/now/table/${table}`)).status]).toEqual([table, 403]);
      expect((await client.get('/api/now/table/incident', { params: { sysparm_limit: 1 } })).status).toBe(200);
    });
  });
});
