import type { Application } from '../../sandbox/directory';
import { runChecks } from '../../src/activities/checks';
import type {
  AppResult,
  ExpectedRecord,
  RecordResult,
  RunChecksInput,
  SecretResult,
} from '../../src/contracts/provision';
import { m365SupportAad } from '../../src/profiles/m365-support-aad';
import { startActivityEnv, type ActivityEnv } from '../helpers/activity-env';

describe('runChecks', () => {
  let env: ActivityEnv;
  let instance: string;
  let n = 0;
  const secretsSeen: string[] = [];

  beforeAll(async () => {
    env = await startActivityEnv();
    instance = env.settings.SANDBOX_SERVICENOW_INSTANCE;
  }, 60000);
  afterAll(() => env.close());

  /** Provisions the profile's objects directly in the sandbox, as the other activities would. */
  function provision(opts: { userClaim?: string } = {}): RunChecksInput {
    const run = ++n;
    const ref = env.ref({ tenantName: `Checks${run}` });
    const { directory, keyvault, servicenow } = env.sandbox;
    const apps: AppResult[] = [];
    const secrets: SecretResult[] = [];
    const byRole: Record<string, { app: Application; secret: string }> = {};
    for (const role of ['outbound', 'restApi', 'restUser']) {
      const app = directory.addApplication({
        displayName: `checks ${run} ${role}`,
        owners: [directory.functionIdentity.servicePrincipalId],
      });
      const sp = directory.addServicePrincipal({ appId: app.appId, displayName: app.displayName });
      const { credential, secretText } = directory.addPassword(app, { displayName: 'provision' });
      secretsSeen.push(secretText);
      const secretName = `checks${run}-${role}`;
      keyvault.seedSecret(secretName, secretText, { role });
      byRole[role] = { app, secret: secretText };
      apps.push({
        role,
        appId: app.appId,
        objectId: app.id,
        servicePrincipalId: sp.id,
        uniqueName: `checks-${run}-${role}`,
        created: true,
      });
      secrets.push({
        role,
        secretName,
        version: 'v1',
        keyId: credential.keyId,
        expiresOn: new Date(credential.endDateTime).toISOString(),
        created: true,
      });
    }
    const authority = env.settings.ENTRA_AUTHORITY_HOST;
    const instanceUrl = `${env.sandbox.urls.servicenow}/${instance}`;
    const expectedRecords: ExpectedRecord[] = [];
    const records: RecordResult[] = [];
    const add = (key: string, table: string, fields: Record<string, string>, secret?: Record<string, string>) => {
      const sysId = servicenow.seedRecord(instance, table, { ...fields, ...secret });
      expectedRecords.push({ key, table, fields });
      records.push({ key, table, sysId, created: true, mismatches: [] });
      return sysId;
    };
    add(
      'outboundProvider',
      'oauth_entity',
      {
        name: `${ref.tenantName} M365 Support Outbound`,
        type: 'oauth_provider',
        client_id: byRole.outbound.app.appId,
        default_grant_type: 'client_credentials',
        token_url: `${authority}/${ref.tenant}/oauth2/token`,
        redirect_url: `${instanceUrl}/oauth_redirect.do`,
        active: 'true',
      },
      { client_secret: byRole.outbound.secret },
    );
    const provider = add('oidcProvider', 'oidc_provider_configuration', {
      name: `${ref.tenantName} Azure`,
      oidc_url: `${authority}/${ref.tenant}/.well-known/openid-configuration`,
      user_claim: opts.userClaim ?? 'appid',
      user_field: 'user_name',
      enable_jti_verification: 'false',
    });
    add(
      'oidcEntity',
      'oauth_oidc_entity',
      {
        name: `${ref.tenantName}_application_inbound_api`,
        client_id: byRole.restApi.app.appId,
        oidc_provider_configuration: provider,
        redirect_url: `${instanceUrl}/oauth_redirect.do`,
        active: 'true',
      },
      { client_secret: byRole.restApi.secret },
    );
    const user = add('integrationUser', 'sys_user', {
      user_name: byRole.restUser.app.appId,
      first_name: 'M365 Support',
      last_name: 'Integration',
      web_service_access_only: 'true',
      internal_integration_user: 'true',
      active: 'true',
    });
    const role = servicenow.records(instance, 'sys_user_role').find((r) => r.values.name === 'incident_manager');
    servicenow.seedRecord(instance, 'sys_user_has_role', { user, role: role!.values.sys_id });
    return { ...ref, apps, secrets, records, checks: m365SupportAad.checks, expectedRecords };
  }

  function expectNoSecrets(value: unknown) {
    const text = JSON.stringify(value);
    for (const s of secretsSeen) expect(text).not.toContain(s);
    expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]{5,}\./);
  }

  it('passes every check on a correctly provisioned integration, with nothing secret in outcomes or logs', async () => {
    const input = provision();
    const lines: string[] = [];
    const outcomes = await runChecks(input, env.deps, {
      info: (...a: unknown[]) => lines.push(a.join(' ')),
      warn: (...a: unknown[]) => lines.push(a.join(' ')),
    });
    expect(outcomes.map((o) => [o.name, o.ok])).toEqual([
      ['outbound token (outbound)', true],
      ['OIDC metadata (oidcProvider)', true],
      ['inbound incident read (restUser → restApi)', true],
      ['records consistent', true],
    ]);
    expectNoSecrets(outcomes);
    expectNoSecrets(lines);
    // The inbound read really ran as the integration user with a bearer token.
    const read = env.sandbox.journal
      .entries({ service: 'servicenow' })
      .filter((e) => e.method === 'GET' && e.path.endsWith('/api/now/table/incident'));
    expect(read.at(-1)).toMatchObject({ status: 200, authSubject: `user:${input.apps[2].appId}` });
  });

  it('runs the checks at once, their outcomes in profile order: a slow first check holds none of the others back', async () => {
    const input = provision();
    const outboundSecret = input.secrets.find((x) => x.role === 'outbound')!.secretName;
    // The first check's only Key Vault read answers late; the other checks' calls must not wait for it.
    const slow = env.sandbox.faults.add({
      service: 'keyvault',
      method: 'GET',
      path: `^/secrets/${outboundSecret}/`,
      action: { type: 'latency', ms: 2000 },
      times: 1,
    });
    const mark = env.sandbox.journal.mark();
    try {
      const outcomes = await runChecks(input, env.deps);
      expect(outcomes.map((o) => [o.name, o.ok])).toEqual([
        ['outbound token (outbound)', true],
        ['OIDC metadata (oidcProvider)', true],
        ['inbound incident read (restUser → restApi)', true],
        ['records consistent', true],
      ]);
    } finally {
      env.sandbox.faults.remove(slow.id);
    }
    // The journal records a call when it is answered: the inbound read and the record reads of the later checks were
    // answered before the first check's Key Vault read (one after another, none of them could be).
    const calls = env.sandbox.journal.entries({ since: mark });
    const slowAt = calls.findIndex((e) => e.service === 'keyvault' && e.path.startsWith(`/secrets/${outboundSecret}/`));
    const inboundAt = calls.findIndex((e) => e.method === 'GET' && e.path.endsWith('/api/now/table/incident'));
    const recordReads = calls.filter(
      (e, i) => i < slowAt && e.service === 'servicenow' && /\/table\/\w+\/[0-9a-f]{32}$/.test(e.path),
    );
    expect(slowAt).toBeGreaterThan(inboundAt);
    expect(recordReads.length).toBeGreaterThanOrEqual(input.records.length);
  });

  it('fails the inbound check with the user_claim hint when the provider configuration maps the wrong claim', async () => {
    const input = provision({ userClaim: 'oid' });
    // The profile asks for appid; the instance was seeded with oid.
    input.expectedRecords.find((r) => r.key === 'oidcProvider')!.fields.user_claim = 'appid';
    const outcomes = await runChecks(input, env.deps);
    const inbound = outcomes.find((o) => o.name.startsWith('inbound'))!;
    expect(inbound.ok).toBe(false);
    expect(inbound.detail).toContain("user_claim 'oid'");
    expect(inbound.hint).toContain('User Claim');
    expect(inbound.hint).toContain('appid');
    expect(inbound.transient).toBeUndefined();
    expect(outcomes.find((o) => o.name === 'records consistent')).toMatchObject({ ok: false });
    expect(outcomes.find((o) => o.name.startsWith('outbound'))).toMatchObject({ ok: true });
    expectNoSecrets(outcomes);
  });

  it('fails the outbound check with the AADSTS7000215 hint when Key Vault holds a wrong secret', async () => {
    const input = provision();
    const wrong = `wrong-${'Z'.repeat(36)}`;
    secretsSeen.push(wrong);
    env.sandbox.keyvault.seedSecret(input.secrets[0].secretName, wrong, { role: 'outbound' });
    const [outbound] = await runChecks({ ...input, checks: [{ kind: 'outboundToken', app: 'outbound' }] }, env.deps);
    expect(outbound).toMatchObject({ ok: false, transient: true });
    expect(outbound.detail).toContain('AADSTS7000215');
    expect(outbound.hint).toMatch(/^AADSTS7000215: .*secrets step/);
    expectNoSecrets(outbound);

    // Long after the secret was stored, the same refusal is not propagation any more.
    env.sandbox.clock.advance(11 * 60_000);
    const [later] = await runChecks({ ...input, checks: [{ kind: 'outboundToken', app: 'outbound' }] }, env.deps);
    expect(later.ok).toBe(false);
    expect(later.transient).toBeUndefined();
  });

  it('diagnoses an inactive integration user and reports drifted records', async () => {
    const input = provision();
    const sn = env.deps.serviceNow(instance);
    const userSysId = input.records.find((r) => r.key === 'integrationUser')!.sysId!;
    await sn.patch('sys_user', userSysId, { active: 'false' });
    const outcomes = await runChecks(input, env.deps);
    const inbound = outcomes.find((o) => o.name.startsWith('inbound'))!;
    expect(inbound.ok).toBe(false);
    expect(inbound.hint).toContain('inactive');
    const records = outcomes.find((o) => o.name === 'records consistent')!;
    expect(records.ok).toBe(false);
    expect(records.detail).toContain("integrationUser.active is 'false', expected 'true'");
  });

  it('fails the OIDC metadata check when the metadata URL names another tenant', async () => {
    const input = provision();
    const providerSysId = input.records.find((r) => r.key === 'oidcProvider')!.sysId!;
    await env.deps.serviceNow(instance).patch('oidc_provider_configuration', providerSysId, {
      oidc_url: `${env.settings.ENTRA_AUTHORITY_HOST}/other.example/.well-known/openid-configuration`,
    });
    const [metadata] = await runChecks(
      { ...input, checks: [{ kind: 'oidcMetadata', record: 'oidcProvider' }] },
      env.deps,
    );
    expect(metadata.ok).toBe(false);
    expect(metadata.hint).toContain('AADSTS90002');
  });

  it("passes the OIDC metadata check for a v2 metadata URL: its issuer is the tenant's v2 issuer, not the v1 one", async () => {
    const input = provision();
    const providerSysId = input.records.find((r) => r.key === 'oidcProvider')!.sysId!;
    const url = `${env.settings.ENTRA_AUTHORITY_HOST}/${input.tenant}/v2.0/.well-known/openid-configuration`;
    await env.deps.serviceNow(instance).patch('oidc_provider_configuration', providerSysId, { oidc_url: url });
    const [metadata] = await runChecks(
      { ...input, checks: [{ kind: 'oidcMetadata', record: 'oidcProvider' }] },
      env.deps,
    );
    expect(metadata).toMatchObject({ ok: true, detail: expect.stringMatching(/issuer https:\/\/\S+\/v2\.0$/) });
  });

  describe('the OIDC metadata check only contacts the configured authority host', () => {
    const CANARY = 'CANARY-4f1c2b';
    const WELL_KNOWN = '/\\.well-known/openid-configuration';
    const faultIds: number[] = [];
    afterEach(() => {
      for (const id of faultIds.splice(0)) env.sandbox.faults.remove(id);
    });
    const fault = (rule: Parameters<ActivityEnv['sandbox']['faults']['add']>[0]) =>
      faultIds.push(env.sandbox.faults.add(rule).id);
    const authority = () => new URL(env.settings.ENTRA_AUTHORITY_HOST).origin;
    /** Requests that reached the stand-in playing a foreign server (Key Vault's port: same host, another port). */
    const foreignHits = () =>
      env.sandbox.journal.entries({ service: 'keyvault' }).filter((e) => e.path.includes('.well-known'));

    async function metadataCheck(oidcUrl?: string) {
      const input = provision();
      if (oidcUrl !== undefined) {
        const providerSysId = input.records.find((r) => r.key === 'oidcProvider')!.sysId!;
        await env.deps.serviceNow(instance).patch('oidc_provider_configuration', providerSysId, { oidc_url: oidcUrl });
      }
      const [outcome] = await runChecks(
        { ...input, checks: [{ kind: 'oidcMetadata', record: 'oidcProvider' }] },
        env.deps,
      );
      return { outcome, input };
    }

    /** A foreign server that answers any discovery request with a document naming itself, CANARY included. */
    function foreignServer(): string {
      fault({
        service: 'keyvault',
        path: WELL_KNOWN,
        action: {
          type: 'status',
          status: 200,
          headers: { 'content-type': 'application/json' },
          body: { issuer: `https://evil.example/${CANARY}/`, token_endpoint: `https://evil.example/${CANARY}/token` },
        },
      });
      return `${env.sandbox.urls.keyvault}/${env.ref().tenant}/.well-known/openid-configuration`;
    }

    it('refuses a metadata URL on another host without fetching it, naming the expected host', async () => {
      const before = foreignHits().length;
      const { outcome } = await metadataCheck(foreignServer());
      expect(outcome.ok).toBe(false);
      expect(outcome.detail).toContain(`not on the configured Entra authority host ${authority()}`);
      expect(outcome.hint).toContain(`${authority()}/`);
      expect(JSON.stringify(outcome)).not.toContain(CANARY);
      expect(foreignHits().length).toBe(before);
    });

    it.each([
      ['another scheme', (a: URL) => `http://${a.host}`],
      ['another port', (a: URL) => `${a.protocol}//${a.hostname}:1`],
      ['user info', (a: URL) => `${a.protocol}//evil@${a.host}`],
    ])('refuses a metadata URL with %s', async (_what, origin) => {
      const entraBefore = env.sandbox.journal.entries({ service: 'entra' }).length;
      const { outcome } = await metadataCheck(
        `${origin(new URL(authority()))}/${env.ref().tenant}/.well-known/openid-configuration`,
      );
      expect(outcome.ok).toBe(false);
      expect(outcome.detail).toContain(`not on the configured Entra authority host ${authority()}`);
      // Refused before any request: not even the tenant's own metadata was read.
      expect(env.sandbox.journal.entries({ service: 'entra' }).length).toBe(entraBefore);
    });

    it('does not follow a redirect from the authority host', async () => {
      const foreign = foreignServer();
      fault({
        service: 'entra',
        path: WELL_KNOWN,
        action: { type: 'status', status: 302, headers: { location: foreign }, body: '' },
      });
      const before = foreignHits().length;
      const { outcome } = await metadataCheck();
      expect(outcome.ok).toBe(false);
      expect(outcome.detail).toMatch(/answered 302/);
      expect(JSON.stringify(outcome)).not.toContain(CANARY);
      expect(foreignHits().length).toBe(before);
    });

    it('never echoes the body of an error answer, but still maps its AADSTS code to a hint', async () => {
      fault({
        service: 'entra',
        path: WELL_KNOWN,
        action: {
          type: 'status',
          status: 400,
          headers: { 'content-type': 'application/json' },
          body: {
            error: `invalid_tenant ${CANARY}`,
            error_description: `AADSTS90002: Tenant '${CANARY}' not found. <script>${CANARY}</script>`,
            error_codes: [90002],
          },
        },
      });
      const { outcome } = await metadataCheck();
      expect(outcome.ok).toBe(false);
      expect(outcome.detail).toMatch(/answered 400/);
      expect(outcome.hint).toContain('AADSTS90002');
      expect(JSON.stringify(outcome)).not.toContain(CANARY);
    });

    it('refuses a discovery document larger than the cap', async () => {
      const own = `${env.settings.ENTRA_AUTHORITY_HOST}/${env.ref().tenant}/.well-known/openid-configuration`;
      const real = (await (await fetch(own)).json()) as Record<string, unknown>;
      fault({
        service: 'entra',
        path: WELL_KNOWN,
        action: {
          type: 'status',
          status: 200,
          headers: { 'content-type': 'application/json' },
          body: { ...real, padding: 'x'.repeat(1024 * 1024) },
        },
      });
      const { outcome } = await metadataCheck();
      expect(outcome.ok).toBe(false);
      expect(outcome.detail).toMatch(/larger than \d+ bytes/);
    });
  });
});
