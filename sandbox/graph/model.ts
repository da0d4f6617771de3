/**
 * Graph v1.0 JSON shapes of application, servicePrincipal and passwordCredential, from the directory model.
 *
 * Property names and types: `microsoftgraph/msgraph-metadata` clean_v10_metadata
 * (`clean_v10_metadata/cleanMetadata.xml`); default values as in the documented create/get responses
 * (graph-mocks samples.json). Date-times: `createdDateTime` without fraction, credential dates with 7 fraction digits,
 * as the documented samples show them.
 */
import type { Application, Directory, KeyCredential, PasswordCredential, ServicePrincipal } from '../directory';

/** allStructuralProperties of microsoft.graph.application (entities.json), `logo` (a stream) excepted. */
export const APPLICATION_PROPERTIES = [
  'id',
  'deletedDateTime',
  'addIns',
  'api',
  'appId',
  'applicationTemplateId',
  'appRoles',
  'authenticationBehaviors',
  'certification',
  'createdByAppId',
  'createdDateTime',
  'defaultRedirectUri',
  'description',
  'disabledByMicrosoftStatus',
  'displayName',
  'groupMembershipClaims',
  'identifierUris',
  'info',
  'isDeviceOnlyAuthSupported',
  'isDisabled',
  'isFallbackPublicClient',
  'keyCredentials',
  'managerApplications',
  'nativeAuthenticationApisEnabled',
  'notes',
  'oauth2RequirePostResponse',
  'optionalClaims',
  'parentalControlSettings',
  'passwordCredentials',
  'publicClient',
  'publisherDomain',
  'requestSignatureVerification',
  'requiredResourceAccess',
  'samlMetadataUrl',
  'serviceManagementReference',
  'servicePrincipalLockConfiguration',
  'signInAudience',
  'spa',
  'tags',
  'tokenEncryptionKeyId',
  'uniqueName',
  'verifiedPublisher',
  'web',
] as const;

/** Server-managed application properties a client cannot write [doc resources/application: "Read-only"]. */
export const APPLICATION_READ_ONLY = new Set([
  'id',
  'deletedDateTime',
  'appId',
  'createdDateTime',
  'createdByAppId',
  'publisherDomain',
  'certification',
  'disabledByMicrosoftStatus',
  'isDisabled',
  'managerApplications',
]);

/** allStructuralProperties of microsoft.graph.servicePrincipal (entities.json). */
export const SERVICE_PRINCIPAL_PROPERTIES = [
  'id',
  'deletedDateTime',
  'accountEnabled',
  'addIns',
  'alternativeNames',
  'appDescription',
  'appDisplayName',
  'appId',
  'applicationTemplateId',
  'appOwnerOrganizationId',
  'appRoleAssignmentRequired',
  'appRoles',
  'createdByAppId',
  'customSecurityAttributes',
  'description',
  'disabledByMicrosoftStatus',
  'displayName',
  'homepage',
  'info',
  'isDisabled',
  'keyCredentials',
  'loginUrl',
  'logoutUrl',
  'notes',
  'notificationEmailAddresses',
  'oauth2PermissionScopes',
  'passwordCredentials',
  'preferredSingleSignOnMode',
  'preferredTokenSigningKeyThumbprint',
  'replyUrls',
  'resourceSpecificApplicationPermissions',
  'samlSingleSignOnSettings',
  'servicePrincipalNames',
  'servicePrincipalType',
  'signInAudience',
  'tags',
  'tokenEncryptionKeyId',
  'verifiedPublisher',
] as const;

/**
 * Properties a create, upsert or update may set: the request-body table of
 * https://learn.microsoft.com/graph/api/serviceprincipal-update, plus `appId` (create) and the free-text and URL
 * properties the resource page describes without "Read-only" (`description`, `loginUrl`, `notes`,
 * `notificationEmailAddresses`). `passwordCredentials` only through addPassword (same page, note).
 */
export const SERVICE_PRINCIPAL_WRITABLE = new Set([
  'appId',
  'accountEnabled',
  'addIns',
  'alternativeNames',
  'appRoleAssignmentRequired',
  'appRoles',
  'customSecurityAttributes',
  'description',
  'displayName',
  'homepage',
  'keyCredentials',
  'loginUrl',
  'logoutUrl',
  'notes',
  'notificationEmailAddresses',
  'oauth2PermissionScopes',
  'preferredSingleSignOnMode',
  'replyUrls',
  'servicePrincipalNames',
  'tags',
  'tokenEncryptionKeyId',
]);

/** `2024-01-02T03:04:05Z` */
export const isoSeconds = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
/** `2024-01-02T03:04:05.1230000Z` */
export const isoTicks = (ms: number) => new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$10000Z');

/** A passwordCredential as reading an application shows it: never `secretText` [doc resources/passwordcredential]. */
export function passwordCredentialJson(c: PasswordCredential): Record<string, unknown> {
  return {
    customKeyIdentifier: null,
    displayName: c.displayName,
    endDateTime: isoTicks(c.endDateTime),
    hint: c.hint,
    keyId: c.keyId,
    secretText: null,
    startDateTime: isoTicks(c.startDateTime),
  };
}

/**
 * A keyCredential as reading an application shows it: `key` only when the request selected keyCredentials explicitly
 * (`GET /applications/{id}?$select=keyCredentials`, doc application-update), null otherwise. `customKeyIdentifier` is
 * the certificate's upper-case hex SHA-1 thumbprint unless the writer set one.
 */
