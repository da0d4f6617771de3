/**
 * Decommissioning one of two integrations on one ServiceNow instance that share records (the profile's cross-scope
 * privileges and a role granted to the same named user). After the approval, nothing of the decommissioned
 * integration is left live in any stand-in (apps and service principals in Entra's deleted items, Key Vault secrets
 * soft-deleted and their names blocked until purged or recovered, its ServiceNow records deleted, its ledger entries
 * gone), while no record of the other integration was written and its checks still pass; the shared records stay while
 * the other integration references them. A re-run removes nothing twice. Decommissioning the other integration then
 * releases the last reference and deletes the shared records an integration created.
 *
 * The second integration uses a copy of the seed profile under another id (the integration id derives from tenant,
 * instance and profile, and the sandbox has one tenant), registered for this test only.
 */
import { graphCall } from '../../src/clients/graph';
import { compensate } from '../../src/activities/compensate';
import { planDecommission } from '../../src/activities/decommission';
import { getDeps } from '../../src/app/deps';
import { registerProfile } from '../../src/profiles';
import { m365SupportAad } from '../../src/profiles/m365-support-aad';
import type { DecommissionStatus } from '../../src/orchestrators/decommission-types';
import type { LocalStack } from '../../sandbox/stack';
import type { IntegrationView } from './api-driver';
import {
  decideDecommission,
  decommissionInstanceId,
  decommissionMails,
  liveDirectoryObjectsOf,
  requestDecommission,
  runDecommission,
} from './decommission-driver';
import {
  api,
  approverOf,
  decideFromEmail,
  recordExists,
  requestFor,
  runToApproval,
  runToEnd,
  secretState,
  startProvisioning,
  startStackFor,
} from './stack-driver';

jest.setTimeout(240_000);

const COPY_ID = 'm365-support-aad-copy';
const GRANT = { userName: 'abel.tuter', role: 'insights_user' };
const TABLES = [
  'oauth_entity',
  'oauth_entity_profile',
  'oidc_provider_configuration',
  'oauth_oidc_entity',
  'sys_user',
  'sys_user_has_role',
  'sys_scope_privilege',
];

