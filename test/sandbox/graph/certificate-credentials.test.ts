/**
 * The Graph and Entra stand-ins together on one directory: keyCredentials (PATCH, $select key), addKey/removeKey proofs,
 * federatedIdentityCredentials, and client assertions (certificate and federated) at the token endpoints. Graph calls
 * go through the real graph client over HTTPS; token requests are form posts as MSAL sends them.
 */
import { generateKeyPairSync, randomUUID, sign, type JsonWebKey } from 'node:crypto';

import type { Client, GraphError } from '@microsoft/microsoft-graph-client';
import axios, { type AxiosResponse } from 'axios';

import { serve, type RunningServer } from '../../../sandbox/core/server';
import { loadTls } from '../../../sandbox/core/tls';
import { decodeJwt } from '../../../sandbox/core/jwt';
import { createEntra } from '../../../sandbox/entra';
import { JWT_BEARER } from '../../../sandbox/entra/assertion';
import { LocalCertificateKeys } from '../../helpers/local-certificate-keys';
import type { CertificateRef } from '../../../src/contracts/credentials';
import { type Harness, graphClient, otherCaller, startGraph } from './helpers';

type Json = Record<string, unknown>;
const PROOF_AUD = '00000002-0000-0000-c000-000000000000';
const WIF_AUD = 'api://AzureADTokenExchange';
const SN_ISSUER = 'https://dev12345.service-now.com';
const PROPAGATION_MS = 30_000;

async function failure(p: Promise<unknown>): Promise<GraphError> {
  try {
    await p;
  } catch (err) {
    return err as GraphError;
  }
  throw new Error('expected the call to fail');
}

