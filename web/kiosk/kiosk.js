// @ts-check
// The lobby board at /kiosk: the next showtimes (today's first) with their
// free seats per type, live through `summary` subscriptions; with
// ?showtime=ID one showtime's whole seat map instead. ?theater=ID limits the
// board to one theater.
//
// Nobody touches a kiosk, so it looks after itself: it reconnects forever,
// says when its figures may be out of date, refreshes its showtime list as
// the day goes on, and picks up a new deploy by reloading at a quiet moment.
// It only ever reads: it never holds a seat, and never queues in a waiting
// room (its on-sale times and queue lengths come from the public
// /api/showtimes/{id}/queue, polled).

import { ensureSession, getJSON, HttpError } from "../shared/api.js";
import { $, element } from "../shared/dom.js";
import { dayKey, formatStart, formatTime, typeName } from "../shared/format.js";
import { SeatBoard } from "../shared/seatmap/board.js";
import { paintIcon, seatIcon, seatUses, typeColours } from "../shared/seatmap/drawing.js";
import { seatGrid } from "../shared/seatmap/geometry.js";
import { ServerClock } from "../shared/clock.js";
import { SeatSocket } from "../shared/socket.js";
import { installSprite } from "../shared/sprite.js";

const VERSION = document.querySelector('meta[name="seatserver-version"]')
  ?.getAttribute("content");
const LIST_REFRESH_MS = 5 * 60000;
const VERSION_CHECK_MS = 60000;
// A new deploy is loaded once no figure has changed for this long...
const QUIET_MS = 10000;
// ...or after this long regardless, on a board that never rests.
const RELOAD_ANYWAY_MS = 10 * 60000;
// Down this long: the board says its figures may be out of date.
const STALE_AFTER_MS = 5000;
const MAX_SHOWTIMES = 6;
const FEW_LEFT_SHARE = 0.1;
const FEW_LEFT_MIN = 5;
const SVG = "http://www.w3.org/2000/svg";
// The map's legend counts the seats whose holds lapse within this long.
const FREEING_WITHIN_MS = 5 * 60000;
const FREEING_CHECK_MS = 5000;
// How often a showtime with an on-sale time or a waiting room is asked how
// many wait (others are looked at again with the showtime list).
const SALE_POLL_MS = 15000;
const params = new URLSearchParams(location.search);
const counts = new Intl.NumberFormat(document.documentElement.lang || "en");

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * GET with retries for as long as it takes; a kiosk has nobody to press reload.
 * @param {string} url
 */
async function fetchForever(url) {
  for (let attempt = 0; ; attempt++) {
    try {
      return (await getJSON(url)).body;
    } catch (error) {
      if (error instanceof HttpError && error.status === 404) throw error;
      await sleep(Math.min(30000, 1000 * 2 ** attempt));
    }
  }
}

/**
 * "sold-out", "few" or "ok" for `free` of `total` seats.
 * @param {number} free
 * @param {number} total
 * @returns {"sold-out" | "few" | "ok"}
 */
export function availability(free, total) {
  if (free <= 0) return "sold-out";
  if (free <= Math.max(FEW_LEFT_MIN, Math.ceil(total * FEW_LEFT_SHARE))) return "few";
  return "ok";
}

/**
 * A showtime's sale, as /api/showtimes/{id}/queue says it.
 * @typedef {{on_sale_at: string | null, waiting_room: boolean, waiting: number}} Sale
 */

/**
 * "On sale at 10:00 · 3,412 waiting" (in the theater's time zone); "" for a
 * showtime on sale with no waiting room.
 * @param {Sale | undefined} sale
 * @param {string | undefined} zone
 */
export function saleLine(sale, zone) {
  if (!sale) return "";
  const parts = [];
  const at = sale.on_sale_at ? new Date(sale.on_sale_at) : null;
  if (at && at.getTime() > Date.now()) {
    const today = dayKey(at, zone) === dayKey(new Date(), zone);
    parts.push(`On sale at ${today ? formatTime(at, zone)
      : formatStart(at.toISOString(), zone)}`);
  }
  if (sale.waiting_room) parts.push(`${counts.format(sale.waiting)} waiting`);
  return parts.join(" · ");
}

