// @ts-check
// Building and finding page elements: one helper of each for every page script.

/**
 * A new ``tag`` element with a class and text, each when given.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {string | null} [className]
 * @param {string} [text]
 * @returns {HTMLElementTagNameMap[K]}
 */
export function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * The first element under `root` that `selector` matches. Pages look up their
 * own markup, so a miss is a bug in the page: it throws, naming the selector,
 * rather than failing later on a null. The caller names the element's type
 * (`$<HTMLInputElement>`-like, through a JSDoc cast) where it needs more than
 * an HTMLElement.
 * @template {Element} [T=HTMLElement]
 * @param {string} selector
 * @param {ParentNode} [root]
 * @returns {T}
 */
export function $(selector, root = document) {
  const found = root.querySelector(selector);
  if (found === null) throw new Error(`no element matches ${selector}`);
  return /** @type {T} */ (found);
}

/** @typedef {HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement} Field */

/**
 * `$` for a form field (input, select or textarea), whose `value` is wanted.
 * @param {string} selector
 * @param {ParentNode} [root]
 * @returns {Field}
 */
export function $field(selector, root = document) {
  return $(selector, root);
}

/**
 * `$` for a button.
 * @param {string} selector
 * @param {ParentNode} [root]
 * @returns {HTMLButtonElement}
 */
export function $button(selector, root = document) {
  return $(selector, root);
}

/**
 * A form whose fields are read by name (`form.elements.email`), as the DOM
 * allows and TypeScript's DOM types do not say.
 * @typedef {HTMLFormElement & {elements: Record<string, any>}} Form
 */

/**
 * `$` for a form.
 * @param {string} selector
 * @param {ParentNode} [root]
 * @returns {Form}
 */
export function $form(selector, root = document) {
  return $(selector, root);
}
