// The admin console and the portal in a real browser (Debian's chromium, driven by playwright-core), on loopback:
// an administrator signs in, creates users, an application from a pysaml2 SP's metadata URL, a group bound to it
// and a membership; the member signs in at the portal, clicks the tile and arrives signed in at the SP; a user
// outside the group is denied; the events page shows all of it. The tile's logo is uploaded on the General tab
// (an SVG refused) and rendered on the portal. Then the SSO tab's certificates (a staged next one)
// and encryption, a second application from the SP's metadata uploaded as a file, one from a catalog connector with
// its Identity Management tab, a read-only API token created and shown once, and a TOTP set-up started on the
// account page. Screenshots of every page (laptop and phone) go to target/screenshots/ for review.
//
// Run by `make test-browser` (SESAME_BIN names the debug binary; PYTHON the venv with pysaml2).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
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
const ADMIN = { username: "ops", password: "console admin passphrase 1" };
const MEMBER = { username: "dana", email: "dana@example.com", password: "dana's long password" };
const OUTSIDER = { username: "erin", email: "erin@example.com", password: "erin's long password" };
const APP = { name: "demo", label: "Demo SP" };
const GROUP = "sp-users";
// A 1x1 PNG: an image the browser really decodes, for the portal tile logo.
const LOGO_PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

let work, idp, sp, browser;
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

function start(cmd, args, env, logFile) {
  const log = openSync(logFile, "a");
  const proc = spawn(cmd, args, { env, cwd: work, stdio: ["ignore", log, log] });
  proc.logFile = logFile;
  children.push(proc);
  return proc;
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), "sesame-browser-"));
  mkdirSync(SHOTS, { recursive: true });
  const idpPort = await freePort();
  const spPort = await freePort();
  idp = `http://127.0.0.1:${idpPort}`;
  sp = `http://127.0.0.1:${spPort}`;
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("SESAME_")));
  Object.assign(env, {
    SESAME_BIND: `127.0.0.1:${idpPort}`,
    SESAME_BASE_URL: idp,
    SESAME_DATA_DIR: join(work, "data"),
    SESAME_CERTS_DIR: join(work, "certs"),
    SESAME_SP_METADATA_DIR: join(work, "sp-metadata"),
  });
  for (const d of ["data", "certs", "sp-metadata"]) mkdirSync(join(work, d));
  const add = spawnSync(SESAME, ["admin", "add", ADMIN.username, "--password-stdin"], {
    env,
    cwd: work,
    input: ADMIN.password,
    encoding: "utf8",
  });
  assert.equal(add.status, 0, `sesame admin add: ${add.stderr}`);
  const server = start(SESAME, ["serve"], env, join(work, "sesame.log"));
  await waitFor(`${idp}/healthz`, "sesame serve", server);
  const spProc = start(
    PYTHON,
    [join(ROOT, "tests/peers/sp_server.py"), "--port", String(spPort), "--idp-metadata-url", `${idp}/saml2/${APP.name}/metadata`],
    process.env,
    join(work, "sp.log"),
  );
  await waitFor(`${sp}/metadata`, "the pysaml2 SP", spProc);
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
    // playwright gives every launch a new empty --user-data-dir of its own (it refuses one in args).
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