/** Is there anything about this sale worth asking about again soon? */
function gated(sale) {
  return Boolean(sale && (sale.waiting_room
    || (sale.on_sale_at && Date.parse(sale.on_sale_at) > Date.now())));
}

/**
 * The sales of the showtimes on the board, asked over HTTP (a kiosk must not
 * join a queue): all of them when the list changes, the gated ones often.
 */
class SaleWatch {
  /** @param {(id: number) => void} onChange */
  constructor(onChange) {
    this.onChange = onChange;
    /** @type {Map<number, Sale>} */
    this.sales = new Map();
    /** @type {number[]} */
    this.ids = [];
    this.timer = setInterval(() => this.poll(false), SALE_POLL_MS);
  }

  /** @param {number[]} ids */
  watch(ids) {
    this.ids = ids;
    for (const id of this.sales.keys()) if (!ids.includes(id)) this.sales.delete(id);
    this.poll(true);
  }

  /** @param {boolean} all */
  async poll(all) {
    await Promise.all(this.ids.filter((id) => all || gated(this.sales.get(id))).map(async (id) => {
      try {
        const { body } = await getJSON(`/api/showtimes/${id}/queue`);
        if (!this.ids.includes(id)) return;
        this.sales.set(id, body);
        this.onChange(id);
      } catch {
        // down, or an older server: the last figure stands until the next poll
      }
    }));
  }
}

const AVAILABILITY_WORDS = { "sold-out": "Sold out", few: "Few left", ok: "Available" };

/** Connection state, staleness, the clock, and when it is safe to reload. */
class Health {
  constructor() {
    this.timeZone = undefined;
    this.lastChange = performance.now();
    this.downSince = null;
    this.status = "connecting";
    this.newVersionSince = null;
    this.socket = new SeatSocket({
      backoffCapMs: 30000,
      onStatus: (status, detail) => this.onStatus(status, detail),
    });
  }

  start() {
    this.tickClock();
    setInterval(() => this.tickClock(), 5000);
    setInterval(() => this.showStaleness(), 1000);
    const jitter = Math.random() * 10000;
    setInterval(() => this.checkVersion(), VERSION_CHECK_MS + jitter);
    setInterval(() => this.maybeReload(), 5000);
    this.socket.start();
  }

  changed() {
    this.lastChange = performance.now();
  }

  onStatus(status, { changed, downSince }) {
    this.status = status;
    this.downSince = status === "live" ? null : downSince ?? Date.now();
    $("#conn").dataset.status = status;
    $("#conn-text").textContent = {
      connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…", offline: "Offline",
    }[status];
    // A reconnect is often a deploy restarting the server: look at once.
    if (changed && status === "live") this.checkVersion();
    this.showStaleness();
  }

  isStale() {
    return this.downSince !== null && Date.now() - this.downSince >= STALE_AFTER_MS;
  }

  showStaleness() {
    const stale = this.isStale();
    const banner = $("#stale");
    banner.hidden = !stale;
    document.body.classList.toggle("is-stale", stale);
    if (stale) {
      // The theater's time, as the clock shows it; none rather than the
      // browser's own zone's before any showtime has told the theater's.
      const since = this.timeZone
        ? ` since ${formatTime(new Date(this.downSince), this.timeZone)}` : "";
      banner.textContent = `No connection${since}: seat numbers may be out of date. `
        + "Reconnecting…";
    }
  }

  /**
   * The theater's time zone, once a showtime has told it: the clock shows it at once.
   * @param {string} zone
   */
  setTimeZone(zone) {
    this.timeZone = zone;
    this.tickClock();
  }

