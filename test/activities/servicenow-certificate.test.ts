/**
 * serviceNowCredentialSupport, ensureServiceNowCertificate and ensureServiceNowFederation against the sandbox over
 * HTTPS with the product's ServiceNow client; the certificate comes from a local CertificateKeys (the Key Vault one is
 * tested with its client).
 */
import { randomUUID, verify, X509Certificate } from 'node:crypto';

import { ensureServiceNowCertificate } from '../../src/activities/servicenow-certificate';
import { serviceNowCredentialSupport } from '../../src/activities/servicenow-credential-support';
import { ensureServiceNowFederation } from '../../src/activities/servicenow-federation';
import { compensate } from '../../src/activities/compensate';
import type { Deps } from '../../src/app/deps';
import {
  federationSubject,
  type EnsureServiceNowCertificateInput,
  type ServiceNowCredentialSupport,
} from '../../src/contracts/credentials';
import type { IntegrationRef } from '../../src/contracts/provision';
import { configureLogging } from '../../src/lib/logger';
import { startActivityEnv, type ActivityEnv } from '../helpers/activity-env';
import { LocalCertificateKeys } from '../helpers/local-certificate-keys';
import { assertionWorks } from '../../sandbox/consumers';

const BRAZIL = 'dev00000';
const VANCOUVER = 'vanc00001';
const WASHINGTON = 'wdc00001';
let env: ActivityEnv;
let deps: Deps;
const keys = new LocalCertificateKeys();
const logs: string[] = [];
const log = { info: (...a: unknown[]) => logs.push(a.join(' ')), warn: (...a: unknown[]) => logs.push(a.join(' ')) };

beforeAll(async () => {
  configureLogging({ sink: (r) => logs.push(JSON.stringify(r)) });
  env = await startActivityEnv({
    servicenow: {
      instances: [BRAZIL, VANCOUVER, WASHINGTON],
      releases: { [VANCOUVER]: 'vancouver', [WASHINGTON]: 'washingtondc' },
    },
  });
  deps = { ...env.deps, certificateKeys: keys } as Deps;
});
afterAll(async () => env?.close());

const sn = () => env.sandbox.servicenow;

async function support(instance: string): Promise<ServiceNowCredentialSupport> {
  const r = await serviceNowCredentialSupport({ serviceNowInstance: instance, table: 'oauth_entity' }, deps, log);
  if (!r.ok) throw new Error(JSON.stringify(r.failure));
  return r;
}

describe('serviceNowCredentialSupport', () => {
  it('vancouver: certificate unsupported with reasons, federated unsupported', async () => {
    const s = await support(VANCOUVER);
    expect(s.release).toBe('Vancouver');
    expect(s.certificate.supported).toBe(false);
    expect(s.certificate.reasons.join('\n')).toMatch(/As Private Key JWT/);
    expect(s.certificate.reasons.join('\n')).toMatch(/jwt_provider/);
    expect(s.certificate.sendAsValue).toBeUndefined();
    expect(s.federated).toMatchObject({ supported: false });
    expect(s.federated.reasons.join('\n')).toMatch(/Workload Identity Connection/);
  });

  it('washingtondc: certificate supported (values read from sys_choice / sys_dictionary), federated unsupported', async () => {
    const s = await support(WASHINGTON);
    expect(s.certificate).toEqual({
      supported: true,
      reasons: [],
      sendAsValue: 'private_key_jwt',
      providerColumn: 'jwt_provider',
      thumbprintColumn: 'certificate_thumbprint',
    });
    expect(s.federated.supported).toBe(false);
  });

  it('brazil: both, with the Workload Identity Connection table and columns found by label', async () => {
    const s = await support(BRAZIL);
    expect(s.certificate.supported).toBe(true);
    expect(s.federated).toEqual({
      supported: true,
      reasons: [],
      connectionTable: 'oauth_workload_identity_connection',
      columns: {
        name: 'name',
        clientId: 'client_id',
        tenantId: 'tenant_id',
        subject: 'subject',
        oauthEntity: 'oauth_entity',
      },
    });
  });
});

/** An outbound oauth_entity holding a client secret, as the secret path leaves it. */
function outboundEntity(instance: string, appId: string, tokenUrl: string): string {
  return sn().seedRecord(instance, 'oauth_entity', {
    name: `Outbound ${appId.slice(0, 8)}`,
    type: 'oauth_provider',
    client_id: appId,
    default_grant_type: 'client_credentials',
    token_url: tokenUrl,
    send_client_credentials_as: 'request_body_parameter',
    client_secret: 'the-old-client-secret',
  });
}

