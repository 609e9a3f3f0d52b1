// The operator console in a real browser: Debian's chromium driven by playwright-core, against
// `smarthost run` (the binary in $SMARTHOST_BIN) and the real Postfix upstream of
// tests/harness/ (plain port 2025, sink in /tmp/harness-sink). Run by tests/run.sh after the
// cargo tests: `cd tests/browser && npm ci && npm test`. Screenshots of each page go to
// docs/console/ (docs/console.md shows them).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync, readFileSync, readdirSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import net from "node:net";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const bin = process.env.SMARTHOST_BIN || join(root, "target", "debug", "smarthost");
const shots = join(root, "docs", "console");
const PASSWORD = "browser-pass-7";
const SECRET = "Up-Secret-Browser-42";
const SINK = process.env.HARNESS_SINK_DIR || "/tmp/harness-sink";
const HARNESS_CA = process.env.HARNESS_CA_CERT || "/tmp/harness-postfix/tls/cert.pem";
const SASL_USER = process.env.HARNESS_SASL_USER || "relay@example.test";
const SASL_PASS = process.env.HARNESS_SASL_PASS || "secret";

let relay, browser, page, dir, base, smtpPort, log = "";

const unique = (p) => `${p}-${Math.random().toString(16).slice(2, 10)}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/// One SMTP transaction; the last reply, or the first refusal.
async function smtp(lines) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(smtpPort, "127.0.0.1");
    let buf = "", step = 0, last = "";
    sock.setTimeout(20000, () => reject(new Error("SMTP timeout")));
    sock.on("data", (d) => {
      buf += d.toString();
      while (buf.includes("\r\n")) {
        const i = buf.indexOf("\r\n");
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (line[3] === "-") continue;
        last = line;
        if (/^[45]/.test(line) && step > 0) { sock.end("QUIT\r\n"); return resolve(line); }
        if (step < lines.length) sock.write(lines[step++]); else { sock.end("QUIT\r\n"); return resolve(last); }
      }
    });
    sock.on("error", reject);
  });
}

function mail(to, from = "pay@example.test") {
  const body = `From: <${from}>\r\nTo: <${to}>\r\nSubject: browser\r\n\r\nhello\r\n.\r\n`;
  return ["EHLO browser.test\r\n", `MAIL FROM:<${from}>\r\n`, `RCPT TO:<${to}>\r\n`, "DATA\r\n", body];
}

/// How many mail-log lines of `event` the relay wrote for queue id `id`.
function events(event, id) {
  return (log.match(new RegExp(`event=${event} queue_id=${id}\\b`, "g")) || []).length;
}

/// Whether the Postfix sink got a message for `rcpt`.
function atSink(rcpt) {
  for (const f of readdirSync(SINK)) {
    if (!f.endsWith(".json")) continue;
    try {
      const j = JSON.parse(readFileSync(join(SINK, f), "utf8"));
      if ((j.rcpt_to || []).includes(rcpt)) return true;
    } catch { /* a file being written */ }
  }
  return false;
}

async function waitFor(what, f, ms = 30000) {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`never: ${what}\n${log}`);
    await sleep(200);
  }
}

before(async () => {
  execFileSync(join(root, "tests/harness/upstream-postfix.sh"), ["start"], { stdio: "ignore" });
  dir = mkdtempSync(join(tmpdir(), "smarthost-browser-"));
  const hash = execFileSync(bin, ["passwd"], { input: PASSWORD + "\n" }).toString().trim().split("\n").pop().replace(/^.*?(\$argon2id\$[^"\s]+).*$/, "$1");
  const consolePort = await freePort();
  smtpPort = await freePort();
  base = `http://127.0.0.1:${consolePort}`;
  writeFileSync(join(dir, "smarthost.toml"), [
    "# the office relay: this comment must survive console edits",
    "[server]", `listen = ["127.0.0.1:${smtpPort}"]`, `hostname = "browser.test"`, "auth_fail_limit = 3",
    "[spool]", `dir = "${dir}/spool"`,
    "[console]", `listen = "127.0.0.1:${consolePort}"`, `password_hash = "${hash}"`,
    "[[upstream]]", `name = "harness"`, `host = "127.0.0.1"`, "port = 2025", `conn = "plaintext"`, `auth = "none"`, "default = true",
    "[[upstream]]", `name = "office365"`, `host = "127.0.0.1"`, "port = 2587", `conn = "starttls"`,
    `username = "someone@example.test"`, `password = "${SECRET}"`, `senders = ["nobody.invalid"]`,
    "[[upstream]]", `name = "quota"`, `host = "127.0.0.1"`, "port = 2025", `conn = "plaintext"`, `auth = "none"`,
    `senders = ["quota.test"]`, "[upstream.limits]", "per_hour = 1", "",
  ].join("\n"));
  relay = spawn(bin, ["run", "--config", join(dir, "smarthost.toml")], { stdio: ["ignore", "ignore", "pipe"] });
  relay.stderr.on("data", (d) => { log += d.toString(); });
  await waitFor("the relay listens", () => log.includes("console on"), 30000);
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: ["--no-sandbox"] });
  page = await (await browser.newContext({ locale: "en-US" })).newPage();
  mkdirSync(shots, { recursive: true });
});

