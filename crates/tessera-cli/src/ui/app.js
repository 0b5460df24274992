// Tessera's built-in page. Plain JavaScript, no build step: it talks to the
// auth API with fetch and the browser's cookies, as any front end would.
"use strict";

const $ = (id) => document.getElementById(id);

let config = { basePath: "/api/auth", providers: [], multiSession: false };
let current = null; // get-session's answer while signed in
let adding = false; // "Add account" opened the form while signed in

/** An API error: the API's own message. */
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
    const message = data && typeof data.message === "string" && data.message
      ? data.message
      : `${res.status} ${res.statusText}`.trim();
    throw new ApiError(message);
  }
  return data;
}

function showError(message) {
  const el = $("error");
  el.textContent = message;
  el.hidden = false;
}

function clearError() {
  const el = $("error");
  el.textContent = "";
  el.hidden = true;
}

function setStatus(text) {
  $("status").textContent = text;
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

/** Reads the session and shows what fits it. */
async function refresh() {
  current = await api("/get-session");
  if (current && current.session) {
    setStatus(`Signed in as ${current.user.email}.`);
    $("user-email").textContent = current.user.email;
    $("user-name").textContent = current.user.name;
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

async function start() {
  $("credentials").addEventListener("submit", submitCredentials);
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
    await refresh();
  });
}

document.addEventListener("DOMContentLoaded", start);
