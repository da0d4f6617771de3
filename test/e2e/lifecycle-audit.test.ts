/**
 * The audit trail of a whole lifecycle, through the HTTP API and the emailed links: provisioning (request, plan,
 * approval, activation), an on-demand rotation with its hand-offs confirmed by a person, a health check that finds
 * an edited ServiceNow record and alerts once, a repair that clears it, and a decommissioning through the approval
 * gate. Every event is there once, in the order it happened, and `GET /api/integrations/{id}/audit` serves the same.
 */
import { getDeps } from '../../src/app/deps';
import type { AuditEntry } from '../../src/contracts/fleet';
import { WEBHOOK_SECRETS } from '../../sandbox/stack';
import { api } from './api-driver';
import {
  decideDecommission,
  decommissionInstanceId,
  requestDecommission,
  runDecommission,
} from './decommission-driver';
import { checkNow, nextDay } from './health-helpers';
import { drive, provisionTracked, rotateNow, startRotationHarness, type RotationHarness } from './rotation-helpers';
import { approverOf } from './stack-driver';

jest.setTimeout(180_000);

describe('audit trail of a full lifecycle', () => {
  let h: RotationHarness;
  const instance = 'dev00000';

  beforeAll(async () => {
    h = await startRotationHarness([instance], {
      settings: { ALERT_CHANNELS: 'webhook', ALERT_WEBHOOK_SECRET_NAME: WEBHOOK_SECRETS.teams },
    });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('records every event once, in order, from request to decommissioned', async () => {
    const { stack } = h;
    const t = await provisionTracked(h, instance);
    const id = t.id;

    // An on-demand rotation: the outbound secret is switched by the product, restApi and restUser are handed off to a
    // person, who confirms each through the emailed link.
    expect((await rotateNow(stack, id)).status).toBe(202);
    const rotation = await drive(h, t);
    expect(rotation.runtimeStatus).toBe('Completed');

    // Someone edits a ServiceNow record: the next day's check finds it and alerts; the repair puts it back.
    await getDeps()
      .serviceNow(instance)
      .patch('oidc_provider_configuration', t.view.created.serviceNow.oidcProvider, { user_claim: 'sub' });
    nextDay(stack);
    const found = await checkNow(stack, id);
    expect(found.findings.map((f) => f.subject)).toContain('record:oidcProvider:user_claim');
    const repaired = await checkNow(stack, id, true);
    expect(repaired.findings).toEqual([]);
    // The drift was alerted once (Teams workflow), and once more as resolved after the repair.
    const cards = (state: string) =>
      stack.webhooks.receivers.runs.filter((r) => {
        const text = JSON.stringify(r.cards);
        return (
          text.includes(id) &&
          text.includes(state === 'resolved' ? 'Resolved: drift' : 'drift') &&
          (state === 'resolved') === text.includes('Resolved:')
        );
      });
    expect(cards('raised')).toHaveLength(1);
    expect(cards('resolved')).toHaveLength(1);

    // Decommissioning, approved from its email.
    expect((await requestDecommission(stack, id, { reason: 'end of contract' })).status).toBe(202);
    const decommission = decommissionInstanceId(id);
    await runDecommission(stack, decommission);
    expect((await decideDecommission(stack, approverOf(stack), decommission, 'approve')).status).toBe(200);
    const end = await runDecommission(stack, decommission, { throughApproval: true });
    expect(end.runtimeStatus).toBe('Completed');

    const res = await api(stack, 'GET', `/api/integrations/${id}/audit`);
    expect(res.status).toBe(200);
    const entries = (res.json as { entries: AuditEntry[] }).entries;
    const kinds = entries.map((e) => e.kind);

    // The milestones, in this order (other events sit between them).
    const milestones = [
      'requested',
      'approval-requested',
      'approved',
      'activated',
      'handoff-confirmed',
      'rotated',
      'health-checked',
      'drift-found',
      'alert-sent',
      'drift-cleared',
      'repaired',
      'decommission-requested',
      'decommission-approved',
      'removed',
      'decommissioned',
    ];
    let at = -1;
    for (const m of milestones) {
      const next = kinds.indexOf(m as AuditEntry['kind'], at + 1);
      expect([m, next > at]).toEqual([m, true]);
      at = next;
    }
    // Once each where it happens once; two hand-offs (restApi, restUser). The edit is found once per subject (the
    // record's column, and the inbound check it broke) and each of those is cleared once.
    const count = (k: string) => kinds.filter((x) => x === k).length;
    expect({
      requested: count('requested'),
      activated: count('activated'),
      rotated: count('rotated'),
      handoffs: count('handoff-confirmed'),
      decommissioned: count('decommissioned'),
    }).toEqual({ requested: 1, activated: 2, rotated: 1, handoffs: 2, decommissioned: 1 });
    const subjectsOf = (k: string) => entries.filter((e) => e.kind === k).map((e) => String(e.data?.subject));
    expect(subjectsOf('drift-found')).toContain('record:oidcProvider:user_claim');
    expect(new Set(subjectsOf('drift-found')).size).toBe(subjectsOf('drift-found').length);
    expect([...subjectsOf('drift-cleared')].sort()).toEqual([...subjectsOf('drift-found')].sort());
    // The hand-offs were confirmed by the person the link was mailed to; the approval came from the approver.
    expect(entries.filter((e) => e.kind === 'handoff-confirmed').map((e) => e.actor)).toEqual([
      approverOf(stack),
      approverOf(stack),
    ]);
    expect(entries.find((e) => e.kind === 'approved')?.actor).toBe(approverOf(stack));
    // Ordered positions, non-decreasing times.
    const seqs = entries.map((e) => e.seq);
    expect([...seqs].sort()).toEqual(seqs);
    for (let i = 1; i < entries.length; i++) expect(entries[i].at >= entries[i - 1].at).toBe(true);
    // Nothing secret in the trail.
    const text = JSON.stringify(entries);
    expect(text).not.toMatch(/token=|code=|sig=|runtime\/webhooks/i);
    for (const o of Object.values(t.original)) expect(text).not.toContain(o.value);
  });
});
