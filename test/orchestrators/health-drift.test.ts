/** The pure drift comparison of the health check (src/orchestrators/health-drift.ts). */
import type { ObservedApp } from '../../src/contracts/health';
import {
  checkFindings,
  detectDrift,
  diffFindings,
  entraDrift,
  serviceNowDrift,
  type ApprovedRecord,
} from '../../src/orchestrators/health-drift';

const record: ApprovedRecord = {
  key: 'oidcEntity',
  table: 'oauth_oidc_entity',
  sysId: 'sys-1',
  fields: { client_id: 'app-1', active: 'true', name: 'Contoso' },
  naturalKey: ['client_id'],
};
const sn = (values: Record<string, string>, found = true) => ({
  records: [{ key: 'oidcEntity', found, values }],
  roles: { u1: ['incident_manager'] },
  missingUsers: [],
});
const grants = [{ userName: 'u1', role: 'incident_manager' }];

describe('serviceNowDrift', () => {
  it('finds nothing when every approved column holds its value and every grant is held', () => {
    expect(serviceNowDrift({ records: [record], grants, ownUsers: ['u1'], serviceNow: sn(record.fields) })).toEqual([]);
  });

  it('reports each differing column under its own subject; a natural-key column is not repairable', () => {
    const out = serviceNowDrift({
      records: [record],
      grants,
      ownUsers: ['u1'],
      serviceNow: sn({ client_id: 'other', active: 'false', name: 'Contoso' }),
    });
    expect(out.map((f) => [f.subject, f.kind, f.repairable])).toEqual([
      ['record:oidcEntity:client_id', 'record-drift', false],
      ['record:oidcEntity:active', 'record-drift', true],
    ]);
    expect(out[1].detail).toContain(`active is 'false', approved 'true'`);
  });

  it('quotes a drifted value clipped, so a huge value planted in the shared instance cannot overflow the registry row', () => {
    // The findings go on the registry row (one Table Storage property, 64 KiB at most) and into the audit trail.
    const planted = 'x'.repeat(100_000);
    const out = serviceNowDrift({
      records: [record],
      grants,
      ownUsers: ['u1'],
      serviceNow: sn({ ...record.fields, name: planted }),
    });
    expect(out).toHaveLength(1);
    expect(out[0].detail.length).toBeLessThan(1000);
    expect(out[0].detail).toContain(`name is '${'x'.repeat(200)}`);
    expect(out[0].detail).toContain("…' (100000 characters), approved 'Contoso'");
  });

  it('reports a deleted record, and one that was never created', () => {
    const missing = serviceNowDrift({ records: [record], grants: [], ownUsers: [], serviceNow: sn({}, false) });
    expect(missing).toMatchObject([{ kind: 'record-missing', subject: 'record:oidcEntity', repairable: true }]);
    const { sysId: _s, ...never } = record;
    const notCreated = serviceNowDrift({ records: [never], grants: [], ownUsers: [], serviceNow: sn(record.fields) });
    expect(notCreated[0].detail).toMatch(/never created/);
  });

  it('reports a removed grant (also when the user is gone) and roles added to our own user only', () => {
    const out = serviceNowDrift({
      records: [],
      grants: [...grants, { userName: 'person@contoso.com', role: 'insights_user' }],
      ownUsers: ['u1'],
      serviceNow: {
        records: [],
        roles: { u1: ['itil'], 'person@contoso.com': ['admin'] },
        missingUsers: [],
      },
    });
    expect(out.map((f) => [f.kind, f.subject, f.repairable])).toEqual([
      ['grant-removed', 'grant:u1:incident_manager', true],
      ['grant-removed', 'grant:person@contoso.com:insights_user', true],
      ['grant-added', 'grant-added:u1:itil', false],
    ]);
    const gone = serviceNowDrift({
      records: [],
      grants,
      ownUsers: ['u1'],
      serviceNow: { records: [], roles: {}, missingUsers: ['u1'] },
    });
    expect(gone).toMatchObject([{ kind: 'grant-removed', detail: expect.stringMatching(/no longer exists/) }]);
  });
});

const NOW = '2025-06-01T00:00:00.000Z';
const app = (over: Partial<ObservedApp> = {}): ObservedApp => ({
  role: 'outbound',
  exists: true,
  appId: 'app-1',
  credentials: [{ keyId: 'AAAA', type: 'password', endDateTime: '2025-12-01T00:00:00Z' }],
  ownKeyIds: ['aaaa'],
  secret: { name: 's', version: 'v1', found: true, enabled: true, expiresOn: '2025-12-01T00:00:00.000Z' },
  ...over,
});

