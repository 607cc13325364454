// @ts-check
// The admin page's sales: today's and upcoming showtimes with seats sold,
// held and free per seat type (live: one `summary` subscription a showtime
// over /ws, `queue: false` like a board; sold counts and revenue read again
// from the API when a summary's booked count grows), per day over a range
// with a chart and its table, CSV exports, and a seat's history on a click.

import { getJSON } from "../shared/api.js";
import { $, $form, element } from "../shared/dom.js";
import { formatMoney, formatStart, typeName } from "../shared/format.js";
import { SeatSocket } from "../shared/socket.js";
import { showError } from "./forms.js";

const form = $form("#sales-range");
const live = $("#sales-live");
const daily = $("#sales-daily");
const chart = $("#sales-chart");
const history = $("#seat-history");
const socket = new SeatSocket({ onStatus: () => {} });
/** @type {Map<number, any>} */
const rows = new Map();
/** @type {Map<number, number>} */
const booked = new Map();

/** The range's query string, from the form. */
function query() {
  const params = new URLSearchParams();
  for (const name of ["from", "to"]) {
    const value = /** @type {HTMLInputElement} */ (form.elements.namedItem(name)).value;
    if (value) params.set(name, value);
  }
  return params.toString();
}

/**
 * A time in a theater's zone, saying which: "Sat 7 Dec, 19:30 (Europe/Berlin)".
 * @param {string} iso
 * @param {string} zone
 */
function zoned(iso, zone) {
  return `${formatStart(iso, zone)} (${zone})`;
}

function percent(share) {
  return `${(share * 100).toFixed(1)}%`;
}

/** One showtime's line: sold from the API, held/free from its live summary. */
function renderShowtime(showtime, summary) {
  const id = `sales-st-${showtime.id}`;
  const line = document.getElementById(id) ?? element("tr");
  line.id = id;
  const types = Object.keys(showtime.capacity);
  const cell = (/** @type {string} */ text) => element("td", "", text);
  const per = (/** @type {(t: string) => number | string} */ of) =>
    types.map((t) => `${typeName(t)} ${of(t)}`).join(", ");
  line.replaceChildren(
    element("th", "", `${showtime.movie.title} · ${showtime.theater} ${showtime.screen} · `
      + zoned(showtime.starts_at, showtime.time_zone)),
    cell(per((t) => showtime.sold[t] ?? 0)),
    cell(summary ? per((t) => summary.held[t] ?? 0) : "…"),
    cell(summary ? per((t) => summary.free[t] ?? 0) : "…"),
    cell(formatMoney(showtime.revenue.amount, showtime.revenue.currency)),
    cell(percent(showtime.occupancy)));
  const open = element("button", "", "Seats");
  open.type = "button";
  open.setAttribute("aria-label", `Seats of ${showtime.movie.title}, showtime ${showtime.id}`);
  open.addEventListener("click", () => openMap(showtime));
  line.append(element("td", "", "")); line.lastElementChild?.append(open);
  line.setAttribute("data-showtime", String(showtime.id));
  return line;
}

/** A summary frame: redraw the line; a booking landed: read its sales again. */
async function onSummary(frame) {
  const showtime = rows.get(frame.showtime);
  if (!showtime) return;
  showtime.summary = frame;
  const count = Object.values(frame.booked).reduce((a, b) => a + Number(b), 0);
  const before = booked.get(frame.showtime);
  booked.set(frame.showtime, count);
  if (before !== undefined && count !== before) await refresh();
  else renderShowtime(showtime, frame);
}

async function refresh() {
  const { body } = await getJSON(`/api/admin/sales/showtimes?${query()}`);
  const table = $("tbody", live);
  const wanted = new Set(body.showtimes.map((/** @type {any} */ s) => s.id));
  for (const id of rows.keys()) {
    if (!wanted.has(id)) { socket.unsubscribe(id); rows.delete(id); booked.delete(id); }
  }
  table.replaceChildren();
  for (const showtime of body.showtimes) {
    const known = rows.get(showtime.id);
    if (!known) {
      // What the API counts as sold is the baseline of the first summary: a
      // booking paid between this read and that frame is read again then.
      booked.set(showtime.id, Object.values(showtime.sold).reduce((a, b) => a + Number(b), 0));
      socket.subscribe(showtime.id, { view: "summary", queue: false, onFrame: onSummary });
    }
    showtime.summary = known?.summary;
    rows.set(showtime.id, showtime);
    table.append(renderShowtime(showtime, showtime.summary));
  }
  if (!body.showtimes.length) table.append(element("tr", "", "No showtimes in this range."));
}

