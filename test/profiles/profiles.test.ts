import { allProfiles, DEFAULT_PROFILE_ID, getProfile, registerProfile } from '../../src/profiles';
import { serviceNowNeeds } from '../../src/profiles/needs';
import { copilotServiceNowFederated } from '../../src/profiles/copilot-servicenow-federated';
import { m365SupportAad } from '../../src/profiles/m365-support-aad';
import { profileProblems } from '../../src/profiles/validate';
import { renderRecord, renderTemplate, TemplateError } from '../../src/profiles/template';
import { recordDependencies, recordWaves } from '../../src/profiles/dependencies';
import type { IntegrationProfile } from '../../src/profiles/types';

describe('record dependencies and waves', () => {
  it('finds the records a record references in its natural key, fields and activation fields', () => {
    const byKey = (k: string) => m365SupportAad.serviceNow.records.find((r) => r.key === k)!;
    expect(recordDependencies(byKey('outboundProfile'))).toEqual(['outboundProvider']);
    expect(recordDependencies(byKey('oidcEntity'))).toEqual(['oidcProvider']);
    expect(recordDependencies(byKey('outboundProvider'))).toEqual([]);
    expect(
      recordDependencies({
        ...byKey('integrationUser'),
        activate: { manager: '{records.oidcEntity.sysId}', other: '{records.oidcEntity.sysId}' },
      }),
    ).toEqual(['oidcEntity']);
  });

  it('puts every record of every profile in exactly one wave, after every record it references', () => {
    for (const profile of allProfiles()) {
      const specs = profile.serviceNow.records;
      const waves = recordWaves(specs);
      expect(
        waves
          .flat()
          .map((r) => r.key)
          .sort(),
      ).toEqual(specs.map((r) => r.key).sort());
      const waveOf = new Map(waves.flatMap((w, i) => w.map((r) => [r.key, i] as const)));
      for (const r of specs)
        for (const d of recordDependencies(r)) expect(waveOf.get(d)).toBeLessThan(waveOf.get(r.key)!);
    }
    // A reference to a record outside the set (written earlier) does not hold a record back.
    const activation = m365SupportAad.serviceNow.records.filter((r) => r.key === 'outboundProfile');
    expect(recordWaves(activation).map((w) => w.map((r) => r.key))).toEqual([['outboundProfile']]);
  });
});

describe('renderTemplate', () => {
  it('fills every placeholder', () => {
    expect(
      renderTemplate('{authorityHost}/{tenant}/oauth2/token', {
        authorityHost: 'https://login',
        tenant: 'contoso.com',
      }),
    ).toBe('https://login/contoso.com/oauth2/token');
  });

  it('refuses a template with unknown placeholders, naming each of them', () => {
    expect(() => renderTemplate('{a}-{b}-{c}', { b: 'x' })).toThrow(TemplateError);
    expect(() => renderTemplate('{a}-{b}-{c}', { b: 'x' })).toThrow('{a}, {c}');
  });

  it('renders every field of a record', () => {
    expect(renderRecord({ name: '{tenantName} Azure', active: 'true' }, { tenantName: 'Contoso' })).toEqual({
      name: 'Contoso Azure',
      active: 'true',
    });
  });
});

describe.each(allProfiles())('profile $id', (profile) => {
  const roles = new Set(profile.apps.map((a) => a.role));
  const recordKeys = profile.serviceNow.records.map((r) => r.key);

  it('has unique app roles and record keys', () => {
    expect(roles.size).toBe(profile.apps.length);
    expect(new Set(recordKeys).size).toBe(recordKeys.length);
  });

  it('passes the registration checks (placeholders, references, record order)', () => {
    expect(profileProblems(profile)).toEqual([]);
  });

  it('keys every record by fields it also writes, so a read-back can compare them', () => {
    for (const record of profile.serviceNow.records.filter((r) => !r.lookup))
      for (const [field, value] of Object.entries(record.naturalKey)) expect(record.fields[field]).toBe(value);
  });

  it('points secrets, consumers and checks at apps and records that exist', () => {
    for (const record of profile.serviceNow.records)
      if (record.secret) expect(roles.has(record.secret.fromApp)).toBe(true);
    for (const app of profile.apps)
      for (const consumer of app.secretConsumers)
        if (consumer.kind === 'servicenow') {
          const record = profile.serviceNow.records.find((r) => r.key === consumer.record);
          expect(record?.secret).toEqual({ field: consumer.field, fromApp: app.role });
        }
    for (const check of profile.checks) {
      if (check.kind === 'outboundToken') expect(roles.has(check.app)).toBe(true);
      if (check.kind === 'inboundTableRead')
        expect([check.clientApp, check.resourceApp].every((r) => roles.has(r))).toBe(true);
      if (check.kind === 'oidcMetadata') expect(recordKeys).toContain(check.record);
    }
  });

  it('never hands off a secret value, only Key Vault secret names', () => {
    for (const step of profile.handOffs.flatMap((h) => h.steps))
      if (/secret|password/i.test(step.label)) expect(step.value).toMatch(/^\{apps\.\w+\.secretName\}$/);
  });
});

