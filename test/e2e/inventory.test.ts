/**
 * `GET /api/credentials` end to end: after provisioning (through the HTTP API and the emailed approval) and after a
 * rotation, the inventory lists every credential with what Graph and Key Vault hold (keyId, expiry, the Key Vault
 * version and its creation time), the next rotation the sweep's own assessment computes from Key Vault, the
 * consumers the product confirmed, the federated profile's app without a secret; CSV and the filters.
 */
import type { LocalStack } from '../../sandbox/stack';
import { getDeps } from '../../src/app/deps';
import type { CredentialRow } from '../../src/inventory/credentials';
import { copilotServiceNowFederated } from '../../src/profiles/copilot-servicenow-federated';
import { assessCredential } from '../../src/rotation/due';
import { versionsOf } from '../../src/rotation/sweep';
import { api, decideFromEmail } from './api-driver';
import {
  drive,
  provisionTracked,
  ROLES,
  rotateNow,
  rotationStatus,
  startRotationHarness,
  type RotationHarness,
  type Tracked,
} from './rotation-helpers';
import { approverOf, requestFor, runToApproval, runToEnd, startProvisioning } from './stack-driver';

jest.setTimeout(180_000);

interface Inventory {
  generatedAt: string;
  count: number;
  credentials: CredentialRow[];
}

