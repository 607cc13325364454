// @ts-check
// The seat picker at /showtimes/{id}: draws the map from the catalog, keeps it
// live over /ws, and holds and releases seats on click, tap or keypress.

import { getJSON, ensureSession, HttpError } from "../shared/api.js";
import { Announcer } from "../shared/announcer.js";
import { ServerClock } from "../shared/clock.js";
import { $, element } from "../shared/dom.js";
import {
  formatCountdown, formatMoney, formatStart, seatList, seatName, seatRanges, spokenDuration,
  typeName,
} from "../shared/format.js";
import { ConnectionLost, SeatSocket } from "../shared/socket.js";
import { Notice } from "../shared/notices.js";
import { outOfViewWords } from "../shared/outofview.js";
import { SeatBoard } from "../shared/seatmap/board.js";
import { paintIcon, seatIcon, typeColours } from "../shared/seatmap/drawing.js";
import { SeatingRule } from "../shared/seatmap/seating.js";
import { installSprite } from "../shared/sprite.js";
import { Basket } from "./basket.js";
import { BestPanel } from "./best.js";
import { Checkout } from "./checkout.js";
import { SeatList } from "./list.js";
import { lookWords, seatLabel, SeatMap } from "./map.js";
import { roughWait, WaitingPage } from "./waiting.js";

// Changes made by other people are summed up for screen readers at most this often.
const DIGEST_EVERY_MS = 20000;
const LAPSED = "Your turn to choose seats ended because no seat was held for a while, so you "
  + "have joined the queue again, at the back.";
const LONGEST_TIMER_MS = 2 ** 31 - 1;

class Picker {
  constructor(showtimeId) {
    this.showtimeId = showtimeId;
    this.clock = new ServerClock();
    this.announcer = new Announcer($("#announcer"));
    // The warning before our holds end: said once, and at once (assertive).
    this.alerts = new Announcer($("#alerts"), { gapMs: 0 });
    /** @type {{id: string, button: HTMLElement} | null} the seat whose "frees in" shows */
    this.hinted = null;
    this.noticeBox = new Notice($("#notice"));
    /** @type {number} the width the zoom hint's room was taken at */
    this.hintWidth = -1;
    /** @type {"expired" | null} what the notice showing is about, when it can grow */
    this.noticeKind = null;
    /** @type {string[]} the seats the expiry notice names */
    this.expiredIds = [];
    this.othersChanged = 0;
    this.wasLive = false;
    // "map": seats followed and shown; "queue": in the waiting room, seats
    // not followed; "before_sale": seats followed, but not on sale until opensAt.
    this.mode = "map";
    this.following = false;
    this.wasAdmitted = false;
    /** @type {number | null} the on-sale time (ms, server clock), when known */
    this.opensAt = null;
    this.saleTimer = 0;
  }

