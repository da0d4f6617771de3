/**
 * `npm run demo -- --fleet`: a small fleet in the sandbox. Provisions three integrations on one ServiceNow instance
 * (the seed's profile with short-lived client secrets, the Microsoft Entra ID spoke, the Microsoft 365 Copilot
 * connector) through the HTTP API and the emailed approval links, then injects drift the way people cause it: a client
 * secret added by hand to one of our apps in Entra, a ServiceNow record edited by someone, and client secrets that
 * only a person can rotate expiring soon. It runs each integration's health check, prints the findings and the alerts
 * (email and the Microsoft Teams workflow webhook, as the stand-ins captured them), repairs the edited record through
 * `?repair=true` and prints the "resolved" alert, and saves a screenshot of the operator dashboard (headless Chromium
 * when one is installed; otherwise the page's HTML). `--json`: the last line is one JSON summary object.
 */
import fs from 'node:fs';
import path from 'node:path';

import { getDeps } from '../src/app/deps';
import { WEBHOOK_SECRETS, startLocalStack, type LocalStack } from '../sandbox/stack';
import { api, decideThroughLink } from './http';

const asJson = process.argv.includes('--json');
const out = (line: string) => (asJson ? console.error(line) : console.log(line));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ARTIFACTS = path.resolve(__dirname, '..', '..', 'test-artifacts', 'demo');

interface Finding {
  kind: string;
  subject: string;
  detail: string;
  repairable: boolean;
}
interface HealthView {
  runtimeStatus: string;
  ok?: boolean;
  findings?: Finding[];
  repair?: { instanceId: string; outcome: string; remaining: Finding[] };
}
interface IntegrationView {
  id: string;
  status: string;
  created: { apps: Record<string, { objectId: string }>; serviceNow: Record<string, string> };
}

async function until<T>(what: string, get: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await get();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

/** Follows the emailed approval link of a run like a person: GET the page, then POST its form. */
async function approve(stack: LocalStack, instanceId: string, approver: string): Promise<void> {
  const mail = await until(`the approval email of ${instanceId}`, async () =>
    stack.sandbox.graph.outbox.find((m) => {
      const text = JSON.stringify(m.message);
      return text.includes(approver) && text.includes(`/api/approvals/${instanceId}`);
    }),
  );
  const link = new RegExp(`(https?://[^"\\\\\\s]+/api/approvals/${instanceId}[^"\\\\\\s]*)`)
    .exec(JSON.stringify(mail.message))?.[1]
    ?.replace(/&amp;/g, '&');
  if (!link) throw new Error(`no approval link for ${instanceId}`);
  const { decided } = await decideThroughLink(link, 'approve');
  if (decided >= 400) throw new Error(`the approval of ${instanceId} answered ${decided}`);
}

async function provision(stack: LocalStack, profile: string, options: Record<string, unknown>): Promise<string> {
  const env = stack.env();
  const approver = `approver@${env.SANDBOX_TENANT_DOMAIN}`;
  const started = await api(stack, 'POST', '/api/integrations', {
    tenant: env.SANDBOX_TENANT_DOMAIN,
    tenantName: 'Contoso',
    serviceNowInstance: env.SANDBOX_SERVICENOW_INSTANCE,
    profile,
    approvers: [approver, `second.approver@${env.SANDBOX_TENANT_DOMAIN}`],
    requestedBy: `requester@${env.SANDBOX_TENANT_DOMAIN}`,
    options: { testEnvironment: true, ...options },
  });
  if (started.status !== 202) throw new Error(`POST /api/integrations (${profile}) answered ${started.status}`);
  const id = (started.body as { id: string }).id;
  await approve(stack, `provision-${id}`, approver);
  const view = await until(`${id} to finish`, async () => {
    // Ended when the orchestration has: its outcome shows in the step log a moment before the registry row says it.
    const v = (await api(stack, 'GET', `/api/integrations/${id}`)).body as IntegrationView & {
      orchestration?: { runtimeStatus: string };
    };
    return ['Completed', 'Failed', 'Terminated'].includes(v.orchestration?.runtimeStatus ?? '') ? v : undefined;
  });
  out(`  ${profile.padEnd(30)} ${id}  ${view.status}`);
  if (view.status !== 'active') throw new Error(`${id} ended ${view.status}`);
  return id;
}

async function health(stack: LocalStack, id: string, repair = false): Promise<HealthView> {
  const started = await api(stack, 'POST', `/api/integrations/${id}/health${repair ? '?repair=true' : ''}`);
  if (started.status !== 202) throw new Error(`POST health of ${id} answered ${started.status}: ${started.text}`);
  const { statusUrl } = started.body as { statusUrl: string };
  const url = new URL(statusUrl).pathname;
  return until(
    `the health check of ${id}`,
    async () => {
      const v = (await api(stack, 'GET', url)).body as HealthView;
      return ['Completed', 'Failed', 'Terminated'].includes(v.runtimeStatus) ? v : undefined;
    },
    120_000,
  );
}

interface AlertLine {
  channel: string;
  state: string;
  kind: string;
  integrationId: string;
  summary: string;
}

/** What the stand-ins captured since `since`: alert mails (Graph sendMail) and Teams workflow posts. */
function alertsSince(stack: LocalStack, since: { mails: number; runs: number }): AlertLine[] {
  const lines: AlertLine[] = [];
  for (const m of stack.sandbox.graph.outbox.slice(since.mails)) {
    const subject = String((m.message as { subject?: string }).subject ?? '');
    const hit = /^\[(Alert|Resolved)\] ([\w-]+): (\S+)/.exec(subject);
    if (hit)
      lines.push({
        channel: `email ${JSON.stringify(m.message).match(/"address":"([^"]+)"/)?.[1] ?? ''}`,
        state: hit[1] === 'Alert' ? 'raised' : 'resolved',
        kind: hit[2],
        integrationId: hit[3],
        summary: subject,
      });
  }
  for (const r of stack.webhooks.receivers.runs.slice(since.runs))
    for (const card of r.cards) {
      const text = JSON.stringify(card);
      lines.push({
        channel: 'teams',
        state: /resolved/i.test(text) ? 'resolved' : 'raised',
        kind:
          /"(rotation-failed|check-failed|drift|credential-expiring|approval-overdue|handoff-overdue|orphans)/.exec(
            text,
          )?.[1] ?? 'alert',
        integrationId: /sn-[a-z0-9-]+-[0-9a-f]{8}/.exec(text)?.[0] ?? '',
        summary: `${r.status}`,
      });
    }
  return lines;
}

