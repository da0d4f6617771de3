import { randomBytes } from 'node:crypto';

/** One version of a secret. Times are epoch seconds (swagger `format: unixtime`). */
export interface SecretVersion {
  version: string;
  value: string;
  contentType?: string;
  tags?: Record<string, string>;
  enabled: boolean;
  nbf?: number;
  exp?: number;
  created: number;
  updated: number;
}

export interface SecretEntry {
  /** The name as first created; lookups are case-insensitive (about-object-identifiers). */
  name: string;
  /** In creation order; the last one is the current version. */
  versions: SecretVersion[];
  deleted?: { deletedDate: number; scheduledPurgeDate: number };
}

export interface NewVersion {
  value: string;
  contentType?: string;
  tags?: Record<string, string>;
  enabled?: boolean;
  nbf?: number;
  exp?: number;
}

export interface VersionUpdate {
  contentType?: string;
  tags?: Record<string, string>;
  enabled?: boolean;
  nbf?: number;
  exp?: number;
}

/** Versions are 32 lower-case hex characters, like the vault's (examples/*.json). */
export const newVersionId = (): string => randomBytes(16).toString('hex');

/** The vault's secrets, live and soft-deleted, keyed by lower-case name. */
export class SecretStore {
  private readonly entries = new Map<string, SecretEntry>();

  constructor(private readonly recoverableDays: number) {}

  /** A live or deleted entry; deleted ones past their scheduled purge date are purged first (on the given clock). */
  find(name: string, now: number): SecretEntry | undefined {
    const key = name.toLowerCase();
    const entry = this.entries.get(key);
    if (entry?.deleted && entry.deleted.scheduledPurgeDate <= now) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  live(name: string, now: number): SecretEntry | undefined {
    const e = this.find(name, now);
    return e && !e.deleted ? e : undefined;
  }

  deleted(name: string, now: number): SecretEntry | undefined {
    const e = this.find(name, now);
    return e?.deleted ? e : undefined;
  }

  /** Adds a version (creating the secret); the caller has checked that the name is not soft-deleted. */
  addVersion(name: string, input: NewVersion, now: number): { entry: SecretEntry; version: SecretVersion } {
    const key = name.toLowerCase();
    let entry = this.entries.get(key);
    if (!entry || entry.deleted) {
      entry = { name, versions: [] };
      this.entries.set(key, entry);
    }
    const version: SecretVersion = {
      version: newVersionId(),
      value: input.value,
      ...(input.contentType !== undefined ? { contentType: input.contentType } : {}),
      ...(input.tags !== undefined ? { tags: { ...input.tags } } : {}),
      enabled: input.enabled ?? true,
      ...(input.nbf !== undefined ? { nbf: input.nbf } : {}),
      ...(input.exp !== undefined ? { exp: input.exp } : {}),
      created: now,
      updated: now,
    };
    entry.versions.push(version);
    return { entry, version };
  }

  update(version: SecretVersion, patch: VersionUpdate, now: number): void {
    if (patch.contentType !== undefined) version.contentType = patch.contentType;
    if (patch.tags !== undefined) version.tags = { ...patch.tags };
    if (patch.enabled !== undefined) version.enabled = patch.enabled;
    if (patch.nbf !== undefined) version.nbf = patch.nbf;
    if (patch.exp !== undefined) version.exp = patch.exp;
    version.updated = now;
  }

  softDelete(entry: SecretEntry, now: number): void {
    entry.deleted = { deletedDate: now, scheduledPurgeDate: now + this.recoverableDays * 86400 };
  }

  recover(entry: SecretEntry): void {
    delete entry.deleted;
  }

  purge(entry: SecretEntry): void {
    this.entries.delete(entry.name.toLowerCase());
  }

  /** Entries sorted by name (lower-case), live or deleted. */
  list(now: number, which: 'live' | 'deleted'): SecretEntry[] {
    return [...this.entries.keys()]
      .sort()
      .map((k) => this.find(k, now))
      .filter((e): e is SecretEntry => e !== undefined && (which === 'deleted') === Boolean(e.deleted));
  }

  clear(): void {
    this.entries.clear();
  }
}

export const currentVersion = (entry: SecretEntry): SecretVersion => entry.versions[entry.versions.length - 1];

export const findVersion = (entry: SecretEntry, version: string): SecretVersion | undefined =>
  entry.versions.find((v) => v.version === version.toLowerCase());
