/**
 * The credential inventory's rows, filters and CSV (src/inventory/credentials.ts), on registry rows built here: the
 * next rotation agrees with the sweep's own assessment (assessCredential) of the same credential, confirmations count
 * only for the credential in use, federated apps are listed without a secret, CSV quotes and neutralises formulas.
 */
import {
  buildInventory,
  credentialRows,
  CSV_COLUMNS,
  csvField,
  lastVerified,
  parseCredentialQuery,
  toCsv,
  type CredentialRow,
} from '../../src/inventory/credentials';
import type { IntegrationRecord } from '../../src/registry/types';
import { assessCredential } from '../../src/rotation/due';

const DAY = 24 * 3600 * 1000;
const NOW = new Date('2026-12-03T12:00:00.000Z');
const POLICY = { windowDays: 30, maxAgeDays: 180 };
const at = (days: number) => new Date(NOW.getTime() + days * DAY).toISOString();
const TENANT = '11111111-2222-3333-4444-555555555555';

function m365(id: string, over: Partial<IntegrationRecord> = {}): IntegrationRecord {
  const app = (role: string, expiresIn: number, createdAgo: number) => ({
    appId: `app-${role}-${id}`,
    objectId: `obj-${role}`,
    secretName: `${id}-${role}`.toLowerCase(),
    secretVersion: `v-${role}`,
    keyId: `key-${role}`,
    expiresOn: at(expiresIn),
    createdOn: at(-createdAgo),
  });
  return {
    id,
    profile: 'm365-support-aad',
    tenant: TENANT,
    tenantName: 'Contoso',
    tenantDomain: 'contoso.onmicrosoft.com',
    serviceNowInstance: 'dev1',
    status: 'active',
    instanceId: `provision-${id}`,
    apps: {
      // outbound: expiry first (60 - 30 = day 30); restApi: age first (created 170 days ago, 180 max = day 10).
      outbound: app('outbound', 60, 10),
      restApi: app('restApi', 400, 170),
      restUser: app('restUser', 20, 5),
    },
    serviceNow: { outboundProvider: 'sys-out', oidcEntity: 'sys-oidc' },
    checks: [],
    createdAt: at(-200),
    updatedAt: at(-1),
    ...over,
  };
}

const byRole = (rows: CredentialRow[]) => Object.fromEntries(rows.map((r) => [r.role, r]));

