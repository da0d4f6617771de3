/**
 * Alerts end to end on the local stack: the real entry module's `alertSweep` timer (and the `raiseAlerts` activity)
 * with the real DurableClient, Graph sendMail against the Graph stand-in, the webhook URL read from the sandbox Key
 * Vault, and the webhook stand-ins (a Teams Workflows trigger and a generic JSON receiver). Registry rows are written
 * here as the health check, the rotation and compensation would leave them; the overdue approval comes from a real
 * provisioning run waiting for its approvers.
 */
import axios from 'axios';

import { startLocalStack, WEBHOOK_SECRETS, type LocalStack } from '../../sandbox/stack';
import { activities } from '../../src/activities';
import { getDeps } from '../../src/app/deps';
import type { HealthState } from '../../src/contracts/fleet';
import type { IntegrationRecord } from '../../src/registry/types';
import { requestFor, runToApproval, startProvisioning } from '../e2e/stack-driver';
import { withSettings } from '../e2e/stack-driver';

const DAY = 24 * 3600_000;
const HOUR = 3600_000;

let stack: LocalStack;
let approver: string;
let n = 0;

beforeAll(async () => {
  stack = await startLocalStack({
    servicenow: { instances: ['dev70001', 'dev70002'] },
    settings: { ALERT_CHANNELS: 'email,webhook', ALERT_WEBHOOK_SECRET_NAME: WEBHOOK_SECRETS.teams },
  });
  approver = `alerts.approver@${stack.env().SANDBOX_TENANT_DOMAIN}`;
}, 120_000);
afterAll(async () => {
  await stack?.close();
});

const now = () => stack.sandbox.clock.now();
const iso = (ms: number) => new Date(ms).toISOString();

/** A live m365 integration whose credentials expire far away, registered directly in the registry. */
async function register(overrides: Partial<IntegrationRecord> = {}): Promise<IntegrationRecord> {
  const id = `sn-dev70001-alerts${++n}`;
  const app = (role: string, days = 170) => ({
    appId: `app-${role}-${n}`,
    objectId: `obj-${role}-${n}`,
    secretName: `${id}-${role}`,
    secretVersion: `v-${role}`,
    keyId: `key-${role}-${n}`,
    expiresOn: iso(now() + days * DAY),
  });
  const record: IntegrationRecord = {
    id,
    profile: 'm365-support-aad',
    tenant: stack.env().AZURE_TENANT_ID,
    tenantName: 'Contoso',
    serviceNowInstance: 'dev70001',
    status: 'active',
    instanceId: `provision-${id}`,
    approvers: [approver],
    apps: { outbound: app('outbound'), restApi: app('restApi'), restUser: app('restUser') },
    serviceNow: { outboundProvider: `sys-a-${n}`, oidcEntity: `sys-b-${n}` },
    checks: [],
    createdAt: iso(now()),
    updatedAt: iso(now()),
    ...overrides,
  };
  await getDeps().registry.create(record);
  return record;
}

const update = (id: string, change: (r: IntegrationRecord) => IntegrationRecord) =>
  getDeps().registry.update(id, (r) => change(r!));

const sweep = () => stack.host.runTimer('alertSweep');

/** Alert mails about `id`: subject and HTML. */
function mailsAbout(id: string, to = approver): { subject: string; html: string }[] {
  return stack.sandbox.graph.outbox
    .map(
      (m) =>
        m.message as {
          subject: string;
          body: { content: string };
          toRecipients: { emailAddress: { address: string } }[];
        },
    )
    .filter((m) => m.subject.endsWith(`: ${id}`) && m.toRecipients.some((r) => r.emailAddress.address === to))
    .map((m) => ({ subject: m.subject, html: m.body.content }));
}

/** Teams cards posted about `id` (runs that succeeded), as their title lines. */
function cardsAbout(id: string): string[] {
  return stack.webhooks.receivers.runs
    .filter((r) => r.status === 'Succeeded')
    .flatMap((r) => r.cards)
    .map((c) => (c.body as { text?: string }[])[0]?.text ?? '')
    .filter((t) => t.endsWith(` on ${id}`));
}

const failing = (): HealthState => ({
  checkedAt: iso(now()),
  instanceId: 'health-1',
  ok: false,
  findings: [
    {
      kind: 'check-failed',
      subject: 'check:outboundToken',
      detail: 'AADSTS7000222: the secret expired',
      repairable: false,
    },
    { kind: 'record-drift', subject: 'record:oidcProvider:oidc_url', detail: 'oidc_url was edited', repairable: true },
  ],
});

