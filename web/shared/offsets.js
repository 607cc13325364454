// @ts-check
// Stream offsets ("<ms>-<seq>", docs/protocol.md) as numbers that compare.

/** @typedef {[number, number]} Position an offset's two halves */

/**
 * "1795426849423-3" -> [1795426849423, 3]; null when it is not an offset.
 * @param {unknown} offset
 * @returns {Position | null}
 */
export function parseOffset(offset) {
  const match = /^(\d+)-(\d+)$/.exec(typeof offset === "string" ? offset : "");
  return match ? [Number(match[1]), Number(match[2])] : null;
}

/**
 * Whether `a` comes after `b` in the stream (offsets compare within one epoch only).
 * @param {Position} a
 * @param {Position} b
 */
export function isAfter(a, b) {
  return a[0] > b[0] || (a[0] === b[0] && a[1] > b[1]);
}
