// @ts-check
// The seat-layout editor's model, without any DOM: a layout as rows of seats
// at grid cells, read from and written to the layout JSON the admin API takes
// (docs/catalog.md), and the edits the editor offers, each a pure function
// from one model to the next (the editor's undo history keeps them all).
//
// Seats get a `key` that survives every edit, so a companion seat's link to
// its wheelchair space follows renames, renumbering and moves; the JSON's
// `companion_of` id is written from it. The server validates the result: the
// checks here only keep the editor's own fields (row labels, seat numbers)
// to the forms the server takes, and say what is wrong in words.

/** Labels and numbers as the server's layout model takes them (layouts.py). */
const ROW_LABEL = /^[A-Za-z0-9]{1,4}$/;
const SEAT_NUMBER = /^[0-9]{1,3}$/;
export const MAX_COLUMN = 499;
export const MAX_ROWS = 100;
export const DEFAULT_TYPES = ["silver", "gold", "vip"];

/**
 * @typedef {object} EditorSeat
 * @property {number} key stable across edits
 * @property {number} x
 * @property {number} number
 * @property {string} type
 * @property {string | null} id an explicit id from the JSON (null: row + number)
 * @property {boolean} accessible
 * @property {number | null} companionOf the key of its wheelchair space
 * @property {string | null} companionId a `companion_of` naming no seat here (kept as written)
 */
/** @typedef {{label: string, y: number, seats: EditorSeat[]}} EditorRow */
/** @typedef {{screen: "top" | "bottom", rows: EditorRow[], next: number}} Model */
/** @typedef {{x: number, y: number}} Cell */

export class LayoutShapeError extends Error {}

/** @returns {Model} */
export function emptyModel() {
  return { screen: "top", rows: [], next: 1 };
}

/**
 * Does what it says in words, or null: a row label as the server takes it.
 * @param {string} text
 */
export function labelProblem(text) {
  if (text.length === 0) return "A row needs a label.";
  if (ROW_LABEL.test(text)) return null;
  if (text.length > 4) return "A row label has at most 4 characters.";
  return "A row label is 1 to 4 letters (A to Z) or digits (0 to 9), without spaces, accents or other signs.";
}

/**
 * The seat number `text` says (1–999, digits 0–9 only), or a message.
 * @param {string} text
 * @returns {{number: number} | {problem: string}}
 */
export function parseSeatNumber(text) {
  const trimmed = text.trim();
  if (!SEAT_NUMBER.test(trimmed)) {
    return { problem: trimmed.length > 3 && /^[0-9]+$/.test(trimmed)
      ? "Seat numbers go up to 999." : "A seat number is 1 to 999, in digits 0 to 9." };
  }
  const number = Number(trimmed);
  return number >= 1 ? { number } : { problem: "Seat numbers start at 1." };
}

/**
 * The model of a layout document, placed as the server places it (a seat's
 * x is given or the cell after the previous item; a row's y is given or its
 * index). Throws LayoutShapeError for JSON that cannot be drawn.
 * @param {any} layout
 * @returns {Model}
 */
export function fromLayout(layout) {
  if (typeof layout !== "object" || layout === null || Array.isArray(layout)) {
    throw new LayoutShapeError("the layout is a JSON object with \"rows\"");
  }
  const rows = layout.rows ?? [];
  if (!Array.isArray(rows)) throw new LayoutShapeError("\"rows\" is a list of rows");
  if (rows.length > MAX_ROWS) throw new LayoutShapeError(`at most ${MAX_ROWS} rows`);
  const model = emptyModel();
  model.screen = layout.screen === "bottom" ? "bottom" : "top";
  /** @type {[EditorSeat, string][]} */
  const links = [];
  rows.forEach((row, index) => {
    if (typeof row !== "object" || row === null || typeof row.row !== "string") {
      throw new LayoutShapeError(`row #${index + 1} has no label ("row")`);
    }
    const y = Number.isInteger(row.y) && row.y >= 0 ? row.y : index;
    /** @type {EditorRow} */
    const line = { label: row.row, y, seats: [] };
    let x = 0;
    for (const item of Array.isArray(row.seats) ? row.seats : []) {
      if (Number.isInteger(item?.gap) && item.gap > 0) {
        x += item.gap;
        continue;
      }
      if (!Number.isInteger(item?.number)) {
        throw new LayoutShapeError(`row ${shortLabel(row.row)}: a seat has no whole "number"`);
      }
      if (Number.isInteger(item.x) && item.x >= 0) x = item.x;
      if (x > MAX_COLUMN) throw new LayoutShapeError(`row ${shortLabel(row.row)}: past column ${MAX_COLUMN}`);
      const seat = {
        key: model.next++, x, number: item.number,
        type: typeof item.type === "string" ? item.type : "silver",
        id: typeof item.id === "string" ? item.id : null, accessible: item.accessible === true,
        companionOf: null, companionId: null,
      };
      if (typeof item.companion_of === "string") links.push([seat, item.companion_of]);
      line.seats.push(seat);
      x += 1;
    }
    line.seats.sort((a, b) => a.x - b.x);
    model.rows.push(line);
  });
  const byId = new Map(placed(model).map((p) => [p.id, p.key]));
  for (const [seat, id] of links) {
    if (byId.has(id)) seat.companionOf = byId.get(id);
    else seat.companionId = id;
  }
  return model;
}

