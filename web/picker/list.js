// @ts-check
// "Choose from a list" (seats.io's step-through): seat type, then row, then
// the seats available now in that row, each a toggle button named as on the
// map (row, seat, type, price, state). Beside it, buttons that ask best
// available for a party of 2 to 6 of the chosen type. It reads the same
// SeatBoard as the map and the picker tells it of every change, so holds and
// live updates show here as they do there. Drawn only while open.

import { $ } from "../shared/dom.js";
import { formatMoney, seatName, typeName } from "../shared/format.js";
import { bySeat } from "../shared/seatmap/board.js";
import { typesOnSale } from "./best.js";
import { seatLabel } from "./map.js";

const PARTIES = [2, 3, 4, 5, 6];

export class SeatList {
  /**
   * @param {import("../shared/seatmap/board.js").SeatBoard} board
   * @param {object} page
   * @param {(id: string) => void} page.onActivate a seat was pressed
   * @param {(count: number, types: string[], out: HTMLElement, button: HTMLElement)
   *   => void} page.onParty a party button was pressed
   */
  constructor(board, { onActivate, onParty }) {
    this.board = board;
    this.root = /** @type {HTMLDetailsElement} */ ($("#list-picker"));
    this.type = /** @type {HTMLSelectElement} */ ($("#list-type"));
    this.row = /** @type {HTMLSelectElement} */ ($("#list-row"));
    this.list = $("#list-seats");
    this.heading = $("#list-seats-heading");
    this.empty = $("#list-empty");
    this.result = $("#list-result");
    this.types = typesOnSale(board);
    this.root.addEventListener("toggle", () => this.render());
    this.type.addEventListener("change", () => {
      this.row.value = "";
      this.render();
    });
    this.row.addEventListener("change", () => this.render());
    this.list.addEventListener("click", (event) => {
      const button = event.target instanceof Element ? event.target.closest("button") : null;
      if (button) onActivate(button.dataset.id);
    });
    const groups = $("#list-groups");
    for (const count of PARTIES) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "party";
      button.textContent = `${count} seats`;
      button.addEventListener("click", () => {
        if (!button.hasAttribute("aria-disabled")) {
          onParty(count, this.type.value ? [this.type.value] : [], this.result, button);
        }
      });
      groups.append(button);
    }
  }

  /** Whether a seat belongs in the list: available now, or ours (to let go). */
  listed(id) {
    const look = this.board.look(id);
    return look === "available" || look === "mine" || look === "pending";
  }

  /** Redraw after seats changed (cheap: nothing while closed). */
  render() {
    if (!this.root.open) return;
    const seats = [...this.board.seats.values()].filter((s) => s.price).sort(bySeat);
    const free = seats.filter((s) => this.listed(s.id));
    const count = (/** @type {(s: any) => boolean} */ test) =>
      free.filter((s) => test(s) && this.board.look(s.id) === "available").length;
    setOptions(this.type, this.types.map(({ type, price }) => [type,
      `${typeName(type)}, ${formatMoney(price.amount, price.currency)}: `
      + `${count((s) => s.type === type)} available`]));
    const ofType = free.filter((s) => s.type === this.type.value);
    const rows = [...new Set(ofType.map((s) => s.row))];
    setOptions(this.row, rows.map((row) => [row,
      `Row ${row}: ${count((s) => s.type === this.type.value && s.row === row)} available`]));
    $("#list-groups-heading").textContent = `Or let us choose ${typeName(this.type.value)} `
      + "seats, side by side where we can";
    this.drawSeats(ofType.filter((s) => s.row === this.row.value));
  }

  /** @param {import("../shared/seatmap/board.js").Seat[]} seats */
  drawSeats(seats) {
    const focused = this.list.contains(document.activeElement)
      ? /** @type {HTMLElement} */ (document.activeElement).dataset.id : null;
    const before = [...this.list.querySelectorAll("button")].map((b) => b.dataset.id);
    const items = seats.map((seat) => {
      const look = this.board.look(seat.id);
      const pending = this.board.pending.get(seat.id)?.op;
      const button = document.createElement("button");
      button.type = "button";
      button.className = "list-seat";
      button.dataset.id = seat.id;
      button.dataset.look = look;
      button.textContent = seatLabel(seat, look, pending);
      button.setAttribute("aria-pressed", String(look === "mine"
        || (look === "pending" && pending === "hold")));
      if (look === "pending") button.setAttribute("aria-disabled", "true");
      const li = document.createElement("li");
      li.append(button);
      return li;
    });
    this.list.replaceChildren(...items);
    this.heading.textContent = this.row.value
      ? `Row ${this.row.value}: ${seats.length} seat${seats.length === 1 ? "" : "s"} to choose from`
      : "Seats";
    this.empty.hidden = seats.length > 0;
    this.empty.textContent = this.type.value
      ? `No ${typeName(this.type.value)} seats are available right now.`
      : "No seats are available right now.";
    if (focused) {
      // The seat that had focus went (someone took it): its neighbour, else the heading.
      const buttons = [...this.list.querySelectorAll("button")];
      const same = buttons.find((b) => b.dataset.id === focused);
      const next = buttons[Math.min(Math.max(0, before.indexOf(focused)), buttons.length - 1)];
      (same ?? next ?? this.heading).focus();
      if (!same) this.announceGone(focused);
    }
  }

  /** @param {string} id */
  announceGone(id) {
    const seat = this.board.seats.get(id);
    this.result.textContent = `${seatName(seat)} was taken by someone else meanwhile.`;
    this.result.hidden = false;
  }
}

/**
 * Give a select these [value, text] options, keeping its choice (or the first).
 * Options are only replaced when the values change, so a screen reader on the
 * select is not disturbed by new counts more than it must be.
 * @param {HTMLSelectElement} select
 * @param {[string, string][]} entries
 */
function setOptions(select, entries) {
  const chosen = select.value;
  const same = select.options.length === entries.length
    && entries.every(([value], i) => select.options[i].value === value);
  if (same) {
    entries.forEach(([, text], i) => {
      if (select.options[i].text !== text) select.options[i].text = text;
    });
  } else {
    select.replaceChildren(...entries.map(([value, text]) => new Option(text, value)));
  }
  if (entries.some(([value]) => value === chosen)) select.value = chosen;
  else if (entries.length) select.value = entries[0][0];
}
