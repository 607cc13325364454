// @ts-check
// "Best available": the buyer says how many seats, of which type, with how
// many wheelchair spaces, and the server picks and holds them in one step
// (`hold` with `best`, docs/protocol.md). The seats come back in the ack and
// are ours like clicked ones; the panel says in words where they are and
// whether they sit together, or why nothing could be held.

import { $, $field } from "../shared/dom.js";
import { formatMoney, seatRanges, typeName } from "../shared/format.js";

// What the protocol accepts (the per-buyer limit is the server's to say).
const MAX_COUNT = 100;

/**
 * What a buyer asks best available for (`best` of the hold).
 * @typedef {{count: number, types?: string[], accessible?: number}} BestRequest
 */

/**
 * The seat types on sale, cheapest first, with their price: the choices.
 * @param {import("../shared/seatmap/board.js").SeatBoard} board
 * @returns {{type: string, price: {amount: number, currency: string}}[]}
 */
export function typesOnSale(board) {
  const types = new Map();
  for (const seat of board.seats.values()) {
    if (seat.price && !types.has(seat.type)) types.set(seat.type, seat.price);
  }
  return [...types].map(([type, price]) => ({ type, price }))
    .sort((a, b) => a.price.amount - b.price.amount);
}

/**
 * The request in words: "3 Gold seats, 1 of them a wheelchair space".
 * @param {BestRequest} request
 */
function wanted({ count, types = [], accessible = 0 }) {
  const kind = types.length ? `${types.map(typeName).join(" or ")} ` : "";
  const spaces = accessible
    ? `, ${accessible === count ? (count === 1 ? "a" : "all") : accessible} of them `
      + `${accessible === 1 ? "a wheelchair space" : "wheelchair spaces"}`
    : "";
  return `${count} ${kind}seat${count === 1 ? "" : "s"}${spaces}`;
}

/**
 * What a best-available ack means, in words: where the seats are and
 * whether together, or why none were held. `held` is how many seats the
 * buyer held before asking.
 * @param {any} ack
 * @param {BestRequest} request
 * @param {import("../shared/seatmap/board.js").SeatBoard} board
 * @param {number} held
 * @returns {{ok: boolean, text: string}}
 */
export function bestText(ack, request, board, held) {
  if (ack.ok) {
    const seats = (ack.seats ?? []).map((id) => board.seats.get(id)).filter(Boolean);
    const where = seatRanges(seats);
    if (ack.together || seats.length === 1) {
      return { ok: true, text: `Held for you${seats.length > 1 ? ", side by side" : ""}: ${where}.` };
    }
    return { ok: true, text: `Held for you, but not side by side: no ${seats.length} seats `
      + `next to each other were free, so these are the closest together: ${where}.` };
  }
  switch (ack.code) {
    case "seats_unavailable":
      return { ok: false, text: `Sorry, ${wanted(request)} cannot be found free right now, `
        + "together or apart. Try a smaller party"
        + `${request.types?.length ? ", or any seat type" : ""}`
        + `${request.accessible ? ", or fewer wheelchair spaces" : ""}.` };
    case "too_many_seats": {
      const limit = /at most (\d+)/.exec(ack.message ?? "")?.[1];
      const per = /address/.test(ack.message ?? "")
        ? "from one internet connection" : "by one person";
      return { ok: false, text: `${wanted(request)} cannot be held: at most `
        + `${limit ?? "a limited number of"} seats of this showtime may be held ${per}`
        + (held ? `, and you hold ${held} already. Remove some, or ask for fewer.` : ". Ask for fewer.") };
    }
    case "rate_limited":
      return { ok: false, text: "Too many requests at once. Wait a moment and try again." };
    case "sales_closed":
      return { ok: false, text: "Sales for this showtime have closed." };
    case "unavailable":
      return { ok: false, text: "The server cannot reach its seat store right now. Please try "
        + "again in a moment." };
    case "not_connected":
      return { ok: false, text: "Not connected, so no seats can be held right now. Try again "
        + "once the connection is back." };
    default:
      return { ok: false, text: `No seats were held: ${ack.message ?? ack.code}.` };
  }
}

