import { randomBytes } from 'node:crypto';

import type { SandboxClock } from '../core/clock';
import type { SandboxRequest, SandboxResponse, StandIn } from '../core/types';
import type { BootstrapPlan } from '../../src/bootstrap/plan';
import { authenticate, TokenStore } from './auth';
import {
  afterWrite,
  credentialModeOf,
  handleAttachment,
  handleWellKnown,
  newInstanceKey,
  outboundAssertion,
  type InstanceKey,
  type OutboundAssertion,
} from './certificates';
import { applyBootstrapPlan, type ApplyResult } from './bootstrap';
import { notAuthenticated, snError, statusMessage } from './errors';
import { handleTokenRequest } from './oauth';
import { OidcValidator } from './oidc';
import { RateLimiter, rateHeaders, tooMany, type RateLimitRule } from './rate-limit';
import { NEWEST_RELEASE, releaseHas, type Release } from './release';
import { seedInstance } from './seed';
import { InstanceStore, type Row } from './store';
import { handleTable, parseTableRoute } from './table-api';

export type { RateLimitRule } from './rate-limit';
export type { Release } from './release';
export type { OutboundAssertion } from './certificates';

export interface ServiceNowOptions {
  /** Instance names served; the instance is the first path segment: https://127.0.0.1:{port}/{instance}/api/now/... */
  instances?: string[];
  adminUser?: string;
  adminPassword?: string;
  /** Tables that answer 403 on every write, even for admin (docs/reference/servicenow.md#authentication-and-roles, #records-the-integration-writes). */
  deniedWrites?: string[];
  /** Inbound REST rate-limit rules (per user, per hour on the sandbox clock). */
  rateLimits?: RateLimitRule[];
  /** How long OIDC metadata and JWKS stay cached (sandbox clock), default 5 minutes. */
  oidcCacheTtlMs?: number;
  /** The release every instance runs (default the newest, sandbox/servicenow/release.ts). */
  release?: Release;
  /** Per-instance releases, overriding `release`. */
  releases?: Record<string, Release>;
}

export interface ServiceNowDeps {
  clock: SandboxClock;
  origin: () => string;
}

export interface ServiceNowStandIn extends StandIn {
  readonly adminUser: string;
  readonly adminPassword: string;
  readonly instances: string[];
  /** In-process only (never over HTTP): the cleartext of a password2 column, e.g. oauth_entity.client_secret. */
  secretOf(instance: string, table: string, sysId: string, column?: string): string | undefined;
  /** In-process: rows of a table (children included) as stored, values as strings; secrets are not in them. */
  records(instance: string, table: string): Row[];
  /** In-process seeding: inserts a record as the system would (password2/password columns are saved). */
  seedRecord(instance: string, table: string, values: Record<string, unknown>): string;
  /** In-process: sets a sys_user's password (stored hashed). */
  setUserPassword(instance: string, userName: string, password: string): void;
  setRateLimits(rules: RateLimitRule[]): void;
  /** Forgets cached OIDC metadata and keys (as touching the provider configuration would). */
  clearOidcCache(): void;
  /** In-process: what an administrator running the bootstrap background script does (src/bootstrap/script.ts). */
  applyBootstrap(instance: string, plan: BootstrapPlan): ApplyResult;
  /** The release an instance runs. */
  releaseOf(instance: string): Release;
  /** The instance's issuer URL for Workload Identity Federation (`https://<instance>.service-now.com` in production). */
  issuerOf(instance: string): string;
  /**
   * In-process: what the instance signs when it needs a token for the oauth_entity `sysId` (private-key JWT, or a
   * Workload Identity Connection's federated assertion). Throws with the reason a connection test would show.
   */
  outboundAssertion(instance: string, sysId: string): OutboundAssertion;
  /** In-process: whether an oauth_entity sends a client secret, a private key JWT, or a federated assertion. */
  credentialModeOf(instance: string, sysId: string): 'secret' | 'certificate' | 'federated';
  /** In-process: the JWKS an issuer URL serves (Brazil on), for the Entra stand-in; undefined for unknown issuers. */
  instanceJwks(issuer: string): { keys: Record<string, unknown>[] } | undefined;
}

const SECRET_KEY = /secret|password|token/i;

/** Replaces secret-looking fields (client_secret, user_password, password, tokens) in JSON or form bodies. */
export function redactServiceNowBody(req: SandboxRequest): unknown {
  if (!req.body.length) return undefined;
  const text = req.body.toString('utf8');
  const type = String(req.headers['content-type'] ?? '');
  if (/x-www-form-urlencoded/i.test(type) || req.path.endsWith('/oauth_token.do')) {
    const form = new URLSearchParams(text);
    return Object.fromEntries([...form.entries()].map(([k, v]) => [k, SECRET_KEY.test(k) ? '[redacted]' : v]));
  }
  const redact = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(redact);
    if (v && typeof v === 'object')
      return Object.fromEntries(
        Object.entries(v as Record<string, unknown>).map(([k, x]) => [
          k,
          SECRET_KEY.test(k) ? '[redacted]' : redact(x),
        ]),
      );
    return v;
  };
  try {
    return redact(JSON.parse(text));
  } catch {
    return '[unparseable body]';
  }
}

/** A host that is not a ServiceNow instance: a plain 404 page, as an unknown *.service-now.com name gives. */
const unknownInstance = (): SandboxResponse => ({
  status: 404,
  headers: { 'Content-Type': 'text/html;charset=UTF-8' },
  body: '<html><head><title>404 Not Found</title></head><body><h1>Instance not found</h1></body></html>',
});

