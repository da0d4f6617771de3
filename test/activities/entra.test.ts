import { COPILOT_FEDERATED_APP_ID } from '../../sandbox/directory';
import type { EnsureAppInput } from '../../src/contracts/provision';
import { ensureApp } from '../../src/activities/entra';
import { PRODUCT_TAG } from '../../src/activities/entra-graph';
import { uniqueNameFor } from '../../src/profiles/names';
import { startActivityEnv, type ActivityEnv } from '../helpers/activity-env';

let env: ActivityEnv;
const lines: string[] = [];
const log = { info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m) };

beforeAll(async () => {
  env = await startActivityEnv();
});
afterAll(async () => {
  await env?.close();
});
afterEach(() => env.sandbox.faults.clear());

function appInput(overrides: Partial<EnsureAppInput> = {}): EnsureAppInput {
  return {
    ...env.ref(),
    role: 'outbound',
    displayName: 'ServiceNow M365 Support - Outbound (contoso)',
    redirectUris: ['https://dev00000.service-now.com/auth_redirect.do'],
    ...overrides,
  };
}

const graphWrites = (since: number) => env.sandbox.journal.writes({ service: 'graph', since });

describe('uniqueNameFor', () => {
  it('is deterministic, lower-case and limited to letters, digits and dashes', () => {
    expect(uniqueNameFor('sn-Dev00000-ABC', 'restApi')).toBe('sn-dev00000-abc-restapi');
    expect(uniqueNameFor('a b', 'x')).toBe(uniqueNameFor('a b', 'x'));
    const long = uniqueNameFor('x'.repeat(300), 'outbound');
    expect(long.length).toBeLessThanOrEqual(120);
    expect(long).not.toBe(uniqueNameFor('x'.repeat(301), 'outbound'));
  });
});

describe('ensureApp', () => {
  it('creates a single-tenant app with redirect URIs, our tags and notes, and its service principal', async () => {
    const input = appInput();
    const out = await ensureApp(input, env.deps, log);
    if (!out.ok) throw new Error(out.failure.message);
    expect(out.created).toBe(true);
    expect(out.uniqueName).toBe(uniqueNameFor(input.integrationId, 'outbound'));
    const app = env.sandbox.directory.applications.get(out.objectId);
    expect(app).toMatchObject({
      appId: out.appId,
      uniqueName: out.uniqueName,
      displayName: input.displayName,
      signInAudience: 'AzureADMyOrg',
      web: { redirectUris: input.redirectUris },
    });
    expect(app?.tags).toEqual(
      expect.arrayContaining([
        PRODUCT_TAG,
        `integration:${input.integrationId}`,
        'role:outbound',
        `created-by-operation:${input.instanceId}`,
      ]),
    );
    expect(app?.notes).toContain(input.integrationId);
    // Our identity owns what it created (Application.ReadWrite.OwnedBy).
    expect(app?.owners).toEqual([env.sandbox.directory.functionIdentity.servicePrincipalId]);
    const sp = env.sandbox.directory.servicePrincipals.get(out.servicePrincipalId);
    expect(sp?.appId).toBe(out.appId);
  });

  it('writes nothing to Graph when run again, and still reports the app as created by this run', async () => {
    const input = appInput();
    const first = await ensureApp(input, env.deps, log);
    const mark = env.sandbox.journal.mark();
    const second = await ensureApp(input, env.deps, log);
    expect(graphWrites(mark)).toEqual([]);
    // The same app, reported as this run's; only the first call created it (Graph answered 201).
    expect(first).toMatchObject({ createdNow: true });
    expect(second).toEqual({ ...first, createdNow: undefined });
    expect(second.ok && second.created).toBe(true);
  });

  it('run twice concurrently leaves one application and one service principal', async () => {
    const input = appInput({ role: 'restApi' });
    const settled = await Promise.allSettled([ensureApp(input, env.deps, log), ensureApp(input, env.deps, log)]);
    // One of the two may meet the other's objects before they are readable: it throws a retriable error, and the
    // durable retry completes it.
    for (const s of settled)
      if (s.status === 'rejected') expect(s.reason).toMatchObject({ retriable: true });
      else expect(s.value.ok).toBe(true);
    const again = await ensureApp(input, env.deps, log);
    if (!again.ok) throw new Error(again.failure.message);
    const apps = [...env.sandbox.directory.applications.values()].filter(
      (x) => x.uniqueName === again.uniqueName && x.deletedAt === null,
    );
    expect(apps).toHaveLength(1);
    expect([...env.sandbox.directory.servicePrincipals.values()].filter((s) => s.appId === again.appId)).toHaveLength(
      1,
    );
  });

  it('brings drifted redirect URIs back with one PATCH and keeps foreign tags', async () => {
    const input = appInput();
    const first = await ensureApp(input, env.deps, log);
    if (!first.ok) throw new Error(first.failure.message);
    const app = env.sandbox.directory.applications.get(first.objectId);
    if (!app) throw new Error('app missing');
    app.web.redirectUris = ['https://evil.example/cb'];
    app.tags = [...app.tags, 'owner-team:itsm'];
    const mark = env.sandbox.journal.mark();
    const again = await ensureApp(input, env.deps, log);
    expect(again).toEqual({ ...first, createdNow: undefined });
    const writes = graphWrites(mark);
    expect(writes.map((w) => `${w.method} ${w.path}`)).toEqual([`PATCH /v1.0/applications/${first.objectId}`]);
    expect(app.web.redirectUris).toEqual(input.redirectUris);
    expect(app.tags).toContain('owner-team:itsm');
    expect(app.tags).toContain(`created-by-operation:${input.instanceId}`);
  });

  it('reports an app it found (not created by this run) as created: false', async () => {
    const input = appInput();
    const first = await ensureApp(input, env.deps, log);
    if (!first.ok) throw new Error(first.failure.message);
    const rerun = await ensureApp({ ...input, instanceId: 'provision-other-run' }, env.deps, log);
    expect(rerun.ok && rerun.created).toBe(false);
  });

  it('returns a failure naming the app when one with our uniqueName exists but is not ours (403)', async () => {
    const input = appInput();
    const uniqueName = uniqueNameFor(input.integrationId, input.role);
    const foreign = env.sandbox.directory.addApplication({ displayName: 'Someone else', uniqueName, createdAt: 0 });
    const mark = env.sandbox.journal.mark();
    const out = await ensureApp(input, env.deps, log);
    expect(out.ok).toBe(false);
    if (out.ok) return;
    expect(out.failure).toMatchObject({ service: 'graph', status: 403 });
    expect(out.failure.message).toContain(uniqueName);
    expect(out.failure.message).toContain('Application.ReadWrite.OwnedBy');
    expect(foreign.displayName).toBe('Someone else');
    expect(graphWrites(mark).filter((w) => w.status < 300)).toEqual([]);
  });

  it('throws (retriable) on a Graph 500 and on a network reset, so the orchestrator retries', async () => {
    env.sandbox.faults.add({ service: 'graph', method: 'PATCH', action: { type: 'status', status: 500 }, times: 1 });
    await expect(ensureApp(appInput(), env.deps, log)).rejects.toMatchObject({ retriable: true, status: 500 });
    env.sandbox.faults.add({ service: 'graph', method: 'GET', action: { type: 'reset' }, times: 1 });
    await expect(ensureApp(appInput(), env.deps, log)).rejects.toMatchObject({ retriable: true });
  });

  it('returns a failure for a 400 validation error', async () => {
    const out = await ensureApp(appInput({ displayName: '' }), env.deps, log);
    expect(out).toMatchObject({ ok: false, failure: { service: 'graph', status: 400 } });
  });
});