/** A fresh browser profile (own cookies), watching for script errors and CSP violations on our origin. */
async function newPage(viewport = LAPTOP) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.on("console", (m) => {
    // A refusal page's own status (403) is expected; anything else logged as an error is a fault of the page.
    const expected = m.text().startsWith("Failed to load resource: the server responded with a status of 403");
    if (m.type() === "error" && page.url().startsWith(idp) && !expected) problems.push(`${page.url()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`${page.url()}: ${e}`));
  return page;
}

async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** The same page at phone width, full height, and a check that nothing is wider than the screen. */
async function phoneShot(context, url, name) {
  const page = await context.newPage();
  await page.setViewportSize(PHONE);
  await page.goto(url);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `${url} is ${overflow}px wider than a 375px screen`);
  await shot(page, `${name}-phone`);
  await page.close();
}

async function adminSignIn(page) {
  await page.goto(`${idp}/admin/login`);
  await shot(page, "01-admin-login");
  await page.getByLabel("Username").fill(ADMIN.username);
  await page.getByLabel("Password").fill(ADMIN.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${idp}/admin`);
}

async function flash(page) {
  return (await page.locator(".flash").textContent())?.trim();
}

async function portalSignIn(page, user) {
  await page.goto(`${idp}/`);
  await page.getByLabel("Username").fill(user.username);
  await page.getByLabel("Password").fill(user.password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

test("an admin sets up an application in the console; a member signs in to the SP, an outsider is denied", async () => {
  const admin = await newPage();
  await adminSignIn(admin);
  await shot(admin, "02-dashboard");

  // Users, created through the console.
  for (const u of [MEMBER, OUTSIDER]) {
    await admin.goto(`${idp}/admin/users`);
    await admin.getByLabel("Username").fill(u.username);
    await admin.getByLabel("Email").fill(u.email);
    await admin.getByLabel("Display name").fill(u.username[0].toUpperCase() + u.username.slice(1));
    await admin.getByLabel("Password").fill(u.password);
    await admin.getByRole("button", { name: "Add user" }).click();
    await admin.waitForURL(`${idp}/admin/users/${u.username}`);
    assert.equal(await flash(admin), `User ${u.username} created.`);
  }
  await shot(admin, "03-user");
  await admin.goto(`${idp}/admin/users`);
  await shot(admin, "04-users");

  // The application, from the SP's metadata URL.
  await admin.goto(`${idp}/admin/apps`);
  await shot(admin, "05-apps-empty");
  await admin.getByRole("link", { name: "+ Add New Application" }).click();
  await admin.waitForURL(`${idp}/admin/apps/new`);
  await admin.getByLabel("Name (in the IdP URL; fixed once created)").fill(APP.name);
  await admin.getByLabel("Display label").first().fill(APP.label);
  await admin.getByLabel("SP metadata URL").fill(`${sp}/metadata`);
  await shot(admin, "06-app-new");
  await admin.getByRole("button", { name: "Create from metadata" }).click();
  await admin.waitForURL(`${idp}/admin/apps/${APP.name}?tab=sso`);
  assert.equal(await flash(admin), `Application ${APP.name} created.`);
  const body = await admin.textContent("main");
  assert.ok(body.includes(`${idp}/saml2/${APP.name}`), "the SSO tab shows the IdP URL");
  assert.ok(body.includes(`${sp}/metadata`), "the SSO tab shows the SP entity ID");
  assert.ok(body.includes(`${sp}/acs`), "the SSO tab shows the ACS URL");
  assert.equal(await admin.getByLabel("Metadata URL").inputValue(), `${idp}/saml2/${APP.name}/metadata`);
  await shot(admin, "07-app-sso");

  // A group, bound to the application; the member joins it.
  await admin.goto(`${idp}/admin/groups`);
  await admin.getByLabel("Name").fill(GROUP);
  await admin.getByRole("button", { name: "Add group" }).click();
  await admin.waitForURL(`${idp}/admin/groups/${GROUP}`);
  await admin.goto(`${idp}/admin/apps/${APP.name}?tab=groups`);
  await admin.getByLabel("Bind group").selectOption(GROUP);
  await admin.getByRole("button", { name: "Bind", exact: true }).click();
  await admin.waitForURL(`${idp}/admin/apps/${APP.name}?tab=groups`);
  assert.equal(await flash(admin), `Group ${GROUP} bound.`);
  await shot(admin, "08-app-groups");
  await admin.goto(`${idp}/admin/groups/${GROUP}`);
  await admin.getByLabel("Add user").fill(MEMBER.username);
  await admin.getByRole("button", { name: "Add member" }).click();
  assert.equal(await flash(admin), `${MEMBER.username} added.`);
  await shot(admin, "09-group");
  await admin.goto(`${idp}/admin/apps`);
  await shot(admin, "10-apps");
  await admin.goto(`${idp}/admin/apps/${APP.name}?tab=general`);
  await admin.getByLabel("Description").fill("The pysaml2 test SP");
  await admin.getByLabel("Portal tile colour").selectOption("green");
  await admin.getByRole("button", { name: "Save", exact: true }).click();
  assert.equal(await flash(admin), "Saved.");
  // A portal tile logo: an SVG is refused (it could carry script), a PNG is taken and shown on the tab.
  const svgFile = join(work, "logo.svg");
  writeFileSync(svgFile, '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>');
  await admin.getByLabel("PNG, JPEG or WebP image, at most 256 KiB (SVG is not accepted)").setInputFiles(svgFile);
  await admin.getByRole("button", { name: "Upload logo" }).click();
  assert.match(await flash(admin), /not a PNG, JPEG or WebP image \(it looks like SVG\)/);
  const pngFile = join(work, "logo.png");
  writeFileSync(pngFile, Buffer.from(LOGO_PNG, "base64"));
  await admin.getByLabel("PNG, JPEG or WebP image, at most 256 KiB (SVG is not accepted)").setInputFiles(pngFile);
  await admin.getByRole("button", { name: "Upload logo" }).click();
  assert.equal(await flash(admin), "Logo saved (PNG, 1 KiB).");
  assert.equal(await admin.locator("#logo img").evaluate((img) => img.naturalWidth), 1, "the tab shows the logo");
  await shot(admin, "11-app-general");

  // The member: portal, tile, signed in at the SP (pysaml2 validated the response).
  const member = await newPage();
  await portalSignIn(member, MEMBER);
  await member.waitForURL(`${idp}/`);
  // The tile shows the uploaded logo, loaded from our origin under the portal's CSP.
  const tileLogo = member.getByRole("link", { name: APP.label }).locator("img.tile-img");
  assert.match(await tileLogo.getAttribute("src"), new RegExp(`^/logos/${APP.name}\\?v=[0-9a-f]{16}$`));
  assert.equal(await tileLogo.evaluate((img) => img.complete && img.naturalWidth), 1, "the logo rendered");
  await shot(member, "12-portal");
  await member.getByRole("link", { name: APP.label }).click();
  await member.waitForURL(`${sp}/acs`);
  assert.equal((await member.textContent("#who")).trim(), `Signed in as ${MEMBER.email}`);
  await shot(member, "13-sp-signed-in");
  // SP-initiated as well, in a new browser.
  const spStart = await newPage();
  await spStart.goto(`${sp}/login`);
  await spStart.getByLabel("Username").fill(MEMBER.username);
  await spStart.getByLabel("Password").fill(MEMBER.password);
  await shot(spStart, "14-login-from-sp");
  await spStart.getByRole("button", { name: "Sign in" }).click();
  await spStart.waitForURL(`${sp}/acs`);
  assert.equal((await spStart.textContent("#who")).trim(), `Signed in as ${MEMBER.email}`);

  // The outsider: no tile, and the application refuses with a page that says why.
  const outsider = await newPage();
  await portalSignIn(outsider, OUTSIDER);
  await outsider.waitForURL(`${idp}/`);
  assert.equal(await outsider.getByRole("link", { name: APP.label }).count(), 0, "no tile for the outsider");
  await shot(outsider, "15-portal-empty");
  const denied = await outsider.goto(`${idp}/saml2/${APP.name}`);
  assert.equal(denied.status(), 403);
  assert.match(await outsider.textContent("main"), /You do not have access to Demo SP/);
  await shot(outsider, "16-denied");
  await outsider.goto(`${sp}/login`);
  assert.match(await outsider.textContent("h1"), /Access denied/);

  // Everything is in the events page.
  await admin.goto(`${idp}/admin/events`);
  const events = await admin.textContent("main");
  for (const name of [
    "admin_login",
    "admin_user_create",
    "admin_app_create",
    "admin_group_create",
    "admin_app_bind",
    "admin_group_add_member",
    "user_login",
    "sso_login",
    "sso_denied",
  ]) {
    assert.ok(events.includes(name), `the events page shows ${name}`);
  }
  assert.ok(events.includes(`admin:${ADMIN.username}`), "admin changes name the administrator");
  await shot(admin, "17-events");
  await admin.getByLabel("Name").selectOption("sso_denied");
  await admin.getByRole("button", { name: "Filter" }).click();
  const rows = admin.locator("tbody tr");
  assert.ok((await rows.count()) >= 1);
  for (const row of await rows.all()) {
    const text = await row.textContent();
    assert.ok(text.includes("sso_denied") && text.includes(OUTSIDER.username), text);
  }
  await shot(admin, "18-events-filtered");
  await admin.goto(`${idp}/admin`);
  assert.match(await admin.textContent(".chart"), /successful sign-ins/);
  await shot(admin, "19-dashboard-after");

  // "Deactivate SSO": the member's next attempt gets a page that says so, and the tile is gone.
  await admin.goto(`${idp}/admin/apps/${APP.name}`);
  await admin.getByRole("button", { name: "Deactivate SSO" }).click();
  assert.equal(await flash(admin), "SSO is deactivated: sign-ins are refused.");
  await shot(admin, "20-app-deactivated");
  const off = await member.goto(`${idp}/saml2/${APP.name}`);
  assert.equal(off.status(), 403);
  assert.match(await member.textContent("main"), /Single sign-on to Demo SP is deactivated/);
  await member.goto(`${idp}/`);
  assert.equal(await member.getByRole("link", { name: APP.label }).count(), 0, "no tile while deactivated");
  await admin.getByRole("button", { name: "Activate SSO" }).click();
  assert.equal(await flash(admin), "SSO is active again.");

  // The SSO tab's certificates: a staged next one beside the current one (activating it is left to the Rust
  // tests, so the SP keeps the certificate it loaded), and the encryption settings.
  await admin.goto(`${idp}/admin/apps/${APP.name}?tab=sso`);
  await admin.getByRole("button", { name: "Stage next certificate" }).click();
  await admin.waitForURL(`${idp}/admin/apps/${APP.name}?tab=sso`);
  assert.match(await flash(admin), /^Next certificate [0-9a-f]{16} staged/);
  const certs = admin.locator("#certificates");
  assert.match(await certs.textContent(), /current[\s\S]*next/);
  assert.ok(await admin.getByLabel("Activate at (UTC; empty: now)").isVisible());
  await certs.screenshot({ path: join(SHOTS, "21-app-sso-certificates.png") });
  const encryption = admin.locator("#encryption");
  assert.match(await encryption.textContent(), /Encrypt assertions/);
  await encryption.screenshot({ path: join(SHOTS, "22-app-sso-encryption.png") });
  await shot(admin, "23-app-sso-staged");

  // A second application from the same SP's metadata, uploaded as a file.
  const metadata = await (await fetch(`${sp}/metadata`)).text();
  await admin.goto(`${idp}/admin/apps/new`);
  await admin.getByLabel("Name (in the IdP URL; fixed once created)").fill("demo-file");
  await admin.getByLabel("Display label").first().fill("Demo SP (file)");
  await admin.getByLabel("SP metadata file").first().setInputFiles({
    name: "sp-metadata.xml",
    mimeType: "text/xml",
    buffer: Buffer.from(metadata),
  });
  await shot(admin, "24-app-new-file");
  await admin.getByRole("button", { name: "Create from metadata" }).click();
  await admin.waitForURL(`${idp}/admin/apps/demo-file?tab=sso`);
  assert.equal(await flash(admin), "Application demo-file created.");
  const uploaded = await admin.textContent("main");
  assert.ok(uploaded.includes(`${sp}/metadata`), "the uploaded app's page shows the SP entity ID");
  assert.ok(uploaded.includes(`${sp}/acs`), "and its ACS URL");
  await shot(admin, "25-app-uploaded-sso");

  // New metadata for it from the SSO tab, now with an encryption certificate (made here with openssl: the SP
  // publishes none); then encryption can be switched on.
  const req = spawnSync(
    "openssl",
    ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", join(work, "enc.key"), "-subj", "/CN=browser-sp-encryption", "-days", "365"],
    { encoding: "utf8" },
  );
  assert.equal(req.status, 0, `openssl req: ${req.stderr}`);
  const encCert = req.stdout.replace(/-----(BEGIN|END) CERTIFICATE-----|\s/g, "");
  const descriptor = metadata.match(/<(\w+:)?SPSSODescriptor[^>]*>/);
  assert.ok(descriptor, "the SP's metadata has an SPSSODescriptor");
  const md = descriptor[1] ?? "";
  const withEncryption = metadata.replace(
    descriptor[0],
    `${descriptor[0]}<${md}KeyDescriptor use="encryption"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>${encCert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></${md}KeyDescriptor>`,
  );
  await admin.getByLabel("SP metadata file").setInputFiles({
    name: "sp-metadata-encryption.xml",
    mimeType: "application/samlmetadata+xml",
    buffer: Buffer.from(withEncryption),
  });
  await admin.getByRole("button", { name: "Import SP metadata" }).click();
  await admin.waitForURL(`${idp}/admin/apps/demo-file?tab=sso`);
  assert.equal(await flash(admin), `SP metadata imported: entity ID ${sp}/metadata, 1 ACS URL.`);
  await admin.getByLabel("Encrypt assertions").check();
  await admin.getByLabel("Algorithm").selectOption("aes256-cbc");
  await admin.getByRole("button", { name: "Save encryption" }).click();
  assert.equal(await flash(admin), "Encryption settings saved.");
  assert.ok(await admin.getByLabel("Encrypt assertions").isChecked());
  assert.match(await admin.locator("#encryption").textContent(), /browser-sp-encryption/);
  await admin.locator("#encryption").screenshot({ path: join(SHOTS, "25b-app-sso-encryption-on.png") });

  // An application from a catalog connector, and its Identity Management tab.
  await admin.goto(`${idp}/admin/apps/new`);
  await admin.getByLabel("Connector").selectOption("hoxhunt");
  await admin.getByRole("button", { name: "Choose" }).click();
  await admin.waitForURL(`${idp}/admin/apps/new?connector=hoxhunt`);
  await admin.getByLabel("Your Hoxhunt organization ID").fill("5f3c2a1b9d8e7f6a5b4c3d2e");
  await shot(admin, "26-app-new-connector");
  await admin.getByRole("button", { name: "Create Hoxhunt" }).click();
  await admin.waitForURL(`${idp}/admin/apps/hoxhunt?tab=sso`);
  assert.equal(await flash(admin), "Application hoxhunt created.");
  assert.ok((await admin.textContent("main")).includes("https://app.hoxhunt.com/saml/consume/5f3c2a1b9d8e7f6a5b4c3d2e"));
  await admin.getByRole("link", { name: "Identity Management" }).click();
  await admin.waitForURL(`${idp}/admin/apps/hoxhunt?tab=idm`);
  assert.ok(await admin.getByLabel("API token").isVisible());
  await shot(admin, "27-app-connector-idm");
  // API tokens: a read-only token, shown once on the page that answers the form; it reads but may not change.
  await admin.getByRole("link", { name: "API tokens" }).click();
  await admin.waitForURL(`${idp}/admin/tokens`);
  await admin.getByLabel("Name").fill("report");
  await admin.getByLabel("Read-only (GET and HEAD only)").check();
  await admin.getByRole("button", { name: "Create token" }).click();
  const token = await admin.getByLabel("The new API token").inputValue();
  assert.match(token, /^sesame_/);
  assert.match(await admin.textContent("main"), /Copy this token now/);
  assert.ok(!admin.url().includes(token), "the token is not in the URL");
  await shot(admin, "28-token-created");
  const bearer = { authorization: `Bearer ${token}` };
  assert.equal((await fetch(`${idp}/api/v1/users`, { headers: bearer })).status, 200);
  const write = await fetch(`${idp}/api/v1/groups`, {
    method: "POST",
    headers: { ...bearer, "content-type": "application/json" },
    body: JSON.stringify({ name: "from-a-reader" }),
  });
  assert.equal(write.status, 403);
  assert.match(write.headers.get("www-authenticate"), /insufficient_scope/);
  await admin.goto(`${idp}/admin/tokens`);
  assert.ok(!(await admin.content()).includes(token), "the list never shows the token");
  await shot(admin, "29-tokens");

  // The administrator's account: password and TOTP (set-up started, then cancelled, so TOTP stays off).
  await admin.getByRole("link", { name: "Account" }).click();
  await admin.waitForURL(`${idp}/admin/account`);
  await shot(admin, "30-account");
  await admin.getByRole("button", { name: "Set up TOTP" }).click();
  await admin.waitForURL(`${idp}/admin/account`);
  assert.match(await admin.getByRole("textbox", { name: "otpauth URI" }).inputValue(), /^otpauth:\/\/totp\/sesame:ops\?secret=/);
  await shot(admin, "31-account-totp-setup");
  await admin.getByRole("button", { name: "Cancel set-up" }).click();
  assert.equal(await flash(admin), "TOTP set-up cancelled; nothing was changed.");

  // Phone-width screenshots of the main pages (and no page wider than the screen).
  for (const [path, name] of [
    ["/admin", "02-dashboard"],
    ["/admin/apps", "10-apps"],
    [`/admin/apps/${APP.name}?tab=sso`, "07-app-sso"],
    [`/admin/apps/${APP.name}?tab=groups`, "08-app-groups"],
    [`/admin/apps/${APP.name}?tab=general`, "11-app-general"],
    ["/admin/apps/demo-file?tab=sso", "25-app-uploaded-sso"],
    ["/admin/apps/hoxhunt?tab=idm", "27-app-connector-idm"],
    ["/admin/apps/new", "06-app-new"],
    ["/admin/users", "04-users"],
    [`/admin/users/${MEMBER.username}`, "03-user"],
    [`/admin/groups/${GROUP}`, "09-group"],
    ["/admin/events", "17-events"],
    ["/admin/tokens", "29-tokens"],
    ["/admin/account", "30-account"],
  ]) {
    await phoneShot(admin.context(), `${idp}${path}`, name);
  }
  await phoneShot(member.context(), `${idp}/`, "12-portal");
  const anonymous = await browser.newContext();
  await phoneShot(anonymous, `${idp}/admin/login`, "01-admin-login");
  await anonymous.close();

  assert.deepEqual(problems, [], "no script errors or CSP violations on our pages");
});
