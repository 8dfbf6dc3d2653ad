// Messages for the user: the status line (announced to screen readers) and readable errors.
import { t } from "./i18n.js";

export function say(text, isError = false) {
  const el = document.getElementById("status");
  el.className = isError ? "error" : "";
  el.textContent = text || "";
}

export function errorText(error) {
  if (error && error.code) {
    const known = t(`error.${error.code}`);
    if (known !== `error.${error.code}`) return known;
    return error.message;
  }
  return t("error.network");
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
