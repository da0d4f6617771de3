/**
 * Deadlines and token refresh against the sandbox, with the real SDK clients over HTTPS as the app builds them
 * (createDeps from settings). A `hang` fault is a request the stand-in never answers: each client must fail it within
 * its (short, test-set) deadline with a retriable `Timeout` ExternalServiceError, so the durable retry takes over.
 * No assertion depends on timing beyond "finished before a generous bound" (jest's own timeout per test).
 */
import { runChecks } from '../../src/activities/checks';
import { preflight } from '../../src/activities/preflight';
import { m365SupportAad } from '../../src/profiles/m365-support-aad';
import { createDeps, type Deps } from '../../src/app/deps';
import { graphRaw } from '../../src/clients/graph';
import { readSecretValue, toKeyVaultError } from '../../src/clients/keyvault';
import { fetchOpenIdMetadata, requestTokenV1, requestTokenV2 } from '../../src/clients/entra';
import { RefreshableCredential } from '../../src/clients/credentials';
import { entraEndpoints } from '../../src/config';
import { classify, ExternalServiceError } from '../../src/lib/errors';
import type { Sandbox } from '../../sandbox';
import { sandboxConfig, startClientSandbox } from '../integration/clients/helpers';

/** Short deadlines through the settings, as an operator would set them. */
const SHORT = {
  ENTRA_TIMEOUT_SECONDS: '1',
  GRAPH_TIMEOUT_SECONDS: '1',
  KEY_VAULT_TIMEOUT_SECONDS: '1',
  SERVICENOW_TIMEOUT_SECONDS: '1',
};

const timeout = (service: string) => ({ service, code: 'Timeout', retriable: true });

async function failure(p: Promise<unknown>): Promise<ExternalServiceError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ExternalServiceError);
  return err as ExternalServiceError;
}

