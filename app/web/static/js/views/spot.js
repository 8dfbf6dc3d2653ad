// A spot for drivers: what it offers, its free times, a quote with the cancellation schedule,
// booking and confirming.
import * as api from "../api.js";
import * as auth from "../auth.js";
import { config } from "../config.js";
import { h, mount, field } from "../dom.js";
import { t, money, dateTime, time, localParts, span } from "../i18n.js";
import { createMap, pin } from "../map.js";
import { fail, say, statusBadge, errorText } from "../ui.js";
import { defaultWindow, windowFrom } from "./search.js";

export function spotFacts(spot) {
  const f = spot.features || {};
  const facts = [];
  if (f.covered) facts.push(t("feature.covered"));
  if (f.ev_charger) facts.push(`${t("feature.ev")} (${f.ev_charger.connector}, ${f.ev_charger.power_kw} kW)`);
  if (f.wheelchair_accessible) facts.push(t("feature.wheelchair"));
  if (f.lit) facts.push(t("feature.lit"));
  return facts;
}

export function addressText(address) {
  if (!address) return "";
  const street = [address.street, address.house_number].filter(Boolean).join(" ");
  return [street, [address.postal_code, address.city].filter(Boolean).join(" "), address.district].filter(Boolean).join(", ");
}

export async function spotView(main, params, spotId) {
  const spot = await api.get(`/v1/spots/${encodeURIComponent(spotId)}`, undefined, { auth: auth.isSignedIn() });
  const zone = spot.timezone || config.timezone;
  const initial = params.get("start") && params.get("end")
    ? { date: localParts(params.get("start"), zone).date, from: localParts(params.get("start"), zone).time, until: localParts(params.get("end"), zone).time }
    : defaultWindow();

  const free = h("ul", { id: "free-times" });
  const quoteBox = h("div", { id: "quote", "aria-live": "polite" });
  const form = h("form", { id: "book-form" },
    h("div", { class: "row" },
      field(t("search.date"), { type: "date", id: "book-date", value: initial.date, required: true }),
      field(t("search.from"), { type: "time", id: "book-from", value: initial.from, step: 900, required: true }),
      field(t("search.until"), { type: "time", id: "book-until", value: initial.until, step: 900, required: true }),
    ),
    h("div", { class: "actions" }, h("button", { type: "submit", id: "quote-button" }, t("spot.quote"))),
  );
  const mapEl = h("div", { class: "map small", id: "spot-map" });
  const r = spot.rules || {};
  mount(main,
    h("p", {}, h("a", { href: "#/" }, `← ${t("nav.search")}`)),
    h("h1", {}, spot.title),
    spot.description ? h("p", {}, spot.description) : null,
    h("dl", { class: "kv" },
      h("dt", {}, t("spot.address")), h("dd", { id: "spot-address" }, addressText(spot.address)),
      h("dt", {}, t("spot.price")), h("dd", {}, `${money(spot.pricing.hourly_cents, spot.pricing.currency)} / h`,
        spot.pricing.daily_cap_cents ? ` · ${t("spot.dailyCap", { cap: money(spot.pricing.daily_cap_cents, spot.pricing.currency) })}` : ""),
      h("dt", {}, t("spot.features")), h("dd", {}, spotFacts(spot).join(", ") || "–"),
      h("dt", {}, t("spot.policy")), h("dd", {}, t(`policy.${r.cancellation_policy}`)),
      h("dt", {}, t("spot.booking")), h("dd", {}, r.instant_book ? t("spot.instant") : t("spot.request")),
      spot.rating?.count ? [h("dt", {}, t("spot.rating")), h("dd", {}, `★ ${spot.rating.average} (${spot.rating.count})`)] : null,
      spot.access_instructions ? [h("dt", {}, t("spot.access")), h("dd", { id: "access" }, spot.access_instructions)] : null,
    ),
    mapEl,
    h("h2", {}, t("spot.freeTimes")), free,
    h("h2", {}, t("spot.bookTitle")), form, quoteBox,
  );

  createMap(mapEl, { centre: [spot.location.lat, spot.location.lon], zoom: 16 })
    .then((view) => pin(view, [spot.location.lat, spot.location.lon], { title: spot.title }))
    .catch(() => mapEl.replaceChildren(h("p", { class: "muted" }, t("map.unavailable"))));

  // The free times of the next seven days from the chosen date.
  const from = new Date(`${initial.date}T00:00:00Z`);
  api.get(`/v1/spots/${encodeURIComponent(spotId)}/availability`, {
    from: new Date(from.getTime() - 86_400_000).toISOString().replace(/\.\d{3}Z$/, "Z"),
    to: new Date(from.getTime() + 7 * 86_400_000).toISOString().replace(/\.\d{3}Z$/, "Z"),
  }, { auth: false }).then((answer) => {
    mount(free, answer.free.length
      ? answer.free.slice(0, 20).map((slot) => h("li", {}, span(slot.start, slot.end, zone)))
      : h("li", {}, t("spot.noFreeTimes")));
  }).catch(fail);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!auth.isSignedIn()) {
      sessionStorage.setItem("parkshare.after", location.hash);
      location.hash = "#/login";
      return;
    }
    const { start, end } = windowFrom({
      date: form.querySelector("#book-date").value, from: form.querySelector("#book-from").value, until: form.querySelector("#book-until").value,
    }, zone);
    try {
      const quote = await api.post("/v1/quotes", { spot_id: spotId, start, end });
      showQuote(quoteBox, spot, quote, start, end, zone);
    } catch (error) {
      fail(error);
    }
  });
}

