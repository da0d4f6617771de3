/**
 * `npm run bench:health --json` on a tiny run: the JSON line's shape, and the facts the figures rest on (every check
 * ended, nothing written to Graph, Key Vault or ServiceNow, the injected drift found). Never timing.
 */
import { healthJson, runHealthBench } from '../../bench/health';

jest.setTimeout(300_000);

it('prints one JSON object with the health figures of a run over 3 integrations', async () => {
  const figures = await runHealthBench({ n: 3, real: 2 });
  const line = JSON.parse(JSON.stringify(healthJson(figures))) as { health: Record<string, unknown> };
  expect(Object.keys(line)).toEqual(['health']);
  const h = line.health;
  expect(Object.keys(h).sort()).toEqual(
    [
      'integrations',
      'wallMs',
      'perSecond',
      'callsPerIntegration',
      'writes',
      'findings',
      'expectedFindings',
      'historyEventsPerCheck',
    ].sort(),
  );
  expect(h.integrations).toBe(3);
  for (const k of ['wallMs', 'perSecond', 'historyEventsPerCheck']) expect(typeof h[k]).toBe('number');
  expect(Object.keys(h.callsPerIntegration as object).sort()).toEqual(['entra', 'graph', 'keyvault', 'servicenow']);
  for (const v of Object.values(h.callsPerIntegration as Record<string, unknown>)) expect(typeof v).toBe('number');
  expect(h.writes).toBe(0);
  expect(h.expectedFindings).toBe(1);
  expect(h.findings).toBe(h.expectedFindings);
  expect(figures.checksNotCompleted).toBe(0);
});
