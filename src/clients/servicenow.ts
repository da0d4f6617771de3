/**
 * ServiceNow Table API client (axios, one instance per ServiceNow instance URL). Transport only, no business logic.
 *
 * Wire rules (docs/reference/servicenow.md): the v2 path `/api/now/v2/table/{table}` (an empty list is 200
 * `{"result":[]}`, not v1's 404), `Accept: application/json` always, `Content-Type: application/json` on writes,
 * `sysparm_exclude_reference_link=true` by default, list paging by `Link: rel="next"` (else offset), errors from the
 * envelope `{"error":{"message","detail"},"status":"failure"}`. Retries (servicenow.md#rate-limiting-and-retries): 429
 * (honouring `Retry-After`, seconds or HTTP date), 502/503/504 and network errors, with jittered capped backoff and a
 * bounded number of attempts; never 400/401/403/404. A POST is retried here after a network error only if the
 * connection was never made, since the insert may otherwise have happened; the error is still retriable for the
 * activity, which looks the record up by its natural key before inserting again. Every attempt has a deadline
 * (SERVICENOW_TIMEOUT_SECONDS: axios `timeout` for the socket plus an AbortSignal for the whole exchange,
 * https://axios-http.com/docs/req_config); a hang is a retriable `Timeout` error. A 401 drops the cached credentials
 * (Basic from Key Vault, or the OAuth token) and sends once more with fresh ones: a rotated password or an expired
 * token, never a loop.
 */
import axios, { type AxiosInstance, type AxiosResponse, type Method } from 'axios';

import { type BackoffPolicy, backoffDelay, parseRetryAfter, type Random, realSleep, type Sleep } from '../lib/backoff';
import { AppError, classify, ExternalServiceError, TIMEOUT_CODE, ValidationError } from '../lib/errors';
import { createLogger, type Logger } from '../lib/logger';
import { registerSecret } from '../lib/redact';
import type { ServiceNowAuthProvider } from './servicenow-auth';
import type { EncodedQuery } from './servicenow-query';

export { encodedQuery, EncodedQuery } from './servicenow-query';
export type { ServiceNowAuthProvider } from './servicenow-auth';

/** A ServiceNow answer that was not a success, typed with the status and the envelope's `error.message`/`detail`. */
export class ServiceNowError extends ExternalServiceError {
  /** ServiceNow's `error.message`, e.g. "User Not Authenticated". */
  readonly serviceMessage: string | undefined;
  /** ServiceNow's `error.detail` (may be null in the envelope). */
  readonly detail: string | undefined;

  constructor(init: {
    status?: number;
    code?: string;
    what: string;
    serviceMessage?: string;
    detail?: string;
    retriable: boolean;
    retryAfterMs?: number;
  }) {
    super({
      service: 'servicenow',
      status: init.status,
      code: init.code,
      message:
        `ServiceNow ${init.what} failed` +
        (init.status !== undefined ? ` (${init.status})` : '') +
        (init.serviceMessage ? `: ${init.serviceMessage}` : '') +
        (init.detail ? ` (${init.detail})` : ''),
      retriable: init.retriable,
      ...(init.retryAfterMs !== undefined ? { retryAfterMs: init.retryAfterMs } : {}),
    });
    this.serviceMessage = init.serviceMessage;
    this.detail = init.detail;
  }
}

export interface RetryOptions {
  /** Total attempts including the first. Default 4. */
  maxAttempts?: number;
  /** Default base 500 ms, cap 8 s. */
  backoff?: BackoffPolicy;
  /** A Retry-After longer than this is not waited for: the call fails (retriable) and the caller schedules a retry. */
  maxRetryAfterMs?: number;
}

export interface ServiceNowClientOptions {
  /** `https://{instance}.service-now.com` (or the sandbox form); no trailing slash needed. */
  instanceUrl: string;
  auth: ServiceNowAuthProvider;
  retry?: RetryOptions;
  /** Deadline of one attempt (SERVICENOW_TIMEOUT_SECONDS); default 60 s. */
  timeoutMs?: number;
  sleep?: Sleep;
  random?: Random;
  logger?: Logger;
}

export type SnRecord = Record<string, unknown>;

