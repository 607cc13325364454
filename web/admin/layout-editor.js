// @ts-check
// The screen form's seat-layout editor: the grid (layout-grid.js), the tools
// that edit the selection through the model's pure edits (layout-model.js),
// undo and redo, the preview as the picker draws it (layout-preview.js), and
// the raw JSON under "Advanced", kept in step both ways: an edit on the grid
// rewrites the JSON, JSON typed there that can be drawn redraws the grid
// (JSON that cannot is named as such and leaves the grid as it was). The form
// saves the JSON, so the grid saves exactly what the API validates.
//
// A save refused because sold seats would disappear (`in_use` with `seats`)
// marks those seats' cells on the grid, where they were in the layout as
// loaded from the server.

import { $, $button, $field } from "../shared/dom.js";
import { installSprite } from "../shared/sprite.js";
import {
  addRow, addSeats, deleteRows, emptyModel, fromLayout, History, insertGap, labelProblem,
  parseSeatNumber, placed, removeGap, removeSeats, renameRow, renumber, setScreen, setType,
  toggleCompanion, toggleWheelchair, toLayout, typesOf,
} from "./layout-model.js";
import { LayoutGrid } from "./layout-grid.js";
import { drawPreview } from "./layout-preview.js";

/** @typedef {import("./layout-model.js").Model} Model */
/** @typedef {import("./layout-model.js").Cell} Cell */

/**
 * The layout as JSON, a row a line: compact, and still readable in a textarea.
 * @param {object} layout
 */
export function layoutText(layout) {
  const { rows, ...rest } = /** @type {{rows: object[]}} */ (layout);
  const head = JSON.stringify(rest).slice(1, -1);
  const lines = rows.map((row) => `    ${JSON.stringify(row)}`);
  return `{${head}${head ? ", " : ""}"rows": [\n${lines.join(",\n")}\n]}`;
}

export class LayoutEditor {
  /** @param {HTMLFormElement} form the screen form, with the editor's markup */
  constructor(form) {
    this.form = form;
    installSprite(); // the seat shapes the grid and the preview <use>
    this.text = /** @type {HTMLTextAreaElement} */ ($field("#screen-layout", form));
    this.advanced = /** @type {HTMLDetailsElement} */ ($("#layout-advanced", form));
    this.message = $("#layout-message", form);
    this.preview = $("#layout-preview", form);
    this.history = new History(emptyModel());
    this.fromText = false; // the current model came from typing in the JSON
    /** @type {Map<string, {x: number, y: number, row: string}>} seat id -> where it was when loaded */
    this.baseline = new Map();
    /** @type {Map<string, {id: string, row: string}>} cell key -> a sold seat that would go */
    this.refusedCells = new Map();
    const root = $("#layout-editor", form);
    this.grid = new LayoutGrid($("#layout-grid", form), {
      onSelect: () => this.sayWhere(),
      onShortcut: (event) => this.shortcut(event),
    });
    root.addEventListener("keydown", (event) => this.undoKeys(event));
    this.tools();
    this.text.addEventListener("input", () => this.readText());
    form.addEventListener("reset", () => setTimeout(() => this.load(this.text.value, false)));
    this.load(this.text.value, false);
  }

  /** @returns {Model} */
  get model() {
    return this.history.current;
  }