/** The per-day chart (bars of seats sold) and the same figures as a table. */
async function loadDaily() {
  const { body } = await getJSON(`/api/admin/sales/daily?${query()}`);
  const byDay = new Map();
  for (const d of body.days) byDay.set(d.day, (byDay.get(d.day) ?? 0) + d.sold);
  const days = [...byDay.entries()];
  const most = Math.max(1, ...days.map(([, n]) => n));
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  // Bars rise at most 100 from the baseline at 115: room above the tallest for its number.
  svg.setAttribute("viewBox", `0 0 ${Math.max(1, days.length) * 24} 134`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-labelledby", "sales-chart-title");
  const title = document.createElementNS(ns, "title");
  title.id = "sales-chart-title";
  title.textContent = `Seats sold per day, ${body.from} to ${body.to}: `
    + (days.map(([day, n]) => `${day} ${n}`).join(", ") || "none");
  svg.append(title);
  days.forEach(([day, n], i) => {
    const bar = document.createElementNS(ns, "rect");
    const h = Math.round((n / most) * 100);
    bar.setAttribute("x", String(i * 24 + 4)); bar.setAttribute("width", "16");
    bar.setAttribute("y", String(115 - h)); bar.setAttribute("height", String(h));
    bar.setAttribute("class", "bar");
    // Each bar's day under it ("12-07"); the title says the same to screen readers.
    const label = document.createElementNS(ns, "text");
    label.setAttribute("x", String(i * 24 + 12)); label.setAttribute("y", "128");
    label.setAttribute("class", "day");
    label.textContent = day.slice(5);
    // And its figure over it: bars of no axis are read by their numbers, not guessed.
    const sold = document.createElementNS(ns, "text");
    sold.setAttribute("x", String(i * 24 + 12)); sold.setAttribute("y", String(112 - h));
    sold.setAttribute("class", "sold");
    sold.textContent = String(n);
    const group = document.createElementNS(ns, "g");
    group.setAttribute("class", "day-bar");
    group.append(bar, label, sold);
    svg.append(group);
  });
  // Said in words too; a range of no sales is those words, not an empty box.
  const total = days.reduce((sum, [, n]) => sum + n, 0);
  chart.replaceChildren(...(total ? [svg] : []), element("figcaption", "",
    `Seats sold per day, ${body.from} to ${body.to}: ${total ? `${total} in all` : "none"}.`));
  // The range the server filled in for an empty field: the figures are of it.
  for (const [name, day] of [["from", body.from], ["to", body.to]]) {
    const input = /** @type {HTMLInputElement} */ (form.elements.namedItem(name));
    if (!input.value) input.value = day;
  }
  const table = $("tbody", daily);
  table.replaceChildren(...body.days.map((/** @type {any} */ d) => {
    const line = element("tr");
    line.append(element("th", "", `${d.day} · ${d.title}`), element("td", "", String(d.sold)),
      element("td", "", formatMoney(d.revenue.amount, d.revenue.currency)),
      element("td", "", percent(d.occupancy)),
      element("td", "", `${d.refunds} (${formatMoney(d.refunded.amount, d.refunded.currency)})`));
    return line;
  }));
  for (const [id, kind] of [["sales-csv", "showtimes.csv"], ["bookings-csv", "bookings.csv"]]) {
    $(`#${id}`).setAttribute("href", `/api/admin/sales/${kind}?${query()}`);
  }
}

/** A showtime's seats as buttons on its grid; a click opens the seat's history. */
async function openMap(showtime) {
  const { body: detail } = await getJSON(`/api/showtimes/${showtime.id}`);
  const map = $("#seat-map");
  map.replaceChildren();
  map.setAttribute("aria-label", `Seats of showtime ${showtime.id}`);
  for (const seat of detail.seats) {
    const button = element("button", "seat-cell", seat.id);
    button.type = "button";
    button.style.gridColumn = String(seat.x + 1);
    button.style.gridRow = String(seat.y + 1);
    button.setAttribute("aria-label", `History of seat ${seat.id}`);
    button.addEventListener("click", () => showHistory(showtime, seat.id));
    map.append(button);
  }
  map.hidden = false;
  map.scrollIntoView({ block: "nearest" });
}

function who(by) {
  if (!by) return "unknown";
  if (by.user_id === null) return by.kind;
  return `user ${by.user_id} (${by.email ?? by.kind})`;
}

/**
 * @param {{id: number, time_zone: string}} showtime
 * @param {string} seat
 */
async function showHistory({ id: showtime, time_zone: zone }, seat) {
  const { body } = await getJSON(`/api/admin/showtimes/${showtime}/seats/${seat}/history`);
  const list = element("ol");
  /** @param {string} iso */
  const at = (iso) => `${formatStart(iso, zone, { second: "2-digit" })} (${zone})`;
  for (const event of body.events) {
    list.append(element("li", "", `${at(event.at)}: ${event.action}`
      + ` by ${who(event.by)}${event.booking ? ` (booking ${event.booking})` : ""}`));
  }
  if (!body.events.length) list.append(element("li", "", "Nothing happened to this seat."));
  const heading = element("h3", "", `Seat ${seat}, showtime ${showtime}`);
  heading.tabIndex = -1;
  const parts = [heading, list];
  if (body.partial) {
    parts.push(element("p", "notice", "History is partial: the showtime's stream keeps "
      + `about ${body.stream_maxlen} changes; holds before `
      + `${body.stream_since ? at(body.stream_since) : "now"} are gone.`));
  }
  history.replaceChildren(...parts);
  history.hidden = false;
  heading.focus();
}

async function load() {
  try {
    await refresh();
    await loadDaily();
  } catch (failure) {
    showError(form, failure);
  }
}

/**
 * Starts the section: only once the admin page has let an admin in (a
 * second factor proved), as the socket would otherwise be refused and start
 * a guest session of its own.
 */
export async function startSales() {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  socket.start();
  await load();
}
