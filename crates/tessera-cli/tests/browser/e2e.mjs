// The built-in page of `tessera serve`, end to end in Debian's chromium,
// driven by playwright-core. Run by crates/tessera-cli/tests/ui_browser.rs,
// which starts the server and the OpenID provider and restarts the server
// when this script prints `TESSERA-RESTART` (it answers with a line on
// stdin). In the lifecycle scenario the server sends mail to an SMTP sink:
// `TESSERA-MAIL <to> <part of the link>` asks the test for the link of the
// mail it received for <to> (it answers with the link on stdin).
//
//   SCENARIO=full|stateless|lifecycle BASE=http://127.0.0.1:PORT ISSUER=http://127.0.0.1:PORT
//   SHOTS=<dir for screenshots> CHROMIUM=/usr/bin/chromium node e2e.mjs
//
// Prints `TESSERA-RESULT {"ok": true}` or `TESSERA-RESULT {"ok": false, "failure": "..."}`.

import readline from "node:readline";
import path from "node:path";
import { chromium } from "playwright-core";

const BASE = process.env.BASE;
const ISSUER = process.env.ISSUER;
const SHOTS = process.env.SHOTS;
const SCENARIO = process.env.SCENARIO || "full";
const PROVIDER_NAME = process.env.PROVIDER_NAME || "Test OP";
const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();

class Failure extends Error {}
const check = (cond, msg) => {
  if (!cond) throw new Failure(msg);
};
let shot = 0;
const screenshot = async (page, name) => {
  shot += 1;
  await page.screenshot({ path: path.join(SHOTS, `${String(shot).padStart(2, "0")}-${name}.png`), fullPage: true });
};
/** Asks the Rust side with one line; resolves with its one-line answer. */
const ask = async (line) => {
  console.log(line);
  const answer = await lines.next();
  check(!answer.done, `no answer to ${line}`);
  return answer.value.trim();
};
const restart = () => ask("TESSERA-RESTART");
/** The link in the mail the server sent to `to`, the one containing `part`. */
const mailedLink = (to, part) => ask(`TESSERA-MAIL ${to} ${part}`);

/**
 * Every request a context makes: its target's origin, the origin of the page
 * that made it, whether it is a navigation, and the step it was made in.
 * Requests beyond loopback are refused (the provider's own login page asks
 * for web fonts; this machine has no network, and the test needs none).
 */
const requests = [];
let step = "start";
const watch = async (context) => {
  await context.route("**/*", (route) => {
    const host = new URL(route.request().url()).hostname;
    return host === "127.0.0.1" || host === "localhost" ? route.continue() : route.abort();
  });
  context.on("request", (r) => {
    const url = new URL(r.url());
    if (url.protocol !== "http:" && url.protocol !== "https:") return;
    let from = null;
    try {
      from = new URL(r.frame().url()).origin;
    } catch {}
    requests.push({ origin: url.origin, from, navigation: r.isNavigationRequest(), step, url: r.url() });
  });
};

/**
 * What Tessera's page asks for stays on the server's origin; during the
 * OpenID step it may also navigate to the provider.
 */
const checkRequests = () => {
  for (const r of requests) {
    if (r.from !== BASE && !(r.navigation && r.origin === BASE)) continue; // the provider's own page
    const allowed = r.origin === BASE || (r.step === "openid" && r.navigation && r.origin === ISSUER);
    check(allowed, `the page made a request off the server's origin in step ${r.step}: ${r.url}`);
  }
};

const sessionCookie = async (context) =>
  (await context.cookies(BASE)).find((c) => c.name.endsWith("session_token"));

// Labels are matched exactly: "Password" is also part of "New password".
async function signUp(page, { name, email, password, remember }) {
  await page.getByLabel("Name", { exact: true }).fill(name);
  await page.getByLabel("Email", { exact: true }).fill(email);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("checkbox", { name: "Remember me" }).setChecked(remember);
  await page.getByRole("button", { name: "Sign up" }).click();
  await page.getByText(email).first().waitFor();
}

