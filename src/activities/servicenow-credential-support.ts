/**
 * Activity `serviceNowCredentialSupport` (read-only): which credential kinds the instance can use for an outbound
 * oauth_entity, decided from its schema, never from a hard-coded release guess.
 *
 * - certificate (private_key_jwt, Washington DC on: "Support OAuth 2.0 client authentication with private key JWT …
 *   OAuth based Outbound Integrations", ServiceNow release notes; setup in
 *   https://www.servicenow.com/docs/r/platform-security/authentication/config-private-key-jwt-outbound-oauth.html):
 *   the `send_client_credentials_as` sys_choice labelled "As Private Key JWT" (its stored value is not documented, so
 *   it is read), the oauth_entity column referencing `jwt_provider` (sys_dictionary `reference`), the tables of the
 *   chain (sys_certificate, jwt_keystore_aliases, jwt_provider, jwt_claim_validation) and the JWT key's x5t column
 *   (label "X.509 Certificate SHA-1 Thumbprint … (x5t)", `JWT-Bearer-token-support`).
 * - federated (Workload Identity Federation, Brazil on: `configure-wif-azure`, `workload-identity-federation`): the
 *   table labelled "Workload Identity Connection" in sys_db_object and the columns of its form labels.
 * - release: `glide.buildname` (messages only).
 */
import { encodedQuery, type ServiceNowClient, type SnRecord } from '../clients/servicenow';
import type {
  ServiceNowCredentialSupport,
  ServiceNowCredentialSupportInput,
  WifColumns,
} from '../contracts/credentials';
import type { Outcome } from '../contracts/provision';
import type { Deps } from '../app/deps';
import { failureOrThrow, inputFailure } from './failures';
import { type ActivityLog, logLine } from './log';
import { text } from './servicenow-common';

export const PRIVATE_KEY_JWT_LABEL = 'As Private Key JWT';
export const WIF_TABLE_LABEL = 'Workload Identity Connection';
const CHAIN_TABLES = ['sys_certificate', 'jwt_keystore_aliases', 'jwt_provider', 'jwt_claim_validation'];
/** Form labels of the Azure Workload Identity Connection (`configure-wif-azure`). */
const WIF_LABELS: Record<keyof Omit<WifColumns, 'oauthEntity'>, string> = {
  name: 'Connection Name',
  clientId: 'Application (Client) ID',
  tenantId: 'Directory (Tenant) ID',
  subject: 'Subject to send in the token',
};

const norm = (v: unknown) => (text(v) ?? '').trim().toLowerCase();

async function dictionary(client: ServiceNowClient, table: string): Promise<SnRecord[]> {
  return client.list('sys_dictionary', {
    query: encodedQuery().eq('name', table),
    fields: ['name', 'element', 'column_label', 'reference', 'active'],
    maxRecords: 2000,
    pageSize: 500,
  });
}

