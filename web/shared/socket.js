// @ts-check
// SeatSocket: one WebSocket to /ws (protocol seats.v1.json) that stays up.
//
// It reconnects by itself with capped, jittered back-off, resubscribes every
// showtime with `since` = the last offset it applied and `epoch` = that
// offset's stream epoch (so it gets exactly the updates it missed, or a fresh
// snapshot when the stream is not the one the offset came from), matches replies to requests by
// `ref`, and reports its state as "connecting", "live", "reconnecting" or
// "offline". Frames of a showtime go to that subscription's handler in offset
// order; a repeated or older update is dropped here, never applied twice.
// A showtime's waiting room is joined with `queue` (again on every connect:
// the place belongs to the session, so it is kept); its `queue` and
// `admitted` frames go to that registration.

import { newSession, serverAnswers } from "./api.js";
import { isAfter, parseOffset } from "./offsets.js";

export const PROTOCOL = "seats.v1.json";

// Refusals that say "not now" rather than "no": Redis is down, or we sent too
// much. A subscribe refused so is asked again later, never given up.
const TRANSIENT = new Set(["unavailable", "rate_limited"]);

export class ConnectionLost extends Error {
  constructor() {
    super("the connection to the server was lost");
  }
}

export class RequestTimeout extends Error {
  constructor(op) {
    super(`no answer to ${op}`);
  }
}

/**
 * What `onStatus` is told beside the status: whether it changed, since when
 * the socket is down (ms, or null while live), and when it retries next.
 * @typedef {{changed: boolean, downSince: number | null, retryAt: number}} StatusDetail
 */

/**
 * A waiting room followed with `queue` (SeatSocket.queue).
 * @typedef {{showtime: number, onFrame: (frame: any) => void,
 *   onState: (state: string) => void, onRefused: (ack: any) => void,
 *   refusals: number, retryTimer: any}} QueueRegistration
 */

