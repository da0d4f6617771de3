/** `npm run demo -- --rotate --json` exits 0 with three rotations and consumerOutage 0 (the compiled demo, as a child). */
import { buildDemoIfStale, runDemo } from './demo-runner';

// Generous: it builds dist when stale and runs a whole rotation in a child process, on a machine that may be busy.
jest.setTimeout(360_000);

describe('npm run demo -- --rotate --json', () => {
  beforeAll(buildDemoIfStale);

  it('exits 0 with three rotations, every old credential removed, and consumerOutage 0', async () => {
    const { code, stdout, stderr } = await runDemo(['--rotate', '--json']);
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
