/**
 * `npm run bench`: every part of the benchmark in sequence, each in a fresh sandbox stack of its own:
 *
 *   provision  bench/provision.ts   provisioning table, then the floor (P1 critical path, P2 calls, P5 history)
 *   p3         bench/rotation-fleet.ts  the rotation sweep over a fleet of 1,000 integrations (P3)
 *   p4         bench/footprint.ts   entry load of the bundle and of dist/, package size (needs `npm run package`)
 *   health     bench/health.ts      the daily health check of 1,000 integrations
 *
 * Each part keeps its own script (`bench:floor`, `bench:health`, `bench:footprint`). With `--json` every part prints
 * its JSON line last; this runner merges them and prints one line for the whole bench, last:
 * `{"p1":…,"p2":…,"p3":…,"p4":…,"p5":…,"health":…}` (bench/results.schema.json). Figures, not assertions; the exit
 * code is the first part's that failed (every part still runs).
 */
import { main as healthMain } from './health';
import { main as footprintMain } from './footprint';
import { main as provisionMain } from './provision';
import { main as rotationFleetMain } from './rotation-fleet';

export type Print = (line: string) => void;
export interface BenchPart {
  name: string;
  run: (argv: string[], print: Print) => Promise<number> | number;
}

export const PARTS: BenchPart[] = [
  { name: 'provision', run: (argv, print) => provisionMain(argv, print) },
  { name: 'p3', run: (argv, print) => rotationFleetMain(argv, print) },
  { name: 'p4', run: (argv, print) => footprintMain(argv, print) },
  { name: 'health', run: (argv, print) => healthMain(argv, print) },
];

/** The order of the merged line's keys. */
const ORDER = ['p1', 'p2', 'p3', 'p4', 'p5', 'health'];

/** Merges the parts' JSON lines (objects keyed by part), keys in ORDER, any other key after them. */
export function mergeResults(lines: Record<string, unknown>[]): Record<string, unknown> {
  const all: Record<string, unknown> = Object.assign({}, ...lines) as Record<string, unknown>;
  const keys = [...ORDER.filter((k) => k in all), ...Object.keys(all).filter((k) => !ORDER.includes(k))];
  return Object.fromEntries(keys.map((k) => [k, all[k]]));
}

const asObject = (line: string): Record<string, unknown> | undefined => {
  if (!line.startsWith('{')) return undefined;
  try {
    const v = JSON.parse(line) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
};

/** Runs the parts in sequence; with `--json`, their JSON lines are merged into one, printed last. */
export async function runBench(argv: string[], print: Print = (l) => console.log(l), parts = PARTS): Promise<number> {
  const json = argv.includes('--json');
  const results: Record<string, unknown>[] = [];
  let code = 0;
  for (const part of parts) {
    let last: Record<string, unknown> | undefined;
    let partCode: number;
    try {
      partCode = await part.run(argv, (line) => {
        const obj = json ? asObject(line) : undefined;
        if (obj) last = obj;
        else print(line);
      });
    } catch (err) {
      print(`bench part ${part.name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      partCode = 1;
    }
    if (last) results.push(last);
    else if (json) print(`bench part ${part.name} printed no JSON line`);
    if (partCode && !code) code = partCode;
  }
  if (json) print(JSON.stringify(mergeResults(results)));
  return code;
}

if (require.main === module)
  runBench(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