const mark = (stack: LocalStack) => ({
  mails: stack.sandbox.graph.outbox.length,
  runs: stack.webhooks.receivers.runs.length,
});

/** A screenshot of the dashboard with headless Chromium when one is installed, else the page's HTML. */
async function dashboardArtefact(stack: LocalStack): Promise<string> {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const url = `${stack.host.baseUrl}/api/dashboard?code=${encodeURIComponent(stack.host.functionKey)}`;
  const browserPath =
    process.env.CHROMIUM_PATH ||
    ['chromium', 'chromium-browser', 'google-chrome']
      .flatMap((n) => (process.env.PATH ?? '').split(path.delimiter).map((d) => path.join(d, n)))
      .find((p) => {
        try {
          fs.accessSync(p, fs.constants.X_OK);
          return true;
        } catch {
          return false;
        }
      });
  if (browserPath) {
    const puppeteer = (await import('puppeteer-core')).default;
    const root = typeof process.getuid === 'function' && process.getuid() === 0;
    const browser = await puppeteer.launch({
      executablePath: browserPath,
      headless: true,
      args: [...(root ? ['--no-sandbox'] : []), '--disable-dev-shm-usage', '--disable-gpu'],
    });
    try {
      const page = await browser.newPage();
      await page.setViewport({ width: 1280, height: 900 });
      await page.goto(url, { waitUntil: 'load' });
      const file = path.join(ARTIFACTS, 'fleet-dashboard.png');
      await page.screenshot({ path: file, fullPage: true });
      return file;
    } finally {
      await browser.close();
    }
  }
  const file = path.join(ARTIFACTS, 'fleet-dashboard.html');
  fs.writeFileSync(file, await (await fetch(url)).text());
  out("  (no Chromium found: saved the page's HTML; `apt-get install -y chromium` or CHROMIUM_PATH for a screenshot)");
  return file;
}

