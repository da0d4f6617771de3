/**
 * Every registered profile through the same end-to-end path, against the sandbox and the local Functions host: the
 * HTTP API and emailed approval, the connectivity checks, a re-run that writes nothing, and (for a profile with client
 * secrets) a rotation during which no consumer the profile declares ever holds a secret that does not work.
 * `minimal-profile.ts` registers a test-only profile in one file, which proves a profile plugs in without other edits.
 */
import './minimal-profile';

import { getDeps } from '../../src/app/deps';
import { allProfiles } from '../../src/profiles';
import { findDue } from '../../src/rotation/sweep';
import type { IntegrationProfile } from '../../src/profiles/types';
import { api, productWrites, type IntegrationView } from '../e2e/api-driver';
import { approverOf, requestFor, runToEnd } from '../e2e/stack-driver';
import { decideFromEmail } from '../e2e/api-driver';
import {
  drive,
  provisionTracked,
  rotateNow,
  rotationStatus,
  startRotationHarness,
  type RotationHarness,
} from '../e2e/rotation-helpers';
import { minimalProfile } from './minimal-profile';

jest.setTimeout(180_000);

const profiles = allProfiles();
const instanceOf = (i: number) => `prof${String(i).padStart(4, '0')}`;
let h: RotationHarness;

beforeAll(async () => {
  h = await startRotationHarness(profiles.map((_, i) => instanceOf(i)));
});
afterAll(() => h?.close());

it('registers the shipped profiles and the test-only one, and GET /api/profiles lists each with its options', async () => {
  expect(profiles.map((p) => p.id)).toEqual(expect.arrayContaining(['m365-support-aad', minimalProfile.id]));
  const res = await api(h.stack, 'GET', '/api/profiles');
  expect(res.status).toBe(200);
  const listed = (res.json as { profiles: { id: string; status: string; options: unknown; manualSteps: unknown[] }[] })
    .profiles;
  expect(listed.map((p) => p.id).sort()).toEqual(profiles.map((p) => p.id).sort());
  expect(listed.find((p) => p.id === minimalProfile.id)).toMatchObject({
    status: 'live',
    options: { ipAllowlist: false, grantUsers: { roles: [] } },
    manualSteps: [],
  });
  expect(listed.find((p) => p.id === 'm365-support-aad')).toMatchObject({
    status: 'retired',
    options: { ipAllowlist: true, grantUsers: { roles: ['insights_user', 'administrator'] } },
  });
  expect((await api(h.stack, 'GET', '/api/profiles', { key: null })).status).toBe(401);
});

describe.each(profiles.map((p, i) => [p.id, p, instanceOf(i)] as const))('profile %s', (_id, profile, instance) => {
  const hasSecrets = (p: IntegrationProfile) => p.apps.some((a) => a.secretConsumers.length > 0);

  it('provisions through the API and the emailed approval, every check ok; a re-run writes nothing', async () => {
    const t = await provisionTracked(h, instance, profile);
    const view = (await api(h.stack, 'GET', `/api/integrations/${t.id}`)).json as IntegrationView;
    expect(view.outcome).toBe('active');
    expect(view.checks.length).toBe(profile.checks.length);
    expect(view.checks.filter((c) => !c.ok)).toEqual([]);
    expect(Object.keys(view.created.apps).sort()).toEqual(profile.apps.map((a) => a.role).sort());
    expect(Object.keys(view.created.serviceNow)).toEqual(
      expect.arrayContaining(profile.serviceNow.records.map((r) => r.key)),
    );

    const mark = h.stack.sandbox.journal.mark();
    const request = requestFor(h.stack, instance, profile.id === 'm365-support-aad' ? {} : { profile: profile.id });
    const re = await api(h.stack, 'POST', '/api/integrations?reprovision=true', { body: request });
    expect(re.status).toBe(202);
    const out = await runToEnd(h.stack, t.id);
    expect(out.outcome).toBe('active');
    expect(productWrites(h.stack, mark)).toEqual([]);
    expect(await t.probe.probe()).toEqual([]);
  });

  it('rotates every secret with no consumer outage; a profile without secrets has none in Key Vault', async () => {
    const t = [...h.tracked.values()].find((x) => x.instance === instance);
    if (!t) throw new Error(`no provisioned integration on ${instance}`);
    if (!hasSecrets(profile)) {
      // Nothing to rotate: no app of the integration has a Key Vault secret, and none exists under its names.
      const view = (await api(h.stack, 'GET', `/api/integrations/${t.id}`)).json as IntegrationView;
      expect(Object.values(view.created.apps).map((a) => a.secretName)).toEqual(profile.apps.map(() => ''));
      const ours: string[] = [];
      for await (const p of getDeps().secrets.listPropertiesOfSecrets())
        if (p.name.startsWith(t.id.toLowerCase()) || p.tags?.integrationId === t.id) ours.push(p.name);
      expect(ours).toEqual([]);
      // The daily sweep finds nothing due and no problem; an on-demand rotation answers that there is nothing.
      const swept = await findDue(getDeps(), new Date(h.stack.sandbox.clock.now() + 400 * 24 * 3600 * 1000));
      expect(swept.due.filter((d) => d.integrationId === t.id)).toEqual([]);
      expect(swept.problems.filter((p) => p.integrationId === t.id)).toEqual([]);
      const refused = await rotateNow(h.stack, t.id);
      expect(refused.status).toBe(409);
      expect(refused.text).toContain('has no credentials to rotate');
      return;
    }
    const started = await rotateNow(h.stack, t.id);
    expect(started.status).toBe(202);
    const end = await drive(h, t);
    expect(rotationStatus(end)?.outcome).toBe('rotated');
    expect(t.episodes.length).toBeGreaterThan(0);
    expect(t.episodes.flatMap((e) => e.failures)).toEqual([]);
    expect(await t.probe.probe()).toEqual([]);
  });
});

it('a replayed approval link changes nothing on an active integration', async () => {
  // A decision replayed on an active integration changes nothing (the round is closed).
  const t = [...h.tracked.values()][0];
  const res = await decideFromEmail(h.stack, approverOf(h.stack), t.id, 'reject').catch((e: Error) => ({
    status: 0,
    html: e.message,
  }));
  expect(res.status).not.toBe(500);
  const view = (await api(h.stack, 'GET', `/api/integrations/${t.id}`)).json as IntegrationView;
  expect(view.status).toBe('active');
});
