/**
 * P3 of `npm run bench`: the rotation sweep over a fleet of N active integrations (`BENCH_ROTATION_N`, default 1,000;
 * 3 credentials each with the support profile) in the sandbox. Figures, not assertions.
 *
 * Seeding (bench/fleet-seed.ts): 2 integrations provisioned through the API, the rest replicas. Every tenth credential
 * of the replicas (credential k = integration × roles + role, k % 10 = 0) is made due by its recorded times, which agree
 * everywhere the product could read them (the Graph password credential's start/end, the Key Vault version's
 * created/expires attributes, the registry's `createdOn`/`expiresOn`): alternately expiring inside the rotation window
 * (`ROTATION_WINDOW_DAYS`) and older than the maximum age (`ROTATION_MAX_AGE_DAYS`, expiry far away). The rest keep the
 * template's times (created now, 180-day lifetime: not due).
 *
 * Measured:
 *   triage     findDue (src/rotation/sweep.ts), the sweep's decision over the whole fleet: the registry list, then per
 *              credential the Key Vault version properties of its secret. It makes no Graph call, so throttling is
 *              injected on what it calls: Key Vault `GET /secrets/{name}/versions` answers 429 with `Retry-After` on a
 *              share of the calls (`BENCH_ROTATION_THROTTLE`, default 0.1; `Retry-After: 1`, Key Vault's throttling
 *              answer). Failures = the problems the triage reports (a credential it could not assess).
 *   sweep      the timer handler `rotationSweep` through the local host, throttling still on: triage, the start of one
 *              rotation per due integration, the orphan sweep. Started must equal the integrations with a due
 *              credential; failures = the problems the handler logs.
 *
 *   npm run bench [-- --json]
 *   npm run build && BENCH_ROTATION_N=100 node scripts/with-sandbox-ca.cjs node dist/bench/rotation-fleet.js [--json]
 */
import { performance } from 'node:perf_hooks';

import { TERMINAL } from '../sandbox/durable/engine';
import { getDeps } from '../src/app/deps';
import { getProfile } from '../src/profiles';
import { findDue } from '../src/rotation/sweep';
import { seedFleet, type CredentialTimes } from './fleet-seed';

const DAY_MS = 24 * 3600 * 1000;

export interface RotationFleetFigures {
  integrations: number;
  credentials: number;
  /** Credentials made due by seeding, and the integrations holding them. */
  dueCredentials: number;
  dueIntegrations: number;
  /** Triage without faults: wall time, what it found, its Key Vault calls. */
  triageMs: number;
  triageDue: number;
  triageFailures: number;
  triageKeyVaultCalls: number;
  /** The same triage with Key Vault throttling injected. */
  throttle: { share: number; retryAfterS: number; triageMs: number; throttledResponses: number; failures: number };
  /** The timer handler (throttling on). */
  sweepMs: number;
  started: number;
  sweepFailures: number;
  seedMs: number;
}

/** Which credentials of replica `i` are due, and by which times (`now` = the sandbox clock at seeding). */
function dueTimes(
  i: number,
  roles: string[],
  now: number,
  policy: { windowDays: number; maxAgeDays: number },
): Record<string, CredentialTimes> | undefined {
  const out: Record<string, CredentialTimes> = {};
  roles.forEach((role, r) => {
    const k = i * roles.length + r;
    if (k % 10 !== 0) return;
    out[role] =
      (k / 10) % 2 === 0
        ? // Expires inside the rotation window (a 180-day credential written 170 days ago... its window started).
          { createdOn: new Date(now - 170 * DAY_MS), expiresOn: new Date(now + (policy.windowDays - 20) * DAY_MS) }
        : // Older than the maximum age, its expiry far away (a two-year credential).
          { createdOn: new Date(now - (policy.maxAgeDays + 5) * DAY_MS), expiresOn: new Date(now + 300 * DAY_MS) };
  });
  return Object.keys(out).length ? out : undefined;
}

const SUMMARY = /rotation sweep: (\d+) active integrations, (\d+) due, (\d+) started, (\d+) reconciled, (\d+) problems/;

