/**
 * Runs the compiled demo as a child process (`node scripts/with-sandbox-ca.cjs node dist/demo/demo.js <args>`), after
 * building dist when it is missing or older than the sources (as test/sandbox/cli.test.ts does).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(__dirname, '..', '..');
const demo = join(root, 'dist', 'demo', 'demo.js');

/** Newest modification time of the TypeScript sources the build compiles. */
function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/** Builds dist when the demo is missing or older than src, sandbox or demo. */
export function buildDemoIfStale(): void {
  const sources = Math.max(...['src', 'sandbox', 'demo'].map((d) => newestSource(join(root, d))));
  if (existsSync(demo) && statSync(demo).mtimeMs >= sources) return;
  try {
    execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], {
      cwd: root,
      stdio: 'pipe',
    });
  } catch (err) {
    // tsc exits non-zero on a type error but still emits (no noEmitOnError); only a missing demo is fatal here.
    if (!existsSync(demo)) throw err;
  }
}

export function runDemo(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, reject) => {
    const child = spawn(
      process.execPath,
      [join(root, 'scripts', 'with-sandbox-ca.cjs'), process.execPath, demo, ...args],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', reject);
    child.once('exit', (code) => done({ code, stdout, stderr }));
  });
}
