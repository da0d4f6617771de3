// STUB: replaced by the Entra/Graph stand-in work. Shared directory state (tenant, applications, service principals,
// password credentials, users) that both the Entra token endpoints and the Graph stand-in read and write.
import type { SandboxClock } from '../core/clock';
import { SigningKey } from '../core/jwt';

export interface DirectoryOptions {
  tenantId?: string;
  tenantDomain?: string;
}

export class Directory {
  readonly tenantId: string;
  readonly tenantDomain: string;
  readonly signingKey = new SigningKey();
  /** The Function App's own identity (client credentials), holding Application.ReadWrite.OwnedBy and Mail.Send. */
  functionIdentity = { clientId: '', clientSecret: '' };
  /** The mailbox the product sends from. */
  mailSender = '';

  constructor(
    readonly clock: SandboxClock,
    opts: DirectoryOptions = {},
  ) {
    this.tenantId = opts.tenantId ?? '72f988bf-86f1-41af-91ab-2d7cd011db47';
    this.tenantDomain = opts.tenantDomain ?? 'contoso.onmicrosoft.com';
  }

  reset(): void {}
}
