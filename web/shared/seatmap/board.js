// @ts-check
// SeatBoard: what a page knows about every seat of a showtime, without any DOM.
//
// Three sources, kept apart so that each can be corrected on its own:
//   server  - free/held/booked as the room's snapshot and updates say;
//   mine    - seats we hold, learnt from hold acks and the snapshot's `mine`;
//   pending - our holds and releases still waiting for their ack.
// What a seat shows is derived from them (`look`): pending beats mine beats
// the server's state.
//
// The one subtle case: an ack is sent directly while the update it causes
// travels through the room's event stream, so older updates of a seat may
// still arrive after our hold was acked (say the previous holder's hold and
// expiry, read by the feed a moment late). The ack carries the stream offset
// of our hold (docs/protocol.md): until the board has applied an update at or
// past it, what updates say about that seat is from before our hold and does
// not take it from us. Offsets compare within one stream epoch only, so an
// ack of another epoch than the board's protects nothing: the snapshot of the
// new epoch says what we hold.
//
// Deadlines: snapshots and updates carry every held seat's hold deadline
// (`expires`, docs/protocol.md), ours and other people's; `deadlines` keeps
// them for seats held by others ("frees in m:ss"), our own holds keep theirs.

import { isAfter, parseOffset } from "../offsets.js";

/** @typedef {import("../offsets.js").Position} Position */
/** @typedef {"free" | "held" | "booked" | "blocked"} SeatState */
/** @typedef {"available" | "held" | "booked" | "bought" | "mine" | "pending" | "blocked"} Look */
/** @typedef {"hold" | "release" | "expire" | "book" | "cancel" | "block" | "unblock"} Reason */
/**
 * A seat of the layout, as GET /api/showtimes/{id} lists it.
 * @typedef {object} Seat
 * @property {string} id
 * @property {string} row
 * @property {number} number
 * @property {string} type
 * @property {number} x
 * @property {number} y
 * @property {boolean} accessible
 * @property {string | null} [companion_of] the wheelchair space it accompanies
 * @property {{amount: number, currency: string} | null} price
 */
/**
 * @typedef {object} Snapshot
 * @property {string} offset
 * @property {string} [epoch]
 * @property {string[]} held
 * @property {string[]} booked
 * @property {Record<string, number>} mine seat id -> hold deadline (server clock, ms)
 * @property {Record<string, number>} [expires] every held seat -> its deadline
 * @property {string[]} [blocked] seats kept off online sale (house seats, press, broken)
 */
/**
 * @typedef {object} Update
 * @property {string} offset
 * @property {string} [epoch]
 * @property {Record<string, SeatState>} seats
 * @property {Record<string, Reason>} [reasons]
 * @property {Record<string, number>} [expires] seats left held -> their deadline
 */
/**
 * One of our holds: its deadline, and the stream position of the hold while
 * the board has not reached it (null once reached, or when the ack gave none).
 * @typedef {{expiresAt: number, at: Position | null}} Hold
 */

/** @type {Look[]} */
export const LOOKS = ["available", "held", "booked", "bought", "mine", "pending", "blocked"];

export class SeatBoard {
  /** @param {Seat[]} seats the `seats` of GET /api/showtimes/{id} */
  constructor(seats) {
    /** @type {Map<string, Seat>} */
    this.seats = new Map(seats.map((seat) => [seat.id, seat]));
    /** @type {Map<string, SeatState>} */
    this.server = new Map();
    for (const id of this.seats.keys()) this.server.set(id, "free");
    /** @type {Map<string, Hold>} */
    this.mine = new Map();
    /** @type {Map<string, {op: "hold" | "release"}>} */
    this.pending = new Map();
    /** @type {Position | null} the last snapshot's or update's offset */
    this.position = null;
    /** @type {string | null} the stream epoch of `position` */
    this.epoch = null;
    /** @type {Map<string, number>} held seat -> its hold's deadline (server clock, ms) */
    this.deadlines = new Map();
    /** @type {Set<string>} seats this buyer has booked (their bookings, not the room) */
    this.bought = new Set();
  }

