/**
 * Entra ID (AADSTS) error responses, in the shape the token and metadata endpoints return them:
 * `{ error, error_description: "AADSTS<code>: …\r\nTrace ID: …\r\nCorrelation ID: …\r\nTimestamp: …", error_codes,
 * timestamp, trace_id, correlation_id, error_uri }`.
 *
 * Messages, `error` values and statuses follow responses quoted verbatim in public issue reports (cited per entry);
 * where a report shows no HTTP status the choice is marked [inferred].
 */
import { newGuid } from '../core/random';
import type { SandboxResponse } from '../core/types';

export interface AadstsError {
  status: number;
  /** OAuth 2.0 `error` value. */
  error: string;
  code: number;
  message: string;
}

/** Per-request identifiers Entra echoes: the correlation id is the caller's `client-request-id` when it sent one. */
export interface RequestIds {
  traceId: string;
  correlationId: string;
}

/** `2019-11-29 06:39:27Z`, Entra's timestamp format in error bodies. */
export function aadTimestamp(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')}Z`;
}

/** Headers Entra sends on every token-endpoint answer (no caching of tokens or errors). */
export function tokenHeaders(ids: RequestIds, clientRequestId: string | undefined): Record<string, string> {
  return {
    'Content-Type': 'application/json; charset=utf-8',
    'Cache-Control': 'no-store, no-cache',
    Pragma: 'no-cache',
    Expires: '-1',
    'X-Content-Type-Options': 'nosniff',
    'x-ms-request-id': ids.traceId,
    ...(clientRequestId ? { 'client-request-id': clientRequestId } : {}),
  };
}

export function errorBody(e: AadstsError, ids: RequestIds, nowMs: number): Record<string, unknown> {
  const timestamp = aadTimestamp(nowMs);
  return {
    error: e.error,
    error_description: `AADSTS${e.code}: ${e.message}\r\nTrace ID: ${ids.traceId}\r\nCorrelation ID: ${ids.correlationId}\r\nTimestamp: ${timestamp}`,
    error_codes: [e.code],
    timestamp,
    trace_id: ids.traceId,
    correlation_id: ids.correlationId,
    error_uri: `https://login.microsoftonline.com/error?code=${e.code}`,
  };
}

export function errorResponse(
  e: AadstsError,
  ids: RequestIds,
  nowMs: number,
  clientRequestId?: string,
): SandboxResponse {
  return { status: e.status, headers: tokenHeaders(ids, clientRequestId), body: errorBody(e, ids, nowMs) };
}

export const newRequestIds = (clientRequestId?: string): RequestIds => ({
  traceId: newGuid(),
  correlationId: clientRequestId && /^[0-9a-f-]{36}$/i.test(clientRequestId) ? clientRequestId : newGuid(),
});

