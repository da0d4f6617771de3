/**
 * The ServiceNow stand-in's certificates and federation: release gating of the schema rows, the Attachment API,
 * keystore validation, and the instance's outbound assertions (verified with the certificate's public key and the
 * instance's published JWKS).
 */
import { createPublicKey, verify, X509Certificate } from 'node:crypto';

import axios, { type AxiosInstance } from 'axios';
import forge from 'node-forge';

import { LocalCertificateKeys } from '../../helpers/local-certificate-keys';
import { INSTANCE, startServiceNow, type Harness } from './helpers';

const VANCOUVER = 'vanc00001';
const WASHINGTON = 'wdc00001';
let h: Harness;
const keys = new LocalCertificateKeys();

beforeAll(async () => {
  h = await startServiceNow({
    instances: [INSTANCE, VANCOUVER, WASHINGTON],
    releases: { [VANCOUVER]: 'vancouver', [WASHINGTON]: 'washingtondc' },
  });
});
afterAll(async () => h?.close());

const adminOf = (instance: string): AxiosInstance =>
  axios.create({
    baseURL: `${h.server.origin}/${instance}`,
    validateStatus: () => true,
    headers: { Accept: 'application/json' },
    auth: { username: h.sn.adminUser, password: h.sn.adminPassword },
  });

async function rows(instance: string, table: string, query: string): Promise<Record<string, string>[]> {
  const res = await adminOf(instance).get(`/api/now/table/${table}`, {
    params: { sysparm_query: query, sysparm_exclude_reference_link: 'true' },
  });
  expect(res.status).toBe(200);
  return (res.data as { result: Record<string, string>[] }).result;
}

/** A PKCS12 of a local certificate protected with `password` (node-forge, 3DES). */
async function keystore(password: string): Promise<{ bytes: Buffer; der: Buffer; notAfter: string; x5t: string }> {
  const ref = keys.create('standin-test');
  const pub = await keys.publicCertificate(ref);
  const asn1 = forge.asn1.fromDer(forge.util.createBuffer((await keys.exportPkcs12(ref)).toString('binary')));
  let p12: forge.pkcs12.Pkcs12Pfx;
  try {
    p12 = forge.pkcs12.pkcs12FromAsn1(asn1, false, '');
  } catch {
    p12 = forge.pkcs12.pkcs12FromAsn1(asn1, false, null as unknown as string);
  }
  const key = p12.getBags({ bagType: forge.pki.oids.keyBag })[forge.pki.oids.keyBag]![0].key!;
  const cert = p12.getBags({ bagType: forge.pki.oids.certBag })[forge.pki.oids.certBag]![0].cert!;
  const out = forge.pkcs12.toPkcs12Asn1(key, [cert], password, { algorithm: '3des' });
  return {
    bytes: Buffer.from(forge.asn1.toDer(out).getBytes(), 'binary'),
    der: Buffer.from(pub.cerBase64, 'base64'),
    notAfter: pub.notAfter.replace('T', ' ').slice(0, 19),
    x5t: pub.x5t,
  };
}

async function newCertificate(instance: string, active = false): Promise<string> {
  const res = await adminOf(instance).post('/api/now/table/sys_certificate', {
    name: `cert ${Math.random()}`,
    type: 'pkcs12_key_store',
    active: String(active),
  });
  expect(res.status).toBe(201);
  return (res.data as { result: { sys_id: string } }).result.sys_id;
}

const setPassword = (instance: string, table: string, sysId: string, field: string, value: string) =>
  adminOf(instance).patch(
    `/api/now/table/${table}/${sysId}`,
    { [field]: value },
    {
      params: { sysparm_input_display_value: 'true' },
    },
  );

const upload = (instance: string, sysId: string, bytes: Buffer, contentType?: string) =>
  adminOf(instance).post('/api/now/attachment/file', bytes, {
    params: { table_name: 'sys_certificate', table_sys_id: sysId, file_name: 'store.p12' },
    headers: contentType ? { 'Content-Type': contentType } : { 'Content-Type': '' },
    transformRequest: [(d: unknown) => d],
  });

