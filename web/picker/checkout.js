// @ts-check
// Checkout: the held seats become a pending booking, and the buyer goes to the
// payment provider's page. The provider sends the browser back to the
// confirmation page (/bookings/{ref}) once paid, or to this map with
// `?booking={ref}` when the payment was declined or timed out; the map then
// says how the payment went (so it does after the Back button).

import { getJSON, HttpError, postJSON } from "../shared/api.js";
import {
  compareSeats, formatMoney, formatTime, seatList, seatRanges,
} from "../shared/format.js";

// The booking being paid for, per tab, so that the map can tell the outcome.
const STORAGE_PREFIX = "seatserver.checkout.";
// How often the button looks at the clock for the close of sales.
const SALES_CHECK_MS = 15000;
// As the server checks it (seatserver/accounts/forms.py): a hint, not the judge.
const EMAIL = /^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$/;
const PHONE = /^\+?[0-9][0-9 ()./-]{3,23}$/;

export class Checkout {
  /**
   * `sale` is {closesAt, startsAt, timeZone} from the showtime (`sales_close_at`,
   * `starts_at`, the theater's zone): the note under the button says when sales
   * close, and the button says so once they have.
   * @param {HTMLElement} root the basket, which holds the button and its notes
   * @param {import("../shared/seatmap/board.js").SeatBoard} board
   * @param {number} showtimeId
   * @param {object} page what the page lends the checkout
   * @param {(text: string) => void} page.announce
   * @param {(text: string, tone?: import("../shared/notices.js").Tone,
   *   link?: import("../shared/notices.js").NoticeLink | null) => void} page.notice
   * @param {{closesAt: string, startsAt: string, timeZone: string} | null} [page.sale]
   * @param {(ids: string[]) => Promise<any>} [page.hold] holds seats (the lone seat
   *   checkout's orphan re-check names, to take it too)
   */
  constructor(root, board, showtimeId, { announce, notice, sale = null, hold = null }) {
    this.board = board;
    this.showtimeId = showtimeId;
    this.announce = announce;
    this.notice = notice;
    this.hold = hold;
    this.sale = sale?.closesAt ? sale : null;
    /** @type {HTMLButtonElement} */
    this.button = root.querySelector("#checkout");
    /** @type {HTMLElement} */
    this.error = root.querySelector("#checkout-error");
    /** @type {HTMLElement} */
    this.note = root.querySelector(".checkout-note");
    if (this.sale) {
      this.note.textContent = `${salesCloseText(this.sale)} You pay on our payment provider's `
        + "page, then come back here.";
      setInterval(() => this.render(), SALES_CHECK_MS);
    }
    /** @type {HTMLElement} keep the seats, or add the lone one (would_orphan) */
    this.orphanChoice = root.querySelector("#orphan-choice");
    /** @type {HTMLButtonElement} */
    this.keepButton = root.querySelector("#orphan-keep");
    /** @type {HTMLButtonElement} */
    this.addButton = root.querySelector("#orphan-add");
    /** @type {string[]} the seats checkout's re-check said are left alone */
    this.lone = [];
    this.keepButton.addEventListener("click", () => this.start({ acceptOrphans: true }));
    this.addButton.addEventListener("click", () => this.addLone());
    this.contact = new Contact(root);
    this.busy = false;
    // One attempt = one Idempotency-Key: a retry after no answer reuses it,
    // so a booking made by a request whose answer was lost is found, not doubled.
    this.attempt = null;
    this.button.addEventListener("click", () => this.start());
  }

  /** Take the lone seat too (filling a lone seat is always allowed), then check out again. */
  async addLone() {
    const lone = this.lone.filter((id) => this.board.look(id) === "available");
    if (!lone.length || !this.hold) {
      this.fail(`${seatList(this.lone.map((id) => this.board.seats.get(id)))} cannot be added: `
        + "it is no longer free. Select Checkout again.");
      return;
    }
    const ack = await this.hold(lone);
    if (ack?.ok) {
      this.announce(`${seatRanges(lone.map((id) => this.board.seats.get(id)))} added to your `
        + "seats. Select Checkout to pay for them all.");
      this.button.focus();
    }
  }

