/**
 * Shared Entra directory state: the tenant, application objects, service principals, password credentials, app-role
 * assignments and users. The Graph stand-in reads and writes it; the Entra token endpoints read it to issue tokens;
 * so a secret added through Graph is the secret Entra accepts.
 *
 * Times are epoch milliseconds on the sandbox clock.
 */
import { createHash, randomBytes } from 'node:crypto';

import type { SandboxClock } from '../core/clock';
import { SigningKey } from '../core/jwt';
import { newGuid } from '../core/random';

export interface DirectoryOptions {
  tenantId?: string;
  tenantDomain?: string;
}

export interface PasswordCredential {
  keyId: string;
  displayName: string | null;
  hint: string;
  /** SHA-256 of the secret text; the text itself is never stored (Entra cannot return it either). */
  secretHash: string;
  startDateTime: number;
  endDateTime: number;
  /** When it was added: Entra refuses a new secret for a while (propagation). */
  createdAt: number;
}

/**
 * A certificate credential of an application (Graph `keyCredential`,
 * https://learn.microsoft.com/graph/api/resources/keycredential): only the public certificate is stored.
 */
export interface KeyCredential {
  keyId: string;
  type: 'AsymmetricX509Cert';
  usage: 'Verify';
  /** The DER certificate. */
  key: Buffer;
  displayName: string | null;
  /** Upper-case hex SHA-1 thumbprint of the certificate, as Graph fills `customKeyIdentifier` when it is omitted. */
  customKeyIdentifier: string;
  startDateTime: number;
  endDateTime: number;
  /** When it was added: Entra refuses a new key for a while (propagation). */
  createdAt: number;
}

/** A federated identity credential (https://learn.microsoft.com/graph/api/resources/federatedidentitycredential). */
export interface FederatedIdentityCredential {
  id: string;
  name: string;
  issuer: string;
  subject: string;
  audiences: string[];
  description: string | null;
}

export interface Application {
  id: string; // object id
  appId: string; // client id
  displayName: string;
  uniqueName: string | null;
  signInAudience: string;
  tags: string[];
  notes: string | null;
  web: { redirectUris: string[] };
  identifierUris: string[];
  /** requestedAccessTokenVersion: null means v1 tokens (the resource decides the token version). */
  api: { requestedAccessTokenVersion: number | null };
  passwordCredentials: PasswordCredential[];
  /** Certificate credentials (Graph `keyCredentials`). */
  keyCredentials: KeyCredential[];
  federatedIdentityCredentials: FederatedIdentityCredential[];
  /** Object ids of owners (service principals or users). */
  owners: string[];
  createdAt: number;
  deletedAt: number | null;
  /** Graph properties the model does not type (e.g. `requiredResourceAccess`, `info`), stored as written. */
  extra?: Record<string, unknown>;
  /** appId of the client that created it through Graph (`createdByAppId`). */
  createdByAppId?: string | null;
}

export interface ServicePrincipal {
  id: string;
  appId: string;
  displayName: string;
  servicePrincipalNames: string[];
  tags: string[];
  /** App roles this principal exposes (resource side), by value → id. */
  appRoles: { id: string; value: string }[];
  owners: string[];
  createdAt: number;
  deletedAt: number | null;
  /** Graph properties the model does not type (e.g. `appRoleAssignmentRequired`), stored as written. */
  extra?: Record<string, unknown>;
}

/** An application permission granted to `principalId` on resource service principal `resourceId`. */
export interface AppRoleAssignment {
  /** As Graph forms it: see {@link newAppRoleAssignmentId}. */
  id: string;
  principalId: string;
  resourceId: string;
  appRoleId: string;
  /** When it was granted (sandbox clock); seeded grants have none and predate the sandbox. */
  createdAt?: number;
}

export interface User {
  id: string;
  userPrincipalName: string;
  /** '' for a user without a mailbox (Graph then returns `mail: null`). */
  mail: string;
  displayName: string;
}

/** A security group: members are object ids of users or groups (nested groups). */
export interface Group {
  id: string;
  displayName: string;
  members: string[];
}

