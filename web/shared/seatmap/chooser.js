// @ts-check
// SeatChooser: a showtime's seats as toggle buttons, live, for staff pages
// (the box office's counter and the admin's house seats). It keeps the
// picker's model of seat state (SeatBoard, fed by the same WebSocket room
// and its snapshots and updates) and the picker's grid placement
// (seatGrid); what differs from the buyer's picker is what may be chosen:
// free seats and blocked ones, several at once, nothing held.
//
// Each seat is a <button aria-pressed> named in words ("Row A, seat 1,
// Standard, €12.50, blocked: press"); held and sold seats are
// aria-disabled. A seat chosen that becomes unavailable (someone online
// held it) is dropped from the choice, and `onChange` says so.

import { getJSON } from "../api.js";
import { element } from "../dom.js";
import { formatMoney, seatName, typeName } from "../format.js";
import { outOfViewWords, sidesOutOfView } from "../outofview.js";
import { SeatSocket } from "../socket.js";
import { SeatBoard } from "./board.js";
import { seatGrid } from "./geometry.js";

/** @typedef {import("./board.js").Seat} Seat */
/** @typedef {{seat: string, reason: string, note: string | null}} Block */

export const REASONS = /** @type {Record<string, string>} */ ({
  house: "house seat", press: "press", broken: "broken seat", other: "other",
});

/** @param {Block | undefined} block */
function blockWords(block) {
  if (!block) return "blocked";
  const why = REASONS[block.reason] ?? block.reason;
  return `blocked: ${why}${block.note ? ` (${block.note})` : ""}`;
}

export class SeatChooser {
  /**
   * @param {HTMLElement} root the element the grid fills
   * @param {object} options
   * @param {(look: string) => boolean} options.choosable which looks may be chosen
   * @param {() => void} options.onChange the choice or a seat's state changed
   * @param {(status: string) => void} [options.onStatus] the socket's status
   * @param {HTMLElement} [options.hint] where to say which side of a grid wider
   *   than its box (a hall on a phone) is out of view, as the picker does
   */
  constructor(root, { choosable, onChange, onStatus = () => {}, hint }) {
    this.root = root;
    this.hint = hint;
    if (hint) {
      root.addEventListener("scroll", () => this.showHint(), { passive: true });
      // The box's size changes with the window, and from nothing when its section shows.
      new ResizeObserver(() => this.showHint()).observe(root);
    }
    this.choosable = choosable;
    this.onChange = onChange;
    /** @type {Set<string>} */
    this.chosen = new Set();
    /** @type {Map<string, HTMLButtonElement>} */
    this.buttons = new Map();
    /** @type {Map<string, Block>} */
    this.blocks = new Map();
    /** @type {SeatBoard | null} */
    this.board = null;
    /** @type {number | null} */
    this.showtime = null;
    this.socket = new SeatSocket({ onStatus: (status) => onStatus(status) });
    this.socket.start();
  }

  /**
   * Show a showtime's seats and follow them live.
   * @param {number} showtime
   */
  async open(showtime) {
    if (this.showtime !== null) this.socket.unsubscribe(this.showtime);
    this.showtime = showtime;
    this.chosen.clear();
    const { body } = await getJSON(`/api/showtimes/${showtime}`);
    /** @type {Seat[]} */
    const seats = body.seats;
    this.board = new SeatBoard(seats);
    await this.loadBlocks();
    this.build(seats);
    this.socket.subscribe(showtime, {
      queue: false,
      onFrame: (frame) => this.onFrame(frame),
    });
    this.onChange();
  }

  /** The reasons of the blocked seats (the room says only that they are blocked). */
  async loadBlocks() {
    if (this.showtime === null) return;
    const { body } = await getJSON(`/api/admin/showtimes/${this.showtime}/blocks`);
    this.blocks = new Map(body.blocks.map((/** @type {Block} */ b) => [b.seat, b]));
    this.refresh(this.buttons.keys());
    this.onChange();
  }

