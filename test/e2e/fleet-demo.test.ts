/**
 * `npm run demo -- --fleet --json` exits 0: three integrations, the injected drift found, drift and expiry alerts sent
 * by email and the Teams webhook, a "resolved" alert after the repair, and the dashboard artefact written.
 */
import { existsSync } from 'node:fs';

import { buildDemoIfStale, runDemo } from './demo-runner';

// Generous: it builds dist when stale and provisions three integrations in a child process on a busy machine.
jest.setTimeout(360_000);

describe('npm run demo -- --fleet --json', () => {
  beforeAll(buildDemoIfStale);

  it('finds the drift, alerts once per condition and channel, resolves after repair, renders the dashboard', async () => {
    const { code, stdout, stderr } = await runDemo(['--fleet', '--json']);
    expect({ code, stderrTail: code === 0 ? '' : stderr.slice(-2000) }).toEqual({ code: 0, stderrTail: '' });
    const summary = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as {
      integrations: number;
      findings: number;
      alerts: { channel: string; state: string; kind: string; integrationId: string }[];
      afterRepair: { channel: string; state: string; kind: string }[];
      dashboard: string;
      auditEvents: number;
    };
    expect(summary.integrations).toBe(3);
    // The hand-added secret, the edited record, and the inbound check that the edit broke.
    expect(summary.findings).toBe(3);
    const kinds = (channel: RegExp) =>
      summary.alerts
        .filter((a) => channel.test(a.channel))
        .map((a) => `${a.state} ${a.kind}`)
        .sort();
    // Once per condition per channel: restApi and restUser expiring, the drift, the failing check.
    expect(kinds(/^teams$/)).toEqual([
      'raised check-failed',
      'raised credential-expiring',
      'raised credential-expiring',
      'raised drift',
    ]);
    expect(kinds(/^email approver@/)).toEqual(kinds(/^teams$/));
    expect(new Set(summary.alerts.map((a) => a.integrationId)).size).toBe(1);
    // The repair puts the record back, so the failing check clears; the hand-added secret stays (reported only).
    expect(summary.afterRepair.filter((a) => a.channel === 'teams')).toEqual([
      { channel: 'teams', state: 'resolved', kind: 'check-failed', integrationId: summary.alerts[0].integrationId },
    ]);
    expect(existsSync(summary.dashboard)).toBe(true);
    expect(summary.auditEvents).toBeGreaterThan(10);
    expect(stdout + stderr).not.toMatch(/client_secret=|code=[A-Za-z0-9_-]{20}/);
  });
});
