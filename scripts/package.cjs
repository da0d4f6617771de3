#!/usr/bin/env node
// `npm run package`: the deployment package of the Function App, one folder that azd deploys as it is (azure.yaml:
// `dist: .package`, `remoteBuild: false`). It holds:
//   main.js       the whole app (src/functions/index.ts and every module and package it requires) bundled by esbuild
//                 into one CommonJS file, except the SDKs loaded on first use;
//   sdk.js        those SDKs (identity, Key Vault secrets, certificates and keys, node-forge, Tables, Graph client),
//                 read when a function builds its first client (see lazySdks below), and the packages of
//                 ON_FIRST_CALL (mime-types, with its 146 KB database);
//   host.json     the project's, unchanged;
//   package.json  minimal: `main` points at main.js, no dependencies (nothing to install).
// A cold start then reads one file instead of thousands (https://learn.microsoft.com/azure/azure-functions/typescript-build-options
// "Deployment package size affects cold start"), and the package is a few MB instead of the production node_modules.
//
// Not bundled: `@azure/functions-core`, which the Functions Node.js worker provides at run time
// (https://github.com/Azure/azure-functions-nodejs-library: the library requires it and the worker answers). The
// source maps (for reading production stack traces) are written beside the package (<out>.map/), never into it.
//
// Usage: node scripts/package.cjs [--out <dir>] [--quiet]   (default out: .package)
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const ENTRY = path.join(root, 'src', 'functions', 'index.ts');
const BUNDLE = 'main.js';
/** Provided by the Functions host's Node.js worker at run time; never bundled. */
const EXTERNAL = ['@azure/functions-core'];
/**
 * The SDKs src/clients/* require on first use (src/app/deps.ts), bundled apart in SDK_BUNDLE. Adding one (e.g.
 * @azure/keyvault-certificates, @azure/keyvault-keys, node-forge) so that it stays out of the cold start: in src/,
 * `import type` only, and a literal `require('<sdk>')` inside the function that builds the client, reached from a
 * getter of src/app/deps.ts (as src/clients/keyvault.ts does); its name here; and in test/app/lazy-sdks.test.ts.
 * test/package/package.test.ts fails if the entry module loads SDK_BUNDLE.
 */
const LAZY_SDKS = [
  '@azure/identity',
  '@azure/keyvault-secrets',
  '@azure/keyvault-certificates',
  '@azure/keyvault-keys',
  'node-forge',
  '@azure/data-tables',
  '@microsoft/microsoft-graph-client',
  '@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials',
];
const SDK_BUNDLE = 'sdk.js';

/**
 * The SDKs are required on first use, never when the entry module loads; in main.js each `require('<sdk>')` becomes
 * `require('./sdk.js')['<sdk>']`, so a cold start neither reads nor compiles them (about 40% of the code) until a
 * function builds its first client. sdk.js holds them all once (they share @azure/core-*), each evaluated on first
 * access.
 */
const lazySdks = {
  name: 'lazy-sdks',
  setup(build) {
    // Exactly the names of LAZY_SDKS, scoped or not (node-forge): a package missed here is bundled into main.js.
    const literal = (name) => name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const filter = new RegExp(`^(${LAZY_SDKS.map(literal).join('|')})$`);
    build.onResolve({ filter }, (args) =>
      args.namespace === 'file' ? { path: args.path, namespace: 'lazy-sdk' } : undefined,
    );
    build.onResolve({ filter: /^\.\/sdk\.js$/, namespace: 'lazy-sdk' }, (args) => ({
      path: args.path,
      external: true,
    }));
    build.onLoad({ filter: /.*/, namespace: 'lazy-sdk' }, (args) => ({
      contents: `module.exports = require('./${SDK_BUNDLE}')[${JSON.stringify(args.path)}];`,
      loader: 'js',
    }));
  },
};

/**
 * Packages a dependency requires when it loads but calls only later, for something the app does not do at start-up:
 * for each, the importer (a file under node_modules) and the package. The bundle hands the importer functions of the
 * same names, which require the package from SDK_BUNDLE on their first call (onFirstCall below).
 */
const ON_FIRST_CALL = [{ importer: /[\\/]node_modules[\\/]form-data[\\/]lib[\\/]form_data\.js$/, name: 'mime-types' }];

