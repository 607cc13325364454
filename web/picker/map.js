// @ts-check
// SeatMap: the seat grid in the DOM. One <button> per seat, placed on a CSS
// grid by its x/y, so aisles and gaps are simply empty cells; the seat's
// shape and marks come from the page's SVG sprite.
//
// Keyboard: one roving tab stop; arrow keys move along rows and columns
// (skipping aisles and gaps), Home/End to the row's ends, Ctrl+Home/End to
// the first and last seat; Enter and Space press the button.
//
// Rendering is batched: `refresh(ids)` only marks seats dirty, and one
// animation frame later each dirty seat is redrawn once, however many updates
// touched it meanwhile. A storm of updates costs one pass per frame.

import { formatMoney, seatName, typeName } from "../shared/format.js";
import { sidesOutOfView } from "../shared/outofview.js";
import { paintIcon, seatIcon, typeColours } from "../shared/seatmap/drawing.js";
import { seatGrid } from "../shared/seatmap/geometry.js";

// A frame that never comes (hidden tab) must not hold changes back forever.
const FLUSH_FALLBACK_MS = 250;
// Seat sizes (CSS px) the + and - steps go through above the fitted size: every
// zoomed-in size is a target of at least 24x24 px (WCAG 2.5.8).
const ZOOM_STEPS = [28, 36, 44, 56];
const LARGEST_SEAT = ZOOM_STEPS.at(-1);
// Fitted, seats never grow past a comfortable size on a wide screen.
const FITTED_MAX = 44;
const SMALLEST_SEAT = 6;
const STAGE_PADDING = 16; // .stage's padding, both sides
// A mouse moved this far with its button down pans the map rather than clicks.
const DRAG_FROM_PX = 6;

export function seatLabel(seat, look, pendingOp) {
  const parts = [seatName(seat), typeName(seat.type)];
  if (seat.accessible) parts.push("wheelchair space");
  // A blocked seat (house seats, press) has a price but is not sold online.
  if (look !== "blocked") {
    parts.push(seat.price ? formatMoney(seat.price.amount, seat.price.currency) : "not on sale");
  }
  parts.push(lookWords(look, pendingOp));
  return parts.join(", ");
}

export function lookWords(look, pendingOp) {
  switch (look) {
    case "available": return "available";
    case "held": return "held by someone else";
    case "booked": return "sold";
    case "bought": return "booked by you";
    case "blocked": return "not on sale";
    case "mine": return "held for you";
    case "pending": return pendingOp === "release" ? "releasing" : "holding for you";
    default: return look;
  }
}

/**
 * The seat button an event happened on, if any.
 * @param {Event} event
 * @returns {HTMLElement | null}
 */
function seatOf(event) {
  return event.target instanceof Element ? event.target.closest(".seat") : null;
}

/**
 * How the map is shown: fitted or zoomed, its seat size, and whether seats
 * lie outside the view to the left or right.
 * @typedef {{fitted: boolean, canZoomIn: boolean, seat: number, left: boolean,
 *   right: boolean}} MapView
 */

/**
 * Whether a seat's focus shows (keyboard, or focus moved by the page), not
 * focus left by a tap or click.
 * @param {HTMLElement} button
 */
function visibleFocus(button) {
  return button.matches(":focus-visible");
}

export class SeatMap {
  /**
   * @param {HTMLElement} root the element to fill
   * @param {import("../shared/seatmap/board.js").SeatBoard} board
   * @param {{screen?: "top" | "bottom"}} layout the screen's layout hints
   * @param {object} handlers
   * @param {(id: string) => void} handlers.onActivate a seat was clicked or pressed
   * @param {(id: string) => void} [handlers.onFocusSeat] a seat was focused or pointed at
   * @param {(id: string | null, button: HTMLElement | null) => void} [handlers.onHint]
   *   the seat whose hint (tooltip) should show now: pointed at, else focused; null: none
   * @param {(view: MapView) => void} [handlers.onView] the zoom or the part in view changed
   */
  constructor(root, board, layout,
    { onActivate, onFocusSeat = () => {}, onHint = () => {}, onView = () => {} }) {
    this.root = root;
    this.board = board;
    this.onActivate = onActivate;
    this.onFocusSeat = onFocusSeat;
    this.onHint = onHint;
    this.onView = onView;
    /** @type {number | null} the zoomed seat size (px); null: fitted to the width */
    this.zoomed = null;
    this.size = 0;
    this.buttons = new Map();
    this.dirty = new Set();
    this.frame = 0;
    this.fallback = 0;
    this.current = null;
    this.build(layout ?? {});
  }

