// @ts-check
// The orphan rule in the page, over the board's live state: which seats a
// hold would leave alone, and the nearest arrangement that leaves none.
//
// The server decides (holds/lua/_seating.lua, docs/protocol.md); the page
// mirrors its rule only to explain a `would_orphan` refusal and to offer,
// as one button, seats the server will accept. Same definitions: a row is a
// layout `y`, a run its seats between aisles, gaps or row ends (neighbouring
// grid cells); taken = held by anyone (ours included, and ours on their way)
// or booked; only lone seats the hold makes count, and only where some other
// choice of as many free seats in that row would make none.

import { bySeat } from "./board.js";

/** @typedef {import("./board.js").Seat} Seat */
/** @typedef {import("./board.js").SeatBoard} SeatBoard */

/**
 * Every row's runs, left to right: seats in neighbouring grid cells.
 * @param {Iterable<Seat>} seats
 * @returns {Map<number, Seat[][]>} y -> runs
 */
export function rowRuns(seats) {
  /** @type {Map<number, Seat[][]>} */
  const rows = new Map();
  for (const seat of [...seats].sort(bySeat)) {
    const runs = rows.get(seat.y) ?? [];
    const run = runs.at(-1);
    if (run && seat.x === run.at(-1).x + 1) run.push(seat);
    else runs.push([seat]);
    rows.set(seat.y, runs);
  }
  return rows;
}

export class SeatingRule {
  /** @param {SeatBoard} board */
  constructor(board) {
    this.board = board;
    this.rows = rowRuns(board.seats.values());
    /** @type {Map<string, {run: Seat[], at: number}>} */
    this.place = new Map();
    for (const runs of this.rows.values()) {
      for (const run of runs) run.forEach((seat, at) => this.place.set(seat.id, { run, at }));
    }
  }

  /** Held by anyone (ours too, and ours being held) or sold. @param {string} id */
  taken(id) {
    // A release on its way still holds the seat, as far as the server knows.
    return this.board.pending.get(id)?.op === "hold" || this.board.mine.has(id)
      || this.board.server.get(id) !== "free";
  }

  /**
   * The seats taking `ids` would leave alone, by the server's rule (row and
   * run order).
   * @param {string[]} ids
   * @returns {string[]}
   */
  loneSeats(ids) {
    const adding = new Set(ids);
    const busy = (/** @type {Seat | undefined} */ seat) =>
      !seat || adding.has(seat.id) || this.taken(seat.id);
    /** @type {Map<number, Set<string>>} */
    const found = new Map();
    /** @type {Map<number, number>} */
    const count = new Map();
    for (const id of adding) {
      const place = this.place.get(id);
      if (!place) continue;
      const { run, at } = place;
      const y = run[at].y;
      count.set(y, (count.get(y) ?? 0) + 1);
      for (const [near, far] of [[run[at - 1], run[at - 2]], [run[at + 1], run[at + 2]]]) {
        if (near && !busy(near) && busy(far)) {
          const lone = found.get(y) ?? new Set();
          found.set(y, lone.add(near.id));
        }
      }
    }
    const lone = [];
    for (const [y, seats] of found) {
      if (this.avoidable(y, adding, count.get(y))) lone.push(...seats);
    }
    return lone.map((id) => this.board.seats.get(id)).sort(bySeat).map((seat) => seat.id);
  }

  /**
   * Whether `k` free seats of row `y` can be taken leaving no new lone seat
   * (the state before: `adding` counts as free). A stretch of L free seats
   * gives j of them cleanly unless L - j == 1 (and L >= 2).
   * @param {number} y
   * @param {Set<string>} adding
   * @param {number} k
   */
  avoidable(y, adding, k) {
    let reach = new Set([0]);
    const stretch = (/** @type {number} */ len) => {
      if (len === 0) return;
      const next = new Set();
      for (const sum of reach) {
        for (let j = 0; j <= Math.min(len, k - sum); j++) {
          if (len < 2 || j !== len - 1) next.add(sum + j);
        }
      }
      reach = next;
    };
    for (const run of this.rows.get(y) ?? []) {
      let len = 0;
      for (const seat of run) {
        if (this.taken(seat.id) && !adding.has(seat.id)) {
          stretch(len);
          len = 0;
        } else {
          len += 1;
        }
      }
      stretch(len);
    }
    return reach.has(k);
  }

  /** Free, on sale and not ours: what a hold may take. @param {string} id */
  holdable(id) {
    return this.board.look(id) === "available";
  }

  /**
   * Arrangements near `wanted` (seats refused `would_orphan`) that the rule
   * lets through, best first: the wanted seats with the lone ones added (the
   * same seats kept), then as many seats moved along the run, one place at a
   * time outwards. At most `limit`.
   * @param {string[]} wanted
   * @param {string[]} lone the refusal's seats
   * @param {number} [limit]
   * @returns {string[][]}
   */
  alternatives(wanted, lone, limit = 2) {
    /** @type {string[][]} */
    const found = [];
    const seen = new Set();
    const offer = (/** @type {string[]} */ ids) => {
      const key = [...ids].sort().join(",");
      if (seen.has(key) || found.length >= limit) return;
      seen.add(key);
      if (ids.every((id) => this.holdable(id)) && this.loneSeats(ids).length === 0) {
        found.push(this.ordered(ids));
      }
    };
    offer([...new Set([...wanted, ...lone])]);
    const places = wanted.map((id) => this.place.get(id)).filter(Boolean);
    // One block in one run: slide it. (A scattered choice gets only the first offer.)
    if (places.length === wanted.length && places.every((p) => p.run === places[0].run)) {
      const run = places[0].run;
      const ats = places.map((p) => p.at).sort((a, b) => a - b);
      for (let shift = 1; shift < run.length; shift++) {
        for (const by of [-shift, shift]) {
          const moved = ats.map((at) => run[at + by]);
          if (moved.every(Boolean)) offer(moved.map((seat) => seat.id));
        }
      }
    }
    return found;
  }

  /** @param {string[]} ids @returns {string[]} */
  ordered(ids) {
    return ids.map((id) => this.board.seats.get(id)).sort(bySeat).map((seat) => seat.id);
  }
}
