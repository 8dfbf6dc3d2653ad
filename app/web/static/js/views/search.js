// The driver's search: place and time window, filters, results on the map and in a list.
import * as api from "../api.js";
import { config, serverNow } from "../config.js";
import { h, mount, field, checkbox } from "../dom.js";
import { t, money, localParts, zonedToUtc } from "../i18n.js";
import { createMap, pin } from "../map.js";
import { fail } from "../ui.js";

// Places of the quarter to search around (no geocoder: nothing leaves for a third party).
export const PLACES = [
  ["kreuzviertel", [51.505, 7.447]],
  ["westpark", [51.5097, 7.4516]],
  ["signal-iduna-park", [51.4926, 7.4519]],
  ["hauptbahnhof", [51.5178, 7.4593]],
  ["klinikum", [51.5043, 7.4546]],
];

// The last search, kept while the tab lives so "back" from a spot shows it again.
const KEY = "parkshare.search";

export function defaultWindow() {
  // The server's clock now (the page may have been open for hours), not the browser's.
  const now = new Date(serverNow());
  const start = new Date(Math.ceil(now.getTime() / 3_600_000) * 3_600_000 + 3_600_000);
  const end = new Date(start.getTime() + 2 * 3_600_000);
  const s = localParts(start.toISOString(), config.timezone);
  const e = localParts(end.toISOString(), config.timezone);
  return { date: s.date, from: s.time, until: e.time };
}

// Times typed in `zone`: the search's (Europe/Berlin), or a spot's own on its page.
export function windowFrom(values, zone = config.timezone) {
  const start = zonedToUtc(values.date, values.from, zone);
  let end = zonedToUtc(values.date, values.until, zone);
  if (end <= start) {
    // An end at or before the start runs into the next day.
    const next = new Date(new Date(`${values.date}T12:00:00Z`).getTime() + 86_400_000).toISOString().slice(0, 10);
    end = zonedToUtc(next, values.until, zone);
  }
  return { start, end };
}

export async function searchView(main, params) {
  const saved = JSON.parse(sessionStorage.getItem(KEY) || "null") || { place: "kreuzviertel", radius: "1000", sort: "distance", ...defaultWindow() };
  const form = h("form", { id: "search-form", "aria-label": t("search.title") },
    h("div", { class: "row" },
      field(t("search.place"), { type: "select", id: "place", options: PLACES.map(([id]) => [id, t(`place.${id}`)]), value: saved.place }),
      field(t("search.radius"), { type: "select", id: "radius", options: [["500", "500 m"], ["1000", "1 km"], ["2000", "2 km"], ["5000", "5 km"]], value: saved.radius }),
    ),
    h("div", { class: "row" },
      field(t("search.date"), { type: "date", id: "date", value: saved.date, required: true }),
      field(t("search.from"), { type: "time", id: "from", value: saved.from, step: 900, required: true }),
      field(t("search.until"), { type: "time", id: "until", value: saved.until, step: 900, required: true }),
    ),
    h("div", { class: "row" },
      field(t("search.maxPrice"), { type: "number", id: "max-price", min: 0, step: "0.5", value: saved.maxPrice || "", inputmode: "decimal" }),
      field(t("search.sort"), { type: "select", id: "sort", options: [["distance", t("search.sort.distance")], ["price", t("search.sort.price")], ["rating", t("search.sort.rating")]], value: saved.sort }),
    ),
    h("div", {}, checkbox(t("search.ev"), { id: "ev", checked: saved.ev }), checkbox(t("search.covered"), { id: "covered", checked: saved.covered })),
    h("div", { class: "actions" }, h("button", { type: "submit", id: "search-button" }, t("search.submit"))),
  );
  const mapEl = h("div", { class: "map", id: "map" });
  const list = h("div", { id: "results" });
  const count = h("p", { id: "result-count", role: "status" });
  mount(main, h("h1", {}, t("search.title")), form, h("div", { class: "search-layout" }, mapEl, h("section", { "aria-label": t("search.results") }, h("h2", {}, t("search.results")), count, list)));

  let view = null;
  let layer = null;
  try {
    view = await createMap(mapEl);
  } catch {
    mapEl.replaceChildren(h("p", { class: "muted" }, t("map.unavailable")));
  }

  const values = () => ({
    place: form.querySelector("#place").value,
    radius: form.querySelector("#radius").value,
    date: form.querySelector("#date").value,
    from: form.querySelector("#from").value,
    until: form.querySelector("#until").value,
    maxPrice: form.querySelector("#max-price").value,
    sort: form.querySelector("#sort").value,
    ev: form.querySelector("#ev").checked,
    covered: form.querySelector("#covered").checked,
  });

  let alive = true;
  // Only the newest search renders: an earlier one answering late must not replace its results.
  let newest = 0;
  async function run() {
    const mine = ++newest;
    const v = values();
    sessionStorage.setItem(KEY, JSON.stringify(v));
    const centre = (PLACES.find(([id]) => id === v.place) || PLACES[0])[1];
    const { start, end } = windowFrom(v);
    count.textContent = t("search.searching");
    try {
      const page = await api.get("/v1/search", {
        lat: centre[0], lon: centre[1], radius_m: v.radius, start, end, sort: v.sort,
        ev: v.ev ? "true" : undefined, covered: v.covered ? "true" : undefined,
        max_total_cents: v.maxPrice ? Math.round(Number(v.maxPrice) * 100) : undefined, limit: 50,
      }, { auth: false });
      if (!alive || mine !== newest) return; // the user went elsewhere, or searched again, meanwhile
      count.textContent = t("search.found", { count: page.items.length });
      const link = (spot) => `#/spot/${encodeURIComponent(spot.id)}?start=${encodeURIComponent(start)}&end=${encodeURIComponent(end)}`;
      mount(list, page.items.length ? page.items.map((item) => h("article", { class: "card result", "data-spot-id": item.spot.id },
        h("h3", {}, h("a", { href: link(item.spot) }, item.spot.title)),
        h("p", {}, h("span", { class: "price" }, money(item.quote.total_cents, item.quote.currency)), " · ",
          t("search.distance", { m: item.distance_m }),
          item.spot.features?.covered ? ` · ${t("feature.covered")}` : "",
          item.spot.features?.ev_charger ? ` · ${t("feature.ev")}` : "",
          item.spot.rating?.count ? ` · ★ ${item.spot.rating.average} (${item.spot.rating.count})` : ""),
        h("p", { class: "muted" }, [item.spot.address?.street, item.spot.address?.district].filter(Boolean).join(", ")),
      )) : h("p", {}, t("search.none")));
      if (view) {
        layer?.remove();
        layer = view.lib.layerGroup().addTo(view.map);
        view.map.setView(centre, view.map.getZoom());
        for (const item of page.items) {
          const marker = await pin(view, [item.spot.location.lat, item.spot.location.lon], {
            title: `${item.spot.title}: ${money(item.quote.total_cents, item.quote.currency)}`,
            onclick: () => { location.hash = link(item.spot); },
          });
          if (!alive || mine !== newest) return;
          layer.addLayer(marker);
        }
      }
    } catch (error) {
      if (!alive || mine !== newest) return;
      count.textContent = "";
      fail(error);
      mount(list);
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run();
  });
  run();
  return () => {
    alive = false;
    view?.map.remove();
  };
}