/** Seeded groups with fixed ids (the sandbox's APPROVER_GROUPS setting names the first; it survives reset()). */
export const SEEDED_GROUPS = {
  approvers: 'a7f0c2d4-5b6e-4f81-9a3c-2d4e6f8a0b1c',
  operationsLeads: 'b8e1d3f5-6c7f-4a92-8b4d-3e5f7a9b1c2d',
} as const;

/** Well-known first-party resources (their appIds are the real ones). */
export const GRAPH_APP_ID = '00000003-0000-0000-c000-000000000000';
export const KEY_VAULT_APP_ID = 'cfa8b339-82a2-471a-a3c9-0fc0be7a4093';
/**
 * Microsoft's first-party "Graph Connector Federated Credential App" (Microsoft 365 Copilot connectors, Federated Auth;
 * public repository microsoft/copilot-servicenow-connector-setup-scripts). Microsoft creates its service principal in
 * a tenant when an administrator opens the Copilot connectors gallery; the sandbox tenant has it.
 */
export const COPILOT_FEDERATED_APP_ID = '933838e2-bec1-440f-a634-9363c82e5b6d';

/**
 * Graph application permissions, with their real app-role ids: the "Application" identifiers of
 * https://learn.microsoft.com/graph/permissions-reference (its "All permissions and IDs" table). The Microsoft Graph
 * service principal exposes these as `appRoles`; an assignment of one puts its value in app-only tokens' `roles`.
 */
export const GRAPH_ROLES = {
  'Application.ReadWrite.OwnedBy': '18a4783c-866b-4cc7-a460-3d5e5662c884',
  'Application.ReadWrite.All': '1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9',
  'Application.Read.All': '9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30',
  'AppRoleAssignment.ReadWrite.All': '06b708a9-e830-4db3-a914-8e69da51d44f',
  'Mail.Send': 'b633e1c5-b582-4048-a93e-9f11b44c7e96',
  'GroupMember.Read.All': '98830695-27a2-44f7-8c18-0c3ebc9698f6',
  'GroupMember.ReadWrite.All': 'dbaae8cf-10b5-4b86-a4a1-f871c94c6695',
  'Group.Read.All': '5b567255-7703-4780-807c-7be8301ae99b',
  'User.ReadBasic.All': '97235f07-e226-4f63-ace3-39588e11d3a1',
  'User.Read.All': 'df021288-bdef-4463-88db-98f22de89214',
  'User.ReadWrite.All': '741f803b-c850-494e-b5df-cde7c675a1ca',
} as const;

/** The 16 bytes of a GUID in .NET's `Guid.ToByteArray()` order (first three groups little-endian). */
function guidBytes(guid: string): Buffer {
  const hex = guid.replace(/-/g, '');
  const b = Buffer.from(hex, 'hex');
  return Buffer.concat([
    b.subarray(0, 4).reverse(),
    b.subarray(4, 6).reverse(),
    b.subarray(6, 8).reverse(),
    b.subarray(8),
  ]);
}

/**
 * An appRoleAssignment id as Graph forms it: 43 characters of base64url over the principal's object id (in .NET byte
 * order) and 16 further bytes. The documented samples decode that way, e.g.
 * `-WmtM5na7Uus0D8kI1yylpU9Mdo0Pb9OoBJvd3T5eKc` for principal `33ad69f9-da99-4bed-acd0-3f24235cb296`
 * (https://learn.microsoft.com/graph/api/serviceprincipal-post-approleassignedto); the last 16 bytes are random here.
 */
export function newAppRoleAssignmentId(principalId: string): string {
  return Buffer.concat([guidBytes(principalId), randomBytes(16)]).toString('base64url');
}

export const hashSecret = (secret: string): string => createHash('sha256').update(secret, 'utf8').digest('hex');

/**
 * Client secrets as Entra issues them: 40 characters; the first three are the hint. Characters are drawn from a set
 * that includes `~`, `.`, `_` and `-` as real secrets do (which is why they must be URL-encoded in form bodies).
 */
export function newSecretText(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789~._-';
  const bytes = randomBytes(40);
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join('');
}

