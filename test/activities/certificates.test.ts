import { X509Certificate } from 'node:crypto';

import type { CertificateProperties } from '@azure/keyvault-certificates';

import { certificatePolicy, ensureCertificate } from '../../src/activities/certificates';
import type { CertificateResult, EnsureCertificateInput } from '../../src/contracts/credentials';
import type { Outcome } from '../../src/contracts/provision';
import { startActivityEnv, type ActivityEnv } from '../helpers/activity-env';

let env: ActivityEnv;
const lines: string[] = [];
const log = { info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m) };
let n = 0;

beforeAll(async () => {
  env = await startActivityEnv({ keyvault: { certificates: { operationReads: 2 } } });
});
afterAll(async () => {
  await env?.close();
});

function input(overrides: Partial<EnsureCertificateInput> = {}): EnsureCertificateInput {
  const ref = env.ref();
  n += 1;
  return {
    integrationId: ref.integrationId,
    role: 'outbound',
    appId: `00000000-0000-0000-0000-${String(n).padStart(12, '0')}`,
    certificateName: `${ref.integrationId}-outbound-client-secret-cert`,
    subject: `CN=app-${n}`,
    validityMonths: 12,
    ...overrides,
  };
}

async function versionsOf(name: string): Promise<CertificateProperties[]> {
  const out: CertificateProperties[] = [];
  for await (const v of env.deps.certificates.listPropertiesOfCertificateVersions(name)) out.push(v);
  return out;
}

function expectOk(out: Outcome<CertificateResult>): CertificateResult {
  if (!out.ok) throw new Error(`expected ok, got ${JSON.stringify(out.failure)}`);
  return out;
}

const creates = () =>
  env.sandbox.journal
    .entries()
    .filter((e) => e.service === 'keyvault' && e.method === 'POST' && /\/create$/.test(e.path));

