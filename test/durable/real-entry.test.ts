import path from 'node:path';

import fs from 'node:fs';

import { activities } from '../../src/activities';
import { TRIGGERS } from '../../src/functions/triggers';
import { DEFAULTS } from '../../src/config';
import { loadFunctionApp } from '../../sandbox/host/registry';
import { parseRoute } from '../../sandbox/host/routes';
import { buildPackageOnce, loadBundledFunctionApp, type LoadedEntry } from '../helpers/bundled-entry';

// The Functions host resolves %SETTING% bindings from app settings when it loads the app; so does the local loader.
process.env.ROTATION_SCHEDULE ??= DEFAULTS.ROTATION_SCHEDULE;
process.env.ALERT_SCHEDULE ??= DEFAULTS.ALERT_SCHEDULE;
process.env.HEALTH_SCHEDULE ??= DEFAULTS.HEALTH_SCHEDULE;

describe('real entry module (src/functions/index.ts)', () =>
  entryModuleAssertions(() => {
    const startupLog: string[] = [];
    const spy = jest.spyOn(console, 'error').mockImplementation((...args: unknown[]) => {
      startupLog.push(args.map(String).join(' '));
    });
    try {
      return { registry: loadFunctionApp(path.join(__dirname, '../../src/functions/index.ts')), startupLog };
    } finally {
      spy.mockRestore();
    }
  }));

// The deployment package (`npm run package`) carries its own copy of every module: the same registrations must come
// out of it, as the Functions host sees them (test/helpers/bundled-entry.ts).
describe('deployment bundle (npm run package), loaded in a fresh process as the Functions host loads it', () =>
  entryModuleAssertions(() => loadBundledFunctionApp(buildPackageOnce())));