describe('release gating', () => {
  it('has the "As Private Key JWT" choice and the JWT-provider column only from Washington DC on', async () => {
    const q = 'name=oauth_entity^element=send_client_credentials_as';
    const labels = async (i: string) => (await rows(i, 'sys_choice', q)).map((r) => r.label);
    expect(await labels(VANCOUVER)).not.toContain('As Private Key JWT');
    expect(await labels(WASHINGTON)).toContain('As Private Key JWT');
    expect(await labels(INSTANCE)).toContain('As Private Key JWT');
    const refCols = async (i: string) => rows(i, 'sys_dictionary', 'name=oauth_entity^reference=jwt_provider');
    expect(await refCols(VANCOUVER)).toHaveLength(0);
    expect(await refCols(WASHINGTON)).toHaveLength(1);
    // The column itself is absent before: a write to it is ignored like any unknown field.
    const res = await adminOf(VANCOUVER).post('/api/now/table/oauth_entity', {
      name: 'x',
      jwt_provider: 'a'.repeat(32),
    });
    expect(res.status).toBe(201);
    expect((res.data as { result: Record<string, string> }).result).not.toHaveProperty('jwt_provider');
  });

  it('has the Workload Identity Connection table, its JWKS and OpenID configuration only from Brazil on', async () => {
    const wif = async (i: string) => rows(i, 'sys_db_object', 'label=Workload Identity Connection');
    expect(await wif(WASHINGTON)).toHaveLength(0);
    expect(await wif(INSTANCE)).toHaveLength(1);
    expect((await adminOf(WASHINGTON).get('/api/now/table/oauth_workload_identity_connection')).status).toBe(400);
    const plain = axios.create({ validateStatus: () => true });
    expect((await plain.get(`${h.server.origin}/${WASHINGTON}/.well-known/openid-configuration`)).status).toBe(404);
    const conf = await plain.get(`${h.server.origin}/${INSTANCE}/.well-known/openid-configuration`);
    expect(conf.status).toBe(200);
    const { issuer, jwks_uri } = conf.data as { issuer: string; jwks_uri: string };
    expect(issuer).toBe(h.sn.issuerOf(INSTANCE));
    const jwks = await plain.get(jwks_uri);
    expect(jwks.data).toEqual(h.sn.instanceJwks(issuer));
    expect(h.sn.instanceJwks(h.sn.issuerOf(WASHINGTON))).toBeUndefined();
  });
});

