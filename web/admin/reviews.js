// @ts-check
// The admin page's reviews moderation: list reviews (by movie, hidden or
// shown), hide one or show it again with a reason (the server audits it).
import { getJSON, sendJSON } from "../shared/api.js";
import { $, $form, element } from "../shared/dom.js";
import { clearErrors, showError } from "./forms.js";

const form = $form("#review-filter");
const list = $("#review-list");
const more = $("#review-more");
let cursor = null;

function query() {
  const params = new URLSearchParams({ limit: "20" });
  const movie = form.elements.movie.value.trim();
  if (movie) params.set("movie", movie);
  if (form.elements.hidden.value) params.set("hidden", form.elements.hidden.value);
  if (cursor) params.set("cursor", cursor);
  return params;
}

function row(review) {
  const li = element("li");
  li.dataset.review = String(review.id);
  const who = review.author ?? `user ${review.user_id}`;
  const head = element("p", "", `${"★".repeat(review.stars)}${"☆".repeat(5 - review.stars)} `
    + `movie ${review.movie_id}, by ${who}`);
  const text = element("p", "review-text", review.text);
  const status = element("p", "hint",
    review.hidden ? `Hidden: ${review.hidden_reason}` : "Shown");
  const moderate = element("form");
  moderate.noValidate = true;
  const reasonId = `review-reason-${review.id}`;
  const label = element("label", "", review.hidden ? "Why show it again" : "Why hide it");
  label.htmlFor = reasonId;
  const reason = element("input");
  reason.id = reasonId;
  reason.name = "reason";
  reason.required = true;
  reason.maxLength = 500;
  const error = element("p", "field-error", "");
  error.hidden = true;
  error.setAttribute("role", "alert");
  const button = element("button", "", review.hidden ? "Show again" : "Hide");
  button.type = "submit";
  moderate.append(label, reason, error, button);
  moderate.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    try {
      const changed = await sendJSON(`/api/admin/reviews/${review.id}`,
        { hidden: !review.hidden, reason: reason.value }, { method: "PATCH" });
      li.replaceWith(row(changed));
    } catch (failure) {
      error.textContent = failure.message;
      error.hidden = false;
      reason.setAttribute("aria-invalid", "true");
      reason.focus();
    }
  });
  li.append(head, text, status, moderate);
  return li;
}

async function load({ append = false } = {}) {
  clearErrors(form);
  if (!append) cursor = null;
  try {
    const { body } = await getJSON(`/api/admin/reviews?${query()}`);
    if (!append) list.replaceChildren();
    list.append(...body.reviews.map(row));
    if (!list.children.length) list.append(element("li", "", "No reviews match."));
    cursor = body.next_cursor;
    more.hidden = cursor === null;
  } catch (failure) {
    showError(form, failure);
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  load();
});
more.addEventListener("click", () => load({ append: true }));
load();
