// @ts-check
// The admin page's movie import: a CSV or JSON file is checked first (a dry
// run on the server: what would be created and updated, every error by
// line), and imported only when the admin confirms that report. A file with
// an error imports nothing, so the button appears only for a clean one.
import { sendFile } from "../shared/api.js";
import { $, $button, $form, element } from "../shared/dom.js";
import { clearErrors, showError } from "./forms.js";

const MAX_BYTES = 20 * 1024 * 1024; // the route's bound (docs/api.md)
const SHOWN_ERRORS = 50;

const form = $form("#import-form");
const apply = $button("#import-apply");
const report = $("#import-report");
/** @type {File | null} */
let checked = null;

/** @param {File} file */
function contentType(file) {
  if (/\.json$/i.test(file.name) || file.type === "application/json") return "application/json";
  return "text/csv";
}

/** @param {File} file @param {boolean} dryRun */
function send(file, dryRun) {
  return sendFile(`/api/admin/movies/import${dryRun ? "?dry_run=true" : ""}`, file,
    contentType(file));
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** The report as a summary line and a list of errors (by line or index). */
function render(result) {
  const verb = result.dry_run ? "would be" : "were";
  const summary = element("p", "", `${plural(result.rows, "row")}: ${result.created} ${verb} `
    + `created, ${result.updated} ${verb} updated, ${result.unchanged} unchanged, `
    + `${plural(result.error_count, "error")}.`);
  /** @type {HTMLElement[]} */
  const parts = [summary];
  if (result.errors.length) {
    const list = element("ul", "import-errors");
    for (const e of result.errors.slice(0, SHOWN_ERRORS)) {
      const where = e.line !== undefined ? `Line ${e.line}` : `Item ${e.index}`;
      list.append(element("li", "", `${where}${e.field ? `, ${e.field}` : ""}: ${e.message}`));
    }
    parts.push(element("h3", "", "Errors (nothing is imported until they are fixed)"), list);
    if (result.error_count > SHOWN_ERRORS) {
      parts.push(element("p", "hint", `… and ${result.error_count - SHOWN_ERRORS} more.`));
    }
  }
  report.replaceChildren(...parts);
}

/** @param {() => Promise<unknown>} onImported reloads what the import changed */
export function startImport(onImported) {
  form.addEventListener("change", () => {
    checked = null;
    apply.hidden = true;
    report.replaceChildren();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    apply.hidden = true;
    /** @type {File | undefined} */
    const file = form.elements.file.files?.[0];
    if (!file) return showError(form, { message: "file: choose a CSV or JSON file" });
    if (file.size > MAX_BYTES) {
      return showError(form, { message: "file: the file is larger than 20 MiB; split it" });
    }
    try {
      const result = await send(file, true);
      render(result);
      checked = file;
      const changes = result.created + result.updated;
      apply.textContent = `Import ${plural(changes, "movie")}`;
      apply.hidden = result.error_count > 0 || changes === 0;
    } catch (error) {
      report.replaceChildren();
      showError(form, error);
    }
  });
  apply.addEventListener("click", async () => {
    if (!checked) return;
    apply.hidden = true;
    try {
      render(await send(checked, false));
      await onImported();
    } catch (error) {
      showError(form, error);
    }
  });
}
