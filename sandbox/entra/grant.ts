/**
 * The client-credentials grant on `POST /{tenant}/oauth2/token` (v1) and `POST /{tenant}/oauth2/v2.0/token` (v2),
 * checked against the shared directory
 * (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow;
 * docs/reference/microsoft.md#token-endpoints).
 *
 * Order of checks (Entra's own order is not documented; this one authenticates the client before it reveals anything
 * about resources): parameters → application → client secret → client service principal → resource.
 */
import { type JsonWebKey, timingSafeEqual } from 'node:crypto';

import type { SandboxClock } from '../core/clock';
import type { SandboxRequest } from '../core/types';
import { GRAPH_APP_ID, hashSecret, type Application, type Directory, type ServicePrincipal } from '../directory';
import { checkClientAssertion } from './assertion';
import { aadsts, type AadstsError } from './errors';
import { basicCredentials, formParams } from './form';
import { issueAccessToken } from './tokens';

export type Endpoint = 'v1' | 'v2';

export interface GrantDeps {
  clock: SandboxClock;
  directory: Directory;
  graphOrigin: () => string;
  secretPropagationDelayMs: number;
  appPropagationDelayMs: number;
  /** How long a newly added key credential is refused (AADSTS700027). */
  keyCredentialPropagationDelayMs: number;
  /** This stand-in's origin: the token URLs a client assertion's `aud` must name. */
  origin: () => string;
  /** The JWKS of an external issuer (federated assertions). */
  issuerKeys?: (issuer: string) => Promise<JsonWebKey[] | undefined>;
}

export type GrantResult =
  { ok: true; clientId: string; body: Record<string, unknown> } | { ok: false; error: AadstsError };

const fail = (error: AadstsError): GrantResult => ({ ok: false, error });
const normalise = (s: string) => s.replace(/\/+$/, '').toLowerCase();

/** The requested resource: v1 `resource`, or the single v2 scope `<resource>/.default`. */
function requestedResource(endpoint: Endpoint, form: URLSearchParams): { resource: string } | { error: AadstsError } {
  if (endpoint === 'v1') {
    const resource = form.get('resource');
    return resource ? { resource } : { error: aadsts.missingParameter('resource') };
  }
  const scope = form.get('scope');
  if (!scope?.trim()) return { error: aadsts.missingParameter('scope') };
  const scopes = scope.trim().split(/\s+/);
  if (scopes.length > 1) return { error: aadsts.invalidScope(scope.trim()) };
  if (!scopes[0].endsWith('/.default')) return { error: aadsts.scopeWithoutDefault(scopes[0]) };
  return { resource: scopes[0].slice(0, -'/.default'.length) };
}

function findApplication(directory: Directory, clientId: string): Application | undefined {
  const id = clientId.toLowerCase();
  for (const a of directory.applications.values()) if (a.deletedAt === null && a.appId.toLowerCase() === id) return a;
  return undefined;
}

const sameHash = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/** null when the secret is accepted, else Entra's error. */
function checkSecret(deps: GrantDeps, app: Application, secret: string): AadstsError | null {
  const now = deps.clock.now();
  const hash = hashSecret(secret);
  const cred = app.passwordCredentials.find((c) => sameHash(c.secretHash, hash));
  if (!cred) return aadsts.invalidClientSecret(app.appId);
  if (now >= cred.endDateTime) return aadsts.expiredClientSecret(app.appId);
  // A secret whose startDateTime lies ahead is not yet a valid key [inferred: same answer as an unknown secret].
  if (now < cred.startDateTime) return aadsts.invalidClientSecret(app.appId);
  // A new secret is refused until it has replicated: 4–18 s observed (microsoftgraph/microsoft-graph-docs#17966).
  if (now < cred.createdAt + deps.secretPropagationDelayMs) return aadsts.invalidClientSecret(app.appId);
  return null;
}