describe('decommissioning one of two integrations sharing records', () => {
  let stack: LocalStack;
  let unregister: (() => void) | undefined;
  const instance = 'decom00001';
  const requester = () => `requester@${stack.env().SANDBOX_TENANT_DOMAIN}`;

  beforeAll(async () => {
    unregister = registerProfile({ ...m365SupportAad, id: COPY_ID, title: `${m365SupportAad.title} (copy)` });
    stack = await startStackFor(['dev00000', instance]);
  });
  afterAll(async () => {
    unregister?.();
    await stack?.close();
  });

  const get = async (id: string) => {
    const res = await api(stack, 'GET', `/api/integrations/${id}`);
    expect(res.status).toBe(200);
    return res.json as IntegrationView & {
      decommission?: {
        instanceId: string;
        outcome?: string;
        currentStep?: string;
        steps: { name: string }[];
        plan?: { remove: string[]; keep: string[] };
        removed: string[];
      };
    };
  };
  const provision = async (profile?: string) => {
    const request = requestFor(stack, instance, {
      ...(profile ? { profile } : {}),
      options: { testEnvironment: true, grantUsers: [GRANT] },
    });
    const id = await startProvisioning(stack, request);
    await runToApproval(stack, id);
    expect((await decideFromEmail(stack, approverOf(stack), id, 'approve')).status).toBe(200);
    expect((await runToEnd(stack, id)).outcome).toBe('active');
    return { id, request };
  };
  const exists = (sysId: string) => TABLES.some((t) => recordExists(stack, instance, t, sysId));
  const isShared = (key: string) =>
    key.startsWith(`grant:${GRANT.userName}:`) ||
    m365SupportAad.serviceNow.records.some((r) => r.key === key && (r.shared || r.table === 'sys_scope_privilege'));

  it('removes exactly what the approved integration owns and nothing of the other', async () => {
    const a = await provision();
    const b = await provision(COPY_ID);
    const viewA = await get(a.id);
    const viewB = await get(b.id);
    const deps = getDeps();
    const sharedA = Object.entries(viewA.created.serviceNow).filter(([k]) => isShared(k));
    const sharedB = Object.entries(viewB.created.serviceNow).filter(([k]) => isShared(k));
    expect(sharedA.length).toBeGreaterThanOrEqual(2);
    // The two integrations reference the same shared records (one row each, two holders).
    expect(sharedB.map(([, s]) => s).sort()).toEqual(sharedA.map(([, s]) => s).sort());
    const unsharedA = Object.entries(viewA.created.serviceNow)
      .filter(([k]) => !isShared(k))
      .map(([, s]) => s);
    expect(unsharedA.length).toBeGreaterThanOrEqual(5);
    const bSysIds = Object.values(viewB.created.serviceNow);
    const bApps = Object.values(viewB.created.apps);
    const aApps = Object.values(viewA.created.apps);

    // DELETE: 202 with the status URL; while it runs every other run of the integration is refused.
    const mark = stack.sandbox.journal.mark();
    const res = await requestDecommission(stack, a.id, { requestedBy: requester(), reason: 'contract ended' });
    expect(res.status).toBe(202);
    const instanceId = decommissionInstanceId(a.id);
    expect(res.json).toMatchObject({ id: a.id, status: 'decommissioning', instanceId });
    expect(res.headers.get('location')).toContain(`/api/integrations/${a.id}`);
    await runDecommission(stack, instanceId);
    expect((await requestDecommission(stack, a.id)).status).toBe(409);
    expect((await api(stack, 'POST', '/api/integrations?reprovision=true', { body: a.request })).status).toBe(409);
    expect((await api(stack, 'POST', `/api/integrations/${a.id}/rotate`)).status).toBe(409);

    // The approval mail and page say it is a decommissioning and list what goes.
    const view = await get(a.id);
    expect(view.status).toBe('decommissioning');
    expect(view.decommission?.currentStep).toBe('awaiting-approval');
    const [mail] = decommissionMails(stack, approverOf(stack), instanceId);
    expect(mail.subject).toBe(`Approve decommissioning of ServiceNow integration ${a.id}`);
    for (const app of aApps) expect(mail.body).toContain(app.appId);
    for (const app of aApps) expect(mail.body).toContain(app.secretName);
    expect(mail.body).toContain('contract ended');
    expect(decommissionMails(stack, requester(), instanceId)).toEqual([]);
    expect(stack.sandbox.journal.writes({ since: mark }).filter((e) => e.method === 'DELETE')).toEqual([]);
    const decided = await decideDecommission(stack, approverOf(stack), instanceId, 'approve');
    expect(decided.status).toBe(200);
    expect(decided.page).toContain('Decommission the ServiceNow integration?');
    const end = await runDecommission(stack, instanceId, { throughApproval: true });
    expect(end.runtimeStatus).toBe('Completed');
    const out = end.output as DecommissionStatus;
    expect(out).toMatchObject({ outcome: 'decommissioned', orphans: [] });

    // Nothing of A is live in any stand-in.
    expect(liveDirectoryObjectsOf(stack, a.id)).toEqual({ apps: [], servicePrincipals: [] });
    for (const app of aApps) {
      // Entra keeps the deleted application in deleted items (restorable for 30 days).
      const deleted = await graphCall<{ id: string }>(deps.graph, 'GET', `/directory/deletedItems/${app.objectId}`);
      expect(deleted.body?.id).toBe(app.objectId);
      expect(await secretState(app.secretName)).toBe('soft-deleted');
      // A soft-deleted name cannot be set again until it is recovered or purged (never purged by the product).
      // (409 Conflict, inner error ObjectIsDeletedButRecoverable.)
      await expect(deps.secrets.setSecret(app.secretName, 'x')).rejects.toMatchObject({
        statusCode: 409,
        message: expect.stringMatching(/deleted but recoverable/),
      });
    }
    expect(unsharedA.filter(exists)).toEqual([]);
    expect(await deps.ownership.claimsOf(a.id)).toEqual([]);
    expect(await deps.ownership.sharedHeldBy(instance, a.id)).toEqual([]);
    // Shared records stay while B references them.
    for (const [, sysId] of sharedA) expect(exists(sysId)).toBe(true);
    expect((await deps.ownership.sharedHeldBy(instance, b.id)).map((e) => e.sysId).sort()).toEqual(
      sharedB.map(([, s]) => s).sort(),
    );

    // B was not touched: no write named any of its records, apps or secrets; everything of it is there.
    const writes = stack.sandbox.journal.writes({ since: mark });
    const bNames = [...bSysIds, ...bApps.flatMap((x) => [x.objectId, x.appId, x.secretName])];
    expect(writes.filter((e) => bNames.some((n) => e.path.includes(n)))).toEqual([]);
    expect(liveDirectoryObjectsOf(stack, b.id).apps).toHaveLength(3);
    expect(liveDirectoryObjectsOf(stack, b.id).servicePrincipals).toHaveLength(3);
    for (const app of bApps) expect(await secretState(app.secretName)).toBe('live');
    expect(bSysIds.filter((s) => !exists(s))).toEqual([]);

    // The registry, the view and the audit trail.
    const after = await get(a.id);
    expect(after.status).toBe('decommissioned');
    expect(after.decommission).toMatchObject({ instanceId, outcome: 'decommissioned' });
    expect(after.decommission?.steps.map((s) => s.name)).toEqual([
      'planning',
      'awaiting-approval',
      'removing',
      'decommissioned',
    ]);
    const audit = await deps.audit.list(a.id);
    const kinds = audit.map((e) => e.kind);
    expect(kinds).toEqual(
      expect.arrayContaining(['decommission-requested', 'decommission-approved', 'removed', 'decommissioned']),
    );
    expect(kinds.filter((k) => k === 'removed')).toHaveLength(out.removed.length);
    expect(audit.find((e) => e.kind === 'decommission-approved')?.actor).toBe(approverOf(stack));

    // A second DELETE answers the outcome; a re-run removes nothing twice and fails on nothing already gone.
    const again = await requestDecommission(stack, a.id);
    expect(again.status).toBe(200);
    expect(again.json).toMatchObject({ status: 'decommissioned', decommission: { outcome: 'decommissioned' } });
    // A decommissioned integration is not provisioned again.
    expect((await api(stack, 'POST', '/api/integrations?reprovision=true', { body: a.request })).status).toBe(409);
    expect((await api(stack, 'POST', '/api/integrations', { body: a.request })).status).toBe(409);
    const mark2 = stack.sandbox.journal.mark();
    const ref = {
      integrationId: a.id,
      instanceId,
      profileId: m365SupportAad.id,
      tenant: (await deps.registry.get(a.id))!.value.tenant,
      tenantName: 'Contoso',
      serviceNowInstance: instance,
    };
    const replan = await planDecommission({ ...ref, requestedBy: [] }, deps);
    expect(replan.ok && replan.remove).toEqual([]);
    const rerun = await compensate({ ...ref, created: out.plan!.remove }, deps);
    expect(rerun.orphans).toEqual([]);
    expect(rerun.removed).toHaveLength(out.plan!.remove.length);
    expect(stack.sandbox.journal.writes({ since: mark2 }).filter((e) => e.method === 'DELETE')).toEqual([]);
    for (const [, sysId] of sharedA) expect(exists(sysId)).toBe(true);

    // B still works end to end: its checks run again in a silent re-provisioning.
    expect((await api(stack, 'POST', '/api/integrations?reprovision=true', { body: b.request })).status).toBe(202);
    await runToEnd(stack, b.id);
    const bAgain = await get(b.id);
    expect(bAgain.status).toBe('active');
    expect(bAgain.checks.length).toBeGreaterThan(0);
    expect(bAgain.checks.every((c) => c.ok)).toBe(true);

    // Decommissioning B releases the last references: the shared records an integration created are deleted.
    expect((await requestDecommission(stack, b.id)).status).toBe(202);
    const bInstance = decommissionInstanceId(b.id);
    await runDecommission(stack, bInstance);
    expect((await decideDecommission(stack, approverOf(stack), bInstance, 'approve')).status).toBe(200);
    const bEnd = await runDecommission(stack, bInstance, { throughApproval: true });
    expect((bEnd.output as DecommissionStatus).outcome).toBe('decommissioned');
    for (const [, sysId] of sharedA) expect(exists(sysId)).toBe(false);
    expect(liveDirectoryObjectsOf(stack, b.id)).toEqual({ apps: [], servicePrincipals: [] });
    expect(bSysIds.filter(exists)).toEqual([]);
  });
});