describe('the seed profile m365-support-aad', () => {
  const profile = getProfile(DEFAULT_PROFILE_ID)!;
  const values = {
    tenant: 'contoso.onmicrosoft.com',
    tenantName: 'Contoso',
    integrationId: 'sn-dev1-0123abcd',
    authorityHost: 'https://login.microsoftonline.com',
    instanceUrl: 'https://dev1.service-now.com',
    redirectUri: 'https://dev1.service-now.com/auth_redirect.do',
    'apps.outbound.appId': 'out-id',
    'apps.restApi.appId': 'api-id',
    'apps.restUser.appId': 'user-id',
    'records.oidcProvider.sysId': 'cfg',
  };
  const field = (key: string) => profile.serviceNow.records.find((r) => r.key === key)!;

  it('writes the v1 token and metadata URLs and the appid → user_name mapping (seed-procedure B1–B4)', () => {
    expect(renderRecord(field('outboundProvider').fields, values)).toMatchObject({
      type: 'oauth_provider',
      client_id: 'out-id',
      default_grant_type: 'client_credentials',
      token_url: 'https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/token',
    });
    expect(renderRecord(field('oidcProvider').fields, values)).toMatchObject({
      // The integration id in the name keeps two integrations on one instance apart.
      name: 'Contoso Azure (sn-dev1-0123abcd)',
      oidc_url: 'https://login.microsoftonline.com/contoso.onmicrosoft.com/.well-known/openid-configuration',
      user_claim: 'appid',
      user_field: 'user_name',
      enable_jti_verification: 'false',
    });
    expect(renderRecord(field('oidcEntity').fields, values)).toMatchObject({
      name: 'Contoso_application_inbound_api',
      client_id: 'api-id',
      oidc_provider_configuration: 'cfg',
    });
    expect(renderRecord(field('integrationUser').fields, values)).toMatchObject({
      user_name: 'user-id',
      web_service_access_only: 'true',
    });
  });

  it('knows which consumers of each secret have no API (rotation hand-offs)', () => {
    const manual = Object.fromEntries(
      profile.apps.map((a) => [a.role, a.secretConsumers.filter((c) => c.kind === 'manual').length]),
    );
    expect(manual).toEqual({ outbound: 0, restApi: 1, restUser: 1 });
  });

  it('is unknown for other ids', () => {
    expect(getProfile('nope')).toBeUndefined();
    expect(getProfile('__proto__')).toBeUndefined();
  });
});

describe('profile registration', () => {
  const broken = (change: (p: IntegrationProfile) => IntegrationProfile) =>
    change(structuredClone({ ...m365SupportAad, id: 'broken-profile' }));

  it('lists every problem of a profile: unknown placeholder, undeclared app and record, a record used before it is ensured', () => {
    const p = broken((x) => {
      x.apps[0].displayName = 'X {nope}';
      x.serviceNow.records[0].fields.client_id = '{apps.ghost.appId}';
      x.serviceNow.records[0].fields.name = '{records.oidcEntity.sysId}';
      x.checks.push({ kind: 'oidcMetadata', record: 'missing' });
      x.serviceNow.trust[0].tokenApp = 'phantom';
      return x;
    });
    const problems = profileProblems(p);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringContaining('unknown placeholder {nope}'),
        expect.stringContaining("names app 'ghost', which is not declared"),
        expect.stringContaining("names record 'oidcEntity', which is ensured after this one"),
        expect.stringContaining("check oidcMetadata names record 'missing'"),
        expect.stringContaining("trust names app 'phantom'"),
      ]),
    );
    expect(() => registerProfile(p)).toThrow(/profile broken-profile is invalid/);
    expect(getProfile('broken-profile')).toBeUndefined();
  });

  it('refuses an existing service principal with a secret, and secret uses of apps that have none', () => {
    const p = structuredClone({ ...copilotServiceNowFederated, id: 'broken-existing' });
    p.apps[0].secretLifetimeDays = 180;
    p.apps[0].existing = { appId: 'not-a-guid', missing: ' ' };
    p.handOffs[0].steps.push({ label: 'Key Vault', value: '{apps.copilot.secretName}' });
    p.checks.push({ kind: 'outboundToken', app: 'copilot' });
    p.checks.push({ kind: 'servicePrincipalUser', app: 'copilot', user: 'oidcProvider', roles: [] });
    p.serviceNow.records[0].fields.name = '{apps.ghost.servicePrincipalId}';
    expect(profileProblems(p)).toEqual(
      expect.arrayContaining([
        "app copilot: existing appId 'not-a-guid' is not a GUID",
        'app copilot: existing app without a hand-off for when it is missing',
        'app copilot is an existing service principal: it has no client secret (lifetime 0, no consumers)',
        expect.stringContaining("{apps.copilot.secretName} names app 'copilot', which has no client secret"),
        "check outboundToken needs the client secret of app 'copilot', which has none",
        'check servicePrincipalUser: record oidcProvider is not a sys_user',
        expect.stringContaining("{apps.ghost.servicePrincipalId} names app 'ghost', which is not declared"),
      ]),
    );
    expect(profileProblems(copilotServiceNowFederated)).toEqual([]);
  });

  it('registers a valid profile once and takes it out again', () => {
    const copy = { ...m365SupportAad, id: 'registered-copy' };
    const unregister = registerProfile(copy);
    try {
      expect(getProfile('registered-copy')).toBe(copy);
      expect(() => registerProfile(copy)).toThrow(/already registered/);
    } finally {
      unregister();
    }
    expect(getProfile('registered-copy')).toBeUndefined();
  });

  it("derives the instance's needs from the records: every written column and every granted role", () => {
    const needs = serviceNowNeeds(m365SupportAad, ['itil']);
    for (const r of m365SupportAad.serviceNow.records)
      expect(needs.requiredColumns[r.table]).toEqual(
        expect.arrayContaining([
          ...Object.keys(r.naturalKey),
          ...Object.keys(r.fields),
          ...(r.secret ? [r.secret.field] : []),
        ]),
      );
    expect(needs.requiredRoles).toEqual(
      expect.arrayContaining(['incident_manager', 'x_mioms_m365_assis.insights_user', 'itil']),
    );
  });
});
