/**
 * bench/footprint.ts on a tiny run: small entry modules and a package folder of known size, a few samples each.
 * Checks the shape of the `--json` line and that both entries must load the same app, never the timings.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { main } from '../../bench/footprint';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'footprint-'));
  const pkg = path.join(dir, 'package');
  fs.mkdirSync(pkg);
  fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ main: 'main.js' }));
  // Registers a function through the stand-in core, as the real bundle does.
  fs.writeFileSync(
    path.join(pkg, 'main.js'),
    "require('@azure/functions-core').registerFunction({ name: 'f', bindings: {} }, () => undefined);\n",
  );
  fs.writeFileSync(path.join(pkg, 'padding.bin'), Buffer.alloc(1024 * 1024));
  // The same app, unbundled: the same function, registered through @azure/functions-core.
  fs.writeFileSync(
    path.join(dir, 'dist-entry.js'),
    "require('@azure/functions-core').registerFunction({ name: 'f', bindings: {} }, () => undefined);\n",
  );
  // Another app: registers nothing.
  fs.writeFileSync(path.join(dir, 'other-entry.js'), 'module.exports = {};\n');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

it('prints a table and, with --json, one JSON line {"p4": {bundleLoadMs, distLoadMs, bundleLoadRatio, packageMB, …}}', () => {
  const lines: string[] = [];
  const args = ['--json', '--samples', '3', '--package', path.join(dir, 'package'), '--dist'];
  expect(main([...args, path.join(dir, 'dist-entry.js')], (l) => lines.push(l))).toBe(0);

  expect(lines.length).toBeGreaterThan(1);
  expect(lines.slice(0, -1).join('\n')).toMatch(/bundle[\s\S]*dist[\s\S]*package/);
  const json = JSON.parse(lines[lines.length - 1]) as { p4: Record<string, number | number[]> };
  expect(Object.keys(json)).toEqual(['p4']);
  const p4 = json.p4;
  expect(Object.keys(p4).sort()).toEqual([
    'bundleLoadCpuMs',
    'bundleLoadIqrMs',
    'bundleLoadMs',
    'bundleLoadRatio',
    'cpuRatio',
    'distLoadCpuMs',
    'distLoadIqrMs',
    'distLoadMs',
    'functions',
    'packageMB',
    'pairRatioIqr',
    'samples',
  ]);
  for (const v of Object.values(p4).flat()) expect(Number.isFinite(v) && v >= 0).toBe(true);
  expect(p4.samples).toBe(3);
  expect(p4.functions).toBe(1);
  // Each median lies inside its interquartile range.
  const [lo, hi] = p4.bundleLoadIqrMs as number[];
  expect(lo).toBeLessThanOrEqual(p4.bundleLoadMs as number);
  expect(p4.bundleLoadMs as number).toBeLessThanOrEqual(hi);
  // 1 MiB of padding plus the two small files.
  expect(p4.packageMB).toBeCloseTo(1, 1);
});

it('refuses to compare entries that do not register the same functions', () => {
  const args = ['--samples', '1', '--package', path.join(dir, 'package'), '--dist', path.join(dir, 'other-entry.js')];
  expect(() => main(args, () => undefined)).toThrow(/bundle registered 1 functions, dist\/ 0/);
});

it('prints no JSON line without --json', () => {
  const lines: string[] = [];
  main(['--samples', '1', '--package', path.join(dir, 'package'), '--dist', path.join(dir, 'dist-entry.js')], (l) =>
    lines.push(l),
  );
  expect(lines.some((l) => l.trim().startsWith('{'))).toBe(false);
});

it('says what to run when the package or the build is missing', () => {
  expect(() => main(['--package', path.join(dir, 'nope')], () => undefined)).toThrow(/npm run package/);
  expect(() =>
    main(['--package', path.join(dir, 'package'), '--dist', path.join(dir, 'nope.js')], () => undefined),
  ).toThrow(/npm run build/);
});
