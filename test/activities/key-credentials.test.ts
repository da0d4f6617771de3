/**
 * The Entra credential activities against the sandbox with the product's real Graph client (createDeps over HTTPS):
 * registerCertificate (first by PATCH, then addKey with a proof, idempotent and overlap-safe), removeCertificate,
 * ensureFederatedCredential, removeClientSecrets, and certificateTokenWorks (AADSTS700027 retried while Entra
 * propagates a new key, on the sandbox clock). Certificates come from a local CertificateKeys (node:crypto + node-forge).
 */
import { ensureApp } from '../../src/activities/entra';
import { certificateTokenWorks } from '../../src/activities/checks';
import {
  ensureFederatedCredential,
  registerCertificate,
  removeCertificate,
  removeClientSecrets,
} from '../../src/activities/key-credentials';
import type { Deps } from '../../src/app/deps';
import type { AppResult } from '../../src/contracts/provision';
import type { CertificateRef, RegisterCertificateInput } from '../../src/contracts/credentials';
import { startActivityEnv, type ActivityEnv } from '../helpers/activity-env';
import { LocalCertificateKeys } from '../helpers/local-certificate-keys';

const PROPAGATION_MS = 15_000;
const WIF_AUD = 'api://AzureADTokenExchange';

let env: ActivityEnv;
let deps: Deps;
const keys = new LocalCertificateKeys();
const lines: string[] = [];
const log = { info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m) };
let n = 0;

beforeAll(async () => {
  env = await startActivityEnv({ entra: { keyCredentialPropagationDelayMs: PROPAGATION_MS } });
  // The product's dependencies with certificates signed locally instead of by Key Vault.
  deps = Object.create(env.deps, { certificateKeys: { value: keys } }) as Deps;
});
afterAll(async () => {
  await env?.close();
});
afterEach(() => env.sandbox.clock.reset());

async function newApp(): Promise<{ integrationId: string; app: AppResult }> {
  const ref = env.ref();
  const out = await ensureApp(
    { ...ref, role: 'outbound', displayName: `Outbound ${ref.integrationId}`, redirectUris: [] },
    env.deps,
    log,
  );
  if (!out.ok) throw new Error(out.failure.message);
  return { integrationId: ref.integrationId, app: out };
}

function newCert(): CertificateRef & { thumbprintHex: string } {
  const ref = { certificateName: `m365-snow-cert-${++n}`, version: `v${n}` };
  return { ...ref, thumbprintHex: keys.add(ref).thumbprintHex };
}

const input = (
  integrationId: string,
  app: AppResult,
  cert: CertificateRef,
  proof?: CertificateRef,
): RegisterCertificateInput => ({
  integrationId,
  role: app.role,
  appObjectId: app.objectId,
  appId: app.appId,
  certificateName: cert.certificateName,
  version: cert.version,
  ...(proof ? { proof: { certificateName: proof.certificateName, version: proof.version } } : {}),
});

const live = (objectId: string) => {
  const app = env.sandbox.directory.applications.get(objectId);
  if (!app) throw new Error(`no app ${objectId}`);
  return app;
};
const graphWrites = (since: number) =>
  env.sandbox.journal.writes({ service: 'graph', since }).map((w) => `${w.method} ${w.path.split('?')[0]}`);

