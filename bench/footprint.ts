/**
 * `npm run bench:footprint`: what a cold start pays to load the app, and what a deployment carries. In one run:
 *   - the entry load time of the deployment bundle (`npm run package`: the package's `main`) and of the compiled
 *     entry module in dist/ (`npm run build`: what package.json `main` points at);
 *   - the size of the package folder.
 * Each sample is one `require` of the entry in a fresh Node.js process, timed inside it (Node's own start-up, the same
 * for both, is not part of the figure), with `@azure/functions-core` answered by a stand-in that accepts the
 * registrations (as the Functions host's Node.js worker does), so both entries register their functions the way they
 * do in Azure. The stand-in counts them: both entries must register the same functions, or the run fails (a bundle
 * that loads less than the app is no figure).
 * How the samples are taken, so that the ratio is the entries' and not the machine's:
 *   - one untimed load of each entry first, so that both read their files from a warm file cache (dist/ is thousands
 *     of files, the bundle two);
 *   - samples interleaved, bundle and dist one after the other, who goes first alternating, so that a change in the
 *     machine's load (other processes) falls on both;
 *   - the median of each (15 samples by default), and the spread: the interquartile range of each, and of the ratio
 *     of each interleaved pair.
 * Figures, not assertions.
 *
 * Usage: node dist/bench/footprint.js [--json] [--samples N] [--package DIR] [--dist FILE]
 * With --json the last line is `{"p4":{"bundleLoadMs","distLoadMs","bundleLoadRatio","packageMB",…}}`
 * (bench/results.schema.json).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface Footprint {
  /** Median entry load of the bundle, ms. */
  bundleLoadMs: number;
  /** Median entry load of dist/, ms. */
  distLoadMs: number;
  /** bundleLoadMs / distLoadMs. */
  bundleLoadRatio: number;
  packageMB: number;
  /** Samples of each entry. */
  samples: number;
  /** Interquartile range [25th, 75th percentile] of the bundle's samples, ms. */
  bundleLoadIqrMs: [number, number];
  /** Interquartile range of dist/'s samples, ms. */
  distLoadIqrMs: [number, number];
  /** Interquartile range of bundle / dist over the interleaved pairs. */
  pairRatioIqr: [number, number];
  /**
   * Median CPU time (user and system) of the bundle's load, ms: unlike the wall-clock time, hardly affected by other
   * processes competing for the cores, so the figure to compare runs on a busy machine with.
   */
  bundleLoadCpuMs: number;
  /** Median CPU time of dist/'s load, ms. */
  distLoadCpuMs: number;
  /** bundleLoadCpuMs / distLoadCpuMs. */
  cpuRatio: number;
  /** Functions each entry registered (the same for both). */
  functions: number;
}

export interface FootprintOptions {
  /** The package folder (`npm run package` output); its package.json `main` is the bundle. */
  packageDir: string;
  /** The compiled entry module (dist/src/functions/index.js). */
  distEntry: string;
  /** Samples of each entry (interleaved). */
  samples: number;
}

/** The repository root: the nearest folder upwards with a package.json (bench/ under ts-jest, dist/bench/ built). */
function repositoryRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'src'))) return dir;
    if (path.dirname(dir) === dir) return process.cwd();
  }
}

/**
 * Runs in each child: the stand-in core, then one timed require of the entry; prints the milliseconds and the number
 * of functions registered.
 */
const CHILD = `'use strict';
const Module = require('node:module');
const STUB = require('node:path').resolve('@azure-functions-core.stub.js');
const stub = new Module(STUB);
stub.filename = STUB;
stub.loaded = true;
const disposable = () => ({ dispose() {} });
let functions = 0;
stub.exports = {
  setProgrammingModel() {},
  registerFunction: () => (functions++, disposable()),
  registerHook: disposable,
};
Module._cache[STUB] = stub;
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  return request === '@azure/functions-core' ? STUB : resolve.call(this, request, ...rest);
};
const entry = process.argv[1];
const cpu0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
require(entry);
const ms = Number(process.hrtime.bigint() - t0) / 1e6;
const cpu = process.cpuUsage(cpu0);
const cpuMs = (cpu.user + cpu.system) / 1e3;
process.stdout.write('\\n' + JSON.stringify({ ms, cpuMs, functions }) + '\\n');
`;

