// @ts-check
// The seat shapes, state marks and hatch pattern, defined once per page and
// <use>d by every seat drawing (picker buttons, legends, the kiosk's map).

const SVG = "http://www.w3.org/2000/svg";

const DEFS = `
<defs>
  <pattern id="hatch" width="5" height="5" patternUnits="userSpaceOnUse"
           patternTransform="rotate(45)">
    <rect class="hatch-bg" width="5" height="5"/>
    <line class="hatch-line" x1="0" y1="0" x2="0" y2="5" stroke-width="2.2"/>
  </pattern>
  <symbol id="seat" viewBox="0 0 24 24">
    <path d="M6.5 2.5h11a3 3 0 0 1 3 3v8.5h-17V5.5a3 3 0 0 1 3-3z"/>
    <path d="M2.5 11.5h2.2v4.5h14.6v-4.5h2.2a1 1 0 0 1 1 1v7a2 2 0 0 1-2 2H3.5a2 2 0 0 1-2-2v-7a1 1 0 0 1 1-1z"/>
  </symbol>
  <symbol id="seat-wheelchair" viewBox="0 0 24 24">
    <rect x="2" y="2.5" width="20" height="19" rx="3.5"/>
    <g class="glyph" fill="none" stroke-width="1.7" stroke-linecap="round" stroke-linejoin="round">
      <circle cx="10.5" cy="5.6" r="1.1"/>
      <path d="M10.5 8.2v5h4.3l1.8 4"/>
      <path d="M8.3 10.6a4.3 4.3 0 1 0 5.4 5.6"/>
    </g>
  </symbol>
  <symbol id="mark-check" viewBox="0 0 24 24">
    <path d="M6.5 12.5l3.6 3.6 7.4-7.6" fill="none" stroke-width="3"
          stroke-linecap="round" stroke-linejoin="round"/>
  </symbol>
  <symbol id="mark-cross" viewBox="0 0 24 24">
    <path d="M7.5 7.5l9 9m0-9l-9 9" fill="none" stroke-width="2.8" stroke-linecap="round"/>
  </symbol>
  <symbol id="mark-star" viewBox="0 0 24 24">
    <path d="M12 5.2l2 4.1 4.5.6-3.3 3.1.8 4.4-4-2.1-4 2.1.8-4.4-3.3-3.1 4.5-.6z" stroke-width="0.8"
          stroke-linejoin="round"/>
  </symbol>
  <symbol id="mark-dots" viewBox="0 0 24 24">
    <circle cx="7" cy="12" r="1.9"/><circle cx="12" cy="12" r="1.9"/><circle cx="17" cy="12" r="1.9"/>
  </symbol>
</defs>
`;

export function installSprite() {
  if (document.getElementById("seat")) return;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "sprite");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  svg.innerHTML = DEFS;
  document.body.prepend(svg);
}