describe('credential inventory: GET /api/credentials', () => {
  let h: RotationHarness;
  let stack: LocalStack;
  let m365: Tracked;
  let copilot: Tracked;
  let guidId: string;

  const inventory = async (query = ''): Promise<Inventory> => {
    const res = await api(stack, 'GET', `/api/credentials${query}`);
    expect(res.status).toBe(200);
    return res.json as Inventory;
  };
  const rowsOf = (inv: Inventory, id: string) => inv.credentials.filter((r) => r.integrationId === id);

  /** Every row of the integration against Graph's credentials and Key Vault's versions, and the sweep's due rule. */
  async function crossCheck(t: Tracked, rows: CredentialRow[]): Promise<void> {
    const { config } = getDeps();
    const policy = { windowDays: config.rotation.windowDays, maxAgeDays: config.rotation.maxAgeDays };
    expect(rows.map((r) => r.role).sort()).toEqual([...ROLES].sort());
    for (const row of rows) {
      const registryApp = t.view.created.apps[row.role];
      const graph = stack.sandbox.directory.applications.get(registryApp.objectId)?.passwordCredentials ?? [];
      // One live credential per app after provisioning, and after a rotation retired the old one.
      expect(graph.map((c) => c.keyId)).toEqual([row.keyId]);
      expect(Date.parse(row.expires!)).toBe(graph[0].endDateTime);
      const secret = await getDeps().secrets.getSecret(row.secretName!);
      expect(secret.properties.version).toBe(row.secretVersion);
      expect(secret.properties.tags?.keyId).toBe(row.keyId);
      expect(row.expires).toBe(secret.properties.expiresOn?.toISOString());
      expect(row.created).toBe(secret.properties.createdOn?.toISOString());
      // The sweep's assessment from Key Vault's version properties: the same due instant.
      const app = { ...registryApp, keyId: row.keyId!, secretVersion: row.secretVersion! };
      const sweep = assessCredential(
        row.role,
        app,
        await versionsOf(getDeps(), row.secretName!),
        policy,
        new Date(stack.sandbox.clock.now()),
      );
      expect(sweep.kind === 'not-due' || sweep.kind === 'due').toBe(true);
      if (sweep.kind === 'not-due' || sweep.kind === 'due') expect(row.nextRotation).toBe(sweep.dueAt.toISOString());
      expect(row).toMatchObject({ status: 'active', kind: 'client-secret', appId: registryApp.appId });
    }
  }

  beforeAll(async () => {
    h = await startRotationHarness(['dev00000', 'inv-m365', 'inv-copilot', 'inv-guid']);
    stack = h.stack;
    m365 = await provisionTracked(h, 'inv-m365');
    copilot = await provisionTracked(h, 'inv-copilot', copilotServiceNowFederated);
    // One requested by tenant id (no domain recorded): a filter by the domain finds it too.
    const byId = await startProvisioning(
      stack,
      requestFor(stack, 'inv-guid', { tenant: rowsOf(await inventory(), m365.id)[0].tenant, tenantName: 'Contoso' }),
    );
    await runToApproval(stack, byId);
    expect((await decideFromEmail(stack, approverOf(stack), byId, 'approve')).status).toBe(200);
    expect((await runToEnd(stack, byId, { throughApproval: true })).outcome).toBe('active');
    guidId = byId;
  });
  afterAll(async () => {
    await h?.close();
  });

  it('after provisioning: every credential with the Graph and Key Vault state and the rotation rule', async () => {
    const inv = await inventory();
    expect(inv.count).toBe(inv.credentials.length);
    const rows = rowsOf(inv, m365.id);
    await crossCheck(m365, rows);
    // The ServiceNow copies were written by the product; the Microsoft 365 admin center hand-off is not confirmed.
    const byRole = Object.fromEntries(rows.map((r) => [r.role, r]));
    expect(byRole.outbound.consumers.map((c) => [c.kind, c.record, c.confirmed, c.confirmedBy])).toEqual([
      ['servicenow', 'outboundProvider', true, 'system'],
    ]);
    expect(byRole.outbound.consumers[0].sysId).toBe(m365.view.created.serviceNow.outboundProvider);
    expect(byRole.restApi.consumers.map((c) => [c.kind, c.confirmed])).toEqual([
      ['servicenow', true],
      ['manual', false],
    ]);
    expect(byRole.restUser.consumers.map((c) => [c.kind, c.confirmed])).toEqual([['manual', false]]);
    // Verified by the checks of the run that went live (the registry's, each with its time).
    const registered = (await getDeps().registry.get(m365.id))!.value;
    expect(registered.checks.length).toBeGreaterThan(0);
    expect(registered.checks.every((c) => c.ok)).toBe(true);
    for (const row of rows)
      expect(row.lastVerified).toBe(
        registered.checks
          .map((c) => c.at)
          .sort()
          .at(-1),
      );

    // The federated profile: its app, no secret.
    expect(rowsOf(inv, copilot.id)).toEqual([
      expect.objectContaining({
        role: 'copilot',
        kind: 'federated',
        appId: copilot.view.created.apps.copilot.appId,
        secretName: null,
        keyId: null,
        expires: null,
        nextRotation: null,
        consumers: [],
      }),
    ]);
    // Soonest expiry first, the rows without an expiry last.
    const expiries = inv.credentials.map((r) => (r.expires ? Date.parse(r.expires) : Infinity));
    expect(expiries).toEqual([...expiries].sort((a, b) => a - b));
  });

  it('filters by profile, tenant (domain or id), status and expiry horizon; 400 lists every bad value', async () => {
    const env = stack.env();
    const federated = await inventory(`?profile=${copilotServiceNowFederated.id}`);
    expect(federated.credentials.map((r) => r.integrationId)).toEqual([copilot.id]);
    const byDomain = await inventory(`?tenant=${env.SANDBOX_TENANT_DOMAIN}`);
    const byId = await inventory(`?tenant=${rowsOf(byDomain, m365.id)[0].tenant}`);
    expect(byId.credentials.map((r) => `${r.integrationId}/${r.role}`)).toEqual(
      byDomain.credentials.map((r) => `${r.integrationId}/${r.role}`),
    );
    expect(byDomain.count).toBe(7);
    expect(rowsOf(byDomain, guidId)).toHaveLength(3);
    expect(rowsOf(byDomain, guidId)[0].tenantDomain).toBeNull();
    expect((await inventory('?status=failed')).count).toBe(0);
    expect((await inventory('?status=active')).count).toBe(7);
    expect((await inventory('?expiringWithinDays=0')).count).toBe(0);
    expect((await inventory('?expiringWithinDays=3650')).count).toBe(6);

    const bad = await api(
      stack,
      'GET',
      '/api/credentials?expiringWithinDays=soon&profile=nope&status=odd&tenant=%5E&x=1',
    );
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const fields = (bad.json as { errors: { field: string }[] }).errors.map((e) => e.field).sort();
    expect(fields).toEqual(['expiringWithinDays', 'profile', 'status', 'tenant', 'x']);
    expect((await api(stack, 'GET', '/api/credentials', { key: null })).status).toBe(401);
  });

  it('CSV: a header row, one quoted record per credential, text/csv', async () => {
    const res = await api(stack, 'GET', `/api/credentials?format=csv&tenant=${stack.env().SANDBOX_TENANT_DOMAIN}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    const lines = res.text.split('\r\n');
    expect(lines[0]).toMatch(/^"integrationId","profile","tenant",/);
    expect(lines).toHaveLength(1 + 7 + 1);
    expect(lines.slice(1, -1).every((l) => l.startsWith('"sn-'))).toBe(true);
    expect(res.text).toContain(`"${m365.id}"`);
  });

  it('after a rotation: the new credentials, their Key Vault versions and every consumer confirmed', async () => {
    const before = Object.fromEntries(rowsOf(await inventory(), m365.id).map((r) => [r.role, r]));
    const res = await rotateNow(stack, m365.id);
    expect(res.status).toBe(202);
    const end = await drive(h, m365);
    expect(rotationStatus(end)?.outcome).toBe('rotated');
    const rows = rowsOf(await inventory(), m365.id);
    await crossCheck(m365, rows);
    const status = rotationStatus(end)!;
    for (const row of rows) {
      expect(row.keyId).not.toBe(before[row.role].keyId);
      expect(row.keyId).toBe(status.rotated.find((r) => r.role === row.role)?.newKeyId);
      expect(Date.parse(row.created!)).toBeGreaterThan(Date.parse(before[row.role].created!));
      // Every consumer of the new credential is confirmed: ServiceNow by the product, the admin center by the person
      // who clicked "done" in the hand-off email.
      for (const c of row.consumers) {
        expect([row.role, c.key, c.confirmed]).toEqual([row.role, c.key, true]);
        expect(c.confirmedBy).toEqual(c.kind === 'servicenow' ? 'system' : expect.stringContaining('@'));
        expect(Date.parse(c.confirmedAt!)).toBeGreaterThanOrEqual(Date.parse(row.created!) - 1000);
      }
    }
    expect(m365.probe.failures).toEqual([]);
  });
});