export async function readCredentialSupport(
  client: ServiceNowClient,
  table: string,
): Promise<ServiceNowCredentialSupport> {
  const [choices, columns, chain, wifTables, build] = await Promise.all([
    client.list('sys_choice', {
      query: encodedQuery().eq('name', table).eq('element', 'send_client_credentials_as'),
      fields: ['value', 'label', 'inactive'],
    }),
    dictionary(client, table),
    client.list('sys_db_object', { query: encodedQuery().in('name', CHAIN_TABLES), fields: ['name', 'label'] }),
    client.list('sys_db_object', { query: encodedQuery().eq('label', WIF_TABLE_LABEL), fields: ['name', 'label'] }),
    client.list('sys_properties', { query: encodedQuery().eq('name', 'glide.buildname'), fields: ['name', 'value'] }),
  ]);
  const release = text(build.find((p) => text(p.name) === 'glide.buildname')?.value) || undefined;

  const certReasons: string[] = [];
  const jwtChoice = choices.find(
    (c) => norm(c.label) === PRIVATE_KEY_JWT_LABEL.toLowerCase() && norm(c.inactive) !== 'true',
  );
  const sendAsValue = text(jwtChoice?.value) || undefined;
  if (!sendAsValue)
    certReasons.push(
      `${table}.send_client_credentials_as has no "${PRIVATE_KEY_JWT_LABEL}" choice (private-key JWT for outbound OAuth came with the Washington DC release)`,
    );
  const providerColumn =
    text(columns.find((c) => text(c.reference) === 'jwt_provider' && norm(c.active) !== 'false')?.element) || undefined;
  if (!providerColumn) certReasons.push(`${table} has no column referencing jwt_provider (the JWT Provider field)`);
  const present = new Set(chain.map((o) => text(o.name)));
  for (const t of CHAIN_TABLES) if (!present.has(t)) certReasons.push(`the instance has no ${t} table`);
  let thumbprintColumn: string | undefined;
  if (present.has('jwt_keystore_aliases')) {
    const keyColumns = await dictionary(client, 'jwt_keystore_aliases');
    thumbprintColumn = text(keyColumns.find((c) => /\(x5t\)/i.test(text(c.column_label) ?? ''))?.element) || undefined;
    if (!thumbprintColumn)
      certReasons.push(
        'jwt_keystore_aliases has no "X.509 Certificate SHA-1 Thumbprint (x5t)" column: Entra needs x5t',
      );
  }

  const fedReasons: string[] = [];
  const wif = wifTables.find((o) => norm(o.label) === WIF_TABLE_LABEL.toLowerCase());
  const connectionTable = text(wif?.name) || undefined;
  let wifColumns: WifColumns | undefined;
  if (!connectionTable)
    fedReasons.push(
      `the instance has no "${WIF_TABLE_LABEL}" table (Workload Identity Federation came with the Brazil release)`,
    );
  else {
    const cols = await dictionary(client, connectionTable);
    const byLabel = (label: string) =>
      text(cols.find((c) => norm(c.column_label) === label.toLowerCase())?.element) || undefined;
    const found: Partial<WifColumns> = {};
    for (const [k, label] of Object.entries(WIF_LABELS) as [keyof typeof WIF_LABELS, string][]) {
      const col = byLabel(label);
      if (col) found[k] = col;
      else fedReasons.push(`${connectionTable} has no "${label}" column`);
    }
    const entityCol = text(cols.find((c) => text(c.reference) === 'oauth_entity')?.element);
    if (!fedReasons.length) wifColumns = { ...(found as WifColumns), ...(entityCol ? { oauthEntity: entityCol } : {}) };
  }
  return {
    ...(release ? { release } : {}),
    certificate: {
      supported: certReasons.length === 0,
      reasons: certReasons,
      ...(sendAsValue ? { sendAsValue } : {}),
      ...(providerColumn ? { providerColumn } : {}),
      ...(thumbprintColumn ? { thumbprintColumn } : {}),
    },
    federated: {
      supported: fedReasons.length === 0,
      reasons: fedReasons,
      ...(connectionTable ? { connectionTable } : {}),
      ...(wifColumns ? { columns: wifColumns } : {}),
    },
  };
}

export async function serviceNowCredentialSupport(
  input: ServiceNowCredentialSupportInput,
  deps: Deps,
  log?: ActivityLog,
): Promise<Outcome<ServiceNowCredentialSupport>> {
  if (input.table !== 'oauth_entity')
    return inputFailure('InvalidTable', `table must be oauth_entity, not ${String(input.table)}`);
  try {
    const support = await readCredentialSupport(deps.serviceNow(input.serviceNowInstance), input.table);
    logLine(
      log,
      'info',
      `${input.serviceNowInstance}${support.release ? ` (${support.release})` : ''}: certificate ${
        support.certificate.supported ? 'supported' : 'unsupported'
      }, federated ${support.federated.supported ? 'supported' : 'unsupported'}`,
    );
    return { ok: true, ...support };
  } catch (err) {
    return { ok: false, failure: failureOrThrow(err) };
  }
}