function entryModuleAssertions(load: () => LoadedEntry): void {
  // Loaded without the app settings (only ROTATION_SCHEDULE): the entry module checks them once, as it loads.
  const { registry, startupLog } = load();
  const byName = (name: string) => registry.functions.find((f) => f.name === name);

  it('checks the settings as it loads: logs the problems once by name, and still registers every function', () => {
    expect(startupLog).toHaveLength(1);
    expect(startupLog[0]).toMatch(/refuses to serve: invalid configuration/);
    for (const name of ['KEY_VAULT_URL', 'MAIL_SENDER', 'AZURE_TENANT_ID', 'TASKHUB_NAME'])
      expect(startupLog[0]).toContain(`${name}: is required`);
    expect(byName('startIntegration')?.kind).toBe('http');
  });

  it('loads through the local host loader and calls app.setup', () => {
    expect(registry.setupOptions).toEqual({ enableHttpStream: false });
  });

  it('registers only well-formed functions the local host can serve', () => {
    for (const f of registry.functions) {
      if (f.name === 'secretNearExpiry') continue; // Event Grid: Azure delivers it; the local host cannot
      expect(f.kind).not.toBe('other');
      if (f.kind === 'http') expect(() => parseRoute(f.route)).not.toThrow();
      if (f.kind === 'timer') expect(f.schedule.trim().split(/\s+/)).toHaveLength(6);
    }
    const names = registry.functions.map((f) => f.name.toLowerCase());
    expect(new Set(names).size).toBe(names.length);
  });

  it('registers both orchestrators and every activity they call', () => {
    expect(byName('provisionIntegration')?.kind).toBe('orchestration');
    expect(byName('rotateCredentials')?.kind).toBe('orchestration');
    expect(byName('decommissionIntegration')?.kind).toBe('orchestration');
    expect(byName('checkIntegrationHealth')?.kind).toBe('orchestration');
    // Exactly the catalogue's activities are registered, each under its key.
    const registered = registry.functions.filter((f) => f.kind === 'activity').map((f) => f.name);
    expect(registered.sort()).toEqual(Object.keys(activities).sort());
    // Every activity an orchestrator calls (`activities.<name>` in its source) is registered.
    const dir = path.join(__dirname, '../../src/orchestrators');
    const called = fs
      .readdirSync(dir)
      .flatMap((f) =>
        [...fs.readFileSync(path.join(dir, f), 'utf8').matchAll(/\bactivities\.([a-z][A-Za-z]{2,})\b/g)].map(
          (m) => m[1],
        ),
      );
    expect(called.length).toBeGreaterThan(10);
    for (const name of new Set(called)) expect([name, byName(name)?.kind]).toEqual([name, 'activity']);
  });

  it('registers every trigger of TRIGGERS with its binding (none can be left out of the entry module)', () => {
    for (const [name, t] of Object.entries(TRIGGERS)) {
      const f = registry.functions.find((x) => x.name === name) as Record<string, unknown> | undefined;
      const seen =
        f === undefined
          ? 'missing'
          : t.kind === 'http'
            ? { route: f.route, methods: [...(f.methods as string[])].sort(), authLevel: f.authLevel }
            : f.kind === 'timer'
              ? { kind: 'timer' }
              : { kind: f.kind, triggerType: f.triggerType };
      // The local host routes HTTP and timer triggers; an Event Grid trigger is registered as `other` with its type.
      const want =
        t.kind === 'http'
          ? { route: t.route, methods: [...t.methods].sort(), authLevel: t.authLevel }
          : t.kind === 'timer'
            ? { kind: 'timer' }
            : { kind: 'other', triggerType: 'eventGrid' };
      expect([name, seen]).toEqual([name, want]);
    }
  });

  it('serves the HTTP API at the documented routes, methods and auth levels', () => {
    const http = (name: string) => {
      const f = byName(name);
      return f?.kind === 'http' ? { route: f.route, methods: [...f.methods].sort(), authLevel: f.authLevel } : f?.kind;
    };
    expect(http('startIntegration')).toEqual({ route: 'integrations', methods: ['POST'], authLevel: 'function' });
    expect(http('listIntegrations')).toEqual({ route: 'integrations', methods: ['GET'], authLevel: 'function' });
    expect(http('getIntegration')).toEqual({ route: 'integrations/{id}', methods: ['GET'], authLevel: 'function' });
    expect(http('getAudit')).toEqual({ route: 'integrations/{id}/audit', methods: ['GET'], authLevel: 'function' });
    expect(http('deleteIntegration')).toEqual({
      route: 'integrations/{id}',
      methods: ['DELETE'],
      authLevel: 'function',
    });
    expect(http('listProfiles')).toEqual({ route: 'profiles', methods: ['GET'], authLevel: 'function' });
    expect(http('listCredentials')).toEqual({ route: 'credentials', methods: ['GET'], authLevel: 'function' });
    expect(http('serviceNowBootstrap')).toEqual({
      route: 'servicenow/bootstrap',
      methods: ['GET'],
      authLevel: 'function',
    });
    expect(http('serviceNowTrust')).toEqual({
      route: 'servicenow/instances/{name}/trust',
      methods: ['GET'],
      authLevel: 'function',
    });
    expect(http('openApiDocument')).toEqual({ route: 'openapi.json', methods: ['GET'], authLevel: 'function' });
    expect(http('rotateIntegration')).toEqual({
      route: 'integrations/{id}/rotate',
      methods: ['POST'],
      authLevel: 'function',
    });
    // The operator dashboard: one function (one function key) for the overview and every detail page.
    expect(http('dashboard')).toEqual({ route: 'dashboard/{*path}', methods: ['GET'], authLevel: 'function' });
    expect(http('checkHealth')).toEqual({
      route: 'integrations/{id}/health',
      methods: ['POST'],
      authLevel: 'function',
    });
    expect(http('getHealthCheck')).toEqual({
      route: 'integrations/{id}/health/{instanceId}',
      methods: ['GET'],
      authLevel: 'function',
    });
    // The approval pages are anonymous at the Functions level: the single-use token protects them.
    expect(http('approvalPage')).toEqual({
      route: 'approvals/{instanceId}',
      methods: ['GET', 'HEAD'],
      authLevel: 'anonymous',
    });
    expect(http('approvalDecision')).toEqual({
      route: 'approvals/{instanceId}',
      methods: ['POST'],
      authLevel: 'anonymous',
    });
  });

  it('runs the rotation sweep on the ROTATION_SCHEDULE setting', () => {
    const sweep = byName('rotationSweep');
    expect(sweep?.kind === 'timer' ? sweep.schedule : sweep?.kind).toBe(process.env.ROTATION_SCHEDULE);
  });

  it('runs the alert sweep on the ALERT_SCHEDULE setting (hourly by default)', () => {
    const sweep = byName('alertSweep');
    expect(TRIGGERS.alertSweep).toEqual({ kind: 'timer', schedule: '%ALERT_SCHEDULE%' });
    expect(sweep?.kind === 'timer' ? sweep.schedule : sweep?.kind).toBe(process.env.ALERT_SCHEDULE);
    expect(DEFAULTS.ALERT_SCHEDULE).toBe('0 0 * * * *');
  });

  it('runs the health sweep on the HEALTH_SCHEDULE setting', () => {
    const sweep = byName('healthSweep');
    expect(sweep?.kind === 'timer' ? sweep.schedule : sweep?.kind).toBe(process.env.HEALTH_SCHEDULE);
  });
}
