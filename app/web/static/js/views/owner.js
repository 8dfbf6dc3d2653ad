// The owner's side: my spots, creating and editing a spot (placed on the map), the weekly
// availability as a week grid in the spot's local time, one-off windows and blackouts, the
// calendar-feed link, the bookings of my spots, earnings.
import * as api from "../api.js";
import { config } from "../config.js";
import { h, mount, field, checkbox } from "../dom.js";
import { t, money, span, zonedToUtc } from "../i18n.js";
import { createMap, pin } from "../map.js";
import { fail, say } from "../ui.js";
import { bookingList } from "./bookings.js";
import { addressText } from "./spot.js";

export const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

export async function ownerSpotsView(main) {
  const page = await api.get("/v1/me/spots", { limit: 100 });
  mount(main,
    h("h1", {}, t("owner.title")),
    h("div", { class: "actions" },
      h("a", { class: "button", href: "#/owner/new", id: "new-spot" }, t("owner.newSpot")),
      h("a", { href: "#/owner/bookings" }, t("nav.ownerBookings")),
      h("a", { href: "#/owner/earnings" }, t("owner.earnings"))),
    h("div", { id: "my-spots" }, page.items.length ? page.items.map((spot) => h("article", { class: "card", "data-spot-id": spot.id },
      h("h3", {}, h("a", { href: `#/owner/spot/${encodeURIComponent(spot.id)}` }, spot.title)),
      h("p", { class: "muted" }, addressText(spot.address)),
      h("p", {}, `${money(spot.pricing.hourly_cents, spot.pricing.currency)} / h · `, spot.rules.instant_book ? t("spot.instant") : t("spot.request")),
    )) : h("p", {}, t("owner.noSpots"))),
  );
}

function euros(cents) {
  return cents === null || cents === undefined ? "" : (cents / 100).toFixed(2);
}

function cents(text) {
  return text === "" ? null : Math.round(Number(text.replace(",", ".")) * 100);
}

