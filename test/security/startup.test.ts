/**
 * Settings are checked once, when the entry module loads: with an invalid setting the app refuses to serve. Every
 * HTTP trigger answers 503 with a problem document naming each invalid setting and why (never its value), timers and
 * activities throw that ConfigError before doing anything, the host log gets the list once, and nothing is started or
 * written. Through the local Functions host serving the real entry module, against the sandbox.
 */
import type { ActivityName } from '../../src/activities';
import { ConfigError } from '../../src/config';
import { startLocalStack, type LocalStack } from '../../sandbox/stack';
import { api, productWrites, provisionRequest, type ApiResponse } from '../e2e/api-driver';

interface ProblemDocument {
  type: string;
  title: string;
  status: number;
  errors?: { field: string; message: string }[];
}

// Two settings out of range: a value that must never be echoed, and the one the fuzz run found.
const BAD = { APPROVAL_TIMEOUT_MINUTES: '1', CHECK_ATTEMPTS: '777' };

describe('invalid settings: the app refuses to serve', () => {
  let stack: LocalStack;
  let mark: number;
  const logged: string[] = [];
  let spy: jest.SpyInstance;

  beforeAll(async () => {
    spy = jest.spyOn(console, 'error').mockImplementation((...args: unknown[]) => {
      logged.push(args.map(String).join(' '));
    });
    stack = await startLocalStack({ settings: BAD });
    mark = stack.sandbox.journal.mark();
  }, 60000);

  afterAll(async () => {
    await stack?.close();
    spy.mockRestore();
  });

  /** A 503 problem document listing exactly the two bad settings with their reasons, and no value. */
  function expectRefused(res: ApiResponse): void {
    expect(res.status).toBe(503);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const doc = res.json as ProblemDocument;
    expect(doc).toMatchObject({ type: 'about:blank', status: 503 });
    expect(doc.errors).toEqual([
      { field: 'APPROVAL_TIMEOUT_MINUTES', message: expect.stringMatching(/whole number from 5 to/) as unknown },
      { field: 'CHECK_ATTEMPTS', message: expect.stringMatching(/whole number from 1 to 20/) as unknown },
    ]);
    expect(res.text).not.toContain('777');
  }

  it('answers 503 listing each setting on every HTTP route, never a 500', async () => {
    const id = 'sn-dev00000-deadbeef';
    expectRefused(await api(stack, 'POST', '/api/integrations', { body: provisionRequest(stack) }));
    expectRefused(await api(stack, 'POST', '/api/integrations', { rawBody: '{not json' }));
    expectRefused(await api(stack, 'GET', '/api/integrations'));
    expectRefused(await api(stack, 'GET', `/api/integrations/${id}`));
    expectRefused(await api(stack, 'POST', `/api/integrations/${id}/rotate`, { body: {} }));
    expectRefused(await api(stack, 'GET', `/api/integrations/${id}/rotations/rotate-${id}-x`));
    expectRefused(await api(stack, 'GET', '/api/approvals/provision-x?token=abc', { key: null }));
    const decided = await fetch(`${stack.host.baseUrl}/api/approvals/provision-x`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'token=abc&decision=approve&csrf=x',
    });
    expect(decided.status).toBe(503);
    expect(await decided.json()).toMatchObject({ status: 503, errors: [{ field: 'APPROVAL_TIMEOUT_MINUTES' }, {}] });
  });

  it('still checks the function key first (the host does, before the app)', async () => {
    const res = await api(stack, 'POST', '/api/integrations', { key: null, body: provisionRequest(stack) });
    expect(res.status).toBe(401);
  });

  it('fails timers and activities fast with the same ConfigError', async () => {
    const err = await stack.host.runTimer('rotationSweep').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems.map((p) => p.name)).toEqual(['APPROVAL_TIMEOUT_MINUTES', 'CHECK_ATTEMPTS']);
    const preflight = stack.host.registry.activity('preflight' satisfies ActivityName);
    expect(preflight).toBeDefined();
    // The durable library wraps the handler; sync throw or rejection, the activity fails with the ConfigError.
    const run = Promise.resolve().then(() => preflight!({}, {} as never));
    await expect(run).rejects.toThrow(ConfigError);
    await expect(run).rejects.toThrow(/APPROVAL_TIMEOUT_MINUTES: must be a whole number/);
  });

  it('logged the list once at start-up, by name and reason, without values', () => {
    const lines = logged.filter((l) => l.includes('APPROVAL_TIMEOUT_MINUTES'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/refuses to serve/);
    expect(lines[0]).toContain('CHECK_ATTEMPTS');
    expect(lines[0]).not.toContain('777');
  });

  it('started nothing and wrote nothing', () => {
    expect(stack.host.durable.query()).toEqual([]);
    expect(productWrites(stack, mark)).toEqual([]);
    expect(stack.host.durable.logs.filter((l) => /unhandled error/.test(l.message))).toEqual([]);
  });
});
