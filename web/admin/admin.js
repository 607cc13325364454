// @ts-check
// The admin page: forms on /api/admin/ (catalog and bookings), built from the
// parts in forms.js. Its other sections have modules of their own (reviews.js,
// sales.js...), each started from start() below; sections.js shows one section
// at a time. A new section: its element in index.html, its import here and its
// start call in start(), nothing more.
import { getJSON, sendJSON } from "../shared/api.js";
import { $, $button, $field, $form } from "../shared/dom.js";
import { formatMoney, formatStart, typeName } from "../shared/format.js";
import {
  clearErrors, done, edit, formParts, list, moneyPreview, number, onSubmit, optional, options,
  remove, row, rowsOr, save, showError,
} from "./forms.js";
import { startImport } from "./import.js";
import { LayoutEditor, layoutText } from "./layout-editor.js";
import { pendingLogIn, secondFactorReady, withReauth } from "./mfa.js";
import { parseUnits, unitsText } from "./money.js";
import { openSale, zonedInput, zonedInstant, zoneHint } from "./sale.js";
import { startHouse } from "./house.js";
import { startSales } from "./sales.js";
import { startSections } from "./sections.js";
import { startStaff } from "./staff.js";
import { loadWebhooks } from "./webhooks.js";

const state = {
  theaters: [], movies: [],
  // The showtime list's pages: the cursor of each one seen (null: the first).
  showtimePages: [null], showtimePage: 0,
  priced: null, // the showtime whose prices the override form shows
};

/**
 * "Sat 7 Dec, 19:30 (Europe/Berlin)": a time on this page, in the theater's
 * zone and saying so, whatever the browser's zone.
 * @param {string} iso
 * @param {string} zone
 */
const zoned = (iso, zone) => `${formatStart(iso, zone)} (${zone})`;

/** "VIP €15.00, Gold €10.00" */
const priceList = (prices) => Object.entries(prices)
  .map(([type, p]) => `${typeName(type)} ${formatMoney(p.amount, p.currency)}`).join(", ");

for (const form of /** @type {NodeListOf<import("../shared/dom.js").Form>} */ (
  document.querySelectorAll("#admin form"))) {
  formParts(form);
  // A hidden input's value survives form.reset(): forget what was being edited.
  form.addEventListener("reset", () => {
    if (form.elements.id) form.elements.id.value = "";
    if (form.dataset.new) $("h3", form).textContent = form.dataset.new;
    clearErrors(form);
  });
}

// -- movies and theaters ------------------------------------------------------

async function loadCatalog() {
  const [movies, theaters] = await Promise.all([
    getJSON("/api/admin/movies"), getJSON("/api/admin/theaters")]);
  state.movies = movies.body.movies;
  state.theaters = theaters.body.theaters;
  const movieForm = $form("#movie-form");
  $("#movie-list").replaceChildren(...state.movies.map((m) => row(
    `${m.title} (${m.runtime_min} min)`, [
      ["Edit", () => edit(movieForm, {
        ...m, languages: m.languages.join(", "), genres: m.genres.join(", ") }, m.title)],
      ["Delete", () => remove(movieForm, `/api/admin/movies/${m.id}`, m.title, loadCatalog)]])));
  const theaterForm = $form("#theater-form");
  $("#theater-list").replaceChildren(...state.theaters.map(({ theater, screens }) => row(
    `${theater.name}, ${theater.city}`, [
      ["Edit", () => edit(theaterForm, theater, theater.name)],
      ["Delete", () => remove(theaterForm, `/api/admin/theaters/${theater.id}`, theater.name, loadCatalog)],
      ...screens.map((s) => [`Edit screen ${s.name}`, () => editScreen(s.id)])])));
  rowsOr($("#screen-list"), state.theaters.flatMap(({ theater, screens }) => screens.map((s) => row(
    `${theater.name} · ${s.name}`, [[`Edit screen ${s.name}`, () => editScreen(s.id)]]))),
  "No screens yet.");
  for (const select of /** @type {NodeListOf<HTMLSelectElement>} */ (
    document.querySelectorAll(".theater-select"))) {
    options(select, state.theaters.map((t) => t.theater), (t) => `${t.name}, ${t.city}`);
  }
  options($(".movie-select"), state.movies, (m) => m.title);
  options($(".screen-select"), screensOf(null), (s) => s.label);
  showZone();
  filterScreens();
  await loadPrices();
}