export async function spotEditView(main, params, spotId) {
  let spot = null;
  let etag = null;
  if (spotId) {
    const response = await api.request("GET", `/v1/spots/${encodeURIComponent(spotId)}`, { raw: true });
    if (!response.ok) throw new Error(t("notFound"));
    etag = response.headers.get("ETag");
    spot = await response.json();
  }
  const a = spot?.address || { city: "Dortmund", district: "Kreuzviertel", postal_code: "44139" };
  const r = spot?.rules || { instant_book: true, cancellation_policy: "flexible" };
  const f = spot?.features || {};
  const position = spot ? [spot.location.lat, spot.location.lon] : [...config.centre];
  const form = h("form", { id: "spot-form" },
    field(t("owner.spotTitle"), { id: "spot-title", value: spot?.title || "", required: true, maxlength: 120 }),
    field(t("owner.description"), { type: "textarea", id: "spot-description", value: spot?.description || "", rows: 2 }),
    h("div", { class: "row" },
      field(t("owner.street"), { id: "spot-street", value: a.street || "", required: true }),
      field(t("owner.houseNumber"), { id: "spot-house", value: a.house_number || "", required: true })),
    h("div", { class: "row" },
      field(t("owner.postalCode"), { id: "spot-postal", value: a.postal_code || "", required: true }),
      field(t("owner.city"), { id: "spot-city", value: a.city || "", required: true }),
      field(t("owner.district"), { id: "spot-district", value: a.district || "" })),
    h("p", { class: "muted" }, t("owner.placeHelp")),
    h("div", { class: "map small", id: "place-map" }),
    h("div", { class: "row" },
      field(t("owner.lat"), { type: "number", id: "spot-lat", value: position[0], step: "0.000001", required: true }),
      field(t("owner.lon"), { type: "number", id: "spot-lon", value: position[1], step: "0.000001", required: true })),
    h("div", { class: "row" },
      field(t("owner.hourly"), { type: "number", id: "spot-hourly", value: euros(spot?.pricing.hourly_cents ?? 200), min: "0.1", step: "0.01", required: true }),
      field(t("owner.dailyCap"), { type: "number", id: "spot-cap", value: euros(spot?.pricing.daily_cap_cents), min: "0", step: "0.01" })),
    h("div", { class: "row" },
      field(t("spot.policy"), { type: "select", id: "spot-policy", options: ["flexible", "moderate", "strict"].map((p) => [p, t(`policy.${p}`)]), value: r.cancellation_policy })),
    h("div", {},
      checkbox(t("spot.instant"), { id: "spot-instant", checked: r.instant_book }),
      checkbox(t("feature.covered"), { id: "spot-covered", checked: f.covered }),
      checkbox(t("feature.lit"), { id: "spot-lit", checked: f.lit }),
      checkbox(t("feature.wheelchair"), { id: "spot-wheelchair", checked: f.wheelchair_accessible })),
    field(t("spot.access"), { type: "textarea", id: "spot-access", value: spot?.access_instructions || "", rows: 2 }),
    h("div", { class: "actions" }, h("button", { type: "submit", id: "save-spot" }, spot ? t("save") : t("owner.create"))),
  );
  const extra = h("div");
  mount(main, h("p", {}, h("a", { href: "#/owner" }, `← ${t("owner.title")}`)), h("h1", {}, spot ? spot.title : t("owner.newSpot")), form, extra);

  const lat = form.querySelector("#spot-lat");
  const lon = form.querySelector("#spot-lon");
  let view = null;
  try {
    view = await createMap(form.querySelector("#place-map"), { centre: position, zoom: 16, label: t("owner.placeHelp") });
    let marker = await pin(view, position, { color: "#b3261e" });
    view.map.on("click", async (event) => {
      lat.value = event.latlng.lat.toFixed(6);
      lon.value = event.latlng.lng.toFixed(6);
      marker.remove();
      marker = await pin(view, event.latlng, { color: "#b3261e" });
    });
  } catch {
    form.querySelector("#place-map").replaceChildren(h("p", { class: "muted" }, t("map.unavailable")));
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = (id) => form.querySelector(id).value.trim();
    const body = {
      title: value("#spot-title"),
      description: value("#spot-description") || null,
      address: { street: value("#spot-street"), house_number: value("#spot-house"), postal_code: value("#spot-postal"), city: value("#spot-city"), district: value("#spot-district") || null },
      location: { lat: Number(lat.value), lon: Number(lon.value) },
      features: { covered: form.querySelector("#spot-covered").checked, lit: form.querySelector("#spot-lit").checked, wheelchair_accessible: form.querySelector("#spot-wheelchair").checked },
      access_instructions: value("#spot-access") || null,
      pricing: { hourly_cents: cents(value("#spot-hourly")), daily_cap_cents: cents(value("#spot-cap")) },
      rules: { instant_book: form.querySelector("#spot-instant").checked, cancellation_policy: value("#spot-policy") },
    };
    try {
      if (spot) {
        const response = await api.request("PATCH", `/v1/spots/${encodeURIComponent(spot.id)}`, { body, headers: etag ? { "If-Match": etag } : {}, raw: true });
        if (!response.ok) throw new api.ApiError(response.status, await response.json().catch(() => null));
        etag = response.headers.get("ETag");
        spot = await response.json();
        say(t("saved"));
      } else {
        const created = await api.post("/v1/spots", body);
        say(t("owner.created"), false, true);
        location.hash = `#/owner/spot/${encodeURIComponent(created.id)}`;
      }
    } catch (error) {
      fail(error);
    }
  });

  if (spot) await availabilityEditor(extra, spot);
  return () => view?.map.remove();
}

// --- availability -----------------------------------------------------------------------------

function hours(text) {
  const [hh, mm] = text.split(":").map(Number);
  return hh + mm / 60;
}

function hhmm(hour) {
  return `${String(hour).padStart(2, "0")}:00`;
}

