/**
 * Credential kinds at the edge and in the plan: a request picks `options.credential` among the kinds its profile
 * allows (400 listing the problem otherwise), the plan an approver signs states the credential, and a plan of client
 * secrets keeps the digest it always had (an approved integration is not asked again for nothing).
 */
import { parseIntegrationRequest } from '../../src/api/integration-request';
import { buildPlan, planDigest, type PlanInput } from '../../src/approvals/plan';
import { applyUpdate } from '../../src/activities/registry';
import { planHtml } from '../../src/mail/approval';
import { describeProfile } from '../../src/functions/profiles';
import { credentialKindFor, credentialKinds } from '../../src/profiles/credential-kinds';
import { entraIdSpoke } from '../../src/profiles/entra-id-spoke';
import { m365SupportAad } from '../../src/profiles/m365-support-aad';
import { copilotServiceNowFederated } from '../../src/profiles/copilot-servicenow-federated';
import { profileProblems } from '../../src/profiles/validate';
import { credentialRows } from '../../src/inventory/credentials';
import { priorState } from '../../src/registry/prior';
import type { IntegrationRecord } from '../../src/registry/types';

const base = { tenant: 'contoso.onmicrosoft.com', tenantName: 'Contoso', serviceNowInstance: 'dev00001' };

describe('options.credential at the edge', () => {
  it.each(['secret', 'certificate', 'federated'])('accepts %s for the seed and the spoke profile', (credential) => {
    for (const profile of ['m365-support-aad', 'entra-id-spoke'])
      expect(parseIntegrationRequest({ ...base, profile, options: { credential } }).ok).toBe(true);
  });

  it.each([
    ['unknown kind', { profile: 'entra-id-spoke', options: { credential: 'password' } }, 'options.credential'],
    ['number', { profile: 'entra-id-spoke', options: { credential: 1 } }, 'options.credential'],
    ['null', { profile: 'entra-id-spoke', options: { credential: null } }, 'options.credential'],
    ['proto', { profile: 'entra-id-spoke', options: { credential: '__proto__' } }, 'options.credential'],
    [
      'a kind the profile does not allow',
      { profile: 'copilot-servicenow-federated', options: { credential: 'certificate' } },
      'options.credential',
    ],
  ])('%s is a 400 problem naming the field', (_n, extra, field) => {
    const r = parseIntegrationRequest({ ...base, ...extra });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problems.map((p) => p.field)).toContain(field);
  });

  it('lists the credential problem next to every other one', () => {
    const r = parseIntegrationRequest({
      ...base,
      profile: 'entra-id-spoke',
      options: { credential: 'pfx', testEnvironment: 'yes' },
    });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problems.map((p) => p.field).sort()).toEqual(['options.credential', 'options.testEnvironment']);
  });
});

describe('which app gets which kind', () => {
  it('applies the requested kind only to the app whose consumer is a ServiceNow OAuth provider', () => {
    expect(credentialKinds(m365SupportAad, 'certificate')).toEqual({
      outbound: 'certificate',
      restApi: 'secret',
      restUser: 'secret',
    });
    expect(credentialKinds(entraIdSpoke, 'federated')).toEqual({ spoke: 'federated' });
    expect(credentialKinds(entraIdSpoke, undefined)).toEqual({ spoke: 'secret' });
    // An app without a credential of ours gets none.
    const existing = copilotServiceNowFederated.apps.find((a) => a.existing);
    if (existing) expect(credentialKindFor(existing, 'certificate')).toBeUndefined();
  });

  it('refuses a profile that offers a certificate to an app ServiceNow does not consume through an OAuth provider', () => {
    const bad = {
      ...m365SupportAad,
      apps: m365SupportAad.apps.map((a) =>
        a.role === 'restUser' ? { ...a, credentialKinds: ['secret' as const, 'certificate' as const] } : a,
      ),
    };
    expect(profileProblems(bad).join('\n')).toMatch(/app restUser: certificate and federated credentials need/);
    expect(profileProblems(m365SupportAad)).toEqual([]);
    expect(profileProblems(entraIdSpoke)).toEqual([]);
  });

  it('tells API clients which kinds a profile offers', () => {
    expect(describeProfile(entraIdSpoke).options.credential).toEqual({
      kinds: ['secret', 'certificate', 'federated'],
      default: 'secret',
      apps: ['spoke'],
    });
    expect(describeProfile(copilotServiceNowFederated).options.credential).toBeNull();
  });
});

const planInput = (over: Partial<PlanInput> = {}): PlanInput => ({
  profile: entraIdSpoke,
  integrationId: 'sn-dev00001-0123abcd',
  tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
  tenantName: 'Contoso',
  serviceNowInstance: 'dev00001',
  instanceUrl: 'https://dev00001.service-now.com',
  values: {
    tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
    tenantName: 'Contoso',
    instance: 'dev00001',
    instanceUrl: 'https://dev00001.service-now.com',
    authorityHost: 'https://login.microsoftonline.com',
    integrationId: 'sn-dev00001-0123abcd',
    graphUrl: 'https://graph.microsoft.com',
    'apps.spoke.secretName': 'sn-dev00001-0123abcd-spoke',
  },
  uniqueNames: { spoke: 'u-spoke' },
  grantUsers: [],
  ipAllowlist: false,
  requestedBy: [],
  ...over,
});

