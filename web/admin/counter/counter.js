// @ts-check
// The box office's counter: choose seats of a showtime (free or blocked),
// take cash or a card presented at the counter, sell; or release blocked
// seats back to online sale. The seats follow the showtime's room live
// (SeatChooser), so a seat an online buyer takes meanwhile drops out of
// the choice. A sale carries an Idempotency-Key kept for as long as the
// same sale is retried: pressing "Sell" twice after a lost answer sells once.
import { getJSON, sendJSON } from "../../shared/api.js";
import { $, $button, $form } from "../../shared/dom.js";
import { formatMoney, formatStart, seatList } from "../../shared/format.js";
import { SeatChooser } from "../../shared/seatmap/chooser.js";
import { clearErrors, done, formParts, showError } from "../forms.js";
import { pendingLogIn, secondFactorReady, withReauth } from "../mfa.js";

const STAFF = new Set(["box_office", "admin"]);
const form = $form("#counter-form");
formParts(form);
const select = /** @type {HTMLSelectElement} */ ($("#counter-showtime"));
const LIVE = /** @type {Record<string, string>} */ ({
  live: "Seats update live.", connecting: "Connecting…",
  reconnecting: "Reconnecting: seats may be out of date.", offline: "Offline: seats may be out of date.",
});

const chooser = new SeatChooser($("#counter-seats"), {
  choosable: (look) => look === "available" || look === "blocked",
  onChange: () => showChoice(),
  onStatus: (status) => { $("#counter-live").textContent = LIVE[status] ?? status; },
  hint: $("#counter-seats-hint"),
});

/** @type {{seats: string, key: string} | null} the sale being tried, and its key */
let attempt = null;

/** A random Idempotency-Key (randomUUID needs a secure context; this does not). */
function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `counter-${[...bytes].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

function showChoice() {
  const seats = chooser.chosenSeats();
  const total = seats.reduce((sum, s) => sum + (s.price?.amount ?? 0), 0);
  const currency = seats.find((s) => s.price)?.price?.currency;
  $("#counter-chosen").textContent = seats.length
    ? `Chosen: ${seatList(seats)} · total ${currency ? formatMoney(total, currency) : "—"}`
    : "No seats chosen.";
  $button("#counter-sell").disabled = seats.length === 0;
  $button("#counter-sell").textContent = seats.length
    ? `Sell ${seats.length} seat${seats.length === 1 ? "" : "s"}` : "Sell seats";
  $button("#counter-release").disabled = !seats.some((s) => chooser.look(s.id) === "blocked");
}

async function sell() {
  // Named now: the room's update of the sale may come before its answer,
  // and a sold seat leaves the choice.
  const named = chooser.chosenSeats();
  const seats = named.map((s) => s.id);
  const method = /** @type {HTMLInputElement} */ (form.querySelector("input[name=method]:checked")).value;
  const email = /** @type {HTMLInputElement} */ (form.elements.namedItem("email")).value.trim();
  const body = { seats, method, ...(email ? { email } : {}) };
  const same = JSON.stringify(body);
  if (attempt?.seats !== same) attempt = { seats: same, key: newKey() };
  const key = attempt.key;
  const sale = await withReauth(() => sendJSON(`/api/counter/showtimes/${chooser.showtime}/sales`,
    body, { headers: { "Idempotency-Key": key } }));
  attempt = null;
  const paid = method === "cash" ? "in cash" : "by card at the counter";
  chooser.clear();
  form.reset();
  done(form, `Sold ${seatList(named)} for ${formatMoney(sale.amount.amount, sale.amount.currency)} `
    + `${paid}. Booking ${sale.reference}.`);
}

async function release() {
  const blocked = chooser.chosenSeats().filter((s) => chooser.look(s.id) === "blocked");
  const answer = await withReauth(() => sendJSON(
    `/api/admin/showtimes/${chooser.showtime}/blocks/release`, { seats: blocked.map((s) => s.id) }));
  chooser.clear();
  done(form, answer.released.length
    ? `${seatList(blocked.filter((s) => answer.released.includes(s.id)))} `
      + `${answer.released.length === 1 ? "is" : "are"} on sale online again.`
    : "Those seats were not blocked any more.");
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors(form);
  try { await sell(); } catch (error) { showError(form, error); }
});
$button("#counter-release").addEventListener("click", async () => {
  clearErrors(form);
  try { await release(); } catch (error) { showError(form, error); }
});

async function loadShowtimes() {
  const { body } = await getJSON("/api/showtimes");
  /** @type {any[]} */
  const showtimes = Array.isArray(body) ? body : body.showtimes;
  select.replaceChildren(...showtimes.map((s) => {
    const option = document.createElement("option");
    option.value = String(s.id);
    option.textContent = `${s.movie.title} · ${formatStart(s.starts_at, s.theater.time_zone)} `
      + `(${s.theater.time_zone}) · ${s.theater.name}, ${s.screen.name}`;
    return option;
  }));
  const wanted = new URLSearchParams(location.search).get("showtime");
  if (wanted && showtimes.some((s) => String(s.id) === wanted)) select.value = wanted;
  if (select.value) await chooser.open(Number(select.value));
}

select.addEventListener("change", () => {
  clearErrors(form);
  chooser.open(Number(select.value)).catch((error) => showError(form, error));
});

async function start() {
  if (await pendingLogIn()) return;
  let me = null;
  try {
    me = (await getJSON("/api/me")).body;
  } catch { /* no session: the gate says what to do */ }
  if (!STAFF.has(me?.kind)) {
    $("#who").textContent = me?.email ? `Signed in as ${me.email}, not box-office staff.`
      : "Not signed in.";
    $("#gate").hidden = false;
    return;
  }
  $("#who").textContent = `Signed in as ${me.email}`;
  if (!(await secondFactorReady())) return;
  $("#counter").hidden = false;
  await loadShowtimes();
}

start();
