// @ts-check
// ServerClock: the server's time as seen from here.
//
// Hold deadlines (`expires_at`) are on the server's clock; ours may be off by
// seconds or minutes. Every update carries `ts`, the server's time when it was
// sent, so ts - (our time on arrival) = offset - delivery delay. The delay is
// never negative, so the largest of the recent samples is the best estimate.

const SAMPLES = 16;

export class ServerClock {
  constructor() {
    /** @type {number[]} server clock minus ours, one per recent update (ms) */
    this.samples = [];
    this.rough = 0;
  }

  /**
   * A coarse offset (e.g. from an HTTP Date header) until stamps arrive.
   * @param {number | null} offsetMs
   */
  setRough(offsetMs) {
    if (offsetMs !== null && Number.isFinite(offsetMs)) this.rough = offsetMs;
  }

  /** @param {number} serverMs an update's `ts`, taken as it arrives */
  sample(serverMs) {
    if (!Number.isFinite(serverMs)) return;
    this.samples.push(serverMs - Date.now());
    if (this.samples.length > SAMPLES) this.samples.shift();
  }

  get offset() {
    return this.samples.length ? Math.max(...this.samples) : this.rough;
  }

  now() {
    return Date.now() + this.offset;
  }
}
