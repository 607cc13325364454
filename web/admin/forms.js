// @ts-check
// Forms on the admin page, whichever section they are in: an error slot after
// each field and the form's own error and done boxes (`formParts`), API errors
// shown next to the field they name ("slug: ..."), submit and edit and delete
// with those errors shown, list rows with actions, select options, and the
// readers of text fields. The page (admin.js) and its sections (reviews.js...)
// import these; this module does nothing by itself.

import { HttpError, sendJSON } from "../shared/api.js";
import { $ } from "../shared/dom.js";
import { formatMoney } from "../shared/format.js";

/** @typedef {import("../shared/dom.js").Form} Form */

/**
 * A hidden paragraph, for a message later.
 * @param {string} className
 * @param {Record<string, string>} [attributes]
 */
function paragraph(className, attributes = {}) {
  const p = document.createElement("p");
  p.className = className;
  p.hidden = true;
  for (const [name, value] of Object.entries(attributes)) p.setAttribute(name, value);
  return p;
}

/**
 * Give a form what the HTML leaves out: an error slot after each named field
 * (linked to it with aria-describedby), and the form's own error and done
 * boxes before its buttons. Safe to call twice.
 * @param {Form} form
 */
export function formParts(form) {
  if (form.dataset.parts) return;
  form.dataset.parts = "yes";
  /** @type {NodeListOf<import("../shared/dom.js").Field>} */
  const fields = form.querySelectorAll("input[name]:not([type=hidden]), select[name], textarea[name]");
  for (const field of fields) {
    const slot = paragraph("field-error", { "data-for": field.name });
    if (field.id) {
      slot.id = `${field.id}-error`;
      field.setAttribute("aria-describedby",
        [field.getAttribute("aria-describedby"), slot.id].filter(Boolean).join(" "));
    }
    // After the field's hint or money preview, if it has one.
    /** @type {Element} */
    let after = field;
    while (after.nextElementSibling?.matches("output, datalist, p.hint")) after = after.nextElementSibling;
    after.after(slot);
  }
  const boxes = [paragraph("form-error", { role: "alert" }), paragraph("form-done", { role: "status" })];
  const actions = form.querySelector(":scope > .actions");
  if (actions) actions.before(...boxes); else form.append(...boxes);
}

/**
 * The field an API error names ("slug: taken" -> slug), and the rest.
 * @param {string | undefined} message
 * @returns {{field: string | null, text: string | undefined}}
 */
function fieldOf(message) {
  const match = /^([a-z_]+)(?:[.\d\w]*)?:\s*(.*)$/s.exec(message ?? "");
  return match ? { field: match[1], text: match[2] } : { field: null, text: message };
}

/** @param {Form} form */
export function clearErrors(form) {
  /** @type {NodeListOf<HTMLElement>} */
  const boxes = form.querySelectorAll(".field-error, .form-error, .form-done");
  for (const p of boxes) { p.hidden = true; p.textContent = ""; }
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
}

/**
 * Show an API error next to the field it names, or under the form.
 * @param {Form} form
 * @param {any} error an HttpError, or whatever else was thrown
 */
export function showError(form, error) {
  const message = error instanceof HttpError ? error.message : String(error?.message ?? error);
  // A layout's errors name rows and seats ("row C seat 4: ..."), not a field.
  const { field, text } = error?.code === "bad_layout"
    ? { field: "layout", text: message } : fieldOf(message);
  /** @type {HTMLElement | null} */
  const slot = field && form.querySelector(`.field-error[data-for="${field}"]`);
  if (slot) {
    slot.textContent = text;
    slot.hidden = false;
    const input = form.elements[field];
    if (input) { input.setAttribute("aria-invalid", "true"); input.focus(); }
    return;
  }
  const box = $(".form-error", form);
  box.textContent = message;
  box.hidden = false;
}

/**
 * Say what was done, under the form (text and nodes such as links).
 * @param {Form} form
 * @param {...(string | Node)} parts
 */
export function done(form, ...parts) {
  const box = $(".form-done", form);
  box.replaceChildren(...parts);
  box.hidden = false;
}

/**
 * Run ``action`` on submit, errors cleared first; whatever it throws is shown
 * on the form (next to the field the API names).
 * @param {Form} form
 * @param {(fields: Form["elements"], form: Form) => unknown} action
 */
