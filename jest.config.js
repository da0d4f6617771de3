/**
 * Two projects over the same test tree (https://jestjs.io/docs/configuration#projects-arraystring--projectconfig):
 *   unit         needs no sandbox stand-in, HTTPS server, Functions host, Azurite or browser (`npm run test:unit`);
 *   integration  everything else: the stand-ins, the local stack, the browser.
 * `npm test` and `jest` run both, so every test file runs exactly once; `--selectProjects unit` runs the fast part.
 * Listed here: the unit files and folders (paths under the repository root); every other test file is integration.
 */
const UNIT = [
  'test/orchestrators/',
  'test/durable/engine.test.ts',
  'test/durable/real-entry.test.ts',
  'test/package/',
  'test/app/',
  'test/bench/footprint.test.ts',
  'test/sandbox/latency.test.ts',
  'test/lib/',
  'test/profiles/profiles.test.ts',
  'test/rotation/',
  'test/inventory/',
  'test/functions/openapi.test.ts',
  'test/lint/',
  'test/infra/',
  'test/approvals/plan.test.ts',
  'test/approvals/pages.test.ts',
  'test/approvals/pages-plan.test.ts',
  'test/clients/credentials.test.ts',
  'test/clients/keyvault.test.ts',
  'test/clients/servicenow-query.test.ts',
  'test/security/body-limit.test.ts',
  'test/security/doc-examples.test.ts',
  'test/config.test.ts',
  'test/dashboard/pages.test.ts',
  'test/alerts/conditions.test.ts',
  'test/alerts/durable-facts.test.ts',
  'test/credentials/credential-kinds.test.ts',
];

const TEST_FILES = '**/*.test.ts';
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** What both projects share (transform and environment); rootDir is this folder for each. */
const shared = {
  rootDir: __dirname,
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }] },
};

/** @type {import('jest').Config} */
module.exports = {
  // Global options (not per project). The sandbox binds real HTTPS ports; two workers suit the 2-core machines.
  maxWorkers: 2,
  testTimeout: 30000,
  projects: [
    {
      ...shared,
      displayName: 'unit',
      testMatch: UNIT.map((p) => `<rootDir>/${p}${p.endsWith('/') ? TEST_FILES : ''}`),
    },
    {
      ...shared,
      displayName: 'integration',
      testMatch: [`<rootDir>/test/${TEST_FILES}`],
      testPathIgnorePatterns: [
        '/node_modules/',
        ...UNIT.map((p) => `^<rootDir>/${escape(p)}${p.endsWith('/') ? '' : '$'}`),
      ],
    },
  ],
};
