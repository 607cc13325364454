// The admin page: forms on /api/admin/ (catalog and bookings). Errors from the
// API name their field ("slug: ..."): they are shown next to that field.
import { getJSON, HttpError, sendJSON } from "../shared/api.js";

const $ = (selector, root = document) => root.querySelector(selector);
const state = { theaters: [], movies: [] };

function fieldOf(message) {
  const match = /^([a-z_]+)(?:[.\d\w]*)?:\s*(.*)$/s.exec(message ?? "");
  return match ? { field: match[1], text: match[2] } : { field: null, text: message };
}

function clearErrors(form) {
  for (const p of form.querySelectorAll(".field-error, .form-error")) { p.hidden = true; p.textContent = ""; }
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
}

/** Show an API error next to the field it names, or under the form. */
function showError(form, error) {
  const message = error instanceof HttpError ? error.message : String(error?.message ?? error);
  // A layout's errors name rows and seats ("row C seat 4: ..."), not a field.
  const { field, text } = error?.code === "bad_layout"
    ? { field: "layout", text: message } : fieldOf(message);
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

function list(value) {
  return value.split(",").map((s) => s.trim()).filter(Boolean);
}

function optional(value) {
  return value.trim() === "" ? undefined : value.trim();
}

function number(value) {
  return value.trim() === "" ? undefined : Number(value);
}

async function save(form, path, body) {
  clearErrors(form);
  const id = form.elements.id?.value;
  try {
    const saved = await sendJSON(id ? `${path}/${id}` : path, body, { method: id ? "PUT" : "POST" });
    form.reset();
    return saved;
  } catch (error) {
    showError(form, error);
    return null;
  }
}

function row(label, actions) {
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

function options(select, items, label) {
  const chosen = select.value;
  select.replaceChildren(...items.map((item) => new Option(label(item), item.id)));
  if (chosen) select.value = chosen;
}

// A hidden input's value survives form.reset(): forget what was being edited.
for (const form of document.querySelectorAll("form")) {
  form.addEventListener("reset", () => {
    if (form.elements.id) form.elements.id.value = "";
    clearErrors(form);
  });
}

/** Delete after a confirmation; a refusal (in use...) is shown under ``form``. */
async function remove(form, path, what) {
  if (!window.confirm(`Delete ${what}?`)) return;
  clearErrors(form);
  try {
    await sendJSON(path, undefined, { method: "DELETE" });
    await loadCatalog();
  } catch (error) {
    showError(form, error);
  }
}

// -- catalog ------------------------------------------------------------------

async function loadCatalog() {
  const [movies, theaters] = await Promise.all([
    getJSON("/api/admin/movies"), getJSON("/api/admin/theaters")]);
  state.movies = movies.body.movies;
  state.theaters = theaters.body.theaters;
  $("#movie-list").replaceChildren(...state.movies.map((m) => row(
    `${m.title} (${m.runtime_min} min)`, [
      ["Edit", () => editMovie(m)],
      ["Delete", () => remove($("#movie-form"), `/api/admin/movies/${m.id}`, m.title)]])));
  $("#theater-list").replaceChildren(...state.theaters.map(({ theater, screens }) => row(
    `${theater.name}, ${theater.city}`, [
      ["Edit", () => editTheater(theater)],
      ["Delete", () => remove($("#theater-form"), `/api/admin/theaters/${theater.id}`, theater.name)],
      ...screens.map((s) => [`Edit screen ${s.name}`, () => editScreen(s.id)])])));
  for (const select of document.querySelectorAll(".theater-select")) {
    options(select, state.theaters.map((t) => t.theater), (t) => `${t.name}, ${t.city}`);
  }
  options($(".movie-select"), state.movies, (m) => m.title);
  const screens = state.theaters.flatMap(({ theater, screens }) =>
    screens.map((s) => ({ id: s.id, label: `${theater.name} · ${s.name}` })));
  options($(".screen-select"), screens, (s) => s.label);
  await loadPrices();
}

function editMovie(movie) {
  const form = $("#movie-form");
  for (const key of ["id", "title", "slug", "runtime_min", "synopsis"]) form.elements[key].value = movie[key] ?? "";
  form.elements.languages.value = movie.languages.join(", ");
  form.elements.genres.value = movie.genres.join(", ");
  $("#movie-form-heading").textContent = `Edit ${movie.title}`;
  form.elements.title.focus();
}

function editTheater(theater) {
  const form = $("#theater-form");
  for (const key of ["id", "name", "slug", "city", "address", "time_zone", "cleaning_min"]) {
    form.elements[key].value = theater[key] ?? "";
  }
  form.elements.name.focus();
}

$("#movie-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const f = event.target.elements;
  const saved = await save(event.target, "/api/admin/movies", {
    title: f.title.value, slug: f.slug.value, runtime_min: number(f.runtime_min.value),
    languages: list(f.languages.value), genres: list(f.genres.value), synopsis: f.synopsis.value,
  });
  if (saved) { $("#movie-form-heading").textContent = "New movie"; await loadCatalog(); }
});

$("#theater-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const f = event.target.elements;
  const saved = await save(event.target, "/api/admin/theaters", {
    name: f.name.value, slug: f.slug.value, city: f.city.value, address: f.address.value,
    time_zone: f.time_zone.value, cleaning_min: number(f.cleaning_min.value),
  });
  if (saved) await loadCatalog();
});