  tools() {
    /** @type {[string, (cells: Cell[]) => Model][]} */
    const selectionTools = [
      ["#layout-set-type", (cells) => setType(this.model, cells, $field("#layout-type").value)],
      ["#layout-wheelchair", (cells) => toggleWheelchair(this.model, cells)],
      ["#layout-companion", (cells) => toggleCompanion(this.model, cells)],
      ["#layout-add-seats", (cells) => addSeats(this.model, cells, $field("#layout-type").value)],
      ["#layout-remove-seats", (cells) => removeSeats(this.model, cells)],
      ["#layout-aisle", (cells) => insertGap(this.model, cells, true)],
      ["#layout-gap", (cells) => insertGap(this.model, cells, false)],
      ["#layout-close-gap", (cells) => removeGap(this.model, cells, false)],
      ["#layout-delete-rows", (cells) => deleteRows(this.model, cells)],
      ["#layout-rename-row", () => renameRow(this.model, this.grid.cursor.y, $field("#layout-rename").value)],
      ["#layout-renumber", (cells) => {
        const first = parseSeatNumber($field("#layout-first").value);
        if ("problem" in first) throw new Error(`First seat number: ${first.problem}`);
        return renumber(this.model, cells, first.number,
          $field("#layout-direction").value === "rtl" ? "rtl" : "ltr");
      }],
    ];
    for (const [selector, edit] of selectionTools) {
      $button(selector).addEventListener("click", () => this.apply(() => edit(this.grid.targets())));
    }
    $button("#layout-add-row").addEventListener("click", () => this.addRow());
    $button("#layout-undo").addEventListener("click", () => this.undo());
    $button("#layout-redo").addEventListener("click", () => this.redo());
    $field("#layout-screen").addEventListener("change", (event) => this.apply(() => setScreen(
      this.model, /** @type {HTMLSelectElement} */ (event.target).value === "bottom" ? "bottom" : "top")));
    // Enter in the tools' fields presses their button rather than saving the screen.
    for (const [field, button] of [["#layout-row-label", "#layout-add-row"], ["#layout-row-seats", "#layout-add-row"],
      ["#layout-rename", "#layout-rename-row"], ["#layout-first", "#layout-renumber"]]) {
      $field(field).addEventListener("keydown", (event) => {
        if (/** @type {KeyboardEvent} */ (event).key === "Enter") {
          event.preventDefault();
          $button(button).click();
        }
      });
    }
  }

  addRow() {
    const label = $field("#layout-row-label").value;
    const problem = labelProblem(label);
    const count = parseSeatNumber($field("#layout-row-seats").value);
    if (problem) { this.say(`Row label: ${problem}`, true); return; }
    if ("problem" in count) { this.say(`Seats in the row: ${count.problem.replace("seat number", "number of seats")}`, true); return; }
    if (this.apply(() => addRow(this.model, { label, count: count.number, type: $field("#layout-row-type").value }))) {
      $field("#layout-row-label").value = nextLabel(label);
    }
  }

  /**
   * Run an edit; its model becomes the current one, or its refusal is said.
   * @param {() => Model} edit
   */
  apply(edit) {
    let next;
    try {
      next = edit();
    } catch (error) {
      this.say(error.message, true);
      return false;
    }
    this.history.push(next);
    this.fromText = false;
    this.say("");
    this.sync(true);
    return true;
  }

  undo() {
    if (!this.history.undo()) { this.say("Nothing to undo."); return; }
    this.say("Undone.");
    this.sync(true);
  }

  redo() {
    if (!this.history.redo()) { this.say("Nothing to redo."); return; }
    this.say("Redone.");
    this.sync(true);
  }

  /** Ctrl+Z, Ctrl+Shift+Z and Ctrl+Y outside text fields (those undo their own text). @param {KeyboardEvent} event */
  undoKeys(event) {
    const target = event.target;
    if (!(event.ctrlKey || event.metaKey) || target instanceof HTMLInputElement
      || target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement) return;
    const key = event.key.toLowerCase();
    if (key === "z") { event.preventDefault(); if (event.shiftKey) this.redo(); else this.undo(); }
    if (key === "y") { event.preventDefault(); this.redo(); }
  }

  /** Keys on the grid that edit. @param {KeyboardEvent} event */
  shortcut(event) {
    if (event.ctrlKey || event.metaKey) return false;
    /** @type {Record<string, string>} */
    const buttons = { Delete: "#layout-remove-seats", Backspace: "#layout-remove-seats",
      Enter: "#layout-add-seats", w: "#layout-wheelchair", c: "#layout-companion", t: "#layout-set-type" };
    const button = buttons[event.key.length === 1 ? event.key.toLowerCase() : event.key];
    if (!button) return false;
    $button(button).click();
    return true;
  }

