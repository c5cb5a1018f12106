// Passkeys in a real browser: Debian's chromium with a virtual authenticator (DevTools protocol: CTAP2, internal
// transport, resident keys, user verification). A user signs in with the password, adds a passkey on
// /account/passkeys, signs out, then signs in with the passkey alone (no username, no password) from a pysaml2
// SP's login, and arrives at the SP with https://refeds.org/profile/mfa as the AuthnContextClassRef.
// The server runs with SESAME_BASE_URL=http://localhost:PORT: browsers refuse an IP address as the relying party ID.
// Screenshots (laptop and phone) go to target/screenshots/.
//
// Run by `make test-browser` (SESAME_BIN names the debug binary; PYTHON the venv with pysaml2).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, openSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";

const ROOT = resolve(import.meta.dirname, "../..");
const SESAME = process.env.SESAME_BIN ?? join(ROOT, "target/debug/sesame");
const PYTHON = process.env.PYTHON ?? join(ROOT, ".venv/bin/python");
const SHOTS = process.env.SCREENSHOT_DIR ?? join(ROOT, "target/screenshots");
const LAPTOP = { width: 1280, height: 800 };
const PHONE = { width: 375, height: 812 };
const USER = { username: "pia", email: "pia@example.com", password: "pia's long passphrase" };
const ADMIN = { username: "ops", password: "console admin passphrase 1" };
const APP = "demo";
const GROUP = "staff";
const MFA = "https://refeds.org/profile/mfa";

let work, env, idp, direct, sp, browser;
const children = [];
const problems = []; // console errors and CSP violations seen on our pages

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.on("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

async function waitFor(url, what, proc) {
  const deadline = Date.now() + 60_000;
  let last = "no answer";
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`${what} exited with ${proc.exitCode}: ${tail(proc.logFile)}`);
    try {
      const r = await fetch(url);
      if (r.ok) return;
      last = `HTTP ${r.status}`;
    } catch (e) {
      last = String(e.cause ?? e);
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`${what} not ready at ${url} (${last}): ${tail(proc.logFile)}`);
}

function tail(file) {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-40).join("\n");
  } catch {
    return "";
  }
}

function start(cmd, args, childEnv, logFile) {
  const log = openSync(logFile, "a");
  const proc = spawn(cmd, args, { env: childEnv, cwd: work, stdio: ["ignore", log, log] });
  proc.logFile = logFile;
  children.push(proc);
  return proc;
}

function sesame(args, input) {
  const run = spawnSync(SESAME, args, { env, cwd: work, input, encoding: "utf8" });
  assert.equal(run.status, 0, `sesame ${args.join(" ")}: ${run.stderr}`);
  return run.stdout;
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), "sesame-passkey-"));
  mkdirSync(SHOTS, { recursive: true });
  const idpPort = await freePort();
  const spPort = await freePort();
  // The browser's origin is localhost (a host name, as WebAuthn requires); the harness talks to the address.
  idp = `http://localhost:${idpPort}`;
  direct = `http://127.0.0.1:${idpPort}`;
  sp = `http://127.0.0.1:${spPort}`;
  env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("SESAME_")));
  Object.assign(env, {
    SESAME_BIND: `127.0.0.1:${idpPort}`,
    SESAME_BASE_URL: idp,
    SESAME_DATA_DIR: join(work, "data"),
    SESAME_CERTS_DIR: join(work, "certs"),
    SESAME_SP_METADATA_DIR: join(work, "sp-metadata"),
  });
  for (const d of ["data", "certs", "sp-metadata"]) mkdirSync(join(work, d));
  const server = start(SESAME, ["serve"], env, join(work, "sesame.log"));
  await waitFor(`${direct}/healthz`, "sesame serve", server);
  const spProc = start(
    PYTHON,
    [join(ROOT, "tests/peers/sp_server.py"), "--port", String(spPort), "--idp-metadata-url", `${direct}/saml2/${APP}/metadata`],
    process.env,
    join(work, "sp.log"),
  );
  await waitFor(`${sp}/metadata`, "the pysaml2 SP", spProc);
  sesame(["user", "add", USER.username, "--email", USER.email, "--display-name", "Pia", "--password-stdin"], USER.password);
  sesame(["group", "add", GROUP]);
  sesame(["group", "add-member", GROUP, USER.username]);
  sesame(["app", "import", APP, "--metadata", `${sp}/metadata`]);
  sesame(["app", "bind", APP, GROUP]);
  sesame(["admin", "add", ADMIN.username, "--password-stdin"], ADMIN.password);
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--no-first-run",
      "--disable-quic",
      "--disable-sync",
    ],
  });
});

after(async () => {
  await browser?.close();
  for (const p of children) {
    if (p.exitCode === null) p.kill("SIGTERM");
  }
  await Promise.all(children.map((p) => (p.exitCode === null ? new Promise((r) => p.once("exit", r)) : null)));
  if (process.exitCode && work) {
    console.error(`sesame log:\n${tail(join(work, "sesame.log"))}\nsp log:\n${tail(join(work, "sp.log"))}`);
  }
  if (work) rmSync(work, { recursive: true, force: true });
});

