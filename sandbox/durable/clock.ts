import { SandboxClock } from '../core/clock';

/**
 * A SandboxClock that stands still until advanced: virtual time for tests, so "due in 1000 ms" means exactly that
 * regardless of how long the test machine takes. The sandbox's own clock (real time + offset) suits the demo.
 */
export class ManualClock extends SandboxClock {
  private current: number;

  constructor(private readonly start: number = Date.UTC(2025, 0, 1)) {
    super();
    this.current = start;
  }

  override now(): number {
    return this.current;
  }

  override advance(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`cannot advance the clock by ${ms} ms`);
    this.current += ms;
  }

  override reset(): void {
    this.current = this.start;
  }
}
