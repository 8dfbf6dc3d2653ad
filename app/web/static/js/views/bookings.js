// My bookings as driver, kept current by the live stream; the access details once revealed; the
// calendar feed link.
import * as api from "../api.js";
import { config, serverNow } from "../config.js";
import { h, mount } from "../dom.js";
import { t, money, dateTime, time, span, day } from "../i18n.js";
import { LiveEvents } from "../events.js";
import { fail, say, statusBadge } from "../ui.js";
import { addressText } from "./spot.js";

const ACTIVE = new Set(["held", "requested", "confirmed", "overstayed"]);

export function bookingCard(booking, role, reload) {
  const zone = config.timezone;
  const id = encodeURIComponent(booking.id);
  const act = (label, path, cls = "secondary", body) => h("button", {
    type: "button", class: cls, "data-action": path,
    onclick: async (event) => {
      event.target.disabled = true;
      try {
        await api.post(`/v1/bookings/${id}/${path}`, body, { headers: { "Idempotency-Key": api.idempotencyKey() } });
        await reload();
      } catch (error) {
        event.target.disabled = false;
        fail(error);
      }
    },
  }, label);
  const actions = [];
  if (role === "driver" && booking.status === "held") actions.push(act(t("spot.confirm"), "confirm", ""));
  if (role === "owner" && booking.status === "requested") {
    actions.push(act(t("owner.approve"), "approve", ""), act(t("owner.decline"), "decline", "danger"));
  }
  if (role === "driver" && booking.status === "confirmed") {
    // At the spot: check-in from 15 minutes before the start until the end (the server's clock).
    const now = serverNow();
    const open = now >= Date.parse(booking.start) - 15 * 60_000 && now < Date.parse(booking.end);
    if (!booking.checked_in_at && open) actions.push(act(t("booking.checkIn"), "check-in", ""));
    if (booking.checked_in_at && !booking.checked_out_at) actions.push(act(t("booking.checkOut"), "check-out", ""));
  }
  if (role === "driver" && booking.status === "overstayed" && !booking.checked_out_at) actions.push(act(t("booking.checkOut"), "check-out", ""));
  if (ACTIVE.has(booking.status) && booking.status !== "overstayed") actions.push(act(t("booking.cancel"), "cancel", "danger", {}));
  return h("article", { class: "card booking", "data-booking-id": booking.id },
    h("h3", {}, booking.spot?.title || booking.spot_id),
    h("p", {}, statusBadge(booking.status), " ", span(booking.start, booking.end, zone)),
    h("p", {}, h("span", { class: "price" }, money(booking.total_cents, booking.currency)),
      booking.refund_cents !== null && booking.refund_cents !== undefined ? ` · ${t("booking.refund", { amount: money(booking.refund_cents, booking.currency) })}` : "",
      role === "owner" ? ` · ${booking.driver_name}` : "",
      booking.license_plate ? ` · ${booking.license_plate}` : ""),
    booking.status === "held" && booking.hold_expires_at ? h("p", { class: "muted" }, t("spot.heldUntil", { until: time(booking.hold_expires_at, zone) })) : null,
    booking.checked_in_at ? h("p", { class: "checked-in" }, t("booking.checkedIn", { at: time(booking.checked_in_at, zone) }),
      booking.checked_out_at ? ` · ${t("booking.checkedOut", { at: time(booking.checked_out_at, zone) })}` : "") : null,
    booking.status === "requested" && booking.request_expires_at ? h("p", { class: "muted" }, t("booking.requestUntil", { until: dateTime(booking.request_expires_at, zone) })) : null,
    h("div", { class: "access" }),
    actions.length ? h("div", { class: "actions" }, actions) : null,
  );
}