export interface EntryLoad {
  /** Wall-clock milliseconds of the `require`. */
  ms: number;
  /** CPU milliseconds (user and system, all the process's threads) of the `require`. */
  cpuMs: number;
  functions: number;
}

/** One fresh Node.js process `require`s the entry module: how long it took, and how many functions it registered. */
export function entryLoad(entry: string): EntryLoad {
  const out = execFileSync(process.execPath, ['-e', CHILD, path.resolve(entry)], {
    encoding: 'utf8',
    // The entry's own output (start-up problems on stderr, test-mode notices) is not part of the figure.
    stdio: ['ignore', 'pipe', 'ignore'],
    timeout: 120_000,
  });
  let load: Partial<EntryLoad> = {};
  try {
    load = JSON.parse(out.trim().split('\n').pop() ?? '') as Partial<EntryLoad>;
  } catch {
    // reported below
  }
  if (!Number.isFinite(load.ms) || !Number.isFinite(load.cpuMs) || !Number.isInteger(load.functions))
    throw new Error(`no timing from loading ${entry}: ${out.slice(-200)}`);
  return load as EntryLoad;
}

/** Total size in bytes of the files under `dir`. */
export function folderBytes(dir: string): number {
  let total = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    total += entry.isDirectory() ? folderBytes(p) : fs.statSync(p).size;
  }
  return total;
}

/** The q-quantile of xs, linear between the closest ranks (q = 0.5: the median). */
export function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  const at = (s.length - 1) * q;
  const lo = Math.floor(at);
  return lo + 1 < s.length ? s[lo] + (s[lo + 1] - s[lo]) * (at - lo) : s[lo];
}
const median = (xs: number[]) => quantile(xs, 0.5);
const round = (x: number, digits: number) => Number(x.toFixed(digits));

/** The package's entry (its package.json `main`), as the Functions host finds it. */
export function packageEntry(packageDir: string): string {
  const manifest = JSON.parse(fs.readFileSync(path.join(packageDir, 'package.json'), 'utf8')) as { main?: string };
  if (!manifest.main) throw new Error(`${packageDir}/package.json has no "main"`);
  return path.join(packageDir, manifest.main);
}

export function measureFootprint(opts: FootprintOptions): Footprint {
  const bundle = packageEntry(opts.packageDir);
  // Untimed: reads every file of both entries into the file cache, and checks both load the same app.
  const registered = { bundle: entryLoad(bundle).functions, dist: entryLoad(opts.distEntry).functions };
  const bundleMs: number[] = [];
  const distMs: number[] = [];
  const cpuMs = { bundle: [] as number[], dist: [] as number[] };
  const sample = (which: 'bundle' | 'dist') => {
    const load = entryLoad(which === 'bundle' ? bundle : opts.distEntry);
    if (load.functions !== registered.bundle || registered.dist !== registered.bundle)
      throw new Error(
        `the entries do not load the same app: the bundle registered ${registered.bundle} functions, ` +
          `dist/ ${registered.dist}, and this ${which} sample ${load.functions}`,
      );
    (which === 'bundle' ? bundleMs : distMs).push(load.ms);
    cpuMs[which].push(load.cpuMs);
  };
  for (let i = 0; i < opts.samples; i++) {
    // Interleaved, who goes first alternating: a change in the machine's load falls on both entries.
    const order = i % 2 === 0 ? (['bundle', 'dist'] as const) : (['dist', 'bundle'] as const);
    for (const which of order) sample(which);
  }
  const pairRatios = bundleMs.map((ms, i) => ms / distMs[i]);
  const bundleLoadMs = median(bundleMs);
  const distLoadMs = median(distMs);
  const iqr = (xs: number[], digits: number): [number, number] => [
    round(quantile(xs, 0.25), digits),
    round(quantile(xs, 0.75), digits),
  ];
  return {
    bundleLoadMs: round(bundleLoadMs, 1),
    distLoadMs: round(distLoadMs, 1),
    bundleLoadRatio: round(bundleLoadMs / distLoadMs, 2),
    packageMB: round(folderBytes(opts.packageDir) / (1024 * 1024), 2),
    samples: opts.samples,
    bundleLoadIqrMs: iqr(bundleMs, 1),
    distLoadIqrMs: iqr(distMs, 1),
    pairRatioIqr: iqr(pairRatios, 2),
    bundleLoadCpuMs: round(median(cpuMs.bundle), 1),
    distLoadCpuMs: round(median(cpuMs.dist), 1),
    cpuRatio: round(median(cpuMs.bundle) / median(cpuMs.dist), 2),
    functions: registered.bundle,
  };
}

