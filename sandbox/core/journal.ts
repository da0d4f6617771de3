import type { ServiceName } from './types';

export interface JournalEntry {
  seq: number;
  /** ISO time on the sandbox clock. */
  at: string;
  service: ServiceName;
  method: string;
  path: string;
  query: Record<string, string>;
  /** Who the stand-in authenticated the call as (e.g. `app:<appId>`, `user:admin`), if anyone. */
  authSubject?: string;
  status: number;
  /** Request body with secret values replaced by `[redacted]`. */
  body?: unknown;
  /** Set when an injected fault answered instead of the stand-in. */
  fault?: string;
}

/** What a test may additionally see in-process: the raw bodies, to prove where a canary secret did (not) travel. */
export interface RawJournalEntry extends JournalEntry {
  rawRequestBody: string;
  rawResponseBody: string;
}

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export class Journal {
  private readonly items: RawJournalEntry[] = [];
  private seq = 0;

  record(entry: Omit<RawJournalEntry, 'seq'>): void {
    this.items.push({ ...entry, seq: ++this.seq });
  }

  /** Redacted entries, optionally for one service and after a sequence number. */
  entries(filter: { service?: ServiceName; since?: number } = {}): JournalEntry[] {
    return this.raw(filter).map(({ rawRequestBody: _q, rawResponseBody: _r, ...rest }) => rest);
  }

  /** Entries with raw bodies: in-process only, never served over the control API. */
  raw(filter: { service?: ServiceName; since?: number } = {}): RawJournalEntry[] {
    return this.items.filter(
      (e) => (!filter.service || e.service === filter.service) && (filter.since === undefined || e.seq > filter.since),
    );
  }

  /** The last sequence number; pass it as `since` to look at what happened afterwards. */
  mark(): number {
    return this.seq;
  }

  /**
   * Calls that change state. Token requests (POST to Entra) and Graph sendMail are counted as writes too: the
   * caller decides which services matter.
   */
  writes(filter: { service?: ServiceName; since?: number } = {}): JournalEntry[] {
    return this.entries(filter).filter(
      (e) => WRITE_METHODS.has(e.method) && (!e.fault || e.fault.startsWith('latency')),
    );
  }

  clear(): void {
    this.items.length = 0;
  }
}