describe('certificate and federated credentials (Graph + Entra stand-ins)', () => {
  let h: Harness;
  let entra: RunningServer;
  let delayed: RunningServer;
  let client: Client;
  const keys = new LocalCertificateKeys();
  /** The "ServiceNow instance" key whose JWKS the Entra stand-in is given. */
  const snKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const snJwk: JsonWebKey = { ...snKey.publicKey.export({ format: 'jwk' }), kid: 'sn-1', use: 'sig', alg: 'RS256' };
  const otherKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
  let n = 0;

  beforeAll(async () => {
    h = await startGraph();
    const tls = loadTls();
    let origin = '';
    let delayedOrigin = '';
    const issuerKeys = (issuer: string) => Promise.resolve(issuer === SN_ISSUER ? [snJwk] : undefined);
    entra = await serve({
      standIn: createEntra(
        { clock: h.clock, directory: h.directory, origin: () => origin, graphOrigin: () => h.origin },
        { issuerKeys },
      ),
      tls,
      clock: h.clock,
      faults: h.faults,
      journal: h.journal,
    });
    origin = entra.origin;
    delayed = await serve({
      standIn: createEntra(
        { clock: h.clock, directory: h.directory, origin: () => delayedOrigin, graphOrigin: () => h.origin },
        { keyCredentialPropagationDelayMs: PROPAGATION_MS },
      ),
      tls,
      clock: h.clock,
      faults: h.faults,
      journal: h.journal,
    });
    delayedOrigin = delayed.origin;
    client = graphClient(h);
  });
  afterAll(async () => {
    await entra?.close();
    await delayed?.close();
    await h?.close();
  });

  const cert = (opts: Parameters<LocalCertificateKeys['add']>[1] = {}) => {
    const ref: CertificateRef = { certificateName: `cert-${++n}`, version: `v${n}` };
    return { ref, ...keys.add(ref, opts) };
  };

  /** An app the function identity owns (created through Graph), with a service principal. */
  async function newApp(): Promise<{ id: string; appId: string }> {
    const app = (await client.api('/applications').post({ displayName: `app ${++n}` })) as {
      id: string;
      appId: string;
    };
    h.directory.addServicePrincipal({ appId: app.appId, displayName: 'sp', createdAt: 0 });
    return app;
  }

  const keyCredentialsOf = async (id: string) =>
    (
      (await client.api(`/applications/${id}`).select(['keyCredentials']).get()) as {
        keyCredentials: Json[];
      }
    ).keyCredentials;

  async function proof(ref: CertificateRef, claims: Json, alg: 'RS256' | 'PS256' = 'RS256') {
    const facts = await keys.publicCertificate(ref);
    return keys.signJwt(ref, alg, { x5t: facts.x5t }, claims);
  }
  const proofClaims = (objectId: string, over: Json = {}) => {
    const nbf = h.clock.seconds();
    return { aud: PROOF_AUD, iss: objectId, nbf, exp: nbf + 600, jti: randomUUID(), ...over };
  };

  describe('keyCredentials', () => {
    it('PATCH sets the collection; key only with $select=keyCredentials; defaults from the certificate', async () => {
      const app = await newApp();
      const a = cert({ subject: 'm365-snow a' });
      await client
        .api(`/applications/${app.id}`)
        .patch({ keyCredentials: [{ type: 'AsymmetricX509Cert', usage: 'Verify', key: a.cerBase64 }] });
      const full = (await client.api(`/applications/${app.id}`).get()) as { keyCredentials: Json[] };
      expect(full.keyCredentials).toHaveLength(1);
      expect(full.keyCredentials[0]).toMatchObject({
        key: null,
        customKeyIdentifier: a.thumbprintHex,
        displayName: 'CN=m365-snow a',
        type: 'AsymmetricX509Cert',
        usage: 'Verify',
      });
      expect(full.keyCredentials[0].keyId).toMatch(/^[0-9a-f-]{36}$/);
      expect(Date.parse(String(full.keyCredentials[0].endDateTime))).toBe(
        Date.parse(a.notAfter) - (Date.parse(a.notAfter) % 1000),
      );
      expect((await keyCredentialsOf(app.id))[0].key).toBe(a.cerBase64);
    });

    it('PATCH replaces the whole collection: sending the others back keeps them with their keyIds', async () => {
      const app = await newApp();
      const a = cert();
      const b = cert();
      await client
        .api(`/applications/${app.id}`)
        .patch({ keyCredentials: [{ type: 'AsymmetricX509Cert', usage: 'Verify', key: a.cerBase64 }] });
      const [first] = await keyCredentialsOf(app.id);
      await client.api(`/applications/${app.id}`).patch({
        keyCredentials: [first, { type: 'AsymmetricX509Cert', usage: 'Verify', key: b.cerBase64, displayName: 'b' }],
      });
      const after = await keyCredentialsOf(app.id);
      expect(after.map((k) => k.customKeyIdentifier)).toEqual([a.thumbprintHex, b.thumbprintHex]);
      expect(after[0].keyId).toBe(first.keyId);
      // Without the others, they are gone.
      await client.api(`/applications/${app.id}`).patch({ keyCredentials: [after[1]] });
      expect((await keyCredentialsOf(app.id)).map((k) => k.customKeyIdentifier)).toEqual([b.thumbprintHex]);
    });

    it('refuses a key that is not a certificate with 400', async () => {
      const app = await newApp();
      const err = await failure(
        client.api(`/applications/${app.id}`).patch({
          keyCredentials: [
            { type: 'AsymmetricX509Cert', usage: 'Verify', key: Buffer.from('nope').toString('base64') },
          ],
        }),
      );
      expect(err.statusCode).toBe(400);
      expect(err.code).toBe('Request_BadRequest');
    });

    it('answers Directory_ResourceSizeExceeded beyond 600 key credentials', async () => {
      const app = await newApp();
      const a = cert();
      const many = Array.from({ length: 601 }, () => ({
        type: 'AsymmetricX509Cert',
        usage: 'Verify',
        key: a.cerBase64,
      }));
      const err = await failure(client.api(`/applications/${app.id}`).patch({ keyCredentials: many }));
      expect(err.code).toBe('Directory_ResourceSizeExceeded');
      expect(err.message).toContain('The size of the object has exceeded its limit');
      expect(await keyCredentialsOf(app.id)).toEqual([]);
    });

    it('refuses a caller that holds OwnedBy but does not own the app (PATCH and addKey)', async () => {
      const app = await newApp();
      const a = cert();
      const other = graphClient(h, otherCaller(h, ['Application.ReadWrite.OwnedBy']));
      const patch = await failure(
        other
          .api(`/applications/${app.id}`)
          .patch({ keyCredentials: [{ type: 'AsymmetricX509Cert', usage: 'Verify', key: a.cerBase64 }] }),
      );
      expect(patch.statusCode).toBe(403);
      const add = await failure(
        other.api(`/applications/${app.id}/addKey`).post({
          keyCredential: { type: 'AsymmetricX509Cert', usage: 'Verify', key: a.cerBase64 },
          passwordCredential: null,
          proof: await proof(a.ref, proofClaims(app.id)),
        }),
      );
      expect(add.statusCode).toBe(403);
    });
  });

  describe('addKey and removeKey', () => {
    let app: { id: string; appId: string };
    let a: ReturnType<typeof cert>;
    beforeEach(async () => {
      app = await newApp();
      a = cert();
      await client
        .api(`/applications/${app.id}`)
        .patch({ keyCredentials: [{ type: 'AsymmetricX509Cert', usage: 'Verify', key: a.cerBase64 }] });
    });
    afterEach(() => h.clock.reset());

    const addB = async (proofToken: string) => {
      const b = cert();
      const res = client.api(`/applications/${app.id}/addKey`).post({
        keyCredential: { type: 'AsymmetricX509Cert', usage: 'Verify', key: b.cerBase64 },
        passwordCredential: null,
        proof: proofToken,
      }) as Promise<Json>;
      return { b, res };
    };

    it('adds a key with a valid proof signed by a registered certificate (RS256 x5t or PS256)', async () => {
      const { b, res } = await addB(await proof(a.ref, proofClaims(app.id)));
      const added = await res;
      expect(added).toMatchObject({ customKeyIdentifier: b.thumbprintHex, type: 'AsymmetricX509Cert', key: null });
      const { b: c, res: res2 } = await addB(await proof(a.ref, proofClaims(app.id), 'PS256'));
      await res2;
      expect((await keyCredentialsOf(app.id)).map((k) => k.customKeyIdentifier)).toEqual([
        a.thumbprintHex,
        b.thumbprintHex,
        c.thumbprintHex,
      ]);
    });

    it.each([
      ['wrong aud', (id: string) => proofClaims(id, { aud: '00000003-0000-0000-c000-000000000000' })],
      ['iss = appId instead of object id', () => proofClaims(app.appId)],
      ['lifetime over 10 minutes', (id: string) => proofClaims(id, { exp: h.clock.seconds() + 601 })],
      ['no nbf', (id: string) => proofClaims(id, { nbf: undefined })],
    ])('refuses a proof with %s (401 Authentication_MissingOrMalformed)', async (_name, claims) => {
      const { res } = await addB(await proof(a.ref, claims(app.id)));
      const err = await failure(res);
      expect(err.statusCode).toBe(401);
      expect(err.code).toBe('Authentication_MissingOrMalformed');
      expect(await keyCredentialsOf(app.id)).toHaveLength(1);
    });

    it('refuses an expired proof and one signed by a certificate the app does not have', async () => {
      const token = await proof(a.ref, proofClaims(app.id));
      h.clock.advance(601_000);
      expect((await failure((await addB(token)).res)).code).toBe('Authentication_MissingOrMalformed');
      h.clock.reset();
      const stranger = cert();
      const err = await failure((await addB(await proof(stranger.ref, proofClaims(app.id)))).res);
      expect(err.code).toBe('Authentication_MissingOrMalformed');
    });

    it('removes a key with a proof; an unknown keyId is 400', async () => {
      const { b, res } = await addB(await proof(a.ref, proofClaims(app.id)));
      const added = (await res) as { keyId: string };
      await client
        .api(`/applications/${app.id}/removeKey`)
        .post({ keyId: added.keyId, proof: await proof(b.ref, proofClaims(app.id)) });
      expect((await keyCredentialsOf(app.id)).map((k) => k.customKeyIdentifier)).toEqual([a.thumbprintHex]);
      const err = await failure(
        client
          .api(`/applications/${app.id}/removeKey`)
          .post({ keyId: added.keyId, proof: await proof(a.ref, proofClaims(app.id)) }),
      );
      expect(err.statusCode).toBe(400);
    });
  });

  describe('federatedIdentityCredentials', () => {
    const fic = (name: string, over: Json = {}) => ({
      name,
      issuer: SN_ISSUER,
      subject: `subject-${name}`,
      audiences: [WIF_AUD],
      description: null,
      ...over,
    });

    it('creates, lists, reads by id and name, patches and deletes', async () => {
      const app = await newApp();
      const base = `/applications/${app.id}/federatedIdentityCredentials`;
      const created = (await client.api(base).post(fic('one'))) as Json;
      expect(created).toMatchObject({ name: 'one', issuer: SN_ISSUER, audiences: [WIF_AUD] });
      expect(((await client.api(base).get()) as { value: Json[] }).value).toHaveLength(1);
      expect(await client.api(`${base}/${String(created.id)}`).get()).toMatchObject({ name: 'one' });
      expect(await client.api(`${base}(name='one')`).get()).toMatchObject({ id: created.id });
      await client.api(`${base}/${String(created.id)}`).patch({ subject: 'changed' });
      expect(await client.api(`${base}/${String(created.id)}`).get()).toMatchObject({ subject: 'changed' });
      expect((await failure(client.api(`${base}/${String(created.id)}`).patch({ name: 'renamed' }))).statusCode).toBe(
        400,
      );
      await client.api(`${base}/${String(created.id)}`).delete();
      expect((await failure(client.api(`${base}/${String(created.id)}`).get())).statusCode).toBe(404);
    });

    it('enforces a unique name, a unique issuer + subject, exactly one audience and at most 20 per app', async () => {
      const app = await newApp();
      const base = `/applications/${app.id}/federatedIdentityCredentials`;
      await client.api(base).post(fic('one'));
      const dup = await failure(client.api(base).post(fic('one', { subject: 'other' })));
      expect(dup.statusCode).toBe(409);
      expect(dup.code).toBe('Request_MultipleObjectsWithSameKeyValue');
      const pair = await failure(client.api(base).post(fic('two', { subject: 'subject-one' })));
      expect(pair.statusCode).toBe(400);
      expect(pair.code).toBe('InvalidFederatedIdentityCredentialValue');
      const two = await failure(client.api(base).post(fic('three', { audiences: [WIF_AUD, 'api://other'] })));
      expect(two.statusCode).toBe(400);
      for (let i = 2; i <= 20; i++) await client.api(base).post(fic(`n${i}`));
      const over = await failure(client.api(base).post(fic('n21')));
      expect(over.statusCode).toBe(400);
      expect(((await client.api(base).get()) as { value: Json[] }).value).toHaveLength(20);
    });
  });

  describe('client assertions at the token endpoints', () => {
    afterEach(() => h.clock.reset());
    const tid = () => h.directory.tenantId;
    const post = (origin: string, v: 'v1' | 'v2', form: Record<string, string>): Promise<AxiosResponse<Json>> =>
      axios.post<Json>(
        `${origin}/${tid()}/${v === 'v1' ? 'oauth2/token' : 'oauth2/v2.0/token'}`,
        new URLSearchParams(form).toString(),
        { headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, validateStatus: () => true },
      );
    const tokenUrl = (origin: string, v: 'v1' | 'v2') =>
      `${origin}/${tid()}/${v === 'v1' ? 'oauth2/token' : 'oauth2/v2.0/token'}`;
    const form = (clientId: string, v: 'v1' | 'v2', assertion: string) => ({
      grant_type: 'client_credentials',
      client_id: clientId,
      client_assertion_type: JWT_BEARER,
      client_assertion: assertion,
      ...(v === 'v1' ? { resource: 'https://graph.microsoft.com' } : { scope: 'https://graph.microsoft.com/.default' }),
    });
    const assertionClaims = (appId: string, aud: string, over: Json = {}) => {
      const now = h.clock.seconds();
      return { aud, iss: appId, sub: appId, jti: randomUUID(), nbf: now, iat: now, exp: now + 600, ...over };
    };

    async function appWithCert(opts: Parameters<LocalCertificateKeys['add']>[1] = {}) {
      const app = await newApp();
      const a = cert(opts);
      await client
        .api(`/applications/${app.id}`)
        .patch({ keyCredentials: [{ type: 'AsymmetricX509Cert', usage: 'Verify', key: a.cerBase64 }] });
      return { app, a };
    }

    it('accepts RS256 with x5t (v2) and PS256 with x5t#S256 (v1); the token says a certificate was used', async () => {
      const { app, a } = await appWithCert();
      const rs = await keys.signJwt(
        a.ref,
        'RS256',
        { x5t: a.x5t },
        assertionClaims(app.appId, tokenUrl(entra.origin, 'v2')),
      );
      const r1 = await post(entra.origin, 'v2', form(app.appId, 'v2', rs));
      expect(r1.status).toBe(200);
      expect(decodeJwt(String(r1.data.access_token))?.claims).toMatchObject({ appid: app.appId, appidacr: '2' });
      const ps = await keys.signJwt(
        a.ref,
        'PS256',
        { 'x5t#S256': a.x5tS256 },
        assertionClaims(app.appId, tokenUrl(entra.origin, 'v1')),
      );
      const r2 = await post(entra.origin, 'v1', form(app.appId, 'v1', ps));
      expect(r2.status).toBe(200);
    });

    it('refuses the wrong aud (700023), a client id mismatch (700021) and an unknown thumbprint (700027)', async () => {
      const { app, a } = await appWithCert();
      const wrongAud = await keys.signJwt(
        a.ref,
        'RS256',
        { x5t: a.x5t },
        assertionClaims(app.appId, tokenUrl(entra.origin, 'v1')),
      );
      const r1 = await post(entra.origin, 'v2', form(app.appId, 'v2', wrongAud));
      expect(r1.status).toBe(401);
      expect(r1.data.error_codes).toEqual([700023]);
      const other = await newApp();
      const mismatch = await keys.signJwt(
        a.ref,
        'RS256',
        { x5t: a.x5t },
        assertionClaims(app.appId, tokenUrl(entra.origin, 'v2')),
      );
      expect((await post(entra.origin, 'v2', form(other.appId, 'v2', mismatch))).data.error_codes).toEqual([700021]);
      const stranger = cert();
      const unknown = await keys.signJwt(
        stranger.ref,
        'RS256',
        { x5t: stranger.x5t },
        assertionClaims(app.appId, tokenUrl(entra.origin, 'v2')),
      );
      const r3 = await post(entra.origin, 'v2', form(app.appId, 'v2', unknown));
      expect(r3.data.error_codes).toEqual([700027]);
      expect(String(r3.data.error_description)).toContain(
        `Thumbprint of key used by client: '${stranger.thumbprintHex}'`,
      );
      expect(String(r3.data.error_description)).toContain('The key was not found.');
    });

    it('refuses a certificate with a 1024-bit key (700027)', async () => {
      const { app, a } = await appWithCert({ bits: 1024 });
      const weak = await keys.signJwt(
        a.ref,
        'RS256',
        { x5t: a.x5t },
        assertionClaims(app.appId, tokenUrl(entra.origin, 'v2')),
      );
      const r = await post(entra.origin, 'v2', form(app.appId, 'v2', weak));
      expect(r.status).toBe(401);
      expect(r.data.error_codes).toEqual([700027]);
      expect(String(r.data.error_description)).toContain(
        'RSA key size 1024 is less than the minimum required 2048 bits',
      );
    });

    it('refuses a key credential added moments ago until it has propagated (sandbox clock)', async () => {
      const { app, a } = await appWithCert();
      const at = async () =>
        post(
          delayed.origin,
          'v2',
          form(
            app.appId,
            'v2',
            await keys.signJwt(
              a.ref,
              'RS256',
              { x5t: a.x5t },
              assertionClaims(app.appId, tokenUrl(delayed.origin, 'v2')),
            ),
          ),
        );
      const early = await at();
      expect(early.data.error_codes).toEqual([700027]);
      h.clock.advance(PROPAGATION_MS);
      expect((await at()).status).toBe(200);
    });

    describe('federated', () => {
      let app: { id: string; appId: string };
      const subject = 'servicenow-wif-subject';
      beforeAll(async () => {
        app = await newApp();
        await client
          .api(`/applications/${app.id}/federatedIdentityCredentials`)
          .post({ name: 'm365-snow-test', issuer: SN_ISSUER, subject, audiences: [WIF_AUD] });
      });
      const federated = (claims: Json, key = snKey.privateKey, kid = 'sn-1') => {
        const header = Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid })).toString('base64url');
        const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
        return `${header}.${body}.${sign('sha256', Buffer.from(`${header}.${body}`), key).toString('base64url')}`;
      };
      const wif = (over: Json = {}) => {
        const now = h.clock.seconds();
        return {
          iss: SN_ISSUER,
          sub: subject,
          aud: WIF_AUD,
          jti: randomUUID(),
          nbf: now,
          iat: now,
          exp: now + 300,
          ...over,
        };
      };

      it('accepts an assertion of the federated issuer with the exact subject and audience', async () => {
        const r = await post(entra.origin, 'v2', form(app.appId, 'v2', federated(wif())));
        expect(r.status).toBe(200);
        expect(decodeJwt(String(r.data.access_token))?.claims).toMatchObject({ appid: app.appId });
      });

      it('answers 70021 for an unknown issuer, 700213 for another subject, 700027 for a bad signature', async () => {
        const unknown = await post(
          entra.origin,
          'v2',
          form(app.appId, 'v2', federated(wif({ iss: 'https://other.example' }))),
        );
        expect(unknown.status).toBe(400);
        expect(unknown.data.error_codes).toEqual([70021]);
        expect(String(unknown.data.error_description)).toContain('No matching federated identity record found');
        const wrongSub = await post(
          entra.origin,
          'v2',
          form(app.appId, 'v2', federated(wif({ sub: subject.toUpperCase() }))),
        );
        expect(wrongSub.data.error_codes).toEqual([700213]);
        const badSig = await post(entra.origin, 'v2', form(app.appId, 'v2', federated(wif(), otherKey.privateKey)));
        expect(badSig.status).toBe(401);
        expect(badSig.data.error_codes).toEqual([700027]);
      });
    });
  });
});
