// @ts-check
// A showtime's sale settings on the admin page (/api/admin/showtimes/{id}/sale):
// its on-sale time in the theater's own time, its waiting room and how fast
// buyers are let in. Saved whole (PUT), or back to the deployment's defaults
// (DELETE). Numbers are checked here first (digits 0-9 only, so a stray
// character is named rather than silently dropped), then by the API, whose
// refusals name the field too.

import { getJSON, sendJSON } from "../shared/api.js";
import { $, $form } from "../shared/dom.js";
import { formatStart } from "../shared/format.js";
import { clearErrors, done, onSubmit, showError, showErrors } from "./forms.js";

/** @type {{id: number, movie: {title: string}, theater: {time_zone: string}} | null} */
let current = null;

/** @type {Intl.DateTimeFormatOptions} */
const WALL = {
  year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
  hourCycle: "h23",
};

/**
 * "2026-12-06T10:00": the instant `iso` on the wall clocks of `zone`, for a
 * datetime-local field.
 * @param {string} iso
 * @param {string} zone
 */
export function zonedInput(iso, zone) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat("en-CA", { ...WALL, timeZone: zone })
    .formatToParts(new Date(iso)).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
}

/**
 * The instant (ISO 8601, UTC) at which the wall clocks of `zone` read
 * `local` ("2026-12-06T10:00"). The zone's offsets a day before and a day
 * after are the only candidates (no zone changes twice in two days): a
 * wall time they both give is ambiguous (the hour clocks go back) and gets
 * the earlier instant, the first time the clocks read it; one neither gives
 * is skipped (the hour clocks go forward) and is read with the offset from
 * before the change, so 02:30 in a gap from 02:00 to 03:00 becomes 03:30,
 * as clocks then show (Temporal's "compatible").
 * @param {string} local
 * @param {string} zone
 */
export function zonedInstant(local, zone) {
  const wall = Date.parse(`${local}:00Z`); // the wall time, read as if it were UTC
  const day = 86_400_000;
  /** @param {number} at */
  const offset = (at) => Date.parse(`${zonedInput(new Date(at).toISOString(), zone)}:00Z`) - at;
  const before = offset(wall - day);
  const after = offset(wall + day);
  const read = [wall - before, wall - after]
    .filter((at) => zonedInput(new Date(at).toISOString(), zone) === local);
  return new Date(read.length ? Math.min(...read) : wall - before).toISOString();
}

/**
 * "(the theater's time, Europe/Berlin)": how a time field names its zone.
 * @param {string} zone
 */
export function zoneHint(zone) {
  return `(the theater's time, ${zone})`;
}

/**
 * "14 days", "36 hours", "90 minutes": a lead in seconds, as an admin says it.
 * @param {number} seconds
 */
export function leadWords(seconds) {
  /** @type {[number, string][]} */
  const units = [[86_400, "day"], [3_600, "hour"], [60, "minute"], [1, "second"]];
  const [size, name] = units.find(([unit]) => seconds % unit === 0) ?? [1, "second"];
  const n = seconds / size;
  return `${n} ${name}${n === 1 ? "" : "s"}`;
}

/**
 * A whole number typed in a field, or an error naming the field.
 * @param {string} value
 * @param {string} field
 */
function whole(value, field) {
  const text = value.trim();
  if (text === "") throw new Error(`${field}: enter a whole number (0 for none)`);
  if (!/^[0-9]+$/.test(text)) throw new Error(`${field}: use the digits 0 to 9 only`);
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new Error(`${field}: that number is far too large`);
  return n;
}

/**
 * The settings in a sentence, as the confirmation says them.
 * @param {any} sale
 * @param {string} zone
 */
function saleWords(sale, zone) {
  const opens = !sale.on_sale_at ? "on sale at once"
    : `on sale at ${formatStart(sale.on_sale_at, zone)} (${zone})${sale.on_sale_source === "default"
      ? `, the default ${leadWords(sale.on_sale_before_s)} before the start` : ""}`;
  if (!sale.waiting_room) return `${opens}, no waiting room`;
  const rate = sale.admission_rate ? `${sale.admission_rate} buyers a minute` : "no rate";
  const cap = sale.active_cap ? `at most ${sale.active_cap} active at once` : "no cap";
  return `${opens}, waiting room on: ${rate}, ${cap}, an admission lasts `
    + `${sale.admission_ttl_s} s unused`;
}