async function certificateInput(
  ref: IntegrationRef,
  instance: string,
): Promise<{ input: EnsureServiceNowCertificateInput; der: Buffer }> {
  const s = await support(instance);
  const appId = randomUUID();
  const tokenUrl = `https://login.microsoftonline.com/${env.sandbox.directory.tenantId}/oauth2/v2.0/token`;
  const entity = outboundEntity(instance, appId, tokenUrl);
  const cert = keys.create(`${ref.integrationId}-outbound-cert`);
  const pub = await keys.publicCertificate(cert);
  return {
    der: Buffer.from(pub.cerBase64, 'base64'),
    input: {
      ...ref,
      serviceNowInstance: instance,
      role: 'outbound',
      certificateName: cert.certificateName,
      version: cert.version,
      x5t: pub.x5t,
      clientId: appId,
      tokenUrl,
      oauthEntity: { table: 'oauth_entity', sysId: entity },
      sendAsValue: s.certificate.sendAsValue!,
      providerColumn: s.certificate.providerColumn!,
      thumbprintColumn: s.certificate.thumbprintColumn!,
    },
  };
}

const named = (instance: string, table: string, name: string) =>
  sn()
    .records(instance, table)
    .filter((r) => r.values.name === name);

const decode = (jwt: string) => {
  const [h64, c64, s64] = jwt.split('.');
  return {
    header: JSON.parse(Buffer.from(h64, 'base64url').toString()) as Record<string, unknown>,
    claims: JSON.parse(Buffer.from(c64, 'base64url').toString()) as Record<string, unknown>,
    input: Buffer.from(`${h64}.${c64}`),
    signature: Buffer.from(s64, 'base64url'),
  };
};

