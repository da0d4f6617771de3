/**
 * One writer at a time for a credential of one (integration, role): the lease store's claim, the work under it, and
 * the release (a lease that cannot be released expires by itself; a later execution takes it over). A claim another
 * execution holds is a retriable failure: the durable retry runs the activity again once that one finished.
 */
import type { Deps } from '../app/deps';
import { retriable } from './failures';
import { type ActivityLog, logLine } from './log';

export interface LeaseSpec {
  scope: string;
  key: string[];
  ttlMs: number;
  /** Recorded on the lease (who holds it), shown to the execution that waits. */
  owner: string;
  /** The retriable failure's code and text when another execution holds it. */
  busyCode: string;
  busy: (heldBy: string) => string;
  /** For the log line when the release fails. */
  what: string;
}

export async function underLease<T>(
  deps: Pick<Deps, 'leases'>,
  spec: LeaseSpec,
  work: () => Promise<T>,
  log?: ActivityLog,
): Promise<T> {
  const claim = await deps.leases.acquire(spec.scope, spec.key, spec.ttlMs, spec.owner);
  if (!claim.ok) throw retriable(spec.busyCode, spec.busy(claim.heldBy || 'unknown'), 'keyvault');
  try {
    return await work();
  } finally {
    await deps.leases
      .release(claim.lease)
      .catch(() => logLine(log, 'warn', `${spec.what}: could not release the lease (it expires by itself)`));
  }
}
