// Tessera's built-in page. Plain JavaScript, no build step: it talks to the
// auth API with fetch and the browser's cookies, as any front end would.
"use strict";

const $ = (id) => document.getElementById(id);

let config = { basePath: "/api/auth", providers: [], multiSession: false };
let current = null; // get-session's answer while signed in
let adding = false; // "Add account" opened the form while signed in
let shownUser; // the user id the page last showed (null: signed out)
let resetToken = null; // the reset link's token while "Set a new password" is open

// The `view` a mailed link brings the reader back to this page with.
const RESET_VIEW = "reset-password";
const VERIFY_EMAIL_VIEW = "verify-email";

/** An API error: the API's own message (else its code, else the status). */
class ApiError extends Error {}

/** Calls the auth API; resolves with the JSON body, rejects with ApiError. */
async function api(path, body) {
  const init = { credentials: "include", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.method = "POST";
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(config.basePath + path, init);
  } catch (e) {
    throw new ApiError("The server cannot be reached.");
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch (e) {
      data = null;
    }
  }
  if (!res.ok) {
    const code = data && typeof data.code === "string" && data.code ? data.code : null;
    const message = data && typeof data.message === "string" && data.message
      ? data.message
      : code || `${res.status} ${res.statusText}`.trim();
    throw new ApiError(message);
  }
  return data;
}

function showError(message) {
  const el = $("error");
  el.textContent = message;
  el.hidden = false;
  // The forms lower down report here too: keep the alert in sight.
  el.scrollIntoView({ block: "nearest" });
}

function clearError() {
  const el = $("error");
  el.textContent = "";
  el.hidden = true;
}

function setStatus(text) {
  $("status").textContent = text;
}

/** Puts `message` in the live region `id` ("" empties it). */
function say(id, message) {
  $(id).textContent = message;
}

/** Empties the outcome messages of the flows, when the user changes. */
function clearNotices() {
  for (const id of ["notice", "forgot-result", "verify-result", "change-password-result", "reset-result"]) {
    say(id, "");
  }
  if (resetToken === null) {
    $("reset").hidden = true;
  }
}

/**
 * This page's path with `view` set: where a mailed link brings the reader
 * back. A relative path passes the API's callback check on any origin.
 */
function returnURL(view) {
  return `${window.location.pathname}?view=${encodeURIComponent(view)}`;
}

/** What a mailed link's `?error=` code means, per view. */
const LINK_ERRORS = {
  [RESET_VIEW]: {
    INVALID_TOKEN: "This reset link is invalid, has expired or was already used. Ask for a new one.",
  },
  [VERIFY_EMAIL_VIEW]: {
    INVALID_TOKEN: "This verification link is invalid.",
    TOKEN_EXPIRED: "This verification link has expired. Sign in and send a new one.",
    USER_NOT_FOUND: "No account has the email address this link verifies.",
  },
};

/** The words for a link's error `code`; the code is echoed only if it looks like one. */
function linkError(view, code) {
  const known = LINK_ERRORS[view][code];
  if (known) return `${known} (${code})`;
  return /^[A-Z_]{1,64}$/.test(code) ? `The link did not work (${code}).` : "The link did not work.";
}

/** Runs `action`, disabling `button` meanwhile and showing its error. */
async function run(button, action) {
  clearError();
  if (button) button.disabled = true;
  try {
    await action();
  } catch (e) {
    showError(e instanceof ApiError ? e.message : String(e));
  } finally {
    if (button) button.disabled = false;
  }
}

function when(iso) {
  const time = document.createElement("time");
  time.dateTime = iso;
  const date = new Date(iso);
  time.textContent = Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
  return time;
}

function text(tag, className, content) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  el.textContent = content;
  return el;
}

function button(label, onClick, className) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  if (className) b.className = className;
  b.addEventListener("click", () => run(b, onClick));
  return b;
}

