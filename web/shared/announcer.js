// @ts-check
// Announcer: polite screen-reader announcements that never flood.
//
// Messages said within `gapMs` of the last announcement are held back and
// merged; when too many pile up only the newest few are kept (a summary beats
// a backlog nobody can follow). The text lands in an aria-live="polite"
// region, cleared first so that repeating the same sentence is still spoken.

export class Announcer {
  /**
   * @param {HTMLElement} region an aria-live="polite" element
   * @param {{gapMs?: number, keep?: number}} [options] the least time between
   *   announcements, and how many waiting messages are kept
   */
  constructor(region, { gapMs = 1500, keep = 3 } = {}) {
    this.region = region;
    this.gapMs = gapMs;
    this.keep = keep;
    /** @type {string[]} */
    this.queue = [];
    this.lastAt = -Infinity;
    this.timer = 0;
  }

  /** @param {string} text */
  say(text) {
    this.queue = this.queue.filter((queued) => queued !== text);
    this.queue.push(text);
    if (this.queue.length > this.keep) this.queue.splice(0, this.queue.length - this.keep);
    if (!this.timer) {
      const wait = Math.max(0, this.lastAt + this.gapMs - performance.now());
      this.timer = setTimeout(() => this.flush(), wait);
    }
  }

  flush() {
    this.timer = 0;
    if (!this.queue.length) return;
    const text = this.queue.join(" ");
    this.queue = [];
    this.lastAt = performance.now();
    this.region.textContent = "";
    // A separate task, so assistive technology sees a change even for equal text.
    setTimeout(() => {
      this.region.textContent = text;
    }, 50);
  }
}
