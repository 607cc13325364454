// @ts-check
// The account page at /account: sign up or log in (a guest's held seats and
// bookings come along), the profile, the order history, log-out; and the
// targets of the links we send: ?confirm=<token> and ?reset=<token>.

import {
  forgetSession, getJSON, HttpError, rememberSession, sendJSON,
} from "../shared/api.js";
import { $, $field, $form } from "../shared/dom.js";
import {
  compareSeats, formatMoney, formatStart, seatRanges,
} from "../shared/format.js";
import { Notice } from "../shared/notices.js";

const STATUS_WORDS = {
  pending: "waiting for payment", booked: "booked", expired: "expired (not paid)",
  cancelled: "cancelled and refunded",
};

/**
 * Where to go back to: a path on this site only, never another site. Judged
 * the way the browser will follow it (URL parsing reads a backslash as "/" and
 * drops tabs and newlines, so "/\evil.example/" and "/<tab>/evil.example/" are
 * other sites), and only the same-origin result's path is kept; anything unusual
 * (a backslash, a control character) is refused outright.
 */
function nextPath(params) {
  const next = params.get("next");
  if (!next || !next.startsWith("/") || /[\\\u0000-\u001f\u007f]/.test(next)) return null;
  let url;
  try {
    url = new URL(next, location.origin);
  } catch {
    return null;
  }
  if (url.origin !== location.origin || url.pathname.startsWith("//")) return null;
  return url.pathname + url.search + url.hash;
}

/**
 * What the way back is called, by where it leads: the picker's seats, a
 * film's page (where one logs in to write a review), or any other page.
 * @param {string} path
 */
function backText(path) {
  if (path.startsWith("/showtimes/")) return "Back to your seats";
  if (path.startsWith("/films/")) return "Back to the film";
  return "Back";
}

function errorText(error) {
  if (!(error instanceof HttpError)) {
    return "No answer from the server. Check your connection and try again.";
  }
  switch (error.code) {
    case "invalid_credentials":
      return "That e-mail address and password do not match an account.";
    case "rate_limited": {
      const minutes = Math.max(1, Math.ceil((error.retryAfterS ?? 60) / 60));
      return `Too many attempts. Please wait ${minutes} minute${minutes === 1 ? "" : "s"} `
        + "and try again.";
    }
    case "email_taken":
      return "An account already uses this e-mail address: log in, or reset its password.";
    case "invalid_token":
      return "This link does not work any more: it was used already, has expired, or a "
        + "newer one was sent. Ask for a new one.";
    case "csrf_failed":
      return "Your session changed in another tab. Reload this page and try again.";
    case "unauthorized":
      return "You are not logged in any more. Reload this page to log in again.";
    default:
      if (error.status >= 500) return "Something went wrong on our side. Please try again.";
      return error.message;
  }
}

/**
 * One order: film, local date and time, cinema and screen, seats in order,
 * total, state, and the link to its ticket.
 */
function orderItem(booking) {
  const item = document.createElement("li");
  item.className = "order";
  const show = booking.show;
  const title = document.createElement("h4");
  title.textContent = show?.movie ?? `Booking ${booking.reference}`;
  const when = document.createElement("p");
  when.className = "when";
  if (show) {
    const time = document.createElement("time");
    time.dateTime = show.starts_at;
    // The zone as the receipt names it ("CET"), not the browser's "GMT+1".
    time.textContent = `${formatStart(show.starts_at, show.time_zone, { year: "numeric" })
    } ${show.zone_abbreviation}`;
    when.append(time, ` · ${show.theater}, ${show.screen}`);
  }
  const seats = [...booking.seats].sort(compareSeats).map((seat) => {
    const match = /^([^0-9]*)([0-9]+)$/.exec(seat.id);
    return match ? { row: match[1], number: Number(match[2]) } : null;
  });
  const detail = document.createElement("p");
  detail.className = "detail";
  const seatText = seats.every(Boolean) ? seatRanges(seats)
    : `Seats ${booking.seats.map((seat) => seat.id).sort().join(", ")}`;
  const state = document.createElement("span");
  state.className = "status";
  state.dataset.status = booking.status;
  state.textContent = STATUS_WORDS[booking.status] ?? booking.status;
  detail.append(`${seatText} · ${formatMoney(booking.total.amount, booking.total.currency)} · `,
    state);
  const link = document.createElement("a");
  link.href = booking.ticket_url ?? `/bookings/${encodeURIComponent(booking.reference)}`;
  link.textContent = booking.status === "booked" ? "Ticket" : "Booking";
  link.append(` ${booking.reference}`);
  item.append(title, when, detail, link);
  return item;
}

class AccountPage {
  constructor() {
    const params = new URLSearchParams(location.search);
    this.next = nextPath(params);
    this.confirmToken = params.get("confirm");
    this.resetToken = params.get("reset");
    if (this.confirmToken || this.resetToken) {
      // Out of the address bar, the history and any Referer at once.
      params.delete("confirm");
      params.delete("reset");
      const query = params.toString();
      history.replaceState(null, "", location.pathname + (query ? `?${query}` : ""));
    }
    if (this.next) {
      /** @type {HTMLAnchorElement} */ ($("#back")).href = this.next;
      $("#back").textContent = backText(this.next);
    }
  }