// -- screens and their layout preview ---------------------------------------

function renderPreview() {
  const preview = $("#layout-preview");
  const slot = $('#screen-form .field-error[data-for="layout"]');
  let layout;
  try {
    layout = JSON.parse($("#screen-layout").value);
  } catch (error) {
    slot.textContent = `Not JSON yet: ${error.message}`;
    slot.hidden = false;
    return;
  }
  slot.hidden = true;
  const rows = Array.isArray(layout?.rows) ? layout.rows : [];
  preview.replaceChildren(...rows.map((r) => {
    const line = document.createElement("div");
    line.className = "preview-row";
    const name = document.createElement("span");
    name.className = "preview-name";
    name.textContent = r.row ?? "?";
    line.append(name);
    for (const seat of Array.isArray(r.seats) ? r.seats : []) {
      const cell = document.createElement("span");
      if (seat.gap) {
        cell.className = "preview-gap";
        cell.style.width = `${1.6 * Number(seat.gap)}rem`;
      } else {
        cell.className = `preview-seat type-${seat.type}`;
        cell.textContent = seat.accessible ? "♿" : String(seat.number ?? "");
        cell.title = `${r.row}${seat.number} ${seat.type}`;
      }
      line.append(cell);
    }
    return line;
  }));
  preview.setAttribute("aria-label", `Seat layout preview: ${rows.length} rows, ${
    rows.reduce((n, r) => n + (r.seats ?? []).filter((s) => !s.gap).length, 0)} seats`);
}

$("#screen-layout").addEventListener("input", renderPreview);
// After the reset has put the sample layout back (the event comes before it).
$("#screen-form").addEventListener("reset", () => setTimeout(renderPreview));
$("#movie-form").addEventListener("reset", () => {
  $("#movie-form-heading").textContent = "New movie";
});

async function editScreen(screenId) {
  const form = $("#screen-form");
  clearErrors(form);
  try {
    const { body: screen } = await getJSON(`/api/admin/screens/${screenId}`);
    form.elements.id.value = screen.id;
    form.elements.theater_id.value = screen.theater_id;
    form.elements.name.value = screen.name;
    form.elements.layout.value = JSON.stringify(screen.layout, null, 2);
    renderPreview();
    form.elements.name.focus();
  } catch (error) {
    showError(form, error);
  }
}

$("#screen-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  clearErrors(form);
  let layout;
  try {
    layout = JSON.parse(form.elements.layout.value);
  } catch (error) {
    showError(form, `layout: not valid JSON (${error.message})`);
    return;
  }
  const saved = await save(form, "/api/admin/screens", {
    theater_id: number(form.elements.theater_id.value), name: form.elements.name.value, layout,
  });
  if (saved) { renderPreview(); await loadCatalog(); }
});

// -- showtimes and prices -----------------------------------------------------

$("#showtime-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const f = form.elements;
  clearErrors(form);
  $(".form-done", form).hidden = true;
  const local = f.starts_at.value;
  if (!local) { showError(form, "starts_at: choose the date and time"); return; }
  try {
    const showtime = await sendJSON("/api/admin/showtimes", {
      movie_id: number(f.movie_id.value), screen_id: number(f.screen_id.value),
      starts_at: new Date(local).toISOString(), currency: optional(f.currency.value),
    });
    const done = $(".form-done", form);
    done.replaceChildren(`Showtime ${showtime.id} created: `);
    const link = document.createElement("a");
    link.href = `/showtimes/${showtime.id}`;
    link.textContent = `${showtime.movie.title}, ${showtime.starts_at}`;
    done.append(link);
    done.hidden = false;
  } catch (error) {
    showError(form, error);
  }
});