  /** The button follows the basket: its seats and total, disabled when empty. */
  render() {
    if (this.salesClosed()) {
      this.button.disabled = true;
      this.button.textContent = "Sales have closed";
      this.note.textContent = "Sales for this showtime closed at "
        + `${formatTime(new Date(this.sale.closesAt), this.sale.timeZone)}.`;
      return;
    }
    const seats = this.board.basket();
    this.button.disabled = seats.length === 0;
    if (!seats.length) {
      this.button.textContent = "Checkout";
      this.button.removeAttribute("aria-disabled");
      return;
    }
    if (this.busy) return;
    this.button.removeAttribute("aria-disabled");
    const priced = seats.filter((seat) => seat.price);
    const total = priced.length
      ? formatMoney(priced.reduce((sum, seat) => sum + seat.price.amount, 0),
        priced[0].price.currency)
      : "";
    const count = `${seats.length} seat${seats.length === 1 ? "" : "s"}`;
    this.button.textContent = total ? `Checkout: ${count}, ${total}` : `Checkout: ${count}`;
  }

  salesClosed() {
    return this.sale !== null && Date.now() >= Date.parse(this.sale.closesAt);
  }

  /** @param {{acceptOrphans?: boolean}} [options] keep seats that leave one alone */
  async start({ acceptOrphans = false } = {}) {
    if (this.busy || this.button.disabled) return;
    const waiting = [...this.board.pending.keys()].map((id) => this.board.seats.get(id));
    if (waiting.length) {
      this.fail(`Still waiting for the server about ${seatList(waiting)}. `
        + "Try again in a moment.");
      return;
    }
    const contact = this.contact.read();
    if (!contact) {
      this.announce("Enter where we send your ticket first.");
      return;
    }
    const seats = [...this.board.mine.keys()].map((id) => this.board.seats.get(id))
      .sort(compareSeats).map((seat) => seat.id);
    // Keeping the seats is another request: a key of its own (docs/api.md).
    const key = seats.join(",") + (acceptOrphans ? "+accept_orphans" : "")
      + JSON.stringify(contact);
    if (this.attempt?.seats !== key) this.attempt = { key: randomKey(), seats: key };
    this.setBusy(true);
    this.clearError();
    this.announce("Starting checkout…");
    try {
      // The seats by name: if one of them expired meanwhile, the server says
      // so rather than charging for fewer seats than the basket shows.
      const body = { seats, ...contact, ...(acceptOrphans ? { accept_orphans: true } : {}) };
      const booking = await postJSON(`/api/showtimes/${this.showtimeId}/bookings`, body,
        { headers: { "Idempotency-Key": this.attempt.key } });
      this.attempt = null;
      this.leaveForPayment(booking);
    } catch (error) {
      this.setBusy(false);
      this.refused(error);
    }
  }

  leaveForPayment(booking) {
    const target = new URL(booking.checkout_url, location.href);
    if (!["http:", "https:"].includes(target.protocol)) {
      this.fail("The payment page's address looks wrong, so we did not go there. "
        + `Your booking is ${booking.reference}; please contact us.`);
      return;
    }
    remember(this.showtimeId, { reference: booking.reference, url: target.href });
    this.button.textContent = "Going to the payment page…";
    location.assign(target.href);
  }

  /** A refusal or a failure in words, near the button, naming the seats. */
  refused(error) {
    if (!(error instanceof HttpError)) {
      this.fail("No answer from the server, so checkout may not have started. Your seats "
        + "are still held while the countdown runs: select Checkout again to retry.");
      return;
    }
    if (!retryable(error)) this.attempt = null;
    if (error.code === "invalid_input" && this.contact.refused(error.message)) {
      this.fail("Please check where we send your ticket.");
      return;
    }
    const named = error.seats.filter((id) => this.board.seats.has(id))
      .map((id) => this.board.seats.get(id));
    if (error.code === "would_orphan" && named.length) {
      this.orphaned(named.map((seat) => seat.id));
      return;
    }
    this.fail(refusalText(error, named, this.basketNames()));
  }

  /**
   * Checkout's re-check: since the seats were held, a neighbour's release left
   * `lone` alone beside them. Say so, and offer to keep them or take it too.
   * @param {string[]} lone
   */
  orphaned(lone) {
    this.lone = lone;
    const names = seatRanges(lone.map((id) => this.board.seats.get(id)));
    const free = lone.filter((id) => this.board.look(id) === "available");
    this.fail(`Since you chose your seats, someone let go of a seat next to them, so ${names} `
      + `would be left alone, a single seat that is hard to sell. You can keep your seats `
      + `anyway, ${free.length ? `add ${names} to them, ` : ""}or change them on the map.`);
    this.addButton.hidden = free.length === 0;
    this.addButton.textContent = `Add ${names} to my seats`;
    this.orphanChoice.hidden = false;
  }

  basketNames() {
    return seatList([...this.board.mine.keys()].map((id) => this.board.seats.get(id)))
      ?? "your seats";
  }

