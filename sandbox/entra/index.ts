/**
 * The Entra ID stand-in: the authority host the product's credentials talk to (`ENTRA_AUTHORITY_HOST`).
 *
 * Routes (paths are case-insensitive after the tenant segment, as on login.microsoftonline.com):
 * - `POST /{tenant}/oauth2/token` (v1) and `POST /{tenant}/oauth2/v2.0/token` (v2): client-credentials grant.
 * - `GET /{tenant}/.well-known/openid-configuration`, `GET /{tenant}/v2.0/.well-known/openid-configuration`.
 * - `GET /common/discovery/keys`, `/common/discovery/v2.0/keys`, `/{tenant}/discovery/keys`, `/{tenant}/discovery/v2.0/keys`.
 * `{tenant}` is the tenant GUID or its verified domain; anything else is AADSTS90002.
 */
import type { JsonWebKey } from 'node:crypto';

import type { SandboxClock } from '../core/clock';
import type { HandlerContext, SandboxRequest, SandboxResponse, StandIn } from '../core/types';
import type { Directory } from '../directory';
import { aadsts, errorBody, errorResponse, faultError, newRequestIds, tokenHeaders } from './errors';
import { jwks, METADATA_CACHE_CONTROL, openIdConfigurationV1, openIdConfigurationV2 } from './discovery';
import { clientRequestId, redactTokenBody } from './form';
import { clientCredentialsGrant, type Endpoint } from './grant';

export interface EntraOptions {
  /** How long a newly added password is refused (AADSTS7000215), as in Entra (4–18 s observed). Default 0. */
  secretPropagationDelayMs?: number;
  /** How long a newly created application is unknown (AADSTS700016). Default 0. */
  appPropagationDelayMs?: number;
  /**
   * How long a newly added key credential is refused (AADSTS700027) on the sandbox clock. Default 0. A new
   * certificate may fail for a short while (CIPP retries 3 × 10 s, Get-GraphTokenFromCert.ps1).
   */
  keyCredentialPropagationDelayMs?: number;
  /**
   * The signing keys (JWKS `keys`) an external issuer publishes, for federated client assertions; undefined when the
   * issuer is unknown or unreachable (AADSTS50166). sandbox/stack.ts wires it to the ServiceNow stand-in.
   */
  issuerKeys?: (issuer: string) => Promise<JsonWebKey[] | undefined>;
}

export interface EntraDeps {
  clock: SandboxClock;
  directory: Directory;
  /** This stand-in's own origin, for discovery documents. Known once the server listens. */
  origin: () => string;
  /** Graph stand-in origin, accepted as a resource identifier for Microsoft Graph. */
  graphOrigin: () => string;
}

type Route =
  | { kind: 'token'; tenant: string; endpoint: Endpoint }
  | { kind: 'openid'; tenant: string; version: 1 | 2 }
  | { kind: 'keys'; tenant: string; version: 1 | 2 };

export function route(path: string): Route | undefined {
  const m = /^\/([^/]+)(\/.*?)\/?$/.exec(path);
  if (!m) return undefined;
  const tenant = m[1];
  switch (m[2].toLowerCase()) {
    case '/oauth2/token':
      return { kind: 'token', tenant, endpoint: 'v1' };
    case '/oauth2/v2.0/token':
      return { kind: 'token', tenant, endpoint: 'v2' };
    case '/.well-known/openid-configuration':
      return { kind: 'openid', tenant, version: 1 };
    case '/v2.0/.well-known/openid-configuration':
      return { kind: 'openid', tenant, version: 2 };
    case '/discovery/keys':
      return { kind: 'keys', tenant, version: 1 };
    case '/discovery/v2.0/keys':
      return { kind: 'keys', tenant, version: 2 };
    default:
      return undefined;
  }
}

const notFound = (): SandboxResponse => ({
  status: 404,
  headers: { 'Content-Type': 'text/html; charset=utf-8' },
  body: '<html><head><title>404 - Not Found</title></head><body><h1>404 - File or directory not found.</h1></body></html>',
});

export function createEntra(deps: EntraDeps, opts: EntraOptions = {}): StandIn {
  const { clock, directory } = deps;
  const grantDeps = {
    clock,
    directory,
    graphOrigin: deps.graphOrigin,
    secretPropagationDelayMs: opts.secretPropagationDelayMs ?? 0,
    appPropagationDelayMs: opts.appPropagationDelayMs ?? 0,
    keyCredentialPropagationDelayMs: opts.keyCredentialPropagationDelayMs ?? 0,
    origin: deps.origin,
    ...(opts.issuerKeys ? { issuerKeys: opts.issuerKeys } : {}),
  };

  const token = async (
    req: SandboxRequest,
    ctx: HandlerContext,
    tenant: string,
    endpoint: Endpoint,
  ): Promise<SandboxResponse> => {
    const crid = clientRequestId(req);
    const ids = newRequestIds(crid);
    if (req.method === 'OPTIONS') return { status: 200, headers: { Allow: 'OPTIONS, POST' } };
    if (req.method !== 'POST') return errorResponse(aadsts.postOnly(req.method), ids, clock.now(), crid);
    if (!directory.isTenant(tenant)) return errorResponse(aadsts.tenantNotFound(tenant), ids, clock.now(), crid);
    const result = await clientCredentialsGrant(grantDeps, endpoint, tenant, req);
    if (!result.ok) return errorResponse(result.error, ids, clock.now(), crid);
    ctx.setAuthSubject(`app:${result.clientId}`);
    return { status: 200, headers: tokenHeaders(ids, crid), body: result.body };
  };

  const metadata = (req: SandboxRequest, r: Extract<Route, { kind: 'openid' | 'keys' }>): SandboxResponse => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return notFound();
    const isCommon = r.kind === 'keys' && r.tenant.toLowerCase() === 'common';
    if (!isCommon && !directory.isTenant(r.tenant)) {
      const crid = clientRequestId(req);
      const ids = newRequestIds(crid);
      return {
        status: 400,
        headers: { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store, no-cache' },
        body: errorBody(aadsts.tenantNotFound(r.tenant, 'invalid_tenant'), ids, clock.now()),
      };
    }
    const tid = directory.tenantId;
    const body =
      r.kind === 'keys'
        ? jwks([directory.signingKey.jwk()], r.version, isCommon ? null : tid)
        : r.version === 1
          ? openIdConfigurationV1(deps.origin(), tid)
          : openIdConfigurationV2(deps.origin(), tid);
    return {
      status: 200,
      headers: {
        'Content-Type': 'application/json; charset=utf-8',
        'Cache-Control': METADATA_CACHE_CONTROL,
        'Access-Control-Allow-Origin': '*',
        'Access-Control-Allow-Methods': 'GET, OPTIONS',
      },
      body,
    };
  };

  return {
    service: 'entra',
    async handle(req, ctx) {
      const r = route(req.path);
      if (!r) return notFound();
      return r.kind === 'token' ? token(req, ctx, r.tenant, r.endpoint) : metadata(req, r);
    },
    redactRequestBody: redactTokenBody,
    faultResponse(status, headers) {
      const ids = newRequestIds();
      return {
        status,
        headers: { ...tokenHeaders(ids, undefined), ...headers },
        body: errorBody(faultError(status), ids, clock.now()),
      };
    },
    // All state lives in the shared directory, which startSandbox resets itself.
    reset: () => undefined,
  };
}
