// @ts-check
// The layout as buyers will see it: the picker's map (web/picker/map.js)
// drawn from the same shared pieces (shared/seatmap: seatGrid places seats,
// typeColours and seatIcon draw them) into the same structure and classes,
// every seat shown available. Not interactive: the figure is one image with
// a summary for assistive technology; the editor's grid is what is operated.

import { element } from "../shared/dom.js";
import { paintIcon, seatIcon, typeColours } from "../shared/seatmap/drawing.js";
import { seatGrid } from "../shared/seatmap/geometry.js";

/**
 * @param {HTMLElement} root
 * @param {import("../shared/seatmap/board.js").Seat[]} seats
 * @param {"top" | "bottom"} screenAt
 */
export function drawPreview(root, seats, screenAt) {
  const rows = new Set(seats.map((s) => s.y)).size;
  root.setAttribute("aria-label", `Seat layout preview: ${rows} rows, ${seats.length} seats`);
  if (!seats.length) {
    root.replaceChildren(element("p", "hint", "No seats yet."));
    return;
  }
  const cells = seatGrid(seats);
  const colours = typeColours(new Set(seats.map((s) => s.type)));
  const grid = element("div", "seats");
  grid.style.setProperty("--cols", String(cells.cols));
  for (const y of cells.ys) {
    const row = cells.rows.get(y);
    for (const side of [1, cells.cols + 2]) {
      const label = element("span", "row-label", row[0].row);
      label.style.gridRow = String(cells.line(row[0]) + 1);
      label.style.gridColumn = String(side);
      grid.append(label);
    }
    for (const seat of row) {
      const drawn = element("span", "seat");
      drawn.dataset.id = seat.id;
      drawn.dataset.look = "available";
      drawn.style.gridRow = String(cells.line(seat) + 1);
      drawn.style.gridColumn = String(cells.column(seat) + 2);
      drawn.style.setProperty("--fill", colours[seat.type].fill);
      drawn.style.setProperty("--stroke", colours[seat.type].stroke);
      const icon = seatIcon(seat.accessible);
      paintIcon(icon, "available");
      drawn.append(icon);
      grid.append(drawn);
    }
  }
  const screen = element("div", "screen", "Screen");
  const stage = element("div", "stage");
  stage.append(...(screenAt === "bottom" ? [grid, screen] : [screen, grid]));
  root.replaceChildren(stage);
}