after(async () => {
  await browser?.close();
  if (relay) { relay.kill("SIGTERM"); }
});

async function shot(name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

test("a wrong password is refused, the right one opens the overview", async () => {
  await page.goto(`${base}/login`);
  await shot("login");
  await page.fill("input[name=password]", "wrong");
  await page.click("button");
  assert.match(await page.textContent("body"), /Wrong password/);
  await page.fill("input[name=password]", PASSWORD);
  await page.click("button");
  await page.waitForURL(`${base}/`);
  assert.match(await page.textContent("h1"), /Overview/);
  await shot("overview");
});

test("test mode turned on in the browser sends mail only to the redirect address", async () => {
  const tester = `${unique("tester")}@example.net`;
  await page.goto(`${base}/test-mode`);
  await page.check("input[name=enabled]");
  await page.fill("input[name=redirect_to]", tester);
  await page.click("#save");
  await page.waitForURL(/saved=1/);
  assert.ok(await page.isVisible(".banner"), "the red banner shows");
  await shot("test-mode");
  const customer = `${unique("customer")}@example.net`;
  const reply = await smtp(mail(customer));
  assert.match(reply, /^250/);
  await waitFor("the redirect address got it", () => atSink(tester));
  assert.equal(atSink(customer), false, "the customer got nothing");
  const toml = readFileSync(join(dir, "smarthost.toml"), "utf8");
  assert.match(toml, /this comment must survive console edits/);
  // Off again for the other tests.
  await page.goto(`${base}/test-mode`);
  await page.uncheck("input[name=enabled]");
  await page.click("#save");
  await page.waitForURL(/saved=1/);
});

test("an address added to the liste noire is refused at RCPT", async () => {
  const listed = `${unique("listed")}@example.net`;
  await page.goto(`${base}/blacklist`);
  await page.fill("input[name=entry]", listed);
  await page.click("#add");
  await page.waitForURL(`${base}/blacklist`);
  assert.match(await page.textContent("#blacklist"), new RegExp(listed));
  await shot("blacklist");
  const reply = await smtp(mail(listed));
  assert.match(reply, /^550/);
});

test("the queue, the limits and the journal show what happened", async () => {
  const r = await smtp(mail(`tempfail-${unique("q")}@example.net`));
  const id = r.trim().split(" ").pop();
  await waitFor("an attempt", () => log.includes(`queue_id=${id}`) && log.includes("deferred"));
  await page.goto(`${base}/queue`);
  assert.match(await page.textContent("#queue"), new RegExp(id));
  await shot("queue");
  await page.goto(`${base}/queue/${id}`);
  assert.match(await page.textContent("body"), /451/);
  await shot("message");
  await page.click("button[value=delete-silent]");
  await page.waitForURL(`${base}/queue`);
  assert.doesNotMatch(await page.textContent("body"), new RegExp(id));
  await page.goto(`${base}/limits`);
  await shot("limits");
  await page.goto(`${base}/journal`);
  assert.match(await page.textContent("#journal"), /received/);
  await shot("journal");
  await page.goto(`${base}/servers`);
  assert.match(await page.textContent("#servers"), /harness/);
  await shot("servers");
  await page.goto(`${base}/`);
  await shot("overview");
});

test("a cross-site POST without the CSRF token is refused", async () => {
  const status = await page.evaluate(async () => {
    const r = await fetch("/api/v1/test-mode", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ enabled: true, redirect_to: "x@example.net" }) });
    return r.status;
  });
  assert.equal(status, 403);
});

