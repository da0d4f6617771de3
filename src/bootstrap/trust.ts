/**
 * The control plane's trust on a ServiceNow instance: the plan for this deployment (from the settings and the
 * registered profiles), and the check behind GET /api/servicenow/instances/{name}/trust: one token-authenticated read
 * of the machine user and its roles, with what is wrong in words. Read-only.
 */
import type { TokenCredential } from '@azure/identity';

import { decodeJwtPayload } from '../clients/entra';
import { encodedQuery, ServiceNowClient, ServiceNowError } from '../clients/servicenow';
import { EntraTokenAuthProvider } from '../clients/servicenow-auth';
import { type AppConfig, serviceNowInstanceUrl } from '../config';
import { ExternalServiceError } from '../lib/errors';
import { redactText } from '../lib/redact';
import { allProfiles } from '../profiles';
import { bootstrapPlan, type BootstrapPlan } from './plan';
import { controlPlaneRoles } from './roles';

/** The plan for this deployment, or the settings it lacks (each with why). */
export function deploymentPlan(
  config: AppConfig,
): { ok: true; plan: BootstrapPlan } | { ok: false; missing: Array<{ field: string; message: string }> } {
  const missing: Array<{ field: string; message: string }> = [];
  if (!config.serviceNow.token)
    missing.push({
      field: 'SERVICENOW_TOKEN_AUDIENCE',
      message: 'is not set: the application ID URI api://<client id> the instance is to trust',
    });
  if (!config.serviceNow.identityObjectId)
    missing.push({
      field: 'SERVICENOW_IDENTITY_OBJECT_ID',
      message: "is not set: the object id of the app's managed identity (the machine user's user_name)",
    });
  if (missing.length || !config.serviceNow.token || !config.serviceNow.identityObjectId) return { ok: false, missing };
  return {
    ok: true,
    plan: bootstrapPlan({
      tenantId: config.tenantId,
      authorityHost: config.entra.authorityHost,
      clientId: config.serviceNow.token.clientId,
      objectId: config.serviceNow.identityObjectId,
      roles: controlPlaneRoles(allProfiles()),
    }),
  };
}

export interface TrustReport {
  instance: string;
  ok: boolean;
  authMode: AppConfig['serviceNow']['authMode'];
  expected: { metadataUrl: string; clientId: string; userName: string; roles: string[] };
  /** What our token says (claims only, never the token). */
  token?: { aud: string; iss: string; oid: string };
  user?: { sysId: string; active: boolean; lockedOut: boolean; webServiceAccessOnly: boolean };
  roles?: { granted: string[]; missing: string[]; extra: string[] };
  problems: string[];
}

const str = (v: unknown): string =>
  typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : '';