describe('ensureCertificate', () => {
  it('creates a self-signed certificate with the policy and ownership tags; a re-run keeps the same version', async () => {
    const i = input();
    const first = expectOk(await ensureCertificate(i, env.deps, log));
    expect(first).toMatchObject({ certificateName: i.certificateName, created: true });
    const cert = await env.deps.certificates.getCertificateVersion(i.certificateName, first.version);
    const x509 = new X509Certificate(Buffer.from(cert.cer!));
    expect(x509.subject).toBe(i.subject);
    expect(first.x5t).toBe(Buffer.from(cert.properties.x509Thumbprint!).toString('base64url'));
    expect(first.notAfter).toBe(new Date(x509.validTo).toISOString());
    expect(cert.properties.tags).toEqual({ integration: i.integrationId, role: 'outbound', appId: i.appId });
    const policy = await env.deps.certificates.getCertificatePolicy(i.certificateName);
    expect(policy).toMatchObject({
      issuerName: 'Self',
      subject: i.subject,
      keyType: 'RSA',
      keySize: 2048,
      exportable: true,
      reuseKey: false,
      contentType: 'application/x-pkcs12',
      validityInMonths: 12,
      lifetimeActions: [{ action: 'EmailContacts', daysBeforeExpiry: 30 }],
    });
    // Nothing in the result is key material.
    expect(JSON.stringify(first)).not.toMatch(/PRIVATE KEY|MII/);

    const before = creates().length;
    const again = expectOk(await ensureCertificate(i, env.deps, log));
    expect(again).toEqual({ ...first, created: false });
    expect(creates().length).toBe(before);
    expect(await versionsOf(i.certificateName)).toHaveLength(1);
  });

  it('two overlapping executions end with one version', async () => {
    const i = input();
    const outs = await Promise.all(
      [ensureCertificate(i, env.deps, log), ensureCertificate(i, env.deps, log)].map((p) =>
        p.then(
          (o) => ({ o }),
          (err: unknown) => ({ err }),
        ),
      ),
    );
    // The loser of the lease is told to retry (a thrown retriable error, so Durable retries it); the retry adopts.
    const winners = outs.filter((r) => 'o' in r && r.o.ok);
    expect(winners.length).toBeGreaterThanOrEqual(1);
    expect(winners).toHaveLength(outs.filter((r) => 'o' in r).length);
    for (const r of outs.filter((x) => 'err' in x))
      expect((r as { err: { code?: string; retriable?: boolean } }).err).toMatchObject({
        code: 'CertificateWriteInProgress',
      });
    const retried = expectOk(await ensureCertificate(i, env.deps, log));
    const versions = await versionsOf(i.certificateName);
    expect(versions.map((v) => v.version)).toEqual([retried.version]);
    for (const r of winners) expect((r as { o: CertificateResult }).o.version).toBe(retried.version);
  });

  it('adopts the result of a create left pending by an earlier execution (409 from Key Vault), no second version', async () => {
    const i = input();
    // An execution that crashed right after asking for the certificate: the operation is pending.
    await env.deps.certificates.beginCreateCertificate(i.certificateName, certificatePolicy(i), {
      tags: { integration: i.integrationId, role: i.role, appId: i.appId },
    });
    const out = expectOk(await ensureCertificate(i, env.deps, log));
    expect(out.created).toBe(true);
    const conflicts = env.sandbox.journal
      .entries()
      .filter(
        (e) => e.service === 'keyvault' && e.status === 409 && e.path === `/certificates/${i.certificateName}/create`,
      );
    expect(conflicts).toHaveLength(1);
    expect((await versionsOf(i.certificateName)).map((v) => v.version)).toEqual([out.version]);
    expect(lines.some((l) => l.includes('a create is pending'))).toBe(true);
  });

  it('with afterVersion: creates a newer version, and adopts it when run again', async () => {
    const i = input();
    const v1 = expectOk(await ensureCertificate(i, env.deps, log));
    const v2 = expectOk(await ensureCertificate({ ...i, afterVersion: v1.version }, env.deps, log));
    expect(v2.created).toBe(true);
    expect(v2.version).not.toBe(v1.version);
    expect(v2.x5t).not.toBe(v1.x5t);
    const again = expectOk(await ensureCertificate({ ...i, afterVersion: v1.version }, env.deps, log));
    expect(again).toEqual({ ...v2, created: false });
    // Without afterVersion the newest is the one in use.
    expect(expectOk(await ensureCertificate(i, env.deps, log)).version).toBe(v2.version);
    expect(await versionsOf(i.certificateName)).toHaveLength(2);
    const unknown = await ensureCertificate({ ...i, afterVersion: 'f'.repeat(32) }, env.deps, log);
    expect(unknown).toMatchObject({ ok: false, failure: { service: 'input', code: 'UnknownCertificateVersion' } });
  });

  it("refuses a certificate of that name with someone else's tags, and changes nothing", async () => {
    const i = input();
    const other = await env.deps.certificates.beginCreateCertificate(i.certificateName, certificatePolicy(i), {
      tags: { integration: 'someone-else', role: 'outbound', appId: i.appId },
      intervalInMs: 20,
    });
    await other.pollUntilDone();
    const policyBefore = await env.deps.certificates.getCertificatePolicy(i.certificateName);
    const before = creates().length;
    const out = await ensureCertificate(i, env.deps, log);
    expect(out).toMatchObject({ ok: false, failure: { service: 'keyvault', code: 'CertificateNotOwned' } });
    expect(creates().length).toBe(before);
    expect(await versionsOf(i.certificateName)).toHaveLength(1);
    expect(await env.deps.certificates.getCertificatePolicy(i.certificateName)).toEqual(policyBefore);
  });

  it('lists every input problem at once', async () => {
    const out = await ensureCertificate(
      { ...input(), certificateName: 'bad_name', subject: 'sn', validityMonths: 0 },
      env.deps,
      log,
    );
    expect(out.ok).toBe(false);
    if (out.ok) return;
    expect(out.failure).toMatchObject({ service: 'input', code: 'InvalidCertificateInput' });
    expect(out.failure.message).toMatch(/certificate name.*subject.*validityMonths/);
  });
});
