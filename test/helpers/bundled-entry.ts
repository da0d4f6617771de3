/**
 * The deployment bundle (`npm run package`, scripts/package.cjs), built into a temporary folder and loaded as the
 * Functions host loads it: in a fresh Node.js process, with `@azure/functions-core` provided from outside the package
 * (the Node.js worker provides it; the bundle keeps it external). The stand-in core records what the bundled copy of
 * `@azure/functions` hands the worker: `setProgrammingModel(model)` and `registerFunction(metadata, handler)` with the
 * binding metadata the host indexes (https://github.com/Azure/azure-functions-nodejs-library, src/app.ts `generic`
 * and src/converters/toCoreFunctionMetadata.ts). The sandbox's loader cannot capture these registrations: it swaps the
 * methods of node_modules' `@azure/functions`, and the bundle carries its own copy.
 *
 * The registrations come back in the shape of the sandbox's FunctionRegistry (kind, route, methods, authLevel,
 * schedule, trigger type), so test/durable/real-entry.test.ts runs the same assertions on the bundle and on src/.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import type { FunctionRegistry, Registration } from '../../sandbox/host/registry';
import { parseRoute } from '../../sandbox/host/routes';

const ROOT = path.join(__dirname, '../..');

/** What an entry module registered, and what it logged with console.error while it loaded. */
export interface LoadedEntry {
  registry: Pick<FunctionRegistry, 'functions' | 'setupOptions'>;
  startupLog: string[];
}

let built: string | undefined;

/**
 * Builds the package from the current sources (always: a `.package` left by an earlier `npm run package` may be stale)
 * into a temporary folder, once per test file; returns the package folder.
 */
export function buildPackageOnce(): string {
  if (built) return built;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'm365-package-'));
  const out = path.join(dir, 'package');
  execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'package.cjs'), '--out', out, '--quiet'], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  built = out;
  return out;
}

/** The stand-in for the worker's `@azure/functions-core`: records calls, serves nothing. */
const CORE_STUB = `'use strict';
const functions = [];
const state = { model: undefined, hooks: [] };
const disposable = () => ({ dispose() {} });
module.exports = {
  functions,
  state,
  setProgrammingModel(model) { state.model = model; },
  getProgrammingModel() { return state.model; },
  registerFunction(metadata, handler) {
    functions.push({ metadata: JSON.parse(JSON.stringify(metadata)), handler: typeof handler });
    return disposable();
  },
  registerHook(name) { state.hooks.push(name); return disposable(); },
};
`;

/** Runs in the child: loads the bundle the way the worker does and prints what it registered, as one JSON line. */
const LOADER = `'use strict';
const path = require('node:path');
const [pkg] = process.argv.slice(2);
const core = require('@azure/functions-core');
const startupLog = [];
console.error = (...args) => startupLog.push(args.map(String).join(' '));
const manifest = require(path.join(pkg, 'package.json'));
require(path.join(pkg, manifest.main));
// Whether loading the entry made Node.js load its fetch implementation (undici; process.moduleLoadList).
const fetchImplementationLoaded = process.moduleLoadList.some((m) => m.includes('internal/deps/undici'));
(async () => {
  const model = core.state.model;
  // enableHttpStream (app.setup) makes getCapabilities start the HTTP proxy and report its URI.
  const capabilities = model ? await model.getCapabilities({}) : undefined;
  process.stdout.write(JSON.stringify({
    main: manifest.main,
    model: model && { name: model.name, version: model.version },
    capabilities,
    functions: core.functions,
    hooks: core.state.hooks,
    startupLog,
    // Every file the entry module loaded: the lazily loaded SDK bundle must not be among them.
    loadedFiles: Object.keys(require.cache).filter((f) => f.startsWith(pkg)).map((f) => path.relative(pkg, f)),
    fetchImplementationLoaded,
  }) + '\\n');
})().catch((err) => { process.stderr.write(String(err && err.stack || err)); process.exit(1); });
`;