/** A label fit to quote in a message: hostile ones are cut short. @param {string} label */
function shortLabel(label) {
  const clean = label.replace(/[^\x20-\x7e]/g, "?");
  return clean.length > 8 ? `${clean.slice(0, 8)}…` : clean;
}

/**
 * @param {EditorRow} row
 * @param {EditorSeat} seat
 */
export function seatId(row, seat) {
  return seat.id ?? `${row.label}${seat.number}`;
}

/**
 * Every seat with its id and cell, as the seat map lists them (the preview
 * draws these; `price` null: a plan has none).
 * @param {Model} model
 */
export function placed(model) {
  return model.rows.flatMap((row) => row.seats.map((seat) => ({
    key: seat.key, id: seatId(row, seat), row: row.label, number: seat.number, type: seat.type,
    x: seat.x, y: row.y, accessible: seat.accessible, companion_of: null, price: null,
  })));
}

/**
 * The layout document of a model: rows by line, seats left to right with
 * gaps between them, `y` only where a row is not on its index's line.
 * @param {Model} model
 */
export function toLayout(model) {
  const ids = new Map(placed(model).map((p) => [p.key, p.id]));
  const rows = [...model.rows].sort((a, b) => a.y - b.y);
  return {
    screen: model.screen,
    rows: rows.map((row, index) => {
      /** @type {object[]} */
      const items = [];
      let x = 0;
      for (const seat of row.seats) {
        if (seat.x > x) items.push({ gap: seat.x - x });
        /** @type {Record<string, unknown>} */
        const item = { number: seat.number, type: seat.type };
        if (seat.id !== null) item.id = seat.id;
        if (seat.accessible) item.accessible = true;
        const companion = seat.companionOf !== null ? ids.get(seat.companionOf) : seat.companionId;
        if (companion) item.companion_of = companion;
        items.push(item);
        x = seat.x + 1;
      }
      return row.y === index ? { row: row.label, seats: items } : { row: row.label, y: row.y, seats: items };
    }),
  };
}

// -- edits: each returns a new model, or throws an Error saying why not -------

/** @param {Model} model @returns {Model} */
function copy(model) {
  return structuredClone(model);
}

/** @param {Model} model @param {number} y */
function rowAt(model, y) {
  return model.rows.find((r) => r.y === y) ?? null;
}

/**
 * The seat at a cell, with its row.
 * @param {Model} model
 * @param {Cell} cell
 */
export function seatAt(model, { x, y }) {
  const row = rowAt(model, y);
  const seat = row?.seats.find((s) => s.x === x) ?? null;
  return seat ? { row, seat } : null;
}

/**
 * A new row of `count` seats numbered 1 up, left to right, behind the last row.
 * @param {Model} model
 * @param {{label: string, count: number, type: string}} row
 */
export function addRow(model, { label, count, type }) {
  const problem = labelProblem(label);
  if (problem) throw new Error(problem);
  if (model.rows.some((r) => r.label === label)) throw new Error(`There is already a row ${label}.`);
  if (!Number.isInteger(count) || count < 1 || count > 400) throw new Error("A new row has 1 to 400 seats.");
  if (model.rows.length >= MAX_ROWS) throw new Error(`A layout has at most ${MAX_ROWS} rows.`);
  const next = copy(model);
  const y = next.rows.length ? Math.max(...next.rows.map((r) => r.y)) + 1 : 0;
  const seats = Array.from({ length: count }, (_, x) => ({
    key: next.next++, x, number: x + 1, type, id: null, accessible: false, companionOf: null, companionId: null,
  }));
  next.rows.push({ label, y, seats });
  return next;
}

