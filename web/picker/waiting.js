// @ts-check
// The waiting page of a showtime with a waiting room (docs/protocol.md,
// "Waiting room"): where the buyer is in the queue, how long it may take, a
// progress bar, and what happens next; or, before the on-sale time, when
// sales open. The picker decides when it shows (waiting, before sale, an
// admission that lapsed) and gives it the server's `queue` frames.
//
// What is on screen follows every frame; what is said to screen readers does
// not: a queue that moves every few seconds would otherwise talk over
// everything. It speaks when the state changes, when the place crosses one of
// THRESHOLDS (100 -> 99 is news only as "under 100"), and otherwise at most
// every ANNOUNCE_EVERY_MS while the place changes.

import { $ } from "../shared/dom.js";
import { dayKey, formatStart, formatTime } from "../shared/format.js";

export const ANNOUNCE_EVERY_MS = 30000;
// Places whose crossing is worth saying at once, nearest first.
const THRESHOLDS = [1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000];
const LOCALE = document.documentElement.lang || "en";
const count = new Intl.NumberFormat(LOCALE);

/**
 * A `queue` frame of the server (or one the picker makes for a showtime with
 * an on-sale time and no waiting room).
 * @typedef {{state: "waiting" | "before_sale", position: number | null,
 *   waiting: number | null, eta_s: number | null, opens_at: number | null}} QueueFrame
 */

/**
 * "about 2 minutes" for an estimated wait in seconds; null when unknown.
 * Rounded as a person would say it: an estimate is not a countdown.
 * @param {number | null} seconds
 */
export function roughWait(seconds) {
  if (seconds === null || !Number.isFinite(seconds) || seconds < 0) return null;
  if (seconds < 45) return "less than a minute";
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `about ${minutes} minute${minutes === 1 ? "" : "s"}`;
  const tens = Math.round(minutes / 10) * 10; // 1 h 55 min is "about 2 hours"
  const hours = Math.floor(tens / 60);
  const rest = tens % 60;
  const hourWords = `${hours} hour${hours === 1 ? "" : "s"}`;
  return rest ? `about ${hourWords} ${rest} minutes` : `about ${hourWords}`;
}

/**
 * The smallest threshold at or above `position`: places in one band say the same.
 * @param {number} position
 */
function band(position) {
  return THRESHOLDS.find((t) => position <= t) ?? Infinity;
}

export class WaitingPage {
  /**
   * @param {HTMLElement} root the page's `#waiting` section
   * @param {object} options
   * @param {{now(): number}} options.clock the server's clock (opens_at is on it)
   * @param {string | undefined} options.timeZone the theater's, for "on sale at 10:00"
   * @param {(text: string) => void} options.announce polite, to screen readers
   */
  constructor(root, { clock, timeZone, announce }) {
    this.root = root;
    this.clock = clock;
    this.timeZone = timeZone;
    this.announce = announce;
    this.heading = $("#waiting-heading", root);
    this.reason = $("#waiting-reason", root);
    this.opens = $("#waiting-opens", root);
    this.position = $("#waiting-position", root);
    this.eta = $("#waiting-eta", root);
    this.count = $("#waiting-count", root);
    this.bar = $("#waiting-progress", root);
    this.fill = $(".progress-fill", this.bar);
    /** @type {QueueFrame | null} */
    this.frame = null;
    this.ticker = 0;
    this.reset();
  }

  get shown() {
    return !this.root.hidden;
  }

  /**
   * Start over: a new wait, measured from the first place it shows.
   * @param {string} [reason] why the buyer waits again (said first)
   */
  reset(reason = "") {
    this.first = null;
    this.frame = null;
    /** @type {{state: string, band: number, position: number | null, at: number} | null} */
    this.said = null;
    this.reason.textContent = reason;
    this.reason.hidden = !reason;
    this.reasonSaid = false;
  }

  /**
   * Joining: shown at once, before the server says where we are; why we
   * wait again, if we do, is said at once too (not with the first place).
   */
  joining() {
    this.open();
    if (!this.reason.hidden && !this.reasonSaid) {
      this.reasonSaid = true;
      this.announce(`${this.reason.textContent} Finding your new place in the queue…`);
    }
    this.heading.textContent = "Joining the queue…";
    this.position.textContent = "…";
    this.eta.textContent = "…";
    this.count.textContent = "…";
    this.opens.hidden = true;
    this.setProgress(0, "Not in the queue yet");
  }

  /** @param {QueueFrame} frame */
  show(frame) {
    this.frame = frame;
    this.open();
    if (frame.state === "before_sale") this.renderBeforeSale(frame);
    else this.renderWaiting(frame);
    this.speak(frame);
  }

  hide() {
    this.root.hidden = true;
    clearInterval(this.ticker);
    this.ticker = 0;
  }

