#!/usr/bin/env node
// The README's test command (`npm test`): lint, build, type-check the tests (ts-jest runs in isolated mode and does
// not type-check), then the whole jest suite against the sandbox. Ends with the plain line "N passed, N failed".
//
// The browser tests (test/browser) drive Debian's chromium through puppeteer-core. The browser is found here (the
// CHROMIUM_PATH environment variable, then chromium, chromium-browser, google-chrome on PATH) or, when it is missing
// and this runs as root with apt-get, installed with `apt-get update && apt-get install -y chromium`; jest gets its
// path in CHROMIUM_PATH.
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

const executable = (file) => {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
};
const onPath = (name) =>
  (process.env.PATH || '')
    .split(path.delimiter)
    .filter(Boolean)
    .map((dir) => path.join(dir, name))
    .find(executable);
const BROWSERS = ['chromium', 'chromium-browser', 'google-chrome'];
const findBrowser = () => BROWSERS.map(onPath).find(Boolean);
const HOW_TO_INSTALL =
  "install Debian's chromium (`sudo apt-get update && sudo apt-get install -y chromium`) or set CHROMIUM_PATH " +
  'to a Chromium or Chrome executable';

/** The browser for test/browser, or undefined (with the reason printed). */
function browser() {
  process.stdout.write('\n== browser\n');
  const fromEnv = process.env.CHROMIUM_PATH;
  if (fromEnv) {
    if (executable(fromEnv)) return fromEnv;
    console.log(`CHROMIUM_PATH=${fromEnv} is not an executable file: ${HOW_TO_INSTALL}.`);
    return undefined;
  }
  const found = findBrowser();
  if (found) return found;
  const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!asRoot || !onPath('apt-get')) {
    console.log(`No Chromium found (${BROWSERS.join(', ')} on PATH) for the browser tests: ${HOW_TO_INSTALL}.`);
    return undefined;
  }
  const log = path.join(root, '.ci-results', 'apt-chromium.log');
  fs.mkdirSync(path.dirname(log), { recursive: true });
  console.log(`No Chromium found for the browser tests: installing Debian's chromium with apt-get (log: ${log}) ...`);
  const out = fs.openSync(log, 'w');
  const r = spawnSync('sh', ['-c', 'apt-get update -q && apt-get install -y -q chromium'], {
    stdio: ['ignore', out, out],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  fs.closeSync(out);
  const installed = r.status === 0 ? findBrowser() : undefined;
  if (installed) {
    console.log(`installed ${installed}`);
    return installed;
  }
  const tail = fs.readFileSync(log, 'utf8').trimEnd().split('\n').slice(-15).join('\n');
  console.log(`apt-get could not install chromium (exit ${r.status}); last lines of ${log}:\n${tail}`);
  console.log(`The browser tests need it: ${HOW_TO_INSTALL}.`);
  return undefined;
}

let ok = true;
const chromium = browser();
if (chromium) {
  process.env.CHROMIUM_PATH = chromium;
  console.log(`browser tests use ${chromium}`);
} else ok = false;

const steps = [
  ['lint', bin('eslint'), ['.']],
  ['build', bin('tsc'), ['-p', 'tsconfig.json']],
  ['type-check tests', bin('tsc'), ['-p', 'tsconfig.test.json']],
];
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