/** A page in a fresh profile with a virtual platform authenticator (resident keys, user verification). */
async function pageWithAuthenticator() {
  const context = await browser.newContext({ viewport: LAPTOP });
  const page = await context.newPage();
  page.on("console", (m) => {
    if (m.type() === "error" && page.url().startsWith(idp)) problems.push(`${page.url()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`${page.url()}: ${e}`));
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return { context, page, cdp, authenticatorId };
}

async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** The same page at phone width, full height, and a check that nothing is wider than the screen. */
async function phoneShot(context, url, name) {
  const page = await context.newPage();
  await page.setViewportSize(PHONE);
  await page.goto(url);
  await shot(page, `${name}-phone`);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `${url} is ${overflow}px wider than a 375px screen`);
  await page.close();
}

test("a passkey added on /account/passkeys signs the user in alone, and the SP is told it was MFA", async () => {
  const { context, page, cdp, authenticatorId } = await pageWithAuthenticator();

  // The password first: adding a passkey needs a recent sign-in.
  await page.goto(`${idp}/account/passkeys`);
  await page.waitForURL(/\/login\?continue=/);
  assert.ok(await page.getByRole("button", { name: "Sign in with a passkey" }).isVisible());
  await shot(page, "passkey-01-login");
  await phoneShot(context, `${idp}/login`, "passkey-01-login");
  await page.getByLabel("Username").fill(USER.username);
  await page.getByLabel("Password").fill(USER.password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.waitForURL(`${idp}/account/passkeys`);
  await shot(page, "passkey-02-account-empty");

  // Add a passkey: the virtual authenticator creates a resident credential with user verification.
  await page.getByLabel("Name", { exact: true }).fill("Work laptop");
  await page.getByRole("button", { name: "Add a passkey" }).click();
  const row = page.locator("#credentials tbody tr", { hasText: "Work laptop" });
  const status = page.locator("#passkey-status");
  await Promise.race([row.waitFor(), status.waitFor()]);
  assert.ok(await status.isHidden(), `adding the passkey failed: ${await status.textContent()}`);
  assert.match(await row.textContent(), /passkey/);
  assert.match(await row.textContent(), /never/);
  const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
  assert.equal(credentials.length, 1);
  assert.equal(credentials[0].isResidentCredential, true, "a passkey is a discoverable credential");
  // The first factor brings the ten recovery codes, shown this once.
  assert.equal(await page.locator("#recovery-codes li").count(), 10);
  await shot(page, "passkey-03-account-added");
  await phoneShot(context, `${idp}/account/passkeys`, "passkey-03-account-added");

  // Sign out, then start at the SP: the IdP's sign-in page, where the passkey alone signs in.
  await page.goto(`${idp}/`);
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForLoadState();
  await page.goto(`${sp}/login`);
  await page.waitForURL(/\/login\?continue=/);
  await shot(page, "passkey-04-login-from-sp");
  await page.getByRole("button", { name: "Sign in with a passkey" }).click();
  await page.waitForURL(`${sp}/acs`);
  assert.match(await page.locator("#who").textContent(), /Signed in as/);
  assert.equal((await page.locator("#authn-context").textContent()).trim(), MFA);
  await shot(page, "passkey-05-sp-mfa");

  // The account page shows the passkey as used; the events tell the story.
  await page.goto(`${idp}/account/passkeys`);
  assert.doesNotMatch(await page.locator("#credentials tbody tr", { hasText: "Work laptop" }).textContent(), /never/);
  const events = sesame(["events", "--user", USER.username, "--json"]);
  for (const name of ["user_mfa_enrol", "user_mfa_success", "sso_login"]) {
    assert.ok(events.includes(`"${name}"`), `${name} is recorded: ${events}`);
  }
  assert.ok(events.includes("passkey with user verification"), events);

  assert.deepEqual(problems, []);
  await context.close();
});

test("an administrator adds a security key on the console's account page and signs in with it instead of TOTP", async () => {
  const { context, page } = await pageWithAuthenticator();
  const adminPassword = async () => {
    await page.goto(`${idp}/admin/login`);
    await page.getByLabel("Username").fill(ADMIN.username);
    await page.getByLabel("Password").fill(ADMIN.password);
    await page.getByRole("button", { name: "Sign in" }).click();
  };
  await adminPassword();
  await page.waitForURL(`${idp}/admin`);
  await page.goto(`${idp}/admin/account`);
  await page.getByLabel("Name", { exact: true }).fill("Desk key");
  await page.getByRole("button", { name: "Add a security key" }).click();
  const item = page.locator("#admin-keys li", { hasText: "Desk key" });
  const status = page.locator("#passkey-status");
  await Promise.race([item.waitFor(), status.waitFor()]);
  assert.ok(await status.isHidden(), `adding the key failed: ${await status.textContent()}`);
  assert.match(await item.textContent(), /security key/);
  await shot(page, "passkey-06-console-account");
  await phoneShot(context, `${idp}/admin/account`, "passkey-06-console-account");

  // Signed out, the password alone no longer opens the console: the key does.
  await context.clearCookies();
  await adminPassword();
  const useKey = page.getByRole("button", { name: "Use a security key or passkey" });
  await useKey.waitFor();
  await shot(page, "passkey-07-console-second-step");
  await useKey.click();
  await page.waitForURL(`${idp}/admin`);
  const events = sesame(["events", "--name", "admin_login", "--json"]);
  assert.ok(events.includes("password and security key"), events);
  assert.deepEqual(problems, []);
  await context.close();
});