  async start() {
    installSprite();
    // Signing up or logging in keeps the seats held here; come back to them after.
    /** @type {HTMLAnchorElement} */ ($("#account-link")).href = `/account?next=${encodeURIComponent(location.pathname)}`;
    const sale = this.loadSale();
    const detail = await this.load();
    if (!detail.seats.length) {
      this.fail("This showtime has no seat map yet.");
      return;
    }
    this.board = new SeatBoard(detail.seats);
    this.rule = new SeatingRule(this.board);
    this.showDetail(detail);
    this.map = new SeatMap($("#map"), this.board, detail.screen?.layout, {
      onActivate: (id) => this.activate(id),
      onFocusSeat: (id) => this.describe(id),
      onHint: (id, button) => this.hint(id, button),
      onView: (view) => this.showView(view),
    });
    this.basket = new Basket($("#basket"), this.board, this.clock, {
      onRelease: (id) => this.release(id),
      onExtend: () => this.extendHolds(),
      announce: (text) => this.announcer.say(text),
      alert: (text) => this.alerts.say(text),
    });
    this.checkout = new Checkout($("#basket"), this.board, this.showtimeId, {
      announce: (text) => this.announcer.say(text),
      notice: (text, tone, link) => this.notice(text, tone, link),
      hold: (ids) => this.holdSeats(ids),
      sale: { closesAt: detail.sales_close_at, startsAt: detail.starts_at,
        timeZone: detail.theater.time_zone },
    });
    this.bestPanel = new BestPanel(this.board, {
      best: (request) => this.best(request),
      announce: (text) => this.announcer.say(text),
    });
    this.seatList = new SeatList(this.board, {
      onActivate: (id) => this.activate(id),
      onParty: (count, types, out, button) => {
        this.bestPanel.ask({ count, ...(types.length ? { types } : {}) }, out, button);
      },
    });
    this.basket.onRender = () => {
      this.checkout.render();
      this.seatList.render();
    };
    this.basket.render();
    this.updateCounts();
    this.keepBarClear();
    $("#zoom-in").addEventListener("click", () => this.map.zoomIn());
    $("#zoom-out").addEventListener("click", () => this.map.zoomOut());
    $("#zoom-fit").addEventListener("click", () => this.map.zoomTo(null));
    $("#notice-close").addEventListener("click", () => this.clearNotice());
    $("#seat-advice-close").addEventListener("click", () => this.hideAdvice(true));
    $("#seat-advice").addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.hideAdvice(true);
    });
    $("#retry").addEventListener("click", () => this.socket.retryNow());
    setInterval(() => this.digest(), DIGEST_EVERY_MS);
    setInterval(() => this.showTip(), 1000);

    this.socket = new SeatSocket({ onStatus: (status, detail) => this.showStatus(status, detail) });
    this.waitingPage = new WaitingPage($("#waiting"), {
      clock: this.clock, timeZone: detail.theater.time_zone,
      announce: (text) => this.announcer.say(text),
    });
    this.enterSale(await sale);
    await ensureSession().catch((error) => {
      // Otherwise the socket renews it if need be.
      if (error instanceof HttpError && error.code === "rate_limited") this.sessionRefused(error);
    });
    this.socket.start();
    this.loadBought();
    this.checkout.showOutcome();
    // Back from the payment page out of the back/forward cache: unfreeze the button.
    window.addEventListener("pageshow", (event) => {
      if (!event.persisted) return;
      this.checkout.setBusy(false);
      this.checkout.showOutcome();
      this.loadBought();
    });
  }

  /**
   * The zoom buttons' states, and in words which seats are out of view: a
   * zoomed map cut off at the screen's edge is easy to take for the whole hall.
   * @param {import("./map.js").MapView} view
   */
  showView(view) {
    /** @type {HTMLButtonElement} */ ($("#zoom-in")).disabled = !view.canZoomIn;
    /** @type {HTMLButtonElement} */ ($("#zoom-out")).disabled = view.fitted;
    /** @type {HTMLButtonElement} */ ($("#zoom-fit")).disabled = view.fitted;
    const sides = [view.left ? "left" : "", view.right ? "right" : ""].filter(Boolean);
    // Its room stays (visibility only), so it never moves the map while panning.
    const hint = $("#scroll-hint");
    hint.toggleAttribute("data-off", !sides.length);
    setText(hint, sides.length ? outOfView(sides) : "");
    const width = hint.clientWidth;
    if (width !== this.hintWidth) {
      // The room of its longest words at this width, taken once per width.
      this.hintWidth = width;
      const text = hint.textContent;
      hint.style.minHeight = "";
      hint.textContent = outOfView(["left", "right"]);
      hint.style.minHeight = `${hint.offsetHeight}px`;
      hint.textContent = text;
    }
  }

  /**
   * On a phone the basket's bar lies over the page's bottom while picking
   * (from before the first seat, picker.css): the page gets as much room
   * below, so its end (and the map's last row) can scroll above the bar, and
   * as much scroll padding, so a field focused from the bar (the e-mail
   * Checkout asks for) or a seat scrolled into view is above it.
   */
  keepBarClear() {
    const bar = $("#basket-bar");
    new ResizeObserver(() => {
      const fixed = getComputedStyle(bar).position === "fixed";
      const height = fixed ? bar.getBoundingClientRect().height : 0;
      document.body.style.paddingBottom = height ? `${Math.ceil(height) + 8}px` : "";
      document.documentElement.style.scrollPaddingBottom = height ? `${Math.ceil(height) + 8}px` : "";
    }).observe(bar);
  }

  /**
   * This buyer's bookings of the showtime: their seats show as theirs, not as
   * "Sold". Not knowing them (no answer) only leaves them shown as sold.
   */
  async loadBought() {
    let bookings;
    try {
      bookings = (await getJSON("/api/bookings")).body;
    } catch {
      return;
    }
    if (!Array.isArray(bookings)) return;
    const ids = bookings
      .filter((b) => b?.showtime === this.showtimeId && b.status === "booked"
        && Array.isArray(b.seats))
      .flatMap((b) => b.seats.map((seat) => seat?.id))
      .filter((id) => typeof id === "string");
    this.map.refresh(this.board.setBought(ids));
    this.updateCounts();
  }

  /** The showtime and its seat map; retries while the server cannot be reached. */
  async load() {
    for (let attempt = 0; ; attempt++) {
      try {
        const { body, serverOffsetMs } = await getJSON(`/api/showtimes/${this.showtimeId}`);
        this.clock.setRough(serverOffsetMs);
        return body;
      } catch (error) {
        if (error instanceof HttpError && error.status >= 400 && error.status < 500) {
          this.fail("There is no such showtime. It may have been removed.");
          throw error;
        }
        $("#when").textContent = "Cannot reach the server; trying again…";
        await new Promise((resolve) => setTimeout(resolve, Math.min(15000, 1000 * 2 ** attempt)));
      }
    }
  }

  /**
   * The showtime's on-sale time and whether it has a waiting room; null when
   * that cannot be told (the subscribe's ack says so anyway).
   * @returns {Promise<{waiting_room: boolean, on_sale_at: string | null} | null>}
   */
  async loadSale() {
    try {
      return (await getJSON(`/api/showtimes/${this.showtimeId}/queue`)).body;
    } catch {
      return null;
    }
  }

  /**
   * Wait in the waiting room (its page, no seat updates: a waiting buyer
   * costs the server nothing per seat change), or follow the seats.
   * @param {{waiting_room: boolean, on_sale_at: string | null} | null} sale
   */
  enterSale(sale) {
    const opensAt = sale?.on_sale_at ? Date.parse(sale.on_sale_at) : NaN;
    this.opensAt = Number.isNaN(opensAt) ? null : opensAt;
    if (sale?.waiting_room) this.queueUp();
    else this.follow();
  }

  /** Follow the seats and show the map (or, before the on-sale time, when it opens). */
  follow() {
    if (!this.following) {
      this.following = true;
      this.socket.subscribe(this.showtimeId, {
        onFrame: (frame) => this.onFrame(frame),
        onAck: (ack) => this.subscribed(ack),
        onRefused: (ack) => this.notice(`This showtime cannot be followed live: ${ack.message}`),
      });
    }
    if (this.opensAt !== null && this.opensAt > this.clock.now()) this.beforeSale();
    else this.showMap();
  }

  /** A subscribe's ack: one that puts us in the queue (an admission lapsed meanwhile). */
  subscribed(ack) {
    if (ack.queue === "waiting" || ack.queue === "before_sale") {
      this.queueUp(this.wasAdmitted ? LAPSED : "");
    }
  }

  /**
   * To the waiting room: the waiting page instead of the map until admitted.
   * @param {string} [reason] why, when the buyer was choosing seats a moment ago
   */
  queueUp(reason = "") {
    if (this.mode === "queue") return;
    this.mode = "queue";
    clearTimeout(this.saleTimer);
    if (this.following) {
      this.socket.unsubscribe(this.showtimeId);
      this.following = false;
    }
    this.hideAdvice();
    this.waitingPage.reset(reason);
    this.waitingPage.joining();
    $("#main").hidden = true;
    this.socket.queue(this.showtimeId, {
      onFrame: (frame) => this.onQueueFrame(frame),
      onState: (state) => {
        if (state === "open") {
          // No waiting room (any more): the seats, or when they go on sale.
          this.socket.leaveQueue(this.showtimeId);
          this.mode = "map";
          this.follow();
        } else if (state === "admitted") {
          this.admitted(null); // its frame came first; in case it did not
        }
      },
      onRefused: (ack) => {
        this.waitingPage.hide();
        this.fail(`This showtime cannot be queued for: ${ack.message ?? ack.code}`);
      },
    });
  }

  /** @param {any} frame a `queue` or `admitted` frame */
  onQueueFrame(frame) {
    if (frame.t === "admitted") this.admitted(frame);
    else if (frame.t === "queue" && this.mode === "queue") this.waitingPage.show(frame);
  }

  /**
   * Our turn: the map, said aloud, with the time the admission lasts unused.
   * @param {{expires_at?: number} | null} frame
   */
  admitted(frame) {
    this.wasAdmitted = true;
    if (this.mode !== "queue") return; // already choosing
    this.socket.leaveQueue(this.showtimeId);
    this.mode = "map";
    this.follow();
    const left = typeof frame?.expires_at === "number"
      ? roughWait((frame.expires_at - this.clock.now()) / 1000) : null;
    this.notice("It is your turn: choose your seats."
      + (left ? ` Hold a seat within ${left}, or your turn passes to the next person; `
        + "each seat you hold gives you more time." : ""), "info");
    $("#map-heading").focus();
  }

  /** Not on sale yet (no waiting room): its time on the waiting page, then the map. */
  beforeSale() {
    const opensAt = this.opensAt ?? 0;
    if (this.mode !== "before_sale") {
      this.mode = "before_sale";
      this.waitingPage.reset();
      $("#main").hidden = true;
      this.waitingPage.show({ state: "before_sale", position: null, waiting: null,
        eta_s: null, opens_at: opensAt });
    }
    clearTimeout(this.saleTimer);
    this.saleTimer = setTimeout(() => {
      if (this.mode !== "before_sale") return;
      if (this.clock.now() < opensAt) {
        this.beforeSale(); // a timer cut short by its longest delay
        return;
      }
      this.showMap();
      this.notice("Tickets are on sale now: choose your seats.", "info");
      $("#map-heading").focus();
    }, Math.min(LONGEST_TIMER_MS, opensAt - this.clock.now() + 250));
  }

  showMap() {
    this.mode = "map";
    this.waitingPage.hide();
    $("#main").hidden = false;
  }

  /**
   * A hold refused `not_admitted`: our admission lapsed (or the waiting room
   * was turned on, or it is before the on-sale time). Back to waiting.
   * @param {any} ack
   */
  notAdmitted(ack) {
    if (typeof ack.opens_at === "number" && ack.opens_at > 0) this.opensAt = ack.opens_at;
    const early = this.opensAt !== null && this.opensAt > this.clock.now();
    this.queueUp(early ? "" : this.wasAdmitted ? LAPSED
      : "Seats can be held only once it is your turn.");
  }

  /** Too many new visits from this internet connection: say why nothing can be held yet. */
  sessionRefused(error) {
    const seconds = error.retryAfterS ?? 60;
    this.notice(`Too many visitors from your internet connection have started a visit in the `
      + `last minute, so seats cannot be held from this page yet. Please reload it in `
      + `${seconds} second${seconds === 1 ? "" : "s"}.`);
  }

  fail(message) {
    $("#title").textContent = "Showtime not found";
    $("#when").textContent = message;
    document.title = "Showtime not found · seatserver";
    $("#main").hidden = true;
  }

  showDetail(detail) {
    const zone = detail.theater.time_zone;
    const when = formatStart(detail.starts_at, zone, { weekday: "long", month: "long" });
    $("#title").textContent = detail.movie.title;
    $("#when").textContent = `${when} · ${detail.theater.name}, ${detail.screen.name}`;
    document.title = `${detail.movie.title}, ${when} · Choose your seats`;
    this.showLegend(detail);
  }

  showLegend(detail) {
    const types = new Map();
    for (const seat of detail.seats) {
      if (!types.has(seat.type)) types.set(seat.type, seat.price);
    }
    const colours = typeColours(types.keys());
    const typeItems = [...types].map(([type, price]) => {
      const item = legendItem(false, "available", typeName(type),
        price ? formatMoney(price.amount, price.currency) : "not on sale");
      item.style.setProperty("--fill", colours[type].fill);
      item.style.setProperty("--stroke", colours[type].stroke);
      return item;
    });
    $("#legend-types").replaceChildren(...typeItems);
    const states = [
      [false, "mine", "Held for you"], [false, "pending", "Holding…"],
      [false, "held", "Held by someone else"], [false, "booked", "Sold"],
      [false, "bought", "Booked by you"],
    ];
    if (detail.seats.some((seat) => seat.accessible)) {
      states.push([true, "available", "Wheelchair space"]);
    }
    $("#legend-states").replaceChildren(
      ...states.map(([accessible, look, text]) => legendItem(accessible, look, text)));
  }

  onFrame(frame) {
    if (frame.t === "queue" || frame.t === "admitted") {
      this.onQueueFrame(frame);
      return;
    }
    if (frame.t === "admission_lapsed") {
      this.notAdmitted(frame); // back to waiting now, not at the next click
      return;
    }
    if (frame.t === "snapshot") {
      const { changed, lost } = this.board.applySnapshot(frame);
      this.map.refresh(changed);
      if (lost.length) {
        this.notice(`Your hold on ${this.allNames(lost)} has ended; `
          + `${lost.length === 1 ? "the seat is" : "the seats are"} no longer yours.`);
      }
      this.basket.render(); // and the list
    } else if (frame.t === "update") {
      this.clock.sample(frame.ts);
      const { changed, lost, others } = this.board.applyUpdate(frame);
      this.map.refresh(changed);
      this.othersChanged += others;
      this.announceFocused(changed);
      if (lost.length) this.lost(lost);
      if (changed.size) this.seatList.render();
    } else {
      return;
    }
    this.updateCounts();
    this.showTip();
  }

  /** Seats of ours that the server took back: their hold expired, or they were booked. */
  lost(lost) {
    const expired = lost.filter((l) => l.reason === "expire").map((l) => l.id);
    const booked = lost.filter((l) => l.reason === "book").map((l) => l.id);
    const other = lost.filter((l) => l.reason !== "expire" && l.reason !== "book")
      .map((l) => l.id);
    if (booked.length) {
      // Only the holder's own checkout books held seats (paid in another tab, say).
      this.map.refresh(this.board.setBought([...this.board.bought, ...booked]));
      this.notice(`${this.allNames(booked)} ${booked.length === 1 ? "is" : "are"} booked `
        + "for you.", "info");
    }
    if (expired.length) this.expired(expired);
    if (other.length) {
      this.notice(`${this.allNames(other)} ${other.length === 1 ? "is" : "are"} no longer `
        + "held for you.", "info");
    }
    this.basket.render();
  }

  /**
   * Say which holds expired. Holds end one by one (each has its deadline): while
   * the message about earlier ones still shows, it grows to name them all.
   * @param {string[]} ids
   */
  expired(ids) {
    const showing = this.noticeKind === "expired" && !$("#notice").hidden;
    const all = [...new Set([...(showing ? this.expiredIds : []), ...ids])];
    this.notice(`Your hold on ${this.allNames(all)} expired, so `
      + `${all.length === 1 ? "it is" : "they are"} free again.`, "info");
    this.noticeKind = "expired";
    this.expiredIds = all;
  }

  /**
   * Every seat named, in reading order: row, then number ("Row A, seats 8 and 11").
   * @param {string[]} ids
   */
  allNames(ids) {
    const seats = ids.map((id) => this.board.seats.get(id)).filter(Boolean);
    seats.sort((a, b) => a.row.localeCompare(b.row, "en", { numeric: true })
      || a.number - b.number);
    return seatRanges(seats);
  }

  announceFocused(changed) {
    const focused = this.map.focusedSeat();
    if (focused && changed.has(focused) && !this.board.pending.has(focused)) {
      const seat = this.board.seats.get(focused);
      this.announcer.say(`${seatName(seat)} is now ${lookWords(this.board.look(focused))}.`);
    }
  }

  digest() {
    if (!this.othersChanged || !this.map.hasFocus()) return;
    this.othersChanged = 0;
    const { available } = this.board.counts();
    this.announcer.say(`Seat map updated: ${available} seats available.`);
  }

  activate(id) {
    const look = this.board.look(id);
    const seat = this.board.seats.get(id);
    if (look === "available") this.hold(id);
    else if (look === "mine") this.release(id);
    else if (look === "pending") this.announcer.say(`${seatName(seat)}: still waiting for the server.`);
    else if (look === "held") {
      // Say so where it shows, rather than nothing happening on a click.
      const frees = this.freesIn(id);
      this.notice(`${seatName(seat)} is held by someone else`
        + (frees ? `; it frees in ${frees} unless they book it` : "")
        + ". Please pick another seat, or try this one again then.", "info");
    } else this.announcer.say(`${seatName(seat)} is ${lookWords(look)}.`);
  }

  /**
   * "3:12" until the hold on a seat held by someone else lapses, "0:00" when
   * it is due; null when the seat is not held by someone else, or no deadline
   * is known.
   * @param {string} id
   */
  freesIn(id) {
    const at = this.board.freesAt(id);
    return at === null ? null : formatCountdown(at - this.clock.now());
  }

  /**
   * The seat pointed at or focused (null: none): its tooltip (row, seat, type,
   * price, state); for a seat held by someone else, its second line says when
   * the hold may end and is the seat's accessible description.
   * @param {string | null} id
   * @param {HTMLElement | null} button
   */
  hint(id, button) {
    this.hinted = id && button ? { id, button } : null;
    this.showTip();
  }

  showTip() {
    const tip = $("#seat-tip");
    const hinted = this.hinted;
    // Shown or not, its words follow the focused seat: they describe it.
    const id = hinted?.id ?? this.map.focusedSeat();
    tip.hidden = !hinted;
    if (id) this.tipFor(id);
    if (!hinted) return;
    const box = hinted.button.getBoundingClientRect();
    const left = box.left + box.width / 2 - tip.offsetWidth / 2;
    const above = box.top - tip.offsetHeight - 6;
    tip.style.left = `${Math.max(4, Math.min(left, innerWidth - tip.offsetWidth - 4))}px`;
    tip.style.top = `${above >= 4 ? above : box.bottom + 6}px`;
  }

  /**
   * The tooltip's words for a seat: row, seat, type and price; then its state.
   * @param {string} id
   */
  tipFor(id) {
    const seat = this.board.seats.get(id);
    const look = this.board.look(id);
    const frees = this.freesIn(id);
    const what = [seatName(seat), typeName(seat.type)];
    if (seat.accessible) what.push("wheelchair space");
    what.push(seat.price ? formatMoney(seat.price.amount, seat.price.currency) : "not on sale");
    let state = lookWords(look, this.board.pending.get(id)?.op);
    if (look === "held") {
      state = frees === null ? "Held by someone else"
        : frees === "0:00" ? "Held by someone else: may free any moment"
          : `Held by someone else: frees in ${frees} unless booked`;
    }
    state = state.charAt(0).toUpperCase() + state.slice(1);
    setText($("#seat-tip-seat"), what.join(" · "));
    setText($("#seat-tip-frees"), state);
  }

  /** Our holds' deadlines one hold time later, within the limit ("Extend"). */
  async extendHolds() {
    const button = $("#extend");
    if (this.socket.status !== "live") {
      this.notice("Not connected, so your hold cannot be extended right now. "
        + "Try again once the connection is back.");
      return;
    }
    button.setAttribute("aria-disabled", "true");
    let ack;
    try {
      ack = await this.socket.request("extend", { showtime: this.showtimeId });
    } catch {
      this.socket.resync(this.showtimeId);
      this.notice("The connection dropped before the server extended your hold. "
        + "The countdown will show what happened once it is back.");
      return;
    } finally {
      button.removeAttribute("aria-disabled");
    }
    if (ack.ok) {
      this.board.extended(ack.deadlines ?? {});
      this.basket.limitAt = ack.limit_at ?? null;
      this.basket.render();
      const left = ack.expires_at - this.clock.now();
      this.announcer.say(`Done: your seats are held for ${spokenDuration(left)} more.`
        + (this.basket.atLimit() ? " That is the longest they can be held." : ""));
    } else if (ack.code === "extend_limit") {
      this.basket.limitAt = ack.limit_at ?? this.board.earliestExpiry();
      this.basket.render();
      this.announcer.say("Your seats cannot be held any longer: you have reached the time "
        + "limit for holding seats.");
    } else if (ack.code === "nothing_held") {
      this.notice("You hold no seats right now, so there is nothing to extend.", "info");
    } else {
      this.notice(`Your hold could not be extended: ${ack.message ?? ack.code}.`);
    }
  }

  hold(id) {
    return this.holdSeats([id]);
  }

  /**
   * Hold `ids` in one command, all or none (a click holds one; the orphan
   * advice and checkout's "add the lone seat" several). A refusal is
   * explained at `ids[0]`, the seat the buyer pressed. Resolves with the ack
   * (null: outcome unknown, already said).
   * @param {string[]} ids
   */
  async holdSeats(ids) {
    if (!this.canSend(ids[0])) return null;
    for (const id of ids) this.board.beginHold(id);
    this.changedOwn(ids);
    const ack = await this.send("hold", ids);
    if (ack === null) return null;
    if (ack.ok) {
      for (const id of ids) this.board.holdAccepted(id, ack.expires_at, ack.offset, ack.epoch);
      this.clearNotice();
      this.hideAdvice();
      this.checkout.clearError(); // about an earlier basket
      this.changedOwn(ids);
      const seats = this.board.mine.size;
      const names = seatRanges(ids.map((id) => this.board.seats.get(id)));
      this.announcer.say(`${names} ${ids.length === 1 ? "is" : "are"} held for you. `
        + `${seats} seat${seats === 1 ? "" : "s"}, total ${$("#basket-total").textContent}.`);
    } else {
      for (const id of ids) this.board.abandon(id);
      this.changedOwn(ids);
      this.holdRefused(ack, ids);
    }
    return ack;
  }

  /**
   * A refused hold, in words: the orphan rule and companion seats get their
   * own explanations.
   * @param {any} ack
   * @param {string[]} ids
   */
  holdRefused(ack, ids) {
    const lone = (Array.isArray(ack.seats) ? ack.seats : []).filter((s) => this.board.seats.has(s));
    if (ack.code === "not_admitted") {
      this.notAdmitted(ack);
      return;
    }
    if (ack.code === "would_orphan" && lone.length) {
      this.explainOrphan(ids, lone);
      return;
    }
    this.hideAdvice(true); // its offer no longer stands, if it was one of them
    if (ack.code === "companion_seat") {
      this.notice(companionText(this.seatsAtFault(ack, ids[0]), this.board), "info");
    } else {
      this.notice(refusal("hold", ack, this.seatsAtFault(ack, ids[0])));
    }
  }

  /**
   * Next to the seat pressed (over the map, which does not move): which seat
   * the hold would leave alone, and up to two arrangements the rule allows,
   * as buttons that hold them.
   * @param {string[]} ids the seats refused
   * @param {string[]} lone the seats they would leave alone
   */
  explainOrphan(ids, lone) {
    const names = (/** @type {string[]} */ list) =>
      seatRanges(list.map((id) => this.board.seats.get(id)));
    const offers = this.rule.alternatives(ids, lone);
    const text = `${names(ids)} cannot be held on ${ids.length === 1 ? "its" : "their"} own: `
      + `${lone.length === 1 ? "it" : "they"} would leave ${names(lone)} alone, a single free `
      + `seat nobody can buy beside others.${offers.length ? "" : " Please pick seats that "
      + "leave no single seat free on its own."}`;
    $("#seat-advice-text").textContent = text;
    const buttons = offers.map((offer) => {
      const button = element("button", "advice-offer", `Hold ${names(offer)} instead`);
      button.type = "button";
      button.dataset.seats = offer.join(",");
      button.addEventListener("click", () => this.holdSeats(offer));
      return button;
    });
    $("#seat-advice-offers").replaceChildren(...buttons);
    this.showAdvice(ids[0]);
    this.announcer.say(text + (offers.length
      ? ` Offered: ${offers.map((offer) => `hold ${names(offer)}`).join(", or ")}; `
        + "the buttons follow the map." : ""));
  }

  /** @param {string} id the seat the advice is about */
  showAdvice(id) {
    const box = $("#seat-advice");
    const area = $(".map-area");
    box.hidden = false;
    const seat = this.map.buttons.get(id).getBoundingClientRect();
    const frame = area.getBoundingClientRect();
    const left = seat.left - frame.left + seat.width / 2 - box.offsetWidth / 2;
    box.style.left = `${Math.max(8, Math.min(left, frame.width - box.offsetWidth - 8))}px`;
    box.style.top = `${seat.bottom - frame.top + 8}px`;
    this.adviceFor = id;
  }

  /** @param {boolean} [back] put focus back on the seat, if it was in the advice */
  hideAdvice(back = false) {
    const box = $("#seat-advice");
    if (box.hidden) return;
    const hadFocus = box.contains(document.activeElement);
    box.hidden = true;
    if (back && hadFocus && this.adviceFor) this.map.focus(this.adviceFor);
  }

  /**
   * Best available: the server picks and holds; the ack's seats become ours
   * as a clicked hold's do (ordered by the ack's offset and epoch).
   * @param {import("./best.js").BestRequest} request
   */
  async best(request) {
    if (this.socket.status !== "live") return { ok: false, code: "not_connected" };
    let ack;
    try {
      ack = await this.socket.request("hold", { showtime: this.showtimeId, best: request });
    } catch (error) {
      this.socket.resync(this.showtimeId);
      if (!(error instanceof ConnectionLost)) this.socket.abandon();
      this.notice("The connection dropped before the server answered. The map will show "
        + "any seats held for you once it is back.");
      return null;
    }
    if (!ack.ok && ack.code === "not_admitted") this.notAdmitted(ack);
    if (ack.ok && Array.isArray(ack.seats)) {
      const ids = ack.seats.filter((id) => this.board.seats.has(id));
      for (const id of ids) this.board.holdAccepted(id, ack.expires_at, ack.offset, ack.epoch);
      this.clearNotice();
      this.hideAdvice();
      this.checkout.clearError();
      this.changedOwn(ids);
    }
    return ack;
  }

  async release(id) {
    if (!this.canSend(id)) return;
    this.board.beginRelease(id);
    this.changedOwn([id]);
    const ack = await this.send("release", [id]);
    if (ack === null) return;
    if (ack.ok) {
      this.board.releaseAccepted(id);
      this.announcer.say(`${seatName(this.board.seats.get(id))} released.`);
    } else {
      this.board.abandon(id);
      if (ack.code === "not_holder") this.board.mine.delete(id);
      this.notice(refusal("release", ack, this.seatsAtFault(ack, id)));
    }
    this.changedOwn([id]);
  }

  canSend(id) {
    if (this.socket.status === "live") return true;
    this.notice(`Not connected, so ${seatName(this.board.seats.get(id))} cannot be changed `
      + "right now. The map updates by itself once the connection is back.");
    return false;
  }

  /**
   * One command for one seat. Null when its outcome is unknown (the connection
   * dropped, or no answer came): the next subscription then starts from a
   * snapshot, whose `mine` says what we really hold.
   */
  /**
   * @param {"hold" | "release"} op
   * @param {string[]} ids
   */
  async send(op, ids) {
    try {
      return await this.socket.request(op, { showtime: this.showtimeId, seats: ids });
    } catch (error) {
      for (const id of ids) this.board.abandon(id);
      this.socket.resync(this.showtimeId);
      if (!(error instanceof ConnectionLost)) this.socket.abandon();
      this.notice(`The connection dropped before the server confirmed ${
        seatRanges(ids.map((id) => this.board.seats.get(id)))}. The map will show what `
        + "happened once it is back.");
      this.changedOwn(ids);
      return null;
    }
  }

  seatsAtFault(ack, id) {
    const ids = Array.isArray(ack.seats) && ack.seats.length ? ack.seats : [id];
    return ids.filter((s) => this.board.seats.has(s)).map((s) => this.board.seats.get(s));
  }

  /** @param {string[]} ids */
  changedOwn(ids) {
    this.map.refresh(ids);
    this.basket.render();
    this.updateCounts();
    this.showTip();
  }

  names(ids) {
    return seatList(ids.map((id) => this.board.seats.get(id)));
  }

  /** The line under the map: the seat last pointed at or focused, in words. */
  describe(id) {
    this.described = id;
    const seat = this.board.seats.get(id);
    const look = this.board.look(id);
    const frees = this.freesIn(id);
    $("#seat-info").textContent = seatLabel(seat, look, this.board.pending.get(id)?.op)
      + (frees ? `, frees in ${frees}` : "");
  }

  updateCounts() {
    const counts = this.board.counts();
    const parts = [`${counts.available} available`];
    if (counts.held) parts.push(`${counts.held} held`);
    if (counts.booked) parts.push(`${counts.booked} sold`);
    if (counts.bought) parts.push(`${counts.bought} booked by you`);
    $("#counts").textContent = parts.join(" · ");
    if (this.described) this.describe(this.described);
  }

  /** The message above the map; `link` ({href, text}) offers the next step. */
  /**
   * @param {string} text
   * @param {import("../shared/notices.js").Tone} [tone]
   * @param {import("../shared/notices.js").NoticeLink | null} [link]
   */
  notice(text, tone = "error", link = null) {
    this.noticeKind = null;
    this.noticeBox.show(text, tone, link);
    this.announcer.say(text);
  }

  clearNotice() {
    this.noticeBox.hide();
  }

  showStatus(status, { changed, retryAt }) {
    const conn = $("#conn");
    conn.dataset.status = status;
    const seconds = Math.max(1, Math.round((retryAt - Date.now()) / 1000));
    $("#conn-text").textContent = {
      connecting: "Connecting…",
      live: "Live",
      reconnecting: "Reconnecting…",
      offline: `Offline, retrying in ${seconds} s`,
    }[status];
    $("#retry").hidden = status !== "offline";
    $("#map").classList.toggle("stale", status !== "live");
    if (!changed) return;
    if (status === "live" && this.wasLive) {
      this.announcer.say(this.mode === "queue" ? "Connection back. You kept your place in "
        + "the queue." : "Connection back. The seat map is up to date.");
    } else if (status === "reconnecting" && this.wasLive) {
      this.announcer.say("Connection lost. Reconnecting…");
    }
    if (status === "live") this.wasLive = true;
    if (status === "offline") this.tickOffline();
  }

  /** Keep "retrying in N s" current while offline. */
  tickOffline() {
    clearInterval(this.offlineTicker);
    this.offlineTicker = setInterval(() => {
      if (this.socket.status !== "offline") clearInterval(this.offlineTicker);
      else this.socket.setStatus("offline");
    }, 1000);
  }
}