export async function checkTrust(
  config: AppConfig,
  credential: TokenCredential,
  plan: BootstrapPlan,
  instance: string,
): Promise<TrustReport> {
  const token = config.serviceNow.token!;
  const expected = {
    metadataUrl: plan.facts.metadataUrl,
    clientId: plan.facts.clientId,
    userName: plan.facts.userName,
    roles: plan.roles.map((r) => r.role),
  };
  const report: TrustReport = {
    instance,
    ok: false,
    authMode: config.serviceNow.authMode,
    expected,
    problems: [],
  };
  const script = `run the script from GET /api/servicenow/bootstrap?instance=${instance} as an instance administrator`;
  // 1. Our token: Entra must issue it for the audience, with the claims the instance maps.
  const auth = new EntraTokenAuthProvider({ credential, scope: token.scope });
  let header: string;
  try {
    header = await auth.authorization();
  } catch (err) {
    report.problems.push(
      `${redactText((err as Error).message)}. The audience app (${token.audience}) must exist in tenant ` +
        `${config.tenantId} with a service principal (docs/deploy.md, "Connect an instance").`,
    );
    return report;
  }
  const claims = decodeJwtPayload(header.slice('Bearer '.length)) ?? {};
  report.token = { aud: str(claims.aud), iss: str(claims.iss), oid: str(claims.oid) };
  if (report.token.aud !== expected.clientId)
    report.problems.push(
      `Entra issued a token with aud '${report.token.aud}', not the client id ${expected.clientId}: the audience app ` +
        `must request v2 tokens (api.requestedAccessTokenVersion = 2), whose aud is its client id.`,
    );
  if (report.token.oid !== expected.userName)
    report.problems.push(
      `The token's oid is '${report.token.oid}', not SERVICENOW_IDENTITY_OBJECT_ID (${expected.userName}): set the ` +
        `setting to the managed identity's object id and connect the instance again.`,
    );
  // 2. One read as the machine user: the instance accepts the token, and says who we are there.
  const client = new ServiceNowClient({
    instanceUrl: serviceNowInstanceUrl(config, instance),
    auth,
    timeoutMs: config.serviceNow.timeoutMs,
    retry: { maxAttempts: 2 },
  });
  try {
    const uq = encodedQuery().eq('user_name', expected.userName);
    const users = (
      await client.list('sys_user', {
        query: uq,
        fields: ['sys_id', 'user_name', 'active', 'locked_out', 'web_service_access_only'],
      })
    ).filter((u) => uq.matches(u));
    const user = users[0];
    if (!user) {
      report.problems.push(`The instance accepted the token but shows no sys_user ${expected.userName}.`);
      return report;
    }
    report.user = {
      sysId: str(user.sys_id),
      active: str(user.active) === 'true',
      lockedOut: str(user.locked_out) === 'true',
      webServiceAccessOnly: str(user.web_service_access_only) === 'true',
    };
    if (!report.user.webServiceAccessOnly)
      report.problems.push('The machine user is not "Web service access only": it could sign in interactively.');
    const rq = encodedQuery().eq('user', report.user.sysId);
    const grants = (await client.list('sys_user_has_role', { query: rq, fields: ['role', 'state', 'user'] })).filter(
      (g) => rq.matches(g) && (!g.state || str(g.state) === 'active'),
    );
    const roleIds = [...new Set(grants.map((g) => str(g.role)))].filter((id) => /^[0-9a-f]{32}$/.test(id));
    const nq = encodedQuery().in('sys_id', roleIds.length ? roleIds : ['0'.repeat(32)]);
    const granted = roleIds.length
      ? (await client.list('sys_user_role', { query: nq, fields: ['sys_id', 'name'] }))
          .filter((r) => nq.matches(r))
          .map((r) => str(r.name))
          .sort()
      : [];
    report.roles = {
      granted,
      missing: expected.roles.filter((r) => !granted.includes(r)),
      extra: granted.filter((r) => !expected.roles.includes(r)),
    };
    if (report.roles.missing.length)
      report.problems.push(
        `The machine user lacks the role(s) ${report.roles.missing.join(', ')}: ${script} (it adds missing grants).`,
      );
    if (report.roles.extra.length)
      report.problems.push(
        `The machine user holds role(s) the product does not need: ${report.roles.extra.join(', ')}; remove them (least privilege).`,
      );
  } catch (err) {
    const status = err instanceof ExternalServiceError ? err.status : undefined;
    const detail = redactText(err instanceof Error ? err.message : String(err));
    if (status === 401)
      report.problems.push(
        `The instance rejected the token (401): no active OIDC entity with client id ${expected.clientId}, a provider ` +
          `configuration whose metadata URL is not ${expected.metadataUrl} or whose user claim is not oid, or the ` +
          `machine user ${expected.userName} is missing, inactive or locked out. Connect it: ${script}.`,
      );
    else if (status === 404 && err instanceof ServiceNowError && !err.serviceMessage)
      report.problems.push(
        `No ServiceNow instance '${instance}' answers at ${serviceNowInstanceUrl(config, instance)}.`,
      );
    else report.problems.push(`The token-authenticated read failed: ${detail}`);
    return report;
  }
  report.ok = report.problems.length === 0;
  return report;
}