  open() {
    if (this.shown) return;
    this.root.hidden = false;
    // Once a second for "opens in" and its switch to "opening now"; never spoken.
    this.ticker = setInterval(() => {
      if (this.frame?.state === "before_sale") this.renderBeforeSale(this.frame);
    }, 1000);
  }

  /** @param {QueueFrame} frame */
  renderWaiting(frame) {
    const position = frame.position ?? 1;
    if (this.first === null || position > this.first) this.first = position;
    this.heading.textContent = position === 1 ? "You are next in the queue"
      : "You are in the queue";
    this.opens.hidden = true;
    this.position.textContent = count.format(position);
    this.eta.textContent = capital(roughWait(frame.eta_s) ?? "not known yet");
    this.count.textContent = frame.waiting === null ? "…" : count.format(frame.waiting);
    const moved = this.first - position;
    const share = this.first <= 1 ? 100 : Math.round((100 * moved) / (this.first - 1));
    this.setProgress(share, position === 1 ? "You are next"
      : `${count.format(moved)} of ${count.format(this.first - 1)} places ahead of you `
        + `have gone; you are number ${count.format(position)}`);
  }

  /** @param {QueueFrame} frame */
  renderBeforeSale(frame) {
    this.heading.textContent = "Tickets are not on sale yet";
    this.opens.hidden = false;
    this.opens.textContent = this.opensText(frame.opens_at);
    this.position.textContent = "Given when sales open";
    this.eta.textContent = frame.opens_at === null ? "Not known yet"
      : capital(this.untilText(frame.opens_at));
    this.count.textContent = frame.waiting === null ? "—" : count.format(frame.waiting);
    this.setProgress(0, "Waiting for sales to open");
  }

  /**
   * "On sale at 10:00": in the theater's time, with its day when that is
   * not today there and its zone when this browser's is another.
   * @param {number | null} opensAt ms, server clock
   */
  opensText(opensAt) {
    if (opensAt === null) return "Sales open soon.";
    const when = this.when(opensAt);
    if (opensAt <= this.clock.now()) {
      return `Sales opened at ${when}: everyone who came early gets a place at random, `
        + "in a moment. Keep this page open.";
    }
    return `On sale at ${when}. Everyone who arrives before then gets a place in the queue `
      + "at random when sales open, so there is no need to hurry.";
  }

  /** @param {number} at */
  when(at) {
    const date = new Date(at);
    const zone = this.timeZone;
    const today = dayKey(date, zone) === dayKey(new Date(this.clock.now()), zone);
    const text = today ? formatTime(date, zone)
      : formatStart(date.toISOString(), zone, { weekday: "long", month: "long" });
    const here = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone === undefined) return `${text} (${here} time)`;
    return zone === here ? text : `${text} (${zone.split("/").pop().replaceAll("_", " ")} time)`;
  }

  /** @param {number} at */
  untilText(at) {
    const left = at - this.clock.now();
    if (left <= 0) return "opening now";
    return `sales open in ${roughWait(left / 1000)}`;
  }

  /**
   * @param {number} percent
   * @param {string} words the same in words, for screen readers
   */
  setProgress(percent, words) {
    const value = Math.max(0, Math.min(100, percent));
    this.bar.setAttribute("aria-valuenow", String(value));
    this.bar.setAttribute("aria-valuetext", words);
    this.fill.style.width = `${value}%`;
  }

  /**
   * Say what changed, when it is worth saying (see the top of this file).
   * @param {QueueFrame} frame
   */
  speak(frame) {
    const now = performance.now();
    const position = frame.state === "waiting" ? frame.position ?? 1 : null;
    const said = this.said;
    const fresh = said === null || said.state !== frame.state;
    if (!fresh && position === null) return; // before sale: said once
    if (!fresh) {
      const crossed = band(position) < said.band;
      const due = position !== said.position && now - said.at >= ANNOUNCE_EVERY_MS;
      if (!crossed && !due) return;
    }
    this.said = { state: frame.state, band: position === null ? Infinity : band(position),
      position, at: now };
    this.announce(this.sentence(frame, fresh));
  }

  /**
   * @param {QueueFrame} frame
   * @param {boolean} fresh the first word on this state: say what happens next too
   */
  sentence(frame, fresh) {
    const reason = fresh && !this.reason.hidden && !this.reasonSaid
      ? `${this.reason.textContent} ` : "";
    if (frame.state === "before_sale") {
      return `${reason}Tickets are not on sale yet. ${this.opensText(frame.opens_at)} `
        + "When it is your turn this page opens the seat map by itself.";
    }
    const position = frame.position ?? 1;
    const wait = roughWait(frame.eta_s);
    const place = position === 1 ? "You are next in the queue."
      : `You are number ${count.format(position)} in the queue.`;
    return `${reason}${place}${wait ? ` Estimated wait: ${wait}.` : ""}`
      + (fresh ? " When it is your turn this page opens the seat map by itself; "
        + "keep this tab open." : "");
  }
}

/** @param {string} text */
function capital(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
