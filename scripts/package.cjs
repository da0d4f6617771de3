#!/usr/bin/env node
// `npm run package`: the deployment package of the Function App, one folder that azd deploys as it is (azure.yaml:
// `dist: .package`, `remoteBuild: false`). It holds:
//   main.js       the whole app (src/functions/index.ts and every module and package it requires) bundled by esbuild
//                 into one CommonJS file;
//   host.json     the project's, unchanged;
//   package.json  minimal: `main` points at main.js, no dependencies (nothing to install).
// A cold start then reads one file instead of thousands (https://learn.microsoft.com/azure/azure-functions/typescript-build-options
// "Deployment package size affects cold start"), and the package is a few MB instead of the production node_modules.
//
// Not bundled: `@azure/functions-core`, which the Functions Node.js worker provides at run time
// (https://github.com/Azure/azure-functions-nodejs-library: the library requires it and the worker answers). The
// source map (for reading production stack traces) is written next to the package, never into it.
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

  const result = await esbuild.build({
    entryPoints: [ENTRY],
    outfile: path.join(out, BUNDLE),
    bundle: true,
    platform: 'node',
    // Node 22 in Azure (infra/app/api.bicep); node20 output runs on both, and on the development machines.
    target: 'node20',
    format: 'cjs',
    tsconfig: path.join(root, 'tsconfig.json'),
    external: EXTERNAL,
    // Whitespace and syntax only: identifiers keep their names (error names, class names in logs and stack traces).
    minifyWhitespace: true,
    minifySyntax: true,
    keepNames: true,
    // The third-party licence notices stay with the code, at the end of the file.
    legalComments: 'eof',
    // External map without sources: small, and kept out of the package.
    sourcemap: 'external',
    sourcesContent: false,
    logLevel: 'warning',
    metafile: true,
  });
  fs.renameSync(path.join(out, `${BUNDLE}.map`), mapFile);

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
    warnings: result.warnings.length,
    inputs: Object.keys(result.metafile.inputs).length,
  };
}

module.exports = { buildPackage, folderBytes, BUNDLE, EXTERNAL };

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
            `(${r.inputs} modules in ${BUNDLE}; source map: ${path.relative(process.cwd(), r.sourceMap)})`,
        );
    },
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