onSubmit($("#movie-form"), async (f, form) => {
  const editing = Boolean(f.id.value);
  const movie = await save(form, "/api/admin/movies", {
    title: f.title.value, slug: f.slug.value, runtime_min: number(f.runtime_min.value),
    languages: list(f.languages.value), genres: list(f.genres.value), synopsis: f.synopsis.value,
  });
  done(form, `Movie "${movie.title}" ${editing ? "saved" : "created"}.`);
  await loadCatalog();
});

onSubmit($("#theater-form"), async (f, form) => {
  const editing = Boolean(f.id.value);
  const theater = await save(form, "/api/admin/theaters", {
    name: f.name.value, slug: f.slug.value, city: f.city.value, address: f.address.value,
    time_zone: f.time_zone.value, cleaning_min: number(f.cleaning_min.value),
  });
  done(form, `Theater "${theater.name}" ${editing ? "saved" : "created"}, `
    + `its times in ${theater.time_zone}.`);
  await loadCatalog();
});

// -- screens and their seat layouts (the editor: layout-editor.js) ------------

const layoutEditor = new LayoutEditor($form("#screen-form"));

async function editScreen(screenId) {
  const form = $form("#screen-form");
  clearErrors(form);
  try {
    const { body: screen } = await getJSON(`/api/admin/screens/${screenId}`);
    edit(form, { ...screen, layout: layoutText(screen.layout) }, `screen ${screen.name}`);
    layoutEditor.load(screen.layout, true);
  } catch (error) {
    showError(form, error);
  }
}

onSubmit($("#screen-form"), async (f, form) => {
  let layout;
  try {
    layout = JSON.parse(f.layout.value);
  } catch (error) {
    throw new Error(`layout: not valid JSON (${error.message})`);
  }
  const editing = Boolean(f.id.value);
  let screen;
  try {
    screen = await save(form, "/api/admin/screens", {
      theater_id: number(f.theater_id.value), name: f.name.value, layout,
    });
  } catch (error) {
    layoutEditor.refused(error); // sold seats that would go are marked on the grid
    throw error;
  }
  done(form, `Screen "${screen.name}" ${editing ? "saved" : "created"}.`);
  await loadCatalog();
});

// -- showtimes: the paged list, edit, delete, and each one's own prices ----------

/** The screens of one theater (every theater's for null), labelled with the theater. */
function screensOf(theaterId) {
  return state.theaters.filter(({ theater }) => !theaterId || theater.id === theaterId)
    .flatMap(({ theater, screens }) => screens.map((s) => ({ id: s.id, label: `${theater.name} · ${s.name}` })));
}

function filterScreens() {
  options($("#filter-screen"), screensOf(Number($field("#filter-theater").value)), (s) => s.label);
}

$("#filter-theater").addEventListener("change", filterScreens);

async function loadShowtimes() {
  const form = $form("#showtime-filter");
  clearErrors(form);
  const query = new URLSearchParams({ limit: "20" });
  for (const key of ["theater", "screen", "date"]) {
    if (form.elements[key].value) query.set(key, form.elements[key].value);
  }
  const cursor = state.showtimePages[state.showtimePage];
  if (cursor) query.set("cursor", cursor);
  const { body } = await getJSON(`/api/admin/showtimes?${query}`);
  if (body.next_cursor) state.showtimePages[state.showtimePage + 1] = body.next_cursor;
  else state.showtimePages.length = state.showtimePage + 1;
  showPager(Boolean(body.next_cursor));
  const showtimeForm = $form("#showtime-form");
  rowsOr($("#showtime-list"), body.showtimes.map((s) => row(
    `${s.id} · ${s.movie.title} · ${s.theater.name} · ${s.screen.name} · ${
      zoned(s.starts_at, s.theater.time_zone)} · ${priceList(s.prices) || "no prices"}`, [
      ["Edit", () => editShowtime(s)],
      ["Prices", () => openPrices(s)],
      ["Sale", () => openSale(s)],
      ["Delete", () => remove(showtimeForm, `/api/admin/showtimes/${s.id}`,
        `showtime ${s.id} (${s.movie.title})`, async () => {
          if (state.priced?.id === s.id) $("#override-form").hidden = true;
          await loadShowtimes();
        })]])), "No showtimes match.");
}