// The grid (7 days x 24 hours) that a list of weekly rules covers.
export function gridFromRules(rules) {
  const grid = WEEKDAYS.map(() => Array(24).fill(false));
  for (const rule of rules) {
    const start = hours(rule.start_time);
    const end = rule.end_time === "24:00" ? 24 : hours(rule.end_time);
    for (const weekday of rule.weekdays) {
      const d = WEEKDAYS.indexOf(weekday);
      const mark = (day, from, to) => {
        for (let hr = Math.floor(from); hr < Math.ceil(to); hr += 1) grid[day][hr] = true;
      };
      if (end > start) mark(d, start, end);
      else {
        mark(d, start, 24);
        mark((d + 1) % 7, 0, end);
      }
    }
  }
  return grid;
}

// Weekly rules for a grid: each run of hours on a day, days with the same run in one rule.
export function rulesFromGrid(grid) {
  const runs = new Map();
  grid.forEach((day, d) => {
    let hr = 0;
    while (hr < 24) {
      if (!day[hr]) {
        hr += 1;
        continue;
      }
      const from = hr;
      while (hr < 24 && day[hr]) hr += 1;
      const key = `${hhmm(from)}-${hr === 24 ? "24:00" : hhmm(hr)}`;
      if (!runs.has(key)) runs.set(key, []);
      runs.get(key).push(WEEKDAYS[d]);
    }
  });
  return [...runs].map(([key, weekdays]) => {
    const [start_time, end_time] = key.split("-");
    return { weekdays, start_time, end_time };
  });
}

async function listAll(path) {
  const page = await api.get(path, { limit: 100 });
  return page.items;
}

async function availabilityEditor(box, spot) {
  const base = `/v1/spots/${encodeURIComponent(spot.id)}/availability`;
  const zone = spot.timezone;
  const rules = await listAll(`${base}/rules`);
  const grid = gridFromRules(rules);
  const cell = (d, di, hr) => h("td", {}, h("button", {
    type: "button", "data-day": d, "data-hour": hr, "aria-pressed": String(grid[di][hr]),
    "aria-label": `${t(`weekday.${d}`)} ${hhmm(hr)}–${hhmm(hr + 1)}`,
    onclick: (event) => {
      grid[di][hr] = !grid[di][hr];
      event.currentTarget.setAttribute("aria-pressed", String(grid[di][hr]));
    },
  }, grid[di][hr] ? "✓" : ""));
  const rows = Array.from({ length: 24 }, (_, hr) => h("tr", {},
    h("th", { scope: "row" }, String(hr).padStart(2, "0")),
    WEEKDAYS.map((d, di) => cell(d, di, hr))));
  const head = h("tr", {}, h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, t("owner.hour"))),
    WEEKDAYS.map((d) => h("th", { scope: "col" }, t(`weekday.${d}`))));
  const table = h("table", { id: "week-grid" },
    h("caption", { class: "visually-hidden" }, t("owner.weekCaption", { zone })),
    h("thead", {}, head), h("tbody", {}, rows));
  table.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (button) button.textContent = button.getAttribute("aria-pressed") === "true" ? "✓" : "";
  });
  const saveWeek = h("button", { type: "button", id: "save-week", onclick: async () => {
    saveWeek.disabled = true;
    try {
      // The new week first, then the old rules away: a failure midway leaves the spot offered at
      // least as before, never with a week half deleted.
      const old = await listAll(`${base}/rules`);
      for (const rule of rulesFromGrid(grid)) await api.post(`${base}/rules`, rule);
      for (const rule of old) await api.del(`${base}/rules/${encodeURIComponent(rule.id)}`);
      say(t("owner.weekSaved"));
    } catch (error) {
      fail(error);
    }
    saveWeek.disabled = false;
  } }, t("owner.saveWeek"));

  const windows = h("ul", { id: "windows" });
  const blackouts = h("ul", { id: "blackouts" });
  const oneOff = (kind, list) => {
    const form = h("form", { class: "one-off" },
      h("div", { class: "row" },
        field(t("search.date"), { type: "date", required: true, class: "d" }),
        field(t("search.from"), { type: "time", required: true, step: 900, class: "f" }),
        field(t("owner.endDate"), { type: "date", required: true, class: "ed" }),
        field(t("search.until"), { type: "time", required: true, step: 900, class: "u" }),
        kind === "blackouts" ? field(t("owner.reason"), { class: "reason", maxlength: 200 }) : null),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "secondary" }, t(kind === "windows" ? "owner.addWindow" : "owner.addBlackout"))));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const q = (c) => form.querySelector(`.${c}`).value;
      const body = { start: zonedToUtc(q("d"), q("f"), zone), end: zonedToUtc(q("ed"), q("u"), zone) };
      if (kind === "blackouts" && q("reason").trim()) body.reason = q("reason").trim();
      try {
        await api.post(`${base}/${kind}`, body);
        await refresh(kind, list);
      } catch (error) {
        fail(error);
      }
    });
    return form;
  };
  async function refresh(kind, list) {
    const items = await listAll(`${base}/${kind}`);
    mount(list, items.length ? items.map((item) => h("li", {}, span(item.start, item.end, zone), item.reason ? ` (${item.reason})` : "", " ",
      h("button", { type: "button", class: "secondary", onclick: async () => {
        try {
          await api.del(`${base}/${kind}/${encodeURIComponent(item.id)}`);
          await refresh(kind, list);
        } catch (error) {
          fail(error);
        }
      } }, t("owner.remove")))) : h("li", { class: "muted" }, t("owner.none")));
  }

  const calendar = h("div", { id: "spot-calendar" }, h("button", { type: "button", class: "secondary", onclick: async () => {
    try {
      const answer = await api.post(`/v1/spots/${encodeURIComponent(spot.id)}/calendar-token`);
      mount(calendar, h("p", {}, t("calendar.secret")), h("input", { readonly: true, value: answer.url, "aria-label": t("calendar.title") }));
    } catch (error) {
      fail(error);
    }
  } }, t("calendar.create")));

  mount(box,
    h("h2", {}, t("owner.week")),
    h("p", { class: "muted" }, t("owner.weekHelp", { zone })),
    h("div", { class: "week" }, table),
    h("div", { class: "actions" }, saveWeek, h("a", { href: `#/spot/${encodeURIComponent(spot.id)}`, id: "view-public" }, t("owner.viewPublic"))),
    h("h2", {}, t("owner.windows")), windows, oneOff("windows", windows),
    h("h2", {}, t("owner.blackouts")), blackouts, oneOff("blackouts", blackouts),
    h("h2", {}, t("calendar.title")), h("p", {}, t("calendar.spotHelp")), calendar,
  );
  await Promise.all([refresh("windows", windows), refresh("blackouts", blackouts)]);
}

