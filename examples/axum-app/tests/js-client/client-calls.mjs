// better-auth's official client, unchanged, driven against one server.
//
//   cd <refserver dir> && node /abs/path/client-calls.mjs <baseURL> [--provider oidc --login NAME]
//
// It loads `better-auth/client` and `better-auth/client/plugins` from the
// refserver install in the working directory (the version pinned in
// shared/refserver/package.json; this folder has no node_modules of its
// own), creates `createAuthClient({ baseURL, plugins: [multiSessionClient(),
// customSessionClient()] })` once per "device" (a cookie jar each), makes
// every call the test compares, and prints ONE JSON object on stdout: each
// call's `{data, error}` normalised (ids, tokens and times replaced by
// placeholders, lists sorted where the API promises no order) plus the
// session cookies the device holds afterwards. The same script runs
// against better-auth and against Tessera; the Rust test compares the two
// outputs. Progress goes to stderr.

import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";

const args = process.argv.slice(2);
const baseURL = args[0];
if (!baseURL || !/^https?:\/\//.test(baseURL)) {
  console.error("usage: node client-calls.mjs <baseURL> [--provider ID] [--login NAME]");
  process.exit(2);
}
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1] : fallback;
};
const providerId = option("provider", "oidc");
const oidcLogin = option("login", "carol");

// Resolve from the working directory (the refserver install), not from this
// file: ESM resolves bare names relative to the importing file.
const requireFromCwd = createRequire(path.join(process.cwd(), "package.json"));
const load = (name) => import(pathToFileURL(requireFromCwd.resolve(name)).href);
const { createAuthClient } = await load("better-auth/client");
const { multiSessionClient, customSessionClient } = await load("better-auth/client/plugins");
// The refserver's scripted browser: its RFC 6265 jar and the
// devInteractions form parser of the loopback OpenID provider.
const { CookieJar, request, parseInteractionForm } = await import(
  pathToFileURL(path.join(process.cwd(), "oauth-flow.mjs")).href
);

const origin = new URL(baseURL).origin;

/** One device: a cookie jar and a client whose requests carry it. */
function device(name) {
  const jar = new CookieJar();
  const client = createAuthClient({
    baseURL,
    plugins: [multiSessionClient(), customSessionClient()],
    fetchOptions: {
      // better-auth's origin check wants a trusted Origin on requests with
      // a body; a browser sends its page's.
      headers: { origin },
      onRequest(ctx) {
        const url = String(ctx.url);
        const cookie = jar.header(url);
        if (cookie) ctx.headers.set("cookie", cookie);
        else ctx.headers.delete("cookie");
        return ctx;
      },
      onResponse(ctx) {
        jar.setFromResponse(String(ctx.request.url), ctx.response.headers.getSetCookie());
      },
    },
  });
  return { name, jar, client };
}

// ------------------------------------------------------- normalisation --
// Ids and tokens become <id:N> / <token:N>, numbered by first appearance,
// so a value that recurs (a session's userId and its user's id, the token
// a sign-in returned and the one listed later) keeps one placeholder and
// the relations are compared too. Times become <time>; a session's
// expiresAt becomes its lifetime, <createdAt+Ns>, which is what remember-me
// changes.
const placeholders = new Map();
const counters = { id: 0, token: 0 };
function placeholder(kind, value) {
  if (typeof value !== "string" || value === "") return value;
  const key = `${kind}:${value}`;
  if (!placeholders.has(key)) {
    const p = `<${kind}:${++counters[kind]}>`;
    placeholders.set(key, p);
    // A multi-session cookie names its token in lower case.
    if (kind === "token" && !placeholders.has(`token:${value.toLowerCase()}`)) placeholders.set(`token:${value.toLowerCase()}`, p);
  }
  return placeholders.get(key);
}
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const ID_KEYS = new Set(["id", "userId", "accountId"]);
const TOKEN_KEYS = new Set(["token", "sessionToken"]);
const TIME_KEYS = new Set(["createdAt", "updatedAt", "expiresAt"]);

function normalise(value, key) {
  // The client's JSON parser turns ISO dates into Date objects.
  if (value instanceof Date) value = Number.isNaN(value.getTime()) ? "Invalid Date" : value.toISOString();
  if (Array.isArray(value)) return value.map((v) => normalise(v));
  if (value && typeof value === "object") {
    const out = {};
    for (const k of Object.keys(value).sort()) {
      if (k === "expiresAt" && value.createdAt && value.expiresAt) {
        const s = Math.round((new Date(value.expiresAt) - new Date(value.createdAt)) / 1000);
        out[k] = `<createdAt+${s}s>`;
      } else {
        out[k] = normalise(value[k], k);
      }
    }
    return out;
  }
  // The client talks to the server over loopback. better-auth 1.7.25
  // reads the address from headers only (Node's fetch sends none): "";
  // Tessera records the socket peer: "127.0.0.1". Both mean this client;
  // any other value (null, another address) is still compared.
  if (key === "ipAddress" && (value === "" || value === "127.0.0.1")) return "<loopback client>";
  if (ID_KEYS.has(key)) return placeholder("id", value);
  if (TOKEN_KEYS.has(key)) return placeholder("token", value);
  if (TIME_KEYS.has(key) && typeof value === "string") return ISO.test(value) ? "<time>" : `<not a time: ${value}>`;
  if (key === "url" && typeof value === "string") return normaliseURL(value);
  return value;
}

