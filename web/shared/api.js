// HTTP calls of the pages, and the guest session the WebSocket upgrade needs.

const SESSION_FLAG = "seatserver.session";

export class HttpError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
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
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const error = body?.error ?? {};
    throw new HttpError(response.status, error.code ?? "http_error",
      error.message ?? `${url} answered ${response.status}`);
  }
  const date = Date.parse(response.headers.get("Date") ?? "");
  const serverOffsetMs = Number.isNaN(date) ? null : date + 500 - receivedAt;
  return { body, serverOffsetMs };
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