export async function ownerBookingsView(main) {
  return bookingList(main, "owner", t("nav.ownerBookings"));
}

export async function earningsView(main, params) {
  const group = params.get("group") === "spot" ? "spot" : "month";
  const answer = await api.get("/v1/me/earnings", { group });
  const label = (line) => (group === "spot" ? line.spot_title : line.period);
  mount(main,
    h("h1", {}, t("owner.earnings")),
    h("div", { class: "actions" },
      h("a", { href: "#/owner/earnings?group=month" }, t("earnings.byMonth")),
      h("a", { href: "#/owner/earnings?group=spot" }, t("earnings.bySpot"))),
    answer.items.length ? h("div", { class: "week" }, h("table", { id: "earnings" },
      h("thead", {}, h("tr", {}, [group === "spot" ? t("earnings.spot") : t("earnings.month"), t("earnings.bookings"), t("earnings.booked"), t("earnings.refunded"), t("earnings.fee"), t("earnings.net")].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, [...answer.items, ...answer.totals.map((line) => ({ ...line, period: t("earnings.total"), spot_title: t("earnings.total") }))].map((line) => h("tr", {},
        h("td", {}, label(line)), h("td", {}, String(line.bookings)), h("td", {}, money(line.booked_cents, line.currency)),
        h("td", {}, money(line.refunded_cents, line.currency)), h("td", {}, money(line.platform_fee_cents, line.currency)),
        h("td", {}, money(line.net_cents, line.currency))))))) : h("p", {}, t("earnings.none")));
}