function showQuote(box, spot, quote, start, end, zone) {
  if (!quote.bookable) {
    mount(box, h("p", { class: "error-text", id: "not-bookable" }, t(`error.${quote.reason_code}`), quote.reason ? ` (${quote.reason})` : ""));
    return;
  }
  const refunds = quote.cancellation.refunds;
  const idempotency = api.idempotencyKey();
  mount(box,
    h("div", { class: "card" },
      h("p", {}, span(start, end, zone)),
      h("ul", {}, quote.breakdown.map((line) => h("li", {}, `${line.label}: ${money(line.amount_cents, quote.currency)}`))),
      h("p", {}, t("spot.total"), " ", h("span", { class: "price", id: "quote-total" }, money(quote.total_cents, quote.currency))),
      h("h3", {}, t("spot.cancellation")),
      h("ul", { id: "refunds" }, refunds.length
        ? [...refunds.map((line) => h("li", {}, t("spot.refundUntil", { until: dateTime(line.until, zone), amount: money(line.refund_cents, quote.currency) }))),
          h("li", {}, t("spot.refundAfter", { until: dateTime(refunds[refunds.length - 1].until, zone) }))]
        : h("li", {}, t("spot.noRefund"))),
      h("div", { class: "actions" }, h("button", {
        type: "button", id: "book-button",
        onclick: async (event) => {
          event.target.disabled = true;
          try {
            const booking = await api.post("/v1/bookings", { spot_id: spot.id, start, end }, { headers: { "Idempotency-Key": idempotency } });
            showBooking(box, booking, zone);
          } catch (error) {
            event.target.disabled = false;
            fail(error);
          }
        },
      }, spot.rules?.instant_book ? t("spot.book") : t("spot.requestBook"))),
    ),
  );
}

function showBooking(box, booking, zone) {
  if (booking.status === "held") {
    mount(box, h("div", { class: "card", id: "held" },
      h("p", {}, statusBadge(booking.status), " ", t("spot.heldUntil", { until: time(booking.hold_expires_at, zone) })),
      h("div", { class: "actions" }, h("button", {
        type: "button", id: "confirm-button",
        onclick: async (event) => {
          event.target.disabled = true;
          try {
            await api.post(`/v1/bookings/${encodeURIComponent(booking.id)}/confirm`, undefined, { headers: { "Idempotency-Key": api.idempotencyKey() } });
            say(t("spot.confirmed"), false, true);
            location.hash = "#/bookings";
          } catch (error) {
            event.target.disabled = false;
            say(errorText(error), true);
          }
        },
      }, t("spot.confirm"))),
    ));
  } else {
    mount(box, h("div", { class: "card" }, h("p", {}, statusBadge(booking.status), " ", t("spot.requested")), h("a", { href: "#/bookings" }, t("nav.bookings"))));
  }
}