  /** @param {Seat[]} seats */
  build(seats) {
    const grid = seatGrid(seats);
    const box = element("div", "chooser-grid");
    box.style.gridTemplateColumns = `repeat(${grid.cols}, minmax(2.75rem, 1fr))`;
    this.buttons.clear();
    for (const seat of grid.seats) {
      const button = /** @type {HTMLButtonElement} */ (element("button", "chooser-seat",
        `${seat.row}${seat.number}`));
      button.type = "button";
      button.dataset.seat = seat.id;
      button.style.gridColumn = String(grid.column(seat) + 1);
      button.style.gridRow = String(grid.line(seat) + 1);
      button.addEventListener("click", () => this.toggle(seat.id));
      this.buttons.set(seat.id, button);
      box.append(button);
    }
    this.root.replaceChildren(box);
    this.refresh(this.buttons.keys());
    this.showHint();
  }

  /** Say which side of the grid is out of view, if any (nothing: the hint hides). */
  showHint() {
    if (!this.hint) return;
    const sides = sidesOutOfView(this.root);
    const words = sides.length ? outOfViewWords(sides, "scroll the seats sideways") : "";
    if (this.hint.textContent !== words) this.hint.textContent = words;
    this.hint.hidden = !sides.length;
  }

  /** @param {any} frame */
  onFrame(frame) {
    if (!this.board) return;
    if (frame.t === "snapshot") {
      this.board.applySnapshot(frame);
      this.refresh(this.buttons.keys());
    } else if (frame.t === "update") {
      const { changed } = this.board.applyUpdate(frame);
      if ([...changed].some((id) => this.board?.server.get(id) === "blocked"
        || this.blocks.has(id))) {
        this.loadBlocks().catch(() => {});
      }
      this.refresh(changed);
    } else {
      return;
    }
    this.onChange();
  }

  /**
   * What a seat is now, as this page sees it.
   * @param {string} id
   */
  look(id) {
    const state = this.board?.server.get(id) ?? "free";
    return state === "free" ? "available" : state;
  }

  /** @param {string} id */
  label(id) {
    const seat = /** @type {Seat} */ (this.board?.seats.get(id));
    const look = this.look(id);
    const words = { available: "available", held: "held online", booked: "sold" };
    const state = look === "blocked" ? blockWords(this.blocks.get(id))
      : words[/** @type {"available" | "held" | "booked"} */ (look)] ?? look;
    const parts = [seatName(seat), typeName(seat.type)];
    if (seat.accessible) parts.push("wheelchair space");
    if (seat.price) parts.push(formatMoney(seat.price.amount, seat.price.currency));
    parts.push(state);
    return parts.join(", ");
  }

  /** @param {Iterable<string>} ids */
  refresh(ids) {
    for (const id of ids) {
      const button = this.buttons.get(id);
      if (!button || !this.board) continue;
      const look = this.look(id);
      if (this.chosen.has(id) && !this.choosable(look)) this.chosen.delete(id);
      button.dataset.look = look;
      button.setAttribute("aria-label", this.label(id));
      button.setAttribute("aria-pressed", String(this.chosen.has(id)));
      if (this.choosable(look)) button.removeAttribute("aria-disabled");
      else button.setAttribute("aria-disabled", "true");
    }
  }

  /** @param {string} id */
  toggle(id) {
    if (!this.choosable(this.look(id))) return;
    if (this.chosen.has(id)) this.chosen.delete(id);
    else this.chosen.add(id);
    this.refresh([id]);
    this.onChange();
  }

  /** Forget the choice (after a sale or a change). */
  clear() {
    const was = [...this.chosen];
    this.chosen.clear();
    this.refresh(was);
    this.onChange();
  }

  /** @returns {Seat[]} the chosen seats, in seat order */
  chosenSeats() {
    const board = this.board;
    if (!board) return [];
    return [...this.chosen].map((id) => /** @type {Seat} */ (board.seats.get(id)));
  }
}