describe('ensureApp for an existing service principal (a first-party app)', () => {
  const existing = {
    appId: COPILOT_FEDERATED_APP_ID,
    missing: 'Open the connector gallery, start and cancel the wizard, retry.',
  };

  it('finds it by appId and writes nothing: no application, no service principal, nothing to compensate', async () => {
    const mark = env.sandbox.journal.mark();
    const apps = env.sandbox.directory.applications.size;
    const input = appInput({ role: 'copilot', redirectUris: [], existing });
    const r = await ensureApp(input, env.deps, log);
    expect(r).toEqual({
      ok: true,
      role: 'copilot',
      appId: COPILOT_FEDERATED_APP_ID,
      objectId: '',
      servicePrincipalId: env.sandbox.directory.spByAppId(COPILOT_FEDERATED_APP_ID)?.id,
      uniqueName: uniqueNameFor(input.integrationId, 'copilot'),
      created: false,
      existing: true,
    });
    expect(graphWrites(mark)).toEqual([]);
    expect(env.sandbox.directory.applications.size).toBe(apps);
  });

  it('missing, fails without retrying and names the hand-off; creates nothing', async () => {
    const sp = env.sandbox.directory.spByAppId(COPILOT_FEDERATED_APP_ID);
    if (!sp) throw new Error('the sandbox did not seed the first-party service principal');
    sp.deletedAt = env.sandbox.clock.now();
    try {
      const mark = env.sandbox.journal.mark();
      const r = await ensureApp(appInput({ role: 'copilot', redirectUris: [], existing }), env.deps, log);
      expect(r).toMatchObject({
        ok: false,
        failure: {
          code: 'ServicePrincipalMissing',
          message: expect.stringContaining(`no service principal for app ${COPILOT_FEDERATED_APP_ID}`),
        },
      });
      expect(JSON.stringify(r)).toContain(existing.missing);
      expect(graphWrites(mark)).toEqual([]);
      expect(env.sandbox.directory.spByAppId(COPILOT_FEDERATED_APP_ID)).toBeUndefined();
    } finally {
      sp.deletedAt = null;
    }
  });
});
