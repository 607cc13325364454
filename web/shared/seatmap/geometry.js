// @ts-check
// Where seats go: a layout's seats on a grid of cells by their x/y, for the
// picker's button grid and the kiosk's SVG alike. Aisles and gaps are simply
// cells no seat has.

import { bySeat } from "./board.js";

/** @typedef {import("./board.js").Seat} Seat */

/**
 * @typedef {object} Grid
 * @property {Seat[]} seats every seat, in row and number order
 * @property {Map<number, Seat[]>} rows y -> the seats along that row, by x
 * @property {number[]} ys the rows' y, front (lowest) first
 * @property {number} cols cells across, from the leftmost seat to the rightmost
 * @property {number} depth cells from the first row to the last
 * @property {(seat: Seat) => number} column a seat's cell across, from 0
 * @property {(seat: Seat) => number} line a seat's row of cells, from 0
 */

/**
 * The grid of a layout's seats (at least one).
 * @param {Iterable<Seat>} layout
 * @returns {Grid}
 */
export function seatGrid(layout) {
  const seats = [...layout].sort(bySeat);
  const xs = seats.map((s) => s.x);
  const ys = seats.map((s) => s.y);
  const minX = Math.min(...xs);
  const minY = Math.min(...ys);
  /** @type {Map<number, Seat[]>} */
  const rows = new Map();
  for (const seat of seats) {
    const row = rows.get(seat.y);
    if (row) row.push(seat);
    else rows.set(seat.y, [seat]);
  }
  return {
    seats,
    rows,
    ys: [...rows.keys()].sort((a, b) => a - b),
    cols: Math.max(...xs) - minX + 1,
    depth: Math.max(...ys) - minY + 1,
    column: (seat) => seat.x - minX,
    line: (seat) => seat.y - minY,
  };
}