/**
 * The pager only where there is somewhere to go: nothing when every showtime
 * fits on one page, else the page's number and a button for each way that
 * leads to another page (a disabled button would not say why). The button
 * just pressed may go (the last page has no "Next"): the focus moves to the
 * one left rather than to the page's top.
 * @param {boolean} more whether a page follows this one
 */
function showPager(more) {
  const page = state.showtimePage;
  const previous = $button("#showtimes-previous");
  const next = $button("#showtimes-next");
  const lost = [previous, next].find((b) => b === document.activeElement);
  previous.hidden = page === 0;
  next.hidden = !more;
  $("#showtimes-pager").hidden = previous.hidden && next.hidden;
  $("#showtimes-page").textContent = `Page ${page + 1}`;
  if (lost?.hidden) (previous.hidden ? next : previous).focus();
}

async function turnPage(by) {
  state.showtimePage += by;
  try {
    await loadShowtimes();
  } catch (error) {
    showError($("#showtime-filter"), error);
  }
}

onSubmit($("#showtime-filter"), async () => {
  state.showtimePages = [null];
  state.showtimePage = 0;
  await loadShowtimes();
});
$("#showtimes-next").addEventListener("click", () => turnPage(1));
$("#showtimes-previous").addEventListener("click", () => turnPage(-1));

/**
 * The time zone of the theater a screen is in (showtimes are entered and
 * shown in it, whatever this browser's own zone); undefined: no such screen.
 * @param {number} screenId
 */
function zoneOfScreen(screenId) {
  return state.theaters.find(({ screens }) => screens.some((s) => s.id === screenId))
    ?.theater.time_zone;
}

/** The start's label names the zone of the chosen screen's theater. */
function showZone() {
  const zone = zoneOfScreen(Number($field("#showtime-screen").value));
  $("#showtime-zone").textContent = zone ? zoneHint(zone) : "(the theater's time: choose a screen)";
}

$("#showtime-screen").addEventListener("change", showZone);
$("#showtime-screen").addEventListener("input", showZone);
$form("#showtime-form").addEventListener("reset", () => setTimeout(showZone));

/**
 * A showtime's seating rules in words, as the confirmation says them.
 * @param {{no_orphans: boolean, companions_alone: boolean}} seating
 */
function seatingWords({ no_orphans: noOrphans, companions_alone: companionsAlone }) {
  return `${noOrphans ? "no single seats left alone" : "single seats may be left alone"}; `
    + `${companionsAlone ? "companion seats sold to anyone"
      : "companion seats only with their wheelchair space"}`;
}

function editShowtime(showtime) {
  edit($("#showtime-form"), {
    id: showtime.id, movie_id: showtime.movie.id, screen_id: showtime.screen.id,
    starts_at: zonedInput(showtime.starts_at, showtime.theater.time_zone),
    currency: showtime.currency,
    no_orphans: showtime.seating.no_orphans, companions_alone: showtime.seating.companions_alone,
  }, `showtime ${showtime.id}`);
}

onSubmit($("#showtime-form"), async (f, form) => {
  if (!f.starts_at.value) throw new Error("starts_at: choose the date and time");
  const zone = zoneOfScreen(Number(f.screen_id.value));
  if (!zone) throw new Error("screen_id: choose a screen");
  const editing = Boolean(f.id.value);
  const showtime = await save(form, "/api/admin/showtimes", {
    movie_id: number(f.movie_id.value), screen_id: number(f.screen_id.value),
    starts_at: zonedInstant(f.starts_at.value, zone), currency: optional(f.currency.value),
    no_orphans: f.no_orphans.checked, companions_alone: f.companions_alone.checked,
  });
  const link = document.createElement("a");
  link.href = `/showtimes/${showtime.id}`;
  link.textContent = `${showtime.movie.title}, ${zoned(showtime.starts_at, showtime.theater.time_zone)}`;
  done(form, `Showtime ${showtime.id} ${editing ? "saved" : "created"}: `, link,
    `. Seating rules: ${seatingWords(showtime.seating)}.`);
  await loadShowtimes();
});

