import type { TokenCredential } from '@azure/identity';
import type * as DataTables from '@azure/data-tables';
import type { TableClient } from '@azure/data-tables';

import { deadlinePolicy } from './deadline';

export interface TableClientOptions {
  table: string;
  /** Table service URL (https://{account}.table.core.windows.net) used with the managed identity in Azure. */
  url?: string;
  credential?: TokenCredential;
  /** A connection string (Azurite in the sandbox and tests). */
  connectionString?: string;
  /** Deadline of one request attempt; default 30 s. */
  timeoutMs?: number;
}

const DEFAULT_TABLES_TIMEOUT_MS = 30_000;

/** Azure Table Storage client: identity-based in Azure, connection string against Azurite locally. */
export function createTableClient(opts: TableClientOptions): TableClient {
  // Loaded when the first client is built, not when the app's entry module loads (src/app/deps.ts).
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use, see above
  const { TableClient } = require('@azure/data-tables') as typeof DataTables;
  // Every attempt has a deadline, as on every other client: a storage endpoint that never answers fails the call
  // (retried by the SDK, then by the caller) instead of holding an activity or trigger until the host's timeout.
  const additionalPolicies = [
    { policy: deadlinePolicy(opts.timeoutMs ?? DEFAULT_TABLES_TIMEOUT_MS), position: 'perRetry' as const },
  ];
  if (opts.connectionString) {
    const insecure = /TableEndpoint=http:\/\//i.test(opts.connectionString);
    return TableClient.fromConnectionString(opts.connectionString, opts.table, {
      allowInsecureConnection: insecure,
      additionalPolicies,
    });
  }
  if (!opts.url || !opts.credential)
    throw new Error('a table service URL and a credential, or a connection string, are required');
  return new TableClient(opts.url, opts.table, opts.credential, { additionalPolicies });
}
