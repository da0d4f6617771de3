/**
 * `npm run demo`: provisions an integration end to end in the sandbox through the HTTP API, the way a ServiceNow
 * ticket would start it: prints each step as it happens, follows the approval link from the captured email (GET the
 * page, then POST the decision), prints the check report, then repeats the request to show that nothing is written a
 * second time. Exits non-zero on any failure. `--json`: the last line is one JSON summary object (with `"profile"`).
 * `--profile <id>`: any registered profile (default: the seed's `m365-support-aad`); `--rotate` then rotates every
 * secret the profile has, handing off (and confirming) the manual consumers it declares. `--credential <kind>`
 * (`secret`, `certificate`, `federated`): the request's `options.credential`, for the apps whose profile allows it
 * (the seed's Outbound app); with `--rotate` a certificate is rotated beside the secrets (each entry of `rotated` says
 * its `kind`). `--fleet`: a small fleet with drift, health checks, alerts and the operator dashboard (demo/fleet.ts).
 */
import { ConsumerProbe, manualFields, ManualConsumers, profileConsumers } from '../sandbox/consumers';
import type { JournalEntry } from '../sandbox/core/journal';
import type { SentMail } from '../sandbox/graph';
import { getDeps } from '../src/app/deps';
import { CREDENTIAL_KINDS, type CredentialKind } from '../src/contracts/credentials';
import { DEFAULT_PROFILE_ID, getProfile, profileIds } from '../src/profiles';
import type { IntegrationProfile } from '../src/profiles/types';
import { resetConfigCache } from '../src/config';
import type { RotationStatus } from '../src/orchestrators/rotation-types';
import { startLocalStack, type LocalStack } from '../sandbox/stack';
import { fleetDemo } from './fleet';
import { api, decideThroughLink } from './http';

const asJson = process.argv.includes('--json');
const rotate = process.argv.includes('--rotate');
const profileArg = process.argv.indexOf('--profile');
const profileId = profileArg >= 0 ? (process.argv[profileArg + 1] ?? '') : DEFAULT_PROFILE_ID;
const chosen = getProfile(profileId);
if (!chosen) {
  console.error(`demo: --profile must be one of: ${profileIds().join(', ')}`);
  process.exit(2);
}
const profile: IntegrationProfile = chosen;
const credentialArg = process.argv.indexOf('--credential');
const credential = credentialArg >= 0 ? (process.argv[credentialArg + 1] ?? '') : undefined;
if (credential !== undefined && !(CREDENTIAL_KINDS as readonly string[]).includes(credential)) {
  console.error(`demo: --credential must be one of: ${CREDENTIAL_KINDS.join(', ')}`);
  process.exit(2);
}
const DAY = 24 * 3600 * 1000;
const out = (line: string) => {
  if (!asJson) console.log(line);
  else console.error(line); // keep stdout's last line for the JSON summary
};

