/**
 * Admission control for firmware transfers. A firmware storm (every phone of a branch upgrading after a power
 * cut) is bound by bandwidth: past `max()` transfers at once, HTTP and TFTP refuse new ones (503 Retry-After,
 * a TFTP error) so that those in flight finish and configuration files, which never take a slot, stay fast.
 */
export interface Slot {
  release(): void;
}

export class TransferSlots {
  private active = 0;
  refusedTotal = 0;
  admittedTotal = 0;

  constructor(private readonly max: () => number) {}

  get inFlight(): number {
    return this.active;
  }

  /** A slot, or undefined when `max()` transfers are already running. Release it exactly once (later calls are no-ops). */
  tryAcquire(): Slot | undefined {
    if (this.active >= this.max()) {
      this.refusedTotal++;
      return undefined;
    }
    this.active++;
    this.admittedTotal++;
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.active--;
      },
    };
  }
}