  /** The theater's time; blank until it is known, never the browser's own zone's. */
  tickClock() {
    $("#clock").textContent = this.timeZone ? formatTime(new Date(), this.timeZone) : "";
  }

  async checkVersion() {
    try {
      const response = await fetch("/version", { cache: "no-store" });
      const { version } = await response.json();
      if (version && VERSION && version !== VERSION) this.newVersionSince ??= Date.now();
    } catch {
      // down or mid-deploy: try again at the next check
    }
  }

  /** Reload into a new deploy, but only when the board is quiet and the page is there. */
  async maybeReload() {
    if (this.newVersionSince === null) return;
    const quiet = this.status === "live" && performance.now() - this.lastChange >= QUIET_MS;
    if (!quiet && Date.now() - this.newVersionSince < RELOAD_ANYWAY_MS) return;
    try {
      const response = await fetch(location.href, { cache: "no-store" });
      if (response.ok) location.reload();
    } catch {
      // not now; the next check tries again
    }
  }
}

/** The list of showtimes with free seats per type. */
class ShowtimeBoard {
  constructor(health) {
    this.health = health;
    this.socket = health.socket;
    this.theater = params.get("theater");
    this.showtimes = new Map();
    this.summaries = new Map();
    this.rows = new Map();
    this.sales = new SaleWatch((id) => this.fill(id));
  }

  async start() {
    await this.refresh();
    setInterval(() => this.refresh(), LIST_REFRESH_MS);
  }

  async refresh() {
    let all;
    try {
      all = await fetchForever("/api/showtimes");
    } catch {
      return;
    }
    if (this.theater) all = all.filter((s) => String(s.theater.id) === this.theater);
    const picked = this.pick(all);
    const wanted = new Set(picked.map((s) => s.id));
    for (const id of this.showtimes.keys()) {
      if (!wanted.has(id)) {
        this.socket.unsubscribe(id);
        this.summaries.delete(id);
      }
    }
    for (const showtime of picked) {
      if (!this.showtimes.has(showtime.id)) {
        this.socket.subscribe(showtime.id, {
          view: "summary",
          onFrame: (frame) => this.onSummary(frame),
        });
      }
    }
    this.showtimes = new Map(picked.map((s) => [s.id, s]));
    this.render(picked, all);
    this.sales.watch(picked.map((s) => s.id));
  }

  /** The next showtimes, today's first: as many as the board has room for. */
  pick(all) {
    if (all.length) this.health.setTimeZone(all[0].theater.time_zone);
    return all.slice(0, MAX_SHOWTIMES);
  }

  render(picked, all) {
    const board = $("#board");
    board.removeAttribute("aria-busy");
    this.rows.clear();
    const zone = this.health.timeZone;
    const theaters = new Set(all.map((s) => s.theater.name));
    $("#board-title").textContent = theaters.size === 1 ? all[0].theater.name : "Seats available";
    $("#board-subtitle").textContent = formatStart(new Date().toISOString(), zone,
      { weekday: "long", month: "long", hour: undefined, minute: undefined });
    if (!picked.length) {
      board.replaceChildren(element("p", "board-message", "No showtimes are on sale right now."));
      return;
    }
    const days = new Map();
    for (const showtime of picked) {
      const key = dayKey(new Date(showtime.starts_at), zone);
      if (!days.has(key)) days.set(key, []);
      days.get(key).push(showtime);
    }
    const sections = [...days].map(([key, showtimes]) => {
      const section = element("section", "day");
      section.append(element("h2", "day-title", this.dayTitle(key, showtimes[0], zone)));
      const list = element("ol", "shows");
      for (const showtime of showtimes) {
        const row = this.row(showtime);
        this.rows.set(showtime.id, row);
        list.append(row);
        this.fill(showtime.id);
      }
      section.append(list);
      return section;
    });
    board.replaceChildren(...sections);
    $("#board-footer").textContent = "Free seats right now, per seat type. "
      + "Seats someone is choosing count as taken until they are released.";
  }

