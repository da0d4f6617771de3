/**
 * The bootstrap and trust routes' edges, on their handlers directly: every problem with the query listed (400), the
 * settings the script needs listed when the deployment lacks them (409), and the script's content type.
 */
import { HttpRequest, InvocationContext } from '@azure/functions';
import type { DurableClient } from 'durable-functions';

import { loadConfig } from '../../src/config';
import { serviceNowBootstrapScript, serviceNowTrust } from '../../src/functions/servicenow-trust';

const base = {
  KEY_VAULT_URL: 'https://kv.vault.azure.net/',
  MAIL_SENDER: 'sender@contoso.com',
  PUBLIC_BASE_URL: 'https://func.azurewebsites.net',
  AZURE_TENANT_ID: '72f988bf-86f1-41af-91ab-2d7cd011db47',
  TASKHUB_NAME: 'hub1',
  AzureWebJobsStorage__tableServiceUri: 'https://st.table.core.windows.net',
  APPROVERS: 'approver@contoso.com',
};
const AUDIENCE = 'api://0f4b8e2a-7c1d-4e5f-9a3b-2c6d8e0f1a2b';
const OID = 'a1b2c3d4-0000-4000-8000-00000000000a';
const noCredential = {
  getToken: () => Promise.reject(new Error('not used')),
};
const client = {} as DurableClient;
const ctx = new InvocationContext();

const bootstrap = (query: string, settings: Record<string, string>) =>
  serviceNowBootstrapScript(
    new HttpRequest({ method: 'GET', url: `https://app.example/api/servicenow/bootstrap${query}` }),
    client,
    ctx,
    { config: loadConfig({ ...base, ...settings }), credential: noCredential },
  );

type ProblemBody = { errors?: Array<{ field: string; message: string }> };

describe('GET /api/servicenow/bootstrap', () => {
  const full = { SERVICENOW_TOKEN_AUDIENCE: AUDIENCE, SERVICENOW_IDENTITY_OBJECT_ID: OID };

  it('answers the script as text/plain for a valid instance', async () => {
    const res = await bootstrap('?instance=contoso', full);
    expect(res.status).toBe(200);
    expect((res.headers as Record<string, string>)['Content-Type']).toBe('text/plain; charset=utf-8');
    expect(res.body as string).toContain("connect ServiceNow instance 'contoso'");
  });

  it('400 lists every problem: missing, invalid, repeated, unknown', async () => {
    const fields = async (q: string) =>
      ((await bootstrap(q, full)).jsonBody as ProblemBody).errors?.map((e) => e.field).sort();
    expect((await bootstrap('', full)).status).toBe(400);
    expect(await fields('')).toEqual(['instance']);
    expect(await fields('?instance=Contoso_1')).toEqual(['instance']);
    expect(await fields('?instance=a&instance=b&x=1')).toEqual(['instance', 'x']);
  });

  it('409 names the settings the script needs when the deployment lacks them', async () => {
    const res = await bootstrap('?instance=contoso', { SERVICENOW_AUTH_MODE: 'basic' });
    expect(res.status).toBe(409);
    expect((res.jsonBody as ProblemBody).errors?.map((e) => e.field)).toEqual([
      'SERVICENOW_TOKEN_AUDIENCE',
      'SERVICENOW_IDENTITY_OBJECT_ID',
    ]);
  });
});

describe('GET /api/servicenow/instances/{name}/trust', () => {
  it('400 for an invalid instance name, 409 without the settings, before any token is asked for', async () => {
    const call = (name: string, settings: Record<string, string>) =>
      serviceNowTrust(
        new HttpRequest({
          method: 'GET',
          url: `https://app.example/api/servicenow/instances/${encodeURIComponent(name)}/trust`,
          params: { name },
        }),
        client,
        ctx,
        { config: loadConfig({ ...base, ...settings }), credential: noCredential },
      );
    expect((await call('Bad_Name', { SERVICENOW_TOKEN_AUDIENCE: AUDIENCE })).status).toBe(400);
    const missing = await call('contoso', { SERVICENOW_TOKEN_AUDIENCE: AUDIENCE });
    expect(missing.status).toBe(409);
    expect((missing.jsonBody as ProblemBody).errors?.map((e) => e.field)).toEqual(['SERVICENOW_IDENTITY_OBJECT_ID']);
  });
});
