/**
 * One ServiceNow instance-name rule: what the request validation accepts is exactly what the URL builder accepts
 * (a DNS label, https://www.rfc-editor.org/rfc/rfc1123#page-13), so a name such as `abc-` is a 400 at the edge and
 * never a 500 after the registry was written. And a registry row written for a run whose orchestration never
 * started does not stay `provisioning`.
 */
import { HttpRequest, InvocationContext } from '@azure/functions';
import type { DurableClient } from 'durable-functions';

import { startLocalStack, type LocalStack } from '../../sandbox/stack';
import { getDeps } from '../../src/app/deps';
import { parseIntegrationRequest } from '../../src/api/integration-request';
import { isValidServiceNowInstance, serviceNowInstanceUrl } from '../../src/config';
import { startIntegration } from '../../src/functions/integrations';
import type { IntegrationRecord } from '../../src/registry/types';
import { api, productWrites, provisionRequest } from '../e2e/api-driver';

const base = { tenant: 'contoso.onmicrosoft.com', tenantName: 'Contoso' };
const template = { serviceNow: { urlTemplate: 'https://{instance}.service-now.com' } } as Parameters<
  typeof serviceNowInstanceUrl
>[0];

const NAMES: [string, boolean][] = [
  ['dev00000', true],
  ['a', true],
  ['abc-1', true],
  ['ab--c', true],
  ['a'.repeat(63), true],
  ['abc-', false],
  ['-abc', false],
  ['-', false],
  ['a'.repeat(64), false],
  ['Dev00000', false],
  ['dev_00000', false],
  ['dev.service-now.com', false],
  ['dev00000/evil', false],
  ['', false],
];

describe('the instance-name rule', () => {
  it.each(NAMES)('%s: request validation and URL builder agree (valid: %s)', (name, valid) => {
    const parsed = parseIntegrationRequest({ ...base, serviceNowInstance: name });
    expect(isValidServiceNowInstance(name)).toBe(valid);
    expect(parsed.ok).toBe(valid);
    if (valid) expect(serviceNowInstanceUrl(template, name)).toBe(`https://${name}.service-now.com`);
    else {
      expect(() => serviceNowInstanceUrl(template, name)).toThrow();
      expect(parsed.ok ? [] : parsed.problems.map((p) => p.field)).toContain('serviceNowInstance');
    }
  });

  it('explains the rule in the problem it lists', () => {
    const parsed = parseIntegrationRequest({ ...base, serviceNowInstance: 'abc-' });
    expect(parsed.ok).toBe(false);
    const message = parsed.ok ? '' : parsed.problems.find((p) => p.field === 'serviceNowInstance')?.message;
    expect(message).toMatch(/hyphen/);
  });
});

describe('POST /api/integrations with an instance name the URL builder refuses', () => {
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await startLocalStack();
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('answers 400 listing serviceNowInstance and writes nothing', async () => {
    const mark = stack.sandbox.journal.mark();
    const res = await api(stack, 'POST', '/api/integrations', {
      body: provisionRequest(stack, { serviceNowInstance: 'abc-' }),
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const errors = (res.json as { errors?: { field: string }[] }).errors ?? [];
    expect(errors.map((e) => e.field)).toEqual(['serviceNowInstance']);
    expect(await getDeps().registry.list()).toEqual([]);
    expect(stack.host.durable.query()).toEqual([]);
    expect(productWrites(stack, mark)).toEqual([]);
    expect(stack.host.durable.logs.filter((l) => /unhandled error/.test(l.message))).toEqual([]);
  });

  describe('when the orchestration cannot be started', () => {
    /** A durable client whose management API is down: no instance exists, and starting one fails. */
    const downClient = {
      getStatus: () => Promise.reject(new Error('getStatus failed: HTTP 404')),
      startNew: () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:7071')),
    } as unknown as DurableClient;
    const post = (body: unknown) =>
      new HttpRequest({
        method: 'POST',
        url: `${stack.host.baseUrl}/api/integrations`,
        headers: { 'content-type': 'application/json' },
        body: { string: JSON.stringify(body) },
      });
    const ctx = () => new InvocationContext({ functionName: 'startIntegration' });

    it('does not leave a new registry row provisioning', async () => {
      const request = provisionRequest(stack, { tenantName: 'Unstarted' });
      await expect(startIntegration(post(request), downClient, ctx())).rejects.toThrow(/ECONNREFUSED/);
      const rows = await getDeps().registry.list();
      expect(rows.map((r) => r.status)).not.toContain('provisioning');
    });

    it('puts an existing row back as it was', async () => {
      const deps = getDeps();
      const rows = await deps.registry.list();
      const id = rows[0]?.id ?? 'sn-x-00000000';
      const before: IntegrationRecord = {
        ...rows[0],
        id,
        status: 'failed',
        instanceId: `provision-${id}`,
        runs: 1,
      };
      await deps.registry.update(id, () => before);
      const request = provisionRequest(stack, { tenantName: 'Unstarted' });
      await expect(startIntegration(post(request), downClient, ctx())).rejects.toThrow(/ECONNREFUSED/);
      const after = (await deps.registry.get(id))?.value;
      expect(after).toMatchObject({ status: 'failed', instanceId: `provision-${id}`, runs: 1 });
    });
  });
});
