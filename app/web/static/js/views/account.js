// Registering, signing in, the mails' links (verify the address, reset the password), and the
// account: export my data, delete my account.
import * as api from "../api.js";
import { h, mount, field } from "../dom.js";
import { t } from "../i18n.js";
import { fail, say } from "../ui.js";

function afterSignIn() {
  const next = sessionStorage.getItem("parkshare.after") || "#/";
  sessionStorage.removeItem("parkshare.after");
  location.hash = next === location.hash ? "#/" : next;
}

export async function loginView(main) {
  const form = h("form", { id: "login-form" },
    field(t("account.email"), { type: "email", id: "login-email", autocomplete: "username", required: true }),
    field(t("account.password"), { type: "password", id: "login-password", autocomplete: "current-password", required: true }),
    h("div", { class: "actions" }, h("button", { type: "submit", id: "login-button" }, t("nav.login"))),
  );
  mount(main, h("h1", {}, t("nav.login")), form,
    h("p", {}, h("a", { href: "#/register" }, t("account.noAccount")), " · ", h("a", { href: "#/forgot" }, t("account.forgot"))));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api.login(form.querySelector("#login-email").value.trim(), form.querySelector("#login-password").value);
      say(t("account.signedIn"), false, true);
      afterSignIn();
    } catch (error) {
      fail(error);
    }
  });
}

export async function registerView(main) {
  const form = h("form", { id: "register-form" },
    field(t("account.name"), { id: "register-name", autocomplete: "name", required: true, maxlength: 100 }),
    field(t("account.email"), { type: "email", id: "register-email", autocomplete: "email", required: true }),
    field(t("account.newPassword"), { type: "password", id: "register-password", autocomplete: "new-password", minlength: 10, required: true }),
    h("div", { class: "actions" }, h("button", { type: "submit" }, t("nav.register"))),
  );
  mount(main, h("h1", {}, t("nav.register")), form);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const email = form.querySelector("#register-email").value.trim();
    const password = form.querySelector("#register-password").value;
    try {
      await api.post("/v1/auth/register", { email, password, display_name: form.querySelector("#register-name").value.trim() }, { auth: false });
      await api.login(email, password);
      say(t("account.registered"), false, true);
      afterSignIn();
    } catch (error) {
      fail(error);
    }
  });
}

export async function forgotView(main) {
  const form = h("form", {},
    field(t("account.email"), { type: "email", id: "forgot-email", autocomplete: "email", required: true }),
    h("div", { class: "actions" }, h("button", { type: "submit" }, t("account.sendReset"))));
  mount(main, h("h1", {}, t("account.forgot")), form);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api.post("/v1/auth/password-reset", { email: form.querySelector("#forgot-email").value.trim() }, { auth: false });
      say(t("account.resetSent"));
    } catch (error) {
      fail(error);
    }
  });
}

export async function verifyEmailView(main, token) {
  mount(main, h("h1", {}, t("account.verifyTitle")), h("p", {}, t("loading")));
  try {
    await api.post("/v1/auth/verify-email", { token }, { auth: false });
    mount(main, h("h1", {}, t("account.verifyTitle")), h("p", { id: "verify-result" }, t("account.verified")), h("a", { href: "#/" }, t("nav.search")));
  } catch (error) {
    mount(main, h("h1", {}, t("account.verifyTitle")), h("p", { class: "error-text", id: "verify-result" }, t(`error.${error.code || "network"}`)));
  }
}

export async function resetPasswordView(main, token) {
  const form = h("form", { id: "reset-form" },
    field(t("account.newPassword"), { type: "password", id: "reset-password", autocomplete: "new-password", minlength: 10, required: true }),
    h("div", { class: "actions" }, h("button", { type: "submit" }, t("account.setPassword"))));
  mount(main, h("h1", {}, t("account.resetTitle")), form);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api.post("/v1/auth/password-reset/confirm", { token, password: form.querySelector("#reset-password").value }, { auth: false });
      mount(main, h("h1", {}, t("account.resetTitle")), h("p", {}, t("account.passwordSet")), h("a", { href: "#/login" }, t("nav.login")));
    } catch (error) {
      fail(error);
    }
  });
}

export async function accountView(main) {
  const me = await api.get("/v1/me");
  const profile = h("form", { id: "profile-form" },
    field(t("account.name"), { id: "profile-name", value: me.display_name, required: true }),
    field(t("account.phone"), { type: "tel", id: "profile-phone", value: me.phone || "", placeholder: "+4923112345678" }),
    h("div", { class: "actions" }, h("button", { type: "submit" }, t("save"))));
  const remove = h("form", { id: "delete-form" },
    h("p", {}, t("account.deleteHelp")),
    field(t("account.password"), { type: "password", id: "delete-password", autocomplete: "current-password", required: true }),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "danger" }, t("account.delete"))));
  mount(main,
    h("h1", {}, t("nav.account")),
    h("p", {}, me.email, " · ", me.email_verified ? t("account.isVerified") : t("account.notVerified")),
    me.email_verified ? null : h("button", { type: "button", class: "secondary", onclick: async () => {
      try {
        await api.post("/v1/me/verify-email");
        say(t("account.verificationSent"));
      } catch (error) {
        fail(error);
      }
    } }, t("account.resend")),
    h("h2", {}, t("account.profile")), profile,
    h("h2", {}, t("account.export")),
    h("p", {}, t("account.exportHelp")),
    h("button", { type: "button", class: "secondary", id: "export-button", onclick: async () => {
      try {
        const data = await api.get("/v1/me/export");
        const url = URL.createObjectURL(new Blob([JSON.stringify(data, null, 2)], { type: "application/json" }));
        const link = h("a", { href: url, download: "parkshare-export.json" });
        document.body.append(link);
        link.click();
        link.remove();
        setTimeout(() => URL.revokeObjectURL(url), 10_000);
      } catch (error) {
        fail(error);
      }
    } }, t("account.exportButton")),
    h("h2", {}, t("account.delete")), remove);
  profile.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api.patch("/v1/me", { display_name: profile.querySelector("#profile-name").value.trim(), phone: profile.querySelector("#profile-phone").value.trim() || null });
      say(t("saved"));
    } catch (error) {
      fail(error);
    }
  });
  remove.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!window.confirm(t("account.deleteConfirm"))) return;
    try {
      await api.del("/v1/me", { password: remove.querySelector("#delete-password").value });
      await api.logout();
      say(t("account.deleted"), false, true);
      location.hash = "#/";
    } catch (error) {
      fail(error);
    }
  });
}