export async function runRotationFleetBench(
  opts: { n?: number; real?: number; throttle?: number; log?: (line: string) => void } = {},
): Promise<RotationFleetFigures> {
  const n = opts.n ?? 1000;
  const share = opts.throttle ?? 0.1;
  const retryAfterS = 1;
  const log = opts.log ?? (() => undefined);
  let policy = { windowDays: 0, maxAgeDays: 0 };
  let roles: string[] = [];
  const real = Math.max(1, Math.min(opts.real ?? 2, n));
  const planned = new Map<number, Record<string, CredentialTimes>>();
  let seedNow = 0;
  const { stack, ids, seedMs } = await seedFleet({
    n,
    real,
    log,
    times: (i) => {
      const t = dueTimes(i, roles, seedNow, policy);
      if (t) planned.set(i, t);
      return t;
    },
    // Called once the templates exist: the roles of the profile they were provisioned with.
    onTemplates: (stack, rows) => {
      seedNow = stack.sandbox.clock.now();
      const { windowDays, maxAgeDays } = getDeps().config.rotation;
      policy = { windowDays, maxAgeDays };
      roles = getProfile(rows[0].profile)!.apps.map((a) => a.role);
    },
  });
  try {
    const dueCredentials = [...planned.values()].reduce((sum, t) => sum + Object.keys(t).length, 0);
    const dueIntegrations = planned.size;
    log(`seeded ${n} integrations in ${seedMs.toFixed(0)} ms; ${dueCredentials} credentials due in ${dueIntegrations}`);
    const records = (await getDeps().registry.list()).filter((r) => r.status === 'active');
    const credentials = records.reduce((sum, r) => sum + Object.values(r.apps).filter((a) => a.secretName).length, 0);
    if (records.length !== ids.length) throw new Error(`${records.length} active integrations, ${ids.length} seeded`);

    const journal = stack.sandbox.journal;
    const now = () => getDeps().now();
    let mark = journal.mark();
    let t0 = performance.now();
    const plain = await findDue(getDeps(), now());
    const triageMs = performance.now() - t0;
    const triageKeyVaultCalls = journal.entries({ since: mark }).filter((e) => e.service === 'keyvault').length;
    log(`triage: ${plain.due.length} due of ${plain.checked} in ${triageMs.toFixed(0)} ms`);

    stack.sandbox.faults.add({
      service: 'keyvault',
      method: 'GET',
      path: '^/secrets/[^/]+/versions$',
      probability: share,
      action: { type: 'status', status: 429, headers: { 'Retry-After': String(retryAfterS) } },
    });
    mark = journal.mark();
    t0 = performance.now();
    const throttled = await findDue(getDeps(), now());
    const throttledMs = performance.now() - t0;
    const throttledResponses = journal.entries({ since: mark }).filter((e) => e.fault !== undefined).length;
    log(`triage, throttled: ${throttled.due.length} due in ${throttledMs.toFixed(0)} ms (${throttledResponses} × 429)`);

    const logs = stack.host.durable.logs;
    const logFrom = logs.length;
    t0 = performance.now();
    await stack.host.runTimer('rotationSweep');
    const sweepMs = performance.now() - t0;
    const summary = logs
      .slice(logFrom)
      .map((l) => SUMMARY.exec(l.message))
      .find((m) => m);
    if (!summary) throw new Error('the rotation sweep logged no summary');
    const started = stack.host.durable.query({ instanceIdPrefix: 'rotate-' }).length;
    log(`sweep: ${summary[0]} in ${sweepMs.toFixed(0)} ms; ${started} rotation instances`);
    stack.sandbox.faults.clear();
    // The started rotations are not run to their end here: stopped, and their running activities let finish, so
    // nothing of this stack is still at work when the next part of the bench starts its own.
    const durable = stack.host.durable;
    for (const s of durable.query({ instanceIdPrefix: 'rotate-' }))
      if (!TERMINAL.includes(s.runtimeStatus)) durable.terminate(s.instanceId, 'benchmark over');
    await durable.waitForIdle(120_000);
    return {
      integrations: n,
      credentials,
      dueCredentials,
      dueIntegrations,
      triageMs: Math.round(triageMs),
      triageDue: plain.due.length,
      triageFailures: plain.problems.length,
      triageKeyVaultCalls,
      throttle: {
        share,
        retryAfterS,
        triageMs: Math.round(throttledMs),
        throttledResponses,
        failures: throttled.problems.length,
      },
      sweepMs: Math.round(sweepMs),
      started: Math.min(started, Number(summary[3])),
      sweepFailures: Number(summary[5]),
      seedMs: Math.round(seedMs),
    };
  } finally {
    await stack.close();
  }
}

/** The `--json` line: `{ "p3": { … } }`; failures = the triage's and the sweep's under throttling. */
export function rotationFleetJson(f: RotationFleetFigures): { p3: Record<string, unknown> } {
  return {
    p3: {
      integrations: f.integrations,
      credentials: f.credentials,
      dueCredentials: f.dueCredentials,
      due: f.dueIntegrations,
      triageMs: f.triageMs,
      throttledTriageMs: f.throttle.triageMs,
      throttleShare: f.throttle.share,
      throttledResponses: f.throttle.throttledResponses,
      sweepMs: f.sweepMs,
      started: f.started,
      failures: f.throttle.failures + f.sweepFailures,
    },
  };
}

/** The command line; resolves to the exit code. `print` receives each output line. */
export async function main(
  argv: string[],
  print: (line: string) => void = (l) => console.log(l),
  opts: { n?: number; throttle?: number } = {},
): Promise<number> {
  const json = argv.includes('--json');
  const n = opts.n ?? Number(process.env.BENCH_ROTATION_N ?? 1000);
  const throttle = opts.throttle ?? Number(process.env.BENCH_ROTATION_THROTTLE ?? 0.1);
  const f = await runRotationFleetBench({ n, throttle, log: (l) => print(`  … ${l}`) });
  print(`rotation sweep over a fleet in the sandbox (Node ${process.version}), ${f.integrations} active integrations`);
  print(`  credentials: ${f.credentials}; due by their recorded times: ${f.dueCredentials} in ${f.dueIntegrations}`);
  print(
    `  triage (which are due): ${f.triageMs} ms, ${f.triageDue} due found, ${f.triageFailures} failures, ` +
      `${f.triageKeyVaultCalls} Key Vault calls`,
  );
  print(
    `  triage with Key Vault throttled (${f.throttle.share * 100} % of version lists → 429, Retry-After ` +
      `${f.throttle.retryAfterS} s): ${f.throttle.triageMs} ms, ${f.throttle.throttledResponses} throttled answers, ` +
      `${f.throttle.failures} failures`,
  );
  print(`  sweep handler (throttled): ${f.sweepMs} ms, ${f.started} rotations started, ${f.sweepFailures} failures`);
  if (json) print(JSON.stringify(rotationFleetJson(f)));
  const ok =
    f.triageDue === f.dueIntegrations &&
    f.started === f.dueIntegrations &&
    f.triageFailures + f.throttle.failures + f.sweepFailures === 0;
  return ok ? 0 : 1;
}

if (require.main === module)
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
