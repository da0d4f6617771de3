import { buildPlan, planDigest, planSourceOf, resolvePlan, type PlanInput } from '../../src/approvals/plan';
import { m365SupportAad } from '../../src/profiles/m365-support-aad';

const base = (over: Partial<PlanInput> = {}): PlanInput => ({
  profile: m365SupportAad,
  integrationId: 'sn-dev00000-0123abcd',
  tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
  tenantName: 'Contoso',
  tenantDomain: 'contoso.onmicrosoft.com',
  serviceNowInstance: 'dev00000',
  instanceUrl: 'https://dev00000.service-now.com',
  values: {
    tenant: '72f988bf-86f1-41af-91ab-2d7cd011db47',
    tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
    tenantDomain: 'contoso.onmicrosoft.com',
    tenantName: 'Contoso',
    instance: 'dev00000',
    instanceUrl: 'https://dev00000.service-now.com',
    authorityHost: 'https://login.microsoftonline.com',
    integrationId: 'sn-dev00000-0123abcd',
    redirectUri: 'https://dev00000.service-now.com/auth_redirect.do',
    testEnvironment: 'No',
    'apps.outbound.secretName': 'sn-dev00000-0123abcd-outbound',
    'apps.restApi.secretName': 'sn-dev00000-0123abcd-restapi',
    'apps.restUser.secretName': 'sn-dev00000-0123abcd-restuser',
  },
  uniqueNames: { outbound: 'u-outbound', restApi: 'u-restapi', restUser: 'u-restuser' },
  grantUsers: [],
  ipAllowlist: false,
  requestedBy: ['requester@contoso.com'],
  ...over,
});

const withApps = (input: PlanInput): PlanInput => ({
  ...input,
  values: {
    ...input.values,
    'apps.outbound.appId': '11111111-1111-1111-1111-111111111111',
    'apps.restApi.appId': '22222222-2222-2222-2222-222222222222',
    'apps.restUser.appId': '33333333-3333-3333-3333-333333333333',
  },
});

describe('approval plan', () => {
  it('states the trust, the role grants, the privileges and the records activation writes', () => {
    const plan = buildPlan(withApps(base()));
    expect(plan.trust).toHaveLength(1);
    expect(plan.trust[0].statement).toContain('33333333-3333-3333-3333-333333333333');
    expect(plan.trust[0].statement).toContain('incident_manager');
    expect(plan.trust[0].statement).toContain('72f988bf-86f1-41af-91ab-2d7cd011db47');
    expect(plan.roleGrants).toEqual([{ userName: '33333333-3333-3333-3333-333333333333', role: 'incident_manager' }]);
    expect(plan.privileges.map((p) => p.target)).toEqual(['global.oauth_entity', 'global.oauth_entity_profile']);
    const user = plan.records.find((r) => r.key === 'integrationUser');
    expect(user?.values).toMatchObject({ active: 'true', locked_out: 'false' });
    // Secrets appear as Key Vault names only.
    expect(plan.records.find((r) => r.key === 'outboundProvider')?.values.client_secret).toBe(
      'Key Vault secret sn-dev00000-0123abcd-outbound',
    );
    expect(plan.apps.map((a) => a.appId)).toEqual([
      '11111111-1111-1111-1111-111111111111',
      '22222222-2222-2222-2222-222222222222',
      '33333333-3333-3333-3333-333333333333',
    ]);
  });

  it('has the same digest before and after the apps exist, and whoever asks', () => {
    const d = planDigest(base());
    expect(d).toMatch(/^[0-9a-f]{64}$/);
    expect(planDigest(withApps(base()))).toBe(d);
    expect(planDigest(base({ requestedBy: ['someone.else@contoso.com'] }))).toBe(d);
    expect(planDigest(base({ tenantDomain: undefined }))).toBe(d);
  });

  it('changes its digest with anything that grants more or points elsewhere', () => {
    const d = planDigest(base());
    const changes: PlanInput[] = [
      base({ grantUsers: [{ userName: 'admin', role: 'x_mioms_m365_assis.administrator' }] }),
      base({ ipAllowlist: true }),
      base({ values: { ...base().values, redirectUri: 'https://dev00000.service-now.com/other.do' } }),
      base({ tenantId: '00000000-0000-0000-0000-000000000001' }),
      base({ serviceNowInstance: 'dev00001' }),
    ];
    for (const c of changes) expect(planDigest(c)).not.toBe(d);
  });

  it('has the same digest once the records exist (their sys_ids are shown, not agreed to)', () => {
    const d = planDigest(base());
    const withRecords = withApps(base());
    withRecords.values['records.outboundProvider.sysId'] = '0123456789abcdef0123456789abcdef';
    expect(planDigest(withRecords)).toBe(d);
    const profile = buildPlan(withRecords).records.find((r) => r.key === 'outboundProfile');
    expect(profile?.values.oauth_entity).toBe('0123456789abcdef0123456789abcdef');
  });
});

describe('plan source', () => {
  it('builds the plan from its source only when the source has the digest the run holds', () => {
    const input = withApps(base());
    const digest = planDigest(input);
    const source = planSourceOf(input, ['role grant admin:x']);
    expect(source).not.toHaveProperty('profile');
    expect(source.profileId).toBe(m365SupportAad.id);
    expect(resolvePlan(source, digest)).toEqual({
      ok: true,
      plan: { ...buildPlan(input), removes: ['role grant admin:x'] },
    });

    // A source that grants more (or any other change) is not the approved plan: never built, never shown.
    const tampered = { ...source, grantUsers: [{ userName: 'admin', role: 'x_mioms_m365_assis.administrator' }] };
    const refused = resolvePlan(tampered, digest);
    expect(refused.ok).toBe(false);
    expect(!refused.ok && refused.reason).toContain(digest.slice(0, 12));
    expect(resolvePlan({ ...source, profileId: 'no-such-profile' }, digest)).toEqual({
      ok: false,
      reason: "unknown integration profile 'no-such-profile'",
    });
  });
});
