import type { AppResult, EnsureAppInput } from '../../src/contracts/provision';
import { ensureApp } from '../../src/activities/entra';
import { ensureAppSecret } from '../../src/activities/secrets';
import { startActivityEnv, type ActivityEnv } from '../helpers/activity-env';

const DELAY_MS = 5000;
let env: ActivityEnv;
const log = { info: () => undefined, warn: () => undefined };

beforeAll(async () => {
  env = await startActivityEnv({ graph: { replicationDelayMs: DELAY_MS } });
});
afterAll(async () => {
  await env?.close();
});

describe('Entra activities under Graph replication delay', () => {
  it('ensureApp throws a retriable error until the new app has replicated, then succeeds with created: true', async () => {
    const input: EnsureAppInput = { ...env.ref(), role: 'restUser', displayName: 'Rest User', redirectUris: [] };
    // Created, but its service principal cannot be created yet (400 NoBackingApplicationObject).
    await expect(ensureApp(input, env.deps, log)).rejects.toMatchObject({
      retriable: true,
      status: 400,
      code: 'NoBackingApplicationObject',
    });
    // The retry cannot read the app yet: the upsert answers 204 instead of 201.
    await expect(ensureApp(input, env.deps, log)).rejects.toMatchObject({
      retriable: true,
      code: 'ReplicationPending',
    });
    env.sandbox.clock.advance(DELAY_MS);
    const out = await ensureApp(input, env.deps, log);
    if (!out.ok) throw new Error(out.failure.message);
    expect(out.created).toBe(true);
    const apps = [...env.sandbox.directory.applications.values()].filter((a) => a.uniqueName === out.uniqueName);
    expect(apps).toHaveLength(1);
  });

  it('ensureAppSecret throws a retriable 404 while the app is not readable, then succeeds', async () => {
    const ref = env.ref();
    const input: EnsureAppInput = { ...ref, role: 'restApi', displayName: 'Rest API', redirectUris: [] };
    await expect(ensureApp(input, env.deps, log)).rejects.toMatchObject({ retriable: true });
    const app = [...env.sandbox.directory.applications.values()].find(
      (a) => a.displayName === 'Rest API' && a.tags.includes(`integration:${ref.integrationId}`),
    );
    if (!app) throw new Error('app not created');
    const secretInput = {
      ...ref,
      role: 'restApi',
      appObjectId: app.id,
      appId: app.appId,
      secretName: `${ref.integrationId}-restApi`,
      lifetimeDays: 30,
      operation: 'provision',
    };
    await expect(ensureAppSecret(secretInput, env.deps, log)).rejects.toMatchObject({
      retriable: true,
      status: 404,
      service: 'graph',
    });
    expect(app.passwordCredentials).toHaveLength(0);
    env.sandbox.clock.advance(DELAY_MS);
    const appOut = (await ensureApp(input, env.deps, log)) as AppResult & { ok: true };
    expect(appOut.objectId).toBe(app.id);
    const out = await ensureAppSecret(secretInput, env.deps, log);
    expect(out).toMatchObject({ ok: true, created: true });
    expect(app.passwordCredentials).toHaveLength(1);
  });
});
