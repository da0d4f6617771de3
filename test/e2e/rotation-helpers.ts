/**
 * Helpers for the end-to-end tests of secret rotation. Provisioning goes through the HTTP API
 * and the emailed approval link (stack-driver); rotations are started by the sweep timer or `POST .../rotate` and
 * driven on virtual time; hand-offs are done like a person does them: copy the Key Vault version the email names into
 * the (simulated) Microsoft 365 admin center, open the emailed link, POST the page's form with `done`.
 *
 * A consumer probe (sandbox/consumers.ts) runs before every episode of a `rotateCredentials` instance, i.e. after
 * every history event it reports (sandbox/durable/engine.ts onEpisode): every consumer tries a token with the secret
 * it holds at that moment. Each probe also records which password credentials the apps carry, so tests can say when
 * the old credential disappeared.
 *
 * Virtual time is moved with the durable engine (clock + due durable timers) rather than `host.advanceTime`, which also
 * runs due timer functions: these tests run the sweep themselves, so that "which rotations a sweep started" is exact.
 * `resetConfigCache()` follows every clock move: the SDK token caches follow real time, and a token the sandbox
 * clock has already expired would be refused (a restarted app would fetch new tokens).
 */
import {
  ConsumerProbe,
  manualFields,
  ManualConsumers,
  profileConsumers,
  type ProbeFailure,
} from '../../sandbox/consumers';
import { m365SupportAad } from '../../src/profiles/m365-support-aad';
import type { IntegrationProfile } from '../../src/profiles/types';
import { TERMINAL, type InstanceStatus } from '../../sandbox/durable/engine';
import type { LocalStack, LocalStackOptions } from '../../sandbox/stack';
import { getDeps } from '../../src/app/deps';
import { resetConfigCache } from '../../src/config';
import { ROTATION_ORCHESTRATOR, type RotationStatus } from '../../src/orchestrators/rotation-types';
import { rotationInstancePrefix } from '../../src/rotation/ids';
import { api, openApprovalPage, postDecision, type IntegrationView } from './api-driver';
import {
  approverOf,
  decideFromEmail,
  requestFor,
  runToApproval,
  runToEnd,
  startProvisioning,
  startStackFor,
} from './stack-driver';

export const DAY = 24 * 3600 * 1000;
export const MINUTE = 60_000;
export const ROLES = ['outbound', 'restApi', 'restUser'] as const;

/** Short rotation settings for virtual time (minutes). */
export const ROTATION_SETTINGS = {
  ROTATION_GRACE_MINUTES: '60',
  HANDOFF_REMINDER_MINUTES: '30',
  HANDOFF_DEADLINE_MINUTES: '120',
  ROTATION_VERIFY_ATTEMPTS: '6',
  ROTATION_VERIFY_RETRY_SECONDS: '10',
  CHECK_RETRY_SECONDS: '1',
};

/**
 * A valid NCRONTAB that cannot fire within the next ~11 months (02:00 on the 1st of last month): the host never
 * runs the sweep on its own while a test moves the clock; the tests run it explicitly.
 */
export function quietSchedule(now: Date): string {
  const lastMonth = ((now.getUTCMonth() + 11) % 12) + 1;
  return `0 0 2 1 ${lastMonth} *`;
}

export interface EpisodeObservation {
  instanceId: string;
  /** The rotation's step when the episode started (what the work just reported belongs to). */
  step?: string;
  failures: ProbeFailure[];
  /** keyIds of the password credentials each role's app carries, by role. */
  keyIds: Record<string, string[]>;
}

/** One provisioned integration, its consumers and what the probe saw. */
export interface Tracked {
  id: string;
  instance: string;
  /** The integration's profile: its secret consumers and manual fields. */
  profile: IntegrationProfile;
  view: IntegrationView;
  adminCenter: ManualConsumers;
  probe: ConsumerProbe;
  episodes: EpisodeObservation[];
  /** Secret values at provisioning, by role (for secretWorks after a rollback). */
  original: Record<string, { value: string; keyId: string; version: string }>;
  /** Roles whose hand-off was confirmed. */
  confirmedRoles: Set<string>;
}

export interface RotationHarness {
  stack: LocalStack;
  tracked: Map<string, Tracked>;
  close(): Promise<void>;
}

/** The integration id a rotation instance belongs to (`rotate-{id}-{YYYYMMDD}`). */
const integrationOf = (instanceId: string): string | undefined => /^rotate-(.+)-\d{8}$/.exec(instanceId)?.[1];

/** keyIds of each role's app, read in-process from the directory (no journal entry, no fault). */
export function keyIdsOf(stack: LocalStack, view: IntegrationView): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [role, app] of Object.entries(view.created.apps))
    out[role] = (stack.sandbox.directory.applications.get(app.objectId)?.passwordCredentials ?? []).map((c) => c.keyId);
  return out;
}

