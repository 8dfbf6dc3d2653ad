// Texts in one place per language (i18n/de.js, i18n/en.js), chosen by the browser's language, and
// the formatting of money and times (in the spot's zone, whatever the browser's).
import de from "./i18n/de.js";
import en from "./i18n/en.js";

const LANGUAGES = { de, en };
const wanted = (navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || "en"])
  .map((tag) => String(tag).slice(0, 2).toLowerCase());
export const lang = wanted.find((code) => code in LANGUAGES) || "en";
const texts = LANGUAGES[lang];
document.documentElement.lang = lang;

export function t(key, params = {}) {
  const text = texts[key] ?? en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in params ? String(params[name]) : `{${name}}`));
}

const locale = lang === "de" ? "de-DE" : "en-GB";

export function money(cents, currency = "EUR") {
  return new Intl.NumberFormat(locale, { style: "currency", currency }).format(cents / 100);
}

export function dateTime(iso, timeZone) {
  return new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short", timeZone }).format(new Date(iso));
}

export function time(iso, timeZone) {
  return new Intl.DateTimeFormat(locale, { timeStyle: "short", timeZone }).format(new Date(iso));
}

export function day(iso, timeZone) {
  return new Intl.DateTimeFormat(locale, { weekday: "long", day: "numeric", month: "long", year: "numeric", timeZone }).format(new Date(iso));
}

// The parts of an instant in a zone: {date: "YYYY-MM-DD", time: "HH:MM"}.
export function localParts(iso, timeZone) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-CA", {
      timeZone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    }).formatToParts(new Date(iso)).map((p) => [p.type, p.value]),
  );
  return { date: `${parts.year}-${parts.month}-${parts.day}`, time: `${parts.hour}:${parts.minute}` };
}

function offsetMs(utcMs, timeZone) {
  const { date, time: hm } = localParts(new Date(utcMs).toISOString(), timeZone);
  const [y, mo, d] = date.split("-").map(Number);
  const [hh, mm] = hm.split(":").map(Number);
  return Date.UTC(y, mo - 1, d, hh, mm) - Math.floor(utcMs / 60000) * 60000;
}

// A wall-clock date and time in `timeZone` as an RFC 3339 instant in UTC.
export function zonedToUtc(date, hm, timeZone) {
  const [y, mo, d] = date.split("-").map(Number);
  const [hh, mm] = hm.split(":").map(Number);
  const guess = Date.UTC(y, mo - 1, d, hh, mm);
  let utc = guess - offsetMs(guess, timeZone);
  utc = guess - offsetMs(utc, timeZone);
  return new Date(utc).toISOString().replace(/\.\d{3}Z$/, "Z");
}

// An interval: "24 Nov 2026, 10:00 – 13:00" within a day, both instants in full otherwise.
export function span(start, end, timeZone) {
  const sameDay = localParts(start, timeZone).date === localParts(end, timeZone).date;
  return `${dateTime(start, timeZone)} – ${sameDay ? time(end, timeZone) : dateTime(end, timeZone)}`;
}
