// SeatBoard: what the picker knows about every seat, without any DOM.
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
// still arrive after our hold was acked (say the previous holder's expiry).
// Updates come in stream order, and our hold's own "held" update follows
// every older event of its seat, so until that echo is seen a "free" for
// one of our seats is old news and must not take it from us.

export const LOOKS = ["available", "held", "booked", "mine", "pending", "blocked"];

export class SeatBoard {
  /** @param {Array<object>} seats the `seats` of GET /api/showtimes/{id} */
  constructor(seats) {
    this.seats = new Map(seats.map((seat) => [seat.id, seat]));
    this.server = new Map();
    for (const id of this.seats.keys()) this.server.set(id, "free");
    this.mine = new Map(); // id -> {expiresAt, echoed}
    this.pending = new Map(); // id -> {op: "hold" | "release", echoed}
  }

  look(id) {
    if (this.pending.has(id)) return "pending";
    if (this.mine.has(id)) return "mine";
    const state = this.server.get(id);
    if (state === "free") return this.seats.get(id).price ? "available" : "blocked";
    return state;
  }

  /**
   * Replace everything the server told us. Returns {changed, lost}: the seats
   * whose state may have changed, and those that were ours and no longer are.
   */
  applySnapshot(frame) {
    const changed = new Set();
    const held = new Set(frame.held);
    const booked = new Set(frame.booked);
    for (const [id, before] of this.server) {
      const after = booked.has(id) ? "booked" : held.has(id) ? "held" : "free";
      if (after !== before) {
        this.server.set(id, after);
        changed.add(id);
      }
    }
    const lost = [];
    for (const id of this.mine.keys()) {
      if (!(id in frame.mine) && !this.pending.has(id)) lost.push(id);
    }
    const mine = new Map();
    for (const [id, expiresAt] of Object.entries(frame.mine)) {
      if (this.seats.has(id)) mine.set(id, { expiresAt, echoed: true });
    }
    for (const id of new Set([...this.mine.keys(), ...mine.keys()])) changed.add(id);
    this.mine = mine;
    return { changed, lost };
  }

  /**
   * Apply one update. Returns {changed, lost, others}: seats that may look
   * different, ours that ended (with why), and changes made by other people.
   */
  applyUpdate(frame) {
    const changed = new Set();
    const lost = [];
    let others = 0;
    for (const [id, state] of Object.entries(frame.seats)) {
      if (!this.seats.has(id)) continue;
      const reason = frame.reasons?.[id];
      const before = this.look(id);
      this.server.set(id, state);
      const ours = this.mine.get(id);
      const pending = this.pending.get(id);
      if (state === "held") {
        if (ours) ours.echoed = true;
        if (pending) pending.echoed = true;
      } else if (ours && (ours.echoed || state === "booked")) {
        this.mine.delete(id);
        if (!pending) lost.push({ id, reason });
      }
      if (!ours && !pending) others += 1;
      if (this.look(id) !== before) changed.add(id);
    }
    return { changed, lost, others };
  }

  beginHold(id) {
    this.pending.set(id, { op: "hold", echoed: false });
  }

  holdAccepted(id, expiresAt) {
    const pending = this.pending.get(id);
    this.pending.delete(id);
    this.mine.set(id, { expiresAt, echoed: pending?.echoed ?? false });
    this.server.set(id, "held");
  }

  beginRelease(id) {
    this.pending.set(id, { op: "release", echoed: false });
  }

  releaseAccepted(id) {
    this.pending.delete(id);
    this.mine.delete(id);
    // The "free" update may still be on its way; it will say the same.
    if (this.server.get(id) === "held") this.server.set(id, "free");
  }

  /** A command failed or its outcome is unknown: forget that it was sent. */
  abandon(id) {
    this.pending.delete(id);
  }

  /** Our seats and seats being held for us, in row and number order. */
  basket() {
    const ids = [...this.mine.keys()];
    for (const [id, pending] of this.pending) {
      if (pending.op === "hold") ids.push(id);
    }
    return ids.map((id) => this.seats.get(id)).sort(bySeat);
  }

  counts() {
    const counts = { available: 0, held: 0, booked: 0, mine: 0, pending: 0, blocked: 0 };
    for (const id of this.seats.keys()) counts[this.look(id)] += 1;
    return counts;
  }

  /** The soonest deadline of our holds (server clock, ms), or null. */
  earliestExpiry() {
    let earliest = null;
    for (const { expiresAt } of this.mine.values()) {
      if (earliest === null || expiresAt < earliest) earliest = expiresAt;
    }
    return earliest;
  }
}

export function bySeat(a, b) {
  return a.y - b.y || a.x - b.x;
}