describe('registerCertificate and removeCertificate', () => {
  it('registers the first certificate by PATCH keeping every other credential, the next by addKey; re-runs add nothing', async () => {
    const { integrationId, app } = await newApp();
    const { secretText } = env.sandbox.directory.addPassword(live(app.objectId), { displayName: 'kept secret' });
    expect(secretText).toBeTruthy();
    const first = newCert();
    let mark = env.sandbox.journal.mark();
    const r1 = await registerCertificate(input(integrationId, app, first), deps, log);
    expect(r1).toMatchObject({ ok: true, added: true });
    expect(graphWrites(mark)).toEqual([`PATCH /v1.0/applications/${app.objectId}`]);
    expect(live(app.objectId).keyCredentials.map((k) => k.customKeyIdentifier)).toEqual([first.thumbprintHex]);
    expect(live(app.objectId).passwordCredentials).toHaveLength(1);

    const second = newCert();
    mark = env.sandbox.journal.mark();
    const r2 = await registerCertificate(input(integrationId, app, second, first), deps, log);
    expect(r2).toMatchObject({ ok: true, added: true });
    expect(graphWrites(mark)).toEqual([`POST /v1.0/applications/${app.objectId}/addKey`]);
    expect(live(app.objectId).keyCredentials.map((k) => k.customKeyIdentifier)).toEqual([
      first.thumbprintHex,
      second.thumbprintHex,
    ]);
    const firstKeyId = live(app.objectId).keyCredentials[0].keyId;

    mark = env.sandbox.journal.mark();
    const again = await registerCertificate(input(integrationId, app, second, first), deps, log);
    expect(again).toEqual({ ok: true, keyId: r2.ok ? r2.keyId : '', added: false });
    expect(graphWrites(mark)).toEqual([]);
    // The PATCH kept the first key's identity when the second was added by addKey.
    expect(live(app.objectId).keyCredentials[0].keyId).toBe(firstKeyId);
  });

  it('two overlapping runs register one key credential and agree on its keyId', async () => {
    const { integrationId, app } = await newApp();
    const first = newCert();
    await registerCertificate(input(integrationId, app, first), deps, log);
    const next = newCert();
    const [a, b] = await Promise.all([
      registerCertificate(input(integrationId, app, next, first), deps, log),
      registerCertificate(input(integrationId, app, next, first), deps, log),
    ]);
    const mine = live(app.objectId).keyCredentials.filter((k) => k.customKeyIdentifier === next.thumbprintHex);
    expect(mine).toHaveLength(1);
    expect(a).toMatchObject({ ok: true, keyId: mine[0].keyId });
    expect(b).toMatchObject({ ok: true, keyId: mine[0].keyId });
    // Two overlapping first registrations (PATCH) converge as well.
    const { integrationId: id2, app: app2 } = await newApp();
    const c = newCert();
    const [p, q] = await Promise.all([
      registerCertificate(input(id2, app2, c), deps, log),
      registerCertificate(input(id2, app2, c), deps, log),
    ]);
    expect(live(app2.objectId).keyCredentials).toHaveLength(1);
    expect([p, q]).toEqual([expect.objectContaining({ ok: true }), expect.objectContaining({ ok: true })]);
    expect(p.ok && q.ok && p.keyId === q.keyId).toBe(true);
  });

  it('converges when overlapping addKeys left the same certificate twice: keeps the smallest keyId, removes the other', async () => {
    const { integrationId, app } = await newApp();
    const first = newCert();
    await registerCertificate(input(integrationId, app, first), deps, log);
    const next = newCert();
    // What two overlapping runs that both found it missing leave behind: two key credentials of one certificate.
    const pub = await keys.publicCertificate(next);
    const a = live(app.objectId);
    const now = env.sandbox.clock.now();
    for (const keyId of ['9f000000-0000-4000-8000-000000000000', '1a000000-0000-4000-8000-000000000000'])
      a.keyCredentials.push({
        keyId,
        type: 'AsymmetricX509Cert',
        usage: 'Verify',
        key: Buffer.from(pub.cerBase64, 'base64'),
        displayName: null,
        customKeyIdentifier: next.thumbprintHex,
        startDateTime: Date.parse(pub.notBefore),
        endDateTime: Date.parse(pub.notAfter),
        createdAt: now,
      });
    const mark = env.sandbox.journal.mark();
    const r = await registerCertificate(input(integrationId, app, next, first), deps, log);
    expect(r).toEqual({ ok: true, keyId: '1a000000-0000-4000-8000-000000000000', added: false });
    expect(graphWrites(mark)).toEqual([`POST /v1.0/applications/${app.objectId}/removeKey`]);
    expect(live(app.objectId).keyCredentials.map((k) => k.keyId)).toHaveLength(2);
  });

  it('removes a certificate with a proof, and answers removed false the second time', async () => {
    const { integrationId, app } = await newApp();
    const first = newCert();
    const second = newCert();
    await registerCertificate(input(integrationId, app, first), deps, log);
    const r = await registerCertificate(input(integrationId, app, second, first), deps, log);
    if (!r.ok) throw new Error(r.failure.message);
    const oldKeyId = live(app.objectId).keyCredentials[0].keyId;
    let mark = env.sandbox.journal.mark();
    expect(await removeCertificate({ appObjectId: app.objectId, keyId: oldKeyId, proof: second }, deps, log)).toEqual({
      ok: true,
      removed: true,
    });
    expect(graphWrites(mark)).toEqual([`POST /v1.0/applications/${app.objectId}/removeKey`]);
    expect(live(app.objectId).keyCredentials.map((k) => k.keyId)).toEqual([r.keyId]);
    mark = env.sandbox.journal.mark();
    expect(await removeCertificate({ appObjectId: app.objectId, keyId: oldKeyId, proof: second }, deps, log)).toEqual({
      ok: true,
      removed: false,
    });
    expect(graphWrites(mark)).toEqual([]);
  });

  it('proves a token is issued for the certificate, retrying AADSTS700027 while Entra propagates the key', async () => {
    const { integrationId, app } = await newApp();
    const cert = newCert();
    await registerCertificate(input(integrationId, app, cert), deps, log);
    const tenant = env.sandbox.directory.tenantId;
    const once = await certificateTokenWorks(deps, { tenant, appId: app.appId, certificate: cert }, { attempts: 1 });
    expect(once).toMatchObject({ ok: false, attempts: 1 });
    expect(once.ok ? [] : once.result.errorCodes).toEqual([700027]);
    const waits: number[] = [];
    const sleep = (ms: number) => {
      waits.push(ms);
      env.sandbox.clock.advance(ms);
      return Promise.resolve();
    };
    const r = await certificateTokenWorks(deps, { tenant, appId: app.appId, certificate: cert }, { sleep });
    expect(r).toMatchObject({ ok: true, attempts: 3, endpoint: 'v2' });
    expect(waits).toEqual([10_000, 10_000]);
    // And at the v1 URL an outbound record carries.
    const v1 = `${env.settings.ENTRA_AUTHORITY_HOST.replace(/\/+$/, '')}/${tenant}/oauth2/token`;
    expect(
      await certificateTokenWorks(deps, { tenant, appId: app.appId, certificate: cert, tokenUrl: v1 }),
    ).toMatchObject({ ok: true, attempts: 1, endpoint: 'v1' });
  });
});

