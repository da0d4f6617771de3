import type { IncomingHttpHeaders } from 'node:http';

import type { SandboxClock } from './clock';

export type ServiceName = 'entra' | 'graph' | 'keyvault' | 'servicenow' | 'control' | 'webhook';

export interface SandboxRequest {
  /** Upper-case HTTP method. */
  method: string;
  /** Full request URL (https://127.0.0.1:port/path?query). */
  url: URL;
  /** Decoded path. */
  path: string;
  /** Query parameters; names are decoded (the Key Vault SDK sends `api%2Dversion`). */
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: Buffer;
  remoteAddress: string;
}

export interface SandboxResponse {
  status: number;
  headers?: Record<string, string | string[]>;
  /** Objects are sent as JSON; strings and Buffers as they are. */
  body?: unknown;
}

export interface HandlerContext {
  clock: SandboxClock;
  /** Records who the call was authenticated as, for the journal. */
  setAuthSubject(subject: string): void;
}

/** One simulated service. Handlers never throw for bad input: they answer with the real service's error. */
export interface StandIn {
  readonly service: ServiceName;
  handle(req: SandboxRequest, ctx: HandlerContext): Promise<SandboxResponse>;
  /** The request body as the journal keeps it, secrets replaced by `[redacted]`. */
  redactRequestBody?(req: SandboxRequest): unknown;
  /** The service's own error response for an injected status (e.g. ServiceNow's 429 envelope and headers). */
  faultResponse?(status: number, headers: Record<string, string>): SandboxResponse;
  /** Back to the freshly seeded state. */
  reset(): void;
}
