/**
 * The last part of `npm run bench` (bench/index.ts): the daily health and drift check over N active integrations in the sandbox
 * (`BENCH_HEALTH_N`, default 1,000). Figures, not assertions.
 *
 * Seeding (bench/fleet-seed.ts): `BENCH_HEALTH_REAL` integrations (default 2) are provisioned for real through the
 * API, the rest are replicas of them written through the stand-ins' in-process APIs, the registry and the durable
 * engine (the provisioning run the check reads its approved input from, imported as a completed instance).
 *
 * Drift on ~5 % of the replicas (at least one): alternately a ServiceNow record column edited (the outbound OAuth
 * provider's redirect URL) and a password credential added by hand to the outbound app. Then the timer `healthSweep`
 * runs through the local host and every daily check runs to its end (virtual durable timers, advanced while idle).
 *
 *   npm run bench [-- --json]            (every part; `--json`: one merged line, `health` in it)
 *   npm run build && BENCH_HEALTH_N=100 node scripts/with-sandbox-ca.cjs node dist/bench/health.js [--json]
 */
import { performance } from 'node:perf_hooks';

import { getDeps } from '../src/app/deps';
import type { HealthResult } from '../src/contracts/health';
import { dailyHealthInstanceId } from '../src/health/start';
import { runToEnd, seedFleet, type Drift } from './fleet-seed';

export interface HealthFigures {
  integrations: number;
  real: number;
  wallMs: number;
  sweepHandlerMs: number;
  perSecond: number;
  callsPerIntegration: Record<string, number>;
  readsPerIntegration: Record<string, number>;
  tokenRequestsPerIntegration: number;
  writes: number;
  findings: number;
  expectedFindings: number;
  historyEventsPerCheck: number;
  checksNotCompleted: number;
  seedMs: number;
  /** The same sweep again the same day: every check already completed, so it starts nothing (its own overhead). */
  repeatSweepMs: number;
  /** Calls per integration by service, method and route (ids replaced by placeholders), most frequent first. */
  routes: { route: string; perIntegration: number }[];
  /** Findings by subject kind (the subject up to its first colon). */
  findingSubjects: Record<string, number>;
}

const SERVICES = ['entra', 'graph', 'keyvault', 'servicenow'] as const;
const READ_METHODS = ['GET', 'HEAD'];
const WRITE_METHODS = ['POST', 'PUT', 'PATCH', 'DELETE'];
export async function runHealthBench(
  opts: { n?: number; real?: number; log?: (line: string) => void } = {},
): Promise<HealthFigures> {
  const n = opts.n ?? 1000;
  const log = opts.log ?? (() => undefined);
  const real = Math.max(1, Math.min(opts.real ?? 2, n));
  const replicas = n - real;
  const drifts = replicas > 0 ? Math.max(1, Math.round(n * 0.05)) : 0;
  const driftAt = new Map<number, Drift>();
  for (let d = 0; d < drifts; d++)
    driftAt.set(real + Math.floor(((d + 0.5) * replicas) / drifts), d % 2 === 0 ? 'record' : 'credential');
  const { stack, ids, seedMs } = await seedFleet({ n, real, log, drift: (i) => driftAt.get(i) });
  try {
    log(`seeded ${n} integrations in ${seedMs.toFixed(0)} ms (${drifts} with drift)`);

    const mark = stack.sandbox.journal.mark();
    const s0 = performance.now();
    await stack.host.runTimer('healthSweep');
    const sweepHandlerMs = performance.now() - s0;
    const day = getDeps().now();
    const checkIds = ids.map((id) => dailyHealthInstanceId(id, day));
    const missing = checkIds.filter((c) => !stack.host.durable.getStatus(c));
    if (missing.length) throw new Error(`the sweep started no check for ${missing.length} integration(s)`);
    const ends = await runToEnd(stack, checkIds);
    const wallMs = performance.now() - s0;
    const r0 = performance.now();
    await stack.host.runTimer('healthSweep');
    const repeatSweepMs = performance.now() - r0;

    const entries = stack.sandbox.journal.entries({ since: mark });
    if (stack.host.durable.query({ instanceIdPrefix: 'health-' }).length !== n)
      throw new Error('the repeated sweep started checks again');
    const callsPerIntegration: Record<string, number> = {};
    const readsPerIntegration: Record<string, number> = {};
    let tokenRequests = 0;
    let writes = 0;
    for (const s of SERVICES) {
      const mine = entries.filter((e) => e.service === s);
      callsPerIntegration[s] = round(mine.length / n);
      readsPerIntegration[s] = round(mine.filter((e) => READ_METHODS.includes(e.method)).length / n);
      if (s === 'entra') tokenRequests += mine.filter((e) => e.method === 'POST').length;
      else writes += mine.filter((e) => WRITE_METHODS.includes(e.method)).length;
    }
    const byRoute = new Map<string, number>();
    for (const e of entries) {
      const path = e.path
        .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '{guid}')
        .replace(/[0-9a-f]{32}/g, '{hex}')
        .replace(/bh\d{5}/g, '{instance}')
        .replace(/sn-\{instance\}-[0-9a-f]{8}/g, '{id}');
      const query = Object.keys(e.query).length ? `?${Object.keys(e.query).sort().join('&')}` : '';
      const key = `${e.service} ${e.method} ${path}${e.service === 'servicenow' && e.query.sysparm_query ? ` [${e.query.sysparm_query.replace(/=[^^]*/g, '=…')}]` : query}`;
      byRoute.set(key, (byRoute.get(key) ?? 0) + 1);
    }
    const routes = [...byRoute.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([route, count]) => ({ route, perIntegration: round(count / n) }));
    const results = ends.map((e) => (e.runtimeStatus === 'Completed' ? (e.output as HealthResult) : undefined));
    const findings = results.reduce((sum, r) => sum + (r?.findings.length ?? 0), 0);
    const findingSubjects: Record<string, number> = {};
    for (const f of results.flatMap((r) => r?.findings ?? [])) {
      const kind = f.subject
        .split(':')
        .slice(0, 3)
        .join(':')
        .replace(/:[0-9a-f-]{32,36}$/, '');
      findingSubjects[kind] = (findingSubjects[kind] ?? 0) + 1;
    }
    const history = checkIds.reduce((sum, c) => sum + stack.host.durable.history(c).length, 0);
    return {
      integrations: n,
      real,
      wallMs: Math.round(wallMs),
      sweepHandlerMs: Math.round(sweepHandlerMs),
      perSecond: round((n * 1000) / wallMs),
      callsPerIntegration,
      readsPerIntegration,
      tokenRequestsPerIntegration: round(tokenRequests / n),
      writes,
      findings,
      expectedFindings: drifts,
      historyEventsPerCheck: round(history / n),
      checksNotCompleted: results.filter((r) => !r).length,
      seedMs: Math.round(seedMs),
      repeatSweepMs: Math.round(repeatSweepMs),
      routes,
      findingSubjects,
    };
  } finally {
    await stack.close();
  }
}