async function renderSessions() {
  const list = $("session-list");
  const sessions = (await api("/list-sessions")) || [];
  list.replaceChildren();
  for (const s of sessions) {
    const li = document.createElement("li");
    const isCurrent = current && s.id === current.session.id;
    const titleId = `session-${s.id}`;
    const title = text("p", "title", s.userAgent || "Unknown device");
    title.id = titleId;
    if (isCurrent) {
      title.append(" ", text("span", "badge", "(this session)"));
    }
    const meta = document.createElement("p");
    meta.className = "meta";
    meta.append(`IP: ${s.ipAddress || "unknown"} · created `, when(s.createdAt), " · expires ", when(s.expiresAt));
    li.append(title, meta);
    if (isCurrent) {
      li.setAttribute("aria-current", "true");
    } else {
      const revoke = button("Revoke", async () => {
        await api("/revoke-session", { token: s.token });
        await renderSessions();
      }, "secondary");
      revoke.setAttribute("aria-describedby", titleId);
      li.append(revoke);
    }
    list.append(li);
  }
}

async function renderAccounts() {
  const section = $("accounts");
  if (!config.multiSession) {
    section.hidden = true;
    return;
  }
  section.hidden = false;
  const list = $("account-list");
  const entries = (await api("/multi-session/list-device-sessions")) || [];
  list.replaceChildren();
  for (const entry of entries) {
    const li = document.createElement("li");
    const active = current && entry.session.token === current.session.token;
    const titleId = `account-${entry.session.id}`;
    const title = text("p", "title", `${entry.user.name} <${entry.user.email}>`);
    title.id = titleId;
    li.append(title);
    if (active) {
      title.append(" ", text("span", "badge", "(active)"));
      li.setAttribute("aria-current", "true");
    } else {
      const sw = button("Switch", async () => {
        await api("/multi-session/set-active", { sessionToken: entry.session.token });
        await refresh();
      });
      sw.setAttribute("aria-describedby", titleId);
      li.append(sw);
    }
    list.append(li);
  }
}

function showForm(show) {
  $("signed-out").hidden = !show;
  $("cancel-add").hidden = !(show && current);
  $("add-account").setAttribute("aria-expanded", String(show && Boolean(current)));
}

/**
 * Reads the session and shows what fits it; `fresh` reads past the cookie
 * cache (after a change the cache cannot know of yet).
 */
async function refresh({ fresh = false } = {}) {
  current = await api(fresh ? "/get-session?disableCookieCache=true" : "/get-session");
  const user = current && current.session ? current.user.id : null;
  if (user !== shownUser) {
    clearNotices();
    shownUser = user;
  }
  if (current && current.session) {
    setStatus(`Signed in as ${current.user.email}.`);
    $("user-email").textContent = current.user.email;
    $("user-name").textContent = current.user.name;
    const verified = current.user.emailVerified === true;
    $("user-verified").textContent = verified ? "Yes" : "No";
    $("verify").hidden = verified;
    $("session-json").textContent = JSON.stringify(current, null, 2);
    $("signed-in").hidden = false;
    showForm(adding);
    await renderSessions();
    await renderAccounts();
  } else {
    current = null;
    adding = false;
    setStatus("Signed out.");
    $("signed-in").hidden = true;
    showForm(true);
  }
}

function renderProviders() {
  const box = $("providers");
  box.replaceChildren();
  for (const p of config.providers) {
    box.append(button(`Continue with ${p.name}`, async () => {
      const res = await api("/sign-in/social", { provider: p.id, callbackURL: "/" });
      if (res && res.url) {
        window.location.assign(res.url);
      }
    }, "secondary"));
  }
}

async function submitCredentials(event) {
  event.preventDefault();
  const action = event.submitter && event.submitter.value === "sign-up" ? "sign-up" : "sign-in";
  const body = {
    email: $("email").value.trim(),
    password: $("password").value,
    rememberMe: $("remember-me").checked,
  };
  if (action === "sign-up") {
    body.name = $("name").value.trim();
  }
  await run(event.submitter, async () => {
    await api(action === "sign-up" ? "/sign-up/email" : "/sign-in/email", body);
    $("password").value = "";
    adding = false;
    await refresh();
  });
}

function showForgot(show) {
  $("forgot").hidden = !show;
  $("forgot-toggle").setAttribute("aria-expanded", String(show));
  if (show) {
    if (!$("forgot-email").value) {
      $("forgot-email").value = $("email").value.trim();
    }
    $("forgot-email").focus();
  }
}

