// Strong sign-in in a real browser (Debian's chromium, driven by playwright-core), on loopback: a user enrols an
// authenticator app on /account with a code computed here from the page's secret (RFC 6238), signs in with
// password + TOTP and with password + a recovery code, and a session that signed in with the password alone is
// stepped up by an application with require_mfa (refused first with a wrong code and a used code) before the
// pysaml2 SP gets its response. Screenshots of each page at laptop and phone size go to SCREENSHOT_DIR, and every
// page is checked for horizontal overflow on a 375 px screen.
//
// Run by `make test-browser` (SESAME_BIN names the debug binary; PYTHON the venv with pysaml2).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdtempSync, mkdirSync, rmSync, openSync, readFileSync, writeFileSync } from "node:fs";
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
const USER = { username: "mira", email: "mira@example.com", password: "mira's long passphrase" };
const APP = { name: "mfa-demo", label: "MFA Demo SP" };

let work, idp, sp, env, browser;
const children = [];
const problems = [];

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

function tail(file) {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-40).join("\n");
  } catch {
    return "";
  }
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

function start(cmd, args, environment, logFile) {
  const log = openSync(logFile, "a");
  const proc = spawn(cmd, args, { env: environment, cwd: work, stdio: ["ignore", log, log] });
  proc.logFile = logFile;
  children.push(proc);
  return proc;
}

function cli(args, input) {
  const run = spawnSync(SESAME, args, { env, cwd: work, input, encoding: "utf8" });
  assert.equal(run.status, 0, `sesame ${args.join(" ")}: ${run.stderr}`);
  return run.stdout;
}

/** RFC 6238 (HMAC-SHA-1, 6 digits, 30-second steps) for `secret` (base32) at Unix time `at` seconds. */
function totp(secret, at) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of secret.replace(/=+$/, "")) bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 30)));
  const digest = createHmac("sha1", key).update(counter).digest();
  const offset = digest[digest.length - 1] & 0x0f;
  return String((digest.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, "0");
}

const now = () => Date.now() / 1000;

