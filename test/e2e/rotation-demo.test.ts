/**
 * `npm run demo -- --rotate --json` exits 0 with three rotations and consumerOutage 0. The
 * compiled demo runs as a child process (`node scripts/with-sandbox-ca.cjs node dist/demo/demo.js --rotate --json`),
 * after building dist when it is missing or older than the sources (as test/sandbox/cli.test.ts does).
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

function run(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, reject) => {
    const child = spawn(
      process.execPath,
      [join(root, 'scripts', 'with-sandbox-ca.cjs'), process.execPath, demo, '--rotate', '--json'],
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

// Generous: it builds dist when stale and runs a whole rotation in a child process, on a machine that may be busy.
jest.setTimeout(360_000);

describe('npm run demo -- --rotate --json', () => {
  beforeAll(() => {
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
  });

  it('exits 0 with three rotations, every old credential removed, and consumerOutage 0', async () => {
    const { code, stdout, stderr } = await run();
    expect({ code, stderrTail: code === 0 ? '' : stderr.slice(-2000) }).toEqual({ code: 0, stderrTail: '' });
    const last = stdout.trim().split('\n').at(-1) ?? '';
    const summary = JSON.parse(last) as {
      rotated: { role: string; oldKeyId: string; newKeyId: string; oldRemoved: boolean }[];
      consumerOutage: number;
    };
    expect(summary.consumerOutage).toBe(0);
    expect(summary.rotated.map((r) => r.role)).toEqual(['outbound', 'restApi', 'restUser']);
    for (const r of summary.rotated) {
      expect(r.oldKeyId).toMatch(/^[0-9a-f-]{36}$/);
      expect(r.newKeyId).toMatch(/^[0-9a-f-]{36}$/);
      expect(r.newKeyId).not.toBe(r.oldKeyId);
      expect(r.oldRemoved).toBe(true);
    }
    expect(Object.keys(summary).sort()).toEqual(['consumerOutage', 'profile', 'rotated']);
  });
});