describe('ensureFederatedCredential', () => {
  it('creates by name, finds it again, and patches a drifted one back', async () => {
    const { integrationId, app } = await newApp();
    const fic = {
      appObjectId: app.objectId,
      name: `m365-snow-${integrationId}`,
      issuer: 'https://dev12345.service-now.com',
      subject: 'workload-identity-subject',
      audiences: [WIF_AUD],
    };
    const created = await ensureFederatedCredential(fic, deps, log);
    expect(created).toMatchObject({ ok: true, created: true, patched: false });
    let mark = env.sandbox.journal.mark();
    const again = await ensureFederatedCredential(fic, deps, log);
    expect(again).toEqual({ ok: true, id: created.ok ? created.id : '', created: false, patched: false });
    expect(graphWrites(mark)).toEqual([]);
    live(app.objectId).federatedIdentityCredentials[0].subject = 'someone-else';
    mark = env.sandbox.journal.mark();
    expect(await ensureFederatedCredential(fic, deps, log)).toMatchObject({ ok: true, created: false, patched: true });
    expect(live(app.objectId).federatedIdentityCredentials).toMatchObject([
      { name: fic.name, subject: fic.subject, issuer: fic.issuer, audiences: [WIF_AUD] },
    ]);
    expect(graphWrites(mark)).toHaveLength(1);
  });

  it('refuses more than one audience before calling Graph', async () => {
    const { app } = await newApp();
    const r = await ensureFederatedCredential(
      { appObjectId: app.objectId, name: 'x', issuer: 'https://i', subject: 's', audiences: [WIF_AUD, 'api://b'] },
      deps,
      log,
    );
    expect(r).toMatchObject({ ok: false, failure: { service: 'input' } });
  });
});

describe('removeClientSecrets', () => {
  it("removes the product's password credentials and leaves the others; a re-run removes nothing", async () => {
    const { app } = await newApp();
    const a = live(app.objectId);
    const ours = [env.sandbox.directory.addPassword(a, {}), env.sandbox.directory.addPassword(a, {})].map(
      (p) => p.credential.keyId,
    );
    const theirs = env.sandbox.directory.addPassword(a, { displayName: 'someone else' }).credential.keyId;
    expect(await removeClientSecrets({ appObjectId: app.objectId, keyIds: ours }, deps, log)).toEqual({
      ok: true,
      removed: ours,
    });
    expect(live(app.objectId).passwordCredentials.map((c) => c.keyId)).toEqual([theirs]);
    const mark = env.sandbox.journal.mark();
    expect(await removeClientSecrets({ appObjectId: app.objectId, keyIds: ours }, deps, log)).toEqual({
      ok: true,
      removed: [],
    });
    expect(graphWrites(mark)).toEqual([]);
  });
});