/** An authorization or logout URL: its server as a placeholder, random parameters as <random>. */
function normaliseURL(text) {
  let u;
  try {
    u = new URL(text, origin);
  } catch {
    return text;
  }
  const host = u.origin === origin ? "<base>" : "<provider>";
  const params = [...u.searchParams].map(([k, v]) => {
    if (["state", "nonce", "code_challenge", "id_token_hint"].includes(k)) return `${k}=<random>`;
    return `${k}=${v.split(origin).join("<base>")}`;
  });
  return `${host}${u.pathname}${params.length ? "?" + params.join("&") : ""}`;
}

/** The session cookies a device holds: names only, a multi-session cookie's token as <token:N>. */
function cookieNames(d) {
  return d.jar
    .names(`${origin}/api/auth`)
    // The jar, like a browser, ignores ports: leave out the provider's own.
    .filter((n) => n.startsWith("better-auth."))
    .map((n) => {
      const m = n.match(/^(.*_multi-)(.*)$/);
      return m ? `${m[1]}${placeholder("token", m[2].toLowerCase())}` : n;
    })
    .sort();
}

// ---------------------------------------------------------------- calls --
const calls = [];
/** Runs one client call and records its normalised {data, error}. */
async function call(label, d, fn, { sortBy } = {}) {
  process.stderr.write(`${label} (${d.name}) ... `);
  const res = await fn(d.client);
  let data = res?.data ?? null;
  const error = res?.error
    ? { status: res.error.status, statusText: res.error.statusText, code: res.error.code ?? null, message: res.error.message ?? null }
    : null;
  if (Array.isArray(data) && sortBy) data = [...data].sort((a, b) => (sortBy(a) < sortBy(b) ? -1 : sortBy(a) > sortBy(b) ? 1 : 0));
  calls.push({ call: label, device: d.name, data: normalise(data), error, cookies: cookieNames(d) });
  process.stderr.write(`${error ? `error ${error.status} ${error.code}` : "ok"}\n`);
  return res?.data ?? null;
}
const byCreatedAt = (s) => s.createdAt;
const byUserEmail = (s) => s.user.email;

const password = "password1234";
const alice = { email: "alice@example.com", password, name: "Alice" };
const bob = { email: "bob@example.com", password, name: "Bob" };

const a = device("A");
const b = device("B");
const c = device("C");
const d = device("D");

// Sign-up, and the two errors every front end shows.
const aliceUp = await call("signUp.email", a, (cl) => cl.signUp.email(alice));
await call("signUp.email (taken)", b, (cl) => cl.signUp.email(alice));
await call("signIn.email (wrong password)", b, (cl) => cl.signIn.email({ email: alice.email, password: "not-the-password" }));
await call("getSession (signed out)", b, (cl) => cl.getSession());
await call("getSession", a, (cl) => cl.getSession());

// Two more devices, with and without remember-me.
const onB = await call("signIn.email (rememberMe false)", b, (cl) =>
  cl.signIn.email({ email: alice.email, password, rememberMe: false }),
);
await call("getSession (rememberMe false)", b, (cl) => cl.getSession());
await call("signIn.email (rememberMe true)", c, (cl) => cl.signIn.email({ email: alice.email, password, rememberMe: true }));
await call("listSessions", a, (cl) => cl.listSessions(), { sortBy: byCreatedAt });

// Revoking sessions from device A.
await call("revokeSession", a, (cl) => cl.revokeSession({ token: onB.token }));
await call("getSession (revoked)", b, (cl) => cl.getSession());
await call("listSessions (after revokeSession)", a, (cl) => cl.listSessions(), { sortBy: byCreatedAt });
await call("revokeOtherSessions", a, (cl) => cl.revokeOtherSessions());
await call("getSession (revoked by revokeOtherSessions)", c, (cl) => cl.getSession());
await call("listSessions (after revokeOtherSessions)", a, (cl) => cl.listSessions(), { sortBy: byCreatedAt });

