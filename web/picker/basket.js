// @ts-check
// Basket: the "your seats" panel: each seat with its type, price and time
// left, the total, and the countdown to the first hold's expiry.
//
// A minute before the first hold ends it warns (WCAG 2.2.1 Timing
// Adjustable): in words beside an "Extend" button, and once to screen
// readers through the assertive region, not on every tick. Holds can be
// extended only up to a limit (SEATSERVER_HOLD_MAX, `limit_at` in the extend
// acks); once the holds end there, the warning says so instead.

import { formatCountdown, formatMoney, seatName, spokenDuration, typeName } from "../shared/format.js";

const TICK_MS = 250;
const WARN_AT_MS = 60000;

export class Basket {
  /**
   * @param {any} root the basket's element (its parts are looked up by id)
   * @param {import("../shared/seatmap/board.js").SeatBoard} board
   * @param {import("../shared/clock.js").ServerClock} clock
   * @param {object} page
   * @param {(id: string) => void} page.onRelease
   * @param {() => void} page.onExtend the "Extend" button was pressed
   * @param {(text: string) => void} page.announce polite
   * @param {(text: string) => void} page.alert assertive: the warning, once
   */
  constructor(root, board, clock, { onRelease, onExtend, announce, alert }) {
    this.board = board;
    this.clock = clock;
    this.onRelease = onRelease;
    this.announce = announce;
    this.alert = alert;
    this.warning = root.querySelector("#hold-warning");
    this.warningText = root.querySelector("#hold-warning-text");
    /** @type {HTMLButtonElement} */
    this.extendButton = root.querySelector("#extend");
    /** @type {number | null} the end of our run of holds (server clock), once known */
    this.limitAt = null;
    this.extendButton.addEventListener("click", () => {
      if (!this.extendButton.hasAttribute("aria-disabled")) onExtend();
    });
    this.heading = root.querySelector("#basket-title");
    this.list = root.querySelector("#basket-list");
    this.empty = root.querySelector("#basket-empty");
    this.summary = root.querySelector("#basket-summary");
    this.total = root.querySelector("#basket-total");
    this.count = root.querySelector("#basket-count");
    this.timer = root.querySelector("#basket-timer");
    this.timerValue = root.querySelector("#basket-timer-value");
    this.root = root;
    // The phone bar's short "7:42 left" beside the total.
    this.barLeft = root.querySelector("#bar-left");
    this.warned = null;
    this.ticker = 0;
    this.onRender = () => {}; // others that follow the basket (the Checkout button)
    this.list.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-id]");
      if (button && !button.hasAttribute("aria-disabled")) this.onRelease(button.dataset.id);
    });
  }

  render() {
    const seats = this.board.basket();
    const focused = this.list.contains(document.activeElement)
      ? /** @type {HTMLElement} */ (document.activeElement).dataset.id : null;
    const before = [...this.list.children].map((li) => li.dataset.id);
    this.list.replaceChildren(...seats.map((seat) => this.item(seat)));
    if (focused) this.refocus(focused, before);
    if (!seats.length) this.limitAt = null; // a later hold begins a new run
    this.list.hidden = seats.length === 0;
    this.empty.hidden = seats.length > 0;
    this.summary.hidden = seats.length === 0;
    this.root.toggleAttribute("data-filled", seats.length > 0);
    const priced = seats.filter((seat) => seat.price);
    const amount = priced.reduce((sum, seat) => sum + seat.price.amount, 0);
    this.count.textContent = `${seats.length} seat${seats.length === 1 ? "" : "s"}`;
    this.total.textContent = priced.length
      ? formatMoney(amount, priced[0].price.currency) : "—";
    this.tick();
    this.onRender();
    if (seats.length && !this.ticker) this.ticker = setInterval(() => this.tick(), TICK_MS);
    if (!seats.length && this.ticker) {
      clearInterval(this.ticker);
      this.ticker = 0;
    }
  }

  /** Keep keyboard focus in the list when the seat it was on goes away. */
  refocus(id, before) {
    const buttons = [...this.list.querySelectorAll("button.release")];
    const same = buttons.find((button) => button.dataset.id === id);
    const next = buttons[Math.min(before.indexOf(id), buttons.length - 1)];
    (same ?? next ?? this.heading).focus();
  }

  item(seat) {
    const li = document.createElement("li");
    li.className = "basket-seat";
    li.dataset.id = seat.id;
    const pending = this.board.pending.get(seat.id);
    const name = document.createElement("span");
    name.className = "basket-name";
    name.textContent = seatName(seat);
    const detail = document.createElement("span");
    detail.className = "basket-detail";
    detail.textContent = typeName(seat.type) + (seat.accessible ? " · wheelchair space" : "");
    const price = document.createElement("span");
    price.className = "basket-price";
    price.textContent = seat.price ? formatMoney(seat.price.amount, seat.price.currency) : "";
    const left = document.createElement("span");
    left.className = "basket-left";
    left.dataset.id = seat.id;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "release";
    button.dataset.id = seat.id;
    button.textContent = "Remove";
    button.setAttribute("aria-label", `Remove ${seatName(seat)}`);
    if (pending) {
      left.textContent = pending.op === "hold" ? "Holding…" : "Releasing…";
      button.setAttribute("aria-disabled", "true"); // stays focusable, unlike disabled
    }
    li.append(name, price, detail, left, button);
    return li;
  }

  tick() {
    const now = this.clock.now();
    for (const left of this.list.querySelectorAll(".basket-left")) {
      const ours = this.board.mine.get(left.dataset.id);
      if (ours && !this.board.pending.has(left.dataset.id)) {
        const ms = ours.expiresAt - now;
        left.textContent = ms > 0 ? formatCountdown(ms) : "Releasing…";
      }
    }
    const earliest = this.board.earliestExpiry();
    this.timer.hidden = earliest === null;
    this.barLeft.hidden = earliest === null;
    const ms = earliest === null ? 0 : earliest - now;
    const warn = earliest !== null && ms > 0 && ms <= WARN_AT_MS;
    this.warning.hidden = !warn;
    if (earliest === null) return;
    this.timerValue.textContent = formatCountdown(ms);
    this.barLeft.textContent = `${formatCountdown(ms)} left`;
    this.barLeft.classList.toggle("urgent", ms <= WARN_AT_MS);
    this.timerValue.setAttribute("datetime", `PT${Math.max(0, Math.ceil(ms / 1000))}S`);
    this.timer.classList.toggle("urgent", ms <= WARN_AT_MS);
    if (!warn) return;
    const atLimit = this.atLimit();
    this.showWarning(atLimit);
    // Said once per deadline and limit: an update with the extended deadline
    // can arrive before the extend's ack says it is the limit, and the limit
    // is then said when the ack comes.
    const warning = `${earliest}:${atLimit}`;
    if (this.warned !== warning) {
      this.warned = warning;
      this.alert(atLimit
        ? `Your seats are held for ${spokenDuration(ms)} more, and cannot be held any `
          + "longer. Check out now to keep them."
        : `Your seats are held for ${spokenDuration(ms)} more. Use the Extend button `
          + "in Your seats to keep them longer.");
    }
  }

  /** Whether our holds already end where they can be held at the longest. */
  atLimit() {
    const earliest = this.board.earliestExpiry();
    return this.limitAt !== null && earliest !== null && earliest >= this.limitAt;
  }

  /** The warning's words: more time can be asked for, or not any more. */
  showWarning(atLimit) {
    const text = atLimit
      ? "Your seats cannot be held any longer: you have reached the time limit for "
        + "holding seats. Check out before the countdown ends, or they are released."
      : "Your seats will be released in less than a minute. Need more time?";
    if (this.warningText.textContent !== text) this.warningText.textContent = text;
    if (atLimit) this.warning.dataset.limit = "";
    else delete this.warning.dataset.limit;
    if (this.extendButton.hidden !== atLimit) {
      const hadFocus = document.activeElement === this.extendButton;
      this.extendButton.hidden = atLimit;
      if (hadFocus && atLimit) this.heading.focus(); // not lost to the page's top
    }
  }
}
