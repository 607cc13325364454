// @ts-check
// The editor's grid in the DOM: an ARIA grid of every cell of the layout's
// rows (seats and the empty cells between and after them), a focus cursor
// moved by the arrow keys (one roving tab stop), and a selection made by
// click, shift-click (a rectangle from the anchor), ctrl-click (one more or
// one fewer), dragging, Space and Shift+arrows. Seats are drawn with the
// shared seat icons and type colours, as the picker draws them.
//
// The grid only shows and selects; edits are the editor's (layout-editor.js),
// which hears of keys it does not use through `onShortcut`.

import { element } from "../shared/dom.js";
import { seatIcon, typeColours } from "../shared/seatmap/drawing.js";
import { MAX_COLUMN, seatAt, seatId } from "./layout-model.js";

/** @typedef {import("./layout-model.js").Model} Model */
/** @typedef {import("./layout-model.js").Cell} Cell */

/** @param {Cell} cell */
const keyOf = ({ x, y }) => `${x}:${y}`;
/** @param {string} key @returns {Cell} */
const cellOf = (key) => {
  const [x, y] = key.split(":").map(Number);
  return { x, y };
};

export class LayoutGrid {
  /**
   * @param {HTMLElement} root an element with role="grid"
   * @param {object} handlers
   * @param {() => void} handlers.onSelect the selection or the cursor changed
   * @param {(event: KeyboardEvent) => boolean} handlers.onShortcut a key the grid does not use; true: used
   */
  constructor(root, { onSelect, onShortcut }) {
    this.root = root;
    this.onSelect = onSelect;
    this.onShortcut = onShortcut;
    /** @type {Set<string>} */
    this.selected = new Set();
    /** @type {Cell} */
    this.cursor = { x: 0, y: 0 };
    /** @type {Cell} */
    this.anchor = { x: 0, y: 0 };
    /** @type {number[]} */
    this.lines = [];
    this.cols = 0;
    this.dragging = false;
    /** @type {Model | null} */
    this.model = null;
    root.addEventListener("keydown", (event) => this.onKey(event));
    root.addEventListener("pointerdown", (event) => this.onPointerDown(event));
    root.addEventListener("pointermove", (event) => this.onPointerMove(event));
    document.addEventListener("pointerup", () => { this.dragging = false; });
    root.addEventListener("focusin", (event) => {
      const cell = this.cellAtTarget(event.target);
      if (cell) this.moveCursor(cell, false);
    });
  }

  /**
   * Draw the model's rows, and lines of seats that were refused in rows the
   * model no longer has (`refused`: cell key -> the sold seat's id there).
   * @param {Model} model
   * @param {Map<string, {id: string, row: string}>} refused
   */
  render(model, refused) {
    const hadFocus = this.root.contains(document.activeElement);
    this.model = model;
    const ys = new Set(model.rows.map((r) => r.y));
    for (const key of refused.keys()) ys.add(cellOf(key).y);
    this.lines = [...ys].sort((a, b) => a - b);
    const widest = Math.max(-1, ...model.rows.flatMap((r) => r.seats.map((s) => s.x)),
      ...[...refused.keys()].map((k) => cellOf(k).x));
    this.cols = Math.min(Math.max(widest + 3, 8), MAX_COLUMN + 1);
    this.root.style.setProperty("--cols", String(this.cols));
    this.keepInside();
    const colours = typeColours(new Set(model.rows.flatMap((r) => r.seats.map((s) => s.type))));
    const lines = this.lines.map((y) => {
      const row = model.rows.find((r) => r.y === y);
      const line = element("div", "grid-line");
      line.setAttribute("role", "row");
      const header = element("div", "grid-label", row ? row.label : this.ghostLabel(refused, y));
      header.setAttribute("role", "rowheader");
      if (!row) header.classList.add("removed");
      line.append(header);
      for (let x = 0; x < this.cols; x++) line.append(this.cell({ x, y }, refused, colours));
      return line;
    });
    this.root.replaceChildren(...lines);
    if (hadFocus) this.focusCursor();
  }