// A second account on device A (multi-session).
const bobUp = await call("signUp.email (second account)", a, (cl) => cl.signUp.email(bob));
await call("getSession (second account)", a, (cl) => cl.getSession());
await call("multiSession.listDeviceSessions", a, (cl) => cl.multiSession.listDeviceSessions(), { sortBy: byUserEmail });
await call("multiSession.setActive", a, (cl) => cl.multiSession.setActive({ sessionToken: aliceUp.token }));
await call("getSession (after setActive)", a, (cl) => cl.getSession());
await call("multiSession.setActive (unknown token)", a, (cl) => cl.multiSession.setActive({ sessionToken: "no-such-session-token" }));
await call("multiSession.revoke", a, (cl) => cl.multiSession.revoke({ sessionToken: bobUp.token }));
await call("multiSession.listDeviceSessions (after revoke)", a, (cl) => cl.multiSession.listDeviceSessions(), {
  sortBy: byUserEmail,
});
await call("getSession (after multiSession.revoke)", a, (cl) => cl.getSession());

// The user's own record and password, on device A (neither server has a
// mailer here, so no flow that needs one).
await call("updateUser", a, (cl) => cl.updateUser({ name: "Alice L.", image: "https://img.example/alice.png" }));
await call("getSession (after updateUser)", a, (cl) => cl.getSession());
await call("updateUser (email)", a, (cl) => cl.updateUser({ email: "eve@example.com" }));
await call("updateUser (nothing)", a, (cl) => cl.updateUser({}));
await call("changePassword (wrong current)", a, (cl) =>
  cl.changePassword({ currentPassword: "not-the-password", newPassword: "a-new-password" }),
);
await call("changePassword (too short)", a, (cl) => cl.changePassword({ currentPassword: password, newPassword: "short" }));
await call("changePassword", a, (cl) =>
  cl.changePassword({ currentPassword: password, newPassword: "a-new-password", revokeOtherSessions: true }),
);
await call("getSession (after changePassword)", a, (cl) => cl.getSession());
await call("signIn.email (old password)", b, (cl) => cl.signIn.email({ email: alice.email, password }));
await call("signIn.email (new password)", b, (cl) => cl.signIn.email({ email: alice.email, password: "a-new-password" }));

// Social sign-in with the loopback OpenID provider, on device D.
await call("signIn.social (unknown provider)", d, (cl) =>
  cl.signIn.social({ provider: "no-such-provider", callbackURL: "/after", disableRedirect: true }),
);
const social = await call("signIn.social", d, (cl) =>
  cl.signIn.social({ provider: providerId, callbackURL: "/after", disableRedirect: true }),
);
if (social?.url) {
  // What a browser does next: the provider's login and consent pages, then
  // the redirect back to the server's callback, with the device's cookies.
  const back = await loginAtProvider(social.url, d.jar);
  const cb = await request("GET", back, { jar: d.jar });
  calls.push({
    call: "callback (browser navigation)",
    device: d.name,
    data: { status: cb.status, location: cb.location === null ? null : normaliseURL(cb.location) },
    error: null,
    cookies: cookieNames(d),
  });
  await call("getSession (social)", d, (cl) => cl.getSession());
}

// Sign-out.
await call("signOut", a, (cl) => cl.signOut());
await call("getSession (after signOut)", a, (cl) => cl.getSession());
await call("signOut (social)", d, (cl) => cl.signOut());
await call("getSession (social, signed out)", d, (cl) => cl.getSession());

console.log(JSON.stringify({ baseURL: "<base>", calls }, null, 2));

/** Follows the provider's redirects and answers its forms; returns the URL it sends the browser back to. */
async function loginAtProvider(authorizationURL, jar) {
  const redirectURI = new URL(authorizationURL).searchParams.get("redirect_uri");
  let url = authorizationURL;
  for (let hop = 0; hop < 20; hop++) {
    const r = await request("GET", url, { jar });
    let next;
    if (r.status >= 300 && r.status < 400 && r.location) {
      next = new URL(r.location, url);
    } else {
      const form = r.status === 200 ? parseInteractionForm(r.text, url) : null;
      if (!form) throw new Error(`provider: no redirect or form at ${url}: ${r.status} ${r.text.slice(0, 300)}`);
      const fields = { ...form.hidden };
      if (fields.prompt === "login") Object.assign(fields, { login: oidcLogin, password: "any-password" });
      const p = await request("POST", form.action, { jar, form: fields });
      if (!(p.status >= 300 && p.status < 400 && p.location)) {
        throw new Error(`provider POST ${fields.prompt}: ${p.status} ${p.text.slice(0, 300)}`);
      }
      next = new URL(p.location, form.action);
    }
    if (`${next.origin}${next.pathname}` === redirectURI) return next.href;
    url = next.href;
  }
  throw new Error("provider: no redirect back within 20 hops");
}
