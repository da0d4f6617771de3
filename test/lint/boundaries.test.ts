/**
 * The module boundaries eslint.config.mjs holds (docs/architecture.md, "Dependency rules"): for a file inside each
 * glob, a violating import is reported by the configured rule and an allowed one is not. The rules' options are read
 * from the project's own configuration (calculateConfigForFile), then applied without type information, so the probe
 * files need not exist.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');

/**
 * Runs in a plain `node` child: ESLint loads eslint.config.mjs with a dynamic import, which Jest's module sandbox
 * refuses. For each probe it takes the boundary rules the project configures for the probe's path
 * (calculateConfigForFile) and lints the snippet with just those rules and the TypeScript parser (no type
 * information, so the probe files need not exist). Prints `[[ "rule: message", … ], …]`.
 */
const LINT_PROBES = `
const path = require('node:path');
const { ESLint } = require('eslint');
const tseslint = require('typescript-eslint');
const BOUNDARY_RULES = ['no-restricted-imports', '@typescript-eslint/no-restricted-imports', 'no-restricted-syntax'];
(async () => {
  const probes = JSON.parse(require('node:fs').readFileSync(0, 'utf8'));
  const project = new ESLint({ cwd: process.cwd() });
  const out = [];
  for (const { file, code } of probes) {
    const filePath = path.join(process.cwd(), file);
    const config = await project.calculateConfigForFile(filePath);
    const rules = Object.fromEntries(Object.entries(config.rules || {}).filter(([n]) => BOUNDARY_RULES.includes(n)));
    const linter = new ESLint({
      cwd: process.cwd(),
      overrideConfigFile: true,
      overrideConfig: [{ files: ['**/*.ts'], languageOptions: { parser: tseslint.parser },
        plugins: { '@typescript-eslint': tseslint.plugin }, rules }],
    });
    const [result] = await linter.lintText(code, { filePath });
    out.push(result.messages.map((m) => (m.fatal ? 'FATAL: ' : m.ruleId + ': ') + m.message));
  }
  process.stdout.write(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
`;

const probes: { file: string; code: string }[] = [];
let results: string[][] | undefined;