const round = (x: number) => Math.round(x * 100) / 100;

/** The `--json` line: `{ "health": { … } }`. */
export function healthJson(f: HealthFigures): { health: Record<string, unknown> } {
  return {
    health: {
      integrations: f.integrations,
      wallMs: f.wallMs,
      perSecond: f.perSecond,
      callsPerIntegration: f.callsPerIntegration,
      writes: f.writes,
      findings: f.findings,
      expectedFindings: f.expectedFindings,
      historyEventsPerCheck: f.historyEventsPerCheck,
    },
  };
}

/** The command line; resolves to the exit code. `print` receives each output line. */
export async function main(
  argv: string[],
  print: (line: string) => void = (l) => console.log(l),
  opts: { n?: number; real?: number } = {},
): Promise<number> {
  const json = argv.includes('--json');
  const n = opts.n ?? Number(process.env.BENCH_HEALTH_N ?? 1000);
  const real = opts.real ?? Number(process.env.BENCH_HEALTH_REAL ?? 2);
  const f = await runHealthBench({ n, real, log: json ? undefined : (l) => print(`  … ${l}`) });
  if (json) print(JSON.stringify(healthJson(f)));
  else {
    print(`health and drift check in the sandbox (Node ${process.version}), ${f.integrations} active integrations`);
    print(`  seeding: ${f.real} provisioned through the API, the rest replicated, in ${f.seedMs} ms`);
    print(`  sweep: timer handler ${f.sweepHandlerMs} ms (starting the checks); start → all ended ${f.wallMs} ms`);
    print(`  checks per second: ${f.perSecond}`);
    print(`  the same sweep again (every check already completed, nothing started): ${f.repeatSweepMs} ms`);
    print('  calls per integration:   service      reads   writes  total');
    for (const s of SERVICES) {
      const total = f.callsPerIntegration[s];
      const reads = f.readsPerIntegration[s];
      const other = round(total - reads);
      const label = s === 'entra' ? `${other} token` : String(other);
      print(`                           ${s.padEnd(12)} ${String(reads).padStart(6)}  ${label.padStart(7)}  ${total}`);
    }
    print('  by route (per integration):');
    for (const r of f.routes) print(`    ${String(r.perIntegration).padStart(5)}  ${r.route}`);
    print(`  writes to Graph, Key Vault and ServiceNow: ${f.writes}`);
    print(`  findings: ${f.findings} (drift injected: ${f.expectedFindings}) ${JSON.stringify(f.findingSubjects)}`);
    print(`  history events per check: ${f.historyEventsPerCheck}`);
    print(`  checks not completed: ${f.checksNotCompleted}`);
  }
  return f.writes !== 0 || f.findings !== f.expectedFindings || f.checksNotCompleted ? 1 : 0;
}

if (require.main === module)
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