async function signIn(page, { email, password, remember = true }) {
  await page.getByLabel("Email", { exact: true }).fill(email);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("checkbox", { name: "Remember me" }).setChecked(remember);
  await page.getByRole("button", { name: "Sign in" }).click();
}

async function expectCookie(context, { remembered }) {
  const c = await sessionCookie(context);
  check(c, "no session_token cookie in the browser");
  check(c.httpOnly, "session_token is not HttpOnly");
  check(c.sameSite === "Lax", `session_token SameSite is ${c.sameSite}, not Lax`);
  const now = Date.now() / 1000;
  if (remembered) {
    check(c.expires > now + 6 * 86400 && c.expires <= now + 7 * 86400 + 60, `session_token expires at ${c.expires}, not in 7 days`);
  } else {
    check(c.expires === -1, `session_token has an expiry (${c.expires}) with Remember me off`);
  }
}

async function full(browser) {
  const context = await browser.newContext();
  await watch(context);
  const page = await context.newPage();

  step = "page";
  await page.goto(`${BASE}/`);
  await page.getByRole("button", { name: "Sign up" }).waitFor();
  await screenshot(page, "signed-out");

  step = "sign-up-alice";
  await signUp(page, { name: "Alice", email: "alice@example.com", password: "password1234", remember: true });
  await expectCookie(context, { remembered: true });
  await screenshot(page, "alice-signed-up");

  step = "verify-without-mailer";
  await expectVerified(page, false);
  await page.getByRole("button", { name: "Send verification email" }).click();
  await page.getByRole("alert").filter({ hasText: "Verification email isn't enabled" }).waitFor();

  step = "restart";
  await restart();
  await page.reload();
  await page.getByText("alice@example.com").first().waitFor();

  step = "add-bob";
  await page.getByRole("button", { name: "Add account" }).click();
  await signUp(page, { name: "Bob", email: "bob@example.com", password: "password1234", remember: false });
  await expectCookie(context, { remembered: false });
  await screenshot(page, "bob-added");

  step = "switch-to-alice";
  const switches = page.getByRole("button", { name: "Switch" });
  check((await switches.count()) === 1, `expected one Switch button, found ${await switches.count()}`);
  await switches.click();
  await page.getByText("alice@example.com").first().waitFor();
  await page.waitForFunction(() => document.body.innerText.includes("alice@example.com"));
  await screenshot(page, "switched-to-alice");

  step = "second-browser";
  const other = await browser.newContext();
  await watch(other);
  const otherPage = await other.newPage();
  await otherPage.goto(`${BASE}/`);
  await signIn(otherPage, { email: "alice@example.com", password: "password1234" });
  await otherPage.getByRole("button", { name: "Sign out" }).waitFor();

  step = "revoke";
  await page.reload();
  const revoke = page.getByRole("button", { name: "Revoke" });
  await revoke.first().waitFor();
  check((await revoke.count()) === 1, `expected one Revoke button (the other browser), found ${await revoke.count()}`);
  await screenshot(page, "two-sessions");
  await revoke.click();
  await page.waitForFunction(() => !Array.from(document.querySelectorAll("button")).some((b) => b.textContent.trim() === "Revoke"));
  await otherPage.reload();
  await otherPage.getByRole("button", { name: "Sign in" }).waitFor();
  await screenshot(otherPage, "other-browser-revoked");
  await other.close();

  step = "sign-out";
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("button", { name: "Sign in" }).waitFor();
  await screenshot(page, "signed-out-again");

  step = "wrong-password";
  await signIn(page, { email: "alice@example.com", password: "not-the-password" });
  const alert = page.getByRole("alert");
  await alert.filter({ hasText: "Invalid email or password" }).waitFor();
  await screenshot(page, "wrong-password");

  step = "forgot-without-mailer";
  await requestReset(page, "alice@example.com");
  await alert.filter({ hasText: "Reset password isn't enabled" }).waitFor();
  await screenshot(page, "reset-without-mailer");

  step = "openid";
  await page.getByRole("button", { name: `Continue with ${PROVIDER_NAME}` }).click();
  // oidc-provider's development login and consent forms.
  await page.waitForURL((u) => u.origin === ISSUER);
  await page.locator('input[name="login"]').fill("carol");
  await page.locator('input[name="password"]').fill("any-password");
  await page.locator('button[type="submit"]').click();
  await page.waitForURL((u) => u.origin === ISSUER && u.pathname.startsWith("/interaction"));
  await page.locator('button[type="submit"]').click();
  await page.waitForURL((u) => u.origin === BASE);
  await page.getByText("carol@example.com").first().waitFor();
  await screenshot(page, "signed-in-with-openid");

  checkRequests();
  check(requests.some((r) => r.origin === ISSUER), "the OpenID step never reached the provider");
  await context.close();
}