export interface ReadOptions {
  fields?: readonly string[];
  /** `sysparm_display_value`: false (default), true or all. */
  displayValue?: boolean | 'all';
  /** Default true: references as plain sys_id strings. */
  excludeReferenceLink?: boolean;
}

export interface ListOptions extends ReadOptions {
  query?: EncodedQuery | string;
  /** Records per page (`sysparm_limit`). Default 100. */
  pageSize?: number;
  /** Refuse to read more than this many records. Default 10,000. */
  maxRecords?: number;
  /** `sysparm_suppress_pagination_header=true`: no Link header; pages are then read by offset. */
  suppressPaginationHeader?: boolean;
}

export interface WriteOptions {
  fields?: readonly string[];
  /** `sysparm_input_display_value=true`: take display values (and required for encrypted fields). */
  inputDisplayValue?: boolean;
  excludeReferenceLink?: boolean;
}

interface Reply {
  status: number;
  headers: Record<string, string>;
  data: unknown;
}

const TABLE = /^[a-z0-9_]+$/;
const SYS_ID = /^[0-9a-f]{32}$/;
const FIELD = /^[a-z0-9_.]+$/;
/** Connection never established: even a POST cannot have reached ServiceNow. */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH']);
const MAX_PAGES = 1000;
export const DEFAULT_SERVICENOW_TIMEOUT_MS = 60_000;

function checkTable(table: string): void {
  if (!TABLE.test(table)) throw new ValidationError(`ServiceNow table name '${table}' must match ^[a-z0-9_]+$`);
}
function checkSysId(sysId: string): void {
  if (!SYS_ID.test(sysId)) throw new ValidationError(`ServiceNow sys_id '${sysId}' must be 32 hex characters`);
}
function checkFields(fields: readonly string[] | undefined): void {
  for (const f of fields ?? [])
    if (!FIELD.test(f)) throw new ValidationError(`ServiceNow field name '${f}' must match ^[a-z0-9_.]+$`);
}

/** The `rel="next"` target of an RFC 8288 Link header. */
export function nextLink(link: string | undefined): string | undefined {
  if (!link) return undefined;
  for (const part of link.split(/,(?=\s*<)/)) {
    const m = /^\s*<([^>]*)>\s*;(.*)$/.exec(part);
    if (m && /(^|;)\s*rel="?([^";]*\s)?next(\s[^";]*)?"?\s*(;|$)/i.test(m[2])) return m[1];
  }
  return undefined;
}

function envelopeError(data: unknown): { message?: string; detail?: string } {
  const err = (data as { error?: { message?: unknown; detail?: unknown } } | undefined)?.error;
  return {
    ...(typeof err?.message === 'string' ? { message: err.message } : {}),
    ...(typeof err?.detail === 'string' ? { detail: err.detail } : {}),
  };
}

export class ServiceNowClient {
  readonly instanceUrl: string;
  private readonly http: AxiosInstance;
  private readonly sleep: Sleep;
  private readonly random: Random;
  private readonly log: Logger;
  private readonly maxAttempts: number;
  private readonly backoff: BackoffPolicy;
  private readonly maxRetryAfterMs: number;
  private readonly timeoutMs: number;

  constructor(private readonly opts: ServiceNowClientOptions) {
    this.instanceUrl = opts.instanceUrl.replace(/\/+$/, '');
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_SERVICENOW_TIMEOUT_MS;
    this.http = axios.create({
      baseURL: `${this.instanceUrl}/`,
      timeout: this.timeoutMs,
      transitional: { clarifyTimeoutError: true },
      validateStatus: () => true,
      maxRedirects: 0,
      responseType: 'json',
    });
    this.sleep = opts.sleep ?? realSleep;
    this.random = opts.random ?? Math.random;
    this.log = opts.logger ?? createLogger('servicenow');
    this.maxAttempts = Math.max(1, opts.retry?.maxAttempts ?? 4);
    this.backoff = opts.retry?.backoff ?? { baseMs: 500, maxMs: 8_000 };
    this.maxRetryAfterMs = opts.retry?.maxRetryAfterMs ?? 60_000;
  }

  /** Drops the cached credentials (and OAuth token): the next call reads them from Key Vault again. */
  forgetCredentials(): void {
    this.opts.auth.invalidate();
  }

