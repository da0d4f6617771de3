/**
 * The approval plan: everything activation will grant, built from the integration profile and the request, in words
 * and values an approver can check (tenant, instance, apps and their redirect URIs, the inbound trust, the records
 * activation writes, role grants, cross-scope privileges, IP allow rules, manual steps).
 *
 * Pure and deterministic, so the orchestrator builds it during replay. Its digest (SHA-256 of the canonical JSON) is
 * bound to every approval link and stored with the decision: a re-provisioning whose plan has the same digest runs
 * silently; a different digest asks again before anything changes.
 *
 * App ids enter the digest symbolically (`app:{uniqueName}`): an app is identified by its unique name, which is
 * derived from the integration and its role, so the digest is known before the apps exist and does not change when
 * an app has to be re-created. What the approver sees carries the real app ids once they exist.
 */
import { createHash } from 'node:crypto';

import type { ApprovalPlan } from '../contracts/provision';
import { renderRecord, renderTemplate, type TemplateValues } from '../profiles/template';
import type { CredentialKind } from '../contracts/credentials';
import { getProfile } from '../profiles';
import type { IntegrationProfile } from '../profiles/types';

export interface PlanInput {
  profile: IntegrationProfile;
  integrationId: string;
  tenantId: string;
  tenantName: string;
  /** The tenant as the request named it, when it was a domain. */
  tenantDomain?: string;
  serviceNowInstance: string;
  instanceUrl: string;
  /** Template values (see ../profiles/types.ts); app ids may be missing (then shown by unique name). */
  values: TemplateValues;
  /** Unique name of each app role (`uniqueNameFor`). */
  uniqueNames: Record<string, string>;
  /** Role grants a request adds to named users (ServiceNow role names). */
  grantUsers: { userName: string; role: string }[];
  ipAllowlist: boolean;
  requestedBy: string[];
  /** The application-permission tier the request chose (else each app's default tier). */
  permissionTier?: string;
  /** The credential kind of each app that is not a client secret (absent: every app has a client secret). */
  credentials?: Record<string, CredentialKind>;
}

/** What a non-secret credential means, in the approver's words. */
export function credentialStatement(kind: CredentialKind, instance: string): string {
  return kind === 'certificate'
    ? `certificate: a self-signed RSA 2048 certificate created in Key Vault (private key exportable only to ServiceNow ${instance}, which keeps it in a keystore and signs private-key JWT client assertions); no client secret`
    : kind === 'federated'
      ? `federated: the app trusts assertions ServiceNow ${instance} signs with its own key (workload identity federation, audience api://AzureADTokenExchange); nothing is stored in Entra or Key Vault`
      : 'client secret kept in Key Vault';
}

/** The permission values an app gets for a tier (the default tier when none or an unknown one is named). */
export function permissionsFor(app: IntegrationProfile['apps'][number], tier?: string): string[] | undefined {
  const p = app.applicationPermissions;
  if (!p) return undefined;
  return p.tiers[tier !== undefined && Object.hasOwn(p.tiers, tier) ? tier : p.defaultTier];
}

/** The symbolic id the digest uses for an app: stable for the integration, known before the app exists. */
export const symbolicAppId = (uniqueName: string): string => `app:${uniqueName}`;

function valuesWithApps(input: PlanInput, symbolic: boolean): TemplateValues {
  const values: TemplateValues = { ...input.values };
  for (const app of input.profile.apps) {
    const key = `apps.${app.role}.appId`;
    if (symbolic || values[key] === undefined) values[key] = symbolicAppId(input.uniqueNames[app.role] ?? app.role);
    // The service principal's object id is known only after the app step: the plan names it by the app.
    const sp = `apps.${app.role}.servicePrincipalId`;
    if (symbolic || values[sp] === undefined)
      values[sp] = `servicePrincipal:${app.existing?.appId ?? input.uniqueNames[app.role] ?? app.role}`;
  }
  // Records reference each other's sys_ids: the plan names the record instead (sys_ids are not known before); the
  // digest always does, so it is the same before and after the records exist.
  for (const r of input.profile.serviceNow.records) {
    const key = `records.${r.key}.sysId`;
    if (symbolic || values[key] === undefined) values[key] = `record:${r.key}`;
  }
  values.scopeSysId ??= input.profile.serviceNow.requiredScope ?? 'global';
  return values;
}