export class Directory {
  readonly tenantId: string;
  readonly tenantDomain: string;
  readonly signingKey = new SigningKey();
  readonly applications = new Map<string, Application>();
  readonly servicePrincipals = new Map<string, ServicePrincipal>();
  readonly appRoleAssignments: AppRoleAssignment[] = [];
  readonly users = new Map<string, User>();
  readonly groups = new Map<string, Group>();
  /** The Function App's own identity (client credentials), holding Application.ReadWrite.OwnedBy and Mail.Send. */
  functionIdentity = { clientId: '', objectId: '', clientSecret: '', servicePrincipalId: '' };
  /** The mailbox the product sends from. */
  mailSender = '';
  /**
   * The control-plane audience app (SERVICENOW_TOKEN_AUDIENCE = `api://{appId}`): an app registration that exposes an
   * API and asks for v2 tokens, so the Function identity's client-credential tokens for it carry iss
   * https://login.microsoftonline.com/{tid}/v2.0, aud = appId and oid = the identity's service principal id, the
   * token the ServiceNow instances trust (docs/deploy.md, "Connect an instance"). Kept across reset().
   */
  controlPlaneAudience = { appId: '', objectId: '', servicePrincipalId: '', identifierUri: '' };

  constructor(
    readonly clock: SandboxClock,
    opts: DirectoryOptions = {},
  ) {
    this.tenantId = opts.tenantId ?? '72f988bf-86f1-41af-91ab-2d7cd011db47';
    this.tenantDomain = opts.tenantDomain ?? 'contoso.onmicrosoft.com';
    this.seed();
  }

  /** Back to the seeded state (first-party resources, the Function identity, the sender mailbox). */
  reset(): void {
    this.applications.clear();
    this.servicePrincipals.clear();
    this.appRoleAssignments.length = 0;
    this.users.clear();
    this.groups.clear();
    this.seed();
  }

  /** Does `tenant` (GUID or verified domain) name this tenant? */
  isTenant(tenant: string): boolean {
    const t = tenant.toLowerCase();
    return t === this.tenantId || t === this.tenantDomain.toLowerCase();
  }

  live<T extends { deletedAt: number | null }>(o: T | undefined): T | undefined {
    return o && o.deletedAt === null ? o : undefined;
  }

  appByAppId(appId: string): Application | undefined {
    for (const a of this.applications.values()) if (a.deletedAt === null && a.appId === appId) return a;
    return undefined;
  }

  spByAppId(appId: string): ServicePrincipal | undefined {
    for (const s of this.servicePrincipals.values()) if (s.deletedAt === null && s.appId === appId) return s;
    return undefined;
  }

  /** The service principal a v1 `resource` or v2 scope prefix names: appId, identifier URI or service principal name. */
  resourceByIdentifier(identifier: string): ServicePrincipal | undefined {
    const id = identifier.replace(/\/+$/, '').toLowerCase();
    for (const s of this.servicePrincipals.values()) {
      if (s.deletedAt !== null) continue;
      if (s.appId.toLowerCase() === id) return s;
      if (s.servicePrincipalNames.some((n) => n.replace(/\/+$/, '').toLowerCase() === id)) return s;
    }
    return undefined;
  }

  /** Role values (e.g. `Mail.Send`) granted to the client's service principal on the resource. */
  rolesFor(clientSpId: string, resource: ServicePrincipal): string[] {
    return this.appRoleAssignments
      .filter((a) => a.principalId === clientSpId && a.resourceId === resource.id)
      .map((a) => resource.appRoles.find((r) => r.id === a.appRoleId)?.value)
      .filter((v): v is string => typeof v === 'string');
  }

  /** Drops every app role assignment held by or granted on a service principal (it was deleted). */
  removeAssignmentsOf(servicePrincipalId: string): void {
    const keep = this.appRoleAssignments.filter(
      (a) => a.principalId !== servicePrincipalId && a.resourceId !== servicePrincipalId,
    );
    this.appRoleAssignments.splice(0, this.appRoleAssignments.length, ...keep);
  }

  /** Adds a user (seeding and tests); the mail defaults to the UPN. */
  addUser(init: Partial<User> & { userPrincipalName: string }): User {
    const user: User = {
      id: newGuid(),
      mail: init.userPrincipalName,
      displayName: init.userPrincipalName.split('@')[0],
      ...init,
    };
    this.users.set(user.id, user);
    return user;
  }