function option(argv: string[], name: string): string | undefined {
  const at = argv.indexOf(name);
  return at >= 0 ? argv[at + 1] : undefined;
}

/** The command line; returns the exit code. `print` receives each output line. */
export function main(argv: string[], print: (line: string) => void = (l) => console.log(l)): number {
  const root = repositoryRoot(__dirname);
  const samples = Number(option(argv, '--samples') ?? process.env.BENCH_SAMPLES ?? 15);
  const packageDir = path.resolve(option(argv, '--package') ?? path.join(root, '.package'));
  const distEntry = path.resolve(option(argv, '--dist') ?? path.join(root, 'dist/src/functions/index.js'));
  if (!Number.isInteger(samples) || samples < 1) throw new Error(`--samples must be a positive integer`);
  if (!fs.existsSync(path.join(packageDir, 'package.json')))
    throw new Error(`no package at ${packageDir}: run \`npm run package\` first`);
  if (!fs.existsSync(distEntry)) throw new Error(`no ${distEntry}: run \`npm run build\` first`);

  const f = measureFootprint({ packageDir, distEntry, samples });
  const rel = (p: string) => path.relative(process.cwd(), p) || '.';
  const range = ([lo, hi]: [number, number], digits: number) => `${lo.toFixed(digits)}–${hi.toFixed(digits)}`;
  print(
    `footprint (Node ${process.version}), entry load in fresh processes (warm file cache), ` +
      `median of ${samples} interleaved samples each, interquartile range`,
  );
  print(
    `  entry load, bundle  ${rel(packageEntry(packageDir)).padEnd(32)} ${f.bundleLoadMs.toFixed(1).padStart(7)} ms` +
      `   (${range(f.bundleLoadIqrMs, 1)})`,
  );
  print(
    `  entry load, dist/   ${rel(distEntry).padEnd(32)} ${f.distLoadMs.toFixed(1).padStart(7)} ms` +
      `   (${range(f.distLoadIqrMs, 1)})`,
  );
  print(
    `  bundle / dist       ${''.padEnd(32)} ${f.bundleLoadRatio.toFixed(2).padStart(7)}` +
      `      (pairs ${range(f.pairRatioIqr, 2)})`,
  );
  print(
    `  CPU time, bundle / dist ${''.padEnd(28)} ${f.cpuRatio.toFixed(2).padStart(7)}` +
      `      (${f.bundleLoadCpuMs.toFixed(1)} / ${f.distLoadCpuMs.toFixed(1)} ms)`,
  );
  print(`  functions registered by each entry ${''.padEnd(17)} ${String(f.functions).padStart(7)}`);
  print(`  package folder      ${rel(packageDir).padEnd(32)} ${f.packageMB.toFixed(2).padStart(7)} MB`);
  if (argv.includes('--json')) print(JSON.stringify({ p4: f }));
  return 0;
}

if (require.main === module) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (err) {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  }
}