  dayTitle(key, showtime, zone) {
    const now = new Date();
    const tomorrow = new Date(now.getTime() + 86400000);
    if (key === dayKey(now, zone)) return "Today";
    const date = formatStart(showtime.starts_at, zone,
      { weekday: "long", month: "long", hour: undefined, minute: undefined });
    return key === dayKey(tomorrow, zone) ? `Tomorrow, ${date}` : date;
  }

  row(showtime) {
    const zone = showtime.theater.time_zone;
    const li = element("li", "show");
    li.dataset.showtime = String(showtime.id);
    const time = element("time", "show-time", formatTime(new Date(showtime.starts_at), zone));
    time.dateTime = showtime.starts_at;
    const main = element("div", "show-main");
    main.append(element("h3", "show-title", showtime.movie.title));
    const facts = [showtime.screen.name, `${showtime.movie.runtime_min} min`];
    if (showtime.movie.certificate) facts.push(`rated ${showtime.movie.certificate}`);
    main.append(element("p", "show-facts", facts.join(" · ")));
    const sale = element("p", "show-sale");
    sale.hidden = true;
    main.append(sale);
    const types = element("ul", "show-types");
    types.setAttribute("aria-label", "Free seats by type");
    const badge = element("p", "show-badge");
    li.append(time, main, types, badge);
    return li;
  }

  onSummary(frame) {
    this.summaries.set(frame.showtime, frame);
    this.health.changed();
    this.fill(frame.showtime);
  }

  fill(id) {
    const row = this.rows.get(id);
    if (!row) return;
    const showtime = this.showtimes.get(id);
    const summary = this.summaries.get(id);
    const types = row.querySelector(".show-types");
    const badge = row.querySelector(".show-badge");
    /** @type {HTMLElement} */
    const sale = row.querySelector(".show-sale");
    const line = saleLine(this.sales.sales.get(id), showtime.theater.time_zone);
    if (sale.textContent !== line) sale.textContent = line;
    sale.hidden = !line;
    if (!summary) {
      types.replaceChildren(element("li", "type type-waiting", "…"));
      badge.textContent = "";
      row.dataset.state = "waiting";
      return;
    }
    // Types in price order, as the catalog lists them; then any others.
    const order = [...Object.keys(showtime.prices), ...Object.keys(summary.free)];
    const items = [];
    let free = 0;
    let total = 0;
    for (const type of new Set(order)) {
      if (!(type in summary.free)) continue;
      const typeFree = summary.free[type];
      const typeTotal = typeFree + (summary.held[type] ?? 0) + (summary.booked[type] ?? 0);
      free += typeFree;
      total += typeTotal;
      const item = element("li", "type");
      item.dataset.type = type;
      item.dataset.state = availability(typeFree, typeTotal);
      item.append(element("span", "type-name", typeName(type)),
        element("span", "type-free", typeFree === 0 ? "Sold out" : String(typeFree)));
      item.setAttribute("aria-label", typeFree === 0 ? `${typeName(type)}: sold out`
        : `${typeName(type)}: ${typeFree} free`);
      items.push(item);
    }
    types.replaceChildren(...items);
    const state = availability(free, total);
    row.dataset.state = state;
    badge.textContent = state === "ok" ? `${free} free` : AVAILABILITY_WORDS[state];
    if (new Date(showtime.starts_at) < new Date()) {
      row.dataset.started = "true";
      badge.textContent = `Started · ${badge.textContent}`;
    }
  }
}

/** One showtime's whole map, large: ?showtime=ID. */
class MapBoard {
  constructor(health, showtimeId) {
    this.health = health;
    this.socket = health.socket;
    this.showtimeId = showtimeId;
    this.dirty = new Set();
    this.frame = 0;
    this.seatNodes = new Map();
    // Hold deadlines are on the server's clock; updates' `ts` tell its offset.
    this.clock = new ServerClock();
  }