  /**
   * The seats this buyer's bookings hold: shown as theirs while the room says
   * booked. Returns the seats that may look different.
   * @param {Iterable<string>} ids
   * @returns {Set<string>}
   */
  setBought(ids) {
    const bought = new Set([...ids].filter((id) => this.seats.has(id)));
    const changed = new Set([...this.bought, ...bought]);
    this.bought = bought;
    return changed;
  }

  /**
   * @param {string} id
   * @returns {Look}
   */
  look(id) {
    if (this.pending.has(id)) return "pending";
    if (this.mine.has(id)) return "mine";
    const state = this.server.get(id);
    if (state === "free") return this.seats.get(id)?.price ? "available" : "blocked";
    if (state === "booked" && this.bought.has(id)) return "bought";
    return state ?? "blocked";
  }

  /**
   * Replace everything the server told us. Returns the seats whose state may
   * have changed, and those that were ours and no longer are.
   * @param {Snapshot} frame
   * @returns {{changed: Set<string>, lost: string[]}}
   */
  applySnapshot(frame) {
    const epoch = frame.epoch ?? null;
    if (epoch !== this.epoch) {
      // Positions of another epoch say nothing about this one.
      for (const hold of this.mine.values()) hold.at = null;
    }
    this.epoch = epoch;
    this.position = parseOffset(frame.offset);
    /** @type {Set<string>} */
    const changed = new Set();
    const held = new Set(frame.held);
    const booked = new Set(frame.booked);
    const blocked = new Set(frame.blocked ?? []);
    for (const [id, before] of this.server) {
      /** @type {SeatState} */
      const after = booked.has(id) ? "booked" : held.has(id) ? "held"
        : blocked.has(id) ? "blocked" : "free";
      if (after !== before) {
        this.server.set(id, after);
        changed.add(id);
      }
    }
    /** @type {Map<string, Hold>} */
    const mine = new Map();
    // A snapshot older than a hold we were granted cannot know of it yet.
    for (const [id, hold] of this.mine) {
      if (this.notReached(hold)) mine.set(id, hold);
    }
    for (const [id, expiresAt] of Object.entries(frame.mine)) {
      if (this.seats.has(id)) mine.set(id, { expiresAt, at: null });
    }
    const lost = [];
    for (const id of this.mine.keys()) {
      if (!mine.has(id) && !this.pending.has(id)) lost.push(id);
    }
    for (const id of new Set([...this.mine.keys(), ...mine.keys()])) changed.add(id);
    this.mine = mine;
    this.deadlines = new Map(Object.entries(frame.expires ?? {})
      .filter(([id]) => this.server.get(id) === "held"));
    return { changed, lost };
  }

  /**
   * Apply one update. Returns the seats that may look different, ours that
   * ended (with why), and how many changes other people made.
   * @param {Update} frame
   * @returns {{changed: Set<string>, lost: {id: string, reason: Reason | undefined}[],
   *   others: number}}
   */
  applyUpdate(frame) {
    this.position = parseOffset(frame.offset) ?? this.position;
    this.epoch ??= frame.epoch ?? null; // resumed without a snapshot: learn it
    /** @type {Set<string>} */
    const changed = new Set();
    const lost = [];
    let others = 0;
    for (const [id, state] of Object.entries(frame.seats)) {
      if (!this.seats.has(id)) continue;
      const reason = frame.reasons?.[id];
      const before = this.look(id);
      this.server.set(id, state);
      const deadline = frame.expires?.[id];
      if (state !== "held") this.deadlines.delete(id);
      else if (deadline !== undefined) this.deadlines.set(id, deadline);
      const ours = this.mine.get(id);
      const pending = this.pending.get(id);
      if (ours && !this.notReached(ours)) {
        ours.at = null;
        // Our hold moved (an extension or a re-hold, maybe from another tab).
        if (state === "held" && deadline !== undefined) ours.expiresAt = deadline;
        if (state !== "held") {
          this.mine.delete(id);
          if (!pending) lost.push({ id, reason });
        }
      }
      if (!ours && !pending) others += 1;
      if (this.look(id) !== before) changed.add(id);
    }
    return { changed, lost, others };
  }

