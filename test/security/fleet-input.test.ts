/**
 * Edge input of the decommissioning request (no stand-in needed: the body is refused before anything is read). The
 * reason is shown to the approvers in the approval mail and page and kept in the audit trail, so text that displays
 * as something else is refused like control characters: bidirectional overrides and isolates and other invisible
 * format characters (Unicode general category Cf; "Trojan Source", https://trojansource.codes/, CVE-2021-42574), and
 * lone surrogates (not Unicode text at all). Every problem is listed at once.
 */
import { HttpRequest, InvocationContext } from '@azure/functions';
import type { DurableClient } from 'durable-functions';

import type { Deps } from '../../src/app/deps';
import { loadConfig } from '../../src/config';
import { createDecommissionHandler } from '../../src/functions/decommission';
import { startIntegration } from '../../src/functions/integrations';
import { createRotationHandlers } from '../../src/functions/rotation';

const ID = 'sn-dev12345-0a1b2c3d';
const config = loadConfig({
  KEY_VAULT_URL: 'https://kv-prov.vault.azure.net/',
  SERVICENOW_TOKEN_AUDIENCE: 'api://0f4b8e2a-7c1d-4e5f-9a3b-2c6d8e0f1a2b',
  MAIL_SENDER: 'provisioner@contoso.com',
  PUBLIC_BASE_URL: 'https://app.example/',
  AZURE_TENANT_ID: '72f988bf-86f1-41af-91ab-2d7cd011db47',
  TASKHUB_NAME: 'provisioner',
  AzureWebJobsStorage__tableServiceUri: 'https://stprov.table.core.windows.net/',
  APPROVERS: 'approver@contoso.com',
});
const untouched = new Proxy({} as Deps, {
  get: (_t, prop) => {
    if (prop === 'config') return config;
    throw new Error(`deps.${String(prop)} must not be used for a refused request`);
  },
});

async function del(body: string) {
  const res = await createDecommissionHandler(() => untouched)(
    new HttpRequest({
      method: 'DELETE',
      url: `https://app.example/api/integrations/${ID}`,
      params: { id: ID },
      headers: { 'content-type': 'application/json' },
      body: { string: body },
    }),
    {} as DurableClient,
    new InvocationContext(),
  );
  return { status: res.status, fields: (res.jsonBody as { errors?: { field: string }[] }).errors?.map((e) => e.field) };
}

describe('DELETE /api/integrations/{id}: the reason', () => {
  it.each([
    ['a right-to-left override', 'retire the test copy \u202Etxet neddih\u202C'],
    ['a right-to-left isolate', 'retire \u2067copy\u2069'],
    ['a zero-width space', 'retire\u200Bcopy'],
    ['a lone surrogate', 'retire \ud800 copy'],
  ])('refuses %s (400, listed with the other problems)', async (_what, reason) => {
    // JSON.stringify writes a lone surrogate as the escape \ud800 (well-formed JSON), as a client may send it.
    const r = await del(JSON.stringify({ reason, requestedBy: 'not an address' }));
    expect(r).toEqual({ status: 400, fields: ['requestedBy', 'reason'] });
  });

  it('accepts letters of any script, digits and punctuation', async () => {
    // Valid: the handler goes on to the registry (which this test does not provide).
    await expect(del(JSON.stringify({ reason: 'Vertrag beendet — 契約終了 (INC0010001), العقد' }))).rejects.toThrow(
      /deps\.registry must not be used/,
    );
  });
});

describe('POST /api/integrations: a repeated query parameter', () => {
  it('refuses reprovision given twice (400, listed with the problems of the body) instead of reading the first', async () => {
    const res = await startIntegration(
      new HttpRequest({
        method: 'POST',
        url: 'https://app.example/api/integrations?reprovision=false&reprovision=true',
        headers: { 'content-type': 'application/json' },
        body: { string: JSON.stringify({ tenant: 'not a tenant', serviceNowInstance: 'dev12345' }) },
      }),
      {} as DurableClient,
      new InvocationContext(),
      untouched,
    );
    expect(res.status).toBe(400);
    const fields = (res.jsonBody as { errors: { field: string }[] }).errors.map((e) => e.field);
    expect(fields[0]).toBe('reprovision');
    expect(fields).toContain('tenant');
  });
});

describe('GET /api/integrations/{id}/rotate/{instanceId}: an id that extends another', () => {
  it("does not show another integration's rotation under this integration's path (404)", async () => {
    // Integration `${ID}-0b1b2c3d` (instance dev12345-0a1b2c3d): its rotation id starts with `rotate-${ID}-`.
    const theirs = `rotate-${ID}-0b1b2c3d-20260301`;
    const client = {
      getStatus: (instanceId: string) =>
        instanceId === theirs
          ? Promise.resolve({
              instanceId,
              runtimeStatus: 'Running',
              createdTime: '2026-03-01T00:00:00Z',
              lastUpdatedTime: '2026-03-01T00:00:00Z',
              customStatus: { step: 'handoff', steps: [], rotated: [], confirmed: {}, orphans: [] },
            })
          : Promise.reject(new Error(`Durable HTTP 404 for ${instanceId}`)),
    };
    const { status } = createRotationHandlers({ deps: () => untouched });
    const res = await status(
      new HttpRequest({
        method: 'GET',
        url: `https://app.example/api/integrations/${ID}/rotate/${theirs}`,
        params: { id: ID, instanceId: theirs },
      }),
      client as unknown as DurableClient,
      new InvocationContext(),
    );
    expect(res.status).toBe(404);
  });
});
