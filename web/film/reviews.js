// @ts-check
// A film's reviews on its page: its rating, the reviews a page at a time, and
// for someone who saw it (a paid showtime that is over) a form to write or edit
// their own. Everyone else reads, and is told who may write one.
import { getJSON, sendJSON } from "../shared/api.js";
import { $, $form, element } from "../shared/dom.js";

const list = $("#review-list");
const more = $("#review-more");
const form = $form("#review-form");
let movieId = null;
let cursor = null;
let mine = null;

function stars(count) {
  const shown = element("span", "review-stars", "★".repeat(count) + "☆".repeat(5 - count));
  shown.setAttribute("aria-hidden", "true");
  return [shown, element("span", "visually-hidden", `${count} of 5 stars`)];
}

function showRating(rating) {
  $("#review-rating").textContent = rating.count
    ? `Rated ${rating.average.toFixed(1)} of 5 from ${rating.count} `
      + `${rating.count === 1 ? "review" : "reviews"}.`
    : "No reviews yet.";
}

function item(review) {
  const li = element("li", "review");
  const by = element("p", "review-by");
  const date = element("time", "", new Date(review.created_at).toLocaleDateString());
  date.dateTime = review.created_at;
  by.append(...stars(review.stars), ` ${review.author ?? "A viewer"}, `, date);
  li.append(by, element("p", "review-text", review.text));
  return li;
}

async function loadPage({ append = false } = {}) {
  const params = new URLSearchParams({ limit: "10" });
  if (append && cursor) params.set("cursor", cursor);
  const { body } = await getJSON(`/api/movies/${movieId}/reviews?${params}`);
  showRating(body.rating);
  if (!append) list.replaceChildren();
  list.append(...body.reviews.map(item));
  cursor = body.next_cursor;
  more.hidden = cursor === null;
}

function showForm() {
  const review = mine?.review;
  form.hidden = !(mine?.eligible || review);
  const back = new URLSearchParams({ next: location.pathname });
  $("#review-login").setAttribute("href", `/account?${back}`);
  $("#review-who").hidden = !form.hidden;
  $("#review-form-heading").textContent = review ? "Edit your review" : "Write a review";
  if (review) {
    form.elements.stars.value = String(review.stars);
    form.elements.text.value = review.text;
  }
  $("#review-submit").textContent = review ? "Save your review" : "Publish your review";
}

async function submit(event) {
  event.preventDefault();
  const error = $("#review-error");
  const done = $("#review-done");
  error.hidden = true;
  done.hidden = true;
  const body = { stars: Number(form.elements.stars.value), text: form.elements.text.value };
  try {
    const review = mine?.review
      ? await sendJSON(`/api/reviews/${mine.review.id}`, body, { method: "PATCH" })
      : await sendJSON(`/api/movies/${movieId}/reviews`, body);
    mine = { eligible: true, review };
    showForm();
    done.textContent = review.hidden
      ? "Saved. A moderator has hidden this review, so others do not see it."
      : "Thank you: your review is published.";
    done.hidden = false;
    await loadPage();
  } catch (failure) {
    error.textContent = failure.message;
    error.hidden = false;
  }
}

/**
 * Shows the reviews of a movie and, to whoever may, the form to write one.
 * @param {number} id the movie's id
 */
export async function showReviews(id) {
  movieId = id;
  form.addEventListener("submit", submit);
  more.addEventListener("click", () => loadPage({ append: true }).catch(() => {}));
  try {
    await loadPage();
  } catch {
    $("#review-rating").textContent = "The reviews could not be loaded.";
    return;
  }
  try {
    mine = (await getJSON(`/api/movies/${movieId}/reviews/mine`)).body;
  } catch {
    mine = null; // no session: reading only
  }
  showForm();
}
