/** The modelled service latency of the stand-ins (sandbox/core/faults.ts): off by default, defaults, overrides. */
import { DEFAULT_LATENCY_MS, latencyFromEnv, ServiceLatency } from '../../sandbox/core/faults';

it('is off unless asked for', () => {
  expect(latencyFromEnv({})).toBeUndefined();
  expect(latencyFromEnv({ SANDBOX_LATENCY: 'off' })).toBeUndefined();
  const off = new ServiceLatency();
  expect(off.msFor('servicenow')).toBe(0);
  expect(off.get()).toEqual({});
});

it('has per-service defaults, overridable by environment variable or option, and can be switched while running', () => {
  expect(latencyFromEnv({ SANDBOX_LATENCY: 'on' })).toEqual(DEFAULT_LATENCY_MS);
  expect(latencyFromEnv({ SANDBOX_LATENCY: 'on', SANDBOX_LATENCY_SERVICENOW_MS: '400' })).toEqual({
    ...DEFAULT_LATENCY_MS,
    servicenow: 400,
  });
  expect(() => latencyFromEnv({ SANDBOX_LATENCY: 'on', SANDBOX_LATENCY_GRAPH_MS: '-1' })).toThrow(
    /SANDBOX_LATENCY_GRAPH_MS/,
  );
  const l = new ServiceLatency(true);
  expect([l.msFor('entra'), l.msFor('graph'), l.msFor('keyvault'), l.msFor('servicenow')]).toEqual([90, 120, 60, 250]);
  expect(l.msFor('control')).toBe(0);
  l.set({ keyvault: 5 });
  expect(l.msFor('keyvault')).toBe(5);
  expect(l.msFor('graph')).toBe(120);
  l.set(false);
  expect(l.msFor('graph')).toBe(0);
  expect(() => l.set({ graph: Number.NaN })).toThrow(/graph/);
});
