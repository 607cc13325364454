// @ts-check
// Formatting of money, times and seat names: one place, so the picker, the
// kiosk and the showtime list say things the same way.

const LOCALE = document.documentElement.lang || "en";
/** @type {Map<string, Intl.NumberFormat>} */
const moneyFormats = new Map();

/** @param {string} currency */
function moneyFormat(currency) {
  let format = moneyFormats.get(currency);
  if (!format) {
    format = new Intl.NumberFormat(LOCALE, { style: "currency", currency });
    moneyFormats.set(currency, format);
  }
  return format;
}

/**
 * "€12.50" from integer minor units (1250) and an ISO 4217 code.
 * @param {number} amount
 * @param {string} currency
 */
export function formatMoney(amount, currency) {
  const format = moneyFormat(currency);
  // The currency's own exponent: 2 for EUR, 0 for JPY, 3 for BHD.
  const digits = format.resolvedOptions().maximumFractionDigits;
  return format.format(amount / 10 ** digits);
}

/**
 * "7:05" for a duration in milliseconds (never negative).
 * @param {number} ms
 */
export function formatCountdown(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const minutes = Math.floor(total / 60);
  const seconds = String(total % 60).padStart(2, "0");
  return `${minutes}:${seconds}`;
}

/**
 * "7 minutes 5 seconds", for screen readers.
 * @param {number} ms
 */
export function spokenDuration(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const minutes = Math.floor(total / 60);
  const seconds = total % 60;
  const parts = [];
  if (minutes) parts.push(`${minutes} minute${minutes === 1 ? "" : "s"}`);
  if (seconds || !minutes) parts.push(`${seconds} second${seconds === 1 ? "" : "s"}`);
  return parts.join(" ");
}

/**
 * A showtime's start as the theater shows it, in the theater's time zone.
 * @param {string} iso
 * @param {string | undefined} timeZone
 * @param {Intl.DateTimeFormatOptions} [options] changes to the usual parts
 */
export function formatStart(iso, timeZone, options = {}) {
  return new Intl.DateTimeFormat(LOCALE, {
    weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit",
    hourCycle: "h23", timeZone, ...options,
  }).format(new Date(iso));
}

/**
 * "19:30" in a time zone.
 * @param {Date} date
 * @param {string | undefined} timeZone
 */
export function formatTime(date, timeZone) {
  return new Intl.DateTimeFormat(LOCALE, {
    hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone,
  }).format(date);
}

/**
 * The calendar day ("2026-11-23") of an instant in a time zone, for grouping.
 * @param {Date} date
 * @param {string | undefined} timeZone
 */
export function dayKey(date, timeZone) {
  return new Intl.DateTimeFormat("en-CA", {
    year: "numeric", month: "2-digit", day: "2-digit", timeZone,
  }).format(date);
}

// Seat types are lower-case codes on the wire; these read better written out.
/** @type {Record<string, string>} */
const TYPE_NAMES = { vip: "VIP", d_box: "D-Box", imax: "IMAX" };

/**
 * "Silver" from "silver", "VIP" from "vip".
 * @param {string} code
 */
export function typeName(code) {
  return TYPE_NAMES[code] ?? code.charAt(0).toUpperCase() + code.slice(1).replaceAll("_", " ");
}

/**
 * "Row C, seat 7": how a seat is named to people, in messages and labels.
 * @param {{row: string, number: number}} seat
 */
export function seatName(seat) {
  return `Row ${seat.row}, seat ${seat.number}`;
}

/**
 * "Row C, seat 7 and Row C, seat 8" (in seat order); "3 seats" beyond a few.
 * @param {{row: string, number: number}[]} seats
 */
export function seatList(seats) {
  if (seats.length > 3) return `${seats.length} seats`;
  const names = [...seats].sort(compareSeats).map(seatName);
  return names.length > 1 ? `${names.slice(0, -1).join(", ")} and ${names.at(-1)}` : names[0];
}

/**
 * "Row H, seats 7 to 9; Row J, seats 8 and 9": seats by row, neighbouring
 * numbers as ranges, for saying where a group sits (rows in seat order).
 * @param {{row: string, number: number}[]} seats
 */
export function seatRanges(seats) {
  /** @type {Map<string, number[]>} */
  const rows = new Map();
  for (const seat of [...seats].sort(compareSeats)) rows.set(seat.row, [...(rows.get(seat.row) ?? []), seat.number]);
  return [...rows].map(([row, numbers]) => {
    numbers.sort((a, b) => a - b);
    if (numbers.length === 1) return `Row ${row}, seat ${numbers[0]}`;
    const consecutive = numbers.every((n, i) => i === 0 || n === numbers[i - 1] + 1);
    const list = consecutive && numbers.length > 2
      ? `${numbers[0]} to ${numbers.at(-1)}`
      : `${numbers.slice(0, -1).join(", ")} and ${numbers.at(-1)}`;
    return `Row ${row}, seats ${list}`;
  }).join("; ");
}

/**
 * Runs of a seat id as sort keys: digits as numbers, letters by length then
 * text, so A2 < A10 < B1 and Z1 < AA1 (rows past Z as layouts name them).
 * The same rule as the server's `seatserver/bookings/seat_order.py`.
 * @param {string} id
 * @returns {[number, number, string][]}
 */
function seatKey(id) {
  return (id.match(/[0-9]+|[^0-9]+/g) ?? []).map((run) => /** @type {[number, number, string]} */ (
    /^[0-9]/.test(run) ? [1, Number(run), run] : [0, run.length, run.toUpperCase()]));
}

/**
 * Compares seats for sorting in natural order (row, then number): by row label
 * and number where the seats have them, else by their ids' runs.
 * @param {{id?: string, row?: string, number?: number}} a
 * @param {{id?: string, row?: string, number?: number}} b
 */
export function compareSeats(a, b) {
  const left = a.row !== undefined && a.number !== undefined
    ? [...seatKey(a.row), [1, a.number, ""]] : seatKey(a.id ?? "");
  const right = b.row !== undefined && b.number !== undefined
    ? [...seatKey(b.row), [1, b.number, ""]] : seatKey(b.id ?? "");
  for (let i = 0; i < Math.min(left.length, right.length); i += 1) {
    for (let j = 0; j < 3; j += 1) {
      if (left[i][j] < right[i][j]) return -1;
      if (left[i][j] > right[i][j]) return 1;
    }
  }
  return left.length - right.length;
}