/** Starts the stack (per-instance admin credentials, quiet sweep schedule) with the consumer probe hooked in. */
export async function startRotationHarness(
  instances: string[],
  opts: LocalStackOptions = {},
): Promise<RotationHarness> {
  const tracked = new Map<string, Tracked>();
  const ref: { stack?: LocalStack } = {};
  const stack = await startStackFor(instances, {
    ...opts,
    settings: {
      ROTATION_SCHEDULE: quietSchedule(new Date()),
      HEALTH_SCHEDULE: quietSchedule(new Date()),
      ...ROTATION_SETTINGS,
      ...(opts.settings ?? {}),
    },
    onEpisode: async (instanceId, orchestrator) => {
      const stackRef = ref.stack;
      if (orchestrator !== ROTATION_ORCHESTRATOR || !stackRef) return;
      const t = tracked.get(integrationOf(instanceId) ?? '');
      if (!t) return;
      const status = stackRef.host.durable.getStatus(instanceId)?.customStatus as RotationStatus | null | undefined;
      const failures = await t.probe.probe();
      t.episodes.push({
        instanceId,
        ...(status?.step ? { step: status.step } : {}),
        failures,
        keyIds: keyIdsOf(stackRef, t.view),
      });
    },
  });
  ref.stack = stack;
  return { stack, tracked, close: () => stack.close() };
}

/** The value of a Key Vault secret (a version, or the latest), through the product's own SecretClient. */
export async function secretValue(name: string, version?: string): Promise<string> {
  return (await getDeps().secrets.getSecret(name, version ? { version } : {})).value ?? '';
}

/**
 * Provisions an integration of `profile` on `instance` through the HTTP API and sets up its consumers and probe;
 * `request` adds to the request (e.g. `{ options: { credential: 'certificate' } }`).
 */
export async function provisionTracked(
  h: RotationHarness,
  instance: string,
  profile: IntegrationProfile = m365SupportAad,
  request: Record<string, unknown> = {},
): Promise<Tracked> {
  const { stack } = h;
  const extra = { ...(profile.id === m365SupportAad.id ? {} : { profile: profile.id }), ...request };
  const id = await startProvisioning(stack, requestFor(stack, instance, extra));
  await runToApproval(stack, id);
  const decided = await decideFromEmail(stack, approverOf(stack), id, 'approve');
  if (decided.status !== 200) throw new Error(`approval answered ${decided.status}`);
  const out = await runToEnd(stack, id, { throughApproval: true });
  if (out.outcome !== 'active')
    throw new Error(
      `provisioning of ${id} ended ${out.outcome}: ${JSON.stringify(out.checks?.filter((c) => !c.ok) ?? [])}`,
    );
  const res = await api(stack, 'GET', `/api/integrations/${id}`);
  const view = res.json as IntegrationView;
  const original: Tracked['original'] = {};
  for (const [role, app] of Object.entries(view.created.apps)) {
    if (!app.secretName) continue; // an app without a client secret (an existing service principal)
    const secret = await getDeps().secrets.getSecret(app.secretName);
    original[role] = {
      value: secret.value ?? '',
      keyId: app.keyId ?? '',
      version: secret.properties.version ?? '',
    };
  }
  // The provisioning's manual hand-offs, done: the person copied the Key Vault values where they go.
  const adminCenter = new ManualConsumers();
  for (const { role, field } of manualFields(profile)) adminCenter.set(field, original[role].value);
  const probe = new ConsumerProbe(
    stack.sandbox,
    profileConsumers(
      stack.sandbox,
      profile,
      { instance, apps: view.created.apps, serviceNow: view.created.serviceNow },
      adminCenter,
    ),
  );
  const t: Tracked = {
    id,
    instance,
    profile,
    view,
    adminCenter,
    probe,
    episodes: [],
    original,
    confirmedRoles: new Set(),
  };
  h.tracked.set(id, t);
  return t;
}

/** Moves the sandbox clock (no timer function runs) and lets the product fetch fresh tokens. */
export function moveClock(stack: LocalStack, ms: number): void {
  stack.sandbox.clock.advance(ms);
  resetConfigCache();
}

/** Moves virtual time by `ms`: clock, fresh tokens, due durable timers, then waits until the engine is idle. */
export async function advance(stack: LocalStack, ms: number): Promise<void> {
  moveClock(stack, ms);
  stack.host.durable.fireDueTimers();
  await stack.host.durable.waitForIdle(30_000);
}

/** Every rotateCredentials instance of an integration, oldest first. */
export function rotationsOf(stack: LocalStack, integrationId: string): InstanceStatus[] {
  return stack.host.durable
    .query({ instanceIdPrefix: rotationInstancePrefix(integrationId) })
    .filter((s) => s.name === ROTATION_ORCHESTRATOR)
    .sort((a, b) => Date.parse(a.createdTime) - Date.parse(b.createdTime));
}

export const rotationStatus = (s: InstanceStatus | undefined): RotationStatus | undefined =>
  (s?.customStatus ?? undefined) as RotationStatus | undefined;

