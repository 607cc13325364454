// @ts-check
// The admin page's webhooks section: endpoints that receive seat and booking
// events (signed per Standard Webhooks). Register one (its signing secret is
// shown here once), enable or disable it, give it a new secret, delete it,
// and read its deliveries: each attempt's time, status code, error and
// latency, with "Send again" for a delivered or dead one.

import { getJSON, sendJSON } from "../shared/api.js";
import { $, $form, element } from "../shared/dom.js";
import { formatStart } from "../shared/format.js";
import { clearErrors, done, formParts, onSubmit, optional, remove, row, rowsOr, showError } from "./forms.js";

const form = $form("#webhook-form");
const list = $("#webhook-list");
const log = $("#webhook-deliveries");
formParts(form);

/** Show a secret once, to copy now. @param {string} said @param {string} secret */
function showSecret(said, secret) {
  const code = element("code", "secret", secret);
  done(form, `${said} Its signing secret, shown this once: `, code);
}

/** @param {string} path @param {object | undefined} body @param {string} method @param {string} said */
async function change(path, body, method, said) {
  clearErrors(form);
  try {
    const answer = await sendJSON(path, body, { method });
    if (answer?.secret) showSecret(said, answer.secret);
    else done(form, said);
    await loadWebhooks();
  } catch (error) {
    showError(form, error);
  }
}

/** @param {any} e */
function endpointRow(e) {
  const scope = e.showtime ? `showtime ${e.showtime}` : "every showtime";
  const state = [e.enabled ? "on" : "off", scope, e.events.join(", "),
    `${e.pending} pending`, `${e.dead} dead`];
  const path = `/api/admin/webhooks/${e.id}`;
  const li = row(`${e.url}${e.description ? ` (${e.description})` : ""} · ${state.join(" · ")}`, [
    ["Deliveries", () => loadDeliveries(e)],
    e.enabled
      ? ["Disable", () => change(path, { enabled: false }, "PATCH", `${e.url} gets nothing for now.`)]
      : ["Enable", () => change(path, { enabled: true }, "PATCH", `${e.url} gets its events again.`)],
    ["New secret", () => change(`${path}/rotate`, undefined, "POST",
      "New secret made; the old one signs too for 24 hours.")],
    ["Delete", () => remove(form, path, e.url, loadWebhooks)],
  ]);
  li.dataset.webhook = String(e.id);
  return li;
}

/**
 * "Sat 7 Dec, 18:30:05 (UTC)": an attempt's time. It is no theater's time, so
 * it is said in UTC, whatever the browser's zone (the same instant on every
 * admin's screen, to hold against a receiver's logs), named as a theater's zone is.
 * @param {string} iso
 */
function attemptTime(iso) {
  return `${formatStart(iso, "UTC", { second: "2-digit" })} (UTC)`;
}

/** @param {any} d */
function deliveryRow(d) {
  const attempts = d.log.map((/** @type {any} */ a) =>
    `${attemptTime(a.at)}: ${a.status_code ?? "no answer"}${a.error ? ` (${a.error})` : ""}, ${a.latency_ms} ms`);
  /** @type {[string, () => unknown][]} */
  const actions = d.status === "pending" ? [] : [["Send again", async () => {
    try {
      await sendJSON(`/api/admin/webhooks/deliveries/${d.id}/resend`, undefined);
      done(form, `${d.event.type} ${d.event.id} is queued again.`);
    } catch (error) {
      showError(form, error);
    }
  }]];
  const li = row(`${d.event.type} ${d.event.id} (showtime ${d.event.showtime}) · ${d.status} · `
    + `${d.attempts} attempt${d.attempts === 1 ? "" : "s"}`, actions);
  if (attempts.length) {
    const ol = element("ol", "attempts");
    ol.append(...attempts.map((/** @type {string} */ text) => element("li", "", text)));
    li.append(ol);
  }
  return li;
}

/** @param {any} endpoint */
async function loadDeliveries(endpoint) {
  try {
    const { body } = await getJSON(`/api/admin/webhooks/${endpoint.id}/deliveries`);
    $("#webhook-deliveries-heading").textContent = `Deliveries to ${endpoint.url}`;
    rowsOr(log, body.deliveries.map(deliveryRow), "No deliveries yet.");
    $("#webhook-log").hidden = false;
  } catch (error) {
    showError(form, error);
  }
}

export async function loadWebhooks() {
  try {
    const { body } = await getJSON("/api/admin/webhooks");
    rowsOr(list, body.endpoints.map(endpointRow), "No webhook endpoints.");
  } catch (error) {
    showError(form, error);
  }
}

onSubmit(form, async (f) => {
  const select = /** @type {HTMLSelectElement} */ (f.namedItem("events"));
  const showtime = optional(f.showtime.value);
  const body = {
    url: f.url.value.trim(),
    events: [...select.selectedOptions].map((o) => o.value),
    description: f.description.value.trim(),
    ...(showtime === undefined ? {} : { showtime: /^[0-9]+$/.test(showtime) ? Number(showtime) : showtime }),
  };
  const created = await sendJSON("/api/admin/webhooks", body);
  form.reset();
  showSecret(`Registered ${created.url}.`, created.secret);
  await loadWebhooks();
});
