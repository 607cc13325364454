// @ts-check
// Which sides of a box that scrolls sideways have part of what it holds out
// of view, and the words that say so: a seat map cut off at the screen's edge
// is easy to take for the whole hall (the picker's map, the staff pages' seat
// chooser).

/**
 * "left", "right", both (in that order) or none.
 * @param {HTMLElement} box
 * @returns {string[]}
 */
export function sidesOutOfView(box) {
  const { scrollLeft, scrollWidth, clientWidth } = box;
  // A pixel of slack: a zoomed or fractional width never lands exactly.
  return [scrollLeft > 1 ? "left" : "", scrollLeft + clientWidth < scrollWidth - 1 ? "right" : ""]
    .filter(Boolean);
}

/**
 * "More seats to the left and right, out of view: swipe or scroll the map."
 * @param {string[]} sides from sidesOutOfView, not empty
 * @param {string} how what brings them into view
 */
export function outOfViewWords(sides, how) {
  return `More seats to the ${sides.join(" and ")}, out of view: ${how}.`;
}