  userByAddress(address: string): User | undefined {
    const a = address.toLowerCase();
    for (const u of this.users.values())
      if (u.userPrincipalName.toLowerCase() === a || (u.mail !== '' && u.mail.toLowerCase() === a)) return u;
    return undefined;
  }

  /** Adds a group with members (object ids of users or groups). */
  addGroup(init: Partial<Group> & { displayName: string }): Group {
    const group: Group = { id: newGuid(), members: [], ...init };
    this.groups.set(group.id, group);
    return group;
  }

  addMember(groupId: string, memberId: string): void {
    const g = this.groups.get(groupId);
    if (!g) throw new Error(`no group ${groupId}`);
    if (!g.members.includes(memberId)) g.members.push(memberId);
  }

  removeMember(groupId: string, memberId: string): void {
    const g = this.groups.get(groupId);
    if (!g) throw new Error(`no group ${groupId}`);
    g.members = g.members.filter((m) => m !== memberId);
  }

  /** Every member of a group, through nested groups (each object once; cycles are harmless), in discovery order. */
  transitiveMembers(groupId: string): Array<{ kind: 'user'; user: User } | { kind: 'group'; group: Group }> {
    const out: Array<{ kind: 'user'; user: User } | { kind: 'group'; group: Group }> = [];
    const seen = new Set<string>([groupId]);
    const queue = [...(this.groups.get(groupId)?.members ?? [])];
    while (queue.length) {
      const id = queue.shift() as string;
      if (seen.has(id)) continue;
      seen.add(id);
      const user = this.users.get(id);
      if (user) out.push({ kind: 'user', user });
      const group = this.groups.get(id);
      if (group) {
        out.push({ kind: 'group', group });
        queue.push(...group.members);
      }
    }
    return out;
  }

  /** Adds an application directly (seeding), with a service principal. */
  addApplication(init: Partial<Application> & { displayName: string }): Application {
    const now = this.clock.now();
    const app: Application = {
      id: newGuid(),
      appId: newGuid(),
      uniqueName: null,
      signInAudience: 'AzureADMyOrg',
      tags: [],
      notes: null,
      web: { redirectUris: [] },
      identifierUris: [],
      api: { requestedAccessTokenVersion: null },
      passwordCredentials: [],
      keyCredentials: [],
      federatedIdentityCredentials: [],
      owners: [],
      createdAt: now,
      deletedAt: null,
      ...init,
    };
    this.applications.set(app.id, app);
    return app;
  }

  addServicePrincipal(init: Partial<ServicePrincipal> & { appId: string; displayName: string }): ServicePrincipal {
    const sp: ServicePrincipal = {
      id: newGuid(),
      servicePrincipalNames: [init.appId],
      tags: [],
      appRoles: [],
      owners: [],
      createdAt: this.clock.now(),
      deletedAt: null,
      ...init,
    };
    this.servicePrincipals.set(sp.id, sp);
    return sp;
  }

  /** Adds a password credential and returns its secret text (once, as Graph's addPassword does). */
  addPassword(
    app: Application,
    init: { displayName?: string | null; startDateTime?: number; endDateTime?: number },
  ): { credential: PasswordCredential; secretText: string } {
    const now = this.clock.now();
    const secretText = newSecretText();
    const start = init.startDateTime ?? now;
    const credential: PasswordCredential = {
      keyId: newGuid(),
      displayName: init.displayName ?? null,
      hint: secretText.slice(0, 3),
      secretHash: hashSecret(secretText),
      startDateTime: start,
      endDateTime: init.endDateTime ?? start + 2 * 365 * 24 * 3600 * 1000,
      createdAt: now,
    };
    app.passwordCredentials.push(credential);
    return { credential, secretText };
  }

