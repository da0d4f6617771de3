/**
 * `npm run bench -- --json` (bench/index.ts) on a tiny run: every part in sequence with small sizes (one measured
 * provisioning without modelled latency, a fleet of 4 integrations for the rotation sweep and the health check, a
 * one-sample footprint of a small package), and the one merged JSON line the schema documents. Shape only, never
 * the timings.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { Validator, type Schema } from '@cfworker/json-schema';

import { main as floorMain } from '../../bench/floor';
import { main as footprintMain } from '../../bench/footprint';
import { main as healthMain } from '../../bench/health';
import { mergeResults, runBench, type BenchPart } from '../../bench/index';
import { main as rotationFleetMain } from '../../bench/rotation-fleet';

jest.setTimeout(600_000);

const schema = JSON.parse(
  fs.readFileSync(path.join(__dirname, '..', '..', 'bench', 'results.schema.json'), 'utf8'),
) as Schema;

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-index-'));
  fs.mkdirSync(path.join(dir, 'package'));
  fs.writeFileSync(path.join(dir, 'package', 'package.json'), JSON.stringify({ main: 'main.js' }));
  fs.writeFileSync(path.join(dir, 'package', 'main.js'), 'module.exports = {};\n');
  fs.writeFileSync(path.join(dir, 'dist-entry.js'), 'module.exports = {};\n');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

it('runs every part and ends with one JSON line {p1, p2, p3, p4, p5, health} that the schema accepts', async () => {
  const parts: BenchPart[] = [
    { name: 'floor', run: (argv, print) => floorMain([...argv, '--runs', '1', '--latency', 'off'], print) },
    { name: 'p3', run: (argv, print) => rotationFleetMain(argv, print, { n: 4 }) },
    {
      name: 'p4',
      run: (argv, print) =>
        footprintMain(
          [
            ...argv,
            '--samples',
            '1',
            '--package',
            path.join(dir, 'package'),
            '--dist',
            path.join(dir, 'dist-entry.js'),
          ],
          print,
        ),
    },
    { name: 'health', run: (argv, print) => healthMain(argv, print, { n: 4 }) },
  ];
  const lines: string[] = [];
  const code = await runBench(['--json'], (l) => lines.push(l), parts);
  const last = JSON.parse(lines[lines.length - 1]) as Record<string, Record<string, unknown>>;
  expect(Object.keys(last)).toEqual(['p1', 'p2', 'p3', 'p4', 'p5', 'health']);
  const result = new Validator(schema, '2020-12', false).validate(last);
  expect(result.errors).toEqual([]);
  // The parts' own JSON lines are merged, not printed; their tables are.
  expect(lines.slice(0, -1).filter((l) => l.startsWith('{'))).toEqual([]);
  expect(lines.join('\n')).toMatch(/rotation sweep over a fleet/);
  // The tiny fleet: 4 integrations × 3 credentials, one due credential, its rotation started, nothing failed.
  expect(last.p3).toMatchObject({ integrations: 4, credentials: 12, due: 1, started: 1, failures: 0 });
  expect(last.health).toMatchObject({ integrations: 4, writes: 0 });
  expect(code).toBe(0);
});

it('merges the parts in the order p1, p2, p3, p4, p5, health; a part without a line is left out', () => {
  expect(Object.keys(mergeResults([{ health: {} }, { p4: {} }, { p1: {}, p2: {}, p5: {} }]))).toEqual([
    'p1',
    'p2',
    'p4',
    'p5',
    'health',
  ]);
});

it('the schema requires the P3 figures', () => {
  const v = new Validator(schema, '2020-12', false);
  expect(v.validate({ p3: { integrations: 1000, credentials: 3000, triageMs: 1 } }).valid).toBe(false);
  expect(
    v.validate({ p3: { integrations: 1000, credentials: 3000, triageMs: 1, started: 100, failures: 0 } }).valid,
  ).toBe(true);
});