/**
 * The words under the zoom buttons while seats are out of view.
 * @param {string[]} sides "left", "right" or both
 */
function outOfView(sides) {
  return outOfViewWords(sides, "swipe or scroll the map, or press Fit");
}

/**
 * @param {HTMLElement} node
 * @param {string} text
 */
function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function legendItem(accessible, look, text, extra) {
  const item = document.createElement("li");
  const icon = seatIcon(accessible);
  icon.classList.add("legend-seat");
  icon.dataset.look = look;
  paintIcon(icon, look);
  const label = document.createElement("span");
  label.textContent = text;
  item.append(icon, label);
  if (extra) {
    const price = document.createElement("strong");
    price.textContent = extra;
    item.append(price);
  }
  return item;
}

/**
 * A companion seat refused on its own, in words: whose seat it is and what to do.
 * @param {import("../shared/seatmap/board.js").Seat[]} seats
 * @param {SeatBoard} board
 */
export function companionText(seats, board) {
  const spaces = seats.map((s) => board.seats.get(s.companion_of ?? "")).filter(Boolean);
  const whose = spaces.length
    ? `beside the wheelchair space ${seatList(spaces)}` : "beside a wheelchair space";
  return `${seatList(seats)} ${seats.length === 1 ? "is a companion seat" : "are companion "
    + "seats"} ${whose}, kept for the wheelchair user's party: hold it together with the `
    + "wheelchair space (or after it), or pick another seat.";
}