test("no page shows a configured password", async () => {
  for (const path of ["/", "/servers", "/servers/new", "/servers/office365/edit", "/servers/harness/test", "/queue", "/limits", "/test-mode", "/blacklist", "/journal"]) {
    await page.goto(`${base}${path}`);
    const html = await page.content();
    assert.ok(!html.includes(SECRET), `${path} shows the upstream password`);
    assert.ok(!html.includes(PASSWORD), `${path} shows the console password`);
  }
});

test("a server added from a preset passes the Tester against Postfix", async () => {
  await page.goto(`${base}/servers`);
  await page.click("#add-server");
  await page.waitForURL(`${base}/servers/new`);
  // The preset fills the fields (the page's script, from the option's data attributes).
  await page.selectOption("#preset", "gmail");
  assert.equal(await page.inputValue("#host"), "smtp.gmail.com");
  assert.equal(await page.inputValue("#port"), "587");
  assert.equal(await page.inputValue("#conn"), "starttls");
  assert.match(await page.textContent("#preset-advice"), /app password/);
  // Then pointed at the harness's submission port, which trusts only its own certificate.
  await page.fill("#name", "submission");
  await page.fill("#host", "127.0.0.1");
  await page.fill("#port", "2587");
  await page.fill("#username", SASL_USER);
  await page.fill("#password", SASL_PASS);
  await page.fill("#ca_file", HARNESS_CA);
  await shot("server-form");
  await page.click("#save");
  await page.waitForURL(`${base}/servers?saved=1`);
  assert.match(await page.textContent("#servers"), /submission/);
  await shot("servers");
  const toml = readFileSync(join(dir, "smarthost.toml"), "utf8");
  assert.match(toml, /preset = "gmail"/);
  assert.doesNotMatch(toml, /password = "secret"/, "the typed password is not in the TOML");
  assert.match(toml, /password_file = ".*secrets\/submission\.password"/);
  await page.click("tr[data-server=submission] a.tester");
  const rcpt = `${unique("tester")}@example.net`;
  await page.fill("#to", rcpt);
  await page.click("#run-test");
  await page.waitForSelector("#verdict", { timeout: 60000 });
  assert.equal(await page.getAttribute("#verdict", "data-code"), "ok");
  assert.match(await page.textContent("#steps"), /end of DATA/);
  await shot("tester");
  await waitFor("the test message reached Postfix", () => atSink(rcpt));
});