/** Registers a probe (before the tests run); the returned function gives its `rule: message` lines. */
function probe(file: string, code: string): () => string[] {
  const index = probes.push({ file, code }) - 1;
  return () => {
    results ??= JSON.parse(
      execFileSync(process.execPath, ['-e', LINT_PROBES], {
        cwd: ROOT,
        input: JSON.stringify(probes),
        encoding: 'utf8',
      }),
    ) as string[][];
    return results[index];
  };
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
/** A reported problem: the rule's id, then ESLint's "'x' import is restricted …" and our message containing `text`. */
const reported = (rule: string, text: string): unknown =>
  expect.stringMatching(new RegExp(`^${escape(rule)}: .*${escape(text)}`));

describe('import boundaries (eslint.config.mjs)', () => {
  jest.setTimeout(120_000);

  describe('src/** never imports sandbox/, test/, demo/, bench/', () => {
    const SRC_RULE = reported('no-restricted-imports', 'src/** must not import sandbox/, test/, demo/ or bench/');
    const cases = [
      ['src/functions/probe.ts', "import { startSandbox } from '../../sandbox/cli';"],
      ['src/activities/probe.ts', "import { helper } from '../../test/helpers/sandbox';"],
      ['src/lib/probe.ts', "import { run } from '../../demo/demo';"],
      ['src/registry/probe.ts', "import type { Bench } from '../../bench/provision';"],
      ['src/probe.ts', "export * from '../sandbox/graph';"],
      ['src/clients/probe.ts', "import { x } from '../../sandbox/core/tls';"],
    ].map(([file, code]) => [file, code, probe(file, code)] as const);
    it.each(cases)('%s: %s is reported', (_file, _code, found) => {
      expect(found()).toEqual([SRC_RULE]);
    });

    const inOrchestrator = probe('src/orchestrators/probe.ts', "import { x } from '../../test/helpers/x';");
    it('applies inside src/orchestrators too (alongside the orchestrator rule)', () => {
      expect(inOrchestrator()).toEqual(expect.arrayContaining([SRC_RULE]));
    });

    const allowed = probe(
      'src/functions/probe.ts',
      "import { app } from '@azure/functions';\nimport { loadConfig } from '../config';\nimport { x } from '../lib/test-utils';",
    );
    it('allows imports inside src and of packages', () => {
      expect(allowed()).toEqual([]);
    });
  });

  describe('src/clients/** imports no activities, orchestrators or functions', () => {
    const cases = [
      "import { activities } from '../activities';",
      "import { activities } from '../orchestrators/calls';",
      "import { TRIGGERS } from '../functions/triggers';",
      "import type { ProvisionInput } from '../orchestrators/provision-types';",
    ].map((code) => [code, probe('src/clients/probe.ts', code)] as const);
    it.each(cases)('%s is reported', (_code, found) => {
      expect(found()).toEqual([reported('no-restricted-imports', 'src/clients/** must not import src/activities')]);
    });

    const allowed = probe(
      'src/clients/probe.ts',
      [
        "import { SecretClient } from '@azure/keyvault-secrets';",
        "import { loadConfig } from '../config';",
        "import { ExternalServiceError } from '../lib/errors';",
        "import { credentialFor } from './credentials';",
      ].join('\n'),
    );
    it('allows lib, config, sibling clients and SDKs', () => {
      expect(allowed()).toEqual([]);
    });
  });

  describe('src/mail, src/approvals and src/contracts import contracts, never activity modules', () => {
    const cases = [
      ['src/mail/probe.ts', "import type { ReportInput } from '../activities/contracts';"],
      ['src/approvals/probe.ts', "import { reviewUrl } from '../activities/approval';"],
      ['src/contracts/probe.ts', "import type { Activities } from '../activities';"],
    ].map(([file, code]) => [file, code, probe(file, code)] as const);
    it.each(cases)('%s: %s is reported', (_file, _code, found) => {
      expect(found()).toEqual([reported('no-restricted-imports', 'import the contracts (src/contracts/)')]);
    });
    const allowed = probe(
      'src/mail/probe.ts',
      "import type { ReportInput } from '../contracts/provision';\nimport { escapeHtml } from './html';",
    );
    it('allows the contracts and their own modules', () => {
      expect(allowed()).toEqual([]);
    });
  });

  describe('the rules see through non-normalised specifiers', () => {
    const cases = [
      ['src/clients/probe.ts', "import { activities } from './../activities';", 'src/clients/** must not import'],
      ['src/clients/probe.ts', "import { logLine } from '../lib/../activities/log';", 'src/clients/** must not import'],
      ['src/mail/probe.ts', "import { logLine } from './../activities/log';", 'import the contracts (src/contracts/)'],
      [
        'src/contracts/probe.ts',
        "import type { Activities } from './../activities/index';",
        'import the contracts (src/contracts/)',
      ],
    ].map(([file, code, text]) => [file, code, text, probe(file, code)] as const);
    it.each(cases)('%s: %s is reported', (_file, _code, text, found) => {
      expect(found()).toEqual([reported('no-restricted-imports', text)]);
    });
    const dynamic = probe(
      'src/orchestrators/probe.ts',
      "export async function f() { return import('../clients/graph'); }",
    );
    it('a dynamic import() in an orchestrator is reported', () => {
      expect(dynamic()).toEqual(
        expect.arrayContaining([reported('no-restricted-syntax', 'Orchestrators import statically')]),
      );
    });
  });

  describe('src/orchestrators/** imports only replay-safe modules', () => {
    const RULE = '@typescript-eslint/no-restricted-imports';
    const cases = [
      "import { GraphClient } from '../clients/graph';",
      "import { loadConfig } from '../config';",
      "import { readFileSync } from 'node:fs';",
      "import axios from 'axios';",
      "import { approvalRounds } from '../approvals/tokens';",
      "import { ensureApp } from '../activities/entra';",
      "import type { Deps } from '../app/deps';",
      "import { IntegrationRegistry } from '../registry/table';",
    ].map((code) => [code, probe('src/orchestrators/probe.ts', code)] as const);
    it.each(cases)('%s is reported', (_code, found) => {
      expect(found()).toEqual([
        reported(RULE, 'Orchestrators import only: durable-functions (types and RetryOptions)'),
      ]);
    });

    const valueFromTypesOnly = probe('src/orchestrators/probe.ts', "import { activities } from '../activities';");
    const activityModule = probe(
      'src/orchestrators/probe.ts',
      "import { uniqueNameFor } from '../activities/entra-graph';",
    );
    it('reports a value import from a types-only module, and any import of an activity module', () => {
      expect(valueFromTypesOnly()).toEqual([reported(RULE, 'Orchestrators may import only types from this module')]);
      expect(activityModule()).toEqual([
        reported(RULE, 'Orchestrators import only: durable-functions (types and RetryOptions)'),
      ]);
    });

    const today = probe(
      'src/orchestrators/probe.ts',
      [
        "import * as df from 'durable-functions';",
        "import type { OrchestrationContext } from 'durable-functions';",
        "import { createHash } from 'node:crypto';",
        "import { APPROVAL_EVENT } from '../contracts/provision';",
        "import { handoffEventName, type CredentialState } from '../contracts/rotation';",
        "import { uniqueNameFor } from '../profiles/names';",
        "import type { Activities } from '../activities';",
        "import { planDiff } from '../approvals/plan';",
        "import { getProfile } from '../profiles';",
        "import { render } from '../profiles/template';",
        "import type { TicketRef } from '../registry/types';",
        "import { activities } from './calls';",
      ].join('\n'),
    );
    it('allows exactly what the orchestrators import today (and node:crypto)', () => {
      expect(today()).toEqual([]);
    });
  });
});