describe('credential rows', () => {
  it('lists every app of the profile with the next rotation of the rotation rule itself', () => {
    const record = m365('sn-dev1-aaaaaaaa');
    const rows = byRole(credentialRows(record, POLICY, NOW));
    expect(Object.keys(rows)).toEqual(['outbound', 'restApi', 'restUser']);
    expect(rows.outbound.nextRotation).toBe(at(30));
    expect(rows.restApi.nextRotation).toBe(at(10));
    expect(rows.restUser.nextRotation).toBe(at(-10));
    expect(rows.restUser.rotationDue).toBe(true);
    expect(rows.outbound.rotationDue).toBe(false);
    // The sweep assesses the same credential from Key Vault's version properties: the same instant.
    for (const role of ['outbound', 'restApi', 'restUser']) {
      const app = record.apps[role];
      const sweep = assessCredential(
        role,
        app,
        [
          {
            version: app.secretVersion!,
            enabled: true,
            createdOn: new Date(app.createdOn!),
            expiresOn: new Date(app.expiresOn!),
            tags: { keyId: app.keyId!, appId: app.appId },
          },
        ],
        POLICY,
        NOW,
      );
      expect(sweep.kind === 'due' || sweep.kind === 'not-due').toBe(true);
      if (sweep.kind === 'due' || sweep.kind === 'not-due')
        expect(rows[role].nextRotation).toBe(sweep.dueAt.toISOString());
    }
    expect(rows.outbound).toMatchObject({
      integrationId: 'sn-dev1-aaaaaaaa',
      profile: 'm365-support-aad',
      tenant: TENANT,
      tenantDomain: 'contoso.onmicrosoft.com',
      status: 'active',
      kind: 'client-secret',
      appId: 'app-outbound-sn-dev1-aaaaaaaa',
      keyId: 'key-outbound',
      secretName: 'sn-dev1-aaaaaaaa-outbound',
      secretVersion: 'v-outbound',
      created: at(-10),
      expires: at(60),
    });
  });

  it('gives no next rotation for an integration that is not active (only active ones are rotated)', () => {
    const rows = credentialRows(m365('sn-dev1-bbbbbbbb', { status: 'failed' }), POLICY, NOW);
    expect(rows.map((r) => r.nextRotation)).toEqual([null, null, null]);
    expect(rows.every((r) => !r.rotationDue && r.expires !== null)).toBe(true);
  });

  it('without a recorded creation time, the expiry alone decides (as the rule does)', () => {
    const record = m365('sn-dev1-cccccccc');
    delete record.apps.restApi.createdOn;
    expect(byRole(credentialRows(record, POLICY, NOW)).restApi).toMatchObject({ created: null, nextRotation: at(370) });
  });

  it('lists the consumers of the profile, confirmed only for the credential in use', () => {
    const record = m365('sn-dev1-dddddddd');
    record.apps.outbound.confirmations = [
      { consumer: 'servicenow:outboundProvider.client_secret', keyId: 'key-outbound', at: at(-10), by: 'system' },
    ];
    record.apps.restApi.confirmations = [
      // Of an earlier credential: does not count.
      { consumer: 'servicenow:oidcEntity.client_secret', keyId: 'key-old', at: at(-100), by: 'system' },
      {
        consumer: 'manual:Microsoft 365 admin center › Settings › Org settings › ServiceNow / Client secret',
        keyId: 'key-restApi',
        at: at(-2),
        by: 'approver@contoso.com',
      },
    ];
    const rows = byRole(credentialRows(record, POLICY, NOW));
    expect(rows.outbound.consumers).toEqual([
      {
        key: 'servicenow:outboundProvider.client_secret',
        kind: 'servicenow',
        record: 'outboundProvider',
        sysId: 'sys-out',
        field: 'client_secret',
        confirmed: true,
        confirmedAt: at(-10),
        confirmedBy: 'system',
      },
    ]);
    const restApi = rows.restApi.consumers;
    expect(restApi.map((c) => [c.kind, c.confirmed])).toEqual([
      ['servicenow', false],
      ['manual', restApi[1].key === record.apps.restApi.confirmations[1].consumer],
    ]);
    expect(restApi[0]).toMatchObject({ record: 'oidcEntity', sysId: 'sys-oidc', confirmedAt: null, confirmedBy: null });
    expect(restApi[1].kind === 'manual' && restApi[1].where).toBeTruthy();
    expect(rows.restUser.consumers).toEqual([expect.objectContaining({ kind: 'manual', confirmed: false })]);
  });

  it('lists the apps of a profile without a secret (federated) with no secret', () => {
    const record: IntegrationRecord = {
      ...m365('sn-dev1-eeeeeeee'),
      profile: 'copilot-servicenow-federated',
      apps: { copilot: { appId: '933838e2-bec1-440f-a634-9363c82e5b6d', objectId: 'sp-1', secretName: '' } },
    };
    expect(credentialRows(record, POLICY, NOW)).toEqual([
      expect.objectContaining({
        role: 'copilot',
        kind: 'federated',
        appId: '933838e2-bec1-440f-a634-9363c82e5b6d',
        keyId: null,
        secretName: null,
        secretVersion: null,
        created: null,
        expires: null,
        nextRotation: null,
        rotationDue: false,
        consumers: [],
      }),
    ]);
    // Before its app is recorded, the profile's app id is listed.
    expect(credentialRows({ ...record, apps: {} }, POLICY, NOW)[0].appId).toBe('933838e2-bec1-440f-a634-9363c82e5b6d');
  });

  it('last verified: the last checks when all passed, or the health check, whichever is later', () => {
    const ok = (name: string, d: number) => ({ name, ok: true, detail: '', at: at(d) });
    expect(lastVerified(m365('x', { checks: [ok('a', -5), ok('b', -4)] }))).toBe(at(-4));
    expect(lastVerified(m365('x', { checks: [ok('a', -5), { ...ok('b', -4), ok: false }] }))).toBeNull();
    const health = { checkedAt: at(-1), instanceId: 'h', ok: false, lastGoodAt: at(-2), findings: [] };
    expect(lastVerified(m365('x', { checks: [ok('a', -5)], health }))).toBe(at(-2));
    expect(lastVerified(m365('x', { checks: [ok('a', -1)], health }))).toBe(at(-1));
  });
});