  build(layout) {
    const cells = seatGrid(this.board.seats.values());
    const seats = cells.seats;
    const cols = cells.cols;
    const screenAtBottom = layout.screen === "bottom";
    this.rows = cells.rows;
    this.ys = cells.ys;

    const stage = document.createElement("div");
    stage.className = "stage";
    const screen = document.createElement("div");
    screen.className = "screen";
    screen.textContent = "Screen";
    const grid = document.createElement("div");
    grid.className = "seats";
    grid.setAttribute("role", "group");
    grid.setAttribute("aria-label", `Seats, ${seats.length} in ${this.rows.size} rows; `
      + `the screen is ${screenAtBottom ? "behind the last" : "in front of the first"} row`);
    grid.setAttribute("aria-describedby", "map-help");
    grid.style.setProperty("--cols", String(cols));
    const colours = typeColours(new Set(seats.map((s) => s.type)));

    for (const y of this.ys) {
      const row = this.rows.get(y);
      for (const side of [1, cols + 2]) {
        const label = document.createElement("span");
        label.className = `row-label ${side === 1 ? "start" : "end"}`;
        label.setAttribute("aria-hidden", "true");
        label.textContent = row[0].row;
        label.style.gridRow = String(cells.line(row[0]) + 1);
        label.style.gridColumn = String(side);
        grid.append(label);
      }
      for (const seat of row) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "seat";
        button.dataset.id = seat.id;
        button.tabIndex = -1;
        button.style.gridRow = String(cells.line(seat) + 1);
        button.style.gridColumn = String(cells.column(seat) + 2);
        button.style.setProperty("--fill", colours[seat.type].fill);
        button.style.setProperty("--stroke", colours[seat.type].stroke);
        button.append(seatIcon(seat.accessible));
        this.buttons.set(seat.id, button);
        grid.append(button);
        this.paint(seat.id);
      }
    }
    stage.append(...(screenAtBottom ? [grid, screen] : [screen, grid]));
    this.root.replaceChildren(stage);
    this.grid = grid;

