/**
 * The sandbox's clock: real time plus an offset that tests and the demo can advance (token expiry, secret expiry,
 * replication and propagation delays, rotation windows). One clock is shared by every stand-in so they agree on "now".
 */
export class SandboxClock {
  private offsetMs = 0;

  /** Milliseconds since the epoch, as the stand-ins see it. */
  now(): number {
    return Date.now() + this.offsetMs;
  }

  date(): Date {
    return new Date(this.now());
  }

  /** Epoch seconds (JWT claims, Key Vault attributes). */
  seconds(): number {
    return Math.floor(this.now() / 1000);
  }

  advance(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`cannot advance the clock by ${ms} ms`);
    this.offsetMs += ms;
  }

  /** Back to real time. */
  reset(): void {
    this.offsetMs = 0;
  }
}
