/**
 * The jest `unit` project (jest.config.js, `npm run test:unit`) holds only tests that need no sandbox stand-in, HTTPS
 * server, Functions host, Azurite or browser. This keeps the list honest: a unit test file that starts any of them
 * belongs in the integration project.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');

interface ProjectConfig {
  displayName: string;
  testMatch: string[];
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const config = require('../../jest.config.js') as { projects: ProjectConfig[] };

/**
 * Modules that start a server or a browser (the stand-ins, the local stack, the Functions host, Azurite, the activity
 * test environment, chromium), as repository paths without extension, or package names.
 */
const STARTS_SERVERS = [
  'sandbox/index',
  'sandbox/stack',
  'sandbox/host/index',
  'sandbox/azurite',
  'sandbox/consumers',
  'test/helpers/activity-env',
  'test/integration/clients/helpers',
  'test/browser/chromium',
  'puppeteer-core',
];

/** The modules a test file imports (import statements only, not text in strings), as repository paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(path.join(ROOT, file), 'utf8');
  return [...text.matchAll(/^(?:import\b[^;]*?|\}) from '([^']+)';$/gm)].map(([, spec]) => {
    if (!spec.startsWith('.')) return spec;
    const resolved = path.relative(ROOT, path.resolve(ROOT, path.dirname(file), spec));
    return existsSync(path.join(ROOT, resolved, 'index.ts')) ? `${resolved}/index` : resolved;
  });
}

function testFiles(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? testFiles(`${dir}/${e.name}`) : e.name.endsWith('.test.ts') ? [`${dir}/${e.name}`] : [],
  );
}

describe('jest unit project', () => {
  const unit = config.projects.find((p) => p.displayName === 'unit');
  const prefixes = (unit?.testMatch ?? []).map((m) => m.replace('<rootDir>/', '').replace('**/*.test.ts', ''));
  const files = testFiles('test').filter((f) => prefixes.some((p) => (p.endsWith('/') ? f.startsWith(p) : f === p)));

  it('lists existing test files, this one and the orchestrator tests among them', () => {
    expect(files).toEqual(
      expect.arrayContaining(['test/lint/unit-project.test.ts', 'test/orchestrators/provision-integration.test.ts']),
    );
    for (const p of prefixes.filter((x) => !x.endsWith('/'))) expect(files).toContain(p);
  });

  it('starts no sandbox stand-in, server or browser', () => {
    const offenders = files.flatMap((f) =>
      importsOf(f)
        .filter((m) => STARTS_SERVERS.includes(m))
        .map((m) => `${f} imports ${m}`),
    );
    expect(offenders).toEqual([]);
  });

  it('leaves the tests that do start one to the integration project', () => {
    const integration = testFiles('test').filter((f) => !files.includes(f));
    expect(integration).toEqual(
      expect.arrayContaining(['test/durable/host.test.ts', 'test/e2e/provision-happy.test.ts']),
    );
    const startsServers = (f: string) => importsOf(f).some((m) => STARTS_SERVERS.includes(m));
    expect(integration.filter(startsServers).length).toBeGreaterThan(30);
  });
});
