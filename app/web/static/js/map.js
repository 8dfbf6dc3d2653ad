// The map (Leaflet from the xstatic-leaflet package, served by the app). Tiles come from the
// configured TILE_URL; when they do not load, the list next to the map still has everything.
import { config } from "./config.js";
import { t } from "./i18n.js";

let leaflet = null;
async function L() {
  leaflet ||= import("/vendor/leaflet/leaflet-src.esm.js");
  return leaflet;
}

export async function createMap(el, { centre = config.centre, zoom = 15, label } = {}) {
  const lib = await L();
  el.setAttribute("role", "region");
  el.setAttribute("aria-label", label || t("map.label"));
  const map = lib.map(el, { center: centre, zoom, keyboard: true });
  const tiles = lib.tileLayer(config.tileUrl, { attribution: config.tileAttribution, maxZoom: 19 });
  let failed = 0;
  tiles.on("tileerror", () => {
    failed += 1;
    if (failed === 1) el.dataset.tiles = "failed";
  });
  tiles.addTo(map);
  return { lib, map };
}

export async function pin(view, latlng, { title, onclick, color = "#0b57d0" } = {}) {
  const marker = view.lib.circleMarker(latlng, { radius: 9, color, weight: 2, fillOpacity: 0.7 });
  // An element, not a string: Leaflet writes a string label as HTML, and titles are owners' text.
  if (title) {
    const label = document.createElement("span");
    label.textContent = title;
    marker.bindTooltip(label);
  }
  if (onclick) marker.on("click", onclick);
  marker.addTo(view.map);
  return marker;
}