describe('ensureServiceNowCertificate', () => {
  it('builds the chain, switches the oauth_entity, and the instance then signs assertions the certificate verifies', async () => {
    const ref = env.ref({ serviceNowInstance: WASHINGTON });
    const { input, der } = await certificateInput(ref, WASHINGTON);
    expect(sn().credentialModeOf(WASHINGTON, input.oauthEntity.sysId)).toBe('secret');
    const mark = env.sandbox.journal.mark();
    logs.length = 0;
    const r = await ensureServiceNowCertificate(input, deps, log);
    if (!r.ok) throw new Error(JSON.stringify(r.failure));
    expect(r.switched).toBe(true);
    expect(r.manualAction).toBeUndefined();
    expect(r.records.map((x) => [x.table, x.created])).toEqual([
      ['sys_certificate', true],
      ['jwt_keystore_aliases', true],
      ['jwt_provider', true],
      ['jwt_claim_validation', true],
      ['jwt_claim_validation', true],
      ['jwt_claim_validation', true],
    ]);
    const name = `m365-snow ${ref.integrationId} outbound ${input.version}`;
    const [cert] = named(WASHINGTON, 'sys_certificate', name);
    expect(cert.values).toMatchObject({ sys_id: r.certificateSysId, active: 'true', type: 'pkcs12_key_store' });
    expect(cert.values.expires).not.toBe('');
    expect(
      sn()
        .records(WASHINGTON, 'sys_attachment')
        .filter((a) => a.values.table_sys_id === cert.values.sys_id),
    ).toHaveLength(1);
    const [alias] = named(WASHINGTON, 'jwt_keystore_aliases', name);
    expect(alias.values).toMatchObject({ signing_keystore: r.certificateSysId, certificate_thumbprint: input.x5t });
    const entity = sn()
      .records(WASHINGTON, 'oauth_entity')
      .find((e) => e.values.sys_id === input.oauthEntity.sysId)!;
    expect(entity.values).toMatchObject({
      send_client_credentials_as: 'private_key_jwt',
      jwt_provider: r.providerSysId,
    });
    expect(sn().secretOf(WASHINGTON, 'oauth_entity', input.oauthEntity.sysId)).toBeUndefined();

    // What the instance now sends: RS256 with x5t, aud = the token URL, iss = sub = client id, verified by the cert.
    const a = sn().outboundAssertion(WASHINGTON, input.oauthEntity.sysId);
    const jwt = decode(a.assertion);
    expect(jwt.header).toMatchObject({ alg: 'RS256', x5t: input.x5t });
    expect(jwt.claims).toMatchObject({ aud: input.tokenUrl, iss: input.clientId, sub: input.clientId });
    expect(verify('RSA-SHA256', jwt.input, new X509Certificate(der).publicKey, jwt.signature)).toBe(true);
    // The consumer probe now takes the assertion path (sandbox/consumers.ts); a client id mismatch is caught there.
    expect(sn().credentialModeOf(WASHINGTON, input.oauthEntity.sysId)).toBe('certificate');
    expect(await assertionWorks(env.sandbox, WASHINGTON, input.oauthEntity.sysId, randomUUID())).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/client id/) as unknown,
    });

    // The keystore password went only into the two password2 fields: never in logged bodies, responses, logs, result.
    const password = sn().secretOf(WASHINGTON, 'sys_certificate', r.certificateSysId, 'key_store_password')!;
    expect(password.length).toBeGreaterThanOrEqual(32);
    expect(sn().secretOf(WASHINGTON, 'jwt_keystore_aliases', r.keystoreAliasSysId, 'signing_key_password')).toBe(
      password,
    );
    const raw = env.sandbox.journal.raw({ since: mark });
    expect(JSON.stringify(env.sandbox.journal.entries({ since: mark }))).not.toContain(password);
    expect(raw.filter((e) => e.rawResponseBody.includes(password))).toEqual([]);
    expect(
      raw
        .filter((e) => e.rawRequestBody.includes(password))
        .map((e) => `${e.method} ${e.path}`)
        .sort(),
    ).toEqual(
      [
        `PATCH /${WASHINGTON}/api/now/v2/table/jwt_keystore_aliases/${r.keystoreAliasSysId}`,
        `PATCH /${WASHINGTON}/api/now/v2/table/sys_certificate/${r.certificateSysId}`,
      ].sort(),
    );
    expect(logs.join('\n')).not.toContain(password);
    expect(JSON.stringify(r)).not.toContain(password);

    // Re-run: nothing created, nothing switched, no new attachment.
    const counts = () =>
      ['sys_certificate', 'jwt_keystore_aliases', 'jwt_provider', 'jwt_claim_validation', 'sys_attachment'].map(
        (t) => sn().records(WASHINGTON, t).length,
      );
    const before = counts();
    const again = await ensureServiceNowCertificate(input, deps, log);
    if (!again.ok) throw new Error(JSON.stringify(again.failure));
    expect(again.switched).toBe(false);
    expect(again.records.every((x) => x.created)).toBe(true); // created by this run (the ledger), not inserted again
    expect(again.certificateSysId).toBe(r.certificateSysId);
    expect(counts()).toEqual(before);
    expect(sn().secretOf(WASHINGTON, 'sys_certificate', r.certificateSysId, 'key_store_password')).toBe(password);

    // Compensation removes what the run created; the certificate's attachment goes with it.
    const comp = await compensate(
      {
        ...ref,
        serviceNowInstance: WASHINGTON,
        created: r.records.map((x) => ({ kind: 'record' as const, key: x.key, table: x.table, sysId: x.sysId! })),
      },
      deps,
    );
    expect(comp).toMatchObject({ orphans: [] });
    expect(named(WASHINGTON, 'sys_certificate', name)).toHaveLength(0);
    expect(
      sn()
        .records(WASHINGTON, 'sys_attachment')
        .filter((x) => x.values.table_sys_id === r.certificateSysId),
    ).toEqual([]);
  });

  it('overlapping executions of a run build one chain with one valid keystore', async () => {
    const ref = env.ref({ serviceNowInstance: BRAZIL });
    const { input } = await certificateInput(ref, BRAZIL);
    const [a, b] = await Promise.all([
      ensureServiceNowCertificate(input, deps, log),
      ensureServiceNowCertificate(input, deps, log),
    ]);
    if (!a.ok || !b.ok) throw new Error(JSON.stringify([a, b]));
    expect(b.certificateSysId).toBe(a.certificateSysId);
    expect(b.providerSysId).toBe(a.providerSysId);
    const name = `m365-snow ${ref.integrationId} outbound ${input.version}`;
    expect(named(BRAZIL, 'sys_certificate', name)).toHaveLength(1);
    expect(named(BRAZIL, 'jwt_keystore_aliases', name)).toHaveLength(1);
    expect(named(BRAZIL, 'jwt_provider', `m365-snow ${ref.integrationId} outbound`)).toHaveLength(1);
    expect(
      sn()
        .records(BRAZIL, 'jwt_claim_validation')
        .filter((c) => c.values.jwt_provider === a.providerSysId),
    ).toHaveLength(3);
    expect(
      sn()
        .records(BRAZIL, 'sys_attachment')
        .filter((x) => x.values.table_sys_id === a.certificateSysId),
    ).toHaveLength(1);
    expect(named(BRAZIL, 'sys_certificate', name)[0].values.active).toBe('true');
    expect(() => sn().outboundAssertion(BRAZIL, input.oauthEntity.sysId)).not.toThrow();
  });

  it('a keystore the instance does not validate as this certificate leaves it inactive and the entity untouched', async () => {
    const { input } = await certificateInput(env.ref({ serviceNowInstance: BRAZIL }), BRAZIL);
    const other = keys.create('another-certificate', { validityDays: 200 });
    const wrongStore: Deps = {
      ...deps,
      certificateKeys: {
        ...keys,
        publicCertificate: (ref: never) => keys.publicCertificate(ref),
        exportPkcs12: () => keys.exportPkcs12(other),
      },
    } as unknown as Deps;
    const r = await ensureServiceNowCertificate(input, wrongStore, log);
    expect(r).toMatchObject({ ok: false, failure: { code: 'KeystoreInvalid' } });
    const [cert] = named(BRAZIL, 'sys_certificate', `m365-snow ${input.integrationId} outbound ${input.version}`);
    expect(cert.values.active).toBe('false');
    const entity = sn()
      .records(BRAZIL, 'oauth_entity')
      .find((e) => e.values.sys_id === input.oauthEntity.sysId)!;
    expect(entity.values.send_client_credentials_as).toBe('request_body_parameter');
    // The next attempt with the right store replaces it (fresh password) and completes.
    const fixed = await ensureServiceNowCertificate(input, deps, log);
    expect(fixed).toMatchObject({ ok: true, switched: true });
    expect(
      sn()
        .records(BRAZIL, 'sys_attachment')
        .filter((x) => x.values.table_sys_id === cert.values.sys_id),
    ).toHaveLength(1);
  });

  it('refuses a thumbprint that is not the certificate version', async () => {
    const { input } = await certificateInput(env.ref({ serviceNowInstance: BRAZIL }), BRAZIL);
    const r = await ensureServiceNowCertificate({ ...input, x5t: 'AAAA' }, deps, log);
    expect(r).toMatchObject({ ok: false, failure: { code: 'ThumbprintMismatch' } });
  });
});

