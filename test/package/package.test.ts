/**
 * The deployment package (`npm run package`, scripts/package.cjs): what azd deploys as it is (azure.yaml `dist`,
 * `remoteBuild: false`). Built from the current sources into a temporary folder; its registrations are checked by
 * test/durable/real-entry.test.ts.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';

import { buildPackageOnce, loadBundle } from '../helpers/bundled-entry';

// eslint-disable-next-line @typescript-eslint/no-require-imports -- the build script is CommonJS (scripts/ is not TypeScript)
const packageScript = require('../../scripts/package.cjs') as {
  LAZY_SDKS: string[];
  ON_FIRST_CALL: { importer: RegExp; name: string }[];
  SDK_BUNDLE: string;
  BUNDLE: string;
  axiosFetchOnUse: import('esbuild').Plugin;
  jsonAsNodeReadsIt: import('esbuild').Plugin;
  onFirstCall: import('esbuild').Plugin;
};
const { LAZY_SDKS, ON_FIRST_CALL, SDK_BUNDLE, BUNDLE, axiosFetchOnUse, jsonAsNodeReadsIt, onFirstCall } = packageScript;

const ROOT = path.join(__dirname, '../..');
const dir = buildPackageOnce();
const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as Record<string, unknown>;

describe('deployment package', () => {
  it('holds the bundle, the SDK bundle, host.json and a package.json whose main is the bundle, and nothing else', () => {
    expect(fs.readdirSync(dir).sort()).toEqual([BUNDLE, 'host.json', 'package.json', SDK_BUNDLE].sort());
    expect(manifest.main).toBe(BUNDLE);
    expect(manifest.type).toBe('commonjs');
    // Nothing to install in Azure: every dependency is in the bundles.
    expect(manifest).not.toHaveProperty('dependencies');
    expect(manifest).not.toHaveProperty('scripts');
    expect(fs.readFileSync(path.join(dir, 'host.json'), 'utf8')).toBe(
      fs.readFileSync(path.join(ROOT, 'host.json'), 'utf8'),
    );
  });

  it('is at most 10 MB, with the source maps kept beside it', () => {
    const bytes = fs.readdirSync(dir).reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
    expect(bytes).toBeLessThanOrEqual(10 * 1024 * 1024);
    for (const file of [BUNDLE, SDK_BUNDLE]) {
      expect(fs.existsSync(path.join(`${dir}.map`, `${file}.map`))).toBe(true);
      expect(fs.readFileSync(path.join(dir, file), 'utf8')).not.toMatch(/sourceMappingURL/);
    }
  });

  it('requires nothing from outside except Node built-ins, the SDK bundle and what the Functions host provides', () => {
    const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
    for (const file of [BUNDLE, SDK_BUNDLE]) {
      const code = fs.readFileSync(path.join(dir, file), 'utf8');
      const required = new Set([...code.matchAll(/\brequire\("([^"]+)"\)/g)].map((m) => m[1]));
      const outside = [...required].filter((r) => !builtins.has(r)).sort();
      expect([file, outside]).toEqual([file, file === BUNDLE ? [`./${SDK_BUNDLE}`, '@azure/functions-core'] : []]);
    }
  });

  it('loads no SDK when the entry module loads: the SDK bundle is read on first use', () => {
    const load = loadBundle(dir);
    expect(load.loadedFiles).toContain(BUNDLE);
    expect(load.loadedFiles).not.toContain(SDK_BUNDLE);
  });

  it('holds no code of a lazily loaded SDK in the entry bundle: each is a reference to the SDK bundle', () => {
    // The source map lists every file the bundle was built from (without their text: sourcesContent is off).
    const map = JSON.parse(fs.readFileSync(path.join(`${dir}.map`, `${BUNDLE}.map`), 'utf8')) as { sources: string[] };
    const packageOf = (source: string) => {
      const parts =
        source
          .split(/node_modules\//)
          .pop()
          ?.split('/') ?? [];
      return parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
    };
    const bundled = new Set(map.sources.filter((s) => s.includes('node_modules/')).map(packageOf));
    const lazyPackages = [...new Set(LAZY_SDKS.map((name) => packageOf(`node_modules/${name}`)))];
    expect(lazyPackages.filter((p) => bundled.has(p))).toEqual([]);
    // And the app's code does reach them, through the SDK bundle (src/clients/*, the ServiceNow keystore).
    expect(LAZY_SDKS.filter((name) => !map.sources.includes(`lazy-sdk:${name}`))).toEqual([]);
    // Nor of the packages required on first call (mime-types, for form-data), nor of mime-db, mime-types' database.
    expect([...ON_FIRST_CALL.map((p) => p.name), 'mime-db'].filter((p) => bundled.has(p))).toEqual([]);
    expect(ON_FIRST_CALL.filter((p) => !map.sources.includes(`on-first-call:${p.name}`))).toEqual([]);
  });

  it('bundles a form-data that requires mime-types from the SDK bundle on the first content-type look-up', async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- CommonJS under ts-jest
    const esbuild = require('esbuild') as typeof import('esbuild');
    const out = path.join(path.dirname(dir), 'form-data', 'bundle.js');
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.copyFileSync(path.join(dir, SDK_BUNDLE), path.join(path.dirname(out), SDK_BUNDLE));
    const built = await esbuild.build({
      stdin: { contents: "module.exports = require('form-data');", resolveDir: ROOT, loader: 'js' },
      bundle: true,
      platform: 'node',
      format: 'cjs',
      outfile: out,
      logLevel: 'silent',
      metafile: true,
      plugins: [onFirstCall],
    });
    expect(Object.keys(built.metafile.inputs).filter((f) => /node_modules[\\/]mime-(types|db)[\\/]/.test(f))).toEqual(
      [],
    );
    const script = `
      const sdkLoaded = () => Object.keys(require.cache).some((f) => f.endsWith(${JSON.stringify(SDK_BUNDLE)}));
      const FormData = require(${JSON.stringify(out)});
      const atLoad = sdkLoaded();
      const form = new FormData();
      form.append('manifest', Buffer.from('{}'), { filename: 'manifest.json' });
      form.append('logo', Buffer.from('x'), { filename: 'logo.png' });
      form.append('blob', Buffer.from('x'), { filename: 'blob.unknown-extension' });
      const types = [...form.getBuffer().toString().matchAll(/Content-Type: ([^\\r]+)/g)].map((m) => m[1]);
      process.stdout.write(JSON.stringify({ atLoad, types, afterUse: sdkLoaded() }));`;
    const result = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })) as unknown;
    expect(result).toEqual({
      atLoad: false,
      // mime-db's types for the extensions; form-data's default for an unknown one.
      types: ['application/json', 'image/png', 'application/octet-stream'],
      afterUse: true,
    });
  });

  it('loads no fetch implementation (undici) when the entry module loads: axios touches the fetch API on first use', () => {
    expect(loadBundle(dir).fetchImplementationLoaded).toBe(false);
  });

  it('bundles an axios that still recognises FormData and still offers the fetch adapter, on first use', async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- CommonJS under ts-jest
    const esbuild = require('esbuild') as typeof import('esbuild');
    const out = path.join(path.dirname(dir), 'axios-bundle.js');
    await esbuild.build({
      stdin: { contents: "module.exports = require('axios');", resolveDir: ROOT, loader: 'js' },
      bundle: true,
      platform: 'node',
      format: 'cjs',
      outfile: out,
      logLevel: 'silent',
      plugins: [axiosFetchOnUse],
    });
    const script = `
      const undici = () => process.moduleLoadList.some((m) => m.includes('internal/deps/undici'));
      const axios = require(${JSON.stringify(out)});
      const atLoad = undici();
      const form = new FormData();
      form.append('a', '1');
      process.stdout.write(JSON.stringify({
        atLoad,
        form: axios.formToJSON(form),
        notForm: axios.formToJSON({ append() {} }),
        fetchAdapter: typeof axios.getAdapter('fetch'),
        afterUse: undici(),
      }));`;
    const result = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })) as unknown;
    expect(result).toEqual({
      atLoad: false,
      form: { a: '1' },
      notForm: null,
      fetchAdapter: 'function',
      afterUse: true,
    });
  });

  it('bundles JSON files as JSON.parse of their text: the same data as `require` reads', async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- CommonJS under ts-jest
    const esbuild = require('esbuild') as typeof import('esbuild');
    const out = path.join(path.dirname(dir), 'mime-db-bundle.js');
    await esbuild.build({
      stdin: { contents: "module.exports = require('mime-db');", resolveDir: ROOT, loader: 'js' },
      bundle: true,
      platform: 'node',
      format: 'cjs',
      outfile: out,
      logLevel: 'silent',
      plugins: [jsonAsNodeReadsIt],
    });
    expect(/\.exports = JSON\.parse\('\{/.test(fs.readFileSync(out, 'utf8'))).toBe(true);
    /* eslint-disable @typescript-eslint/no-require-imports -- the bundled copy, and what Node.js reads from the package */
    expect(require(out)).toEqual(require('mime-db'));
    /* eslint-enable @typescript-eslint/no-require-imports */
  });

  it('serves each lazily loaded SDK from the SDK bundle', () => {
    // What src/activities/servicenow-certificate.ts reads and writes a keystore with.
    const FORGE_USED = [
      'asn1.fromDer',
      'asn1.toDer',
      'util.createBuffer',
      'pkcs12.pkcs12FromAsn1',
      'pkcs12.toPkcs12Asn1',
    ];
    const script = `
      const sdk = require(${JSON.stringify(path.join(dir, SDK_BUNDLE))});
      const kinds = {};
      for (const name of ${JSON.stringify(LAZY_SDKS)}) {
        const m = sdk[name];
        kinds[name] = Object.keys(m).filter((k) => typeof m[k] === 'function').sort();
      }
      // node-forge is one object of namespaces.
      const forge = sdk['node-forge'];
      const at = (p) => p.split('.').reduce((o, k) => o && o[k], forge);
      kinds['node-forge'] = ${JSON.stringify(FORGE_USED)}.filter((p) => typeof at(p) === 'function');
      process.stdout.write(JSON.stringify(kinds));`;
    const exported = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })) as Record<
      string,
      string[]
    >;
    // What src/clients/* take from each SDK.
    expect(exported['@azure/identity']).toEqual(
      expect.arrayContaining(['ClientSecretCredential', 'DefaultAzureCredential', 'ManagedIdentityCredential']),
    );
    expect(exported['@azure/keyvault-secrets']).toEqual(expect.arrayContaining(['SecretClient']));
    expect(exported['@azure/data-tables']).toEqual(expect.arrayContaining(['TableClient']));
    expect(exported['@microsoft/microsoft-graph-client']).toEqual(
      expect.arrayContaining(['Client', 'GraphError', 'AuthenticationHandler', 'RetryHandler', 'TelemetryHandler']),
    );
    expect(exported['node-forge']).toEqual(FORGE_USED);
    expect(exported['@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials']).toEqual([
      'TokenCredentialAuthenticationProvider',
    ]);
  });
});
