// @ts-check
// How a seat is drawn: its type's colours, and its icon from the page's SVG
// sprite (shared/sprite.js) with a mark for its look.

const SVG = "http://www.w3.org/2000/svg";
/** @type {Partial<Record<import("./board.js").Look, string>>} */
const MARKS = {
  mine: "#mark-check", booked: "#mark-cross", pending: "#mark-dots", bought: "#mark-star",
};

/** @typedef {{fill: string, stroke: string}} Colours */

/** @type {Record<string, Colours>} */
export const TYPE_COLOURS = {
  silver: { fill: "#dfe4ea", stroke: "#4f5b69" },
  gold: { fill: "#f4d47c", stroke: "#7d5a00" },
  vip: { fill: "#dcc7f2", stroke: "#5f3593" },
};
/** @type {Colours[]} */
const SPARE_COLOURS = [
  { fill: "#bfe3e0", stroke: "#1d6660" }, { fill: "#f6c9b8", stroke: "#8f3b1b" },
  { fill: "#c5d6f5", stroke: "#2a4f8f" }, { fill: "#e3e8b5", stroke: "#5b6314" },
];

/**
 * Colours for each seat type: the usual ones by name, spares in turn for others.
 * @param {Iterable<string>} types
 * @returns {Record<string, Colours>}
 */
export function typeColours(types) {
  /** @type {Record<string, Colours>} */
  const colours = {};
  let spare = 0;
  for (const type of types) {
    colours[type] = TYPE_COLOURS[type] ?? SPARE_COLOURS[spare++ % SPARE_COLOURS.length];
  }
  return colours;
}

/**
 * A small seat drawing from the sprite, for maps and legends: a shape and a
 * mark (`paintIcon`).
 * @param {boolean} accessible
 * @returns {SVGSVGElement}
 */
export function seatIcon(accessible) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  svg.append(...seatUses(accessible));
  return svg;
}

/**
 * The shape and the mark of a seat, to place in a drawing of one's own.
 * @param {boolean} accessible
 * @returns {[SVGUseElement, SVGUseElement]}
 */
export function seatUses(accessible) {
  const shape = document.createElementNS(SVG, "use");
  shape.setAttribute("href", accessible ? "#seat-wheelchair" : "#seat");
  shape.setAttribute("class", "shape");
  const mark = document.createElementNS(SVG, "use");
  mark.setAttribute("class", "mark");
  return [shape, mark];
}

/**
 * Set the mark of a seat drawn by `seatIcon` or `seatUses` (its last child).
 * @param {Element} drawing
 * @param {import("./board.js").Look} look
 */
export function paintIcon(drawing, look) {
  const mark = drawing.lastElementChild;
  if (!mark) return;
  const href = MARKS[look];
  if (href) mark.setAttribute("href", href);
  else mark.removeAttribute("href");
}
