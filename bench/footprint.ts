/**
 * `npm run bench:footprint`: what a cold start pays to load the app, and what a deployment carries. In one run:
 *   - the entry load time of the deployment bundle (`npm run package`: the package's `main`) and of the compiled
 *     entry module in dist/ (`npm run build`: what package.json `main` points at), each in fresh Node.js processes,
 *     samples alternating between the two, median of each;
 *   - the size of the package folder.
 * Each sample is one `require` of the entry in a new process, timed inside it, with `@azure/functions-core` answered
 * by a stand-in that accepts the registrations (as the Functions host's Node.js worker does), so both entries register
 * their functions the way they do in Azure. Figures, not assertions.
 *
 * Usage: node dist/bench/footprint.js [--json] [--samples N] [--package DIR] [--dist FILE]
 * With --json the last line is `{"p4":{"bundleLoadMs","distLoadMs","bundleLoadRatio","packageMB"}}`.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface Footprint {
  bundleLoadMs: number;
  distLoadMs: number;
  bundleLoadRatio: number;
  packageMB: number;
}

export interface FootprintOptions {
  /** The package folder (`npm run package` output); its package.json `main` is the bundle. */
  packageDir: string;
  /** The compiled entry module (dist/src/functions/index.js). */
  distEntry: string;
  /** Samples of each entry (alternating). */
  samples: number;
}

/** The repository root: the nearest folder upwards with a package.json (bench/ under ts-jest, dist/bench/ built). */
function repositoryRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'src'))) return dir;
    if (path.dirname(dir) === dir) return process.cwd();
  }
}

/** Runs in each child: the stand-in core, then one timed require of the entry; prints the milliseconds. */
const CHILD = `'use strict';
const Module = require('node:module');
const STUB = require('node:path').resolve('@azure-functions-core.stub.js');
const stub = new Module(STUB);
stub.filename = STUB;
stub.loaded = true;
const disposable = () => ({ dispose() {} });
stub.exports = { setProgrammingModel() {}, registerFunction: disposable, registerHook: disposable };
Module._cache[STUB] = stub;
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  return request === '@azure/functions-core' ? STUB : resolve.call(this, request, ...rest);
};
const entry = process.argv[1];
const t0 = process.hrtime.bigint();
require(entry);
process.stdout.write('\\n' + String(Number(process.hrtime.bigint() - t0) / 1e6) + '\\n');
`;

/** Milliseconds one fresh Node.js process takes to `require` the entry module. */
export function entryLoadMs(entry: string): number {
  const out = execFileSync(process.execPath, ['-e', CHILD, path.resolve(entry)], {
    encoding: 'utf8',
    // The entry's own output (start-up problems on stderr, test-mode notices) is not part of the figure.
    stdio: ['ignore', 'pipe', 'ignore'],
    timeout: 120_000,
  });
  const ms = Number(out.trim().split('\n').pop());
  if (!Number.isFinite(ms)) throw new Error(`no timing from loading ${entry}: ${out.slice(-200)}`);
  return ms;
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

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};
const round = (x: number, digits: number) => Number(x.toFixed(digits));

/** The package's entry (its package.json `main`), as the Functions host finds it. */
export function packageEntry(packageDir: string): string {
  const manifest = JSON.parse(fs.readFileSync(path.join(packageDir, 'package.json'), 'utf8')) as { main?: string };
  if (!manifest.main) throw new Error(`${packageDir}/package.json has no "main"`);
  return path.join(packageDir, manifest.main);
}

export function measureFootprint(opts: FootprintOptions): Footprint {
  const bundle = packageEntry(opts.packageDir);
  const bundleMs: number[] = [];
  const distMs: number[] = [];
  for (let i = 0; i < opts.samples; i++) {
    // Alternating (and swapping who goes first) spreads the machine's load over both entries.
    const order = i % 2 === 0 ? (['bundle', 'dist'] as const) : (['dist', 'bundle'] as const);
    for (const which of order)
      if (which === 'bundle') bundleMs.push(entryLoadMs(bundle));
      else distMs.push(entryLoadMs(opts.distEntry));
  }
  const bundleLoadMs = median(bundleMs);
  const distLoadMs = median(distMs);
  return {
    bundleLoadMs: round(bundleLoadMs, 1),
    distLoadMs: round(distLoadMs, 1),
    bundleLoadRatio: round(bundleLoadMs / distLoadMs, 2),
    packageMB: round(folderBytes(opts.packageDir) / (1024 * 1024), 2),
  };
}

function option(argv: string[], name: string): string | undefined {
  const at = argv.indexOf(name);
  return at >= 0 ? argv[at + 1] : undefined;
}

/** The command line; returns the exit code. `print` receives each output line. */
export function main(argv: string[], print: (line: string) => void = (l) => console.log(l)): number {
  const root = repositoryRoot(__dirname);
  const samples = Number(option(argv, '--samples') ?? process.env.BENCH_SAMPLES ?? 7);
  const packageDir = path.resolve(option(argv, '--package') ?? path.join(root, '.package'));
  const distEntry = path.resolve(option(argv, '--dist') ?? path.join(root, 'dist/src/functions/index.js'));
  if (!Number.isInteger(samples) || samples < 1) throw new Error(`--samples must be a positive integer`);
  if (!fs.existsSync(path.join(packageDir, 'package.json')))
    throw new Error(`no package at ${packageDir}: run \`npm run package\` first`);
  if (!fs.existsSync(distEntry)) throw new Error(`no ${distEntry}: run \`npm run build\` first`);

  const f = measureFootprint({ packageDir, distEntry, samples });
  const rel = (p: string) => path.relative(process.cwd(), p) || '.';
  print(`footprint (Node ${process.version}), entry load in fresh processes, median of ${samples} alternating samples`);
  print(`  entry load, bundle  ${rel(packageEntry(packageDir)).padEnd(32)} ${f.bundleLoadMs.toFixed(1)} ms`);
  print(`  entry load, dist/   ${rel(distEntry).padEnd(32)} ${f.distLoadMs.toFixed(1)} ms`);
  print(`  bundle / dist       ${''.padEnd(32)} ${f.bundleLoadRatio.toFixed(2)}`);
  print(`  package folder      ${rel(packageDir).padEnd(32)} ${f.packageMB.toFixed(2)} MB`);
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