/**
 * @param {Model} model
 * @param {Cell[]} cells
 * @param {(row: EditorRow, seat: EditorSeat, model: Model) => void} change
 */
function eachSeat(model, cells, change) {
  const next = copy(model);
  let count = 0;
  for (const cell of cells) {
    const found = seatAt(next, cell);
    if (found) { change(found.row, found.seat, next); count += 1; }
  }
  if (!count) throw new Error("Select one or more seats first.");
  return next;
}

/** @param {Model} model @param {Cell[]} cells @param {string} type */
export function setType(model, cells, type) {
  return eachSeat(model, cells, (_, seat) => { seat.type = type; });
}

/**
 * Make the selected seats wheelchair spaces, or ordinary seats again when
 * they all are; seats accompanying a space that stops being one are freed.
 * @param {Model} model
 * @param {Cell[]} cells
 */
export function toggleWheelchair(model, cells) {
  const seats = cells.map((c) => seatAt(model, c)).filter(Boolean);
  const on = !seats.every((s) => s.seat.accessible);
  const next = eachSeat(model, cells, (_, seat) => {
    seat.accessible = on;
    if (on) { seat.companionOf = null; seat.companionId = null; }
  });
  return on ? next : unlinkOrphans(next);
}

/** Companions whose wheelchair space is gone or no longer one. @param {Model} model */
function unlinkOrphans(model) {
  const spaces = new Set(model.rows.flatMap((r) => r.seats.filter((s) => s.accessible).map((s) => s.key)));
  for (const row of model.rows) {
    for (const seat of row.seats) {
      if (seat.companionOf !== null && !spaces.has(seat.companionOf)) seat.companionOf = null;
    }
  }
  return model;
}

/**
 * Make each selected seat the companion seat of the wheelchair space right
 * beside it (or stop being one, when it already is).
 * @param {Model} model
 * @param {Cell[]} cells
 */
export function toggleCompanion(model, cells) {
  return eachSeat(model, cells, (row, seat) => {
    if (seat.companionOf !== null || seat.companionId !== null) {
      seat.companionOf = null;
      seat.companionId = null;
      return;
    }
    const space = row.seats.find((s) => s.accessible && Math.abs(s.x - seat.x) === 1);
    if (seat.accessible || !space) {
      throw new Error(`${seatId(row, seat)} is not right beside a wheelchair space: `
        + "mark the space first, then the seat next to it.");
    }
    seat.companionOf = space.key;
  });
}

/** @param {Model} model @param {Cell[]} cells */
export function removeSeats(model, cells) {
  const next = eachSeat(model, cells, (row, seat) => {
    row.seats = row.seats.filter((s) => s !== seat);
  });
  next.rows = next.rows.filter((r) => r.seats.length > 0);
  return unlinkOrphans(next);
}

/**
 * Seats in the selected empty cells of existing rows, numbered on from the
 * row's highest number (renumber after, to taste).
 * @param {Model} model
 * @param {Cell[]} cells
 * @param {string} type
 */
export function addSeats(model, cells, type) {
  const next = copy(model);
  let count = 0;
  for (const cell of [...cells].sort((a, b) => a.y - b.y || a.x - b.x)) {
    const row = rowAt(next, cell.y);
    if (!row || row.seats.some((s) => s.x === cell.x) || cell.x > MAX_COLUMN) continue;
    const number = Math.max(0, ...row.seats.map((s) => s.number)) + 1;
    if (number > 999) throw new Error(`Row ${row.label} has no seat number left (999 is the last).`);
    row.seats.push({ key: next.next++, x: cell.x, number, type, id: null, accessible: false,
      companionOf: null, companionId: null });
    row.seats.sort((a, b) => a.x - b.x);
    count += 1;
  }
  if (!count) throw new Error("Select empty cells of a row to put seats in.");
  return next;
}

/**
 * An aisle: one empty column before the leftmost selected cell, in every row
 * (`allRows`) or in the selected rows only (a gap); seats from there move right.
 * @param {Model} model
 * @param {Cell[]} cells
 * @param {boolean} allRows
 */
