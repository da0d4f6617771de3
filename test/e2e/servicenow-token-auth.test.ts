/**
 * ServiceNow with no password anywhere: the local stack runs with SERVICENOW_AUTH_MODE=entra (the default), every
 * instance trusting the Function identity's tokens for the control-plane audience (the bootstrap script's records).
 * Provisioning and a rotation run end to end; the settings and the Key Vault hold no ServiceNow credential; every call
 * the product makes as itself is authenticated as the machine user (the identity's object id). The bootstrap and trust
 * routes answer through the local Functions host; a revoked trust (machine user deactivated) is named by the trust
 * check and stops provisioning at the preflight, before anything is written.
 */
import type { LocalStack } from '../../sandbox/stack';
import { getDeps } from '../../src/app/deps';
import { api, productWrites } from './api-driver';
import {
  drive,
  provisionTracked,
  rotateNow,
  startRotationHarness,
  type RotationHarness,
  type Tracked,
} from './rotation-helpers';
import { requestFor, revokeTrust, runToEnd, startProvisioning } from './stack-driver';

jest.setTimeout(180_000);

const A = 'tok-a';
const REVOKED = 'tok-revoked';

describe('ServiceNow token auth end to end (no ServiceNow password)', () => {
  let h: RotationHarness;
  let stack: LocalStack;
  let t: Tracked;
  let oid: string;
  let mark: number;

  beforeAll(async () => {
    h = await startRotationHarness(['dev00000', A, REVOKED]);
    stack = h.stack;
    oid = stack.env().SERVICENOW_IDENTITY_OBJECT_ID;
    mark = stack.sandbox.journal.mark();
    t = await provisionTracked(h, A);
  });
  afterAll(async () => {
    await h?.close();
  });

  it('provisions with token auth: the product calls ServiceNow as the machine user, never as admin', () => {
    expect(getDeps().config.serviceNow.authMode).toBe('entra');
    expect(t.view.status).toBe('active');
    const subjects = new Set(
      stack.sandbox.journal
        .entries({ service: 'servicenow', since: mark })
        .map((e) => e.authSubject)
        .filter((s): s is string => s !== undefined),
    );
    expect(subjects).toContain(`user:${oid}`);
    expect(subjects).not.toContain(`user:${stack.sandbox.servicenow.adminUser}`);
  });

  it('rotates the client secrets end to end with token auth', async () => {
    const res = await rotateNow(stack, t.id);
    expect(res.status).toBe(202);
    const end = await drive(h, t);
    expect(end.runtimeStatus).toBe('Completed');
    const writesAsUs = stack.sandbox.journal
      .writes({ service: 'servicenow', since: mark })
      .filter((e) => e.authSubject === `user:${oid}`);
    expect(writesAsUs.length).toBeGreaterThan(0);
  });

  it('holds no ServiceNow credential in the settings or in Key Vault', async () => {
    const password = stack.sandbox.servicenow.adminPassword;
    const settings = { ...stack.env(), ...process.env };
    expect(Object.keys(settings).filter((k) => /SERVICENOW.*(PASSWORD|SECRET)/i.test(k))).toEqual([]);
    expect(Object.values(settings)).not.toContain(password);
    const names: string[] = [];
    for await (const p of getDeps().secrets.listPropertiesOfSecrets()) names.push(p.name);
    expect(names.length).toBeGreaterThan(0); // the integration's client secrets are there
    expect(names.filter((n) => n.startsWith('servicenow-'))).toEqual([]);
    for (const name of names) expect((await getDeps().secrets.getSecret(name)).value).not.toBe(password);
  });

  it('serves the bootstrap script as text/plain, and 400 listing every problem for a bad query', async () => {
    const ok = await api(stack, 'GET', `/api/servicenow/bootstrap?instance=${A}`);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(ok.text).toContain(stack.sandbox.directory.controlPlaneAudience.appId);
    expect(ok.text).toContain(oid);
    expect(ok.text).toContain(`${stack.env().AZURE_TENANT_ID}/v2.0/.well-known/openid-configuration`);
    const bad = await api(stack, 'GET', '/api/servicenow/bootstrap?instance=Not_An_Instance&extra=1');
    expect(bad.status).toBe(400);
    expect((bad.json as { errors: Array<{ field: string }> }).errors.map((e) => e.field).sort()).toEqual([
      'extra',
      'instance',
    ]);
    const none = await api(stack, 'GET', '/api/servicenow/bootstrap');
    expect(none.status).toBe(400);
  });

  it('the trust check passes on a connected instance and names what is wrong on a revoked one', async () => {
    const ok = await api(stack, 'GET', `/api/servicenow/instances/${A}/trust`);
    expect(ok.status).toBe(200);
    const report = ok.json as {
      ok: boolean;
      token: { aud: string; oid: string };
      roles: { missing: string[]; extra: string[] };
      problems: string[];
    };
    expect(report).toMatchObject({ ok: true, problems: [], roles: { missing: [], extra: [] } });
    expect(report.token).toMatchObject({ aud: stack.sandbox.directory.controlPlaneAudience.appId, oid });

    revokeTrust(stack, REVOKED);
    const revoked = await api(stack, 'GET', `/api/servicenow/instances/${REVOKED}/trust`);
    expect(revoked.status).toBe(200);
    const r = revoked.json as { ok: boolean; problems: string[] };
    expect(r.ok).toBe(false);
    expect(r.problems).toEqual([
      expect.stringMatching(
        /rejected the token \(401\).*machine user .* inactive.*\/api\/servicenow\/bootstrap\?instance=tok-revoked/,
      ),
    ]);
    expect((await api(stack, 'GET', '/api/servicenow/instances/Bad!/trust')).status).toBe(400);
  });

  it('with the machine user deactivated, provisioning stops at the preflight with the bootstrap hint and writes nothing', async () => {
    revokeTrust(stack, REVOKED);
    const since = stack.sandbox.journal.mark();
    const id = await startProvisioning(stack, requestFor(stack, REVOKED));
    const out = await runToEnd(stack, id);
    expect(out.outcome).toBe('failed');
    expect(out.error).toContain(`rejected the app's Entra token`);
    expect(out.error).toContain(`/api/servicenow/bootstrap?instance=${REVOKED}`);
    expect(productWrites(stack, since).filter((e) => !e.path.endsWith('/sendMail'))).toEqual([]);
  });
});
