// @ts-check
// The receipt's Print button: shown only where a script can print (the page
// prints fine from the browser's own menu without it).

const button = /** @type {HTMLButtonElement | null} */ (document.querySelector("#print"));
if (button && typeof window.print === "function") {
  button.hidden = false;
  button.addEventListener("click", () => window.print());
}
