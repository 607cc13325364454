// @ts-check
// The showtime list at /: every showtime that has not ended, by day and then by
// film, each film once a day with what it is (runtime, rating, languages) and
// its showtimes (screen, free seats per type). Filters by date and film; the
// choice is kept in the address (?date=2026-12-05&film=3), so it can be shared.

import { getJSON } from "../shared/api.js";
import { $, element } from "../shared/dom.js";
import { dayKey, formatMoney, formatStart, formatTime, typeName } from "../shared/format.js";

const root = $("#showtimes");
const filters = /** @type {HTMLFormElement} */ ($("#filters"));
const dateField = /** @type {HTMLSelectElement} */ ($("#filter-date"));
const filmField = /** @type {HTMLSelectElement} */ ($("#filter-film"));
const summary = $("#filter-summary");
const languageNames = new Intl.DisplayNames(["en"], { type: "language" });

function cheapest(prices) {
  const amounts = Object.values(prices);
  if (!amounts.length) return null;
  return amounts.reduce((low, price) => (price.amount < low.amount ? price : low));
}

function ratingText(rating) {
  if (!rating?.count) return "no reviews yet";
  return `rated ${rating.average.toFixed(1)} of 5 (${rating.count} `
    + `${rating.count === 1 ? "review" : "reviews"})`;
}

/** "Silver 40 · Gold 12 free", "Sold out", or nothing when the counts are unavailable. */
function freeText(free) {
  if (!free) return "";
  const parts = Object.entries(free).filter(([, count]) => count > 0)
    .map(([type, count]) => `${typeName(type)} ${count}`);
  return parts.length ? `${parts.join(" · ")} free` : "Sold out";
}

function dayName(showtime) {
  return formatStart(showtime.starts_at, showtime.theater.time_zone,
    { weekday: "long", month: "long", hour: undefined, minute: undefined });
}

function movieFacts(movie, ratings) {
  const facts = [`${movie.runtime_min} min`];
  if (movie.certificate) facts.push(`rated ${movie.certificate}`);
  if (movie.languages.length) {
    facts.push(movie.languages.map((tag) => languageNames.of(tag) ?? tag).join(", "));
  }
  facts.push(ratingText(ratings.get(movie.id)));
  return facts.join(" · ");
}

function showtimeItem(showtime, day) {
  const zone = showtime.theater.time_zone;
  const li = element("li", "showtime");
  const link = element("a", "showtime-link");
  link.href = `/showtimes/${showtime.id}`;
  const time = element("time", "showtime-time", formatTime(new Date(showtime.starts_at), zone));
  time.dateTime = showtime.starts_at;
  // Heard as "20:00 Northern Lights, Friday, December 5": one name per show.
  link.append(time, element("span", "visually-hidden", ` ${showtime.movie.title}, ${day}`));
  const facts = [`${showtime.theater.name}, ${showtime.screen.name}`];
  const from = cheapest(showtime.prices);
  if (from) facts.push(`from ${formatMoney(from.amount, from.currency)}`);
  li.append(link, element("p", "showtime-where", facts.join(" · ")));
  const free = freeText(showtime.free);
  if (free) li.append(element("p", "showtime-free", free));
  return li;
}

function filmGroup(movie, showtimes, day, ratings) {
  const article = element("article", "film");
  const heading = element("h3", "film-title");
  const link = element("a", null, movie.title);
  link.href = `/films/${movie.id}`;
  heading.append(link);
  const list = element("ul", "film-showtimes");
  list.append(...showtimes.map((showtime) => showtimeItem(showtime, day)));
  article.append(heading, element("p", "film-facts", movieFacts(movie, ratings)), list);
  return article;
}

/** Day key -> { name, films: movie id -> { movie, showtimes } }, in start order. */
function group(showtimes) {
  const days = new Map();
  for (const showtime of showtimes) {
    const key = dayKey(new Date(showtime.starts_at), showtime.theater.time_zone);
    if (!days.has(key)) days.set(key, { name: dayName(showtime), films: new Map() });
    const films = days.get(key).films;
    if (!films.has(showtime.movie.id)) films.set(showtime.movie.id, { movie: showtime.movie, showtimes: [] });
    films.get(showtime.movie.id).showtimes.push(showtime);
  }
  return days;
}

function option(value, text) {
  const choice = element("option", null, text);
  choice.value = value;
  return choice;
}

function fillFilters(days) {
  const params = new URLSearchParams(location.search);
  dateField.replaceChildren(option("", "All dates"),
    ...[...days].map(([key, { name }]) => option(key, name)));
  const films = new Map();
  for (const { films: shown } of days.values()) {
    for (const [id, { movie }] of shown) films.set(id, movie.title);
  }
  const sorted = [...films].sort((a, b) => a[1].localeCompare(b[1]));
  filmField.replaceChildren(option("", "All films"),
    ...sorted.map(([id, title]) => option(String(id), title)));
  dateField.value = days.has(params.get("date")) ? params.get("date") : "";
  filmField.value = films.has(Number(params.get("film"))) ? params.get("film") : "";
}

function render(days, ratings) {
  const date = dateField.value;
  const film = Number(filmField.value) || null;
  const sections = [];
  let count = 0;
  for (const [key, { name, films }] of days) {
    if (date && key !== date) continue;
    const groups = [...films.values()].filter(({ movie }) => !film || movie.id === film);
    if (!groups.length) continue;
    count += groups.reduce((sum, { showtimes }) => sum + showtimes.length, 0);
    const section = element("section", "day");
    const heading = element("h2", null, name);
    heading.id = `day-${key}`;
    section.setAttribute("aria-labelledby", heading.id);
    section.append(heading,
      ...groups.map(({ movie, showtimes }) => filmGroup(movie, showtimes, name, ratings)));
    sections.push(section);
  }
  if (!sections.length) {
    sections.push(element("p", "loading", "No showtimes match these filters."));
  }
  root.replaceChildren(...sections);
  summary.textContent = `${count} ${count === 1 ? "showtime" : "showtimes"} shown.`;
}

/** Movie id -> rating; none when the ratings cannot be had (the list still shows). */
async function ratings() {
  try {
    const { body } = await getJSON("/api/catalog/movies");
    return new Map(body.movies.map((movie) => [movie.id, movie.rating]));
  } catch {
    return new Map();
  }
}

function keepInAddress() {
  const params = new URLSearchParams();
  if (dateField.value) params.set("date", dateField.value);
  if (filmField.value) params.set("film", filmField.value);
  const query = params.toString();
  history.replaceState(null, "", query ? `/?${query}` : "/");
}

async function main() {
  let showtimes;
  const rated = ratings();
  try {
    ({ body: showtimes } = await getJSON("/api/showtimes"));
  } catch {
    root.replaceChildren(element("p", "loading", "The showtimes could not be loaded. "
      + "Reload the page to try again."));
    root.removeAttribute("aria-busy");
    return;
  }
  if (!showtimes.length) {
    root.replaceChildren(element("p", "loading", "No showtimes are on sale right now."));
    root.removeAttribute("aria-busy");
    return;
  }
  const days = group(showtimes);
  const byMovie = await rated;
  fillFilters(days);
  filters.hidden = false;
  const update = () => {
    render(days, byMovie);
    keepInAddress();
  };
  dateField.addEventListener("change", update);
  filmField.addEventListener("change", update);
  filters.addEventListener("submit", (event) => event.preventDefault());
  $("#filter-reset").addEventListener("click", () => {
    dateField.value = "";
    filmField.value = "";
    update();
  });
  render(days, byMovie);
  root.removeAttribute("aria-busy");
}

main();