export async function fleetDemo(): Promise<number> {
  out('Starting the sandbox (stand-ins, Azurite, local Functions host) with alerts by email and a Teams webhook…');
  const stack = await startLocalStack({
    timers: 'real',
    settings: {
      CHECK_RETRY_SECONDS: '1',
      ALERT_CHANNELS: 'email,webhook',
      ALERT_WEBHOOK_SECRET_NAME: WEBHOOK_SECRETS.teams,
      ALERT_WEBHOOK_FORMAT: 'teams',
    },
  });
  try {
    out('\n1. Provisioning three integrations on one ServiceNow instance (each approved from its email):');
    // The seed's integration with 10-day client secrets: two of them are pasted by a person in the Microsoft 365
    // admin center, so they cannot rotate on their own and are alerted at the expiry stages.
    const seed = await provision(stack, 'm365-support-aad', { secretLifetimeDays: 10 });
    const spoke = await provision(stack, 'entra-id-spoke', {});
    const copilot = await provision(stack, 'copilot-servicenow-federated', {});
    const ids = [seed, spoke, copilot];

    out('\n2. Injecting drift the way people cause it:');
    const seedView = (await api(stack, 'GET', `/api/integrations/${seed}`)).body as IntegrationView;
    const deps = getDeps();
    const added = (await deps.graph
      .api(`/applications/${seedView.created.apps.outbound.objectId}/addPassword`)
      .post({ passwordCredential: { displayName: 'added by hand' } })) as { keyId: string };
    out(`  a client secret added by hand to the outbound app in Entra (keyId ${added.keyId})`);
    const instance = stack.env().SANDBOX_SERVICENOW_INSTANCE;
    await deps.serviceNow(instance).patch('oidc_provider_configuration', seedView.created.serviceNow.oidcProvider, {
      user_claim: 'sub',
    });
    out('  the OIDC provider configuration edited in ServiceNow (user_claim → sub)');
    out('  the restApi and restUser client secrets expire in 10 days and only a person can rotate them');

    out('\n3. Health and drift checks (read-only):');
    const before = mark(stack);
    let findings = 0;
    for (const id of ids) {
      const r = await health(stack, id);
      findings += r.findings?.length ?? 0;
      out(`  ${id}: ${r.ok ? 'healthy' : `${r.findings?.length ?? 0} finding(s)`}`);
      for (const f of r.findings ?? [])
        out(`    - ${f.kind.padEnd(20)} ${f.detail}${f.repairable ? ' (repairable)' : ' (reported only)'}`);
    }
    const raised = alertsSince(stack, before);
    out('\n4. Alerts sent (one per condition per integration per day):');
    for (const a of raised) out(`  ${a.state.padEnd(8)} ${a.kind.padEnd(20)} ${a.integrationId}  via ${a.channel}`);

    out('\n5. Repairing the edited record through the approved plan (`?repair=true`):');
    const beforeRepair = mark(stack);
    const repaired = await health(stack, seed, true);
    out(
      `  repair run ${repaired.repair?.instanceId ?? '(none)'} ${repaired.repair?.outcome ?? ''}; ` +
        `${repaired.findings?.length ?? 0} finding(s) remain (reported only: ${
          (repaired.findings ?? []).map((f) => f.kind).join(', ') || 'none'
        })`,
    );
    const afterRepair = alertsSince(stack, beforeRepair);
    for (const a of afterRepair)
      out(`  ${a.state.padEnd(8)} ${a.kind.padEnd(20)} ${a.integrationId}  via ${a.channel}`);

    out('\n6. The operator dashboard:');
    const artefact = await dashboardArtefact(stack);
    out(`  ${artefact}`);
    const audit = ((await api(stack, 'GET', `/api/integrations/${seed}/audit`)).body as { entries: { kind: string }[] })
      .entries;
    out(`\n${seed} audit trail: ${audit.map((e) => e.kind).join(' → ')}`);

    const summary = {
      integrations: ids.length,
      findings,
      alerts: raised.map(({ channel, state, kind, integrationId }) => ({ channel, state, kind, integrationId })),
      afterRepair: afterRepair.map(({ channel, state, kind, integrationId }) => ({
        channel,
        state,
        kind,
        integrationId,
      })),
      dashboard: artefact,
      auditEvents: audit.length,
    };
    if (asJson) console.log(JSON.stringify(summary));
    const ok =
      findings >= 3 &&
      raised.some((a) => a.kind === 'drift') &&
      raised.some((a) => a.kind === 'credential-expiring') &&
      afterRepair.some((a) => a.state === 'resolved');
    out(ok ? '\nFleet demo finished.' : '\nFleet demo finished with problems.');
    return ok ? 0 : 1;
  } finally {
    await stack.close();
  }
}