interface View {
  id: string;
  status: string;
  currentStep?: string;
  steps: { name: string; at: string }[];
  outcome?: string;
  error?: string;
  created: {
    apps: Record<string, { appId: string; objectId: string; secretName: string; keyId?: string }>;
    serviceNow: Record<string, string>;
  };
  checks: { name: string; ok: boolean; detail: string; hint?: string }[];
  pendingManualActions: { title: string; steps: { label: string; value?: string }[] }[];
  orchestration?: { runtimeStatus: string };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function follow(stack: LocalStack, id: string, until: (v: View) => boolean, seen: Set<string>): Promise<View> {
  for (let i = 0; i < 600; i++) {
    const { status, body } = await api(stack, 'GET', `/api/integrations/${id}`);
    if (status !== 200) throw new Error(`GET /api/integrations/${id} answered ${status}`);
    const view = body as View;
    for (const s of view.steps)
      if (!seen.has(`${s.name}@${s.at}`)) {
        seen.add(`${s.name}@${s.at}`);
        out(`  step: ${s.name.padEnd(18)} ${s.at}`);
      }
    if (until(view)) return view;
    await sleep(250);
  }
  throw new Error('timed out following the orchestration');
}

/** Follows the emailed approval link like a person: GET the page (changes nothing), then POST its form. */
async function approveFromEmail(stack: LocalStack, approver: string): Promise<void> {
  // The step shows 'awaiting-approval' as the round starts; the email follows within moments.
  const find = () => stack.sandbox.graph.outbox.find((m) => JSON.stringify(m.message).includes(approver));
  for (let i = 0; i < 40 && !find(); i++) await sleep(250);
  const mail = find();
  if (!mail) throw new Error(`no approval email for ${approver} in the outbox`);
  await followLink(mail, approver, 'approve');
}

/** GET the emailed page (a GET decides nothing), then POST its form with `decision`. */
async function followLink(mail: SentMail, approver: string, decision: string): Promise<void> {
  const html = JSON.stringify(mail.message);
  const link = /(https?:\/\/[^"\\\s]+\/api\/approvals\/[^"\\\s]+)/.exec(html)?.[1]?.replace(/&amp;/g, '&');
  if (!link) throw new Error('the approval email holds no link');
  out(`  email to ${approver}: "${(mail.message as { subject?: string }).subject ?? ''}"`);
  const { page, decided } = await decideThroughLink(link, decision);
  out(`  GET  approval page → ${page} (a GET decides nothing)`);
  out(`  POST decision ${decision} → ${decided}`);
  if (decided >= 400) throw new Error(`the approval POST answered ${decided}`);
}

function calls(entries: JournalEntry[]) {
  const summary: Record<string, { reads: number; writes: number }> = {};
  for (const e of entries) {
    const s = (summary[e.service] ??= { reads: 0, writes: 0 });
    if (['GET', 'HEAD'].includes(e.method)) s.reads++;
    else s.writes++;
  }
  return summary;
}

const PRODUCT_SERVICES = ['graph', 'keyvault', 'servicenow'] as const;

async function main(): Promise<number> {
  out('Starting the sandbox (Entra, Graph, Key Vault, ServiceNow stand-ins, Azurite, local Functions host)…');
  const probeRef: { current?: ConsumerProbe } = {};
  const stack = await startLocalStack({
    timers: 'real',
    onEpisode: async (_id, orchestrator) => {
      if (orchestrator === 'rotateCredentials' && probeRef.current) await probeRef.current.probe();
    },
    settings: {
      CHECK_RETRY_SECONDS: '1',
      APPROVAL_REMINDER_MINUTES: '60',
      APPROVAL_TIMEOUT_MINUTES: '120',
      // A certificate about as long-lived as the client secrets (180 days), so one sweep finds them all due.
      ...(credential === 'certificate' ? { CERTIFICATE_VALIDITY_MONTHS: '6' } : {}),
    },
  });
  try {
    const env = stack.env();
    const approver = `approver@${env.SANDBOX_TENANT_DOMAIN}`;
    const incidents = stack.sandbox.servicenow
      .records(env.SANDBOX_SERVICENOW_INSTANCE, 'incident')
      .map((r) => r.values);
    const ticket = incidents.find((i) => i.state !== '7' && i.active !== 'false') ?? incidents[0];
    const request = {
      tenant: env.SANDBOX_TENANT_DOMAIN,
      tenantName: 'Contoso',
      serviceNowInstance: env.SANDBOX_SERVICENOW_INSTANCE,
      approvers: [approver, `second.${approver}`],
      ...(ticket ? { ticket: { table: 'incident', number: ticket.number } } : {}),
      ...(profile.id !== DEFAULT_PROFILE_ID ? { profile: profile.id } : {}),
      options: { testEnvironment: true, ...(credential ? { credential: credential as CredentialKind } : {}) },
    };
    out(
      `POST /api/integrations for ${request.tenant} → ${request.serviceNowInstance} (ticket ${ticket?.number ?? 'none'})`,
    );
    const started = await api(stack, 'POST', '/api/integrations', request);
    out(`  → ${started.status} ${JSON.stringify(started.body)}`);
    if (started.status !== 202) throw new Error(`expected 202, got ${started.status}`);
    const { id } = started.body as { id: string };
    const seen = new Set<string>();
    const waiting = await follow(
      stack,
      id,
      (v) => v.currentStep === 'awaiting-approval' || v.outcome !== undefined,
      seen,
    );
    if (waiting.outcome)
      throw new Error(`provisioning ended before approval: ${waiting.outcome} ${waiting.error ?? ''}`);
    out('Manual hand-offs (exact values; secrets only as Key Vault names):');
    for (const a of waiting.pendingManualActions) {
      out(`  ${a.title}`);
      for (const s of a.steps) out(`    - ${s.label}${s.value ? `: ${s.value}` : ''}`);
    }
    await approveFromEmail(stack, approver);
    const done = await follow(
      stack,
      id,
      (v) => v.outcome !== undefined && v.orchestration?.runtimeStatus !== 'Running',
      seen,
    );
    out(`Outcome: ${done.outcome}${done.error ? ` (${done.error})` : ''}`);
    out('Checks:');
    for (const c of done.checks)
      out(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}${c.hint ? ` — ${c.hint}` : ''}`);
    const firstRun = calls(stack.sandbox.journal.entries());

    out('Repeating the request…');
    const mark = stack.sandbox.journal.mark();
    const again = await api(stack, 'POST', '/api/integrations', request);
    out(`  POST again → ${again.status} (already provisioned: status returned)`);
    const re = await api(stack, 'POST', '/api/integrations?reprovision=true', request);
    out(`  POST ?reprovision=true → ${re.status}`);
    if (re.status !== 202) throw new Error(`expected 202 for the re-provisioning, got ${re.status}`);
    const redone = await follow(
      stack,
      id,
      (v) =>
        v.orchestration?.runtimeStatus !== 'Running' &&
        v.orchestration?.runtimeStatus !== 'Pending' &&
        v.outcome !== undefined,
      new Set(),
    );
    const writes = stack.sandbox.journal
      .writes({ since: mark })
      .filter((e) => (PRODUCT_SERVICES as readonly string[]).includes(e.service))
      // Key Vault `sign` changes nothing: the certificate token check signs its client assertion in the vault.
      .filter((e) => !(e.service === 'keyvault' && /^\/keys\/[^/]+\/[^/]+\/sign$/.test(e.path)));
    const rerunWrites = writes.length;
    out(`  re-provisioning outcome ${redone.outcome}; writes to Graph, Key Vault and ServiceNow: ${rerunWrites}`);
    for (const e of writes) out(`    write: ${e.service} ${e.method} ${e.path}`);

    const ok = done.outcome === 'active' && done.checks.every((c) => c.ok) && rerunWrites === 0 && again.status === 200;
    const summary = {
      profile: profile.id,
      integrationId: id,
      status: done.outcome,
      apps: Object.fromEntries(
        Object.entries(done.created.apps).map(([role, a]) => [
          role,
          { appId: a.appId, objectId: a.objectId, secretName: a.secretName, keyId: a.keyId },
        ]),
      ),
      serviceNow: done.created.serviceNow,
      checks: done.checks.map((c) => ({ name: c.name, ok: c.ok, detail: c.detail })),
      calls: firstRun,
      rerunWrites,
    };
    if (!rotate) {
      if (asJson) console.log(JSON.stringify(summary));
      else out(ok ? 'Demo finished: everything checked out.' : 'Demo finished with problems (see above).');
      return ok ? 0 : 1;
    }
    if (!ok) throw new Error('provisioning did not check out; not rotating');
    return await rotation(stack, id, done, approver, probeRef);
  } finally {
    await stack.close();
  }
}

/**
 * `--rotate`: the admin-center hand-off of the provisioning is simulated (the person copies the Key Vault values into
 * the Microsoft 365 admin center), the sandbox clock jumps into the rotation window, the sweep runs, every hand-off
 * link is followed (after copying the new value into the simulated admin center), the grace period passes, and a
 * consumer probe tries every consumer's secret after every history event of the rotation.
 */
async function rotation(
  stack: LocalStack,
  id: string,
  provisioned: View,
  approver: string,
  probeRef: { current?: ConsumerProbe },
): Promise<number> {
  const env = stack.env();
  const secrets = () => getDeps().secrets;
  const adminCenter = new ManualConsumers();
  const value = async (name: string, version?: string) =>
    (await secrets().getSecret(name, version ? { version } : {})).value ?? '';
  const apps = provisioned.created.apps;
  for (const { role, field } of manualFields(profile)) adminCenter.set(field, await value(apps[role].secretName));
  const probe = new ConsumerProbe(
    stack.sandbox,
    profileConsumers(
      stack.sandbox,
      profile,
      { instance: env.SANDBOX_SERVICENOW_INSTANCE, apps, serviceNow: provisioned.created.serviceNow },
      adminCenter,
    ),
  );
  const before = await probe.probe();
  if (before.length) throw new Error(`consumers fail before the rotation: ${JSON.stringify(before)}`);
  probeRef.current = probe;

  // The client secrets' expiries (a certificate app's is on its Key Vault certificate, about as long).
  const expiries = Object.values(apps)
    .map((a) => Date.parse((a as { expiresOn?: string }).expiresOn ?? ''))
    .filter((t) => Number.isFinite(t));
  const jump = Math.min(...expiries) - stack.sandbox.clock.now() - 20 * DAY;
  out(`Advancing the sandbox clock ${Math.round(jump / DAY)} days, into the rotation window…`);
  stack.sandbox.clock.advance(jump);
  resetConfigCache(); // token caches follow the process clock: a restarted app would fetch new tokens
  out('Running the rotation sweep…');
  await stack.host.runTimer('rotationSweep');
  const instance = () =>
    stack.host.durable.query({ instanceIdPrefix: `rotate-${id}` }).find((i) => i.name === 'rotateCredentials');
  const seen = new Set<string>();
  const handled = new Set<string>();
  let mark = stack.sandbox.graph.outbox.length;
  for (let i = 0; i < 1200; i++) {
    const inst = instance();
    const st = inst?.customStatus as RotationStatus | undefined;
    for (const s of st?.steps ?? [])
      if (!seen.has(`${s.name}@${s.at}`)) {
        seen.add(`${s.name}@${s.at}`);
        out(`  step: ${s.name.padEnd(28)} ${s.at}`);
      }
    if (inst && ['Completed', 'Failed', 'Terminated'].includes(inst.runtimeStatus)) break;
    // Hand-off emails: copy the named Key Vault version into the simulated admin center, then confirm.
    // Exactly the mails seen now: one that arrives while these are handled is taken on the next turn, not skipped.
    const batch = stack.sandbox.graph.outbox.slice(mark);
    mark += batch.length;
    for (const mail of batch) {
      const text = JSON.stringify(mail.message);
      const m = /--name ([a-z0-9-]+) --version ([0-9a-f]{32})/i.exec(text);
      if (!m || !/\/api\/approvals\//.test(text)) continue;
      const key = `${m[1]}@${m[2]}`;
      if (handled.has(key)) continue;
      handled.add(key);
      // The secret name is `{integrationId}-{role}` in lower case: the hand-off's role is the app whose name ends so.
      const role = profile.apps.find((a) => m[1].endsWith(`-${a.role.toLowerCase()}`))?.role ?? '';
      const field = manualFields(profile).find((f) => f.role === role)?.field ?? role;
      adminCenter.set(field, await value(m[1], m[2]));
      out(`  hand-off: copied ${m[1]} version ${m[2].slice(0, 8)}… into "${field}"`);
      await followLink(mail, approver, 'done');
    }
    if (st?.step === 'grace') {
      out('  grace period: advancing the clock past it…');
      stack.sandbox.clock.advance(2 * DAY);
      resetConfigCache();
    }
    await sleep(250);
  }
  const final = instance();
  const st = final?.customStatus as RotationStatus | undefined;
  out(`Rotation outcome: ${st?.outcome ?? final?.runtimeStatus}${st?.error ? ` (${st.error})` : ''}`);
  out(`Consumer probes: ${probe.probes}, failures: ${probe.failures.length}`);
  for (const f of probe.failures) out(`  outage: ${f.consumer} at ${f.at}: ${f.reason}`);
  const rotated = (st?.rotated ?? []).map((r) => ({
    role: r.role,
    kind: r.kind,
    oldKeyId: r.oldKeyId,
    newKeyId: r.newKeyId,
    oldRemoved: r.oldRemoved,
  }));
  const withSecrets = profile.apps.filter((a) => a.secretConsumers.length > 0).length;
  const ok = st?.outcome === 'rotated' && rotated.length === withSecrets && probe.failures.length === 0;
  if (asJson) console.log(JSON.stringify({ profile: profile.id, rotated, consumerOutage: probe.failures.length }));
  else
    out(
      ok
        ? `Rotation demo finished: ${rotated.length} credential(s) rotated (${rotated.map((r) => `${r.role}: ${r.kind}`).join(', ')}) with no consumer outage.`
        : 'Rotation demo finished with problems.',
    );
  return ok ? 0 : 1;
}

(process.argv.includes('--fleet') ? fleetDemo() : main()).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