export function onSubmit(form, action) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    try {
      await action(form.elements, form);
    } catch (error) {
      showError(form, error);
    }
  });
}

/**
 * Load ``values`` into the form to edit the thing whose id they carry; "Edit <title>".
 * @param {Form} form
 * @param {Record<string, unknown>} values
 * @param {string} title
 */
export function edit(form, values, title) {
  for (const [key, value] of Object.entries(values)) {
    const field = /** @type {import("../shared/dom.js").Field | null} */ (
      form.elements.namedItem(key));
    if (!field) continue;
    if (field instanceof HTMLInputElement && field.type === "checkbox") field.checked = value === true;
    else field.value = String(value ?? ""); // as the DOM would make of a number
    field.dispatchEvent(new Event("input")); // previews follow
  }
  clearErrors(form);
  $("h3", form).textContent = `Edit ${title}`;
  /** @type {import("../shared/dom.js").Field} */ (
    form.querySelector("input:not([type=hidden]), select")).focus();
}

/** POST a new thing, or PUT the one being edited; the form is cleared after. */
/**
 * @param {Form} form
 * @param {string} path the collection's path; the id is appended to edit
 * @param {object} body
 */
export async function save(form, path, body) {
  const id = form.elements.id?.value;
  const saved = await sendJSON(id ? `${path}/${id}` : path, body, { method: id ? "PUT" : "POST" });
  form.reset();
  return saved;
}

/** Delete after a confirmation; a refusal (in use...) is shown under ``form``. */
/**
 * @param {Form} form
 * @param {string} path
 * @param {string} what how the confirmation names it
 * @param {() => Promise<unknown>} reload
 */
export async function remove(form, path, what, reload) {
  if (!window.confirm(`Delete ${what}?`)) return;
  clearErrors(form);
  try {
    await sendJSON(path, undefined, { method: "DELETE" });
    await reload();
  } catch (error) {
    showError(form, error);
  }
}

/**
 * A list row: a label and a link-like button per action.
 * @param {string} label
 * @param {[string, () => unknown][]} actions
 */
export function row(label, actions) {
  const li = document.createElement("li");
  const span = document.createElement("span");
  span.textContent = label;
  li.append(span);
  for (const [text, onClick] of actions) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "link-button";
    button.textContent = text;
    button.addEventListener("click", onClick);
    li.append(" ", button);
  }
  return li;
}

/**
 * The rows, or one row saying there are none.
 * @param {Element} list
 * @param {Element[]} items
 * @param {string} none
 */
export function rowsOr(list, items, none) {
  list.replaceChildren(...(items.length ? items : [row(none, [])]));
}

/**
 * A select's options from `items` (by id), keeping the choice, after the
 * "any" option its `data-any` names.
 * @template {{id: number | string}} T
 * @param {HTMLSelectElement} select
 * @param {T[]} items
 * @param {(item: T) => string} label
 */
export function options(select, items, label) {
  const chosen = select.value;
  const any = select.dataset.any ? [new Option(select.dataset.any, "")] : [];
  select.replaceChildren(...any, ...items.map((item) => new Option(label(item), String(item.id))));
  if (chosen) select.value = chosen;
}

// Readers of text fields: a comma-separated list, text or nothing, a number or nothing.
/** @param {string} value */
export const list = (value) => value.split(",").map((s) => s.trim()).filter(Boolean);
/** @param {string} value */
export const optional = (value) => (value.trim() === "" ? undefined : value.trim());
/** @param {string} value */
export const number = (value) => (value.trim() === "" ? undefined : Number(value));

/**
 * "€12.50" under a minor-units field as it is typed (nothing while it is not a price).
 * @param {import("../shared/dom.js").Field} input
 * @param {HTMLElement} output
 * @param {() => string} currency
 */
export function moneyPreview(input, output, currency) {
  const show = () => {
    const amount = Number(input.value);
    let text = "";
    if (input.value.trim() !== "" && Number.isInteger(amount) && amount >= 0) {
      try { text = formatMoney(amount, currency()); } catch { /* not a currency (yet) */ }
    }
    output.textContent = text;
  };
  input.addEventListener("input", show);
  input.form.addEventListener("reset", () => setTimeout(show));
  return show;
}