    grid.addEventListener("click", (event) => {
      const button = seatOf(event);
      if (button) this.onActivate(button.dataset.id);
    });
    this.cols = cols;
    grid.addEventListener("keydown", (event) => this.onKey(event));
    grid.addEventListener("focusin", (event) => {
      const button = seatOf(event);
      if (button) {
        // The tooltip's state line is the seat's accessible description: filled
        // in for the focused seat even when it does not show (after a tap).
        this.setCurrent(button.dataset.id);
        this.onHint(button.dataset.id, visibleFocus(button) ? button : null);
      }
    });
    grid.addEventListener("focusout", () => {
      requestAnimationFrame(() => this.hintFocused());
    });
    grid.addEventListener("pointerover", (event) => {
      const button = seatOf(event);
      if (button) {
        this.onHint(button.dataset.id, button);
        this.onFocusSeat(button.dataset.id);
      }
    });
    grid.addEventListener("pointerout", (event) => {
      if (seatOf(event)) this.hintFocused();
    });
    this.current = seats[0].id;
    this.buttons.get(this.current).tabIndex = 0;
    this.layOut();
    new ResizeObserver(() => this.layOut()).observe(this.root);
    this.root.addEventListener("scroll", () => this.tellView(), { passive: true });
    this.pinchable();
    this.draggable();
  }

  /**
   * A zoomed map pans under a mouse drag, as it does under a finger; a drag
   * holds no seat (the click that ends it is swallowed).
   */
  draggable() {
    /** @type {{x: number, left: number, moved: boolean} | null} */
    let drag = null;
    this.root.addEventListener("pointerdown", (event) => {
      if (event.pointerType !== "mouse" || event.button !== 0) return;
      if (this.root.scrollWidth <= this.root.clientWidth) return;
      drag = { x: event.clientX, left: this.root.scrollLeft, moved: false };
    });
    this.root.addEventListener("pointermove", (event) => {
      if (!drag) return;
      const dx = event.clientX - drag.x;
      if (!drag.moved && Math.abs(dx) < DRAG_FROM_PX) return;
      if (!drag.moved) this.root.setPointerCapture(event.pointerId);
      drag.moved = true;
      this.root.scrollLeft = drag.left - dx;
    });
    const swallow = (/** @type {Event} */ event) => event.stopPropagation();
    const end = () => {
      if (drag?.moved) {
        // The click that follows this pointerup, if any, and never a later one.
        this.root.addEventListener("click", swallow, { capture: true, once: true });
        setTimeout(() => this.root.removeEventListener("click", swallow, { capture: true }), 0);
      }
      drag = null;
    };
    this.root.addEventListener("pointerup", end);
    this.root.addEventListener("pointercancel", () => { drag = null; });
  }

  /**
   * The seat size (px) at which the whole hall fits the map's width, with the
   * gaps and row letters that go with it.
   */
  fitted() {
    const width = this.root.clientWidth - STAGE_PADDING;
    for (const [gap, label] of [[4, 26], [2, 18]]) {
      const seat = Math.floor((width - 2 * label - (this.cols + 1) * gap) / this.cols);
      if (seat >= 24 || gap === 2) return Math.max(SMALLEST_SEAT, Math.min(FITTED_MAX, seat));
    }
    return SMALLEST_SEAT; // not reached
  }

  /** Size the seats: fitted, or the zoomed size (never smaller than fitted). */
  layOut() {
    const fit = this.fitted();
    const size = this.zoomed === null ? fit : Math.max(fit, this.zoomed);
    if (this.zoomed !== null && this.zoomed <= fit) this.zoomed = null;
    if (size !== this.size) {
      this.size = size;
      const small = size < 24;
      this.grid.style.setProperty("--seat", `${size}px`);
      this.grid.style.setProperty("--gap", small ? "2px" : "4px");
      this.grid.style.setProperty("--label", small ? "18px" : "26px");
      this.grid.toggleAttribute("data-small", small);
    }
    this.tellView();
  }

  /**
   * Zoom to a seat size, keeping the point `anchor` (client x, default the
   * map's middle) where it is.
   * @param {number | null} size px; null: fit the width
   * @param {number} [anchor]
   */
  zoomTo(size, anchor) {
    const box = this.root.getBoundingClientRect();
    const x = (anchor ?? box.left + box.width / 2) - box.left;
    const before = this.grid.offsetWidth;
    const at = (this.root.scrollLeft + x) / (before || 1);
    const fit = this.fitted();
    this.zoomed = size === null || size <= fit ? null : Math.min(LARGEST_SEAT, size);
    this.layOut();
    this.root.scrollLeft = at * this.grid.offsetWidth - x;
    const focused = this.focusedSeat();
    if (focused) this.buttons.get(focused).scrollIntoView({ block: "nearest", inline: "nearest" });
    this.tellView();
  }

  zoomIn() {
    this.zoomTo(ZOOM_STEPS.find((step) => step > this.size) ?? LARGEST_SEAT);
  }

  zoomOut() {
    const fit = this.fitted();
    const smaller = ZOOM_STEPS.filter((step) => step < this.size && step > fit);
    this.zoomTo(smaller.length ? smaller.at(-1) : null);
  }

  /** @returns {MapView} */
  view() {
    const sides = sidesOutOfView(this.root);
    return {
      fitted: this.zoomed === null,
      canZoomIn: this.size < LARGEST_SEAT,
      seat: this.size,
      left: sides.includes("left"),
      right: sides.includes("right"),
    };
  }

  tellView() {
    const view = this.view();
    const more = [view.left ? "left" : "", view.right ? "right" : ""].filter(Boolean).join(" ");
    if (more) this.root.dataset.more = more;
    else delete this.root.dataset.more;
    this.onView(view);
  }

  /** Two fingers on the map zoom it (the page's own pinch-zoom stays outside it). */
  pinchable() {
    /** @type {{distance: number, size: number} | null} */
    let pinch = null;
    const spread = (/** @type {TouchList} */ touches) => Math.hypot(
      touches[0].clientX - touches[1].clientX, touches[0].clientY - touches[1].clientY);
    this.root.addEventListener("touchstart", (event) => {
      if (event.touches.length === 2) pinch = { distance: spread(event.touches), size: this.size };
    }, { passive: true });
    this.root.addEventListener("touchmove", (event) => {
      if (!pinch || event.touches.length !== 2) return;
      event.preventDefault();
      const middle = (event.touches[0].clientX + event.touches[1].clientX) / 2;
      const size = Math.round(pinch.size * spread(event.touches) / (pinch.distance || 1));
      if (size !== this.size) this.zoomTo(size, middle);
    }, { passive: false });
    const end = (/** @type {TouchEvent} */ event) => {
      if (event.touches.length < 2) pinch = null;
    };
    this.root.addEventListener("touchend", end, { passive: true });
    this.root.addEventListener("touchcancel", end, { passive: true });
  }

  setCurrent(id) {
    if (this.current === id) return;
    if (this.current) this.buttons.get(this.current).tabIndex = -1;
    this.current = id;
    this.buttons.get(id).tabIndex = 0;
    this.onFocusSeat(id);
  }

  focus(id) {
    this.setCurrent(id);
    this.buttons.get(id).focus();
  }

  /**
   * The pointer left a seat or focus moved: the focused seat's hint, if any.
   * Not after a tap or click (focus not shown): on a phone the tooltip would
   * stay over the seats around the one just tapped.
   */
  hintFocused() {
    const id = this.focusedSeat();
    const button = id ? this.buttons.get(id) : null;
    this.onHint(button && visibleFocus(button) ? id : null,
      button && visibleFocus(button) ? button : null);
  }

  hasFocus() {
    return this.grid.contains(document.activeElement);
  }

  focusedSeat() {
    return this.hasFocus() ? this.current : null;
  }

  onKey(event) {
    if (event.altKey || event.metaKey || !this.current) return;
    const zoom = { "+": () => this.zoomIn(), "=": () => this.zoomIn(),
      "-": () => this.zoomOut(), "0": () => this.zoomTo(null) }[event.key];
    if (zoom && !event.ctrlKey) {
      event.preventDefault();
      zoom();
      return;
    }
    const target = this.neighbour(this.board.seats.get(this.current), event.key, event.ctrlKey);
    if (target === undefined) return;
    event.preventDefault();
    if (target) this.focus(target.id);
  }

  /** The seat a key moves to from `seat`; null at an edge, undefined if not a move key. */
  neighbour(seat, key, ctrl) {
    const row = this.rows.get(seat.y);
    const at = row.indexOf(seat);
    switch (key) {
      case "ArrowLeft": return row[at - 1] ?? null;
      case "ArrowRight": return row[at + 1] ?? null;
      case "Home": return ctrl ? this.rows.get(this.ys[0])[0] : row[0];
      case "End": return ctrl ? this.rows.get(this.ys.at(-1)).at(-1) : row.at(-1);
      case "ArrowUp": return this.nearestIn(this.ys[this.ys.indexOf(seat.y) - 1], seat.x);
      case "ArrowDown": return this.nearestIn(this.ys[this.ys.indexOf(seat.y) + 1], seat.x);
      case "PageUp": return this.nearestIn(this.ys[0], seat.x);
      case "PageDown": return this.nearestIn(this.ys.at(-1), seat.x);
      default: return undefined;
    }
  }

  nearestIn(y, x) {
    if (y === undefined) return null;
    let best = null;
    for (const seat of this.rows.get(y)) {
      if (!best || Math.abs(seat.x - x) < Math.abs(best.x - x)) best = seat;
    }
    return best;
  }

  /** Mark seats for redrawing at the next animation frame. */
  refresh(ids) {
    for (const id of ids) this.dirty.add(id);
    if (this.frame || !this.dirty.size) return;
    this.frame = requestAnimationFrame(() => this.flush());
    this.fallback = setTimeout(() => this.flush(), FLUSH_FALLBACK_MS);
  }

  flush() {
    cancelAnimationFrame(this.frame);
    clearTimeout(this.fallback);
    this.frame = 0;
    const ids = this.dirty;
    this.dirty = new Set();
    for (const id of ids) this.paint(id);
  }

  paint(id) {
    const button = this.buttons.get(id);
    const seat = this.board.seats.get(id);
    const look = this.board.look(id);
    const pendingOp = this.board.pending.get(id)?.op;
    const key = pendingOp ? `${look}:${pendingOp}` : look;
    if (button.dataset.key === key) return;
    button.dataset.key = key;
    button.dataset.look = look;
    button.setAttribute("aria-label", seatLabel(seat, look, pendingOp));
    // Someone else's hold: its "frees in" tooltip line describes it (picker.js).
    if (look === "held") button.setAttribute("aria-describedby", "seat-tip-frees");
    else button.removeAttribute("aria-describedby");
    const actionable = look === "available" || look === "mine";
    if (actionable) button.removeAttribute("aria-disabled");
    else button.setAttribute("aria-disabled", "true");
    paintIcon(button.firstChild, look);
  }
}