  /**
   * Start again from a layout (JSON text or a document): nothing to undo.
   * `fromServer`: the layout is the screen's saved one, where refused sold
   * seats are looked for.
   * @param {string | object} layout
   * @param {boolean} fromServer
   */
  load(layout, fromServer) {
    let model;
    try {
      model = fromLayout(typeof layout === "string" ? JSON.parse(layout) : layout);
    } catch (error) {
      model = emptyModel();
      this.say(`The JSON cannot be drawn: ${error.message}`, true);
    }
    this.history.reset(model);
    this.baseline = new Map(fromServer ? placed(model).map((s) => [s.id, { x: s.x, y: s.y, row: s.row }]) : []);
    this.refusedCells = new Map();
    this.grid.clear();
    this.sync(typeof layout !== "string");
  }

  readText() {
    let model;
    try {
      model = fromLayout(JSON.parse(this.text.value));
    } catch (error) {
      this.say(`The JSON cannot be drawn yet (the grid shows the last layout that could be): ${error.message}`, true);
      return;
    }
    // Typing is one step of the history until the grid is used again.
    if (this.fromText) this.history.current = model;
    else this.history.push(model);
    this.fromText = true;
    this.say("");
    this.sync(false);
  }

  /**
   * A save was refused: sold seats that would disappear are marked where they
   * were, and named.
   * @param {any} error an HttpError
   */
  refused(error) {
    if (error?.code === "bad_layout") this.advanced.open = true;
    if (error?.code !== "in_use" || !Array.isArray(error.seats) || !error.seats.length) return;
    this.refusedCells = new Map();
    for (const id of error.seats) {
      const where = this.baseline.get(id);
      if (where) this.refusedCells.set(`${where.x}:${where.y}`, { id, row: where.row });
    }
    this.say(`Not saved: sold seats would disappear: ${error.seats.join(", ")}. They are marked on the grid; `
      + "put them back (Undo) or keep their row label and number.", true);
    this.sync(true);
  }

  /** Draw everything from the current model; `writeText`: the JSON follows. @param {boolean} writeText */
  sync(writeText) {
    const model = this.model;
    const box = $("#layout-grid-box");
    const hadFocus = box.contains(document.activeElement);
    this.grid.render(model, this.refusedCells);
    const empty = !model.rows.length && !this.refusedCells.size;
    box.hidden = empty;
    // Focus on a grid that goes (every row undone) stays in the editor, for its keys.
    if (empty && hadFocus) $("#layout-editor").focus();
    $("#layout-empty").hidden = !empty;
    drawPreview(this.preview, placed(model), model.screen);
    if (writeText) this.text.value = layoutText(toLayout(model));
    $button("#layout-undo").disabled = !this.history.past.length;
    $button("#layout-redo").disabled = !this.history.future.length;
    $field("#layout-screen").value = model.screen;
    for (const select of /** @type {NodeListOf<HTMLSelectElement>} */ (this.form.querySelectorAll(".layout-types"))) {
      const chosen = select.value;
      select.replaceChildren(...typesOf(model).map((type) => new Option(type, type)));
      if (chosen) select.value = chosen;
    }
    this.sayWhere();
  }

  /** What is selected, in words, under the grid. */
  sayWhere() {
    const seats = this.grid.targets().filter((c) => this.model.rows.some((r) => r.y === c.y
      && r.seats.some((s) => s.x === c.x)));
    const selected = this.grid.selected.size;
    $("#layout-selection").textContent = selected
      ? `${selected} cells selected, ${seats.length} of them seats.`
      : "Nothing selected: the tools act on the cell under the cursor.";
  }

  /** @param {string} text @param {boolean} [problem] */
  say(text, problem = false) {
    this.message.textContent = text;
    this.message.classList.toggle("problem", problem && Boolean(text));
  }
}

/** The label after `label` for the next row: B after A, 12 after 11. @param {string} label */
function nextLabel(label) {
  if (/^[0-9]+$/.test(label)) return String(Number(label) + 1);
  if (/^[A-Y]$/i.test(label)) return String.fromCharCode(label.charCodeAt(0) + 1);
  return "";
}