test("a wrong password gives the credentials verdict in French", async () => {
  await page.goto(`${base}/servers/submission/edit`);
  assert.ok(await page.isVisible("#password-set"), "the form says a password is set");
  assert.equal(await page.inputValue("#password"), "", "and never shows it");
  await page.fill("#password", "wrong-password");
  await page.click("#save");
  await page.waitForURL(`${base}/servers?saved=1`);
  await page.click("a[href='/lang/fr']");
  await page.waitForURL(/\/servers/);
  await page.goto(`${base}/servers/submission/test`);
  await page.click("#run-test");
  await page.waitForSelector("#verdict", { timeout: 60000 });
  assert.equal(await page.getAttribute("#verdict", "data-code"), "bad_credentials");
  const verdict = await page.textContent("#verdict");
  assert.match(verdict, /le serveur a refusé le nom d'utilisateur ou le mot de passe/);
  assert.match(verdict, /ressaisissez/);
  await shot("tester-failed");
  await page.goto(`${base}/servers/submission/edit`);
  assert.ok(!(await page.content()).includes("wrong-password"), "the typed password is never shown");
  await page.click("a[href='/lang/en']");
});

test("an edit in the browser keeps the comments of the TOML and refuses a bad port beside its field", async () => {
  await page.goto(`${base}/servers/office365/edit`);
  await page.fill("#port", "70000");
  await page.click("#save");
  assert.match(await page.textContent("[data-field=port]"), /1 to 65535/);
  const before = readFileSync(join(dir, "smarthost.toml"), "utf8");
  await page.fill("#port", "2587");
  await page.fill("#username", "other@example.test");
  await page.click("#save");
  await page.waitForURL(`${base}/servers?saved=1`);
  const toml = readFileSync(join(dir, "smarthost.toml"), "utf8");
  assert.match(toml, /this comment must survive console edits/);
  assert.match(toml, /username = "other@example.test"/);
  assert.ok(toml.includes(`password = "${SECRET}"`), "the password not typed again stays as it was");
  assert.equal(readFileSync(join(dir, "smarthost.toml.bak"), "utf8"), before);
});

test("deleting a server asks first and removes it", async () => {
  await page.goto(`${base}/servers`);
  page.once("dialog", (d) => d.accept());
  await page.click("tr[data-server=submission] button.delete");
  await page.waitForURL(`${base}/servers?saved=1`);
  assert.doesNotMatch(await page.textContent("#servers"), /submission/);
});

test("a full quota's Reset on the limits page lets the held mail go", async () => {
  const first = `${unique("q1")}@example.net`, second = `${unique("q2")}@example.net`;
  assert.match(await smtp(mail(first, "pay@quota.test")), /^250/);
  await waitFor("the first message within the quota went", () => atSink(first));
  const id = (await smtp(mail(second, "pay@quota.test"))).trim().split(" ").pop();
  await waitFor("the second held by the quota", async () => {
    await page.goto(`${base}/queue?state=limited`);
    return (await page.textContent("body")).includes(id);
  });
  assert.equal(atSink(second), false);
  await page.goto(`${base}/limits`);
  assert.match(await page.textContent("body"), /quota/);
  await page.selectOption("select[name=upstream]", "quota");
  await page.click("#reset");
  await waitFor("the held message went after the reset", () => atSink(second));
});

test("Retry now on a deferred message tries it again at once", async () => {
  const id = (await smtp(mail(`tempfail-${unique("retry")}@example.net`))).trim().split(" ").pop();
  await waitFor("a first attempt deferred", () => events("deferred", id) >= 1);
  // The next attempt is a minute away by the schedule: a second one now is the button's doing.
  await page.goto(`${base}/queue/${id}`);
  await page.click("button[value=retry]");
  await waitFor("a second attempt", () => events("deferred", id) >= 2);
  await page.goto(`${base}/queue/${id}`);
  await page.click("button[value=delete]");
  await page.waitForURL(`${base}/queue`);
  assert.doesNotMatch(await page.textContent("body"), new RegExp(id));
});

test("the pages follow the language chosen", async () => {
  await page.goto(`${base}/limits`);
  await page.click("a[href='/lang/fr']");
  await page.waitForURL(`${base}/limits`);
  assert.match(await page.textContent("body"), /Réinitialiser les limites maintenant/);
  await page.click("a[href='/lang/en']");
});

// Last: the ban covers 127.0.0.1, where every test browses from.
test("repeated wrong passwords ban the address, even the right one is refused then", async () => {
  const fresh = await (await browser.newContext({ locale: "en-US" })).newPage();
  for (let i = 0; i < 3; i++) {
    await fresh.goto(`${base}/login`);
    await fresh.fill("input[name=password]", `wrong-${i}`);
    await fresh.click("button");
  }
  await fresh.goto(`${base}/login`);
  await fresh.fill("input[name=password]", PASSWORD);
  await fresh.click("button");
  assert.match(await fresh.textContent("body"), /Too many failed logins/);
  assert.ok(fresh.url().startsWith(`${base}/login`), fresh.url());
  await fresh.close();
});