  setBusy(busy) {
    this.busy = busy;
    if (busy) {
      // Stays focusable, so keyboard focus is not lost while we wait.
      this.button.setAttribute("aria-disabled", "true");
      this.button.textContent = "Starting checkout…";
    } else {
      this.render();
    }
  }

  fail(text) {
    this.error.textContent = text;
    this.error.hidden = false;
    this.announce(text);
  }

  clearError() {
    this.error.hidden = true;
    this.error.textContent = "";
    // Not lost to the page's top when the choice that had focus goes.
    if (this.orphanChoice.contains(document.activeElement)) this.button.focus();
    this.orphanChoice.hidden = true;
  }

  /**
   * Back on the map after a checkout in this tab (the confirmation page's
   * link, the Back button, or `?booking=` from a return): say how it went.
   */
  async showOutcome() {
    const params = new URLSearchParams(location.search);
    const fromQuery = params.get("booking");
    if (fromQuery) {
      params.delete("booking");
      const query = params.toString();
      history.replaceState(null, "", location.pathname + (query ? `?${query}` : ""));
    }
    const saved = recall(this.showtimeId);
    const reference = fromQuery ?? saved?.reference;
    if (!reference) return;
    let booking;
    try {
      ({ body: booking } = await getJSON(`/api/bookings/${encodeURIComponent(reference)}`));
    } catch (error) {
      if (error instanceof HttpError && error.status < 500) forget(this.showtimeId);
      return;
    }
    if (booking.status !== "pending") forget(this.showtimeId);
    this.tell(booking, saved?.reference === reference ? saved.url : null);
  }

  tell(booking, payUrl) {
    const seats = seatList(booking.seats.map((s) => this.board.seats.get(s.id))
      .filter(Boolean)) ?? "your seats";
    const ref = booking.reference;
    if (booking.status === "booked") {
      this.notice(`Booking ${ref} is paid: ${seats} ${booking.seats.length === 1 ? "is" : "are"} `
        + "yours.", "info", { href: `/bookings/${ref}`, text: "See your ticket" });
    } else if (booking.status === "expired" && booking.attention === "late_payment_refunded") {
      this.notice(`Your payment for booking ${ref} arrived after ${seats} had been released `
        + "and sold to someone else, so it was refunded to you in full. Pick other seats to "
        + "try again.", "error");
    } else if (booking.status === "expired") {
      this.notice(`Your payment for booking ${ref} did not go through (it was declined or `
        + `timed out), so nothing was charged and ${seats} ${
          booking.seats.length === 1 ? "was" : "were"} released. `
        + "Pick seats again to try once more.", "error");
    } else if (booking.status === "pending") {
      this.notice(`Booking ${ref} is waiting for your payment. ${seats} stay${
        booking.seats.length === 1 ? "s" : ""} held for you until then.`, "info",
      payUrl ? { href: payUrl, text: "Continue to payment" } : null);
    } else if (booking.status === "cancelled") {
      this.notice(`Booking ${ref} was cancelled and refunded.`, "info");
    }
  }
}

/**
 * Where the ticket goes: a guest types an e-mail address (and maybe a phone);
 * a signed-in buyer is told the account's address is used.
 */
class Contact {
  /** @param {HTMLElement} root */
  constructor(root) {
    /** @type {HTMLFieldSetElement} */
    this.fields = root.querySelector("#checkout-contact");
    /** @type {HTMLInputElement} */
    this.email = root.querySelector("#checkout-email");
    /** @type {HTMLInputElement} */
    this.phone = root.querySelector("#checkout-phone");
    /** @type {HTMLElement} */
    this.account = root.querySelector("#checkout-account");
    this.guest = true;
    for (const input of [this.email, this.phone]) {
      input.addEventListener("input", () => this.mark(input, null));
    }
    this.load();
  }

  async load() {
    let me = null;
    try {
      ({ body: me } = await getJSON("/api/me"));
    } catch {
      // no session yet: the picker makes a guest one
    }
    this.guest = !me || me.kind === "guest";
    this.fields.hidden = !this.guest;
    this.account.hidden = this.guest;
    if (!this.guest) this.account.textContent = `Your ticket goes to ${me.email}.`;
  }

