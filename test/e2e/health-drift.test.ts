/**
 * The daily health and drift check end to end (local host, real DurableClient, the sandbox stand-ins): an untouched
 * integration has no findings and the check writes nothing to Graph, Key Vault or ServiceNow; each kind of drift
 * injected in the stand-ins (a record column edited, a record deactivated, a record deleted, a role grant removed, a
 * role added to the integration's user, a client secret added to our app through Graph, the Key Vault version in use
 * disabled) is found, recorded `drift-found` exactly once across two daily checks; `?repair=true` puts records and
 * grants back through a re-provisioning run and the check after it records them cleared, while a second integration
 * on the same ServiceNow instance is left untouched.
 */
import type { LocalStack } from '../../sandbox/stack';
import { getDeps } from '../../src/app/deps';
import { encodedQuery } from '../../src/clients/servicenow';
import { entraIdSpoke } from '../../src/profiles/entra-id-spoke';
import { productWrites } from './api-driver';
import {
  auditOf,
  checkNow,
  dailySweep,
  nextDay,
  provisionActive,
  runInstance,
  subjectCounts,
  subjects,
} from './health-helpers';
import { api, requestFor, startStackFor, view } from './stack-driver';

jest.setTimeout(300_000);

const SHARED = 'hd-shared';
const CLEAN = 'hd-clean';

interface Created {
  apps: Record<string, { appId: string; objectId: string; secretName: string; secretVersion?: string }>;
  serviceNow: Record<string, string>;
}
const createdOf = async (stack: LocalStack, id: string): Promise<Created> =>
  ((await view(stack, id)) as unknown as { created: Created }).created;
const row = (stack: LocalStack, instance: string, table: string, sysId: string) =>
  stack.sandbox.servicenow.records(instance, table).find((r) => r.values.sys_id === sysId)?.values;

