/**
 * The first part of `npm run bench` (bench/index.ts): how long provisioning takes in the sandbox, and how many calls it makes per service, for N
 * integrations run one after another and then concurrently. Virtual durable timers; the approval decision is raised
 * straight on the instance (the bench measures the product's steps, not a person clicking). Figures, not assertions.
 * Then bench/floor.ts: the same provisioning under modelled service latency against its critical-path floor, calls
 * against the profile's minimum, and the orchestration history (`--json`: its JSON line last).
 */
import { performance } from 'node:perf_hooks';

import { startLocalStack, type LocalStack } from '../sandbox/stack';
import { APPROVAL_EVENT } from '../src/contracts/provision';
import { main as floorMain } from './floor';

const N = Number(process.env.BENCH_N ?? 10);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 5);
const instances = Array.from({ length: N * 2 }, (_, i) => `bench${String(i).padStart(3, '0')}`);

interface Run {
  toApprovalMs: number;
  toActiveMs: number;
  outcome: string;
}

async function provision(stack: LocalStack, instance: string): Promise<Run> {
  const env = stack.env();
  const t0 = performance.now();
  const res = await fetch(`${stack.host.baseUrl}/api/integrations`, {
    method: 'POST',
    headers: { 'x-functions-key': stack.host.functionKey, 'content-type': 'application/json' },
    body: JSON.stringify({
      tenant: env.SANDBOX_TENANT_DOMAIN,
      tenantName: 'Contoso',
      serviceNowInstance: instance,
      approvers: ['approver@contoso.onmicrosoft.com', 'second.approver@contoso.onmicrosoft.com'],
      requestedBy: 'requester@contoso.onmicrosoft.com',
    }),
  });
  if (res.status !== 202) throw new Error(`POST answered ${res.status}: ${await res.text()}`);
  const { id } = (await res.json()) as { id: string };
  const instanceId = `provision-${id}`;
  const waiting = await stack.host.durable.waitForStatus(
    instanceId,
    () => stack.host.durable.waitingFor(instanceId).includes(APPROVAL_EVENT),
    60_000,
  );
  const t1 = performance.now();
  // The decision names the plan it approves, as the approval link's does (a decision for another plan is ignored).
  const planDigest = (waiting.customStatus as { plan?: { digest?: string } } | null)?.plan?.digest;
  stack.host.durable.raiseEvent(instanceId, APPROVAL_EVENT, {
    decision: 'approve',
    approver: 'approver@contoso.onmicrosoft.com',
    at: stack.sandbox.clock.date().toISOString(),
    tokenId: 'bench',
    planDigest,
  });
  const end = await stack.host.durable.waitForStatus(
    instanceId,
    (s) => s.runtimeStatus === 'Completed' || s.runtimeStatus === 'Failed',
    60_000,
  );
  const t2 = performance.now();
  return {
    toApprovalMs: t1 - t0,
    toActiveMs: t2 - t1,
    outcome: (end.output as { outcome?: string } | null)?.outcome ?? end.runtimeStatus,
  };
}

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;
const fmt = (xs: number[]) =>
  `median ${pct(xs, 50).toFixed(0)} ms, p95 ${pct(xs, 95).toFixed(0)} ms, max ${Math.max(...xs).toFixed(0)} ms`;

function calls(stack: LocalStack, since: number) {
  const out: Record<string, { reads: number; writes: number }> = {};
  for (const e of stack.sandbox.journal.entries({ since })) {
    const c = (out[e.service] ??= { reads: 0, writes: 0 });
    if (['GET', 'HEAD'].includes(e.method)) c.reads++;
    else c.writes++;
  }
  return out;
}

/** The sequential and concurrent provisioning table; resolves to the exit code. */
export async function provisionMain(print: (line: string) => void = (l) => console.log(l)): Promise<number> {
  let code = 0;
  const stack = await startLocalStack({ timers: 'virtual', servicenow: { instances } });
  try {
    const mark = stack.sandbox.journal.mark();
    const sequential: Run[] = [];
    for (const i of instances.slice(0, N)) sequential.push(await provision(stack, i));
    const perIntegration = calls(stack, mark);
    const t0 = performance.now();
    const concurrent: Run[] = [];
    const queue = instances.slice(N);
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        for (let i = queue.shift(); i; i = queue.shift()) concurrent.push(await provision(stack, i));
      }),
    );
    const wall = performance.now() - t0;
    const bad = [...sequential, ...concurrent].filter((r) => r.outcome !== 'active');
    print(
      `provisioning in the sandbox (Node ${process.version}), ${N} sequential and ${N} with concurrency ${CONCURRENCY}`,
    );
    print(`  sequential: request → awaiting approval: ${fmt(sequential.map((r) => r.toApprovalMs))}`);
    print(`  sequential: approval → active (checks, report): ${fmt(sequential.map((r) => r.toActiveMs))}`);
    print(`  concurrent: request → awaiting approval: ${fmt(concurrent.map((r) => r.toApprovalMs))}`);
    print(`  concurrent: ${N} integrations in ${wall.toFixed(0)} ms (${((N * 1000) / wall).toFixed(1)} per second)`);
    print(
      `  calls per integration (sequential runs): ${Object.entries(perIntegration)
        .map(([s, c]) => `${s} ${(c.reads / N).toFixed(1)} reads + ${(c.writes / N).toFixed(1)} writes`)
        .join('; ')}`,
    );
    print(`  outcomes not active: ${bad.length}`);
    if (bad.length) code = 1;
  } finally {
    await stack.close();
  }
  return code;
}

/** The table, then bench/floor.ts (`--json` prints its JSON line last); resolves to the exit code. */
export async function main(argv: string[], print: (line: string) => void = (l) => console.log(l)): Promise<number> {
  const code = await provisionMain(print);
  return code || floorMain(argv, print);
}

if (require.main === module)
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