export class BestPanel {
  /**
   * @param {import("../shared/seatmap/board.js").SeatBoard} board
   * @param {object} page
   * @param {(request: BestRequest) => Promise<any>} page.best sends it; the ack,
   *   or null when the outcome is unknown (the page has said so)
   * @param {(text: string) => void} page.announce
   */
  constructor(board, { best, announce }) {
    this.board = board;
    this.best = best;
    this.announce = announce;
    this.form = /** @type {HTMLFormElement} */ ($("#best-form"));
    this.count = $field("#best-count");
    this.type = /** @type {HTMLSelectElement} */ ($("#best-type"));
    this.accessible = /** @type {HTMLSelectElement} */ ($("#best-accessible"));
    this.error = $("#best-error");
    this.result = $("#best-result");
    this.submit = $("#best-submit");
    for (const { type, price } of typesOnSale(board)) {
      this.type.append(new Option(`${typeName(type)}, ${formatMoney(price.amount, price.currency)}`,
        type));
    }
    const spaces = [...board.seats.values()].filter((s) => s.accessible && s.price).length;
    $("#best-accessible-field").hidden = spaces === 0;
    for (let n = 1; n <= Math.min(spaces, 10); n++) {
      this.accessible.append(new Option(`${n} wheelchair space${n === 1 ? "" : "s"}`, String(n)));
    }
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.run();
    });
  }

  /**
   * The form's request, or a message saying what is wrong with it.
   * @returns {{request: BestRequest} | {problem: string, field: HTMLElement}}
   */
  read() {
    const raw = this.count.value.trim();
    const count = /^\d{1,3}$/.test(raw) ? Number(raw) : NaN;
    if (!(count >= 1 && count <= MAX_COUNT)) {
      return { problem: `Party size: enter a whole number of seats from 1 to ${MAX_COUNT}`
        + (raw ? `, not “${raw.slice(0, 20)}”.` : "."), field: this.count };
    }
    const accessible = Number(this.accessible.value) || 0;
    if (accessible > count) {
      return { problem: `Wheelchair spaces: at most the party size (${count}).`,
        field: this.accessible };
    }
    /** @type {BestRequest} */
    const request = { count };
    if (this.type.value) request.types = [this.type.value];
    if (accessible) request.accessible = accessible;
    return { request };
  }

  async run() {
    if (this.submit.hasAttribute("aria-disabled")) return;
    const read = this.read();
    this.count.removeAttribute("aria-invalid");
    this.accessible.removeAttribute("aria-invalid");
    if ("problem" in read) {
      this.show(this.error, read.problem);
      read.field.setAttribute("aria-invalid", "true");
      read.field.focus();
      this.result.hidden = true;
      return;
    }
    this.error.hidden = true;
    await this.ask(read.request, this.result, this.submit);
  }

  /**
   * Ask, and tell the outcome in `out` (and to screen readers). Also used by
   * the list picker's party buttons, with their own line.
   * @param {BestRequest} request
   * @param {HTMLElement} out
   * @param {HTMLElement} button kept focusable but inert while waiting
   */
  async ask(request, out, button) {
    const held = this.board.mine.size;
    button.setAttribute("aria-disabled", "true");
    this.show(out, `Finding ${wanted(request)}…`);
    let ack;
    try {
      ack = await this.best(request);
    } finally {
      button.removeAttribute("aria-disabled");
    }
    if (ack === null) {
      out.hidden = true;
      return;
    }
    const { ok, text } = bestText(ack, request, this.board, held);
    out.dataset.tone = ok ? "info" : "error";
    this.show(out, text);
    this.announce(text);
  }

  /** @param {HTMLElement} box @param {string} text */
  show(box, text) {
    box.textContent = text;
    box.hidden = false;
  }
}