describe('the plan states the credential', () => {
  it('keeps the digest of a plan of client secrets, and changes it for another kind', () => {
    const secret = planDigest(planInput());
    expect(planDigest(planInput({ credentials: {} }))).toBe(secret);
    const cert = planDigest(planInput({ credentials: { spoke: 'certificate' } }));
    const fed = planDigest(planInput({ credentials: { spoke: 'federated' } }));
    expect(new Set([secret, cert, fed]).size).toBe(3);
  });

  it('shows a certificate instead of the Key Vault secret name in the provider record and in the email', () => {
    const secretPlan = buildPlan(planInput());
    const provider = (p: typeof secretPlan) => p.records.find((r) => r.key === 'provider')?.values ?? {};
    expect(provider(secretPlan).client_secret).toMatch(/Key Vault secret sn-dev00001-0123abcd-spoke/);
    const certPlan = buildPlan(planInput({ credentials: { spoke: 'certificate' } }));
    expect(provider(certPlan).client_secret).toBeUndefined();
    expect(certPlan.apps[0].credential?.kind).toBe('certificate');
    const html = String(planHtml(certPlan));
    expect(html).toContain('Credentials without a client secret');
    expect(html).toMatch(/private-key JWT/);
    expect(String(planHtml(secretPlan))).not.toContain('Credentials without a client secret');
  });
});

describe('the registry keeps the credential kind', () => {
  const row = (): IntegrationRecord => ({
    id: 'sn-dev1-0123abcd',
    profile: 'entra-id-spoke',
    tenant: 't',
    tenantName: 'T',
    serviceNowInstance: 'dev1',
    status: 'active',
    instanceId: 'provision-sn-dev1-0123abcd',
    apps: {
      spoke: { appId: 'a', objectId: 'o', secretName: 's', secretVersion: 'v1', keyId: 'k1', expiresOn: '2027-01-01' },
    },
    serviceNow: {},
    checks: [],
    createdAt: '2026-12-01T00:00:00.000Z',
    updatedAt: '2026-12-01T00:00:00.000Z',
  });

  it('records the certificate and, once the secret is retired, forgets the secret', () => {
    expect(priorState(row()).priorSecretRoles).toEqual(['spoke']);
    const r = applyUpdate(row(), {
      integrationId: 'x',
      at: '2026-12-02T00:00:00.000Z',
      credentials: [
        {
          role: 'spoke',
          kind: 'certificate',
          certificateName: 's-cert',
          version: 'cv1',
          x5t: 'x5t',
          notAfter: '2027-12-01T00:00:00.000Z',
          keyId: 'kc1',
        },
      ],
      retiredSecrets: ['spoke'],
    });
    expect(r.apps.spoke).toEqual({
      appId: 'a',
      objectId: 'o',
      secretName: '',
      credential: {
        kind: 'certificate',
        certificateName: 's-cert',
        version: 'cv1',
        x5t: 'x5t',
        keyId: 'kc1',
        expiresOn: '2027-12-01T00:00:00.000Z',
      },
    });
    expect(priorState(r).priorSecretRoles).toBeUndefined();
  });
});

describe('the credential inventory lists certificates', () => {
  it('shows the certificate, not a secret, for an app that moved to one, and federated apps without secret fields', () => {
    const policy = { windowDays: 30, maxAgeDays: 90 };
    const now = new Date('2026-12-03T00:00:00.000Z');
    const row = (credential: IntegrationRecord['apps'][string]['credential']): IntegrationRecord => ({
      id: 'sn-dev1-0123abcd',
      profile: 'entra-id-spoke',
      tenant: 't',
      tenantName: 'T',
      serviceNowInstance: 'dev1',
      status: 'active',
      instanceId: 'provision-sn-dev1-0123abcd',
      apps: { spoke: { appId: 'a', objectId: 'o', secretName: '', ...(credential ? { credential } : {}) } },
      serviceNow: { provider: 'p1' },
      checks: [],
      createdAt: '2026-12-01T00:00:00.000Z',
      updatedAt: '2026-12-02T00:00:00.000Z',
    });
    const [cert] = credentialRows(
      row({
        kind: 'certificate',
        certificateName: 'sn-dev1-0123abcd-spoke-cert',
        version: 'cv1',
        x5t: 'dGh1bWI',
        keyId: 'kc1',
        expiresOn: '2026-12-20T00:00:00.000Z',
      }),
      policy,
      now,
    );
    expect(cert).toMatchObject({
      kind: 'certificate',
      keyId: 'kc1',
      secretName: null,
      secretVersion: null,
      certificateName: 'sn-dev1-0123abcd-spoke-cert',
      certificateVersion: 'cv1',
      thumbprint: 'dGh1bWI',
      expires: '2026-12-20T00:00:00.000Z',
      rotationDue: true,
    });
    expect(cert.consumers).toEqual([
      expect.objectContaining({ record: 'provider', confirmed: true, confirmedBy: 'system' }),
    ]);
    const [fed] = credentialRows(
      row({ kind: 'federated', name: 'm365-snow-x', issuer: 'https://dev1.service-now.com', subject: 's' }),
      policy,
      now,
    );
    expect(fed).toMatchObject({ kind: 'federated', secretName: null, certificateName: null, expires: null });
  });
});