describe('Attachment API and keystore validation', () => {
  it('uploads, lists and deletes attachments; Content-Type is required', async () => {
    const sysId = await newCertificate(INSTANCE);
    const bytes = Buffer.from('not a keystore');
    expect((await upload(INSTANCE, sysId, bytes)).status).toBe(400);
    const res = await upload(INSTANCE, sysId, bytes, 'application/x-pkcs12');
    expect(res.status).toBe(201);
    const meta = (res.data as { result: Record<string, string> }).result;
    expect(meta).toMatchObject({
      table_name: 'sys_certificate',
      table_sys_id: sysId,
      file_name: 'store.p12',
      size_bytes: '14',
    });
    expect(res.headers.location).toBe(`${h.base}/api/now/attachment/${meta.sys_id}`);
    const file = await adminOf(INSTANCE).get(`/api/now/attachment/${meta.sys_id}/file`, {
      responseType: 'arraybuffer',
    });
    expect(Buffer.from(file.data as ArrayBuffer)).toEqual(bytes);
    const list = await adminOf(INSTANCE).get('/api/now/attachment', {
      params: { sysparm_query: `table_name=sys_certificate^table_sys_id=${sysId}` },
    });
    expect((list.data as { result: unknown[] }).result).toHaveLength(1);
    expect((await adminOf(INSTANCE).delete(`/api/now/attachment/${meta.sys_id}`)).status).toBe(204);
    expect((await adminOf(INSTANCE).delete(`/api/now/attachment/${meta.sys_id}`)).status).toBe(404);
    const missing = await adminOf(INSTANCE).post('/api/now/attachment/file', bytes, {
      params: { table_name: 'sys_certificate', table_sys_id: 'f'.repeat(32), file_name: 'x.p12' },
      headers: { 'Content-Type': 'application/x-pkcs12' },
    });
    expect(missing.status).toBe(404);
  });

  it('fills expires/valid_from/subject/issuer for a readable store, and nothing for a wrong password or garbage', async () => {
    const store = await keystore('right-password');
    const ok = await newCertificate(INSTANCE);
    expect((await setPassword(INSTANCE, 'sys_certificate', ok, 'key_store_password', 'right-password')).status).toBe(
      200,
    );
    await upload(INSTANCE, ok, store.bytes, 'application/x-pkcs12');
    const [good] = await rows(INSTANCE, 'sys_certificate', `sys_id=${ok}`);
    expect(good.expires).toBe(store.notAfter);
    expect(good.subject).toContain('CN=standin-test');
    expect(good.key_store_password).not.toContain('right-password');

    const wrong = await newCertificate(INSTANCE);
    await setPassword(INSTANCE, 'sys_certificate', wrong, 'key_store_password', 'wrong-password');
    await upload(INSTANCE, wrong, store.bytes, 'application/x-pkcs12');
    const garbage = await newCertificate(INSTANCE);
    await setPassword(INSTANCE, 'sys_certificate', garbage, 'key_store_password', 'right-password');
    await upload(INSTANCE, garbage, Buffer.from('garbage'), 'application/x-pkcs12');
    for (const id of [wrong, garbage])
      expect((await rows(INSTANCE, 'sys_certificate', `sys_id=${id}`))[0].expires).toBe('');
    // Deleting the certificate deletes its attachment.
    await adminOf(INSTANCE).delete(`/api/now/table/sys_certificate/${ok}`);
    expect(h.sn.records(INSTANCE, 'sys_attachment').filter((r) => r.values.table_sys_id === ok)).toHaveLength(0);
    for (const id of [wrong, garbage]) await adminOf(INSTANCE).delete(`/api/now/table/sys_certificate/${id}`);
  });
});

/** Builds the chain by hand over REST, as an administrator would; returns the oauth_entity. */
async function chain(instance: string, store: { bytes: Buffer; x5t: string }, password: string): Promise<string> {
  const admin = adminOf(instance);
  const cert = await newCertificate(instance);
  await setPassword(instance, 'sys_certificate', cert, 'key_store_password', password);
  await upload(instance, cert, store.bytes, 'application/x-pkcs12');
  await admin.patch(`/api/now/table/sys_certificate/${cert}`, { active: 'true' });
  const key = (
    await admin.post('/api/now/table/jwt_keystore_aliases', {
      name: 'k',
      signing_keystore: cert,
      kid: store.x5t,
      certificate_thumbprint: store.x5t,
    })
  ).data as { result: { sys_id: string } };
  await setPassword(instance, 'jwt_keystore_aliases', key.result.sys_id, 'signing_key_password', password);
  const provider = (
    (await admin.post('/api/now/table/jwt_provider', { name: 'p', jwt_keystore_aliases: key.result.sys_id })).data as {
      result: { sys_id: string };
    }
  ).result.sys_id;
  for (const [name, value] of [
    ['aud', 'https://login.example/tenant/oauth2/v2.0/token'],
    ['iss', '11111111-2222-3333-4444-555555555555'],
    ['sub', '11111111-2222-3333-4444-555555555555'],
  ])
    await admin.post('/api/now/table/jwt_claim_validation', {
      jwt_provider: provider,
      name,
      value,
      is_standard: 'true',
    });
  const entity = await admin.post('/api/now/table/oauth_entity', {
    name: 'outbound',
    type: 'oauth_provider',
    client_id: '11111111-2222-3333-4444-555555555555',
    token_url: 'https://login.example/tenant/oauth2/v2.0/token',
    send_client_credentials_as: 'private_key_jwt',
    jwt_provider: provider,
  });
  return (entity.data as { result: { sys_id: string } }).result.sys_id;
}