/** The entry of SDK_BUNDLE: one getter per SDK, each requiring it on first access. */
const sdkEntry = () =>
  [...LAZY_SDKS, ...ON_FIRST_CALL.map((p) => p.name)]
    .map(
      (name) =>
        `Object.defineProperty(exports, ${JSON.stringify(name)}, ` +
        `{ enumerable: true, get: () => require(${JSON.stringify(name)}) });`,
    )
    .join('\n');

/**
 * Packages that our code imports (ESM syntax: esbuild picks the package's `import` build) and a CommonJS dependency
 * requires (the `require` build): resolved to the one build Node's `require` picks, so the bundle holds and loads one
 * copy. axios: src/clients/* `import axios from 'axios'` and durable-functions `require("axios")`; without this the
 * bundle carries both axios builds and runs both at start-up. Other packages keep esbuild's resolution (ESM builds
 * are hoisted into the bundle without per-module wrappers, which loads faster).
 */
const ONE_BUILD = ['axios'];
const oneBuild = {
  name: 'one-build',
  setup(build) {
    build.onResolve({ filter: new RegExp(`^(${ONE_BUILD.join('|')})$`) }, (args) => ({
      path: require.resolve(args.path, { paths: [args.resolveDir || root] }),
    }));
  },
};

/**
 * durable-functions requires all of `validator` (its index loads some 110 modules) and calls only `isURL`
 * (lib/src/durableClient/getClient.js, DurableClient.js). For an importer whose every use is `validator_1.<name>`,
 * the bundle gets a module exporting just those functions from `validator/lib/<name>`; for any other use, the whole
 * package as before.
 */
const validatorAsUsed = {
  name: 'validator-as-used',
  setup(build) {
    build.onResolve({ filter: /^validator$/ }, (args) => {
      if (!/[\\/]node_modules[\\/]durable-functions[\\/]/.test(args.importer)) return undefined;
      const source = fs.readFileSync(args.importer, 'utf8');
      const uses = source.match(/\bvalidator_1\b/g) ?? [];
      const names = [...new Set([...source.matchAll(/\bvalidator_1\.(is[A-Za-z]+)\b/g)].map((m) => m[1]))];
      const binding = source.match(/\bconst validator_1 = require\("validator"\);/g) ?? [];
      const calls = source.match(/\bvalidator_1\.is[A-Za-z]+\b/g) ?? [];
      if (binding.length !== 1 || uses.length !== 1 + calls.length || names.length === 0) return undefined;
      return { path: `validator:${names.join(',')}`, namespace: 'validator-as-used', pluginData: { names } };
    });
    build.onLoad({ filter: /.*/, namespace: 'validator-as-used' }, (args) => ({
      contents: args.pluginData.names.map((n) => `exports.${n} = require('validator/lib/${n}').default;`).join('\n'),
      resolveDir: root,
      loader: 'js',
    }));
  },
};

/**
 * form-data (axios's multipart bodies) requires mime-types when it loads, and calls only `mime.lookup`, when a part is
 * appended (lib/form_data.js `_getContentType`). Requiring mime-types loads mime-db, a 146 KB JSON database, parses it
 * and indexes it by type and extension: an eighth of main.js, at every cold start, for multipart bodies the app never
 * sends at start-up (src/clients/* send JSON and URL-encoded forms). For an importer of ON_FIRST_CALL that binds the
 * package once (`var mime = require('mime-types');`) and otherwise only calls its functions (`mime.lookup(`), the
 * bundle gets one function per name called, which requires the package from SDK_BUNDLE on its first call and then
 * forwards to it; the package stays out of main.js. If the importer uses it in any other way (another release), it is
 * bundled as before.
 */
