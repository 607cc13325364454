// @ts-check
// The admin page's staff section: staff accounts and their roles; invite,
// change a role, disable or enable, reset someone's two-factor
// authentication. Every change asks for a fresh code (withReauth); the server
// audits it and refuses to take away an admin's own role.
import { sendJSON, getJSON } from "../shared/api.js";
import { $, $form } from "../shared/dom.js";
import { clearErrors, done, formParts, onSubmit, optional, row, rowsOr, showError } from "./forms.js";
import { withReauth } from "./mfa.js";

const form = $form("#staff-form");
formParts(form);

const ROLE = { admin: "admin", kiosk: "kiosk board", box_office: "box office" };
/** The signed-in admin's own id: their row offers no change the server always refuses. */
let self = /** @type {number | null} */ (null);

/**
 * Make a change, with a code if asked, and show the outcome under the form.
 * @param {string} path @param {object | undefined} body @param {string} method @param {string} said
 */
async function change(path, body, method, said) {
  clearErrors(form);
  try {
    await withReauth(() => sendJSON(path, body, { method }));
    done(form, said);
    await loadStaff();
  } catch (error) {
    showError(form, error);
  }
}

function memberRow(m) {
  const state = [ROLE[m.kind] ?? m.kind, m.mfa_enrolled ? "two-factor on" : "two-factor not set up",
    ...(m.disabled ? ["disabled"] : [])];
  const own = m.id === self;
  /** @type {[string, () => unknown][]} */
  const actions = own ? [] : [
    m.kind === "admin"
      ? ["Make kiosk board", () => change(`/api/admin/staff/${m.id}`, { kind: "kiosk" }, "PATCH",
        `${m.email} is a kiosk board now.`)]
      : ["Make admin", () => change(`/api/admin/staff/${m.id}`, { kind: "admin" }, "PATCH",
        `${m.email} is an admin now.`)],
    m.kind === "box_office"
      ? ["Make kiosk board", () => change(`/api/admin/staff/${m.id}`, { kind: "kiosk" }, "PATCH",
        `${m.email} is a kiosk board now.`)]
      : ["Make box office", () => change(`/api/admin/staff/${m.id}`, { kind: "box_office" },
        "PATCH", `${m.email} sells at the box office now.`)],
    m.disabled
      ? ["Enable", () => change(`/api/admin/staff/${m.id}`, { disabled: false }, "PATCH",
        `${m.email} can log in again.`)]
      : ["Disable", () => change(`/api/admin/staff/${m.id}`, { disabled: true }, "PATCH",
        `${m.email} is disabled and logged out.`)],
  ];
  if (m.mfa_enrolled) {
    actions.push(["Reset two-factor", () => change(`/api/admin/staff/${m.id}/mfa-reset`, undefined,
      "POST", `${m.email} sets up two-factor authentication again at their next log-in.`)]);
  }
  // No one takes away their own admin role or disables themselves (the server
  // refuses both): their own row says so instead of offering the buttons.
  if (own) state.push("you: another admin changes your role");
  const li = row(`${m.email}${m.name ? ` (${m.name})` : ""} · ${state.join(" · ")}`, actions);
  li.dataset.staff = String(m.id);
  return li;
}

/**
 * The section, for the admin signed in as ``myId``.
 * @param {number} myId
 */
export function startStaff(myId) {
  self = myId;
  return loadStaff();
}

export async function loadStaff() {
  try {
    const { body } = await getJSON("/api/admin/staff");
    rowsOr($("#staff-list"), body.staff.map(memberRow), "No staff accounts.");
  } catch (error) {
    showError(form, error);
  }
}

onSubmit(form, async (f) => {
  const body = { email: f.email.value.trim(), name: optional(f.name.value), kind: f.kind.value };
  const member = await withReauth(() => sendJSON("/api/admin/staff", body));
  form.reset();
  done(form, `Invited ${member.email}: a link to set a password is on its way.`);
  await loadStaff();
});