  /**
   * The contact to send, or null after marking what is wrong (focus on it).
   * @returns {{email?: string, phone?: string} | null}
   */
  read() {
    if (!this.guest) return {};
    const email = this.email.value.trim();
    const phone = this.phone.value.trim();
    if (!EMAIL.test(email) || email.length > 254) {
      this.mark(this.email, email ? `"${email}" does not look like an e-mail address. `
        + "Enter it like name@example.com." : "Enter your e-mail address: we send your "
        + "ticket there.");
      this.email.focus();
      return null;
    }
    if (phone && !PHONE.test(phone)) {
      this.mark(this.phone, "Enter the phone number with digits only (and + ( ) . / - or "
        + "spaces), or leave it empty.");
      this.phone.focus();
      return null;
    }
    return phone ? { email, phone } : { email };
  }

  /**
   * The server's refusal of a field (`email: …`, `phone: …`) shown by it.
   * @param {string} message
   */
  refused(message) {
    const field = message.startsWith("email") ? this.email
      : message.startsWith("phone") ? this.phone : null;
    if (!field) return false;
    this.mark(field, field === this.email
      ? "This e-mail address was refused. Enter it like name@example.com."
      : "This phone number was refused. Use digits only, or leave it empty.");
    field.focus();
    return true;
  }

  /**
   * @param {HTMLInputElement} input
   * @param {string | null} text the problem, or null when there is none
   */
  mark(input, text) {
    const slot = /** @type {HTMLElement} */ (document.getElementById(`${input.id}-error`));
    slot.textContent = text ?? "";
    slot.hidden = !text;
    if (text) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }
}

/** "Sales close at 19:50, 10 minutes before the start." in the theater's zone. */
function salesCloseText({ closesAt, startsAt, timeZone }) {
  const at = formatTime(new Date(closesAt), timeZone);
  const minutes = Math.round((Date.parse(startsAt) - Date.parse(closesAt)) / 60000);
  if (!startsAt || !(minutes > 0)) return `Sales close at ${at}.`;
  const before = minutes % 60 === 0 && minutes >= 60
    ? `${minutes / 60} hour${minutes === 60 ? "" : "s"}`
    : `${minutes} minute${minutes === 1 ? "" : "s"}`;
  return `Sales close at ${at}, ${before} before the start.`;
}

/** Worth retrying with the same key: the server did not decide (yet). */
function retryable(error) {
  return error.status >= 500 || error.code === "request_in_flight";
}

function refusalText(error, named, basket) {
  const names = named.length ? seatList(named) : null;
  switch (error.code) {
    case "seats_unavailable":
      return `Sorry, ${names ?? "some of your seats"} ${named.length === 1 ? "was" : "were"} `
        + "sold to someone else meanwhile and is no longer yours. Any other seats stay held "
        + "for you: select Checkout again to pay for them.";
    case "hold_expired":
      return `Your hold on ${names ?? basket} has expired, so ${named.length === 1 ? "it"
        : "they"} cannot be paid for. Pick the seats again if they are still free.`;
    case "nothing_to_book":
      return "You hold no seats here any more, so there is nothing to pay for. Pick seats on "
        + "the map first.";
    case "not_holder":
      return `${names ?? "Some seats"} ${named.length === 1 ? "is" : "are"} no longer held for `
        + "you (the hold may have expired). Pick them again to check out.";
    case "sales_closed":
      return "Sales for this showtime have closed, so it cannot be booked any more.";
    case "unknown_seat":
      return `${names ?? "A seat"} is not part of this showtime any more. Please reload the page.`;
    case "unauthorized":
      return "Your session has ended, so your holds are gone. Please reload the page and "
        + "pick your seats again.";
    case "request_in_flight":
      return "Your checkout is still being processed. Select Checkout again in a moment.";
    case "payment_unavailable":
      return "The payment provider is not answering, so nothing was charged. Your seats are "
        + "still held for you: select Checkout again in a moment.";
    case "unavailable":
      return "The server cannot reach its booking store right now. Your seats are still held: "
        + "select Checkout again in a moment.";
    default:
      if (error.status >= 500) {
        return "Something went wrong on our side. Your seats are still held: select Checkout "
          + "again in a moment.";
      }
      return `Checkout was refused: ${error.message}.`;
  }
}

/** 128 random bits in hex: crypto.randomUUID needs a secure context, this does not. */
function randomKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function remember(showtime, value) {
  try {
    sessionStorage.setItem(STORAGE_PREFIX + showtime, JSON.stringify(value));
  } catch {
    // storage blocked: the confirmation page still tells the outcome
  }
}

function recall(showtime) {
  try {
    return JSON.parse(sessionStorage.getItem(STORAGE_PREFIX + showtime) ?? "null");
  } catch {
    return null;
  }
}

function forget(showtime) {
  try {
    sessionStorage.removeItem(STORAGE_PREFIX + showtime);
  } catch {
    // nothing to forget
  }
}