// The access details: the spot's full view is the driver's only in the reveal window.
async function revealAccess(card, booking) {
  if (booking.status !== "confirmed") return;
  try {
    const spot = await api.get(`/v1/spots/${encodeURIComponent(booking.spot_id)}`);
    // The full view is the spot's, shown while any booking of it is revealed: this booking's
    // details only within its own window.
    const reveal = (spot.rules?.reveal_before_min ?? 60) * 60_000;
    const now = serverNow();
    const inWindow = now >= Date.parse(booking.start) - reveal && now < Date.parse(booking.end);
    if (spot.view !== "full" || !inWindow) {
      mount(card.querySelector(".access"), h("p", { class: "muted" }, t("booking.accessLater", { minutes: spot.rules?.reveal_before_min ?? 60 })));
      return;
    }
    mount(card.querySelector(".access"), h("dl", { class: "kv" },
      h("dt", {}, t("spot.address")), h("dd", {}, addressText(spot.address)),
      spot.access_instructions ? [h("dt", {}, t("spot.access")), h("dd", { class: "access-instructions" }, spot.access_instructions)] : null));
  } catch {
    // The spot may be withdrawn; the booking stays readable.
  }
}

export async function bookingList(main, role, title) {
  const list = h("div", { id: "booking-list" });
  const live = h("p", { class: "muted", id: "live-state" }, t("live.connecting"));
  const calendar = h("div", { id: "calendar" });
  mount(main, h("h1", {}, title), live, list,
    role === "driver" ? [h("h2", {}, t("calendar.title")), calendar] : null);
  if (role === "driver") {
    mount(calendar, h("p", {}, t("calendar.driverHelp")), h("button", {
      type: "button", class: "secondary", id: "calendar-button",
      onclick: async () => {
        try {
          const answer = await api.post("/v1/me/calendar-token");
          mount(calendar, h("p", {}, t("calendar.secret")), h("input", { readonly: true, value: answer.url, "aria-label": t("calendar.title"), id: "calendar-url" }));
        } catch (error) {
          fail(error);
        }
      },
    }, t("calendar.create")));
  }

  const bookings = new Map();
  function render() {
    const sorted = [...bookings.values()].sort((a, b) => (a.start < b.start ? -1 : 1));
    const cards = sorted.map((b) => {
      const card = bookingCard(b, role, load);
      if (role === "driver") revealAccess(card, b);
      return card;
    });
    if (role === "owner") {
      // An agenda: the bookings of each day under it (the calendar of the owner's spots).
      const days = new Map();
      sorted.forEach((b, i) => {
        const key = day(b.start, config.timezone);
        if (!days.has(key)) days.set(key, []);
        days.get(key).push(cards[i]);
      });
      mount(list, days.size ? [...days].map(([key, items]) => [h("h2", { class: "agenda-day" }, key), items]) : h("p", {}, t("booking.none")));
    } else {
      mount(list, cards.length ? cards : h("p", {}, t("booking.none")));
    }
  }
  async function load() {
    try {
      const page = await api.get("/v1/me/bookings", { role, limit: 100 });
      bookings.clear();
      for (const b of page.items) bookings.set(b.id, b);
      render();
    } catch (error) {
      fail(error);
    }
  }
  await load();
  const stream = new LiveEvents((type, event) => {
    const booking = event?.data?.booking;
    if (!booking || !type.startsWith("booking.")) return;
    // An event is the booking as it stood; one not in this list (the other role's, or new) is
    // read again with the list.
    const known = bookings.get(booking.id);
    if (known) {
      if (known.updated_at <= booking.updated_at) bookings.set(booking.id, { ...known, ...booking, license_plate: booking.license_plate ?? known.license_plate });
      render();
      say(t("live.changed", { title: booking.spot?.title || "", status: t(`status.${booking.status}`) }));
    } else {
      load();
    }
  }, (state) => { live.textContent = t(`live.${state}`); live.dataset.state = state; }).start();
  return () => stream.stop();
}

export async function bookingsView(main) {
  return bookingList(main, "driver", t("nav.bookings"));
}