/** @param {any} sale */
function fill(sale) {
  const form = $form("#sale-form");
  const zone = current.theater.time_zone;
  const f = form.elements;
  // Empty for the default: saved so, it stays the default (and follows the start).
  f.on_sale_at.value = sale.on_sale_at && sale.on_sale_source !== "default"
    ? zonedInput(sale.on_sale_at, zone) : "";
  $("#sale-on-sale-hint").textContent = onSaleHint(sale, zone);
  f.waiting_room.checked = sale.waiting_room;
  f.admission_rate.value = String(sale.admission_rate);
  f.active_cap.value = String(sale.active_cap);
  f.admission_ttl_s.value = String(sale.admission_ttl_s);
  $("#sale-source").textContent = sale.source === "default"
    ? "Now: the deployment's defaults." : "Now: this showtime's own settings.";
}

/**
 * Which on-sale time applies: the deployment's default or this showtime's own.
 * @param {any} sale
 * @param {string} zone
 */
function onSaleHint(sale, zone) {
  const fallback = sale.on_sale_before_s
    ? `the default, ${leadWords(sale.on_sale_before_s)} before the start` : "on sale at once";
  if (sale.on_sale_source === "default") {
    return `Default: ${leadWords(sale.on_sale_before_s)} before the start, so on sale at `
      + `${formatStart(sale.on_sale_at, zone)} (${zone}). Set a time here to change it for `
      + "this showtime.";
  }
  if (sale.on_sale_source === "showtime") {
    return `Set for this showtime. Empty: ${fallback}.`;
  }
  return "No on-sale time: on sale at once. Set a time here to open sales later.";
}

/**
 * Open the form on a showtime's sale settings.
 * @param {{id: number, movie: {title: string}, theater: {time_zone: string}}} showtime
 */
export async function openSale(showtime) {
  const form = $form("#sale-form");
  current = showtime;
  clearErrors(form);
  $("#sale-heading").textContent = `Sale of showtime ${showtime.id} (${showtime.movie.title})`;
  $("#sale-zone").textContent = zoneHint(showtime.theater.time_zone);
  form.hidden = false;
  try {
    fill((await getJSON(`/api/admin/showtimes/${showtime.id}/sale`)).body);
    form.elements.on_sale_at.focus();
  } catch (error) {
    showError(form, error);
  }
}

/** @param {import("../shared/dom.js").Form["elements"]} f */
function body(f) {
  const zone = current.theater.time_zone;
  const problems = [];
  /** @type {Record<string, unknown>} */
  const out = {
    on_sale_at: f.on_sale_at.value ? zonedInstant(f.on_sale_at.value, zone) : null,
    waiting_room: f.waiting_room.checked,
  };
  for (const name of ["admission_rate", "active_cap", "admission_ttl_s"]) {
    try {
      out[name] = whole(f[name].value, name);
    } catch (error) {
      problems.push(error);
    }
  }
  return { out, problems };
}

const form = $form("#sale-form");
onSubmit(form, async (f) => {
  const { out, problems } = body(f);
  if (problems.length) {
    // Every field at fault says so; the first one gets the focus.
    showErrors(form, problems);
    return;
  }
  const saved = await sendJSON(`/api/admin/showtimes/${current.id}/sale`, out, { method: "PUT" });
  fill(saved);
  done(form, `Saved for showtime ${current.id}: ${saleWords(saved, current.theater.time_zone)}.`);
});

$("#sale-reset").addEventListener("click", async () => {
  clearErrors(form);
  try {
    const saved = await sendJSON(`/api/admin/showtimes/${current.id}/sale`, undefined,
      { method: "DELETE" });
    fill(saved);
    done(form, `Showtime ${current.id} is back to the defaults: `
      + `${saleWords(saved, current.theater.time_zone)}.`);
  } catch (error) {
    showError(form, error);
  }
});