async function submitForgot(event) {
  event.preventDefault();
  say("forgot-result", "");
  await run(event.submitter, async () => {
    const res = await api("/request-password-reset", {
      email: $("forgot-email").value.trim(),
      redirectTo: returnURL(RESET_VIEW),
    });
    say("forgot-result", res && typeof res.message === "string" ? res.message : "Check your email for the reset link.");
  });
}

async function submitReset(event) {
  event.preventDefault();
  say("reset-result", "");
  await run(event.submitter, async () => {
    await api("/reset-password", { newPassword: $("reset-password").value, token: resetToken });
    $("reset-password").value = "";
    resetToken = null;
    $("reset-form").hidden = true;
    // The reset may have ended this browser's session too.
    await refresh();
    say("reset-result", "Your password has been reset. Sign in with the new one.");
  });
}

async function submitChangePassword(event) {
  event.preventDefault();
  say("change-password-result", "");
  const revoke = $("revoke-other-sessions").checked;
  await run(event.submitter, async () => {
    await api("/change-password", {
      currentPassword: $("current-password").value,
      newPassword: $("new-password").value,
      revokeOtherSessions: revoke,
    });
    $("current-password").value = "";
    $("new-password").value = "";
    $("revoke-other-sessions").checked = false;
    // With the others revoked this browser holds a new session: show it.
    await refresh();
    say("change-password-result", revoke
      ? "Your password has been changed and your other sessions are signed out."
      : "Your password has been changed.");
  });
}

async function sendVerification(event) {
  const email = current.user.email;
  say("verify-result", "");
  await run(event.currentTarget, async () => {
    await api("/send-verification-email", { email, callbackURL: returnURL(VERIFY_EMAIL_VIEW) });
    say("verify-result", `A verification link has been sent to ${email}.`);
  });
}

/**
 * A mailed link's way back (`?view=…`, with the reset link's `token` or
 * the API's `error`), read once and taken out of the address bar: the
 * token is a credential and must not stay in the history.
 */
function takeReturn() {
  const params = new URLSearchParams(window.location.search);
  const view = params.get("view");
  if (view !== RESET_VIEW && view !== VERIFY_EMAIL_VIEW) return null;
  window.history.replaceState(null, "", window.location.pathname);
  return { view, token: params.get("token"), error: params.get("error") };
}

/** Shows what a mailed link came back with (after the session is read). */
function showReturn(back) {
  if (back.view === RESET_VIEW) {
    if (back.error || !back.token) {
      showError(linkError(RESET_VIEW, back.error || "INVALID_TOKEN"));
      if (!current) showForgot(true);
      return;
    }
    resetToken = back.token;
    $("reset").hidden = false;
    $("reset-form").hidden = false;
    $("reset-password").focus();
  } else if (back.error) {
    showError(linkError(VERIFY_EMAIL_VIEW, back.error));
  } else if (!current || current.user.emailVerified === true) {
    // Signed in as someone still unverified, the link was not theirs.
    say("notice", "Your email address is verified.");
  }
}

async function start() {
  $("credentials").addEventListener("submit", submitCredentials);
  $("forgot-toggle").addEventListener("click", () => showForgot($("forgot").hidden));
  $("forgot-form").addEventListener("submit", submitForgot);
  $("reset-form").addEventListener("submit", submitReset);
  $("change-password-form").addEventListener("submit", submitChangePassword);
  $("send-verification").addEventListener("click", sendVerification);
  $("sign-out").addEventListener("click", (e) => run(e.currentTarget, async () => {
    await api("/sign-out", {});
    adding = false;
    await refresh();
  }));
  $("add-account").addEventListener("click", () => {
    adding = true;
    showForm(true);
    $("email").focus();
  });
  $("cancel-add").addEventListener("click", () => {
    adding = false;
    showForm(false);
    $("add-account").focus();
  });
  await run(null, async () => {
    const res = await fetch("/ui/config.json", { credentials: "same-origin" });
    if (!res.ok) throw new ApiError(`Cannot load the page's configuration (${res.status}).`);
    config = await res.json();
    renderProviders();
    const back = takeReturn();
    await refresh({ fresh: back !== null && back.view === VERIFY_EMAIL_VIEW && !back.error });
    if (back) showReturn(back);
  });
}

document.addEventListener("DOMContentLoaded", start);