function build(input: PlanInput, symbolic: boolean): ApprovalPlan {
  const { profile } = input;
  const values = valuesWithApps(input, symbolic);
  const render = (t: string) => renderTemplate(t, values);
  const apps = profile.apps.map((a) => {
    const appId = values[`apps.${a.role}.appId`];
    return {
      role: a.role,
      displayName: render(a.displayName),
      uniqueName: input.uniqueNames[a.role] ?? a.role,
      ...(appId && !appId.startsWith('app:') ? { appId } : {}),
      purpose: a.purpose,
      redirectUris: a.redirectUris.map(render),
      ...(a.applicationPermissions
        ? {
            permissions: {
              resource: a.applicationPermissions.resourceName,
              values: [...(permissionsFor(a, input.permissionTier) ?? [])],
            },
          }
        : {}),
      ...(input.credentials?.[a.role] && input.credentials[a.role] !== 'secret'
        ? {
            credential: {
              kind: input.credentials[a.role],
              statement: credentialStatement(input.credentials[a.role], input.serviceNowInstance),
            },
          }
        : {}),
    };
  });
  const appLabel = (role: string) => {
    const app = apps.find((a) => a.role === role);
    return app ? `${app.displayName} (${app.appId ?? app.uniqueName})` : role;
  };
  const profileGrants = profile.serviceNow.roleGrants.map((g) => ({ userName: render(g.userName), role: g.role }));
  const roleGrants = [...profileGrants, ...input.grantUsers];
  const trust = profile.serviceNow.trust.map((t) => {
    const user = render(t.user);
    const roles = roleGrants.filter((g) => g.userName === user).map((g) => g.role);
    return {
      statement:
        `Tokens that tenant ${input.tenantId} issues to app ${appLabel(t.tokenApp)} for the audience ` +
        `${appLabel(t.audienceApp)} act in ServiceNow ${input.serviceNowInstance} as user ${user} ` +
        `(matched by the ${t.claim} claim) with roles ${roles.length ? roles.join(', ') : '(none)'}.`,
      tokenApp: t.tokenApp,
      audienceApp: t.audienceApp,
      user,
      roles,
    };
  });
  const records = profile.serviceNow.records.filter(
    (r) => r.table !== 'sys_scope_privilege' && !r.lookup && (r.when !== 'ipAllowlist' || input.ipAllowlist),
  );
  const secretNames = (r: (typeof records)[number]) =>
    r.secret && (input.credentials?.[r.secret.fromApp] ?? 'secret') === 'secret'
      ? { [r.secret.field]: `Key Vault secret ${values[`apps.${r.secret.fromApp}.secretName`] ?? ''}` }
      : {};
  return {
    integrationId: input.integrationId,
    profile: { id: profile.id, title: profile.title },
    tenant: {
      id: input.tenantId,
      name: input.tenantName,
      ...(input.tenantDomain && !symbolic ? { domain: input.tenantDomain } : {}),
    },
    serviceNow: { instance: input.serviceNowInstance, url: input.instanceUrl },
    apps,
    trust,
    records: records.map((r) => ({
      key: r.key,
      table: r.table,
      values: { ...renderRecord({ ...r.fields, ...(r.activate ?? {}) }, values), ...secretNames(r) },
    })),
    roleGrants,
    privileges: profile.serviceNow.records
      .filter((r) => r.table === 'sys_scope_privilege')
      .map((r) => ({
        sourceScope: profile.serviceNow.requiredScope ?? 'global',
        target: `${r.fields.target_scope ?? 'global'}.${r.fields.target_name ?? ''}`,
        operation: r.fields.operation ?? '',
      })),
    ipRules: input.ipAllowlist
      ? [
          ...profile.serviceNow.ipAllowlist,
          ...(profile.serviceNow.ipAllowlistHost ? [`A records of ${profile.serviceNow.ipAllowlistHost}`] : []),
        ]
      : [],
    manualSteps: profile.handOffs.map((h) => ({ title: h.title, actor: h.actor })),
    // Who asked is shown, not agreed to: the same change asked for by someone else needs no new approval.
    requestedBy: symbolic ? [] : [...input.requestedBy].sort(),
  };
}

/** The plan as the approver sees it: real app ids where the apps exist. */
export const buildPlan = (input: PlanInput): ApprovalPlan => build(input, false);

/** Canonical JSON: object keys sorted at every level, so the same plan always hashes the same. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object')
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(value);
}

/** The digest of what the approver agrees to (app ids symbolic): hex SHA-256 of the canonical plan. */
export function planDigest(input: PlanInput): string {
  return createHash('sha256')
    .update(canonical(build(input, true)), 'utf8')
    .digest('hex');
}

/** The digest of any plan-like value (hex SHA-256 of its canonical JSON): a decommissioning binds its removal list. */
export function digestOf(value: unknown): string {
  return createHash('sha256').update(canonical(value), 'utf8').digest('hex');
}

/**
 * What a plan is built from, without the profile (named by id): small enough to travel in an activity's input or to
 * be kept in a table, where the whole plan would not (orchestration history payloads stay small). `removes` lists what
 * a staged change takes away (shown to the approver, not part of the digest).
 */
export type PlanSource = Omit<PlanInput, 'profile'> & { profileId: string; removes?: string[] };

/** The source of a plan input (the profile by its id). */
export function planSourceOf(input: PlanInput, removes?: string[]): PlanSource {
  const { profile, ...rest } = input;
  return { ...rest, profileId: profile.id, ...(removes?.length ? { removes } : {}) };
}

/**
 * The plan a source describes, only when its digest is `digest` (the one the orchestrator holds and every approval
 * link is bound to); otherwise a sentence saying why not. An activity never shows or stores a plan it could not tie
 * to that digest.
 */
export function resolvePlan(
  source: PlanSource,
  digest: string,
): { ok: true; plan: ApprovalPlan } | { ok: false; reason: string } {
  const profile = getProfile(source.profileId);
  if (!profile) return { ok: false, reason: `unknown integration profile '${source.profileId}'` };
  const { profileId: _id, removes, ...rest } = source;
  const input: PlanInput = { ...rest, profile };
  try {
    const actual = planDigest(input);
    if (actual !== digest)
      return { ok: false, reason: `the plan's digest is ${actual.slice(0, 12)}, the run holds ${digest.slice(0, 12)}` };
    const plan = buildPlan(input);
    return { ok: true, plan: removes?.length ? { ...plan, removes } : plan };
  } catch (err) {
    // A source its profile cannot render (a missing template value) describes no plan.
    return { ok: false, reason: err instanceof Error ? err.message : String(err) };
  }
}