  /** One record by sys_id, or undefined when ServiceNow answers 404 (absent, or hidden by ACL). */
  async get<T extends SnRecord = SnRecord>(
    table: string,
    sysId: string,
    opts: ReadOptions = {},
  ): Promise<T | undefined> {
    checkTable(table);
    checkSysId(sysId);
    const reply = await this.request('GET', `api/now/v2/table/${table}/${sysId}`, this.readParams(opts), undefined, {
      allow404: true,
    });
    if (reply.status === 404) return undefined;
    return this.result<T>(reply, `GET ${table}`);
  }

  /** Every record matching the query, following `Link: next` (or offsets when the header is suppressed). */
  async list<T extends SnRecord = SnRecord>(table: string, opts: ListOptions = {}): Promise<T[]> {
    checkTable(table);
    const pageSize = opts.pageSize ?? 100;
    const maxRecords = opts.maxRecords ?? 10_000;
    const params = this.readParams(opts);
    if (opts.query !== undefined) params.set('sysparm_query', opts.query.toString());
    if (opts.suppressPaginationHeader) params.set('sysparm_suppress_pagination_header', 'true');
    params.set('sysparm_limit', String(pageSize));
    params.set('sysparm_offset', '0');
    const out: T[] = [];
    for (let page = 0; page < MAX_PAGES; page++) {
      const reply = await this.request('GET', `api/now/v2/table/${table}`, params);
      const rows = this.result<T[]>(reply, `GET ${table}`);
      if (!Array.isArray(rows))
        throw new ServiceNowError({
          status: reply.status,
          what: `GET ${table}`,
          serviceMessage: 'result is not a list',
          retriable: false,
        });
      out.push(...rows);
      if (out.length > maxRecords)
        throw new AppError(
          `ServiceNow list of ${table} exceeds ${maxRecords} records; narrow the query`,
          'TooManyRecords',
        );
      const link = reply.headers.link;
      const next = nextLink(link);
      if (next !== undefined) {
        // Follow the link's paging on our own instance URL: never send credentials to a host taken from a response.
        let nextParams: URLSearchParams;
        try {
          nextParams = new URL(next, `${this.instanceUrl}/`).searchParams;
        } catch {
          throw new ServiceNowError({
            status: reply.status,
            what: `GET ${table}`,
            serviceMessage: 'invalid Link header',
            retriable: false,
          });
        }
        if (nextParams.get('sysparm_offset') === params.get('sysparm_offset')) break; // no progress: stop, don't loop
        params.forEach((_v, k) => nextParams.has(k) || nextParams.set(k, params.get(k) ?? ''));
        nextParams.forEach((v, k) => params.set(k, v));
        continue;
      }
      if (link !== undefined) break; // paging header present without next: last page
      // Header suppressed (sysparm_suppress_pagination_header): pages can be short after ACL filtering, so continue
      // until an empty page or the total count is reached.
      const total = Number(reply.headers['x-total-count']);
      const offset = Number(params.get('sysparm_offset')) + pageSize;
      if (rows.length === 0 || (Number.isFinite(total) && offset >= total)) break;
      params.set('sysparm_offset', String(offset));
    }
    return out;
  }

  /** Inserts one record (201) and returns it. */
  async insert<T extends SnRecord = SnRecord>(table: string, values: SnRecord, opts: WriteOptions = {}): Promise<T> {
    checkTable(table);
    const reply = await this.request('POST', `api/now/v2/table/${table}`, this.writeParams(opts), values);
    return this.result<T>(reply, `POST ${table}`);
  }

  /** Updates fields of one record and returns it. */
  async patch<T extends SnRecord = SnRecord>(
    table: string,
    sysId: string,
    values: SnRecord,
    opts: WriteOptions = {},
  ): Promise<T> {
    checkTable(table);
    checkSysId(sysId);
    const reply = await this.request('PATCH', `api/now/v2/table/${table}/${sysId}`, this.writeParams(opts), values);
    return this.result<T>(reply, `PATCH ${table}`);
  }

  /** Deletes one record: true when deleted (204), false when it was not there (404). */
  async remove(table: string, sysId: string): Promise<boolean> {
    checkTable(table);
    checkSysId(sysId);
    const reply = await this.request('DELETE', `api/now/v2/table/${table}/${sysId}`, new URLSearchParams(), undefined, {
      allow404: true,
    });
    return reply.status !== 404;
  }