async function loadPrices() {
  const theaterId = $("#price-theater").value;
  if (!theaterId) return;
  const { body } = await getJSON(`/api/admin/theaters/${theaterId}/prices`);
  $("#price-list").replaceChildren(...body.rules.map((r) => row(
    `${r.seat_type}, ${r.day_kind}: ${(r.amount / 100).toFixed(2)} ${r.currency}`,
    [["Delete", async () => { await sendJSON(`/api/admin/prices/${r.id}`, undefined, { method: "DELETE" }); await loadPrices(); }]])));
}

$("#price-theater").addEventListener("change", loadPrices);

$("#price-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const f = form.elements;
  clearErrors(form);
  try {
    await sendJSON("/api/admin/prices", {
      theater_id: number(f.theater_id.value), seat_type: f.seat_type.value,
      day_kind: f.day_kind.value, amount: number(f.amount.value), currency: f.currency.value,
    }, { method: "PUT" });
    await loadPrices();
  } catch (error) {
    showError(form, error);
  }
});

// -- bookings -----------------------------------------------------------------

function bookingRow(booking, form) {
  const seats = booking.seats.map((s) => s.id).join(", ");
  const label = `${booking.reference} · showtime ${booking.showtime} · ${seats} · ${
    (booking.total.amount / 100).toFixed(2)} ${booking.total.currency} · ${booking.status}`;
  const li = row(label, []);
  if (booking.status !== "booked") return li;
  const cancel = document.createElement("form");
  cancel.className = "inline-form";
  const id = `cancel-${booking.reference}`;
  cancel.innerHTML = `
    <label for="${id}-reason">Reason</label><input id="${id}-reason" name="reason" required>
    <p class="field-error" data-for="reason" hidden></p>
    <label for="${id}-refund">Refund in cents <span class="hint">(empty: the policy's)</span></label>
    <input id="${id}-refund" name="refund" type="number" min="0" max="${booking.total.amount}">
    <p class="field-error" data-for="refund" hidden></p>
    <p class="form-error" role="alert" hidden></p>
    <button type="submit">Cancel booking</button>`;
  cancel.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(cancel);
    try {
      await sendJSON(`/api/admin/bookings/${booking.reference}/cancel`, {
        reason: cancel.elements.reason.value, refund: number(cancel.elements.refund.value),
      });
      form.requestSubmit();
    } catch (error) {
      showError(cancel, error);
    }
  });
  li.append(cancel);
  return li;
}

$("#booking-search").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  clearErrors(form);
  const query = new URLSearchParams();
  for (const key of ["reference", "email", "showtime"]) {
    const value = form.elements[key].value.trim();
    if (value) query.set(key, key === "reference" ? value.toUpperCase() : value);
  }
  try {
    const { body } = await getJSON(`/api/admin/bookings?${query}`);
    const items = body.bookings.map((b) => bookingRow(b, form));
    $("#booking-list").replaceChildren(...(items.length ? items : [row("No bookings found.", [])]));
  } catch (error) {
    showError(form, error);
  }
});

// -- what needs attention ----------------------------------------------------

async function loadSupport() {
  const [attention, dead] = await Promise.all([
    getJSON("/api/admin/bookings/attention"), getJSON("/api/admin/outbox/dead")]);
  const flagged = attention.body.bookings.map((b) => row(
    `${b.reference} · showtime ${b.showtime} · ${b.status} · ${b.attention}`, []));
  $("#attention-list").replaceChildren(...(flagged.length ? flagged : [row("Nothing flagged.", [])]));
  const form = $("#dead-form");
  const messages = dead.body.messages.map((m) => row(
    `#${m.id} ${m.kind}, ${m.attempts} attempts, last error: ${m.last_error ?? "none"}`,
    [["Send again", () => requeue(form, m.id)]]));
  $("#dead-list").replaceChildren(...(messages.length ? messages : [row("No dead messages.", [])]));
}

async function requeue(form, id) {
  clearErrors(form);
  const done = $(".form-done", form);
  try {
    await sendJSON("/api/admin/outbox/requeue", { ids: [id] });
    done.textContent = `Message ${id} is queued again.`;
    done.hidden = false;
    await loadSupport();
  } catch (error) {
    showError(form, error);
  }
}

// -- start --------------------------------------------------------------------

async function start() {
  let me = null;
  try {
    me = (await getJSON("/api/me")).body;
  } catch { /* no session: the gate says what to do */ }
  if (me?.kind !== "admin") {
    $("#who").textContent = me?.email ? `Signed in as ${me.email}, not an admin.` : "Not signed in.";
    $("#gate").hidden = false;
    return;
  }
  $("#who").textContent = `Signed in as ${me.email}`;
  $("#admin").hidden = false;
  $("#sections").hidden = false;
  renderPreview();
  await Promise.all([loadCatalog(), loadSupport()]);
}

start();
