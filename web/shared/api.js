// @ts-check
// HTTP calls of the pages, and the guest session the WebSocket upgrade needs.

const SESSION_FLAG = "seatserver.session";
// A change made with the session cookie carries this cookie's value in this
// header: another site can neither read the cookie nor add the header.
const CSRF_COOKIE = "seatserver_csrf";
const CSRF_HEADER = "X-CSRF-Token";

export class HttpError extends Error {
  constructor(status, code, message, seats = [], retryAfterS = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.seats = seats; // the seats at fault, when the server names them
    this.retryAfterS = retryAfterS; // a rate limit's wait, when the server says
  }
}

async function failure(response, url) {
  const body = await response.json().catch(() => null);
  const error = body?.error ?? {};
  const retryAfter = Number.parseInt(response.headers.get("Retry-After") ?? "", 10);
  return new HttpError(response.status, error.code ?? "http_error",
    error.message ?? `${url} answered ${response.status}`,
    Array.isArray(error.seats) ? error.seats : [],
    Number.isNaN(retryAfter) ? null : retryAfter);
}

/**
 * GET a JSON document. Resolves to {body, serverOffsetMs}: the server's clock
 * minus ours, estimated from the Date header (whole seconds, so +500 ms is the
 * middle of its range). Good enough until the socket's `ts` stamps arrive.
 */
/**
 * @param {string} url
 * @param {{signal?: AbortSignal}} [options]
 */
export async function getJSON(url, { signal } = {}) {
  const response = await fetch(url, {
    signal, credentials: "same-origin", headers: { Accept: "application/json" },
  });
  const receivedAt = Date.now();
  if (!response.ok) throw await failure(response, url);
  const body = await response.json().catch(() => null);
  const date = Date.parse(response.headers.get("Date") ?? "");
  const serverOffsetMs = Number.isNaN(date) ? null : date + 500 - receivedAt;
  return { body, serverOffsetMs };
}

function cookie(name) {
  for (const part of document.cookie.split(";")) {
    const [key, ...value] = part.trim().split("=");
    if (key === name) return decodeURIComponent(value.join("="));
  }
  return null;
}

/**
 * The session's CSRF token. A session older than its CSRF cookie gets one
 * from any answer about it, so one look at /api/me fetches it (when this
 * browser has a session at all: without one, nothing needs the token).
 */
async function csrfToken() {
  let token = cookie(CSRF_COOKIE);
  if (token === null && remembered()) {
    await fetch("/api/me", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .catch(() => {});
    token = cookie(CSRF_COOKIE);
  }
  return token;
}

/**
 * Send a JSON body (POST by default); resolves to the JSON answer (null for
 * an empty one), throws HttpError for an error status. A TypeError from fetch
 * means no answer came at all (the request may or may not have reached the
 * server).
 */
export async function sendJSON(url, body, { method = "POST", headers = {} } = {}) {
  const token = await csrfToken();
  const response = await fetch(url, {
    method, credentials: "same-origin", body: JSON.stringify(body),
    headers: {
      Accept: "application/json", "Content-Type": "application/json",
      ...(token ? { [CSRF_HEADER]: token } : {}), ...headers,
    },
  });
  if (!response.ok) throw await failure(response, url);
  if (response.status === 204) return null;
  return response.json();
}

/**
 * POST a file as the raw body, with its own content type (a CSV or JSON
 * import); resolves to the JSON answer, throws HttpError as sendJSON does.
 * @param {string} url
 * @param {Blob} body
 * @param {string} contentType
 */
export async function sendFile(url, body, contentType) {
  const token = await csrfToken();
  const response = await fetch(url, {
    method: "POST", credentials: "same-origin", body,
    headers: {
      Accept: "application/json", "Content-Type": contentType,
      ...(token ? { [CSRF_HEADER]: token } : {}),
    },
  });
  if (!response.ok) throw await failure(response, url);
  return response.json();
}

/** POST a JSON body: see sendJSON. */
export async function postJSON(url, body, { headers = {} } = {}) {
  return sendJSON(url, body, { headers });
}

function remembered() {
  try {
    return localStorage.getItem(SESSION_FLAG) !== null;
  } catch {
    return false; // storage blocked: we will find out from the socket
  }
}

/**
 * A new guest session: the server sets its HttpOnly cookie, which the
 * WebSocket upgrade then carries. Page scripts never see the token.
 */
export async function newSession() {
  const response = await fetch("/api/sessions", { method: "POST", credentials: "same-origin" });
  // rate_limited (with Retry-After) when too many come from one address.
  if (!response.ok) throw await failure(response, "/api/sessions");
  try {
    localStorage.setItem(SESSION_FLAG, String(Date.now()));
  } catch {
    // storage blocked: the cookie still works for this visit
  }
}

/** After a log-out: the next page that needs a session makes a new guest one. */
export function forgetSession() {
  try {
    localStorage.removeItem(SESSION_FLAG);
  } catch {
    // storage blocked: nothing was remembered
  }
}

/** After a log-in or sign-up: the cookie holds a session; do not replace it. */
export function rememberSession() {
  try {
    localStorage.setItem(SESSION_FLAG, String(Date.now()));
  } catch {
    // storage blocked: the cookie still works for this visit
  }
}

/** Make sure a session cookie exists before the first upgrade, without replacing one. */
export async function ensureSession() {
  if (!remembered()) await newSession();
}

/** Is the server itself answering? Tells "down" from "refused us" after a failed upgrade. */
export async function serverAnswers() {
  try {
    const response = await fetch("/healthz", { cache: "no-store" });
    return response.ok;
  } catch {
    return false;
  }
}