/** A refusal in words, naming the seats at fault. */
export function refusal(op, ack, seats) {
  const names = seatList(seats);
  const verb = op === "hold" ? "held" : "released";
  switch (ack.code) {
    case "seats_unavailable":
      return `Sorry, ${names} ${seats.length === 1 ? "is" : "are"} no longer available: `
        + "someone else got there first. Please pick another seat.";
    case "seat_blocked":
      return `Sorry, ${names} ${seats.length === 1 ? "is" : "are"} not on sale online (kept `
        + "by the cinema). Please pick another seat, or ask at the box office.";
    case "too_many_seats": {
      const limit = /at most (\d+)/.exec(ack.message ?? "")?.[1];
      if (/address/.test(ack.message ?? "")) {
        // The cap on everyone behind one internet connection (a household, an office).
        return `${names} could not be held: at most ${limit ?? "a limited number of"} seats `
          + "for one showtime may be held from one internet connection at a time, and "
          + "people on your network (this browser's other tabs included) hold them already. "
          + "Wait for their holds to end or be booked, or release some seats.";
      }
      return `${names} could not be held: you can hold at most ${limit ?? "a few"} seats `
        + "for one showtime. Remove one to pick another.";
    }
    case "rate_limited":
      return `Too many clicks at once, so ${names} was not ${verb}. Wait a moment and try again.`;
    case "not_holder":
      return `${names} was no longer held for you (the hold may have expired).`;
    case "sales_closed":
      return "Sales for this showtime have closed.";
    case "unavailable":
      return `The server cannot reach its seat store right now, so ${names} was not ${verb}. `
        + "Please try again in a moment.";
    case "unknown_seat":
      return `${names} is not part of this showtime any more. Please reload the page.`;
    default:
      return `${names} could not be ${verb}: ${ack.message ?? ack.code}.`;
  }
}

const id = Number(location.pathname.split("/").filter(Boolean).pop());
new Picker(id).start().catch((error) => {
  if (!(error instanceof HttpError)) console.error(error);
});
