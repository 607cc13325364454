// HTTP calls of the pages, and the guest session the WebSocket upgrade needs.

const SESSION_FLAG = "seatserver.session";

export class HttpError extends Error {
  constructor(status, code, message, seats = []) {
    super(message);
    this.status = status;
    this.code = code;
    this.seats = seats; // the seats at fault, when the server names them
  }
}

async function failure(response, url) {
  const body = await response.json().catch(() => null);
  const error = body?.error ?? {};
  return new HttpError(response.status, error.code ?? "http_error",
    error.message ?? `${url} answered ${response.status}`,
    Array.isArray(error.seats) ? error.seats : []);
}

/**
 * GET a JSON document. Resolves to {body, serverOffsetMs}: the server's clock
 * minus ours, estimated from the Date header (whole seconds, so +500 ms is the
 * middle of its range). Good enough until the socket's `ts` stamps arrive.
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

/**
 * POST a JSON body; resolves to the JSON answer, throws HttpError for an
 * error status. A TypeError from fetch means no answer came at all (the
 * request may or may not have reached the server).
 */
export async function postJSON(url, body, { headers = {} } = {}) {
  const response = await fetch(url, {
    method: "POST", credentials: "same-origin", body: JSON.stringify(body),
    headers: { Accept: "application/json", "Content-Type": "application/json", ...headers },
  });
  if (!response.ok) throw await failure(response, url);
  return response.json();
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
  if (!response.ok) throw new HttpError(response.status, "session", "no session");
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