async function stateless(browser) {
  const context = await browser.newContext();
  await watch(context);
  const page = await context.newPage();
  step = "page";
  await page.goto(`${BASE}/`);
  step = "sign-up";
  await signUp(page, { name: "Dana", email: "dana@example.com", password: "password1234", remember: true });
  await expectCookie(context, { remembered: true });
  await screenshot(page, "stateless-signed-up");
  for (const round of [1, 2]) {
    step = `restart-${round}`;
    await restart();
    await page.reload();
    await page.getByText("dana@example.com").first().waitFor();
  }
  await screenshot(page, "stateless-after-restarts");
  step = "sign-out";
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("button", { name: "Sign in" }).waitFor();
  checkRequests();
  await context.close();
}

/** Whether the signed-in user shows as verified, and the button to verify only if not. */
async function expectVerified(page, verified) {
  const cell = page.locator("#user-verified");
  await page.waitForFunction(
    (want) => document.getElementById("user-verified").textContent === want,
    verified ? "Yes" : "No",
  );
  check((await cell.textContent()) === (verified ? "Yes" : "No"), "the verified state");
  const send = page.getByRole("button", { name: "Send verification email" });
  check((await send.count()) === (verified ? 0 : 1), `Send verification email shown: ${await send.count()}`);
}

/** "Forgot password?" with `email`, signed out. */
async function requestReset(page, email) {
  const forgot = page.getByRole("region", { name: "Forgot password" });
  if (!(await forgot.isVisible())) {
    await page.getByRole("button", { name: "Forgot password?" }).click();
  }
  await forgot.getByLabel("Account email").fill(email);
  await forgot.getByRole("button", { name: "Send reset link" }).click();
}

/** Change password with a wrong current password, a short one, then the right one. */
async function changePassword(page, { current, next, revokeOthers }) {
  const change = page.getByRole("region", { name: "Change password" });
  const alert = page.getByRole("alert");
  const submit = async (currentPassword, newPassword, revoke) => {
    await change.getByLabel("Current password").fill(currentPassword);
    await change.getByLabel("New password").fill(newPassword);
    await change.getByRole("checkbox", { name: "Sign out other sessions" }).setChecked(revoke);
    await change.getByRole("button", { name: "Change password" }).click();
  };
  await submit("not-the-password", next, false);
  await alert.filter({ hasText: "Invalid password" }).waitFor();
  await screenshot(page, "change-password-wrong-current");
  await submit(current, "short", false);
  await alert.filter({ hasText: "Password too short" }).waitFor();
  await submit(current, next, revokeOthers);
  await change.getByRole("status").filter({ hasText: "Your password has been changed" }).waitFor();
  if (await alert.isVisible()) throw new Failure(`an alert after the change: ${await alert.textContent()}`);
  await screenshot(page, "password-changed");
}

