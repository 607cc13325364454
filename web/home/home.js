// @ts-check
// The showtime list at /: every showtime that has not ended, by day.

import { getJSON } from "../shared/api.js";
import { element } from "../shared/dom.js";
import { dayKey, formatMoney, formatStart, formatTime } from "../shared/format.js";

const root = document.querySelector("#showtimes");

function cheapest(prices) {
  const amounts = Object.values(prices);
  if (!amounts.length) return null;
  return amounts.reduce((low, price) => (price.amount < low.amount ? price : low));
}

function ratingText(rating) {
  if (!rating?.count) return null;
  return `rated ${rating.average.toFixed(1)} of 5 (${rating.count} `
    + `${rating.count === 1 ? "review" : "reviews"})`;
}

function card(showtime, ratings) {
  const zone = showtime.theater.time_zone;
  const li = element("li", "showtime");
  const link = element("a", "showtime-link");
  link.href = `/showtimes/${showtime.id}`;
  const time = element("time", "showtime-time", formatTime(new Date(showtime.starts_at), zone));
  time.dateTime = showtime.starts_at;
  const title = element("span", "showtime-title", showtime.movie.title);
  link.append(time, title);
  const facts = [`${showtime.theater.name}, ${showtime.screen.name}`,
    `${showtime.movie.runtime_min} min`];
  if (showtime.movie.certificate) facts.push(`rated ${showtime.movie.certificate}`);
  const rating = ratingText(ratings.get(showtime.movie.id));
  if (rating) facts.push(rating);
  const from = cheapest(showtime.prices);
  if (from) facts.push(`from ${formatMoney(from.amount, from.currency)}`);
  li.append(link, element("p", "showtime-facts", facts.join(" · ")));
  return li;
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
  const days = new Map();
  for (const showtime of showtimes) {
    const zone = showtime.theater.time_zone;
    const key = dayKey(new Date(showtime.starts_at), zone);
    if (!days.has(key)) days.set(key, { showtime, list: [] });
    days.get(key).list.push(showtime);
  }
  const byMovie = await rated;
  const sections = [...days.values()].map(({ showtime, list }) => {
    const section = element("section", "day");
    const heading = element("h2", null, formatStart(showtime.starts_at,
      showtime.theater.time_zone, { weekday: "long", month: "long", hour: undefined,
        minute: undefined }));
    const ul = element("ul", "day-list");
    ul.append(...list.map((showtime) => card(showtime, byMovie)));
    section.append(heading, ul);
    return section;
  });
  root.replaceChildren(...sections);
  root.removeAttribute("aria-busy");
}

main();
