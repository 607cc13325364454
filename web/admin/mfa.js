// @ts-check
// Two-factor authentication on the admin page: the log-in's code step (the
// account page sends an admin here with the challenge of its password step),
// enrolment (QR code, key, first code, recovery codes shown once), confirming
// a session opened before the account enrolled, and `withReauth`, which
// answers a change's `reauth_required` by asking for a code and trying again.
import { HttpError, getJSON, rememberSession, sendJSON } from "../shared/api.js";
import { $, $form, element } from "../shared/dom.js";
import { clearErrors, formParts, showError } from "./forms.js";

// Written by the account page's log-in when the answer is "code_required".
export const CHALLENGE_KEY = "seatserver.mfa-challenge";

const section = $("#mfa");
const form = $form("#mfa-form");
formParts(form);

/** @param {string} text */
function prompt(text) {
  const p = $("#mfa-prompt");
  p.textContent = text;
  p.hidden = false;
}

/**
 * Show the code form; resolves once ``submit`` has accepted a code.
 * @param {(code: string) => Promise<unknown>} submit
 */
function askCode(submit) {
  section.hidden = false;
  $("#mfa-code").focus();
  return new Promise((resolve) => {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form);
      try {
        resolve(await submit(form.elements.code.value));
      } catch (error) {
        showError(form, error);
        form.elements.code.select();
      }
    });
  });
}

function challenge() {
  try {
    return sessionStorage.getItem(CHALLENGE_KEY);
  } catch {
    return null;
  }
}

/**
 * A log-in waiting for its code: show the code step, then load the page
 * again as the logged-in admin. False when no log-in waits.
 */
export async function pendingLogIn() {
  const waiting = challenge();
  if (!waiting) return false;
  $("#who").textContent = "Logging in…";
  $("#mfa-heading").textContent = "Log in: enter your code";
  $("label[for=mfa-code]").textContent = "Code from your authenticator app, or a recovery code";
  prompt("Your password was right. Now enter the code your authenticator app shows.");
  await askCode(async (code) => {
    try {
      await sendJSON("/api/auth/login/code", { challenge: waiting, code });
    } catch (error) {
      if (error instanceof HttpError && error.code === "invalid_credentials") {
        sessionStorage.removeItem(CHALLENGE_KEY); // expired: start again
        $("#gate").hidden = false;
      }
      throw error;
    }
  });
  sessionStorage.removeItem(CHALLENGE_KEY);
  rememberSession();
  location.reload();
  return true;
}

/**
 * Whether this admin session may use the page: true once it has proved a
 * code; otherwise it shows enrolment, or the code form, and reloads after.
 */
export async function secondFactorReady() {
  const { body: status } = await getJSON("/api/auth/mfa");
  if (status.verified_at) return true;
  if (status.enrolled) {
    $("#mfa-heading").textContent = "Confirm it is you";
    $("label[for=mfa-code]").textContent = "Code from your authenticator app, or a recovery code";
    prompt("This session has not confirmed a code yet.");
    await askCode((code) => sendJSON("/api/auth/mfa/verify", { code }));
    location.reload();
    return false;
  }
  await enrol();
  return false;
}

async function enrol() {
  $("#mfa-heading").textContent = "Set up two-factor authentication";
  const started = await sendJSON("/api/auth/mfa/enrolment", {});
  $("#mfa-qr").innerHTML = started.qr_svg; // our own server's SVG, made by segno
  $("#mfa-secret").textContent = started.secret;
  $("#mfa-enrol").hidden = false;
  const confirmed = await askCode((code) => sendJSON("/api/auth/mfa/enrolment/confirm", { code }));
  form.hidden = true;
  $("#mfa-enrol").hidden = true;
  $("#recovery-codes").replaceChildren(
    ...(/** @type {any} */ (confirmed).recovery_codes.map((c) => element("li", "", c))));
  $("#mfa-recovery").hidden = false;
  $("#mfa-continue").addEventListener("click", () => location.reload());
  $("#mfa-continue").focus();
}

const dialog = /** @type {HTMLDialogElement} */ ($("#reauth"));
const reauthForm = $form("#reauth-form");
formParts(reauthForm);

/** Ask for a code in the dialog and prove it; false when cancelled. */
function reauthenticate() {
  clearErrors(reauthForm);
  reauthForm.reset();
  dialog.showModal();
  return new Promise((resolve) => {
    const finish = (/** @type {boolean} */ ok) => {
      reauthForm.removeEventListener("submit", submit);
      dialog.removeEventListener("close", cancelled);
      dialog.close();
      resolve(ok);
    };
    const cancelled = () => finish(false);
    const submit = async (/** @type {Event} */ event) => {
      event.preventDefault();
      clearErrors(reauthForm);
      try {
        await sendJSON("/api/auth/mfa/verify", { code: reauthForm.elements.code.value });
        finish(true);
      } catch (error) {
        showError(reauthForm, error);
      }
    };
    reauthForm.addEventListener("submit", submit);
    dialog.addEventListener("close", cancelled);
    $("#reauth-cancel").onclick = cancelled;
  });
}

/**
 * Run ``action``; when the server wants a fresh code first, ask for one and
 * run it once more. Cancelling gives the original refusal back.
 * @template T
 * @param {() => Promise<T>} action
 * @returns {Promise<T>}
 */
export async function withReauth(action) {
  try {
    return await action();
  } catch (error) {
    if (!(error instanceof HttpError) || error.code !== "reauth_required") throw error;
    if (!(await reauthenticate())) throw error;
    return action();
  }
}
