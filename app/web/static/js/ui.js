// Messages for the user: the status line (announced to screen readers) and readable errors.
import { t } from "./i18n.js";

// `keep`: the message outlives the navigation that follows it ("Signed in." and then the page).
export function say(text, isError = false, keep = false) {
  const el = document.getElementById("status");
  el.className = isError ? "error" : "";
  el.textContent = text || "";
  if (keep) el.dataset.keep = "1";
  else delete el.dataset.keep;
}

// On navigation: clears the status line, unless its message asked to be kept (once).
export function navigated() {
  const el = document.getElementById("status");
  if (el.dataset.keep) delete el.dataset.keep;
  else say("");
}

export function errorText(error) {
  if (error && error.code) {
    const known = t(`error.${error.code}`);
    if (known !== `error.${error.code}`) return known;
    return error.message;
  }
  // fetch() rejects with a TypeError when the service cannot be reached; anything else is a bug
  // worth reading as it is.
  if (error instanceof TypeError && /fetch|network|load failed/i.test(error.message)) return t("error.network");
  return String(error?.message || error);
}

export function fail(error) {
  say(errorText(error), true);
}

export function statusBadge(status) {
  const el = document.createElement("span");
  el.className = `badge status-${status}`;
  el.dataset.status = status;
  el.textContent = t(`status.${status}`);
  return el;
}