/** The resource's service principal and the `aud` of a v1.0 token for it. */
function resolveResource(deps: GrantDeps, resource: string): { sp: ServicePrincipal; v1Audience: string } | undefined {
  const graphOrigin = deps.graphOrigin();
  // In the sandbox GRAPH_BASE_URL is the Graph stand-in's origin and the product asks for `${GRAPH_BASE_URL}/.default`:
  // treat that origin as an identifier of Microsoft Graph, issuing the token Graph itself would get.
  if (graphOrigin && normalise(resource) === normalise(graphOrigin)) {
    const sp = deps.directory.spByAppId(GRAPH_APP_ID);
    return sp ? { sp, v1Audience: 'https://graph.microsoft.com' } : undefined;
  }
  const sp = deps.directory.resourceByIdentifier(resource);
  return sp ? { sp, v1Audience: resource } : undefined;
}

export async function clientCredentialsGrant(
  deps: GrantDeps,
  endpoint: Endpoint,
  tenant: string,
  req: SandboxRequest,
): Promise<GrantResult> {
  const { directory } = deps;
  const form = formParams(req);
  const basic = basicCredentials(req);

  const grantType = form.get('grant_type');
  if (!grantType) return fail(aadsts.missingParameter('grant_type'));
  // Entra supports other grants (authorization_code, refresh_token, …) that the product never uses; the stand-in
  // models only client_credentials and answers the rest as an unsupported grant.
  if (grantType !== 'client_credentials') return fail(aadsts.unsupportedGrantType(grantType));
  const clientId = form.get('client_id') || basic?.clientId;
  if (!clientId) return fail(aadsts.missingParameter('client_id'));
  const requested = requestedResource(endpoint, form);
  if ('error' in requested) return fail(requested.error);

  const app = findApplication(directory, clientId);
  // A freshly created app is unknown for a while (replication) when appPropagationDelayMs is set.
  if (!app || deps.clock.now() < app.createdAt + deps.appPropagationDelayMs)
    return fail(aadsts.appNotFound(clientId, tenant));

  const secret = form.get('client_secret') ?? basic?.clientSecret;
  const assertion = form.get('client_assertion');
  // `appidacr` / `azpacr`: "1" client secret, "2" certificate or federated assertion (access-token-claims-reference).
  let clientAuth: '1' | '2' = '1';
  if (secret) {
    const secretError = checkSecret(deps, app, secret);
    if (secretError) return fail(secretError);
  } else if (assertion) {
    const path = endpoint === 'v1' ? 'oauth2/token' : 'oauth2/v2.0/token';
    const origin = deps.origin();
    const tokenUrls = [...new Set([tenant, directory.tenantId])].map((t) => `${origin}/${t}/${path}`);
    const assertionError = await checkClientAssertion(
      deps,
      app,
      form.get('client_assertion_type'),
      assertion,
      tokenUrls,
    );
    if (assertionError) return fail(assertionError);
    clientAuth = '2';
  } else return fail(aadsts.missingClientCredential());

  const clientSp = directory.spByAppId(app.appId);
  if (!clientSp) return fail(aadsts.missingServicePrincipal(app.appId, directory.tenantId));

  const resource = resolveResource(deps, requested.resource);
  if (!resource) return fail(aadsts.resourceNotFound(requested.resource, tenant));

  const resourceApp = directory.appByAppId(resource.sp.appId);
  const tokenVersion = resourceApp?.api.requestedAccessTokenVersion === 2 ? 2 : 1;
  const token = await issueAccessToken(directory.signingKey, {
    tenantId: directory.tenantId,
    v1Audience: resource.v1Audience,
    resourceAppId: resource.sp.appId,
    tokenVersion,
    clientAppId: app.appId,
    clientDisplayName: app.displayName,
    clientSpId: clientSp.id,
    roles: directory.rolesFor(clientSp.id, resource.sp),
    graphExtras: resource.sp.appId === GRAPH_APP_ID,
    now: deps.clock.seconds(),
    clientAuth,
  });

  // v1 answers every number as a string and echoes the resource; v2 answers numbers
  // (docs/reference/microsoft.md#token-endpoints).
  const body: Record<string, unknown> =
    endpoint === 'v1'
      ? {
          token_type: 'Bearer',
          expires_in: String(token.expiresIn),
          ext_expires_in: String(token.expiresIn),
          expires_on: String(token.expiresOn),
          not_before: String(token.notBefore),
          resource: requested.resource,
          access_token: token.accessToken,
        }
      : {
          token_type: 'Bearer',
          expires_in: token.expiresIn,
          ext_expires_in: token.expiresIn,
          access_token: token.accessToken,
        };
  return { ok: true, clientId: app.appId, body };
}
