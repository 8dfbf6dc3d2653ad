// The app's entry: navigation, the hash routes (#/spot/<id>, #/bookings, #/owner, ...) and the
// paths the mails link to (/verify-email, /reset-password).
import * as auth from "./auth.js";
import * as api from "./api.js";
import { h, mount } from "./dom.js";
import { t } from "./i18n.js";
import { navigated } from "./ui.js";
import { searchView } from "./views/search.js";
import { spotView } from "./views/spot.js";
import { bookingsView } from "./views/bookings.js";
import { loginView, registerView, accountView, verifyEmailView, resetPasswordView, forgotView } from "./views/account.js";
import { ownerSpotsView, spotEditView, ownerBookingsView, earningsView } from "./views/owner.js";

const main = document.getElementById("main");
let cleanup = null;

const routes = [
  [/^$/, searchView],
  [/^spot\/([\w-]+)$/, spotView],
  [/^bookings$/, bookingsView, true],
  [/^login$/, loginView],
  [/^register$/, registerView],
  [/^forgot$/, forgotView],
  [/^account$/, accountView, true],
  [/^owner$/, ownerSpotsView, true],
  [/^owner\/new$/, spotEditView, true],
  [/^owner\/spot\/([\w-]+)$/, spotEditView, true],
  [/^owner\/bookings$/, ownerBookingsView, true],
  [/^owner\/earnings$/, earningsView, true],
];

function renderNav() {
  const signedIn = auth.isSignedIn();
  const links = [h("a", { href: "#/" }, t("nav.search"))];
  if (signedIn) {
    links.push(
      h("a", { href: "#/bookings" }, t("nav.bookings")),
      h("a", { href: "#/owner" }, t("nav.owner")),
      h("a", { href: "#/owner/bookings" }, t("nav.ownerBookings")),
      h("a", { href: "#/account" }, t("nav.account")),
      h("button", {
        type: "button", class: "secondary", id: "logout",
        onclick: async () => {
          await api.logout();
          location.hash = "#/";
        },
      }, t("nav.logout")),
    );
  } else {
    links.push(h("a", { href: "#/login", id: "nav-login" }, t("nav.login")), h("a", { href: "#/register" }, t("nav.register")));
  }
  mount(document.getElementById("nav"), links);
}

async function route() {
  if (cleanup) {
    cleanup();
    cleanup = null;
  }
  navigated();
  const path = location.pathname;
  if (path === "/verify-email" || path === "/reset-password") {
    const token = new URLSearchParams(location.search).get("token") || "";
    // The token leaves the address bar (and the history) once it is read.
    history.replaceState(null, "", "/#/");
    const view = path === "/verify-email" ? verifyEmailView : resetPasswordView;
    cleanup = (await view(main, token)) || null;
    return;
  }
  const [hash, query] = location.hash.replace(/^#\/?/, "").split("?");
  const params = new URLSearchParams(query || "");
  for (const [pattern, view, needsSignIn] of routes) {
    const match = hash.match(pattern);
    if (!match) continue;
    if (needsSignIn && !auth.isSignedIn()) {
      sessionStorage.setItem("parkshare.after", location.hash);
      location.hash = "#/login";
      return;
    }
    mount(main, h("p", {}, t("loading")));
    try {
      cleanup = (await view(main, params, ...match.slice(1))) || null;
    } catch (error) {
      mount(main, h("p", { class: "error-text" }, String(error.message || error)));
    }
    main.focus({ preventScroll: true });
    return;
  }
  mount(main, h("h1", {}, t("notFound")));
}

auth.onChange(renderNav);
window.addEventListener("hashchange", route);
renderNav();
route();
