/**
 * The checks a profile passes before it is registered (src/profiles/index.ts): every reference inside it resolves
 * (apps, records, checks, secret consumers, trusts), every template uses only placeholders the provisioning fills
 * (TEMPLATE_PLACEHOLDERS), and a record refers only to records ensured before it. Every problem is listed.
 */
import { serviceNowConsumerRecord } from './credential-kinds';
import { placeholders } from './template';
import type { IntegrationProfile } from './types';

/**
 * The placeholders every template may use, filled by the provisioning from the request and preflight:
 * `{tenant}` (as given), `{tenantId}` (its GUID), `{tenantDomain}` (its domain when known, else as given),
 * `{tenantName}`, `{instance}`, `{instanceUrl}`, `{authorityHost}`, `{integrationId}`, `{redirectUri}`,
 * `{scopeSysId}` (sys_id of the required scoped app), `{testEnvironment}` (Yes/No), `{graphUrl}` (Microsoft Graph,
 * e.g. https://graph.microsoft.com); per app `{apps.<role>.appId}`, `{apps.<role>.secretName}` and
 * `{apps.<role>.servicePrincipalId}` (the object id of its service principal in the tenant), per record
 * `{records.<key>.sysId}`.
 */
export const TEMPLATE_PLACEHOLDERS = [
  'tenant',
  'tenantId',
  'tenantDomain',
  'tenantName',
  'instance',
  'instanceUrl',
  'authorityHost',
  'integrationId',
  'redirectUri',
  'scopeSysId',
  'testEnvironment',
  'graphUrl',
] as const;

const ID = /^[a-z][a-z0-9-]{1,62}$/;
const KEY = /^[A-Za-z][A-Za-z0-9_]*$/;

