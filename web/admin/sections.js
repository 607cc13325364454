// @ts-check
// The admin page's sections: one shown at a time, chosen from a navigation of
// links built here from the sections themselves, the URL's hash naming the one
// shown (#showtimes), so a reload or a shared link opens the same section and
// the browser's back button goes back to the one before.
//
// Adding a section takes two things and nothing here:
//   1. in index.html, inside #admin, an element
//        <section id="house" class="card wide" data-section aria-labelledby="house-heading">
//          <h2 id="house-heading">House seats</h2> ... </section>
//      (its h2 is the link's text, its id the hash);
//   2. in admin.js, the import of its module and its start call in start().
//
// Links rather than tabs: each section is a place with an address, the links
// are reached with Tab and followed with Enter as any link, and the current
// one says so (aria-current). A hash naming an element inside a section (a
// form, #layout-editor) opens that section and leaves the browser to scroll.

import { $ } from "../shared/dom.js";

/** @returns {HTMLElement[]} */
function sections() {
  return [...document.querySelectorAll("#admin > [data-section]")].map(
    (s) => /** @type {HTMLElement} */ (s));
}

/**
 * The section the hash names, or holds the element it names; undefined for
 * any other hash (the skip link's #main leaves the section shown as it is).
 * @param {string} hash
 */
function chosen(hash) {
  let id = hash.replace(/^#/, "");
  try { id = decodeURIComponent(id); } catch { /* a stray % : no such id */ }
  const target = id ? document.getElementById(id) : null;
  return target ? sections().find((s) => s.contains(target)) : undefined;
}

/**
 * Show one section, hide the others, mark its link.
 * @param {HTMLElement | undefined} section
 * @param {boolean} focus move the focus to its heading (a link was followed)
 */
function show(section, focus) {
  if (!section) return;
  for (const s of sections()) s.hidden = s !== section;
  for (const link of document.querySelectorAll("#sections a")) {
    if (link.getAttribute("href") === `#${section.id}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = `${$("h2", section).textContent} · Admin · seatserver`;
  if (focus) {
    const heading = $("h2", section);
    heading.tabIndex = -1;
    heading.focus();
  }
}

/**
 * Open the section that holds `element` (a form to edit in, a list...), as a
 * link to it would: the hash follows, so a reload stays there.
 * @param {Element} element
 */
export function reveal(element) {
  const section = sections().find((s) => s.contains(element));
  if (!section || !section.hidden) return;
  history.pushState(null, "", `#${section.id}`);
  show(section, false);
}

/** Build the navigation and show the hash's section; follow the hash from then on. */
export function startSections() {
  const nav = $("#sections");
  const list = document.createElement("ul");
  for (const section of sections()) {
    const link = document.createElement("a");
    link.href = `#${section.id}`;
    link.textContent = $("h2", section).textContent;
    const item = document.createElement("li");
    item.append(link);
    list.append(item);
  }
  nav.replaceChildren(list);
  nav.hidden = false;
  show(chosen(location.hash) ?? sections()[0], false);
  window.addEventListener("hashchange", () => show(chosen(location.hash), true));
}