const onFirstCall = {
  name: 'on-first-call',
  setup(build) {
    for (const { importer, name } of ON_FIRST_CALL) {
      const literal = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      build.onResolve({ filter: new RegExp(`^${literal}$`) }, (args) => {
        if (!importer.test(args.importer)) return undefined;
        // SDK_BUNDLE requires the copy the project root resolves: the importer must resolve the same one.
        const resolved = (from) => require.resolve(name, { paths: [from] });
        if (resolved(path.dirname(args.importer)) !== resolved(root)) return undefined;
        const source = fs.readFileSync(args.importer, 'utf8');
        const binding = [...source.matchAll(new RegExp(`^var (\\w+) = require\\('${literal}'\\);$`, 'gm'))];
        if (binding.length !== 1) return undefined;
        const id = binding[0][1];
        const rest = source.replace(binding[0][0], '');
        const uses = rest.match(new RegExp(`\\b${id}\\b`, 'g')) ?? [];
        const calls = [...rest.matchAll(new RegExp(`\\b${id}\\.([A-Za-z_$][\\w$]*)\\(`, 'g'))].map((m) => m[1]);
        if (calls.length === 0 || uses.length !== calls.length) return undefined;
        return { path: name, namespace: 'on-first-call', pluginData: { names: [...new Set(calls)] } };
      });
    }
    build.onResolve({ filter: /^\.\/sdk\.js$/, namespace: 'on-first-call' }, (args) => ({
      path: args.path,
      external: true,
    }));
    build.onLoad({ filter: /.*/, namespace: 'on-first-call' }, (args) => ({
      contents: [
        `const load = () => require('./${SDK_BUNDLE}')[${JSON.stringify(args.path)}];`,
        ...args.pluginData.names.map((n) => `exports.${n} = function ${n}(...args) { return load().${n}(...args); };`),
      ].join('\n'),
      loader: 'js',
    }));
  },
};

/**
 * axios's Node.js build touches the fetch API as it loads, and that makes Node.js load its fetch implementation
 * (undici: `FormData`, `Request` and the other fetch globals are getters that load it on first access) at every cold
 * start, although the app never uses fetch: in Node.js axios sends with its `http` adapter (lib/adapters/adapters.js
 * tries xhr, http, fetch in that order). Two statements of dist/node/axios.cjs do it; here they run on first use:
 *   - `getFetch();` at the top level, the fetch adapter's environment probe (it constructs a `Request` and a
 *     `ReadableStream`), its result unused: getFetch memoises the probe, and the adapter's getter runs it when the
 *     fetch adapter is asked for;
 *   - `const FormDataCtor = typeof G.FormData …` (lib/utils.js), read by `isFormData` only: looked up on the first
 *     call of `isFormData` instead, then kept, as before.
 * If the file does not hold each statement exactly once (another axios release), it is bundled unchanged.
 */
const AXIOS_FETCH_ON_USE = [
  [/^getFetch\(\);$/gm, ''],
  [
    /^const FormDataCtor = typeof G\.FormData !== 'undefined' \? G\.FormData : undefined;$/gm,
    "let FormDataCtor;\nconst formDataCtor = () => FormDataCtor === undefined ? (FormDataCtor = typeof G.FormData !== 'undefined' ? G.FormData : null) : FormDataCtor;",
  ],
  [
    /^  if \(FormDataCtor && thing instanceof FormDataCtor\) return true;$/gm,
    '  const FormDataClass = formDataCtor();\n  if (FormDataClass && thing instanceof FormDataClass) return true;',
  ],
];
const axiosFetchOnUse = {
  name: 'axios-fetch-on-use',
  setup(build) {
    build.onLoad({ filter: /[\\/]axios[\\/]dist[\\/]node[\\/]axios\.cjs$/ }, (args) => {
      const source = fs.readFileSync(args.path, 'utf8');
      if (!AXIOS_FETCH_ON_USE.every(([find]) => (source.match(find) ?? []).length === 1)) return undefined;
      return {
        contents: AXIOS_FETCH_ON_USE.reduce((code, [find, replace]) => code.replace(find, () => replace), source),
        loader: 'js',
      };
    });
  },
};

/**
 * JSON files are bundled as `module.exports = JSON.parse('…')`, as Node.js's `require` reads them (lib/internal/
 * modules/cjs/loader.js parses .json files with JSON.parse), rather than as esbuild's default object literal: a string
 * is scanned, not parsed, when the bundle is compiled, and JSON.parse builds the object faster than the compiled
 * literal does (https://v8.dev/blog/cost-of-javascript-2019#json). mime-db's database (134 KB, in sdk.js: required by
 * form-data through mime-types on its first look-up, see onFirstCall) is the large one.
 */
const jsonAsNodeReadsIt = {
  name: 'json-as-node-reads-it',
  setup(build) {
    build.onLoad({ filter: /\.json$/ }, (args) => {
      const text = fs.readFileSync(args.path, 'utf8');
      // Validated here, as Node.js would when requiring it; the same text minus insignificant whitespace.
      const compact = JSON.stringify(JSON.parse(text));
      return { contents: `module.exports = JSON.parse(${JSON.stringify(compact)});`, loader: 'js' };
    });
  },
};