describe('alerts: once per condition per day', () => {
  it('alerts each condition once per day on every channel, sends nothing on a second evaluation the same day, and again the next day', async () => {
    // Alerts repeat per UTC day: start at 01:00 UTC, so "two hours later" is the same day whenever the test runs.
    stack.sandbox.clock.advance(DAY - (now() % DAY) + HOUR);
    const r = await register({
      lastRotation: { instanceId: 'rotate-x-20260101', outcome: 'rolled-back', at: iso(now()), error: 'no token' },
      health: failing(),
      orphans: [
        {
          object: { kind: 'record', key: 'oidcEntity', table: 'oauth_oidc_entity', sysId: 'sys-orphan-1' },
          reason: 'ServiceNow answered 503',
          instanceId: 'provision-old',
          since: iso(now() - 2 * DAY),
        },
      ],
    });
    await sweep();
    const kinds = ['rotation-failed', 'check-failed', 'drift', 'orphans'];
    expect(mailsAbout(r.id).map((m) => m.subject)).toEqual(kinds.map((k) => `[Alert] ${k}: ${r.id}`));
    expect(cardsAbout(r.id)).toEqual(kinds.map((k) => `Alert: ${k} on ${r.id}`));
    const audit = (await getDeps().audit.list(r.id)).filter((e) => e.kind === 'alert-sent');
    expect(audit).toHaveLength(8);
    expect(audit.map((e) => e.data?.channel).sort()).toEqual(
      [...kinds.map(() => `email:${approver}`), ...kinds.map(() => 'webhook')].sort(),
    );

    // Later the same day, and two overlapping evaluations: nothing more.
    stack.sandbox.clock.advance(2 * HOUR);
    await sweep();
    await Promise.all([sweep(), sweep()]);
    expect(mailsAbout(r.id)).toHaveLength(4);
    expect(cardsAbout(r.id)).toHaveLength(4);

    // The next day, the conditions still hold: one reminder each.
    stack.sandbox.clock.advance(DAY);
    await Promise.all([sweep(), sweep()]);
    expect(mailsAbout(r.id)).toHaveLength(8);
    expect(cardsAbout(r.id)).toHaveLength(8);
  });

  it('raiseAlerts (the activity the health check calls) evaluates one integration, and the sweep does not repeat it', async () => {
    const r = await register({ health: failing() });
    const result = await activities.raiseAlerts({ integrationId: r.id, at: iso(now()) }, getDeps());
    expect(result).toMatchObject({
      integrationId: r.id,
      conditions: ['check-failed:health', 'drift:health'],
      failed: [],
    });
    expect(mailsAbout(r.id)).toHaveLength(2);
    await sweep();
    expect(mailsAbout(r.id)).toHaveLength(2);
    expect(cardsAbout(r.id)).toHaveLength(2);
  });
});

describe('alerts: credentials a person must rotate', () => {
  it('fires the expiry stages 30, 14, 7 and 1 once each as the clock advances, only for those credentials', async () => {
    const r = await register();
    const start = now();
    const expires = start + 31 * DAY;
    // restApi and restUser need a person (Microsoft 365 admin center); outbound rotates by itself.
    await update(r.id, (x) => ({
      ...x,
      apps: Object.fromEntries(Object.entries(x.apps).map(([role, a]) => [role, { ...a, expiresOn: iso(expires) }])),
    }));
    const stages: number[] = [];
    for (const daysLeft of [31, 30, 29.5, 20, 14, 13.9, 8, 7, 6.5, 2, 1, 0.9, 0.5]) {
      stack.sandbox.clock.advance(Math.max(0, expires - daysLeft * DAY - now()));
      await sweep();
      await sweep();
    }
    for (const m of mailsAbout(r.id)) {
      const stage = /within (\d+) day/.exec(m.html)?.[1];
      if (stage) stages.push(Number(stage));
    }
    expect(mailsAbout(r.id).map((m) => m.subject)).toEqual(Array(8).fill(`[Alert] credential-expiring: ${r.id}`));
    // Per stage: one mail for restApi and one for restUser.
    expect(stages).toEqual([30, 30, 14, 14, 7, 7, 1, 1]);
    expect(mailsAbout(r.id).filter((m) => m.html.includes('outbound'))).toEqual([]);
    expect(cardsAbout(r.id)).toHaveLength(8);
  });
});