  /** @param {Map<string, {id: string, row: string}>} refused @param {number} y */
  ghostLabel(refused, y) {
    for (const [key, sold] of refused) if (cellOf(key).y === y) return `${sold.row} (removed)`;
    return null;
  }

  /**
   * @param {Cell} at
   * @param {Map<string, {id: string, row: string}>} refused
   * @param {Record<string, import("../shared/seatmap/drawing.js").Colours>} colours
   */
  cell(at, refused, colours) {
    const key = keyOf(at);
    const td = element("div", "grid-cell");
    td.setAttribute("role", "gridcell");
    td.dataset.cell = key;
    td.tabIndex = key === keyOf(this.cursor) ? 0 : -1;
    td.setAttribute("aria-selected", String(this.selected.has(key)));
    const found = seatAt(this.model, at);
    const row = this.model.rows.find((r) => r.y === at.y);
    let name;
    if (found) {
      const { seat } = found;
      const id = seatId(found.row, seat);
      td.dataset.id = id;
      td.dataset.type = seat.type;
      td.style.setProperty("--fill", colours[seat.type].fill);
      td.style.setProperty("--stroke", colours[seat.type].stroke);
      td.append(seatIcon(seat.accessible), element("span", "grid-number", String(seat.number)));
      const parts = [id, seat.type];
      if (seat.accessible) parts.push("wheelchair space");
      const partner = this.companionName(seat);
      if (partner) { parts.push(`companion of ${partner}`); td.classList.add("companion"); }
      name = parts.join(", ");
    } else {
      td.classList.add("empty");
      name = `${row ? `Row ${row.label}` : "Removed row"}, column ${at.x + 1}, empty`;
    }
    const sold = refused.get(key);
    if (sold) {
      td.classList.add("refused");
      name += `, sold seat ${sold.id} would disappear`;
    }
    td.setAttribute("aria-label", name);
    return td;
  }

  /** @param {import("./layout-model.js").EditorSeat} seat */
  companionName(seat) {
    if (seat.companionId !== null) return seat.companionId;
    if (seat.companionOf === null) return null;
    for (const row of this.model.rows) {
      const space = row.seats.find((s) => s.key === seat.companionOf);
      if (space) return seatId(row, space);
    }
    return null;
  }

  /** The cursor stays on the grid when rows go. */
  keepInside() {
    if (!this.lines.length) return;
    const y = this.lines.includes(this.cursor.y) ? this.cursor.y
      : this.lines.reduce((a, b) => (Math.abs(b - this.cursor.y) < Math.abs(a - this.cursor.y) ? b : a));
    this.cursor = { x: Math.min(this.cursor.x, this.cols - 1), y };
  }

  /** @returns {Cell[]} the selection, or the cursor's cell when nothing is selected */
  targets() {
    return this.selected.size ? [...this.selected].map(cellOf) : this.lines.length ? [this.cursor] : [];
  }

  /** @param {Cell[]} cells */
  select(cells) {
    this.selected = new Set(cells.map(keyOf));
    this.paintSelection();
  }

  clear() {
    this.select([]);
  }

  focusCursor() {
    /** @type {HTMLElement | null} */
    const cell = this.root.querySelector(`[data-cell="${keyOf(this.cursor)}"]`);
    cell?.focus();
  }

  /** @param {Cell} cell @param {boolean} focus */
  moveCursor(cell, focus) {
    const before = this.root.querySelector(`[data-cell="${keyOf(this.cursor)}"]`);
    if (before instanceof HTMLElement) before.tabIndex = -1;
    this.cursor = cell;
    /** @type {HTMLElement | null} */
    const after = this.root.querySelector(`[data-cell="${keyOf(cell)}"]`);
    if (after) {
      after.tabIndex = 0;
      if (focus) after.focus();
    }
    this.onSelect();
  }