const overrideMoney = moneyPreview($("#override-amount"), $("#override-money"),
  () => $("#override-form").dataset.currency);

function showPrices(showtime, { prices, overrides }) {
  const form = $form("#override-form");
  rowsOr($("#override-list"), Object.entries(prices).map(([type, price]) => {
    const own = type in overrides;
    return row(`${typeName(type)}: ${formatMoney(price.amount, price.currency)} ${
      own ? "(this showtime's price)" : "(theater's rule)"}`, own ? [[`Reset ${typeName(type)} to the rule`,
      () => resetPrice(showtime, type)]] : []);
  }), "No seat type is on sale.");
  $("#override-types").replaceChildren(...Object.keys(prices).map((type) => new Option(typeName(type), type)));
  form.dataset.currency = showtime.currency;
  overrideMoney();
}

async function openPrices(showtime) {
  const form = $form("#override-form");
  form.reset();
  $("#override-heading").textContent = `Prices of showtime ${showtime.id} (${showtime.movie.title})`;
  form.hidden = false;
  state.priced = showtime;
  try {
    showPrices(showtime, (await getJSON(`/api/admin/showtimes/${showtime.id}/prices`)).body);
    form.elements.seat_type.focus();
  } catch (error) {
    showError(form, error);
  }
}

async function resetPrice(showtime, type) {
  const form = $form("#override-form");
  clearErrors(form);
  try {
    showPrices(showtime, await sendJSON(
      `/api/admin/showtimes/${showtime.id}/prices/${encodeURIComponent(type)}`, undefined, { method: "DELETE" }));
    done(form, `${typeName(type)} is back to the theater's price.`);
    await loadShowtimes();
  } catch (error) {
    showError(form, error);
  }
}

onSubmit($("#override-form"), async (f, form) => {
  const showtime = state.priced;
  const type = f.seat_type.value.trim();
  const amount = parseUnits(f.amount.value, showtime.currency, "amount");
  showPrices(showtime, await sendJSON(`/api/admin/showtimes/${showtime.id}/prices`, {
    seat_type: type, amount,
  }, { method: "PUT" }));
  done(form, `${typeName(type)} now costs ${formatMoney(amount, showtime.currency)} for this showtime.`);
  await loadShowtimes();
});

// -- price rules --------------------------------------------------------------

const ruleMoney = moneyPreview($("#price-amount"), $("#price-money"),
  () => $field("#price-currency").value.trim().toUpperCase());
$("#price-currency").addEventListener("input", ruleMoney);

async function loadPrices() {
  const theaterId = $field("#price-theater").value;
  if (!theaterId) return;
  const { body } = await getJSON(`/api/admin/theaters/${theaterId}/prices`);
  const form = $form("#price-form");
  rowsOr($("#price-list"), body.rules.map((r) => row(
    `${typeName(r.seat_type)}, ${r.day_kind}: ${formatMoney(r.amount, r.currency)}`,
    [["Edit", () => edit(form, { ...r, amount: unitsText(r.amount, r.currency) },
      `the ${r.day_kind} price of ${typeName(r.seat_type)}`)],
      ["Delete", () => remove(form, `/api/admin/prices/${r.id}`,
      `the ${r.day_kind} price of ${typeName(r.seat_type)}`, loadPrices)]])), "No price rules yet.");
}

$("#price-theater").addEventListener("change", loadPrices);

onSubmit($("#price-form"), async (f, form) => {
  const currency = f.currency.value.trim().toUpperCase();
  const rule = await sendJSON("/api/admin/prices", {
    theater_id: number(f.theater_id.value), seat_type: f.seat_type.value,
    day_kind: f.day_kind.value, amount: parseUnits(f.amount.value, currency, "amount"), currency,
  }, { method: "PUT" });
  $("h3", form).textContent = form.dataset.new;
  done(form, `${typeName(rule.seat_type)} on a ${rule.day_kind} now costs `
    + `${formatMoney(rule.amount, rule.currency)}.`);
  await loadPrices();
});