describe('alerts: resolved', () => {
  it('sends one "resolved" message when an alerted condition clears', async () => {
    const r = await register({
      lastRotation: { instanceId: 'rotate-y-20260101', outcome: 'failed', at: iso(now()), error: 'hand-off deadline' },
    });
    await sweep();
    expect(mailsAbout(r.id).map((m) => m.subject)).toEqual([`[Alert] rotation-failed: ${r.id}`]);
    await update(r.id, (x) => ({
      ...x,
      lastRotation: { instanceId: 'rotate-y-20260102', outcome: 'rotated', at: iso(now()) },
    }));
    await Promise.all([sweep(), sweep()]);
    await sweep();
    expect(mailsAbout(r.id).map((m) => m.subject)).toEqual([
      `[Alert] rotation-failed: ${r.id}`,
      `[Resolved] rotation-failed: ${r.id}`,
    ]);
    expect(cardsAbout(r.id)).toEqual([`Alert: rotation-failed on ${r.id}`, `Resolved: rotation-failed on ${r.id}`]);
    // It comes back the next day: a new episode, alerted again.
    stack.sandbox.clock.advance(DAY);
    await update(r.id, (x) => ({
      ...x,
      lastRotation: { instanceId: 'rotate-y-20260103', outcome: 'rolled-back', at: iso(now()) },
    }));
    await sweep();
    expect(mailsAbout(r.id)).toHaveLength(3);
  });
});

describe('alerts: overdue approvals', () => {
  it('alerts a provisioning run that waits for its approvers longer than ALERT_OVERDUE_MINUTES (durable custom status)', async () => {
    const id = await startProvisioning(stack, requestFor(stack, 'dev70002'));
    await runToApproval(stack, id);
    await sweep();
    expect(cardsAbout(id)).toEqual([]);
    stack.sandbox.clock.advance(1441 * 60_000); // the engine's timers do not fire: the run still waits
    await sweep();
    expect(cardsAbout(id)).toEqual([`Alert: approval-overdue on ${id}`]);
  }, 60_000);
});

describe('alerts: webhooks', () => {
  it('posts what the Teams Workflows trigger accepts (202, the run posts an Adaptive Card); the trigger refuses other bodies', async () => {
    const url = stack.webhooks.urls.teams;
    const post = (body: string, type = 'application/json') =>
      axios.post(url, body, {
        headers: { 'content-type': type },
        // As sent: axios would otherwise turn a string that is not JSON into a JSON string literal.
        transformRequest: [(d: unknown) => d],
        validateStatus: () => true,
      });
    const runs = stack.webhooks.receivers.runs;
    const before = runs.length;
    expect((await post('a=b', 'application/x-www-form-urlencoded')).status).toBe(400);
    expect((await post('{not json')).status).toBe(400);
    expect((await post('{"text":"legacy connector format"}')).status).toBe(202); // accepted, but the run fails
    expect(runs.slice(before)).toEqual([expect.objectContaining({ status: 'Failed' })]);
    expect((await axios.post(url.replace(/sig=[^&]+/, 'sig=wrong'), '{}', { validateStatus: () => true })).status).toBe(
      401,
    );

    const r = await register({ health: failing() });
    await sweep();
    const posted = runs.slice(before + 1).filter((x) => JSON.stringify(x.cards).includes(r.id));
    expect(posted.map((x) => x.status)).toEqual(['Succeeded', 'Succeeded']);
    expect(posted[0].cards[0]).toMatchObject({ type: 'AdaptiveCard', version: '1.4' });
  });

  it('posts the documented generic JSON payload with ALERT_WEBHOOK_FORMAT=json', async () => {
    const r = await register({ health: { ...failing(), findings: [failing().findings[0]] } });
    await withSettings({ ALERT_WEBHOOK_FORMAT: 'json', ALERT_WEBHOOK_SECRET_NAME: WEBHOOK_SECRETS.json }, sweep);
    const got = stack.webhooks.receivers.deliveries.filter((d) => JSON.stringify(d.body).includes(r.id));
    expect(got.map((d) => d.body)).toEqual([
      {
        schema: 'm365-snow-provisioner/alert@1',
        state: 'raised',
        at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/) as unknown,
        condition: { kind: 'check-failed', key: 'check-failed:health' },
        summary: expect.stringContaining('1 check(s) failed') as unknown,
        details: ['check:outboundToken: AADSTS7000222: the secret expired'],
        integration: {
          id: r.id,
          profile: 'm365-support-aad',
          tenant: r.tenant,
          tenantName: 'Contoso',
          serviceNowInstance: 'dev70001',
          status: 'active',
        },
        statusUrl: `${stack.host.baseUrl}/api/integrations/${r.id}`,
      },
    ]);
  });

  it('retries a failed webhook delivery on the next evaluation, without sending the email twice', async () => {
    const r = await register({ health: { ...failing(), findings: [failing().findings[1]] } });
    stack.sandbox.faults.add({ service: 'webhook', action: { type: 'status', status: 503 }, times: 1 });
    const logs = stack.host.durable.logs;
    const mark = logs.length;
    await sweep();
    expect(mailsAbout(r.id)).toHaveLength(1);
    expect(cardsAbout(r.id)).toEqual([]);
    expect(logs.slice(mark).map((l) => l.message)).toContainEqual(
      expect.stringContaining(`drift:health of ${r.id} not delivered by webhook: the alert webhook answered HTTP 503`),
    );
    let audit = (await getDeps().audit.list(r.id)).filter((e) => e.kind === 'alert-sent');
    expect(audit.map((e) => e.data?.channel)).toEqual([`email:${approver}`]);

    await sweep();
    expect(mailsAbout(r.id)).toHaveLength(1);
    expect(cardsAbout(r.id)).toEqual([`Alert: drift on ${r.id}`]);
    audit = (await getDeps().audit.list(r.id)).filter((e) => e.kind === 'alert-sent');
    expect(audit.map((e) => e.data?.channel)).toEqual([`email:${approver}`, 'webhook']);
  });
});