  /**
   * Whether the board has yet to apply the stream entry of this hold.
   * @param {Hold} hold
   */
  notReached(hold) {
    return hold.at !== null && (this.position === null || isAfter(hold.at, this.position));
  }

  /** @param {string} id */
  beginHold(id) {
    this.pending.set(id, { op: "hold" });
  }

  /**
   * Our hold was granted, at the stream entry `offset` of stream `epoch` (as
   * the ack says).
   * @param {string} id
   * @param {number} expiresAt
   * @param {string} [offset]
   * @param {string} [epoch]
   */
  holdAccepted(id, expiresAt, offset, epoch) {
    this.pending.delete(id);
    const sameEpoch = epoch === undefined || epoch === this.epoch;
    const at = sameEpoch ? parseOffset(offset) : null;
    const hold = { expiresAt, at };
    if (at !== null && !this.notReached(hold) && this.server.get(id) !== "held") {
      return; // the board has already seen this hold end
    }
    this.mine.set(id, hold);
    this.server.set(id, "held");
  }

  /**
   * Our holds were extended: each seat's new deadline, as the ack lists them.
   * @param {Record<string, number>} deadlines
   */
  extended(deadlines) {
    for (const [id, expiresAt] of Object.entries(deadlines)) {
      const hold = this.mine.get(id);
      if (hold) hold.expiresAt = expiresAt;
      this.deadlines.set(id, expiresAt);
    }
  }

  /**
   * When the hold on a seat held by someone else lapses (server clock, ms),
   * unless it is extended or booked first; null when not known.
   * @param {string} id
   * @returns {number | null}
   */
  freesAt(id) {
    if (this.look(id) !== "held") return null;
    return this.deadlines.get(id) ?? null;
  }

  /**
   * How many seats held by others have holds that lapse by `until` (server
   * clock, ms): seats that may free by then.
   * @param {number} until
   */
  freeingBy(until) {
    let count = 0;
    for (const [id, deadline] of this.deadlines) {
      if (deadline <= until && this.look(id) === "held") count += 1;
    }
    return count;
  }

  /** @param {string} id */
  beginRelease(id) {
    this.pending.set(id, { op: "release" });
  }

  /** @param {string} id */
  releaseAccepted(id) {
    this.pending.delete(id);
    this.mine.delete(id);
    // The "free" update may still be on its way; it will say the same.
    if (this.server.get(id) === "held") this.server.set(id, "free");
  }

  /**
   * A command failed or its outcome is unknown: forget that it was sent.
   * @param {string} id
   */
  abandon(id) {
    this.pending.delete(id);
  }

  /**
   * Our seats and seats being held for us, in row and number order.
   * @returns {Seat[]}
   */
  basket() {
    const ids = [...this.mine.keys()];
    for (const [id, pending] of this.pending) {
      if (pending.op === "hold") ids.push(id);
    }
    return ids.flatMap((id) => this.seats.get(id) ?? []).sort(bySeat);
  }

  /** @returns {Record<Look, number>} */
  counts() {
    const counts = {
      available: 0, held: 0, booked: 0, bought: 0, mine: 0, pending: 0, blocked: 0,
    };
    for (const id of this.seats.keys()) counts[this.look(id)] += 1;
    return counts;
  }

  /**
   * The soonest deadline of our holds (server clock, ms), or null.
   * @returns {number | null}
   */
  earliestExpiry() {
    let earliest = null;
    for (const { expiresAt } of this.mine.values()) {
      if (earliest === null || expiresAt < earliest) earliest = expiresAt;
    }
    return earliest;
  }
}

/**
 * Row, then place along the row: the order people read seats in.
 * @param {{x: number, y: number}} a
 * @param {{x: number, y: number}} b
 */
export function bySeat(a, b) {
  return a.y - b.y || a.x - b.x;
}