export function profileProblems(p: IntegrationProfile): string[] {
  const problems: string[] = [];
  if (!ID.test(p.id)) problems.push(`id '${p.id}' must be kebab-case (a-z, 0-9, -)`);
  if (!p.title.trim()) problems.push('title is empty');
  const roles = new Set<string>();
  for (const a of p.apps) {
    if (!KEY.test(a.role)) problems.push(`app role '${a.role}' must be a letter followed by letters, digits or _`);
    if (roles.has(a.role)) problems.push(`app role '${a.role}' is declared twice`);
    roles.add(a.role);
    if (a.existing) {
      if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(a.existing.appId))
        problems.push(`app ${a.role}: existing appId '${a.existing.appId}' is not a GUID`);
      if (!a.existing.missing.trim())
        problems.push(`app ${a.role}: existing app without a hand-off for when it is missing`);
      if (a.secretLifetimeDays !== 0 || a.secretConsumers.length)
        problems.push(
          `app ${a.role} is an existing service principal: it has no client secret (lifetime 0, no consumers)`,
        );
      if (a.redirectUris.length || a.applicationPermissions)
        problems.push(`app ${a.role} is an existing service principal: it takes no redirect URIs or permissions`);
    } else if (a.secretConsumers.length && (!Number.isInteger(a.secretLifetimeDays) || a.secretLifetimeDays < 1))
      problems.push(`app ${a.role}: secret lifetime must be a whole number of days >= 1`);
    const perms = a.applicationPermissions;
    if (perms) {
      if (!Object.hasOwn(perms.tiers, perms.defaultTier))
        problems.push(`app ${a.role}: default permission tier '${perms.defaultTier}' is not one of its tiers`);
      for (const [tier, values] of Object.entries(perms.tiers))
        if (!values.length) problems.push(`app ${a.role}: permission tier '${tier}' grants nothing`);
    }
  }
  for (const a of p.apps) {
    const kinds = a.credentialKinds ?? [];
    if (new Set(kinds).size !== kinds.length) problems.push(`app ${a.role}: a credential kind is listed twice`);
    if (kinds.some((k) => k !== 'secret') && !serviceNowConsumerRecord(p, a))
      problems.push(
        `app ${a.role}: certificate and federated credentials need the app's one consumer to be a ServiceNow oauth_entity record`,
      );
  }
  const records = new Map<string, number>();
  p.serviceNow.records.forEach((r, i) => {
    if (!KEY.test(r.key)) problems.push(`record key '${r.key}' must be a letter followed by letters, digits or _`);
    if (records.has(r.key)) problems.push(`record key '${r.key}' is declared twice`);
    records.set(r.key, i);
    if (!Object.keys(r.naturalKey).length) problems.push(`record ${r.key} has no natural key`);
    if (r.lookup && (r.secret || r.activate || r.shared || r.phase))
      problems.push(`record ${r.key} is a lookup: it cannot carry a secret, activation, sharing or a phase`);
    if (r.secret && !roles.has(r.secret.fromApp))
      problems.push(
        `record ${r.key} takes its secret from app '${r.secret.fromApp}', which the profile does not declare`,
      );
  });

  // Apps with a client secret: the secrets step skips apps without secret consumers (and existing ones).
  const withSecret = new Set(p.apps.filter((a) => !a.existing && a.secretConsumers.length).map((a) => a.role));
  p.serviceNow.records.forEach((r) => {
    if (r.secret && roles.has(r.secret.fromApp) && !withSecret.has(r.secret.fromApp))
      problems.push(`record ${r.key} takes its secret from app '${r.secret.fromApp}', which has no client secret`);
  });
  const checkTemplate = (where: string, template: string, recordIndex?: number) => {
    for (const name of placeholders(template)) {
      const app = /^apps\.([^.]+)\.(appId|secretName|servicePrincipalId)$/.exec(name);
      const rec = /^records\.([^.]+)\.sysId$/.exec(name);
      if ((TEMPLATE_PLACEHOLDERS as readonly string[]).includes(name)) continue;
      if (app) {
        if (!roles.has(app[1])) problems.push(`${where}: {${name}} names app '${app[1]}', which is not declared`);
        else if (app[2] === 'secretName' && !withSecret.has(app[1]))
          problems.push(`${where}: {${name}} names app '${app[1]}', which has no client secret`);
        continue;
      }
      if (rec) {
        const at = records.get(rec[1]);
        if (at === undefined) problems.push(`${where}: {${name}} names record '${rec[1]}', which is not declared`);
        else if (recordIndex !== undefined && at >= recordIndex)
          problems.push(`${where}: {${name}} names record '${rec[1]}', which is ensured after this one`);
        continue;
      }
      problems.push(`${where}: unknown placeholder {${name}}`);
    }
  };
  for (const a of p.apps) {
    checkTemplate(`app ${a.role} displayName`, a.displayName);
    a.redirectUris.forEach((u) => checkTemplate(`app ${a.role} redirect URI`, u));
    for (const c of a.secretConsumers) {
      if (c.kind !== 'servicenow') continue;
      const i = records.get(c.record);
      const rec = i === undefined ? undefined : p.serviceNow.records[i];
      if (!rec) problems.push(`app ${a.role}: secret consumer record '${c.record}' is not declared`);
      else if (rec.secret?.field !== c.field || rec.secret.fromApp !== a.role)
        problems.push(`app ${a.role}: record ${c.record} does not take ${c.field} from this app's secret`);
    }
  }
  p.serviceNow.records.forEach((r, i) => {
    for (const [k, v] of Object.entries({ ...r.naturalKey, ...r.fields, ...(r.activate ?? {}) }))
      checkTemplate(`record ${r.key} ${k}`, v, i);
  });
  for (const g of p.serviceNow.roleGrants) checkTemplate('role grant userName', g.userName);
  for (const t of p.serviceNow.trust) {
    for (const app of [t.tokenApp, t.audienceApp])
      if (!roles.has(app)) problems.push(`trust names app '${app}', which is not declared`);
    checkTemplate('trust user', t.user);
  }
  for (const h of p.handOffs) for (const s of h.steps) if (s.value) checkTemplate(`hand-off "${h.title}"`, s.value);
  for (const c of p.checks) {
    const apps =
      c.kind === 'outboundToken' || c.kind === 'graphToken'
        ? [c.app]
        : c.kind === 'inboundTableRead'
          ? [c.clientApp, c.resourceApp]
          : [];
    if (c.kind === 'graphToken' && !p.apps.find((a) => a.role === c.app)?.applicationPermissions)
      problems.push(`check graphToken names app '${c.app}', which declares no application permissions`);
    for (const app of apps)
      if (!roles.has(app)) problems.push(`check ${c.kind} names app '${app}', which is not declared`);
      else if (c.kind !== 'inboundTableRead' || app === c.clientApp)
        if (!withSecret.has(app))
          problems.push(`check ${c.kind} needs the client secret of app '${app}', which has none`);
    if (c.kind === 'servicePrincipalUser') {
      if (!roles.has(c.app)) problems.push(`check servicePrincipalUser names app '${c.app}', which is not declared`);
      const user = p.serviceNow.records.find((r) => r.key === c.user);
      if (!user) problems.push(`check servicePrincipalUser names record '${c.user}', which is not declared`);
      else if (user.table !== 'sys_user')
        problems.push(`check servicePrincipalUser: record ${c.user} is not a sys_user`);
    }
    if ((c.kind === 'certificateToken' || c.kind === 'federatedCredential') && !roles.has(c.app))
      problems.push(`check ${c.kind} names app '${c.app}', which is not declared`);
    if (c.kind === 'oidcMetadata' && !records.has(c.record))
      problems.push(`check oidcMetadata names record '${c.record}', which is not declared`);
  }
  return problems;
}
