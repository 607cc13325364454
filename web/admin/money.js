// @ts-check
// Prices as an admin types them: "12.50" in the currency's units, read into
// the integer minor units the API keeps (1250), and back. Only the digits
// 0-9 and one point are taken: a comma, an exponent ("1e9"), another script's
// digits ("١٢"), a sign or a control character is refused by name, never
// guessed at, as is a fraction finer than the currency's (12.505 EUR).

// The API's largest amount (seatserver/catalog/inputs.py MAX_AMOUNT), in minor units.
const MAX_MINOR = 10_000_000;

/**
 * How many decimals the currency has: 2 for EUR, 0 for JPY, 3 for BHD.
 * @param {string} currency
 */
export function decimals(currency) {
  try {
    return new Intl.NumberFormat("en", { style: "currency", currency })
      .resolvedOptions().maximumFractionDigits ?? 2;
  } catch {
    return 2; // not a currency code (yet): the form's currency field says so
  }
}

/**
 * "12.50" for 1250 EUR, "1200" for 1200 JPY: minor units as an admin types them.
 * @param {number} minor
 * @param {string} currency
 */
export function unitsText(minor, currency) {
  const digits = decimals(currency);
  if (!digits) return String(minor);
  const text = String(minor).padStart(digits + 1, "0");
  return `${text.slice(0, -digits)}.${text.slice(-digits)}`;
}

/**
 * The minor units of a price typed in units, or an Error whose message starts
 * with `field` (the form's field name: showError puts it beside that field).
 * @param {string} typed
 * @param {string} currency
 * @param {string} field
 * @returns {number}
 */
export function parseUnits(typed, currency, field) {
  const text = typed.trim();
  const digits = decimals(currency);
  const example = digits ? `12.${"5".padEnd(digits, "0")}` : "1200";
  if (text === "") throw new Error(`${field}: must not be empty`);
  if (text.startsWith("-")) throw new Error(`${field}: must not be negative`);
  if (/,/.test(text)) throw new Error(`${field}: use a point for the decimals, as ${example}`);
  const match = /^([0-9]+)(?:\.([0-9]*))?$/.exec(text);
  if (!match) throw new Error(`${field}: use the digits 0 to 9 and a point only, as ${example}`);
  const fraction = match[2] ?? "";
  if (fraction.length > digits) {
    throw new Error(digits ? `${field}: at most ${digits} decimals in ${currency}`
      : `${field}: ${currency} has no decimals`);
  }
  const whole = match[1].replace(/^0+(?=\d)/, "");
  if (whole.length > 9) throw new Error(`${field}: at most ${unitsText(MAX_MINOR, currency)}`);
  const minor = Number(whole) * 10 ** digits + Number(fraction.padEnd(digits, "0") || "0");
  if (minor > MAX_MINOR) throw new Error(`${field}: at most ${unitsText(MAX_MINOR, currency)}`);
  return minor;
}