describe('outbound deadlines and token refresh (sandbox, real clients)', () => {
  let sandbox: Sandbox;
  let deps: Deps;
  let instance: string;

  beforeAll(async () => {
    sandbox = await startClientSandbox();
    instance = sandbox.env().SANDBOX_SERVICENOW_INSTANCE;
  });
  afterAll(() => sandbox.close());
  beforeEach(() => {
    sandbox.reset();
    deps = createDeps(sandboxConfig(sandbox, SHORT), () => sandbox.clock.date());
  });

  describe('a request that is never answered fails within its deadline as a retriable Timeout', () => {
    it('Graph GET', async () => {
      await graphRaw(deps.graph, 'GET', '/applications?$top=1'); // token cached
      sandbox.faults.add({ service: 'graph', method: 'GET', action: { type: 'hang' } });
      const err = await failure(graphRaw(deps.graph, 'GET', '/applications?$top=1'));
      expect(err).toMatchObject(timeout('graph'));
      expect(classify(err)).toMatchObject({ transient: true, kind: 'timeout' });
      expect(sandbox.journal.entries({ service: 'graph' }).filter((e) => e.fault === 'hang')).toHaveLength(1);
    });

    it('Key Vault PUT (setSecret)', async () => {
      sandbox.faults.add({ service: 'keyvault', method: 'PUT', action: { type: 'hang' } });
      const err = await failure(
        deps.secrets.setSecret('hang-put', 'v-1').catch((e: unknown) => {
          throw toKeyVaultError(e, "set secret 'hang-put'");
        }),
      );
      expect(err).toMatchObject(timeout('keyvault'));
    });

    it('Key Vault GET (readSecretValue)', async () => {
      sandbox.keyvault.seedSecret('hang-get', 'v-2');
      sandbox.faults.add({ service: 'keyvault', method: 'GET', action: { type: 'hang' } });
      const err = await failure(readSecretValue(deps.secrets, 'hang-get'));
      expect(err).toMatchObject(timeout('keyvault'));
    });

    it('ServiceNow GET (retried in the client, then a Timeout for the durable retry)', async () => {
      sandbox.faults.add({ service: 'servicenow', path: '/api/now/', action: { type: 'hang' } });
      const err = await failure(deps.serviceNow(instance).list('incident', { pageSize: 1, maxRecords: 1 }));
      expect(err).toMatchObject(timeout('servicenow'));
      // Idempotent: retried within the client's bounded attempts (each with its own deadline).
      expect(sandbox.journal.entries({ service: 'servicenow' }).filter((e) => e.fault === 'hang').length).toBe(4);
    });

    it('ServiceNow GET made by the preflight (the same client and deadline as every other step)', async () => {
      sandbox.faults.add({ service: 'servicenow', method: 'GET', path: '/table/sys_scope', action: { type: 'hang' } });
      const err = await failure(
        preflight(
          {
            integrationId: 'sn-preflight-hang',
            instanceId: 'provision-preflight-hang',
            profileId: m365SupportAad.id,
            tenant: deps.config.tenantId,
            tenantName: 'Contoso',
            serviceNowInstance: instance,
            ipAllowlist: false,
            profile: m365SupportAad,
          },
          deps,
        ),
      );
      expect(err).toMatchObject(timeout('servicenow'));
    }, 15_000);

    it('ServiceNow POST: not re-sent by the client (it may have been applied), retriable for the activity', async () => {
      sandbox.faults.add({ service: 'servicenow', method: 'POST', action: { type: 'hang' } });
      const err = await failure(deps.serviceNow(instance).insert('incident', { short_description: 'hang' }));
      expect(err).toMatchObject(timeout('servicenow'));
      expect(sandbox.journal.entries({ service: 'servicenow' }).filter((e) => e.method === 'POST')).toHaveLength(1);
    });

    it('Entra raw token request (v1 and v2) and OpenID metadata, with ENTRA_TIMEOUT_SECONDS as the default', async () => {
      sandbox.faults.add({ service: 'entra', action: { type: 'hang' } });
      const base = {
        authorityHost: deps.config.entra.authorityHost,
        tenant: deps.config.tenantId,
        clientId: sandbox.env().AZURE_CLIENT_ID,
        clientSecret: sandbox.env().AZURE_CLIENT_SECRET,
      };
      expect(await failure(requestTokenV1({ ...base, resource: deps.config.graph.baseUrl }))).toMatchObject(
        timeout('entra'),
      );
      expect(await failure(requestTokenV2({ ...base, scope: deps.config.graph.scope }))).toMatchObject(
        timeout('entra'),
      );
      const md = entraEndpoints(deps.config.entra.authorityHost, deps.config.tenantId).metadataV2;
      expect(await failure(fetchOpenIdMetadata(md))).toMatchObject(timeout('entra'));
    });

    it('Entra token request made by the credential under a Graph call', async () => {
      sandbox.faults.add({ service: 'entra', method: 'POST', action: { type: 'hang' } });
      const err = await failure(graphRaw(deps.graph, 'GET', '/applications?$top=1'));
      expect(err).toMatchObject(timeout('graph'));
      expect(sandbox.journal.entries({ service: 'graph' })).toHaveLength(0);
    });

    it('Entra token request made by the credential under a Key Vault call', async () => {
      sandbox.keyvault.seedSecret('token-hang', 'v-6');
      sandbox.faults.add({ service: 'entra', method: 'POST', action: { type: 'hang' } });
      const err = await failure(readSecretValue(deps.secrets, 'token-hang'));
      expect(err).toMatchObject(timeout('keyvault'));
    });

    it('a connection reset on the token request is transient too (not a refusal)', async () => {
      sandbox.faults.add({ service: 'entra', method: 'POST', action: { type: 'reset' } });
      const err = await failure(graphRaw(deps.graph, 'GET', '/applications?$top=1'));
      expect(err).toMatchObject({ service: 'graph', retriable: true });
      expect(classify(err).transient).toBe(true);
    });
  });

  describe('Entra throttling during the connectivity checks', () => {
    it('429 AADSTS90055 with Retry-After marks the outbound token check transient (retried, not a failed integration)', async () => {
      const { directory, keyvault } = sandbox;
      const app = directory.addApplication({ displayName: 'throttled outbound' });
      const sp = directory.addServicePrincipal({ appId: app.appId, displayName: app.displayName });
      const { credential, secretText } = directory.addPassword(app, { displayName: 'provision' });
      keyvault.seedSecret('throttled-outbound', secretText);
      // Stored long ago: a refused secret would not count as propagation delay, only the throttling makes it transient.
      sandbox.clock.advance(3600_000);
      const input = {
        integrationId: 'sn-throttle',
        instanceId: 'provision-throttle',
        profileId: 'm365-support-aad',
        tenant: directory.tenantId,
        tenantName: 'Contoso',
        serviceNowInstance: instance,
        apps: [
          {
            role: 'outbound',
            appId: app.appId,
            objectId: app.id,
            servicePrincipalId: sp.id,
            uniqueName: 'throttled-outbound',
            created: true,
          },
        ],
        secrets: [
          {
            role: 'outbound',
            secretName: 'throttled-outbound',
            version: 'v1',
            keyId: credential.keyId,
            expiresOn: new Date(credential.endDateTime).toISOString(),
            created: true,
          },
        ],
        records: [],
        checks: [{ kind: 'outboundToken' as const, app: 'outbound' }],
        expectedRecords: [],
      };
      sandbox.faults.add({
        service: 'entra',
        path: '/oauth2/token$',
        times: 1,
        action: { type: 'status', status: 429, headers: { 'Retry-After': '5' } },
      });
      const [throttled] = await runChecks(input, deps);
      expect(throttled).toMatchObject({ ok: false, transient: true });
      expect(throttled.detail).toContain('AADSTS90055');
      const [later] = await runChecks(input, deps);
      expect(later).toMatchObject({ ok: true });
    });
  });

  describe('a 401 to a token the caches still hold: one refresh, then success', () => {
    const tokenRequests = () =>
      sandbox.journal.entries({ service: 'entra' }).filter((e) => e.method === 'POST' && e.status === 200).length;

    it('Graph: an injected 401 once', async () => {
      await graphRaw(deps.graph, 'GET', '/applications?$top=1');
      const before = tokenRequests();
      sandbox.faults.add({ service: 'graph', method: 'GET', times: 1, action: { type: 'status', status: 401 } });
      const res = await graphRaw(deps.graph, 'GET', '/applications?$top=1');
      expect(res.status).toBe(200);
      expect(tokenRequests()).toBe(before + 1);
      expect((deps.credential as RefreshableCredential).refreshes).toBe(1);
    });

    it('Graph: a token that expired early (sandbox clock moved past its exp)', async () => {
      await graphRaw(deps.graph, 'GET', '/applications?$top=1');
      sandbox.clock.advance(3 * 3600_000);
      const res = await graphRaw(deps.graph, 'GET', '/applications?$top=1');
      expect(res.status).toBe(200);
      const graph = sandbox.journal.entries({ service: 'graph' }).map((e) => e.status);
      expect(graph.slice(-2)).toEqual([401, 200]);
    });

    it('Graph: a second 401 is the answer (no loop)', async () => {
      sandbox.faults.add({ service: 'graph', method: 'GET', action: { type: 'status', status: 401 } });
      const err = await failure(graphRaw(deps.graph, 'GET', '/applications?$top=1'));
      expect(err).toMatchObject({ service: 'graph', status: 401, retriable: false });
      expect(sandbox.journal.entries({ service: 'graph' })).toHaveLength(2);
    });

    it('Key Vault: a token that expired early gets one refresh, then the read succeeds', async () => {
      sandbox.keyvault.seedSecret('refresh-me', 'v-3');
      expect(await readSecretValue(deps.secrets, 'refresh-me')).toBe('v-3');
      const before = tokenRequests();
      sandbox.clock.advance(3 * 3600_000);
      sandbox.keyvault.seedSecret('refresh-me-2', 'v-4');
      expect(await readSecretValue(deps.secrets, 'refresh-me-2')).toBe('v-4');
      expect(tokenRequests()).toBe(before + 1);
      expect((deps.credential as RefreshableCredential).refreshes).toBe(1);
    });

    it('Key Vault: an injected 401 once', async () => {
      sandbox.keyvault.seedSecret('once', 'v-5');
      expect(await readSecretValue(deps.secrets, 'once')).toBe('v-5');
      sandbox.faults.add({ service: 'keyvault', method: 'GET', times: 1, action: { type: 'status', status: 401 } });
      expect(await readSecretValue(deps.secrets, 'once')).toBe('v-5');
    });

    it('ServiceNow (token auth, default): a 401 once gets a new Entra token and succeeds', async () => {
      expect(deps.config.serviceNow.authMode).toBe('entra');
      const sn = deps.serviceNow(instance);
      await sn.list('incident', { query: 'number=INC0000004', pageSize: 1 });
      const tokenRequests = () =>
        sandbox.journal.entries({ service: 'entra' }).filter((e) => e.path.endsWith('/token') && e.status === 200)
          .length;
      const before = tokenRequests();
      sandbox.faults.add({ service: 'servicenow', times: 1, action: { type: 'status', status: 401 } });
      const rows = await sn.list('incident', { query: 'number=INC0000004', pageSize: 1 });
      expect(Array.isArray(rows)).toBe(true);
      expect(
        sandbox.journal
          .entries({ service: 'servicenow' })
          .map((e) => e.status)
          .slice(-2),
      ).toEqual([401, 200]);
      expect(tokenRequests()).toBe(before + 1); // one new token, not the cached one
      expect(sandbox.journal.entries({ service: 'keyvault' }).filter((e) => /servicenow-/.test(e.path))).toEqual([]);
    });

    it('ServiceNow (basic fallback): a 401 once re-reads the credentials from Key Vault and succeeds', async () => {
      sandbox.keyvault.seedSecret(`servicenow-${instance}-username`, sandbox.servicenow.adminUser);
      sandbox.keyvault.seedSecret(`servicenow-${instance}-password`, sandbox.servicenow.adminPassword);
      deps = createDeps(sandboxConfig(sandbox, { ...SHORT, SERVICENOW_AUTH_MODE: 'basic' }), () =>
        sandbox.clock.date(),
      );
      const sn = deps.serviceNow(instance);
      await sn.list('incident', { query: 'number=INC0000004', pageSize: 1 });
      const kvReads = () => sandbox.journal.entries({ service: 'keyvault' }).filter((e) => e.status === 200).length;
      const before = kvReads();
      sandbox.faults.add({ service: 'servicenow', times: 1, action: { type: 'status', status: 401 } });
      const rows = await sn.list('incident', { query: 'number=INC0000004', pageSize: 1 });
      expect(Array.isArray(rows)).toBe(true);
      expect(
        sandbox.journal
          .entries({ service: 'servicenow' })
          .map((e) => e.status)
          .slice(-2),
      ).toEqual([401, 200]);
      expect(kvReads()).toBe(before + 2); // username and password read again
    });
  });
});
