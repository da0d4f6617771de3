/**
 * `npm run demo -- --credential certificate --rotate --json` exits 0: the seed profile provisioned with a certificate
 * for its Outbound app, then every credential rotated by the sweep (the certificate beside the two client secrets),
 * each entry of `rotated` saying its kind, and consumerOutage 0 (the compiled demo, as a child).
 */
import { buildDemoIfStale, runDemo } from './demo-runner';

jest.setTimeout(420_000);

describe('npm run demo -- --credential certificate --rotate --json', () => {
  beforeAll(buildDemoIfStale);

  it('exits 0; the certificate and both secrets rotated, each with its kind; consumerOutage 0', async () => {
    const { code, stdout, stderr } = await runDemo(['--credential', 'certificate', '--rotate', '--json']);
    expect({ code, stderrTail: code === 0 ? '' : stderr.slice(-3000) }).toEqual({ code: 0, stderrTail: '' });
    const summary = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as {
      rotated: { role: string; kind: string; oldKeyId: string; newKeyId: string; oldRemoved: boolean }[];
      consumerOutage: number;
    };
    expect(summary.consumerOutage).toBe(0);
    expect(summary.rotated.map((r) => [r.role, r.kind])).toEqual([
      ['outbound', 'certificate'],
      ['restApi', 'secret'],
      ['restUser', 'secret'],
    ]);
    for (const r of summary.rotated) {
      expect(['secret', 'certificate']).toContain(r.kind);
      expect(r.oldKeyId).toMatch(/^[0-9a-f-]{36}$/);
      expect(r.newKeyId).toMatch(/^[0-9a-f-]{36}$/);
      expect(r.newKeyId).not.toBe(r.oldKeyId);
      expect(r.oldRemoved).toBe(true);
    }
  });

  it('refuses an unknown credential kind with exit code 2', async () => {
    const { code, stderr } = await runDemo(['--credential', 'password', '--json']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/--credential must be one of: secret, certificate, federated/);
  });
});