/** Total size in bytes of the files under `dir`. */
function folderBytes(dir) {
  let total = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    total += entry.isDirectory() ? folderBytes(p) : fs.statSync(p).size;
  }
  return total;
}

/**
 * Builds the package into `outDir` (emptied first) and returns what it wrote: the bundle's path, the source map's path
 * (outside the package) and the package's size in bytes.
 */
async function buildPackage({ outDir = path.join(root, '.package') } = {}) {
  const esbuild = require('esbuild');
  const out = path.resolve(outDir);
  const mapFile = `${out}.map/${BUNDLE}.map`;
  fs.rmSync(out, { recursive: true, force: true });
  fs.rmSync(path.dirname(mapFile), { recursive: true, force: true });
  fs.mkdirSync(out, { recursive: true });
  fs.mkdirSync(path.dirname(mapFile), { recursive: true });

  const common = {
    bundle: true,
    platform: 'node',
    // Node 22 in Azure (infra/app/api.bicep); node20 output runs on both, and on the development machines.
    target: 'node20',
    format: 'cjs',
    tsconfig: path.join(root, 'tsconfig.json'),
    external: EXTERNAL,
    // Smaller is faster to parse at every cold start; keepNames keeps functions' and classes' `name` (error names,
    // class names in logs and stack traces) as in the unbundled code.
    minify: true,
    keepNames: true,
    // The third-party licence notices stay with the code, at the end of each file.
    legalComments: 'eof',
    // External maps without sources: small, and kept out of the package.
    sourcemap: 'external',
    sourcesContent: false,
    logLevel: 'warning',
    metafile: true,
  };
  const main = await esbuild.build({
    ...common,
    entryPoints: [ENTRY],
    outfile: path.join(out, BUNDLE),
    plugins: [lazySdks, onFirstCall, validatorAsUsed, oneBuild, axiosFetchOnUse, jsonAsNodeReadsIt],
  });
  const sdk = await esbuild.build({
    ...common,
    stdin: { contents: sdkEntry(), resolveDir: root, sourcefile: 'sdk-entry.js', loader: 'js' },
    outfile: path.join(out, SDK_BUNDLE),
    plugins: [oneBuild, jsonAsNodeReadsIt],
  });
  for (const file of [BUNDLE, SDK_BUNDLE])
    fs.renameSync(path.join(out, `${file}.map`), path.join(path.dirname(mapFile), `${file}.map`));

  fs.copyFileSync(path.join(root, 'host.json'), path.join(out, 'host.json'));
  const project = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  const manifest = {
    name: project.name,
    version: project.version,
    description: project.description,
    private: true,
    license: project.license,
    type: 'commonjs',
    main: BUNDLE,
    engines: project.engines,
  };
  fs.writeFileSync(path.join(out, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);

  return {
    outDir: out,
    bundle: path.join(out, BUNDLE),
    sourceMap: mapFile,
    bytes: folderBytes(out),
    warnings: main.warnings.length + sdk.warnings.length,
    inputs: Object.keys(main.metafile.inputs).length,
    sdkInputs: Object.keys(sdk.metafile.inputs).length,
  };
}

module.exports = {
  buildPackage,
  folderBytes,
  axiosFetchOnUse,
  jsonAsNodeReadsIt,
  onFirstCall,
  BUNDLE,
  SDK_BUNDLE,
  LAZY_SDKS,
  ON_FIRST_CALL,
  EXTERNAL,
};

if (require.main === module) {
  const args = process.argv.slice(2);
  const at = args.indexOf('--out');
  const outDir = at >= 0 ? args[at + 1] : undefined;
  const quiet = args.includes('--quiet');
  buildPackage(outDir ? { outDir } : {}).then(
    (r) => {
      if (!quiet)
        console.log(
          `package: ${path.relative(process.cwd(), r.outDir) || '.'} ${(r.bytes / 1024 / 1024).toFixed(2)} MB ` +
            `(${r.inputs} modules in ${BUNDLE}, ${r.sdkInputs} in ${SDK_BUNDLE}; source maps in ` +
            `${path.relative(process.cwd(), path.dirname(r.sourceMap))})`,
        );
    },
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