  async start() {
    installSprite();
    let detail;
    try {
      detail = await fetchForever(`/api/showtimes/${this.showtimeId}`);
    } catch {
      $("#board").replaceChildren(element("p", "board-message",
        `There is no showtime ${this.showtimeId}.`));
      $("#board").removeAttribute("aria-busy");
      setTimeout(() => location.reload(), LIST_REFRESH_MS);
      return;
    }
    const zone = detail.theater.time_zone;
    this.health.setTimeZone(zone);
    this.board = new SeatBoard(detail.seats);
    this.types = [...new Set(detail.seats.map((s) => s.type))];
    $("#board-title").textContent = detail.movie.title;
    $("#board-subtitle").textContent = `${formatStart(detail.starts_at, zone,
      { weekday: "long", month: "long" })} · ${detail.screen.name}`;
    document.title = `${detail.movie.title} · seats`;
    const saleBox = $("#board-sale");
    this.sales = new SaleWatch(() => {
      const line = saleLine(this.sales.sales.get(this.showtimeId), zone);
      if (saleBox.textContent !== line) saleBox.textContent = line;
      saleBox.hidden = !line;
    });
    this.sales.watch([this.showtimeId]);
    this.draw(detail);
    // A board watches: on a guest session it must not take a place in a waiting room.
    this.socket.subscribe(this.showtimeId, { queue: false,
                                             onFrame: (frame) => this.onFrame(frame) });
    setInterval(() => this.countFreeing(), FREEING_CHECK_MS);
  }

  draw(detail) {
    const seats = detail.seats;
    const grid = seatGrid(seats);
    const cell = 28;
    const label = 36;
    const top = 70;
    const width = grid.cols * cell + 2 * label;
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("class", "seatmap");
    svg.setAttribute("viewBox", `0 0 ${width} ${top + grid.depth * cell}`);
    svg.setAttribute("role", "img");
    const screen = document.createElementNS(SVG, "path");
    screen.setAttribute("d", `M${width * 0.15} 30 Q${width / 2} 8 ${width * 0.85} 30`);
    screen.setAttribute("class", "screen-arc");
    const screenText = document.createElementNS(SVG, "text");
    screenText.setAttribute("x", String(width / 2));
    screenText.setAttribute("y", "52");
    screenText.setAttribute("class", "screen-text");
    screenText.textContent = "SCREEN";
    svg.append(screen, screenText);
    const colours = typeColours(this.types);
    for (const seat of seats) {
      const g = document.createElementNS(SVG, "g");
      g.setAttribute("class", "k-seat");
      g.style.setProperty("--fill", colours[seat.type].fill);
      g.style.setProperty("--stroke", colours[seat.type].stroke);
      const x = label + grid.column(seat) * cell + 2;
      const y = top + grid.line(seat) * cell + 2;
      for (const use of seatUses(seat.accessible)) {
        use.setAttribute("x", String(x));
        use.setAttribute("y", String(y));
        use.setAttribute("width", String(cell - 4));
        use.setAttribute("height", String(cell - 4));
        g.append(use);
      }
      this.seatNodes.set(seat.id, g);
      svg.append(g);
    }
    for (const row of grid.rows.values()) {
      for (const x of [label / 2, width - label / 2]) {
        const text = document.createElementNS(SVG, "text");
        text.setAttribute("x", String(x));
        text.setAttribute("y", String(top + grid.line(row[0]) * cell + cell / 2 + 6));
        text.setAttribute("class", "row-text");
        text.textContent = row[0].row;
        svg.append(text);
      }
    }
    this.svg = svg;
    const layout = element("div", "map-layout");
    const side = element("section", "map-side");
    side.setAttribute("aria-labelledby", "counts-heading");
    const heading = element("h2", "map-side-title", "Free seats");
    heading.id = "counts-heading";
    side.append(heading);
    this.countList = element("ul", "map-counts");
    side.append(this.countList, this.legend(colours));
    layout.append(svg, side);
    $("#board").replaceChildren(layout);
    $("#board").removeAttribute("aria-busy");
    $("#board-footer").textContent = "Updates live as seats are chosen and sold.";
    for (const id of this.seatNodes.keys()) this.paint(id);
    this.count();
  }