describe('health and drift check', () => {
  let stack: LocalStack;
  let a: string; // m365 integration on SHARED: drifted, then repaired
  let b: string; // spoke integration on the same instance: never touched
  let c: string; // m365 integration on CLEAN: its Key Vault version gets disabled
  let aCreated: Created;
  let addedKeyId: string;
  let addedFicId = '';
  let grantKey: string;

  beforeAll(async () => {
    stack = await startStackFor(['dev00000', SHARED, CLEAN], { settings: { CHECK_RETRY_SECONDS: '1' } });
    a = await provisionActive(stack, requestFor(stack, SHARED));
    b = await provisionActive(
      stack,
      requestFor(stack, SHARED, { profile: entraIdSpoke.id, options: { testEnvironment: true } }),
    );
    c = await provisionActive(stack, requestFor(stack, CLEAN));
    aCreated = await createdOf(stack, a);
    grantKey = Object.keys(aCreated.serviceNow).find((k) => k.startsWith('grant:')) ?? '';
    expect(grantKey).toBe(`grant:${aCreated.apps.restUser.appId}:incident_manager`);
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('finds nothing on untouched integrations and writes nothing to Graph, Key Vault or ServiceNow', async () => {
    const mark = stack.sandbox.journal.mark();
    const results = await dailySweep(stack, [a, b, c]);
    for (const id of [a, b, c]) {
      expect([id, results[id].findings]).toEqual([id, []]);
      expect(results[id].ok).toBe(true);
    }
    expect(productWrites(stack, mark)).toEqual([]);
    const health = (await view(stack, a)) as unknown as {
      health: { ok: boolean; lastGoodAt?: string; checkedAt: string };
    };
    expect(health.health.ok).toBe(true);
    expect(health.health.lastGoodAt).toBe(health.health.checkedAt);
    const kinds = (await auditOf(a)).map((e) => e.kind);
    expect(kinds.filter((k) => k === 'health-checked')).toHaveLength(1);
    expect(kinds).not.toContain('drift-found');
  });

  it('finds each drift once across two daily checks; the other integration on the instance stays clean', async () => {
    const sn = getDeps().serviceNow(SHARED);
    const s = aCreated.serviceNow;
    // A column edited, a record deactivated, a record deleted, a role grant removed, a role added by hand.
    await sn.patch('oidc_provider_configuration', s.oidcProvider, { user_claim: 'sub' });
    await sn.patch('oauth_entity', s.outboundProvider, { active: 'false' });
    await sn.remove('oauth_entity_profile', s.outboundProfile);
    await sn.remove('sys_user_has_role', s[grantKey]);
    const itil = (
      await sn.list('sys_user_role', { query: encodedQuery().eq('name', 'itil'), fields: ['sys_id', 'name'] })
    ).find((r) => r.name === 'itil');
    await sn.insert('sys_user_has_role', { user: s.integrationUser, role: String(itil?.sys_id) });
    // A client secret added to our app by someone else, through Graph.
    const added = (await getDeps()
      .graph.api(`/applications/${aCreated.apps.outbound.objectId}/addPassword`)
      .post({ passwordCredential: { displayName: 'added by hand' } })) as { keyId: string };
    addedKeyId = added.keyId.toLowerCase();
    // A federated identity credential added to our app by someone else: another issuer's tokens act as the app.
    const fic = (await getDeps()
      .graph.api(`/applications/${aCreated.apps.outbound.objectId}/federatedIdentityCredentials`)
      .post({
        name: 'added-by-hand',
        issuer: 'https://token.actions.githubusercontent.com',
        subject: 'repo:someone/else:ref:refs/heads/main',
        audiences: ['api://AzureADTokenExchange'],
      })) as { id: string };
    addedFicId = fic.id.toLowerCase();

    const user = aCreated.apps.restUser.appId;
    const expected = [
      'record:oidcProvider:user_claim',
      'record:outboundProvider:active',
      'record:outboundProfile',
      `grant:${user}:incident_manager`,
      `grant-added:${user}:itil`,
      `credential:outbound:${addedKeyId}`,
      `credential:outbound:federated:${addedFicId}`,
    ];
    nextDay(stack);
    const day1 = await dailySweep(stack, [a, b, c]);
    expect(subjects(day1[a].findings)).toEqual(expect.arrayContaining(expected));
    expect(day1[a].ok).toBe(false);
    expect(day1[b].findings).toEqual([]);
    expect(day1[c].findings).toEqual([]);
    const byKind = Object.fromEntries(day1[a].findings.map((f) => [f.subject, f]));
    expect(byKind['record:oidcProvider:user_claim']).toMatchObject({ kind: 'record-drift', repairable: true });
    expect(byKind['record:outboundProfile']).toMatchObject({ kind: 'record-missing', repairable: true });
    expect(byKind[`grant:${user}:incident_manager`]).toMatchObject({ kind: 'grant-removed', repairable: true });
    expect(byKind[`grant-added:${user}:itil`]).toMatchObject({ kind: 'grant-added', repairable: false });
    expect(byKind[`credential:outbound:${addedKeyId}`]).toMatchObject({
      kind: 'unknown-credential',
      repairable: false,
    });

    nextDay(stack);
    const mark = stack.sandbox.journal.mark();
    const day2 = await dailySweep(stack, [a, b, c]);
    expect(productWrites(stack, mark)).toEqual([]);
    expect(subjects(day2[a].findings)).toEqual(subjects(day1[a].findings));
    expect(day2[a].found).toEqual([]);
    const found = await subjectCounts(a, 'drift-found');
    for (const subject of subjects(day1[a].findings)) expect([subject, found[subject]]).toEqual([subject, 1]);
    expect(Object.keys(found).sort()).toEqual(subjects(day1[a].findings));
    expect(await subjectCounts(b, 'drift-found')).toEqual({});
    const health = (await view(stack, a)) as unknown as {
      health: { ok: boolean; lastGoodAt?: string; checkedAt: string };
    };
    expect(health.health.ok).toBe(false);
    expect(Date.parse(health.health.lastGoodAt ?? '')).toBeLessThan(Date.parse(health.health.checkedAt));
  });

  it('repairs records and grants through re-provisioning, leaves the rest reported and the neighbour untouched', async () => {
    const bCreated = await createdOf(stack, b);
    const bRows = Object.entries(bCreated.serviceNow).map(([key, sysId]) => [
      key,
      ...[
        'oauth_entity',
        'oauth_entity_profile',
        'sys_alias',
        'http_connection',
        'oauth_credential',
        'sys_user_has_role',
      ]
        .map((t) => row(stack, SHARED, t, sysId))
        .filter(Boolean),
    ]);
    const bIds = [...Object.values(bCreated.serviceNow), ...Object.values(bCreated.apps).map((x) => x.objectId)];
    const mark = stack.sandbox.journal.mark();

    const result = await checkNow(stack, a, true);
    expect(result.repair?.outcome).toBe('active');
    const user = aCreated.apps.restUser.appId;
    expect(subjects(result.findings)).toEqual(
      [
        `credential:outbound:${addedKeyId}`,
        `credential:outbound:federated:${addedFicId}`,
        `grant-added:${user}:itil`,
      ].sort(),
    );
    const cleared = await subjectCounts(a, 'drift-cleared');
    for (const subject of [
      'record:oidcProvider:user_claim',
      'record:outboundProvider:active',
      'record:outboundProfile',
      `grant:${user}:incident_manager`,
    ])
      expect([subject, cleared[subject]]).toEqual([subject, 1]);
    expect((await auditOf(a)).filter((e) => e.kind === 'repaired')).toHaveLength(1);

    // Put back in ServiceNow: the edited column and the deactivated record; the deleted record and grant recreated.
    const now = await createdOf(stack, a);
    expect(row(stack, SHARED, 'oidc_provider_configuration', now.serviceNow.oidcProvider)?.user_claim).toBe('appid');
    expect(row(stack, SHARED, 'oauth_entity', now.serviceNow.outboundProvider)?.active).toBe('true');
    expect(row(stack, SHARED, 'oauth_entity_profile', now.serviceNow.outboundProfile)).toBeDefined();
    expect(row(stack, SHARED, 'sys_user_has_role', now.serviceNow[grantKey])).toBeDefined();
    // Reported only: the hand-added credential stays on the app, the hand-added role stays on the user.
    const app = stack.sandbox.directory.applications.get(aCreated.apps.outbound.objectId);
    expect(app?.passwordCredentials.some((x) => x.keyId.toLowerCase() === addedKeyId)).toBe(true);

    // The other integration on the instance: no write names its records or apps, its rows are as they were.
    const writes = productWrites(stack, mark);
    expect(writes.length).toBeGreaterThan(0);
    for (const w of writes) for (const x of bIds) expect(w.path).not.toContain(x);
    expect(
      Object.entries(bCreated.serviceNow).map(([key, sysId]) => [
        key,
        ...[
          'oauth_entity',
          'oauth_entity_profile',
          'sys_alias',
          'http_connection',
          'oauth_credential',
          'sys_user_has_role',
        ]
          .map((t) => row(stack, SHARED, t, sysId))
          .filter(Boolean),
      ]),
    ).toEqual(bRows);
    expect((await checkNow(stack, b)).findings).toEqual([]);
  });

  it('finds a disabled Key Vault version in use, once', async () => {
    const created = await createdOf(stack, c);
    const outbound = created.apps.outbound;
    await getDeps().secrets.updateSecretProperties(outbound.secretName, outbound.secretVersion ?? '', {
      enabled: false,
    });
    const first = await checkNow(stack, c);
    const second = await checkNow(stack, c);
    const subject = `secret:outbound:${outbound.secretVersion}`;
    expect(first.findings.find((f) => f.subject === subject)).toMatchObject({
      kind: 'secret-disabled',
      repairable: false,
    });
    expect(second.found).toEqual([]);
    expect((await subjectCounts(c, 'drift-found'))[subject]).toBe(1);
  });

  it('finds the credential in use removed from its app, and an app registration deleted, once each', async () => {
    const created = await createdOf(stack, c);
    const restUser = created.apps.restUser as Created['apps'][string] & { keyId?: string };
    const graph = getDeps().graph;
    await graph.api(`/applications/${restUser.objectId}/removePassword`).post({ keyId: restUser.keyId });
    await graph.api(`/applications/${created.apps.restApi.objectId}`).delete();
    const first = await checkNow(stack, c);
    const second = await checkNow(stack, c);
    const missing = `credential-missing:restUser:${String(restUser.keyId).toLowerCase()}`;
    expect(first.findings.find((f) => f.subject === missing)).toMatchObject({ kind: 'credential-missing' });
    expect(first.findings.find((f) => f.subject === 'app:restApi')).toMatchObject({ kind: 'app-missing' });
    expect(second.found).toEqual([]);
    const found = await subjectCounts(c, 'drift-found');
    expect([found[missing], found['app:restApi']]).toEqual([1, 1]);
  });

  it('answers 400 listing problems, 404 for an unknown integration, and the status of a check', async () => {
    const bad = await api(stack, 'POST', `/api/integrations/${a}/health?repair=maybe`);
    expect(bad.status).toBe(400);
    expect((bad.json as { errors: { field: string }[] }).errors.map((e) => e.field)).toEqual(['repair']);
    const unknown = await api(stack, 'POST', `/api/integrations/sn-nowhere-0000000a/health`);
    expect(unknown.status).toBe(404);
    // Graph answers slowly for a moment, so the first check is still running when the second request arrives.
    const bApp = Object.values((await createdOf(stack, b)).apps)[0].objectId;
    const slow = stack.sandbox.faults.add({
      service: 'graph',
      method: 'GET',
      path: `/applications/${bApp}`,
      action: { type: 'latency', ms: 1500 },
    });
    const started = await api(stack, 'POST', `/api/integrations/${b}/health`);
    expect(started.status).toBe(202);
    const { instanceId, statusUrl } = started.json as { instanceId: string; statusUrl: string };
    expect(statusUrl).toBe(`${stack.host.baseUrl}/api/integrations/${b}/health/${instanceId}`);
    const running = await api(stack, 'POST', `/api/integrations/${b}/health`);
    expect(running.status).toBe(409);
    expect(running.json).toMatchObject({ instanceId, status: 'running' });
    await runInstance(stack, instanceId);
    stack.sandbox.faults.remove(slow.id);
    const status = await api(stack, 'GET', `/api/integrations/${b}/health/${instanceId}`);
    expect(status.status).toBe(200);
    expect(status.json).toMatchObject({ id: b, instanceId, runtimeStatus: 'Completed', ok: true, findings: [] });
    expect((await api(stack, 'GET', `/api/integrations/${b}/health/rotate-${b}-20250101`)).status).toBe(404);
  });
});