  /**
   * Writes a password2 (two-way encrypted) field in its own PATCH, with `sysparm_input_display_value=true` (without
   * it ServiceNow silently drops the value) and `X-no-response-body: true` so the record is not echoed
   * (docs/reference/servicenow.md#encrypted-and-password2-fields, SN-TABLE, SN-PWD2). The value never appears in logs
   * or errors.
   */
  async setPassword2(table: string, sysId: string, field: string, value: string): Promise<void> {
    checkTable(table);
    checkSysId(sysId);
    checkFields([field]);
    registerSecret(value);
    const params = new URLSearchParams({ sysparm_input_display_value: 'true' });
    await this.request(
      'PATCH',
      `api/now/v2/table/${table}/${sysId}`,
      params,
      { [field]: value },
      {
        headers: { 'X-no-response-body': 'true' },
      },
    );
  }

  /**
   * Attaches a file to a record: `POST /api/now/attachment/file?table_name=&table_sys_id=&file_name=` with the bytes
   * as the body and the file's Content-Type, which the Attachment API requires
   * (https://www.servicenow.com/docs/r/api-reference/rest-apis/c_AttachmentAPI.html). Returns the attachment's
   * metadata (sys_id, file_name, size_bytes, …). Not retried after a network error once connected (an insert).
   */
  async uploadAttachment(
    table: string,
    sysId: string,
    fileName: string,
    contentType: string,
    bytes: Buffer,
  ): Promise<SnRecord> {
    checkTable(table);
    checkSysId(sysId);
    const params = new URLSearchParams({ table_name: table, table_sys_id: sysId, file_name: fileName });
    const reply = await this.request('POST', 'api/now/attachment/file', params, bytes, {
      headers: { 'Content-Type': contentType },
    });
    return this.result<SnRecord>(reply, 'POST attachment');
  }

  /** Attachment metadata of one record (`GET /api/now/attachment?sysparm_query=table_name=…^table_sys_id=…`). */
  async listAttachments(table: string, sysId: string): Promise<SnRecord[]> {
    checkTable(table);
    checkSysId(sysId);
    const params = new URLSearchParams({ sysparm_query: `table_name=${table}^table_sys_id=${sysId}` });
    const reply = await this.request('GET', 'api/now/attachment', params);
    const rows = this.result<SnRecord[]>(reply, 'GET attachment');
    return Array.isArray(rows) ? rows : [];
  }

  /** Deletes an attachment: true when deleted (204), false when it was not there (404). */
  async removeAttachment(attachmentSysId: string): Promise<boolean> {
    checkSysId(attachmentSysId);
    const reply = await this.request(
      'DELETE',
      `api/now/attachment/${attachmentSysId}`,
      new URLSearchParams(),
      undefined,
      {
        allow404: true,
      },
    );
    return reply.status !== 404;
  }

  // -------------------------------------------------------------------------------------------------------------

  private readParams(opts: ReadOptions): URLSearchParams {
    checkFields(opts.fields);
    const p = new URLSearchParams();
    if (opts.fields?.length) p.set('sysparm_fields', opts.fields.join(','));
    if (opts.displayValue !== undefined) p.set('sysparm_display_value', String(opts.displayValue));
    p.set('sysparm_exclude_reference_link', String(opts.excludeReferenceLink ?? true));
    return p;
  }

  private writeParams(opts: WriteOptions): URLSearchParams {
    checkFields(opts.fields);
    const p = new URLSearchParams();
    if (opts.fields?.length) p.set('sysparm_fields', opts.fields.join(','));
    if (opts.inputDisplayValue) p.set('sysparm_input_display_value', 'true');
    p.set('sysparm_exclude_reference_link', String(opts.excludeReferenceLink ?? true));
    return p;
  }

  private result<T>(reply: Reply, what: string): T {
    const data = reply.data as { result?: unknown } | undefined;
    if (!data || typeof data !== 'object' || !('result' in data))
      throw new ServiceNowError({
        status: reply.status,
        what,
        serviceMessage: 'response has no result',
        retriable: false,
      });
    return data.result as T;
  }