export class SeatSocket {
  /**
   * @param {object} [options]
   * @param {(status: string, detail: StatusDetail) => void} [options.onStatus]
   * @param {number} [options.backoffBaseMs] first retry delay (doubles per failure)
   * @param {number} [options.backoffCapMs] longest retry delay
   * @param {number} [options.offlineAfterMs] down this long: "offline", not "reconnecting"
   * @param {number} [options.pingEveryMs] a ping this often finds a dead connection
   * @param {number} [options.requestTimeoutMs] a command unanswered this long fails
   */
  constructor({ onStatus = () => {}, backoffBaseMs = 500, backoffCapMs = 15000,
                offlineAfterMs = 10000, pingEveryMs = 25000, requestTimeoutMs = 10000 } = {}) {
    this.onStatus = onStatus;
    this.backoffBaseMs = backoffBaseMs;
    this.backoffCapMs = backoffCapMs;
    this.offlineAfterMs = offlineAfterMs;
    this.pingEveryMs = pingEveryMs;
    this.requestTimeoutMs = requestTimeoutMs;
    this.status = "connecting";
    this.subscriptions = new Map();
    /** @type {Map<number, QueueRegistration>} */
    this.queues = new Map();
    this.waiting = new Map();
    this.nextRef = 1;
    this.failures = 0;
    this.ws = null;
    this.stopped = true;
    this.retryTimer = 0;
    this.retryAt = 0;
    this.pingTimer = 0;
    this.downSince = Date.now();
    this.lastSessionRenewal = 0;
    this.url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
    this.retryNow = this.retryNow.bind(this);
    window.addEventListener("online", this.retryNow);
    window.addEventListener("offline", () => this.setStatus(this.status));
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.retryNow();
    });
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  /**
   * Join a showtime's room (now, and again after every reconnect).
   * `onFrame(frame)` gets its snapshots, updates and summaries (and the
   * waiting room's frames, unless `queue` registered for them);
   * `onAck(ack)` each accepted subscribe (a waiting room's says `queue`);
   * `onRefused(ack)` a refused subscribe (e.g. unknown_showtime).
   * `queue: false` watches the seats without joining a waiting room (boards).
   */
  subscribe(showtime, { view = "seats", queue = true, onFrame, onAck = (_ack) => {},
                        onRefused = () => {} }) {
    const subscription = {
      showtime, view, queue, onFrame, onAck, onRefused, offset: null, position: null,
      epoch: null,
      wantSnapshot: false, resyncing: false, refusals: 0, retryTimer: 0,
    };
    this.subscriptions.set(showtime, subscription);
    if (this.isOpen()) this.sendSubscribe(subscription);
    return subscription;
  }

  unsubscribe(showtime) {
    clearTimeout(this.subscriptions.get(showtime)?.retryTimer);
    if (this.subscriptions.delete(showtime) && this.isOpen()) {
      this.request("unsubscribe", { showtime }).catch(() => {});
    }
  }

  /**
   * Wait in a showtime's waiting room without its seat updates: `queue` now
   * and after every reconnect. `onState(state)` gets each ack's `queue`
   * ("open", "admitted", "waiting" or "before_sale"), `onFrame` the `queue`
   * and `admitted` frames, `onRefused(ack)` a refusal that is a "no".
   * @param {number} showtime
   * @param {Omit<QueueRegistration, "showtime" | "refusals" | "retryTimer">} handlers
   */
  queue(showtime, { onFrame, onState, onRefused }) {
    this.leaveQueue(showtime);
    /** @type {QueueRegistration} */
    const registration = { showtime, onFrame, onState, onRefused, refusals: 0, retryTimer: 0 };
    this.queues.set(showtime, registration);
    if (this.isOpen()) this.sendQueue(registration);
  }

  /** Stop following the waiting room (the server keeps the place; nothing to send). */
  leaveQueue(showtime) {
    clearTimeout(this.queues.get(showtime)?.retryTimer);
    this.queues.delete(showtime);
  }

  /** @param {QueueRegistration} registration */
  sendQueue(registration) {
    const ws = this.ws;
    const current = () => this.queues.get(registration.showtime) === registration;
    this.request("queue", { showtime: registration.showtime }).then((ack) => {
      if (!current()) return;
      if (ack.ok) {
        registration.refusals = 0;
        registration.onState(ack.queue);
      } else if (TRANSIENT.has(ack.code)) {
        registration.refusals += 1;
        registration.retryTimer = setTimeout(() => {
          if (this.ws === ws && this.isOpen() && current()) this.sendQueue(registration);
        }, this.backoff(registration.refusals));
      } else {
        this.queues.delete(registration.showtime);
        registration.onRefused(ack);
      }
    }, () => {}); // a lost connection queues again on the next one
  }

  /**
   * Ask for a fresh snapshot on the next (re)subscribe instead of resuming:
   * for when the caller no longer trusts what it knows (e.g. a command whose
   * reply was lost with the connection).
   */
  resync(showtime) {
    const subscription = this.subscriptions.get(showtime);
    if (subscription) subscription.wantSnapshot = true;
  }

  /** Send one command; resolves with its ack (or error frame), rejects if it cannot. */
  request(op, fields = {}, { timeoutMs = this.requestTimeoutMs } = {}) {
    if (!this.isOpen()) return Promise.reject(new ConnectionLost());
    const ref = String(this.nextRef++);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(ref);
        reject(new RequestTimeout(op));
      }, timeoutMs);
      this.waiting.set(ref, { resolve, reject, timer });
      this.ws.send(JSON.stringify({ op, ref, ...fields }));
    });
  }

  isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  /** Skip the rest of the back-off wait (the network came back, the tab was shown). */
  retryNow() {
    if (this.stopped || this.ws !== null) return;
    clearTimeout(this.retryTimer);
    this.connect();
  }

  connect() {
    this.retryTimer = 0;
    const ws = new WebSocket(this.url, PROTOCOL);
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      for (const subscription of this.subscriptions.values()) this.sendSubscribe(subscription);
      for (const registration of this.queues.values()) this.sendQueue(registration);
      if (this.subscriptions.size === 0) this.becameLive();
      this.pingTimer = setInterval(() => this.ping(), this.pingEveryMs);
    };
    ws.onmessage = (event) => this.receive(event.data);
    ws.onclose = () => this.closed(ws, opened);
  }

  /** Drop a connection that stopped answering, without waiting for TCP to notice. */
  abandon() {
    if (this.ws === null) return;
    const ws = this.ws;
    ws.onclose = null;
    ws.close();
    this.closed(ws, true);
  }

  async ping() {
    try {
      await this.request("ping", {}, { timeoutMs: 10000 });
    } catch (error) {
      if (error instanceof RequestTimeout) this.abandon();
    }
  }

  sendSubscribe(subscription) {
    const fields = { showtime: subscription.showtime, view: subscription.view };
    if (!subscription.queue) fields.queue = false;
    if (subscription.offset !== null && !subscription.wantSnapshot) {
      fields.since = subscription.offset;
      if (subscription.epoch !== null) fields.epoch = subscription.epoch;
    }
    const ws = this.ws;
    this.request("subscribe", fields).then((ack) => {
      if (this.subscriptions.get(subscription.showtime) !== subscription) return;
      if (ack.ok) {
        subscription.wantSnapshot = false;
        subscription.refusals = 0;
        subscription.live = true;
        subscription.onAck(ack);
      } else if (TRANSIENT.has(ack.code)) {
        // Not live yet: ask again on this connection (a new one asks anyway).
        subscription.refusals += 1;
        subscription.retryTimer = setTimeout(() => {
          if (this.ws === ws && this.isOpen()
              && this.subscriptions.get(subscription.showtime) === subscription) {
            this.sendSubscribe(subscription);
          }
        }, this.backoff(subscription.refusals));
        return;
      } else {
        this.subscriptions.delete(subscription.showtime);
        subscription.onRefused(ack);
      }
      if ([...this.subscriptions.values()].every((s) => s.live)) this.becameLive();
    }, () => {}); // a lost connection resubscribes on the next one
  }

  becameLive() {
    this.failures = 0;
    this.downSince = null;
    this.setStatus("live");
  }

  receive(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    if (frame.t === "ack" || frame.t === "pong" || frame.t === "error") {
      const waiting = frame.ref == null ? undefined : this.waiting.get(String(frame.ref));
      if (waiting) {
        this.waiting.delete(String(frame.ref));
        clearTimeout(waiting.timer);
        waiting.resolve(frame);
      } else if (frame.t === "error") {
        console.warn("seatserver:", frame.code, frame.message);
      }
      return;
    }
    const registration = this.queues.get(frame.showtime);
    if (registration && (frame.t === "queue" || frame.t === "admitted")) {
      registration.onFrame(frame);
      return;
    }
    const subscription = this.subscriptions.get(frame.showtime);
    if (!subscription) return;
    const position = parseOffset(frame.offset);
    const epoch = typeof frame.epoch === "string" ? frame.epoch : null;
    if (frame.t === "update" && epoch !== null && subscription.epoch !== null
        && epoch !== subscription.epoch) {
      // Offsets of another epoch of the stream say nothing about ours: start
      // again from a snapshot rather than apply it. Asked once: the updates
      // that follow before the snapshot come are dropped the same way.
      const asked = subscription.wantSnapshot;
      subscription.wantSnapshot = true;
      subscription.offset = null;
      subscription.position = null;
      if (!asked && this.isOpen()) this.sendSubscribe(subscription);
      return;
    }
    if (frame.t === "update" && position && subscription.position
        && !isAfter(position, subscription.position)) {
      return; // already applied
    }
    if (position) {
      subscription.offset = frame.offset;
      subscription.position = position;
      if (epoch !== null || frame.t === "snapshot") subscription.epoch = epoch;
    }
    subscription.onFrame(frame);
  }

  closed(ws, opened) {
    if (this.ws !== ws) return;
    this.ws = null;
    clearInterval(this.pingTimer);
    for (const subscription of this.subscriptions.values()) {
      subscription.live = false;
      clearTimeout(subscription.retryTimer);
    }
    for (const registration of this.queues.values()) clearTimeout(registration.retryTimer);
    for (const waiting of this.waiting.values()) {
      clearTimeout(waiting.timer);
      waiting.reject(new ConnectionLost());
    }
    this.waiting.clear();
    if (this.stopped) return;
    this.downSince ??= Date.now();
    this.failures += 1;
    const delay = this.backoff();
    this.retryAt = Date.now() + delay;
    this.setStatus("reconnecting");
    this.retryTimer = setTimeout(async () => {
      // Refused before the upgrade while the server answers HTTP: most likely
      // our session is gone (expired, database reset). Renewing it replaces
      // our identity, so do it rarely and only then.
      if (!opened && Date.now() - this.lastSessionRenewal > 60000 && await serverAnswers()) {
        this.lastSessionRenewal = Date.now();
        await newSession().catch(() => {});
      }
      if (!this.stopped && this.ws === null) this.connect();
    }, delay);
    // Say "offline" once the outage has lasted, even while retries go on.
    setTimeout(() => this.setStatus(this.status), this.offlineAfterMs + 50);
  }

  /** Full jitter over a doubling window, capped: a restarted server is not stampeded. */
  backoff(failures = this.failures) {
    const window = Math.min(this.backoffCapMs, this.backoffBaseMs * 2 ** (failures - 1));
    return Math.round(window / 2 + Math.random() * window / 2);
  }

  setStatus(wanted) {
    let status = wanted;
    if (status !== "live" && this.ws === null && !this.stopped) {
      const longDown = this.downSince !== null
        && Date.now() - this.downSince >= this.offlineAfterMs;
      status = !navigator.onLine || longDown ? "offline" : "reconnecting";
    }
    const changed = status !== this.status;
    this.status = status;
    this.onStatus(status, { changed, downSince: this.downSince, retryAt: this.retryAt });
  }
}
