// Building page elements: one helper for every page script.

/** A new ``tag`` element with a class and text, each when given. */
export function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}
