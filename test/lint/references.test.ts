/**
 * Comments and docs cite what a reader can open: public pages (Microsoft Learn, ServiceNow docs, RFCs written as
 * "section N", GitHub issue URLs) or our own docs/reference/*.md, never private notes, their section signs or
 * internal issue numbers. This is the check
 *   grep -rnE "§|lessons-from-peers|shared/reference|microsoft-apis\.md|servicenow-api\.md|seed-procedure|issue [0-9]|\.\./shared" src sandbox README.md docs
 * run over the files git knows there (tracked, plus new files not ignored).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const SCOPE = ['src', 'sandbox', 'README.md', 'docs'];
const FORBIDDEN =
  /§|lessons-from-peers|shared\/reference|microsoft-apis\.md|servicenow-api\.md|seed-procedure|issue [0-9]|\.\.\/shared/;

function filesInScope(): string[] {
  const out = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z', '--', ...SCOPE], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  return [...new Set(out.split('\0').filter(Boolean))].filter((f) => existsSync(path.join(ROOT, f)));
}

describe('references in comments and docs', () => {
  const files = filesInScope();

  it('scans the source, sandbox and documentation files', () => {
    expect(files).toEqual(expect.arrayContaining(['README.md', 'src/functions/index.ts', 'sandbox/cli.ts']));
  });

  it('cite nothing a reader cannot open', () => {
    const hits: string[] = [];
    for (const file of files) {
      const text = readFileSync(path.join(ROOT, file), 'utf8');
      if (text.includes('\0')) continue; // binary
      text.split('\n').forEach((line, i) => {
        if (FORBIDDEN.test(line)) hits.push(`${file}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(hits).toEqual([]);
  });

  it('the pattern catches what it is meant to catch', () => {
    for (const sample of [
      '(microsoft-apis.md §4.3)',
      'see lessons-from-peers 1.1',
      '../shared/reference/seed-procedure.md',
      'servicenow-api.md',
      'the rotation sweep (issue 5)',
    ])
      expect([sample, FORBIDDEN.test(sample)]).toEqual([sample, true]);
    for (const sample of [
      'RFC 9110 section 10.2.3',
      'https://github.com/Azure/azure-functions-durable-js/issues/524',
      'docs/reference/microsoft.md#replication-delays',
    ])
      expect([sample, FORBIDDEN.test(sample)]).toEqual([sample, false]);
  });
});