describe('ensureServiceNowFederation', () => {
  it('brazil: creates the Workload Identity Connection; the instance signs a federated assertion for its entity', async () => {
    const ref = env.ref({ serviceNowInstance: BRAZIL });
    const s = await support(BRAZIL);
    const clientId = randomUUID();
    const input = {
      ...ref,
      role: 'outbound',
      clientId,
      tenantId: env.sandbox.directory.tenantId,
      connectionTable: s.federated.connectionTable,
      columns: s.federated.columns,
    };
    const r = await ensureServiceNowFederation(input, deps, log);
    if (!r.ok) throw new Error(JSON.stringify(r.failure));
    expect(r).toMatchObject({
      created: true,
      issuer: sn().issuerOf(BRAZIL),
      subject: federationSubject(ref.integrationId, 'outbound'),
      audience: 'api://AzureADTokenExchange',
    });
    expect(r.oauthEntitySysId).toMatch(/^[0-9a-f]{32}$/);
    const a = sn().outboundAssertion(BRAZIL, r.oauthEntitySysId!);
    expect(decode(a.assertion).claims).toMatchObject({ iss: r.issuer, sub: r.subject, aud: r.audience });
    const again = await ensureServiceNowFederation(input, deps, log);
    expect(again).toMatchObject({ ok: true, connectionSysId: r.connectionSysId });
    expect(
      sn()
        .records(BRAZIL, 'oauth_workload_identity_connection')
        .filter((c) => c.values.client_id === clientId),
    ).toHaveLength(1);
  });

  it('an instance without the table: a hand-off with the exact values', async () => {
    const ref = env.ref({ serviceNowInstance: WASHINGTON });
    const r = await ensureServiceNowFederation(
      { ...ref, role: 'outbound', clientId: randomUUID(), tenantId: env.sandbox.directory.tenantId },
      deps,
      log,
    );
    if (!r.ok) throw new Error(JSON.stringify(r.failure));
    expect(r.manualAction?.steps).toEqual(
      expect.arrayContaining([
        { label: 'Subject to send in the token', value: federationSubject(ref.integrationId, 'outbound') },
      ]),
    );
  });
});
