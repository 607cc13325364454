// @ts-check
// A film's page at /films/{id}: what it is, its showtimes on sale (each a link
// to its seat map, with the free seats per type), and its reviews (reviews.js).
import { getJSON } from "../shared/api.js";
import { $, element } from "../shared/dom.js";
import { formatStart, typeName } from "../shared/format.js";
import { showReviews } from "./reviews.js";

const movieId = Number(/^\/films\/(\d+)/.exec(location.pathname)?.[1]);

/** "Silver 40 free · Gold 12 free", or "Sold out". */
export function freeText(free) {
  if (!free) return "";
  const parts = Object.entries(free).filter(([, count]) => count > 0)
    .map(([type, count]) => `${typeName(type)} ${count} free`);
  return parts.length ? parts.join(" · ") : "Sold out";
}

function showFacts(movie) {
  $("#film-title").textContent = movie.title;
  document.title = `${movie.title} · seatserver`;
  const facts = [`${movie.runtime_min} min`];
  if (movie.certificate) facts.push(`rated ${movie.certificate}`);
  if (movie.languages.length) {
    const names = new Intl.DisplayNames(["en"], { type: "language" });
    facts.push(movie.languages.map((tag) => names.of(tag) ?? tag).join(", "));
  }
  if (movie.genres.length) facts.push(movie.genres.join(", "));
  $("#film-facts").textContent = facts.join(" · ");
  $("#film-synopsis").textContent = movie.synopsis;
}

function showtimeItem(showtime) {
  const zone = showtime.theater.time_zone;
  const li = element("li");
  const link = element("a", null, formatStart(showtime.starts_at, zone,
    { weekday: "long", month: "long" }));
  link.href = `/showtimes/${showtime.id}`;
  const where = `${showtime.theater.name}, ${showtime.screen.name}`;
  const free = freeText(showtime.free);
  li.append(link, element("p", null, free ? `${where} · ${free}` : where));
  return li;
}

async function showShowtimes() {
  const { body } = await getJSON(`/api/catalog/showtimes?movie=${movieId}&limit=100`);
  $("#film-showtime-list").replaceChildren(...body.showtimes.map(showtimeItem));
  $("#showtimes-empty").hidden = body.showtimes.length > 0;
}

async function main() {
  try {
    showFacts((await getJSON(`/api/catalog/movies/${movieId}`)).body);
  } catch {
    $("#film-title").textContent = "The film could not be loaded";
    $("#film-facts").textContent = "Reload the page to try again.";
    return;
  }
  await Promise.all([
    showShowtimes().catch(() => {
      $("#showtimes-empty").textContent = "The showtimes could not be loaded.";
      $("#showtimes-empty").hidden = false;
    }),
    showReviews(movieId),
  ]);
}

main();