describe('entraDrift', () => {
  it('finds nothing for our own credentials (keyIds compared case-insensitively)', () => {
    expect(entraDrift({ apps: [app()], inUse: { outbound: 'aaaa' }, now: NOW })).toEqual([]);
  });

  it('flags a credential whose keyId the product never recorded, password or certificate', () => {
    const out = entraDrift({
      apps: [
        app({
          credentials: [
            { keyId: 'aaaa', type: 'password' },
            { keyId: 'BBBB', type: 'password', displayName: 'by hand' },
            { keyId: 'cccc', type: 'key' },
          ],
        }),
      ],
      inUse: { outbound: 'aaaa' },
      now: NOW,
    });
    expect(out.map((f) => [f.kind, f.subject, f.repairable])).toEqual([
      ['unknown-credential', 'credential:outbound:bbbb', false],
      ['unknown-credential', 'credential:outbound:cccc', false],
    ]);
    expect(out[1].detail).toContain('certificate');
  });

  it('flags the credential in use when missing or expired, and the Key Vault version when missing, disabled or expired', () => {
    const kinds = (a: ObservedApp) =>
      entraDrift({ apps: [a], inUse: { outbound: 'aaaa' }, now: NOW }).map((f) => f.kind);
    expect(kinds(app({ credentials: [], ownKeyIds: ['aaaa'] }))).toEqual(['credential-missing']);
    expect(
      kinds(app({ credentials: [{ keyId: 'aaaa', type: 'password', endDateTime: '2025-05-01T00:00:00Z' }] })),
    ).toEqual(['credential-expired']);
    expect(kinds(app({ secret: { name: 's', version: 'v1', found: false } }))).toEqual(['secret-missing']);
    expect(kinds(app({ secret: { name: 's', version: 'v1', found: true, enabled: false } }))).toEqual([
      'secret-disabled',
    ]);
    expect(
      kinds(
        app({ secret: { name: 's', version: 'v1', found: true, enabled: true, expiresOn: '2025-05-01T00:00:00Z' } }),
      ),
    ).toEqual(['secret-expired']);
    expect(kinds(app({ exists: false }))).toEqual(['app-missing']);
  });
});

describe('detectDrift and diffFindings', () => {
  it('adds failed checks and preflight problems, one finding per subject, sorted', () => {
    const out = detectDrift(
      {
        records: [],
        grants: [],
        ownUsers: [],
        serviceNow: { records: [], roles: {}, missingUsers: [] },
        apps: [],
        inUse: {},
        now: NOW,
      },
      [
        { name: 'outbound token (outbound)', ok: false, detail: 'AADSTS7000222', hint: 'rotate' },
        { name: 'OIDC metadata (oidcProvider)', ok: true, detail: 'ok' },
      ],
      ['no role x'],
    );
    expect(out.map((f) => f.subject)).toEqual(['check:outbound token (outbound)', 'check:preflight']);
    expect(checkFindings([], [])).toEqual([]);
  });

  it('tells new subjects from persisting ones, and what cleared', () => {
    const f = (subject: string) => ({ kind: 'record-drift' as const, subject, detail: '', repairable: true });
    const d = diffFindings(['a', 'b'], [f('b'), f('c')]);
    expect(d.found.map((x) => x.subject)).toEqual(['c']);
    expect(d.cleared).toEqual(['a']);
  });
});

describe('entraDrift for certificate and federated credentials', () => {
  const fed = (found?: { issuer: string; subject: string; audiences: string[] }): ObservedApp =>
    app({
      credentials: [],
      ownKeyIds: [],
      secret: undefined,
      federated: {
        name: 'm365-snow-x',
        expected: { issuer: 'https://dev1.service-now.com', subject: 'sub-1' },
        ...(found ? { found } : {}),
      },
    });

  it('finds nothing while the federated credential holds the approved issuer, subject and exchange audience', () => {
    const ok = { issuer: 'https://dev1.service-now.com', subject: 'sub-1', audiences: ['api://AzureADTokenExchange'] };
    expect(entraDrift({ apps: [fed(ok)], inUse: {}, now: NOW })).toEqual([]);
  });

  it.each([
    ['gone', undefined, /is gone/],
    [
      'another issuer',
      { issuer: 'https://evil.example', subject: 'sub-1', audiences: ['api://AzureADTokenExchange'] },
      /issuer https:\/\/evil/,
    ],
    [
      'another subject',
      { issuer: 'https://dev1.service-now.com', subject: 'x', audiences: ['api://AzureADTokenExchange'] },
      /subject x/,
    ],
    [
      'another audience',
      { issuer: 'https://dev1.service-now.com', subject: 'sub-1', audiences: ['api://other'] },
      /audiences api:\/\/other/,
    ],
  ])('reports a federated credential that is %s (repairable: re-provisioning puts it back)', (_n, found, detail) => {
    const out = entraDrift({ apps: [fed(found)], inUse: {}, now: NOW });
    expect(out).toEqual([
      expect.objectContaining({
        kind: 'federated-drift',
        subject: 'federated:outbound:m365-snow-x',
        repairable: true,
        detail: expect.stringMatching(detail),
      }),
    ]);
  });

  it('reports a federated identity credential on our app that this product did not create (a way in)', () => {
    const out = entraDrift({
      apps: [
        app({
          otherFederated: [
            { id: 'F1', name: 'ci', issuer: 'https://token.actions.githubusercontent.com', subject: 'repo:x/y' },
          ],
        }),
      ],
      inUse: {},
      now: NOW,
    });
    expect(out).toEqual([
      expect.objectContaining({
        kind: 'unknown-credential',
        subject: 'credential:outbound:federated:f1',
        repairable: false,
        detail: expect.stringMatching(/federated identity credential 'ci' \(issuer https:\/\/token\.actions/),
      }),
    ]);
  });

  it('names a missing certificate a credential, not a client secret', () => {
    const out = entraDrift({
      apps: [app({ credentials: [], ownKeyIds: ['kc1'], secret: undefined })],
      inUse: { outbound: 'kc1' },
      now: NOW,
    });
    expect(out).toEqual([
      expect.objectContaining({ kind: 'credential-missing', detail: expect.stringMatching(/^the credential in use/) }),
    ]);
  });
});