  private seed(): void {
    const graph = this.addServicePrincipal({
      appId: GRAPH_APP_ID,
      displayName: 'Microsoft Graph',
      servicePrincipalNames: [GRAPH_APP_ID, 'https://graph.microsoft.com', 'https://graph.microsoft.com/'],
      appRoles: Object.entries(GRAPH_ROLES).map(([value, id]) => ({ id, value })),
      createdAt: 0,
    });
    this.addServicePrincipal({
      appId: KEY_VAULT_APP_ID,
      displayName: 'Azure Key Vault',
      servicePrincipalNames: [KEY_VAULT_APP_ID, 'https://vault.azure.net'],
      createdAt: 0,
    });
    this.addServicePrincipal({
      appId: COPILOT_FEDERATED_APP_ID,
      displayName: 'Graph Connector Federated Credential App',
      createdAt: 0,
    });
    // The Function App identity survives reset(): settings read from env() before a reset keep working.
    const kept = this.functionIdentity.clientId ? this.functionIdentity : undefined;
    const fn = this.addApplication({
      displayName: 'm365-snow-provisioner (Function App identity)',
      createdAt: 0,
      ...(kept ? { appId: kept.clientId, id: kept.objectId } : {}),
    });
    const fnSp = this.addServicePrincipal({
      appId: fn.appId,
      displayName: fn.displayName,
      createdAt: 0,
      ...(kept ? { id: kept.servicePrincipalId } : {}),
    });
    const { secretText, credential } = this.addPassword(fn, { displayName: 'sandbox' });
    if (kept) credential.secretHash = hashSecret(kept.clientSecret);
    credential.hint = (kept?.clientSecret ?? secretText).slice(0, 3);
    credential.createdAt = 0; // usable at once: it predates the sandbox
    for (const role of [
      'Application.ReadWrite.OwnedBy',
      'Mail.Send',
      'GroupMember.Read.All',
      'User.ReadBasic.All',
      // Admin consent for the application permissions a profile declares (GRANT_ADMIN_CONSENT in the sandbox).
      'AppRoleAssignment.ReadWrite.All',
      'Application.Read.All',
    ] as const)
      this.appRoleAssignments.push({
        id: newAppRoleAssignmentId(fnSp.id),
        principalId: fnSp.id,
        resourceId: graph.id,
        appRoleId: GRAPH_ROLES[role],
      });
    const keptAudience = this.controlPlaneAudience.appId ? this.controlPlaneAudience : undefined;
    const audienceAppId = keptAudience?.appId ?? newGuid();
    const audience = this.addApplication({
      displayName: 'm365-snow-provisioner ServiceNow control plane (token audience)',
      createdAt: 0,
      appId: audienceAppId,
      identifierUris: [`api://${audienceAppId}`],
      api: { requestedAccessTokenVersion: 2 },
      ...(keptAudience ? { id: keptAudience.objectId } : {}),
    });
    const audienceSp = this.addServicePrincipal({
      appId: audience.appId,
      displayName: audience.displayName,
      servicePrincipalNames: [audience.appId, `api://${audience.appId}`],
      createdAt: 0,
      ...(keptAudience ? { id: keptAudience.servicePrincipalId } : {}),
    });
    this.controlPlaneAudience = {
      appId: audience.appId,
      objectId: audience.id,
      servicePrincipalId: audienceSp.id,
      identifierUri: `api://${audience.appId}`,
    };
    this.functionIdentity = {
      clientId: fn.appId,
      objectId: fn.id,
      clientSecret: kept?.clientSecret ?? secretText,
      servicePrincipalId: fnSp.id,
    };
    const sender: User = {
      id: newGuid(),
      userPrincipalName: `provisioner@${this.tenantDomain}`,
      mail: `provisioner@${this.tenantDomain}`,
      displayName: 'ServiceNow provisioning',
    };
    this.users.set(sender.id, sender);
    this.mailSender = sender.userPrincipalName;
    // People for the approval policy: the sandbox's APPROVERS are approver@ and second.approver@; APPROVER_GROUPS is
    // "ServiceNow integration approvers" (ops.engineer@ directly, ops.lead@ through the nested "Operations leads").
    const person = (local: string, displayName: string) =>
      this.addUser({ userPrincipalName: `${local}@${this.tenantDomain}`, displayName });
    person('approver', 'Approver');
    person('second.approver', 'Second Approver');
    person('requester', 'Requester');
    const engineer = person('ops.engineer', 'Operations Engineer');
    const lead = person('ops.lead', 'Operations Lead');
    const leads = this.addGroup({
      id: SEEDED_GROUPS.operationsLeads,
      displayName: 'Operations leads',
      members: [lead.id],
    });
    this.addGroup({
      id: SEEDED_GROUPS.approvers,
      displayName: 'ServiceNow integration approvers',
      members: [engineer.id, leads.id],
    });
  }
}