// -- bookings -----------------------------------------------------------------

function bookingRow(booking, search) {
  const seats = booking.seats.map((s) => s.id).join(", ");
  const label = `${booking.reference} · user ${booking.user_id} · showtime ${booking.showtime} · ${seats} · ${
    formatMoney(booking.total.amount, booking.total.currency)} · ${booking.status}`;
  const li = row(label, []);
  if (booking.status !== "booked") return li;
  const cancel = document.createElement("form");
  cancel.className = "inline-form";
  const id = `cancel-${booking.reference}`;
  cancel.innerHTML = `
    <label for="${id}-reason">Reason</label><input id="${id}-reason" name="reason" required>
    <label for="${id}-refund">Refund in ${booking.total.currency} <span class="hint">(as ${
      unitsText(booking.total.amount, booking.total.currency)}; empty: the policy's)</span></label>
    <input id="${id}-refund" name="refund" inputmode="decimal" autocomplete="off" maxlength="20">
    <div class="actions"><button type="submit">Cancel booking</button></div>`;
  formParts(cancel);
  onSubmit(cancel, async (f) => {
    const refund = f.refund.value.trim() === "" ? undefined
      : parseUnits(f.refund.value, booking.total.currency, "refund");
    // A large refund asks for a fresh two-factor code first.
    await withReauth(() => sendJSON(`/api/admin/bookings/${booking.reference}/cancel`, {
      reason: f.reason.value, refund,
    }));
    search.requestSubmit(); // the list again, and this form with it
    done(search, `Booking ${booking.reference} cancelled.`);
  });
  li.append(cancel);
  return li;
}

onSubmit($("#booking-search"), async (f, form) => {
  const query = new URLSearchParams();
  for (const key of ["reference", "email", "user_id", "showtime"]) {
    const value = f[key].value.trim();
    if (value) query.set(key, key === "reference" ? value.toUpperCase() : value);
  }
  const { body } = await getJSON(`/api/admin/bookings?${query}`);
  rowsOr($("#booking-list"), body.bookings.map((b) => bookingRow(b, form)), "No bookings found.");
});

// -- what needs attention ----------------------------------------------------

async function loadSupport() {
  const [attention, dead] = await Promise.all([
    getJSON("/api/admin/bookings/attention"), getJSON("/api/admin/outbox/dead")]);
  rowsOr($("#attention-list"), attention.body.bookings.map((b) => row(
    `${b.reference} · showtime ${b.showtime} · ${b.status} · ${b.attention}`, [])), "Nothing flagged.");
  const form = $form("#dead-form");
  rowsOr($("#dead-list"), dead.body.messages.map((m) => row(
    `#${m.id} ${m.kind}, ${m.attempts} attempts, last error: ${m.last_error ?? "none"}`,
    [["Send again", () => requeue(form, m.id)]])), "No dead messages.");
}

async function requeue(form, id) {
  clearErrors(form);
  try {
    await sendJSON("/api/admin/outbox/requeue", { ids: [id] });
    done(form, `Message ${id} is queued again.`);
    await loadSupport();
  } catch (error) {
    showError(form, error);
  }
}

// -- start --------------------------------------------------------------------

async function start() {
  if (await pendingLogIn()) return;
  let me = null;
  try {
    me = (await getJSON("/api/me")).body;
  } catch { /* no session: the gate says what to do */ }
  if (me?.kind === "box_office") { location.replace("/counter"); return; } // after the code step
  if (me?.kind !== "admin") {
    $("#who").textContent = me?.email ? `Signed in as ${me.email}, not an admin.` : "Not signed in.";
    $("#gate").hidden = false;
    return;
  }
  $("#who").textContent = `Signed in as ${me.email}`;
  if (!(await secondFactorReady())) return;
  $("#admin").hidden = false;
  startSections();
  startImport(loadCatalog);
  await Promise.all([loadCatalog().then(loadShowtimes), loadSupport(), startStaff(me.id),
    startSales(), startHouse(), loadWebhooks()]);
}

start();
