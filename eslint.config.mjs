// @ts-check
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

// Module boundaries (docs/architecture.md, "Dependency rules"). Patterns are regular expressions over the import
// specifier as written (relative specifiers, since src/ has no path aliases).

/** The product never depends on the stand-ins, the tests, the demo or the benchmarks. */
const SRC_STAYS_IN_SRC = {
  regex: '^(\\.\\.?/)+(.*/)?(sandbox|test|demo|bench)(/|$)',
  caseSensitive: true,
  message:
    'src/** must not import sandbox/, test/, demo/ or bench/: the product never depends on its stand-ins or tests.',
};

/** Clients talk to one external system each; they know nothing of the durable layers above them. */
const CLIENTS_STAY_LOW = {
  // Any relative specifier reaching those folders, also through `./../` or `../lib/../` detours.
  regex: '^\\.{1,2}/(.*/)?(activities|orchestrators|functions)(/|$)',
  caseSensitive: true,
  message:
    'src/clients/** must not import src/activities, src/orchestrators or src/functions: clients are the bottom layer ' +
    '(activities use clients, never the other way round).',
};

/** Mail, approval pages and policy, contracts: they speak in contracts, never in activity modules. */
const NO_ACTIVITY_MODULES = {
  regex: '^\\.{1,2}/(.*/)?activities(/|$)',
  caseSensitive: true,
  message:
    'src/mail, src/approvals and src/contracts import the contracts (src/contracts/), never activity modules: ' +
    'activities use them, not the other way round.',
};

// What orchestrators may import (replay-safe modules only). Values: durable-functions (types and RetryOptions),
// node:crypto, sibling orchestrator modules, contracts, profiles, approvals/plan. Types only: the activity catalogue
// (src/activities/index.ts, from which calls.ts derives the typed handles) and registry/types.
const ORCHESTRATOR_VALUE_IMPORTS = [
  'durable-functions',
  'node:crypto',
  '\\./[A-Za-z0-9_-]+',
  '\\.\\./contracts/[A-Za-z0-9_-]+',
  '\\.\\./profiles(/[A-Za-z0-9_-]+)?',
  '\\.\\./approvals/plan',
];
const ORCHESTRATOR_TYPE_IMPORTS = ['\\.\\./activities', '\\.\\./registry/types'];
const ORCHESTRATOR_ALLOWED =
  'durable-functions (types and RetryOptions), node:crypto, ./ (orchestrators), ../contracts/*, ../profiles, ' +
  '../approvals/plan; types only from ../activities (the catalogue) and ../registry/types';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.sandbox/**', '*.js', '*.cjs', '*.mjs', 'scripts/**'] },
  // The deployment package (`npm run package`): generated, bundled third-party code.
  { ignores: ['.package/**', '.package.map/**'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { project: './tsconfig.test.json', tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      eqeqeq: ['error', 'always'],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/return-await': ['error', 'in-try-catch'],
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    files: ['src/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [SRC_STAYS_IN_SRC] }],
    },
  },
  {
    // Replaces the src/** options for clients (flat config merges a rule's options by replacing them), so both apply.
    files: ['src/clients/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [SRC_STAYS_IN_SRC, CLIENTS_STAY_LOW] }],
    },
  },
  {
    files: ['src/mail/**/*.ts', 'src/approvals/**/*.ts', 'src/contracts/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [SRC_STAYS_IN_SRC, NO_ACTIVITY_MODULES] }],
    },
  },
  {
    // `import * as z from 'zod'` (zod's own docs), never `import { z }` or the default import: with the namespace
    // import the bundler keeps only the parts of zod the schemas use; the `z` re-export carries all of it (every
    // locale, JSON Schema conversion) into the deployment bundle and into every cold start's load
    // (https://github.com/colinhacks/zod/issues/4433, https://github.com/openai/openai-node/pull/1703).
    files: ['src/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector:
            "ImportDeclaration[source.value='zod'] > :matches(ImportSpecifier[imported.name='z'], ImportDefaultSpecifier)",
          message: "Import zod as a namespace: `import * as z from 'zod'` (the bundle then keeps only what is used).",
        },
      ],
    },
  },
  {
    // Orchestrators replay: no clocks, randomness or environment reads, and imports only from replay-safe modules
    // (docs/reference/durable-functions.md#deterministic-orchestrators). The typescript-eslint variant of
    // no-restricted-imports tells type imports from value imports; the core rule above still applies.
    files: ['src/orchestrators/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: `^(?!(${[...ORCHESTRATOR_VALUE_IMPORTS, ...ORCHESTRATOR_TYPE_IMPORTS].join('|')})$)`,
              caseSensitive: true,
              message: `Orchestrators import only: ${ORCHESTRATOR_ALLOWED}.`,
            },
            {
              regex: `^(${ORCHESTRATOR_TYPE_IMPORTS.join('|')})$`,
              caseSensitive: true,
              allowTypeImports: true,
              message: `Orchestrators may import only types from this module (${ORCHESTRATOR_ALLOWED}).`,
            },
          ],
        },
      ],
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: 'Use context.df.currentUtcDateTime in orchestrators.' },
        { object: 'Math', property: 'random', message: 'Use context.df.newGuid in orchestrators.' },
        {
          object: 'process',
          property: 'env',
          message: 'Orchestrators must not read settings; pass them in the input.',
        },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: "NewExpression[callee.name='Date'][arguments.length=0]",
          message: 'Use context.df.currentUtcDateTime.',
        },
        {
          selector: 'ImportExpression',
          message: 'Orchestrators import statically, and only replay-safe modules (no dynamic import()).',
        },
      ],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
);