before(async () => {
  assert.equal(totp("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", 59), "287082", "RFC 6238 Appendix B");
  work = mkdtempSync(join(tmpdir(), "sesame-mfa-browser-"));
  mkdirSync(SHOTS, { recursive: true });
  const idpPort = await freePort();
  const spPort = await freePort();
  idp = `http://127.0.0.1:${idpPort}`;
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
  await waitFor(`${idp}/healthz`, "sesame serve", server);
  const spProc = start(
    PYTHON,
    [join(ROOT, "tests/peers/sp_server.py"), "--port", String(spPort), "--idp-metadata-url", `${idp}/saml2/${APP.name}/metadata`],
    process.env,
    join(work, "sp.log"),
  );
  await waitFor(`${sp}/metadata`, "the pysaml2 SP", spProc);
  // The directory and an application that requires MFA, from the command line.
  writeFileSync(join(work, "sp.xml"), await (await fetch(`${sp}/metadata`)).text());
  writeFileSync(join(work, "sp.toml"), `display_label = "${APP.label}"\nrequire_mfa = true\n`);
  cli(["user", "add", USER.username, "--email", USER.email, "--display-name", "Mira", "--password-stdin"], USER.password);
  cli(["group", "add", "mfa-users"]);
  cli(["group", "add-member", "mfa-users", USER.username]);
  cli(["app", "import", APP.name, "--metadata", join(work, "sp.xml"), "--settings", join(work, "sp.toml")]);
  cli(["app", "bind", APP.name, "mfa-users"]);
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

async function newPage() {
  const context = await browser.newContext({ viewport: LAPTOP });
  const page = await context.newPage();
  page.on("console", (m) => {
    // Refusals (401 for a wrong code) are expected statuses; anything else logged as an error is a fault.
    const expected = /Failed to load resource: the server responded with a status of 40[01]/.test(m.text());
    if (m.type() === "error" && page.url().startsWith(idp) && !expected) problems.push(`${page.url()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`${page.url()}: ${e}`));
  return page;
}

async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, `mfa-${name}.png`), fullPage: true });
}

/** The page as it is now, at laptop size and then at phone size, with no horizontal overflow on the phone. */
async function shots(page, name) {
  await shot(page, name);
  await page.setViewportSize(PHONE);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `${page.url()} is ${overflow}px wider than a 375px screen`);
  await shot(page, `${name}-phone`);
  await page.setViewportSize(LAPTOP);
}

async function passwordStep(page, next = "/") {
  await page.goto(`${idp}${next}`);
  await page.getByLabel("Username").fill(USER.username);
  await page.getByLabel("Password").fill(USER.password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

test("TOTP enrolled on /account; password + TOTP, password + recovery code, and a step-up for a require_mfa app", async () => {
  // A browser signed in with the password alone, before any factor exists.
  const early = await newPage();
  await passwordStep(early);
  await early.waitForURL(`${idp}/`);

  // Enrolment on /account, reached from the portal.
  const owner = await newPage();
  await passwordStep(owner);
  await owner.waitForURL(`${idp}/`);
  await owner.getByRole("link", { name: "Mira" }).click();
  await owner.waitForURL(`${idp}/account`);
  await shots(owner, "01-account");
  await owner.getByRole("button", { name: "Set up an authenticator app" }).click();
  await owner.waitForURL(`${idp}/account#totp`);
  const secret = (await owner.locator("#totp-secret").textContent()).trim();
  assert.match(await owner.getByRole("textbox", { name: "otpauth URI" }).inputValue(), new RegExp(`secret=${secret}&`));
  await shots(owner, "02-account-totp-setup");
  // The previous step's code (inside the window): the next sign-ins use later steps, each accepted once.
  await owner.getByLabel("Code from the app").fill(totp(secret, now() - 30));
  await owner.getByRole("button", { name: "Turn on" }).click();
  const codes = (await owner.locator("#recovery-codes code").allTextContents()).map((c) => c.trim());
  assert.equal(codes.length, 10, "ten recovery codes, shown once");
  await shots(owner, "03-recovery-codes");
  await owner.getByRole("link", { name: "Continue" }).click();
  await owner.waitForURL(`${idp}/account`);
  assert.match(await owner.textContent("main"), /10 unused recovery codes/);
  await shots(owner, "04-account-totp-on");

  // Password + TOTP.
  const withCode = await newPage();
  await passwordStep(withCode);
  await withCode.waitForURL(/\/login\/factor/);
  await shots(withCode, "05-factor");
  const signInCode = totp(secret, now());
  await withCode.getByLabel("One-time code").fill(signInCode);
  await withCode.getByRole("button", { name: "Verify" }).click();
  await withCode.waitForURL(`${idp}/`);

  // Password + a recovery code.
  const withRecovery = await newPage();
  await passwordStep(withRecovery);
  await withRecovery.waitForURL(/\/login\/factor/);
  await withRecovery.getByText("Use a recovery code").click();
  await withRecovery.getByLabel("Recovery code").fill(codes[0]);
  await shots(withRecovery, "06-factor-recovery");
  await withRecovery.getByRole("button", { name: "Use recovery code" }).click();
  await withRecovery.waitForURL(`${idp}/`);

  // The password-only session opens the require_mfa application: stepped up first.
  await early.goto(`${idp}/saml2/${APP.name}`);
  await early.waitForURL(/\/login\/factor/);
  assert.match(await early.textContent("h1"), /Confirm it is you/);
  await shots(early, "07-step-up");
  await early.getByLabel("One-time code").fill("000000");
  await early.getByRole("button", { name: "Verify" }).click();
  assert.match(await early.getByRole("alert").textContent(), /This code is not right/);
  await shots(early, "08-step-up-wrong-code");
  await early.getByLabel("One-time code").fill(signInCode);
  await early.getByRole("button", { name: "Verify" }).click();
  assert.match(await early.getByRole("alert").textContent(), /already used/);
  await shots(early, "09-step-up-used-code");
  await early.getByLabel("One-time code").fill(totp(secret, now() + 30));
  await early.getByRole("button", { name: "Verify" }).click();
  await early.waitForURL(`${sp}/acs`);
  assert.equal((await early.textContent("#who")).trim(), `Signed in as ${USER.email}`);
  await shot(early, "10-sp-signed-in");

  const events = cli(["events", "--json", "--limit", "200"]);
  for (const name of ["user_mfa_enrol", "user_mfa_success", "user_mfa_recovery_use", "user_mfa_failed", "user_mfa_step_up"]) {
    assert.ok(events.includes(`"${name}"`), `event ${name}`);
  }
  assert.deepEqual(problems, [], "no script errors or CSP violations");
});