describe('the inventory: filters and order', () => {
  const records = [
    m365('sn-dev1-aaaaaaaa'),
    m365('sn-dev2-bbbbbbbb', {
      status: 'failed',
      tenant: 'aaaaaaaa-0000-0000-0000-000000000000',
      tenantDomain: undefined,
    }),
    {
      ...m365('sn-dev3-cccccccc'),
      profile: 'copilot-servicenow-federated',
      apps: { copilot: { appId: '933838e2-bec1-440f-a634-9363c82e5b6d', objectId: 'sp', secretName: '' } },
    },
  ];

  it('sorts by expiry, soonest first (no expiry last)', () => {
    const rows = buildInventory(records, {}, POLICY, NOW);
    expect(rows).toHaveLength(7);
    const expiries = rows.map((r) => r.expires);
    expect(expiries.at(-1)).toBeNull();
    const known = expiries.filter((e): e is string => e !== null).map((e) => Date.parse(e));
    expect(known).toEqual([...known].sort((a, b) => a - b));
  });

  it('filters by expiry horizon, profile, tenant (id or domain) and status', () => {
    expect(buildInventory(records, { expiringWithinDays: 20 }, POLICY, NOW).map((r) => r.role)).toEqual([
      'restUser',
      'restUser',
    ]);
    expect(buildInventory(records, { expiringWithinDays: 0 }, POLICY, NOW)).toEqual([]);
    expect(buildInventory(records, { profile: 'copilot-servicenow-federated' }, POLICY, NOW)).toHaveLength(1);
    expect(buildInventory(records, { status: 'failed' }, POLICY, NOW).map((r) => r.integrationId)).toEqual(
      Array(3).fill('sn-dev2-bbbbbbbb'),
    );
    expect(buildInventory(records, { tenant: ['contoso.onmicrosoft.com'] }, POLICY, NOW)).toHaveLength(4);
    expect(buildInventory(records, { tenant: [TENANT.toUpperCase()] }, POLICY, NOW)).toHaveLength(4);
  });

  it('parses the query: defaults, and every problem listed', () => {
    expect(parseCredentialQuery(new URLSearchParams(''))).toEqual({ ok: true, filters: { format: 'json' } });
    expect(
      parseCredentialQuery(
        new URLSearchParams('format=csv&expiringWithinDays=30&profile=entra-id-spoke&tenant=Contoso.com&status=active'),
      ),
    ).toEqual({
      ok: true,
      filters: {
        format: 'csv',
        expiringWithinDays: 30,
        profile: 'entra-id-spoke',
        tenant: ['contoso.com'],
        status: 'active',
      },
    });
    const bad = parseCredentialQuery(
      new URLSearchParams(
        'format=xml&expiringWithinDays=-1&profile=nope&tenant=not%20a%20tenant&status=sleeping&colour=red&status=active',
      ),
    );
    expect(bad.ok).toBe(false);
    if (bad.ok) return;
    expect(bad.problems.map((p) => p.field).sort()).toEqual(
      ['colour', 'expiringWithinDays', 'format', 'profile', 'status', 'status', 'tenant'].sort(),
    );
    expect(bad.problems.find((p) => p.field === 'colour')?.message).toMatch(/unknown query parameter 'colour'/);
    expect(bad.problems.some((p) => p.message === 'status must be given at most once')).toBe(true);
    for (const v of ['3651', '1.5', 'ten', ''])
      expect(parseCredentialQuery(new URLSearchParams({ expiringWithinDays: v })).ok).toBe(false);
    expect(parseCredentialQuery(new URLSearchParams({ expiringWithinDays: '3650' })).ok).toBe(true);
  });
});

describe('CSV', () => {
  it('quotes every field, doubles quotes and neutralises formulas (OWASP CSV injection)', () => {
    expect(csvField('plain')).toBe('"plain"');
    expect(csvField('a "b", c\r\nd')).toBe('"a ""b"", c\r\nd"');
    for (const lead of ['=', '+', '-', '@', '\t', '\r']) expect(csvField(`${lead}1+1`)).toBe(`"'${lead}1+1"`);
    expect(csvField('=HYPERLINK("http://x")')).toBe(`"'=HYPERLINK(""http://x"")"`);
    expect(csvField('')).toBe('""');
  });

  it('has a header row and one CRLF-terminated record per row', () => {
    const record = m365('sn-dev1-aaaaaaaa', { tenantName: '=cmd' });
    record.apps.outbound.secretName = '-danger';
    const rows = buildInventory([record], {}, POLICY, NOW);
    const csv = toCsv(rows);
    const lines = csv.split('\r\n');
    expect(lines.at(-1)).toBe('');
    expect(lines).toHaveLength(rows.length + 2);
    expect(lines[0]).toBe(CSV_COLUMNS.map((c) => `"${c}"`).join(','));
    const outbound = lines.find((l) => l.includes('"outbound"'))!;
    expect(outbound).toContain(`"'-danger"`);
    expect(outbound).toContain(`"${at(30)}"`);
    expect(outbound).toContain('"0/1"');
    expect(toCsv([])).toBe(`${CSV_COLUMNS.map((c) => `"${c}"`).join(',')}\r\n`);
  });
});