describe('alerts: no secret leaves', () => {
  it('never puts the webhook URL or a client secret in a mail, a webhook payload, the audit log or a log line', async () => {
    const r = await register({ health: failing() });
    stack.sandbox.faults.add({ service: 'webhook', action: { type: 'reset' }, times: 1 });
    await sweep();
    await sweep();
    await withSettings({ ALERT_WEBHOOK_FORMAT: 'json', ALERT_WEBHOOK_SECRET_NAME: WEBHOOK_SECRETS.json }, async () => {
      await update(r.id, (x) => ({ ...x, health: { ...failing(), findings: [] } }));
      stack.sandbox.faults.add({ service: 'webhook', action: { type: 'status', status: 500 }, times: 1 });
      await sweep();
      await sweep();
    });
    const secrets = [
      stack.webhooks.urls.teams,
      stack.webhooks.urls.json,
      new URL(stack.webhooks.urls.teams).searchParams.get('sig')!,
      new URL(stack.webhooks.urls.json).searchParams.get('token')!,
      stack.env().AZURE_CLIENT_SECRET,
    ];
    const audit = JSON.stringify(await getDeps().audit.list(r.id));
    const places = {
      mails: JSON.stringify(stack.sandbox.graph.outbox),
      teams: JSON.stringify(stack.webhooks.receivers.runs),
      json: JSON.stringify(stack.webhooks.receivers.deliveries),
      audit,
      logs: JSON.stringify(stack.host.durable.logs),
    };
    expect(audit).toContain('alert-sent');
    expect(places.json).toContain(r.id);
    for (const [where, text] of Object.entries(places))
      for (const s of secrets) expect({ where, leaked: text.includes(s) }).toEqual({ where, leaked: false });
  });
});

// Last: its sweeps read the webhook secret, and a later clock jump would leave the cached Key Vault token expired.
describe('alerts: decommissioned', () => {
  it('resolves the alerts of an integration once it is decommissioned (it has no conditions any more), once', async () => {
    const r = await register({ health: failing() });
    await sweep();
    expect(mailsAbout(r.id).map((m) => m.subject)).toEqual([`[Alert] check-failed: ${r.id}`, `[Alert] drift: ${r.id}`]);
    await update(r.id, (x) => ({ ...x, status: 'decommissioned' }));
    await sweep();
    await sweep();
    expect(
      mailsAbout(r.id)
        .map((m) => m.subject)
        .sort(),
    ).toEqual([
      `[Alert] check-failed: ${r.id}`,
      `[Alert] drift: ${r.id}`,
      `[Resolved] check-failed: ${r.id}`,
      `[Resolved] drift: ${r.id}`,
    ]);
  });
});