interface Binding {
  type: string;
  direction?: string;
  route?: string;
  methods?: string[];
  authLevel?: string;
  schedule?: string;
  runOnStartup?: boolean;
}
interface Recorded {
  metadata: { name: string; bindings: Record<string, Binding> };
  handler: string;
}
export interface BundleLoad {
  main: string;
  model?: { name: string; version: string };
  capabilities?: Record<string, string>;
  functions: Recorded[];
  hooks: string[];
  startupLog: string[];
  /** The package's files that were loaded (relative paths). */
  loadedFiles: string[];
  /** Whether Node.js loaded its fetch implementation (undici) while the entry module loaded. */
  fetchImplementationLoaded: boolean;
}

/** Loads the package's `main` in a fresh Node.js process with the stand-in core; returns what it recorded. */
export function loadBundle(packageDir: string, env: NodeJS.ProcessEnv = process.env): BundleLoad {
  const host = fs.mkdtempSync(path.join(os.tmpdir(), 'm365-host-'));
  // Outside the package, where Node resolves it from the package's folder upwards (as the worker's own module is).
  const coreDir = path.join(host, 'node_modules', '@azure', 'functions-core');
  fs.mkdirSync(coreDir, { recursive: true });
  fs.writeFileSync(path.join(coreDir, 'index.js'), CORE_STUB);
  fs.writeFileSync(path.join(coreDir, 'package.json'), '{ "name": "@azure/functions-core", "main": "index.js" }\n');
  const app = path.join(host, 'app');
  fs.cpSync(packageDir, app, { recursive: true });
  const loader = path.join(host, 'load.js');
  fs.writeFileSync(loader, LOADER);
  try {
    const out = execFileSync(process.execPath, [loader, app], { cwd: host, env, encoding: 'utf8', timeout: 60_000 });
    return JSON.parse(out.trim().split('\n').pop() ?? '') as BundleLoad;
  } finally {
    fs.rmSync(host, { recursive: true, force: true });
  }
}

const notHere = () => {
  throw new Error('registered in the child process that loaded the bundle');
};

/** The host's view of one recorded registration, in the sandbox registry's shape. */
function toRegistration(r: Recorded, env: NodeJS.ProcessEnv): Registration {
  const name = r.metadata.name;
  const trigger = Object.values(r.metadata.bindings).find((b) => /trigger$/i.test(b.type));
  const type = trigger?.type ?? '';
  const base = { name, extraInputs: [], handler: notHere };
  switch (type) {
    case 'httpTrigger': {
      const route = trigger?.route ?? name;
      return {
        ...base,
        kind: 'http',
        route,
        template: parseRoute(route),
        methods: (trigger?.methods ?? []).map((m) => m.toUpperCase()),
        authLevel: trigger?.authLevel as 'anonymous' | 'function' | 'admin',
      };
    }
    case 'timerTrigger': {
      // The host resolves %AppSetting% placeholders from the app settings when it indexes the function.
      const schedule = (trigger?.schedule ?? '').replace(/%(\w+)%/g, (m, key: string) => env[key] ?? m);
      return { ...base, kind: 'timer', schedule, next: () => undefined, runOnStartup: trigger?.runOnStartup === true };
    }
    case 'orchestrationTrigger':
      return { ...base, kind: 'orchestration' };
    case 'activityTrigger':
      return { ...base, kind: 'activity' };
    default:
      // The sandbox records other triggers under the `app` method that registered them: eventGridTrigger ← eventGrid.
      return { name, extraInputs: [], kind: 'other', triggerType: type.replace(/Trigger$/, '') };
  }
}

/**
 * The package's registrations as the host indexes them, and its start-up log. `setupOptions` is what the app's
 * `app.setup` call leaves observable to the host: whether HTTP streaming is on (getCapabilities reports HttpUri).
 */
export function loadBundledFunctionApp(packageDir: string, env: NodeJS.ProcessEnv = process.env): LoadedEntry {
  const load = loadBundle(packageDir, env);
  if (load.model?.name !== '@azure/functions') throw new Error('the bundle set no @azure/functions programming model');
  const unhandled = load.functions.filter((f) => f.handler !== 'function').map((f) => f.metadata.name);
  if (unhandled.length) throw new Error(`registered without a handler: ${unhandled.join(', ')}`);
  return {
    registry: {
      functions: load.functions.map((f) => toRegistration(f, env)),
      setupOptions: { enableHttpStream: load.capabilities?.HttpUri !== undefined },
    },
    startupLog: load.startupLog,
  };
}