  async start() {
    this.bind("#register", () => this.register());
    this.bind("#login", () => this.logIn());
    this.bind("#forgot", () => this.forgot());
    this.bind("#profile", () => this.saveProfile());
    $("#profile-email").addEventListener("input", () => this.askPasswordIfNeeded());
    this.bind("#reset-form", () => this.reset());
    $("#logout").addEventListener("click", () => this.logOut());
    if (this.confirmToken) await this.confirm();
    if (this.resetToken) {
      this.show("reset");
      $("#who").textContent = "Reset your password";
      return;
    }
    await this.load();
  }

  /** A form's submit runs `action` once at a time, its errors shown in the form. */
  bind(selector, action) {
    const form = $(selector);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = form.querySelector("button[type=submit]");
      if (button.getAttribute("aria-disabled") === "true") return;
      this.formError(form, null);
      button.setAttribute("aria-disabled", "true");
      try {
        await action();
      } catch (error) {
        this.formError(form, errorText(error));
      } finally {
        button.removeAttribute("aria-disabled");
      }
    });
  }

  formError(form, text) {
    const slot = form.querySelector(".form-error");
    slot.textContent = text ?? "";
    slot.hidden = !text;
  }

  show(view) {
    if (view !== "signed-out") $("#orders-card").hidden = view !== "signed-in";
    $("#signed-out").hidden = view !== "signed-out";
    $("#signed-in").hidden = view !== "signed-in";
    $("#reset").hidden = view !== "reset";
  }

  /**
   * @param {string} text
   * @param {import("../shared/notices.js").Tone} [tone]
   * @param {import("../shared/notices.js").NoticeLink | null} [link]
   */
  notice(text, tone = "info", link = null) {
    new Notice($("#notice")).show(text, tone, link);
  }

  backLink() {
    return this.next ? { href: this.next, text: backText(this.next) } : null;
  }

  async load() {
    let me = null;
    try {
      ({ body: me } = await getJSON("/api/me"));
    } catch (error) {
      if (!(error instanceof HttpError && error.status === 401)) {
        $("#who").textContent = errorText(error);
        return;
      }
    }
    if (!me || me.kind === "guest") {
      this.show("signed-out");
      $("#who").textContent = me ? "You are browsing as a guest." : "You are not logged in.";
      // A guest's bookings of this device, with their ticket links.
      if (me) await this.loadOrders({ guest: true });
      return;
    }
    this.render(me);
    this.show("signed-in");
    await this.loadOrders();
  }

  render(me) {
    this.email = me.email;
    $("#who").textContent = `Logged in as ${me.email}`
      + (me.kind === "customer" ? "" : ` (${me.kind})`);
    $field("#profile-name").value = me.name ?? "";
    $field("#profile-phone").value = me.phone ?? "";
    $field("#profile-email").value = me.email ?? "";
    $field("#profile-password").value = "";
    this.askPasswordIfNeeded();
    let state = me.email_verified ? "Your e-mail address is confirmed."
      : "Not confirmed yet: use the link we sent to this address.";
    if (me.email_pending) {
      state = `We sent a link to ${me.email_pending}: it becomes your address once you `
        + "open it. Until then we keep using the one above.";
    }
    $("#email-state").textContent = state;
  }

  /**
   * The order history: shows to come first (soonest first), then past ones
   * (latest first), as the server orders them; each with its ticket link.
   * @param {{guest?: boolean}} [options] a guest's card shows only with bookings
   */
  async loadOrders({ guest = false } = {}) {
    let bookings = [];
    try {
      ({ body: bookings } = await getJSON("/api/bookings"));
    } catch {
      $("#orders-empty").textContent = "Your bookings could not be loaded just now.";
      $("#orders-empty").hidden = false;
      $("#orders-card").hidden = guest;
      return;
    }
    $("#orders-card").hidden = guest && bookings.length === 0;
    $("#orders-guest").hidden = !guest;
    $("#orders-empty").hidden = bookings.length > 0;
    const now = Date.now();
    const past = (booking) => booking.show && Date.parse(booking.show.ends_at) <= now;
    const groups = [["Coming up", bookings.filter((b) => !past(b))],
      ["Past", bookings.filter(past)]].filter(([, list]) => list.length);
    $("#orders").replaceChildren(...groups.map(([title, list]) => {
      const group = document.createElement("li");
      group.className = "order-group";
      const heading = document.createElement("h3");
      heading.textContent = title;
      const items = document.createElement("ol");
      items.className = "order-list";
      items.setAttribute("aria-label", title);
      items.append(...list.map(orderItem));
      group.append(heading, items);
      return group;
    }));
  }

  /**
   * The form's fields by name (text fields only: it has no file inputs).
   * @param {string} form
   * @returns {Record<string, string>}
   */
  values(form) {
    const entries = new FormData($form(form)).entries();
    return Object.fromEntries(/** @type {Iterable<[string, string]>} */ (entries));
  }

  async register() {
    const { email, password, name } = this.values("#register");
    if (!email.includes("@")) throw new HttpError(400, "bad_request", "Enter your e-mail address.");
    if (password.length < 8) {
      throw new HttpError(400, "bad_request", "Choose a password of at least 8 characters.");
    }
    const body = { email, password };
    if (name.trim()) body.name = name;
    const done = await sendJSON("/api/auth/register", body);
    rememberSession();
    this.notice(`Welcome! Your account is ready. We sent a link to ${done.user.email} to `
      + "confirm the address.", "info", this.backLink());
    this.render(done.user);
    this.show("signed-in");
    await this.loadOrders();
  }

  async logIn() {
    const { email, password } = this.values("#login");
    const done = await sendJSON("/api/auth/login", { email, password });
    if (done.mfa === "code_required") {
      // A staff account: the code step is on the admin page (web/admin/mfa.js).
      sessionStorage.setItem("seatserver.mfa-challenge", done.challenge);
      location.assign("/admin");
      return;
    }
    rememberSession();
    const { seats, bookings } = done.linked;
    const brought = [];
    if (seats) brought.push(`${seats} held seat${seats === 1 ? "" : "s"}`);
    if (bookings.length) brought.push(`${bookings.length} booking${bookings.length === 1 ? "" : "s"}`);
    this.notice(brought.length ? `Logged in. Your ${brought.join(" and ")} came with you.`
      : "Logged in.", "info", this.backLink());
    this.render(done.user);
    this.show("signed-in");
    await this.loadOrders();
  }

  async forgot() {
    const { email } = this.values("#forgot");
    if (!email.includes("@")) throw new HttpError(400, "bad_request", "Enter your e-mail address.");
    await sendJSON("/api/auth/password-reset", { email });
    this.notice(`If an account uses ${email}, a link to reset its password is on its way.`);
  }

  /** A new e-mail address takes the current password: show its field only then. */
  emailChanged() {
    const email = $field("#profile-email").value.trim().toLowerCase();
    return email !== (this.email ?? "").toLowerCase();
  }

  askPasswordIfNeeded() {
    const needed = this.emailChanged();
    $("#profile-password-field").hidden = !needed;
    $field("#profile-password").required = needed;
  }

  async saveProfile() {
    const { name, phone, email } = this.values("#profile");
    const password = $field("#profile-password").value;
    const changes = { name: name.trim() || null, phone: phone.trim() || null };
    // Sent only when changed: the same address again would send its link again.
    if (this.emailChanged()) {
      if (!password) {
        throw new HttpError(400, "bad_request",
          "Enter your current password to change your e-mail address.");
      }
      changes.email = email;
      changes.current_password = password;
    }
    let me;
    try {
      me = await sendJSON("/api/me", changes, { method: "PATCH" });
    } catch (error) {
      if (error instanceof HttpError && error.code === "invalid_credentials") {
        throw new HttpError(error.status, "wrong_password",
          "That is not your current password, so the e-mail address was not changed.");
      }
      if (error instanceof HttpError && error.code === "rate_limited") {
        const minutes = Math.max(1, Math.ceil((error.retryAfterS ?? 60) / 60));
        throw new HttpError(error.status, "too_many_changes", "Too many changes or wrong "
          + `passwords in a row. Please wait ${minutes} minute${minutes === 1 ? "" : "s"} `
          + "and try again.");
      }
      throw error;
    }
    this.render(me);
    this.notice(me.email_pending
      ? `Saved. Open the link we sent to ${me.email_pending} to make it your address.`
      : "Saved.");
  }

  async logOut() {
    try {
      await sendJSON("/api/auth/logout", {});
    } catch (error) {
      if (!(error instanceof HttpError && error.status === 401)) {
        this.notice(errorText(error), "error");
        return;
      }
    }
    forgetSession();
    this.notice("You are logged out.");
    $("#who").textContent = "You are not logged in.";
    $("#orders").replaceChildren();
    $("#orders-card").hidden = true;
    this.show("signed-out");
  }

  async confirm() {
    try {
      const done = await sendJSON("/api/auth/email/confirm", { token: this.confirmToken });
      this.notice(`Thank you: ${done.email} is confirmed.`);
    } catch (error) {
      this.notice(errorText(error), "error");
    }
  }

  async reset() {
    const { password } = this.values("#reset-form");
    if (password.length < 8) {
      throw new HttpError(400, "bad_request", "Choose a password of at least 8 characters.");
    }
    await sendJSON("/api/auth/password-reset/confirm", { token: this.resetToken, password });
    this.resetToken = null;
    forgetSession(); // every session of the account was ended
    this.notice("Your password is changed. Log in with it now.");
    this.show("signed-out");
    $("#who").textContent = "You are not logged in.";
  }
}

new AccountPage().start();