export function keyCredentialJson(c: KeyCredential, withKey: boolean): Record<string, unknown> {
  return {
    customKeyIdentifier: c.customKeyIdentifier,
    displayName: c.displayName,
    endDateTime: isoTicks(c.endDateTime),
    key: withKey ? c.key.toString('base64') : null,
    keyId: c.keyId,
    startDateTime: isoTicks(c.startDateTime),
    type: c.type,
    usage: c.usage,
  };
}

export function applicationJson(
  app: Application,
  directory: Directory,
  opts: { withKeys?: boolean } = {},
): Record<string, unknown> {
  const extra = app.extra ?? {};
  const web = { redirectUris: [] as string[], homePageUrl: null, logoutUrl: null, redirectUriSettings: [] };
  const api = {
    acceptMappedClaims: null,
    knownClientApplications: [],
    oauth2PermissionScopes: [],
    preAuthorizedApplications: [],
    requestedAccessTokenVersion: null as number | null,
  };
  return {
    id: app.id,
    deletedDateTime: app.deletedAt === null ? null : isoSeconds(app.deletedAt),
    appId: app.appId,
    applicationTemplateId: null,
    disabledByMicrosoftStatus: null,
    createdByAppId: app.createdByAppId ?? null,
    createdDateTime: isoSeconds(app.createdAt),
    displayName: app.displayName,
    description: null,
    groupMembershipClaims: null,
    identifierUris: app.identifierUris,
    isDeviceOnlyAuthSupported: null,
    isFallbackPublicClient: null,
    nativeAuthenticationApisEnabled: null,
    notes: app.notes,
    publisherDomain: directory.tenantDomain,
    serviceManagementReference: null,
    signInAudience: app.signInAudience,
    tags: app.tags,
    tokenEncryptionKeyId: null,
    uniqueName: app.uniqueName,
    samlMetadataUrl: null,
    defaultRedirectUri: null,
    certification: null,
    optionalClaims: null,
    servicePrincipalLockConfiguration: null,
    requestSignatureVerification: null,
    addIns: [],
    api: { ...api, ...objectOr(extra.api), requestedAccessTokenVersion: app.api.requestedAccessTokenVersion },
    appRoles: [],
    info: { logoUrl: null, marketingUrl: null, privacyStatementUrl: null, supportUrl: null, termsOfServiceUrl: null },
    keyCredentials: (app.keyCredentials ?? []).map((c) => keyCredentialJson(c, opts.withKeys === true)),
    parentalControlSettings: { countriesBlockedForMinors: [], legalAgeGroupRule: 'Allow' },
    passwordCredentials: app.passwordCredentials.map(passwordCredentialJson),
    publicClient: { redirectUris: [] },
    requiredResourceAccess: [],
    verifiedPublisher: { displayName: null, verifiedPublisherId: null, addedDateTime: null },
    web: { ...web, ...objectOr(extra.web), redirectUris: app.web.redirectUris },
    spa: { redirectUris: [] },
    ...withoutKeys(extra, ['api', 'web']),
  };
}

export function servicePrincipalJson(sp: ServicePrincipal, directory: Directory): Record<string, unknown> {
  const app = directory.appByAppId(sp.appId);
  return {
    id: sp.id,
    deletedDateTime: sp.deletedAt === null ? null : isoSeconds(sp.deletedAt),
    accountEnabled: true,
    alternativeNames: [],
    appDisplayName: app?.displayName ?? sp.displayName,
    appDescription: null,
    appId: sp.appId,
    applicationTemplateId: null,
    appOwnerOrganizationId: app ? directory.tenantId : 'f8cdef31-a31e-4b4a-93e4-5f571e91255a',
    appRoleAssignmentRequired: false,
    createdByAppId: null,
    description: null,
    disabledByMicrosoftStatus: null,
    displayName: sp.displayName,
    homepage: null,
    loginUrl: null,
    logoutUrl: null,
    notes: null,
    notificationEmailAddresses: [],
    preferredSingleSignOnMode: null,
    preferredTokenSigningKeyThumbprint: null,
    replyUrls: app?.web.redirectUris ?? [],
    servicePrincipalNames: sp.servicePrincipalNames,
    servicePrincipalType: 'Application',
    signInAudience: app?.signInAudience ?? 'AzureADMultipleOrgs',
    tags: sp.tags,
    tokenEncryptionKeyId: null,
    samlSingleSignOnSettings: null,
    addIns: [],
    appRoles: sp.appRoles.map((r) => ({
      allowedMemberTypes: ['Application'],
      description: r.value,
      displayName: r.value,
      id: r.id,
      isEnabled: true,
      origin: 'Application',
      value: r.value,
    })),
    info: { logoUrl: null, marketingUrl: null, privacyStatementUrl: null, supportUrl: null, termsOfServiceUrl: null },
    keyCredentials: [],
    oauth2PermissionScopes: [],
    passwordCredentials: [],
    resourceSpecificApplicationPermissions: [],
    verifiedPublisher: { displayName: null, verifiedPublisherId: null, addedDateTime: null },
    ...(sp.extra ?? {}),
  };
}

const objectOr = (v: unknown): Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};

function withoutKeys(o: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (!keys.includes(k)) out[k] = v;
  return out;
}