  legend(colours) {
    const list = element("ul", "map-legend");
    list.setAttribute("aria-label", "Legend");
    const entries = [
      ...this.types.map((type) => [type, "available", typeName(type)]),
      [this.types[0], "held", "Being chosen"],
      [this.types[0], "booked", "Sold"],
    ];
    for (const [type, look, text] of entries) {
      const item = element("li");
      const svg = seatIcon(false);
      svg.setAttribute("class", "k-seat legend-icon");
      svg.dataset.look = look;
      svg.style.setProperty("--fill", colours[type].fill);
      svg.style.setProperty("--stroke", colours[type].stroke);
      paintIcon(svg, look);
      item.append(svg, element("span", null, text));
      list.append(item);
    }
    // "12 seats may free in the next 5 minutes": holds that lapse by then,
    // unless their buyers extend or book them (hidden when there are none).
    this.freeing = element("li", "map-freeing");
    this.freeing.hidden = true;
    list.append(this.freeing);
    return list;
  }

  onFrame(frame) {
    let changed;
    if (frame.t === "snapshot") changed = this.board.applySnapshot(frame).changed;
    else if (frame.t === "update") {
      this.clock.sample(frame.ts);
      changed = this.board.applyUpdate(frame).changed;
    } else return;
    this.health.changed();
    for (const id of changed) this.dirty.add(id);
    if (!this.frame) {
      this.frame = requestAnimationFrame(() => {
        this.frame = 0;
        for (const id of this.dirty) this.paint(id);
        this.dirty.clear();
        this.count();
      });
    }
  }

  paint(id) {
    const g = this.seatNodes.get(id);
    // A kiosk holds nothing, so "ours" can only be another tab of this browser's.
    const look = this.board.look(id) === "mine" ? "held" : this.board.look(id);
    if (g.dataset.look === look) return;
    g.dataset.look = look;
    paintIcon(g, look);
  }

  count() {
    const free = new Map(this.types.map((t) => [t, 0]));
    const total = new Map(this.types.map((t) => [t, 0]));
    for (const seat of this.board.seats.values()) {
      total.set(seat.type, total.get(seat.type) + 1);
      if (this.board.look(seat.id) === "available") free.set(seat.type, free.get(seat.type) + 1);
    }
    const items = this.types.map((type) => {
      const item = element("li", "map-count");
      item.dataset.type = type;
      item.dataset.state = availability(free.get(type), total.get(type));
      item.append(element("span", "type-name", typeName(type)),
        element("span", "type-free", free.get(type) === 0 ? "Sold out" : String(free.get(type))));
      return item;
    });
    this.countList.replaceChildren(...items);
    const allFree = [...free.values()].reduce((a, b) => a + b, 0);
    this.svg.setAttribute("aria-label",
      `Seat map: ${allFree} of ${this.board.seats.size} seats free`);
    this.countFreeing();
  }

  countFreeing() {
    if (!this.freeing) return;
    const count = this.board.freeingBy(this.clock.now() + FREEING_WITHIN_MS);
    const minutes = FREEING_WITHIN_MS / 60000;
    const text = `${count} seat${count === 1 ? "" : "s"} may free in the next ${minutes} minutes`;
    if (this.freeing.textContent !== text) this.freeing.textContent = text;
    this.freeing.hidden = count === 0;
  }
}

async function main() {
  const health = new Health();
  await ensureSession().catch(() => {}); // the socket renews it if need be
  const showtime = Number(params.get("showtime"));
  const view = Number.isInteger(showtime) && showtime > 0
    ? new MapBoard(health, showtime) : new ShowtimeBoard(health);
  health.start();
  await view.start();
}

main();
