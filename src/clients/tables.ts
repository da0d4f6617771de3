import type { TokenCredential } from '@azure/identity';
import { TableClient } from '@azure/data-tables';

export interface TableClientOptions {
  table: string;
  /** Table service URL (https://{account}.table.core.windows.net) used with the managed identity in Azure. */
  url?: string;
  credential?: TokenCredential;
  /** A connection string (Azurite in the sandbox and tests). */
  connectionString?: string;
}

/** Azure Table Storage client: identity-based in Azure, connection string against Azurite locally. */
export function createTableClient(opts: TableClientOptions): TableClient {
  if (opts.connectionString) {
    const insecure = /TableEndpoint=http:\/\//i.test(opts.connectionString);
    return TableClient.fromConnectionString(opts.connectionString, opts.table, { allowInsecureConnection: insecure });
  }
  if (!opts.url || !opts.credential)
    throw new Error('a table service URL and a credential, or a connection string, are required');
  return new TableClient(opts.url, opts.table, opts.credential);
}
