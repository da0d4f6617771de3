#!/usr/bin/env node
// The README's test command (`npm test`): lint, build, type-check the tests (ts-jest runs in isolated mode and does
// not type-check), then the whole jest suite against the sandbox. Ends with the plain line "N passed, N failed".
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.resolve(__dirname, '..');
const bin = (name) => path.join(root, 'node_modules', '.bin', name);
const run = (label, cmd, args) => {
  process.stdout.write(`\n== ${label}\n`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, env: process.env });
  return r.status === 0;
};

const steps = [
  ['lint', bin('eslint'), ['.']],
  ['build', bin('tsc'), ['-p', 'tsconfig.json']],
  ['type-check tests', bin('tsc'), ['-p', 'tsconfig.test.json']],
];
let ok = true;
for (const [label, cmd, args] of steps) ok = run(label, cmd, args) && ok;

const resultFile = path.join(root, '.ci-results', 'jest.json');
fs.mkdirSync(path.dirname(resultFile), { recursive: true });
fs.rmSync(resultFile, { force: true });
const jestOk = run('jest', process.execPath, [
  path.join(root, 'scripts', 'with-sandbox-ca.cjs'),
  'jest',
  '--ci',
  '--json',
  `--outputFile=${resultFile}`,
  ...process.argv.slice(2),
]);
ok = jestOk && ok;

let passed = 0;
let failed = 0;
try {
  const r = JSON.parse(fs.readFileSync(resultFile, 'utf8'));
  passed = r.numPassedTests;
  failed = r.numFailedTests + (r.numRuntimeErrorTestSuites || 0);
  if (r.numPendingTests > 0 || r.numTodoTests > 0) {
    console.log(`skipped or todo tests are not allowed: ${r.numPendingTests} pending, ${r.numTodoTests} todo`);
    ok = false;
  }
  if (r.numTotalTests === 0) ok = false;
} catch (err) {
  console.log(`could not read jest results: ${err.message}`);
  failed += 1;
  ok = false;
}
if (!ok && failed === 0) failed = 1;
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(ok ? 0 : 1);
