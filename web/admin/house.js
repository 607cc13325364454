// @ts-check
// The admin page's house seats: choose seats of a showtime on a live map
// (the box office's SeatChooser) and block them off online sale with a
// reason (house seats, press, broken, other with a note), or unblock them.
// The server refuses seats held online or sold, naming them; every block
// and unblock is audited. Blocked seats are sold at the counter (/counter).
import { getJSON, sendJSON } from "../shared/api.js";
import { $, $button, $form, element } from "../shared/dom.js";
import { formatStart, seatList } from "../shared/format.js";
import { REASONS, SeatChooser } from "../shared/seatmap/chooser.js";
import { clearErrors, done, formParts, onSubmit, showError } from "./forms.js";

const form = $form("#house-form");
formParts(form);
const select = /** @type {HTMLSelectElement} */ ($("#house-showtime"));

/** @type {SeatChooser | null} */
let chooser = null;

function showChoice() {
  if (!chooser) return;
  const seats = chooser.chosenSeats();
  $("#house-chosen").textContent = seats.length ? `Chosen: ${seatList(seats)}` : "No seats chosen.";
  $button("#house-block").disabled = !seats.some((s) => chooser?.look(s.id) === "available");
  $button("#house-unblock").disabled = !seats.some((s) => chooser?.look(s.id) === "blocked");
  showBlocks();
}

function showBlocks() {
  if (!chooser?.board) return;
  const board = chooser.board;
  const items = [...chooser.blocks.values()].map((b) => {
    const seat = board.seats.get(b.seat);
    const name = seat ? seatList([seat]) : b.seat;
    return element("li", "", `${name}: ${REASONS[b.reason] ?? b.reason}${b.note ? ` (${b.note})` : ""}`);
  });
  $("#house-list").replaceChildren(...(items.length ? items
    : [element("li", "", "No seats are blocked for this showtime.")]));
}

onSubmit(form, async (f) => {
  if (!chooser) return;
  const seats = chooser.chosenSeats().filter((s) => chooser?.look(s.id) === "available");
  const note = f.note.value.trim();
  const body = { seats: seats.map((s) => s.id), reason: f.reason.value, ...(note ? { note } : {}) };
  await sendJSON(`/api/admin/showtimes/${chooser.showtime}/blocks`, body);
  chooser.clear();
  f.note.value = "";
  await chooser.loadBlocks();
  done(form, `Blocked ${seatList(seats)}: not for sale online.`);
});

$button("#house-unblock").addEventListener("click", async () => {
  if (!chooser) return;
  clearErrors(form);
  const seats = chooser.chosenSeats().filter((s) => chooser?.look(s.id) === "blocked");
  try {
    await sendJSON(`/api/admin/showtimes/${chooser.showtime}/blocks/release`,
      { seats: seats.map((s) => s.id) });
    chooser.clear();
    await chooser.loadBlocks();
    done(form, `Unblocked ${seatList(seats)}: on sale online again.`);
  } catch (error) {
    showError(form, error);
  }
});

select.addEventListener("change", () => {
  clearErrors(form);
  chooser?.open(Number(select.value)).catch((error) => showError(form, error));
});

/** Fill the section: the upcoming showtimes, and the first one's seats. */
export async function startHouse() {
  chooser = new SeatChooser($("#house-seats"), {
    choosable: (look) => look === "available" || look === "blocked",
    onChange: showChoice,
    hint: $("#house-seats-hint"),
  });
  try {
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
    if (select.value) await chooser.open(Number(select.value));
  } catch (error) {
    showError(form, error);
  }
}