const unescape = (s: string) =>
  s
    .replace(/&amp;/g, '&')
    .replace(/&#x2F;/g, '/')
    .replace(/&#39;/g, "'");

export interface HandoffMail {
  role: string;
  secretName: string;
  version: string;
  link: string;
  to: string;
}

/** The hand-off emails of a rotation instance (src/mail/handoff.ts), oldest first. */
export function handoffMails(stack: LocalStack, instanceId: string): HandoffMail[] {
  const out: HandoffMail[] = [];
  for (const mail of stack.sandbox.graph.outbox) {
    const text = JSON.stringify(mail.message);
    const link = /(https?:\/\/[^"\\\s<>]+\/api\/approvals\/[^"\\\s<>]+)/.exec(text)?.[1];
    if (!link || new URL(unescape(link)).pathname !== `/api/approvals/${instanceId}`) continue;
    const role = /Update the (\w+) client secret/.exec(text)?.[1];
    const kv = /--name ([A-Za-z0-9-]+) --version ([0-9a-f]{32})/i.exec(text);
    const to =
      (mail.message as { toRecipients?: { emailAddress?: { address?: string } }[] }).toRecipients?.[0]?.emailAddress
        ?.address ?? '';
    if (role && kv) out.push({ role, secretName: kv[1], version: kv[2], link: unescape(link), to });
  }
  return out;
}

/** A person's hand-off: copy the named version into the admin center, open the link, POST `done`. */
export async function confirmHandoff(t: Tracked, mail: HandoffMail): Promise<void> {
  const field = manualFields(t.profile).find((f) => f.role === mail.role)?.field;
  if (!field) throw new Error(`no manual field for role ${mail.role}`);
  t.adminCenter.set(field, await secretValue(mail.secretName, mail.version));
  const page = await openApprovalPage(mail.link);
  if (page.status !== 200 || !page.action) throw new Error(`hand-off page answered ${page.status}`);
  const form = new URLSearchParams(page.fields);
  form.set('decision', 'done');
  const posted = await postDecision(new URL(page.action, mail.link).toString(), form, page.cookie);
  if (posted.status !== 200) throw new Error(`hand-off POST answered ${posted.status}: ${posted.html.slice(0, 300)}`);
  t.confirmedRoles.add(mail.role);
}

export interface DriveOptions {
  /** Which roles' hand-offs the person confirms (default: all). */
  confirm?: (role: string) => boolean;
  /** Stop as soon as this holds (checked whenever the engine is idle). */
  until?: (s: InstanceStatus) => boolean;
  /** Upper bound of virtual time moved (default 3 days). */
  maxAdvanceMs?: number;
}

/**
 * Drives the integration's latest rotation: whenever the engine is idle, confirms new hand-offs (per `confirm`),
 * else moves virtual time to the next pending durable timer (retries, verify retries, reminders, deadline, grace),
 * until `until` holds or the instance ended.
 */
export async function drive(h: RotationHarness, t: Tracked, opts: DriveOptions = {}): Promise<InstanceStatus> {
  const { stack } = h;
  const confirm = opts.confirm ?? (() => true);
  const maxAdvanceMs = opts.maxAdvanceMs ?? 3 * DAY;
  let advanced = 0;
  for (let i = 0; i < 1000; i++) {
    await stack.host.durable.waitForIdle(30_000);
    const s = rotationsOf(stack, t.id).at(-1);
    if (!s) throw new Error(`no rotation of ${t.id}`);
    if (opts.until?.(s) || TERMINAL.includes(s.runtimeStatus)) return s;
    const open = handoffMails(stack, s.instanceId).filter((m) => !t.confirmedRoles.has(m.role) && confirm(m.role));
    const waiting = stack.host.durable.waitingFor(s.instanceId);
    const ready = open.filter((m) => waiting.some((e) => e.endsWith(`-${m.role}`)));
    if (ready.length) {
      for (const m of ready) if (!t.confirmedRoles.has(m.role)) await confirmHandoff(t, m);
      continue;
    }
    const next = stack.host.durable
      .timers(s.instanceId)
      .filter((x) => x.state === 'pending')
      .map((x) => x.fireAt.getTime())
      .sort((a, b) => a - b)[0];
    if (next === undefined)
      throw new Error(`rotation ${s.instanceId} is stuck at ${rotationStatus(s)?.step ?? '?'} (no pending timer)`);
    const ms = Math.max(next - stack.sandbox.clock.now(), 0) + 1;
    advanced += ms;
    if (advanced > maxAdvanceMs)
      throw new Error(`rotation ${s.instanceId} still ${s.runtimeStatus} at ${rotationStatus(s)?.step ?? '?'}`);
    await advance(stack, ms);
  }
  throw new Error(`rotation of ${t.id} did not settle`);
}

/** POST /api/integrations/{id}/rotate. */
export function rotateNow(stack: LocalStack, id: string, body?: unknown) {
  return api(stack, 'POST', `/api/integrations/${id}/rotate`, body === undefined ? {} : { body });
}

/** Every password credential value Graph ever handed out (addPassword responses), for the canary scan. */
export function issuedSecrets(stack: LocalStack): string[] {
  return stack.sandbox.journal
    .raw({ service: 'graph' })
    .filter((e) => e.method === 'POST' && e.path.endsWith('/addPassword') && e.status === 200)
    .map((e) => (JSON.parse(e.rawResponseBody || '{}') as { secretText?: string }).secretText ?? '')
    .filter((v) => v.length > 0);
}