const decode = (jwt: string) => {
  const [h64, c64, s64] = jwt.split('.');
  return {
    header: JSON.parse(Buffer.from(h64, 'base64url').toString()) as Record<string, unknown>,
    claims: JSON.parse(Buffer.from(c64, 'base64url').toString()) as Record<string, unknown>,
    input: Buffer.from(`${h64}.${c64}`),
    signature: Buffer.from(s64, 'base64url'),
  };
};

describe('outbound assertions', () => {
  it('signs a private key JWT with the keystore: verifies with the certificate public key, x5t and claims set', async () => {
    const store = await keystore('pw-1');
    const entity = await chain(WASHINGTON, store, 'pw-1');
    expect(h.sn.credentialModeOf(WASHINGTON, entity)).toBe('certificate');
    const a = h.sn.outboundAssertion(WASHINGTON, entity);
    const jwt = decode(a.assertion);
    expect(jwt.header).toMatchObject({ alg: 'RS256', x5t: store.x5t, kid: store.x5t });
    expect(jwt.claims).toMatchObject({
      aud: 'https://login.example/tenant/oauth2/v2.0/token',
      iss: '11111111-2222-3333-4444-555555555555',
      sub: '11111111-2222-3333-4444-555555555555',
    });
    expect(typeof jwt.claims.exp).toBe('number');
    expect(typeof jwt.claims.jti).toBe('string');
    const cert = new X509Certificate(store.der ?? Buffer.alloc(0));
    expect(verify('RSA-SHA256', jwt.input, cert.publicKey, jwt.signature)).toBe(true);
  });

  it('refuses while an active certificate is invalid (KB1217702), even an unrelated one', async () => {
    const store = await keystore('pw-2');
    const entity = await chain(WASHINGTON, store, 'pw-2');
    const broken = await newCertificate(WASHINGTON, true);
    await setPassword(WASHINGTON, 'sys_certificate', broken, 'key_store_password', 'x');
    await upload(WASHINGTON, broken, Buffer.from('garbage'), 'application/x-pkcs12');
    expect(() => h.sn.outboundAssertion(WASHINGTON, entity)).toThrow(/KB1217702/);
    await adminOf(WASHINGTON).patch(`/api/now/table/sys_certificate/${broken}`, { active: 'false' });
    expect(() => h.sn.outboundAssertion(WASHINGTON, entity)).not.toThrow();
  });

  it('signs a federated assertion with the instance key for a Workload Identity Connection (business rules create the entity)', async () => {
    const res = await adminOf(INSTANCE).post('/api/now/table/oauth_workload_identity_connection', {
      name: 'wif',
      client_id: '11111111-2222-3333-4444-555555555555',
      tenant_id: '99999999-2222-3333-4444-555555555555',
      subject: 'm365-snow:test:outbound',
    });
    expect(res.status).toBe(201);
    const conn = (await rows(INSTANCE, 'oauth_workload_identity_connection', 'name=wif'))[0];
    expect(conn.oauth_entity).toMatch(/^[0-9a-f]{32}$/);
    const a = h.sn.outboundAssertion(INSTANCE, conn.oauth_entity);
    expect(a.kind).toBe('federated');
    expect(a.tokenUrl).toBe('https://login.microsoftonline.com/99999999-2222-3333-4444-555555555555/oauth2/v2.0/token');
    const jwt = decode(a.assertion);
    expect(jwt.claims).toMatchObject({
      iss: h.sn.issuerOf(INSTANCE),
      sub: 'm365-snow:test:outbound',
      aud: 'api://AzureADTokenExchange',
    });
    const jwk = h.sn.instanceJwks(h.sn.issuerOf(INSTANCE))!.keys.find((k) => k.kid === jwt.header.kid)!;
    const pub = createPublicKey({ key: jwk as never, format: 'jwk' });
    expect(verify('RSA-SHA256', jwt.input, pub, jwt.signature)).toBe(true);
  });
});