export function insertGap(model, cells, allRows) {
  if (!cells.length) throw new Error("Select where the gap goes first.");
  const at = Math.min(...cells.map((c) => c.x));
  const ys = new Set(cells.map((c) => c.y));
  const next = copy(model);
  for (const row of next.rows) {
    if (!allRows && !ys.has(row.y)) continue;
    for (const seat of row.seats) {
      if (seat.x >= at) seat.x += 1;
      if (seat.x > MAX_COLUMN) throw new Error(`Row ${row.label} would pass the last column, ${MAX_COLUMN}.`);
    }
  }
  return next;
}

/**
 * Take out the empty column at the leftmost selected cell (in the selected
 * rows, or all): seats right of it move left. Refused where it is not empty.
 * @param {Model} model
 * @param {Cell[]} cells
 * @param {boolean} allRows
 */
export function removeGap(model, cells, allRows) {
  if (!cells.length) throw new Error("Select the gap to close first.");
  const at = Math.min(...cells.map((c) => c.x));
  const ys = new Set(cells.map((c) => c.y));
  const next = copy(model);
  for (const row of next.rows) {
    if (!allRows && !ys.has(row.y)) continue;
    const there = row.seats.find((s) => s.x === at);
    if (there) throw new Error(`Column ${at + 1} is not empty in row ${row.label} (seat ${seatId(row, there)}).`);
    for (const seat of row.seats) if (seat.x > at) seat.x -= 1;
  }
  return next;
}

/**
 * @param {Model} model
 * @param {number} y the row's line
 * @param {string} label
 */
export function renameRow(model, y, label) {
  const problem = labelProblem(label);
  if (problem) throw new Error(problem);
  const next = copy(model);
  const row = rowAt(next, y);
  if (!row) throw new Error("Select a seat of the row to rename first.");
  if (next.rows.some((r) => r !== row && r.label === label)) throw new Error(`There is already a row ${label}.`);
  row.label = label;
  return next;
}

/**
 * Number the seats of the rows the cells are in from `from`, left to right
 * or right to left.
 * @param {Model} model
 * @param {Cell[]} cells
 * @param {number} from
 * @param {"ltr" | "rtl"} direction
 */
export function renumber(model, cells, from, direction) {
  const ys = new Set(cells.map((c) => c.y));
  const next = copy(model);
  const rows = next.rows.filter((r) => ys.has(r.y));
  if (!rows.length) throw new Error("Select a seat of each row to renumber first.");
  for (const row of rows) {
    const seats = direction === "rtl" ? [...row.seats].reverse() : row.seats;
    if (from + seats.length - 1 > 999) throw new Error(`Row ${row.label}: seat numbers go up to 999.`);
    seats.forEach((seat, i) => { seat.number = from + i; });
  }
  return next;
}

/** @param {Model} model @param {Cell[]} cells */
export function deleteRows(model, cells) {
  const ys = new Set(cells.map((c) => c.y));
  if (!model.rows.some((r) => ys.has(r.y))) throw new Error("Select a seat of each row to delete first.");
  const next = copy(model);
  next.rows = next.rows.filter((r) => !ys.has(r.y));
  return unlinkOrphans(next);
}

/** @param {Model} model @param {"top" | "bottom"} screen */
export function setScreen(model, screen) {
  return { ...copy(model), screen };
}

/**
 * The seat types to offer: the usual ones and any the layout uses.
 * @param {Model} model
 */
export function typesOf(model) {
  const types = new Set(DEFAULT_TYPES);
  for (const row of model.rows) for (const seat of row.seats) types.add(seat.type);
  return [...types];
}

/** Undo and redo over models: each edit pushes the model it made. */
export class History {
  /** @param {Model} model */
  constructor(model) {
    /** @type {Model[]} */
    this.past = [];
    /** @type {Model[]} */
    this.future = [];
    this.current = model;
  }

  /** @param {Model} model */
  push(model) {
    this.past.push(this.current);
    if (this.past.length > 200) this.past.shift();
    this.future = [];
    this.current = model;
  }

  /** Start again from `model` (another screen loaded): nothing to undo. @param {Model} model */
  reset(model) {
    this.past = [];
    this.future = [];
    this.current = model;
  }

  undo() {
    if (!this.past.length) return false;
    this.future.push(this.current);
    this.current = this.past.pop();
    return true;
  }

  redo() {
    if (!this.future.length) return false;
    this.past.push(this.current);
    this.current = this.future.pop();
    return true;
  }
}