  paintSelection() {
    for (const cell of this.root.querySelectorAll("[data-cell]")) {
      if (cell instanceof HTMLElement) {
        cell.setAttribute("aria-selected", String(this.selected.has(cell.dataset.cell)));
      }
    }
    this.onSelect();
  }

  /** Every cell of the rectangle between two cells (by line and column). @param {Cell} a @param {Cell} b */
  rectangle(a, b) {
    const [top, bottom] = [this.lines.indexOf(a.y), this.lines.indexOf(b.y)].sort((p, q) => p - q);
    const [left, right] = [a.x, b.x].sort((p, q) => p - q);
    /** @type {Cell[]} */
    const cells = [];
    for (let i = top; i <= bottom; i++) {
      for (let x = left; x <= right; x++) cells.push({ x, y: this.lines[i] });
    }
    return cells;
  }

  /** @param {EventTarget | null} target */
  cellAtTarget(target) {
    const cell = target instanceof Element ? target.closest("[data-cell]") : null;
    return cell instanceof HTMLElement ? cellOf(cell.dataset.cell) : null;
  }

  /** @param {PointerEvent} event */
  onPointerDown(event) {
    const cell = this.cellAtTarget(event.target);
    if (!cell || event.button !== 0) return;
    if (event.shiftKey) {
      this.select(this.rectangle(this.anchor, cell));
    } else if (event.ctrlKey || event.metaKey) {
      const key = keyOf(cell);
      if (this.selected.has(key)) this.selected.delete(key); else this.selected.add(key);
      this.anchor = cell;
      this.paintSelection();
    } else {
      this.anchor = cell;
      this.dragging = event.pointerType === "mouse";
      this.select([cell]);
    }
    this.moveCursor(cell, true);
    event.preventDefault(); // no text selection while dragging
  }

  /** @param {PointerEvent} event */
  onPointerMove(event) {
    if (!this.dragging) return;
    const cell = this.cellAtTarget(document.elementFromPoint(event.clientX, event.clientY));
    if (cell && keyOf(cell) !== keyOf(this.cursor)) {
      this.select(this.rectangle(this.anchor, cell));
      this.moveCursor(cell, true);
    }
  }

  /** @param {KeyboardEvent} event */
  onKey(event) {
    if (event.altKey || event.metaKey) return;
    const moved = this.step(event.key, event.ctrlKey);
    if (moved) {
      event.preventDefault();
      this.moveCursor(moved, true);
      if (event.shiftKey) this.select(this.rectangle(this.anchor, moved));
      else this.anchor = moved;
      return;
    }
    if (event.key === " " && !event.ctrlKey) {
      event.preventDefault();
      const key = keyOf(this.cursor);
      if (this.selected.has(key)) this.selected.delete(key); else this.selected.add(key);
      this.anchor = this.cursor;
      this.paintSelection();
    } else if (event.key === "Escape" && this.selected.size) {
      event.preventDefault();
      this.clear();
    } else if (event.key.toLowerCase() === "a" && event.ctrlKey && !event.shiftKey) {
      event.preventDefault();
      this.select(this.model.rows.flatMap((r) => r.seats.map((s) => ({ x: s.x, y: r.y }))));
    } else if (this.onShortcut(event)) {
      event.preventDefault();
    }
  }

  /** The cell a key moves the cursor to; null if not a move key. @param {string} key @param {boolean} ctrl */
  step(key, ctrl) {
    const { x, y } = this.cursor;
    const line = this.lines.indexOf(y);
    switch (key) {
      case "ArrowLeft": return { x: Math.max(0, x - 1), y };
      case "ArrowRight": return { x: Math.min(this.cols - 1, x + 1), y };
      case "ArrowUp": return { x, y: this.lines[Math.max(0, line - 1)] };
      case "ArrowDown": return { x, y: this.lines[Math.min(this.lines.length - 1, line + 1)] };
      case "Home": return ctrl ? { x: 0, y: this.lines[0] } : { x: 0, y };
      case "End": return ctrl ? { x: this.cols - 1, y: this.lines.at(-1) } : { x: this.cols - 1, y };
      default: return null;
    }
  }
}