/** The catalogue. */
export const aadsts = {
  /** MicrosoftDocs/azure-docs#43780 (full JSON body, 400). */
  missingParameter: (name: string): AadstsError => ({
    status: 400,
    error: 'invalid_request',
    code: 900144,
    message: `The request body must contain the following parameter: '${name}'.`,
  }),
  /** AzureAD/azure-activedirectory-library-for-android#132 (`unsupported_grant_type`, 70003); status [inferred]. */
  unsupportedGrantType: (grantType: string): AadstsError => ({
    status: 400,
    error: 'unsupported_grant_type',
    code: 70003,
    message: `The app requested an unsupported grant type '${grantType}'.`,
  }),
  /**
   * Token endpoints answer `invalid_request` (microsoftarchive/BatchAI#31); the OIDC metadata endpoint answers
   * `invalid_tenant` (Azure/azure-cli#22145, james-gould/azure-keyvault-emulator#324). 400 (sjkp/letsencrypt-siteextension#108).
   */
  tenantNotFound: (tenant: string, error: 'invalid_request' | 'invalid_tenant' = 'invalid_request'): AadstsError => ({
    status: 400,
    error,
    code: 90002,
    message: `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`,
  }),
  /** Azure/azure-powershell#9156 (message); `unauthorized_client`, 400 per https://learn.microsoft.com/entra/identity-platform/reference-error-codes. */
  appNotFound: (appId: string, directory: string): AadstsError => ({
    status: 400,
    error: 'unauthorized_client',
    code: 700016,
    message: `Application with identifier '${appId}' was not found in the directory '${directory}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
  }),
  /**
   * A client-credentials request with neither `client_secret` nor `client_assertion` (nor a signed `request`):
   * AADSTS7000216, `invalid_client`, 401, as a recorded Entra response shows it (Azure SDK for JavaScript test
   * recordings, full JSON body; lookup https://login.microsoftonline.com/error?code=7000216). AADSTS7000218 is the
   * answer of the other grants (authorization code, password) for a confidential client
   * (https://learn.microsoft.com/entra/identity-platform/reference-error-codes; Microsoft's troubleshooting article
   * https://learn.microsoft.com/troubleshoot/entra/entra-id/app-integration/confidential-client-application-authentication-error-aadsts7000218).
   */
  missingClientCredential: (): AadstsError => ({
    status: 401,
    error: 'invalid_client',
    code: 7000216,
    message: `'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.`,
  }),
  /**
   * A `client_assertion` whose certificate is not registered on the app (or not yet: a key credential added moments
   * ago is refused until it has propagated, which CIPP's Get-GraphTokenFromCert.ps1 retries 3 × 10 s for).
   * AADSTS700027, `invalid_client`, with the thumbprint the client named (AzureAD/microsoft-authentication-library-for-js#8339,
   * #3741); 401 like the other `invalid_client` answers [inferred].
   */
  invalidClientAssertion: (appId: string, thumbprint = ''): AadstsError => ({
    status: 401,
    error: 'invalid_client',
    code: 700027,
    message: `The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '${thumbprint}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '${appId}'. Review the documentation at https://docs.microsoft.com/en-us/graph/deployments to determine the corresponding service endpoint and https://docs.microsoft.com/en-us/graph/api/application-get?view=graph-rest-1.0&tabs=http to build a query request URL, such as 'https://graph.microsoft.com/beta/applications/${appId}']`,
  }),
  /** A registered certificate outside its validity (reports quoted in Microsoft's own troubleshooting pages). */
  expiredClientKey: (thumbprint: string, start: string, end: string): AadstsError => ({
    status: 401,
    error: 'invalid_client',
    code: 700027,
    message: `The certificate with identifier used to sign the client assertion is expired on application. [Reason - The key used is expired., Thumbprint of key used by client: '${thumbprint}', Found key 'Start=${start}, End=${end}']`,
  }),
  /** A signature that does not verify with the registered certificate (Azure/azure-sdk-for-java#25109 wording). */
  badAssertionSignature: (thumbprint: string, start: string, end: string): AadstsError => ({
    status: 401,
    error: 'invalid_client',
    code: 700027,
    message: `Client assertion contains an invalid signature. [Reason - The provided signature value did not match the expected signature value., Thumbprint of key used by client: '${thumbprint}', Found key 'Start=${start}, End=${end}']`,
  }),
  /**
   * An RSA key under 2048 bits: AADSTS700027 (the older answer was "RSA key size 1024 is less than the minimum required
   * 2048 bits.", AzureAD/azure-activedirectory-library-for-python#136; the current reason wording is [inferred]).
   */
  weakAssertionKey: (thumbprint: string, bits: number): AadstsError => ({
    status: 401,
    error: 'invalid_client',
    code: 700027,
    message: `Client assertion contains an invalid signature. [Reason - RSA key size ${bits} is less than the minimum required 2048 bits., Thumbprint of key used by client: '${thumbprint}']`,
  }),
  /** A federated assertion whose signature does not verify with the issuer's keys [inferred wording]. */
  federatedSignature: (): AadstsError => ({
    status: 401,
    error: 'invalid_client',
    code: 700027,
    message: 'Client assertion failed signature validation.',
  }),
  /** https://learn.microsoft.com/entra/identity-platform/reference-error-codes (Azure SDK troubleshooting guides quote it). */
  assertionClientIdMismatch: (): AadstsError => ({
    status: 401,
    error: 'invalid_client',
    code: 700021,
    message: `Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .`,
  }),
  /** Same sources as 700021. */
  assertionAudience: (): AadstsError => ({
    status: 401,
    error: 'invalid_client',
    code: 700023,
    message: `Client assertion audience claim does not match Realm issuer. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .`,
  }),
  /** AzureAD/microsoft-authentication-library-for-java#984 (full message). */
  assertionTimeRange: (now: string, from: string, to: string): AadstsError => ({
    status: 401,
    error: 'invalid_client',
    code: 700024,
    message: `Client assertion is not within its valid time range. Current time: ${now}, assertion valid from ${from}, expiry time of assertion ${to}. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .`,
  }),
  /** Azure/azure-workload-identity#616 (full JSON body: 400 `invalid_request`). */
  noFederatedRecord: (issuer: string, subject: string, audience: string): AadstsError => ({
    status: 400,
    error: 'invalid_request',
    code: 70021,
    message: `No matching federated identity record found for presented assertion. Assertion Issuer: '${issuer}'. Assertion Subject: '${subject}'. Assertion Audience: '${audience}'. https://docs.microsoft.com/en-us/azure/active-directory/develop/workload-identity-federation`,
  }),
  /** Azure/azure-workload-identity#1200 (message); `error` and status as for 70021 [inferred]. */
  noFederatedSubject: (subject: string): AadstsError => ({
    status: 400,
    error: 'invalid_request',
    code: 700213,
    message: `No matching federated identity record found for presented assertion subject '${subject}'. Check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation`,
  }),
  /** A Java client's recorded response (invalid_client) quoting AADSTS700212; status [inferred]. */
  noFederatedAudience: (audience: string): AadstsError => ({
    status: 400,
    error: 'invalid_client',
    code: 700212,
    message: `No matching federated identity record found for presented assertion audience '${audience}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://docs.microsoft.com/en-us/azure/active-directory/workload-identities/workload-identity-federation`,
  }),
  /** The issuer's keys could not be fetched (AADSTS50166, https://learn.microsoft.com/entra/identity-platform/reference-error-codes). */
  externalOidcFailed: (): AadstsError => ({
    status: 400,
    error: 'invalid_request',
    code: 50166,
    message: 'Request to External OIDC endpoint failed.',
  }),
  /** A client_assertion that is not a JWT (AADSTS50027, https://learn.microsoft.com/entra/identity-platform/reference-error-codes). */
  malformedAssertion: (): AadstsError => ({
    status: 400,
    error: 'invalid_request',
    code: 50027,
    message: 'JWT token is invalid or malformed.',
  }),
  /** OfficeDev/microsoft-365-agents-toolkit#8621 and keycloak/keycloak#31294 (401 with the full JSON body). */
  invalidClientSecret: (appId: string): AadstsError => ({
    status: 401,
    error: 'invalid_client',
    code: 7000215,
    message: `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${appId}'.`,
  }),
  /** liprec/vsts-release-aas#119 (401, full JSON body) and dotnet/sign#849 (message). */
  expiredClientSecret: (appId: string): AadstsError => ({
    status: 401,
    error: 'invalid_client',
    code: 7000222,
    message: `The provided client secret keys for app '${appId}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.`,
  }),
  /**
   * An app registration without a service principal in the tenant: Azure/Commercial-Marketplace-SaaS-Accelerator#830,
   * Azure/azure-sdk-for-net#46762 (MSAL maps it to `invalid_client`); status [inferred].
   */
  missingServicePrincipal: (appId: string, tenantId: string): AadstsError => ({
    status: 400,
    error: 'invalid_client',
    code: 7000229,
    message: `The client application ${appId} is missing service principal in the tenant ${tenantId}. See instructions here: https://go.microsoft.com/fwlink/?linkid=2225119`,
  }),
  /** rootinc/laravel-azure-middleware#51 (full JSON body, `invalid_resource`); 400 [inferred from MSAL 400 reports]. */
  resourceNotFound: (resource: string, tenant: string): AadstsError => ({
    status: 400,
    error: 'invalid_resource',
    code: 500011,
    message: `The resource principal named ${resource} was not found in the tenant named ${tenant}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`,
  }),
  /** A v2 client-credentials scope without `/.default`: microsoftgraph/msgraph-sdk-python#181, MicrosoftDocs/azure-docs#99862. */
  scopeWithoutDefault: (scope: string): AadstsError => ({
    status: 400,
    error: 'invalid_scope',
    code: 1002012,
    message: `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
  }),
  /** Several resources in one v2 scope: AzureAD/microsoft-authentication-library-for-js#6069, Azure/azure-sdk-for-net#9076. */
  invalidScope: (scope: string): AadstsError => ({
    status: 400,
    error: 'invalid_scope',
    code: 70011,
    message: `The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope ${scope} is not valid.`,
  }),
  /** A GET on a token endpoint [public-code: widely quoted AADSTS900561 message; status inferred]. */
  postOnly: (method: string): AadstsError => ({
    status: 400,
    error: 'invalid_request',
    code: 900561,
    message: `The endpoint only accepts POST, OPTIONS requests. Received a ${method} request.`,
  }),
};

/**
 * Entra's answer for an injected status: OAuth `temporarily_unavailable` for throttling and 503, `server_error` for
 * other 5xx (RFC 6749 section 5.2 and section 4.1.2.1 error values; Entra's AADSTS codes for these are [inferred]).
 */
export function faultError(status: number): AadstsError {
  if (status === 429)
    return {
      status,
      error: 'temporarily_unavailable',
      code: 90055,
      message: 'TenantThrottlingError: There are too many incoming requests. Please try again later.',
    };
  if (status === 503 || status === 504)
    return {
      status,
      error: 'temporarily_unavailable',
      code: 90033,
      message: 'A transient error has occurred. Please try again.',
    };
  if (status >= 500)
    return {
      status,
      error: 'server_error',
      code: 50000,
      message: 'There was an error issuing a token or an issue with our sign-in service.',
    };
  return { status, error: 'invalid_request', code: 90000, message: 'The request was rejected.' };
}
