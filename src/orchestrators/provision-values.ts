/**
 * The template values and expected ServiceNow state of a provisioning input, shared by the provisioning orchestrator
 * (what it writes and checks) and the health check (what it compares the live state with), so both render the same
 * approved values. Pure and replay-safe.
 */
import type { ExpectedRecord } from '../contracts/provision';
import { renderRecord, renderTemplate, type TemplateValues } from '../profiles/template';
import type { IntegrationProfile, ServiceNowRecordSpec } from '../profiles/types';
import type { ProvisionInput } from './provision-types';

export const secretNameFor = (integrationId: string, role: string): string => `${integrationId}-${role}`.toLowerCase();

/** The values every profile template may use, before the apps exist (app ids of earlier runs when known). */
export function provisionValues(
  profile: IntegrationProfile,
  input: ProvisionInput,
  preflight: { tenantId?: string; scopeSysId?: string },
): TemplateValues {
  const { ref } = input;
  const values: TemplateValues = {
    tenant: ref.tenant,
    tenantId: preflight.tenantId,
    tenantDomain: input.tenantDomain ?? ref.tenant,
    tenantName: ref.tenantName,
    instance: ref.serviceNowInstance,
    instanceUrl: input.endpoints.instanceUrl,
    authorityHost: input.endpoints.authorityHost,
    integrationId: ref.integrationId,
    redirectUri: input.options.redirectUri ?? `${input.endpoints.instanceUrl}/auth_redirect.do`,
    scopeSysId: preflight.scopeSysId,
    testEnvironment: input.options.testEnvironment ? 'Yes' : 'No',
    graphUrl: input.endpoints.graphUrl,
  };
  for (const app of profile.apps) {
    // Apps without a client secret (an existing service principal, no consumers) have no Key Vault secret name.
    if (!app.existing && app.secretConsumers.length)
      values[`apps.${app.role}.secretName`] = secretNameFor(ref.integrationId, app.role);
    const prior = app.existing?.appId ?? input.priorApps?.[app.role];
    if (prior) values[`apps.${app.role}.appId`] = prior;
  }
  return values;
}

/** The profile's records this input provisions (IP allow rules only when asked for), in profile order. */
export const recordsOf = (profile: IntegrationProfile, input: ProvisionInput): ServiceNowRecordSpec[] =>
  profile.serviceNow.records.filter((r) => r.when !== 'ipAllowlist' || input.options.ipAllowlist);

/** What the approved records hold once activated (the non-secret fields), as the `recordsConsistent` check reads them. */
export function expectedRecordsOf(records: ServiceNowRecordSpec[], values: TemplateValues): ExpectedRecord[] {
  return records
    .filter((r) => !r.lookup)
    .map((spec) => ({
      key: spec.key,
      table: spec.table,
      fields: renderRecord({ ...spec.fields, ...(spec.activate ?? {}) }, values),
    }));
}

/** The role grants of the plan: the profile's own (to the integration's users) and the request's (shared). */
export function grantsOf(
  profile: IntegrationProfile,
  input: ProvisionInput,
  values: TemplateValues,
): { userName: string; role: string; shared?: boolean }[] {
  return [
    ...profile.serviceNow.roleGrants.map((g) => ({ userName: renderTemplate(g.userName, values), role: g.role })),
    ...input.options.grantUsers.map((g) => ({ ...g, shared: true })),
  ];
}