export function createServiceNow(deps: ServiceNowDeps, opts: ServiceNowOptions = {}): ServiceNowStandIn {
  const adminUser = opts.adminUser ?? 'admin';
  const adminPassword = opts.adminPassword ?? randomBytes(18).toString('base64url');
  const instances = opts.instances ?? ['dev00000'];
  const deniedWrites = new Set(opts.deniedWrites ?? []);
  const limiter = new RateLimiter(opts.rateLimits ?? []);
  const oidc = new OidcValidator(deps.clock, opts.oidcCacheTtlMs ?? 5 * 60_000);
  const stores = new Map<string, InstanceStore>();
  const tokens = new Map<string, TokenStore>();
  const keys = new Map<string, InstanceKey>();
  const releaseOf = (name: string): Release => opts.releases?.[name] ?? opts.release ?? NEWEST_RELEASE;
  const issuerOf = (name: string) => `${deps.origin()}/${name}`;

  const seedAll = () => {
    stores.clear();
    tokens.clear();
    for (const name of instances) {
      const store = new InstanceStore(deps.clock, releaseOf(name));
      if (!keys.has(name)) keys.set(name, newInstanceKey());
      seedInstance(store, { adminUser, adminPassword });
      stores.set(name, store);
      tokens.set(name, new TokenStore());
    }
  };
  seedAll();

  const storeOf = (instance: string): InstanceStore => {
    const s = stores.get(instance);
    if (!s) throw new Error(`unknown ServiceNow instance ${instance}`);
    return s;
  };

  return {
    service: 'servicenow',
    adminUser,
    adminPassword,
    instances,
    reset() {
      seedAll();
      limiter.reset();
      oidc.clearCache();
    },
    redactRequestBody: redactServiceNowBody,
    faultResponse(status, headers) {
      if (status === 429) {
        const rule = limiter.list()[0];
        const limit = Number(headers['X-RateLimit-Limit'] ?? rule?.requestsPerHour ?? 100);
        const reset = Math.floor(deps.clock.now() / 3600_000 + 1) * 3600;
        return tooMany(limit, {
          ...rateHeaders(limit, reset, rule?.sysId ?? '0'.repeat(32)),
          ...headers,
          'Retry-After': headers['Retry-After'] ?? '1',
        });
      }
      return snError(status, statusMessage(status), null, headers);
    },
    secretOf: (instance, _table, sysId, column = 'client_secret') => storeOf(instance).secret(sysId, column),
    records: (instance, table) => storeOf(instance).rowsOf(table),
    seedRecord: (instance, table, values) =>
      storeOf(instance).insert(table, values, { inputDisplayValue: true, user: 'system' }).values.sys_id,
    setUserPassword(instance, userName, password) {
      const store = storeOf(instance);
      const user = store.find('sys_user', 'user_name', userName);
      if (!user) throw new Error(`no sys_user ${userName}`);
      store.setPassword(user.values.sys_id, password);
    },
    setRateLimits: (rules) => limiter.set(rules),
    clearOidcCache: () => oidc.clearCache(),
    applyBootstrap: (instance, plan) => applyBootstrapPlan(storeOf(instance), plan),
    releaseOf: (instance) => storeOf(instance).release,
    issuerOf,
    outboundAssertion: (instance, sysId) =>
      outboundAssertion(storeOf(instance), sysId, {
        issuer: issuerOf(instance),
        key: keys.get(instance)!,
        nowMs: deps.clock.now(),
      }),
    credentialModeOf: (instance, sysId) => credentialModeOf(storeOf(instance), sysId),
    instanceJwks(issuer) {
      const name = instances.find((n) => issuerOf(n) === issuer.replace(/\/+$/, ''));
      const store = name ? stores.get(name) : undefined;
      if (!name || !store || !releaseHas(store.release, 'brazil')) return undefined;
      return { keys: [keys.get(name)!.jwk] };
    },

    async handle(req, ctx) {
      const m = /^\/([^/]+)(\/.*)?$/.exec(req.path);
      const instance = m?.[1] ?? '';
      const store = stores.get(instance);
      if (!store) return unknownInstance();
      const rest = m?.[2] ?? '/';
      if (rest === '/oauth_token.do') return handleTokenRequest(req, store, tokens.get(instance)!, deps.clock);
      const wellKnown = handleWellKnown(rest, store, keys.get(instance)!, issuerOf(instance));
      if (wellKnown) return wellKnown;
      const route = parseTableRoute(rest);
      const attachmentApi = /^\/api\/now(\/v1)?\/attachment(\/|$)/.test(rest);
      if (route === undefined && !attachmentApi) return unknownInstance();
      const caller = await authenticate(req, store, tokens.get(instance)!, oidc, deps.clock);
      if (!caller) return notAuthenticated();
      ctx.setAuthSubject(`user:${caller.userName}`);
      const limited = limiter.check(caller.userName, deps.clock.now());
      if (limited.rejected) return limited.rejected;
      const base = `${deps.origin()}/${instance}`;
      if (attachmentApi) {
        const handled = handleAttachment(req, rest, { store, caller, base, deniedWrites });
        if (handled) {
          afterWrite(store, handled.touched);
          return { ...handled.response, headers: { ...(handled.response.headers ?? {}), ...limited.headers } };
        }
      }
      const res =
        route === 'bad' || route === undefined
          ? snError(400, 'Requested URI does not represent any resource', null)
          : handleTable(req, route, { store, caller, base, deniedWrites });
      if (route !== 'bad' && route !== undefined && req.method.toUpperCase() !== 'GET' && res.status < 300) {
        // Business rules after a write: the record written (PATCH/PUT) or inserted (POST: its Location).
        const location = String(res.headers?.Location ?? '');
        afterWrite(store, route.sysId ?? (location.split('/').pop() || undefined));
      }
      return { ...res, headers: { ...(res.headers ?? {}), ...limited.headers } };
    },
  };
}
