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
import { parseUnits } from "./money.js";
import { reveal } from "./sections.js";

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
    // After the field's hint or money preview, if it has one (after the box
    // that keeps a price field and its currency side by side).
    /** @type {Element} */
    let after = field.parentElement?.matches(".with-unit") ? field.parentElement : field;
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
  for (const p of boxes) { p.hidden = true; p.textContent = ""; p.classList.remove("visually-hidden"); }
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
}

/**
 * What a field is called on the page: its label's words without the hint
 * ("Slug", "Price in EUR"), else its name.
 * @param {Form} form
 * @param {string} name
 */
export function fieldLabel(form, name) {
  const input = /** @type {Element | null} */ (form.elements.namedItem(name));
  const label = input?.id ? form.querySelector(`label[for="${input.id}"]`) : null;
  if (!label) return name.replaceAll("_", " ");
  const copy = /** @type {Element} */ (label.cloneNode(true));
  for (const hint of copy.querySelectorAll(".hint")) hint.remove();
  return (copy.textContent ?? "").replace(/\s+/g, " ").trim() || name;
}

// How a field's text must look, in words, for the API's pattern refusals.
/** @type {Record<string, string>} */
const SHAPES = {
  slug: "lower-case letters and digits, words joined by -, as northern-lights",
  currency: "three capital letters, as EUR",
  languages: "language codes such as en or pt-BR, separated by commas",
  seat_type: "lower-case letters, digits, - and _, as gold",
  poster_url: "a web address starting with https://",
  row: "1 to 4 letters or digits, as A or AA",
};

/**
 * The API's validation wording (pydantic's) in plain words: "String should
 * have at least 1 character" -> "must not be empty".
 * @param {string} field
 * @param {string} text
 */
