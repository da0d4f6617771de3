/**
 * Activity `ensureServiceNowFederation`: the instance's Azure Workload Identity Connection for an app (Brazil on;
 * https://www.servicenow.com/docs/r/platform-security/authentication/configure-wif-azure.html and
 * `workload-identity-federation`). The docs describe the form (Connection Name, Application (Client) ID, Directory
 * (Tenant) ID, Subject to send in the token, Azure URL Override) and say business rules create the OAuth entity and
 * profile on submit; they name neither the table nor its columns. So the table is the one `serviceNowCredentialSupport`
 * found by its label, its columns found by their labels, and the record is ensured through the Table API like any
 * other (`ensureServiceNowRecord`: natural key = the connection name, ownership in the ledger). When the instance has
 * no such table, or refuses the write (403), the result is a hand-off with the exact values instead.
 *
 * The values the app's federated identity credential must hold are returned with it: issuer = the instance URL
 * (`https://<instance>.service-now.com`, which serves `/.well-known/openid-configuration`), subject = the one sent in
 * the token, audience `api://AzureADTokenExchange`. Nothing secret exists on either side.
 */
import {
  FEDERATION_AUDIENCE,
  federationSubject,
  serviceNowProviderName,
  type EnsureServiceNowFederationInput,
  type EnsureServiceNowFederationResult,
} from '../contracts/credentials';
import type { ManualAction, Outcome, RecordResult } from '../contracts/provision';
import type { Deps } from '../app/deps';
import { failureOrThrow, inputFailure } from './failures';
import { type ActivityLog, logLine } from './log';
import { lookup, settleUnshared, text } from './servicenow-common';
import { ensureServiceNowRecord } from './servicenow-record';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const WHERE =
  'All > System OAuth > Workload Identity Connections > New > Microsoft Azure > Connect to Azure using Workload Identity Federation';

export async function ensureServiceNowFederation(
  input: EnsureServiceNowFederationInput,
  deps: Deps,
  log?: ActivityLog,
): Promise<Outcome<EnsureServiceNowFederationResult>> {
  if (!GUID.test(input.clientId ?? '')) return inputFailure('InvalidInput', 'clientId must be a GUID');
  if (!GUID.test(input.tenantId ?? ''))
    return inputFailure('InvalidInput', 'tenantId must be a GUID (the directory id)');
  const name = serviceNowProviderName(input.integrationId, input.role);
  const subject = federationSubject(input.integrationId, input.role);
  try {
    const client = deps.serviceNow(input.serviceNowInstance);
    const issuer = client.instanceUrl;
    const base = { issuer, subject, audience: FEDERATION_AUDIENCE };
    const handOff = (why: string): ManualAction => ({
      title: `ServiceNow: create the Workload Identity Connection '${name}' (${why})`,
      actor: 'ServiceNow administrator',
      steps: [
        { label: 'Where', value: WHERE },
        { label: 'Connection Name', value: name },
        { label: 'Application (Client) ID', value: input.clientId },
        { label: 'Directory (Tenant) ID', value: input.tenantId },
        { label: 'Subject to send in the token', value: subject },
        { label: 'Azure URL Override', value: '(leave empty)' },
      ],
    });
    if (!input.connectionTable || !input.columns) {
      logLine(log, 'warn', `${input.serviceNowInstance}: no Workload Identity Connection table known; handing off`);
      return {
        ok: true,
        ...base,
        created: false,
        records: [],
        manualAction: handOff('no API for it on this instance'),
      };
    }
    const c = input.columns;
    const r = await ensureServiceNowRecord(
      {
        integrationId: input.integrationId,
        instanceId: input.instanceId,
        profileId: input.profileId,
        tenant: input.tenant,
        tenantName: input.tenantName,
        serviceNowInstance: input.serviceNowInstance,
        key: `wifConnection:${input.role}`,
        table: input.connectionTable,
        naturalKey: { [c.name]: name },
        fields: { [c.clientId]: input.clientId, [c.tenantId]: input.tenantId, [c.subject]: subject },
        manualFallback: WHERE,
      },
      deps,
      log,
    );
    if (!r.ok) return r;
    const { ok: _ok, ...record } = r;
    if (record.manualAction || !record.sysId)
      return {
        ok: true,
        ...base,
        created: record.created,
        records: [record],
        manualAction: handOff('ServiceNow refused the write'),
      };
    let oauthEntitySysId: string | undefined;
    if (c.oauthEntity) {
      const row = await client.get(input.connectionTable, record.sysId, { fields: [c.oauthEntity] });
      oauthEntitySysId = text(row?.[c.oauthEntity]) || undefined;
    }
    // The connection's business rules created its OAuth entity and profile: when this run created the connection,
    // they are this run's too (recorded in the ledger, so compensation and decommissioning remove them with it).
    const made: RecordResult[] = [];
    if (record.created && oauthEntitySysId) {
      const profiles = await lookup(client, 'oauth_entity_profile', { oauth_entity: oauthEntitySysId }, []);
      const profileSysId = profiles.matched.length === 1 ? text(profiles.matched[0].sys_id) : undefined;
      for (const [key, table, sysId] of [
        [`wifEntity:${input.role}`, 'oauth_entity', oauthEntitySysId],
        [`wifProfile:${input.role}`, 'oauth_entity_profile', profileSysId],
      ] as const) {
        if (!sysId) continue;
        if (await settleUnshared(deps.ownership, input, key, table, sysId, true))
          made.push({ key, table, sysId, created: true, mismatches: [] });
      }
    }
    return {
      ok: true,
      ...base,
      connectionSysId: record.sysId,
      ...(oauthEntitySysId ? { oauthEntitySysId } : {}),
      created: record.created,
      records: [record, ...made],
    };
  } catch (err) {
    return { ok: false, failure: failureOrThrow(err) };
  }
}