  /** Sends one call with retries; returns 2xx (and 404 when allowed), throws ServiceNowError otherwise. */
  private async request(
    method: Method,
    path: string,
    params: URLSearchParams,
    body?: unknown,
    opts: { allow404?: boolean; headers?: Record<string, string> } = {},
  ): Promise<Reply> {
    const what = `${method.toUpperCase()} ${path.replace(/^api\/now\/v2\/table\//, '')}`;
    const idempotent = method.toUpperCase() !== 'POST';
    let refreshed = false;
    for (let attempt = 1; ; attempt++) {
      const headers: Record<string, string> = {
        Accept: 'application/json',
        Authorization: await this.opts.auth.authorization(),
        ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
        ...opts.headers,
      };
      let res: AxiosResponse<unknown>;
      const deadline = AbortSignal.timeout(this.timeoutMs);
      try {
        res = await this.http.request<unknown>({ method, url: path, params, data: body, headers, signal: deadline });
      } catch (err) {
        const c = classify(err);
        const timedOut = deadline.aborted || c.code === TIMEOUT_CODE;
        const raw = (err as { code?: unknown }).code;
        const code = timedOut ? TIMEOUT_CODE : typeof raw === 'string' ? raw : (c.code ?? 'NetworkError');
        const transient = timedOut || c.transient;
        // Retried here only when the request cannot have been applied: idempotent, or never connected.
        if (transient && (idempotent || NOT_CONNECTED.has(code)) && attempt < this.maxAttempts) {
          const delay = backoffDelay(attempt - 1, this.backoff, this.random);
          this.log.warn('network error, retrying', { what, code, attempt, delayMs: delay });
          await this.sleep(delay);
          continue;
        }
        // A fresh error: the axios error holds the Authorization header and the body.
        throw new ServiceNowError({
          code,
          what,
          serviceMessage: timedOut ? `no answer within ${this.timeoutMs} ms` : `network error ${code}`,
          retriable: transient,
        });
      }
      const reply: Reply = { status: res.status, headers: flattenHeaders(res.headers), data: res.data };
      this.log.debug('response', { what, status: reply.status, attempt });
      if ((reply.status >= 200 && reply.status < 300) || (reply.status === 404 && opts.allow404)) return reply;

      if (reply.status === 401) {
        // The next authorization() re-reads Key Vault (Basic) or asks for a new token (OAuth).
        this.opts.auth.invalidate();
        if (!refreshed) {
          refreshed = true;
          attempt--; // a refresh is not one of the bounded retries
          this.log.warn('401: retrying once with fresh credentials', { what });
          continue;
        }
      }
      const { message, detail } = envelopeError(reply.data);
      const retryAfterMs = this.retryAfter(reply);
      const retriable = classify({ status: reply.status }).transient;
      const waitable = retryAfterMs === undefined || retryAfterMs <= this.maxRetryAfterMs;
      if (retriable && waitable && attempt < this.maxAttempts) {
        const delay =
          retryAfterMs !== undefined
            ? retryAfterMs + Math.round(this.random() * 250) // honour the service's wait, plus a little jitter
            : backoffDelay(attempt - 1, this.backoff, this.random);
        this.log.warn('retrying', { what, status: reply.status, attempt, delayMs: delay });
        await this.sleep(delay);
        continue;
      }
      throw new ServiceNowError({
        status: reply.status,
        what,
        ...(message !== undefined ? { serviceMessage: message } : {}),
        ...(detail !== undefined ? { detail } : {}),
        retriable,
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      });
    }
  }

  /** Retry-After (seconds or HTTP date); on a 429 without it, the rate-limit window's `X-RateLimit-Reset` (Unix s). */
  private retryAfter(reply: Reply): number | undefined {
    const ra = parseRetryAfter(reply.headers['retry-after']);
    if (ra !== undefined) return ra;
    if (reply.status === 429) {
      const reset = Number(reply.headers['x-ratelimit-reset']);
      if (Number.isFinite(reset) && reset > 0) return Math.max(0, reset * 1000 - Date.now());
    }
    return undefined;
  }
}

function flattenHeaders(headers: AxiosResponse['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers as Record<string, unknown>)) {
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[k.toLowerCase()] = String(v);
    else if (Array.isArray(v)) out[k.toLowerCase()] = v.map((x) => String(x as string)).join(', ');
  }
  return out;
}