export function plainWords(field, text) {
  /** @type {[RegExp, (m: RegExpExecArray) => string][]} */
  const rules = [
    [/^Field required/, () => "must not be empty"],
    [/^String should have at least 1 character/, () => "must not be empty"],
    [/^(?:String|List) should have at least (\d+) (character|item)/,
      (m) => `must have at least ${m[1]} ${m[2]}s`],
    [/^(?:String|List) should have at most (\d+) (character|item)/,
      (m) => `must have at most ${m[1]} ${m[2]}s`],
    [/^String should match pattern/, () => `must be ${SHAPES[field] ?? "in the expected form"}`],
    [/^Input should be greater than or equal to (\S+)/, (m) => `must be at least ${m[1]}`],
    [/^Input should be greater than (\S+)/, (m) => `must be more than ${m[1]}`],
    [/^Input should be less than or equal to (\S+)/, (m) => `must be at most ${m[1]}`],
    [/^Input should be less than (\S+)/, (m) => `must be less than ${m[1]}`],
    [/^Input should be a valid integer/, () => "must be a whole number"],
    [/^Input should be a valid number/, () => "must be a number"],
    [/^Input should be a valid (?:datetime|date)/, () => "must be a date and time"],
    [/^Input should be a valid boolean/, () => "must be on or off"],
    [/^Input should be (?:'[^']*'(?:, | or )?)+$/, () => "choose one of the options"],
    [/^Input should have timezone info/, () => "must say its time zone"],
    [/^Extra inputs are not permitted/, () => "is not a field of this form"],
  ];
  for (const [pattern, say] of rules) {
    const match = pattern.exec(text);
    if (match) return say(match);
  }
  return text;
}

/**
 * A layout's refusal names a row and seat, then the key at fault ("row #1,
 * row: String should match..."): that key's part in plain words.
 * @param {string} text
 */
function layoutWords(text) {
  const match = /^(.*?)([a-z_]+): ([^:]*)$/s.exec(text);
  return match ? `${match[1]}${match[2]}: ${plainWords(match[2], match[3])}` : text;
}

/**
 * Mark one field as invalid with its message ("Title: must not be empty").
 * @param {Form} form
 * @param {string} field the field's name
 * @param {string} text what is wrong, in the API's words or ours
 * @returns {boolean} whether the form has such a field
 */
function markField(form, field, text) {
  /** @type {HTMLElement | null} */
  const slot = form.querySelector(`.field-error[data-for="${field}"]`);
  if (!slot) return false;
  slot.textContent = `${fieldLabel(form, field)}: ${field === "layout" ? layoutWords(text)
    : plainWords(field, text)}`;
  slot.hidden = false;
  const input = /** @type {HTMLElement | null} */ (form.elements.namedItem(field));
  input?.setAttribute("aria-invalid", "true");
  return true;
}

/**
 * Show every problem at once: each beside its field (marked invalid), a
 * count in the form's alert box (announced), the focus on the first field.
 * @param {Form} form
 * @param {any[]} problems errors thrown or made ("slug: taken")
 */
export function showErrors(form, problems) {
  const named = [];
  for (const problem of problems) {
    const message = String(problem?.message ?? problem);
    const { field, text } = problem?.code === "bad_layout"
      ? { field: "layout", text: message } : fieldOf(message);
    if (field && markField(form, field, text ?? "")) named.push(field);
    else {
      const box = $(".form-error", form);
      box.textContent = [box.textContent, message].filter(Boolean).join(" ");
      box.hidden = false;
    }
  }
  if (!named.length) return;
  const box = $(".form-error", form);
  const labels = named.map((name) => fieldLabel(form, name));
  // One field: its message again, for the alert to announce, but not shown
  // twice (unless something else is said too); more: which fields.
  const single = named.length === 1;
  const summary = single ? $(`.field-error[data-for="${named[0]}"]`, form).textContent
    : `${named.length} fields need a change: ${labels.join(", ")}.`;
  const more = box.hidden ? "" : box.textContent;
  box.textContent = [summary, more].filter(Boolean).join(" ");
  box.classList.toggle("visually-hidden", single && !more);
  box.hidden = false;
  /** @type {HTMLElement | null} */ (form.elements.namedItem(named[0]))?.focus();
}

/**
 * Show an API error next to the field it names, or under the form.
 * @param {Form} form
 * @param {any} error an HttpError, or whatever else was thrown
 */
export function showError(form, error) {
  showErrors(form, [error instanceof HttpError || error instanceof Error ? error
    : new Error(String(error?.message ?? error))]);
}

/**
 * What the browser knows is wrong with the form's fields before anything is
 * sent (required, lengths, ranges, e-mail), in plain words, one per field.
 * @param {Form} form
 * @returns {Error[]}
 */
export function fieldProblems(form) {
  const problems = [];
  /** @type {NodeListOf<HTMLInputElement>} */
  const fields = form.querySelectorAll("input[name]:not([type=hidden]), select[name], textarea[name]");
  for (const field of fields) {
    if (field.disabled || field.closest("[hidden]")) continue;
    const v = field.validity;
    let text = "";
    if (v.valueMissing || (field.required && field.value.trim() === "")) {
      text = field instanceof HTMLSelectElement ? "choose one" : "must not be empty";
    } else if (v.badInput) text = "must be a number";
    else if (v.typeMismatch) text = "must be an e-mail address, as name@example.com";
    else if (v.rangeUnderflow) text = `must be at least ${field.min}`;
    else if (v.rangeOverflow) text = `must be at most ${field.max}`;
    else if (v.stepMismatch) text = "must be a whole number";
    else if (v.tooLong) text = `must have at most ${field.maxLength} characters`;
    if (text) problems.push(new Error(`${field.name}: ${text}`));
  }
  return problems;
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
    const problems = fieldProblems(form);
    if (problems.length) {
      showErrors(form, problems);
      return;
    }
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
  reveal(form);
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
 * "€12.50" under a price field as it is typed in units (nothing while it is
 * not a price), and the currency named in its label and beside it (the
 * elements with data-currency-for=<its id>) kept current.
 * @param {import("../shared/dom.js").Field} input
 * @param {HTMLElement} output
 * @param {() => string} currency
 */
export function moneyPreview(input, output, currency) {
  const show = () => {
    let text = "";
    for (const unit of document.querySelectorAll(`[data-currency-for="${input.id}"]`)) {
      unit.textContent = currency() || "?";
    }
    try { text = formatMoney(parseUnits(input.value, currency(), input.name), currency()); } catch {
      /* not a price (yet), or not a currency */
    }
    output.textContent = text;
  };
  input.addEventListener("input", show);
  input.form.addEventListener("reset", () => setTimeout(show));
  return show;
}