async function lifecycle(browser) {
  const email = "erin@example.com";
  const context = await browser.newContext();
  await watch(context);
  const page = await context.newPage();
  const alert = page.getByRole("alert");

  step = "page";
  await page.goto(`${BASE}/`);
  step = "sign-up";
  await signUp(page, { name: "Erin", email, password: "password1234", remember: true });
  await expectVerified(page, false);
  await screenshot(page, "lifecycle-signed-up");

  step = "second-browser";
  const other = await browser.newContext();
  await watch(other);
  const otherPage = await other.newPage();
  await otherPage.goto(`${BASE}/`);
  await signIn(otherPage, { email, password: "password1234" });
  await otherPage.getByRole("button", { name: "Sign out" }).waitFor();

  step = "change-password";
  await changePassword(page, { current: "password1234", next: "password5678", revokeOthers: true });
  await otherPage.reload();
  await otherPage.getByRole("button", { name: "Sign in" }).waitFor();
  await other.close();
  await page.reload();
  await page.getByRole("button", { name: "Sign out" }).waitFor();
  check((await page.getByRole("button", { name: "Revoke" }).count()) === 0, "the other session survived the change");

  step = "sign-in-after-change";
  await page.getByRole("button", { name: "Sign out" }).click();
  await signIn(page, { email, password: "password1234" });
  await alert.filter({ hasText: "Invalid email or password" }).waitFor();
  await signIn(page, { email, password: "password5678" });
  await page.getByRole("button", { name: "Sign out" }).waitFor();

  step = "verify-email";
  await page.getByRole("button", { name: "Send verification email" }).click();
  const verifyRegion = page.getByRole("region", { name: "Verify your email address" });
  await verifyRegion.getByRole("status").filter({ hasText: `A verification link has been sent to ${email}` }).waitFor();
  const verifyLink = await mailedLink(email, "/verify-email?");
  check(verifyLink.startsWith(`${BASE}/api/auth/verify-email?token=`), `the verification link is ${verifyLink}`);
  await page.goto(verifyLink);
  await page.getByRole("status").filter({ hasText: "Your email address is verified." }).waitFor();
  await expectVerified(page, true);
  check(page.url() === `${BASE}/`, `the address bar still holds the link's query: ${page.url()}`);
  await screenshot(page, "email-verified");

  step = "verify-bad-link";
  const callback = encodeURIComponent("/?view=verify-email");
  await page.goto(`${BASE}/api/auth/verify-email?token=not-a-token&callbackURL=${callback}`);
  await alert.filter({ hasText: "This verification link is invalid. (INVALID_TOKEN)" }).waitFor();
  check((await page.getByText("Your email address is verified.").count()) === 0, "a bad link shows as verified");

  step = "forgot-password";
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("button", { name: "Sign in" }).waitFor();
  await requestReset(page, email);
  await page
    .getByRole("region", { name: "Forgot password" })
    .getByRole("status")
    .filter({ hasText: "If this email exists in our system, check your email for the reset link" })
    .waitFor();
  await screenshot(page, "reset-requested");

  step = "reset-password";
  const resetLink = await mailedLink(email, "/reset-password/");
  check(resetLink.startsWith(`${BASE}/api/auth/reset-password/`), `the reset link is ${resetLink}`);
  await page.goto(resetLink);
  const reset = page.getByRole("region", { name: "Set a new password" });
  await reset.getByLabel("New password").waitFor();
  check(!page.url().includes("token="), `the token stays in the address bar: ${page.url()}`);
  await screenshot(page, "reset-form");
  await reset.getByLabel("New password").fill("password9012");
  await reset.getByRole("button", { name: "Set new password" }).click();
  await reset.getByRole("status").filter({ hasText: "Your password has been reset" }).waitFor();
  await screenshot(page, "password-reset");

  step = "sign-in-after-reset";
  await signIn(page, { email, password: "password5678" });
  await alert.filter({ hasText: "Invalid email or password" }).waitFor();
  await signIn(page, { email, password: "password9012" });
  await page.getByRole("button", { name: "Sign out" }).waitFor();
  await expectVerified(page, true);

  step = "reset-link-spent";
  await page.goto(resetLink);
  await alert.filter({ hasText: "(INVALID_TOKEN)" }).waitFor();
  check(await reset.isHidden(), "a spent link opens the reset form");
  await screenshot(page, "reset-link-spent");

  checkRequests();
  await context.close();
}

let result;
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true });
try {
  if (SCENARIO === "stateless") await stateless(browser);
  else if (SCENARIO === "lifecycle") await lifecycle(browser);
  else await full(browser);
  result = { ok: true };
} catch (e) {
  result = { ok: false, failure: `step ${step}: ${e instanceof Failure ? e.message : String(e.stack || e)}` };
} finally {
  await browser.close();
}
console.log("TESSERA-RESULT " + JSON.stringify(result));
process.exit(0);
