import type { SandboxClock } from './core/clock';
import { FaultRuleError, type FaultInjector, type FaultRule } from './core/faults';
import type { Journal } from './core/journal';
import type { SandboxRequest, SandboxResponse, ServiceName, StandIn } from './core/types';
import type { SentMail } from './graph';

export interface ControlDeps {
  clock: SandboxClock;
  faults: FaultInjector;
  journal: Journal;
  outbox: () => SentMail[];
  reset: () => void;
}

const SERVICES: ServiceName[] = ['entra', 'graph', 'keyvault', 'servicenow', 'webhook'];

/**
 * The sandbox's own control API (SANDBOX_CONTROL_URL): faults, the redacted journal, the mail outbox, the clock and
 * a state reset. Raw (unredacted) journal bodies are only available in-process.
 */
export function createControl(deps: ControlDeps): StandIn {
  const bad = (message: string, problems: string[] = []): SandboxResponse => ({
    status: 400,
    body: { error: message, problems },
  });
  const parse = (req: SandboxRequest): unknown => (req.body.length ? JSON.parse(req.body.toString('utf8')) : {});

  return {
    service: 'control',
    reset: () => undefined,
    async handle(req) {
      const { method, path } = req;
      let body: unknown;
      try {
        body = parse(req);
      } catch {
        return bad('request body is not valid JSON');
      }
      if (path === '/faults' && method === 'GET') return { status: 200, body: { faults: deps.faults.list() } };
      if (path === '/faults' && method === 'POST') {
        try {
          return { status: 201, body: deps.faults.add(body as FaultRule) };
        } catch (err) {
          if (err instanceof FaultRuleError) return bad(err.message, err.problems);
          throw err;
        }
      }
      if (path === '/faults' && method === 'DELETE') {
        deps.faults.clear();
        return { status: 204 };
      }
      const faultId = /^\/faults\/(\d+)$/.exec(path);
      if (faultId && method === 'DELETE')
        return deps.faults.remove(Number(faultId[1]))
          ? { status: 204 }
          : { status: 404, body: { error: 'no such fault' } };
      if (path === '/journal' && method === 'GET') {
        const service = req.query.get('service') ?? undefined;
        if (service && !SERVICES.includes(service as ServiceName)) return bad(`unknown service ${service}`);
        const since = req.query.get('since');
        if (since !== null && !/^\d+$/.test(since)) return bad('since must be a sequence number');
        return {
          status: 200,
          body: {
            mark: deps.journal.mark(),
            entries: deps.journal.entries({
              ...(service ? { service: service as ServiceName } : {}),
              ...(since !== null ? { since: Number(since) } : {}),
            }),
          },
        };
      }
      if (path === '/journal' && method === 'DELETE') {
        deps.journal.clear();
        return { status: 204 };
      }
      if (path === '/mail/outbox' && method === 'GET') return { status: 200, body: { messages: deps.outbox() } };
      if (path === '/clock' && method === 'GET') return { status: 200, body: { now: deps.clock.date().toISOString() } };
      if (path === '/clock/advance' && method === 'POST') {
        const ms = (body as { ms?: unknown }).ms;
        if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) return bad('ms must be a non-negative number');
        deps.clock.advance(ms);
        return { status: 200, body: { now: deps.clock.date().toISOString() } };
      }
      if (path === '/reset' && method === 'POST') {
        deps.reset();
        return { status: 204 };
      }
      return { status: 404, body: { error: `no control route ${method} ${path}` } };
    },
  };
}
