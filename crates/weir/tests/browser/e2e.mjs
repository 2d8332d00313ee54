// Drives real headless Chromium through the Weir console for
// crates/weir/tests/console_e2e.rs: signs in, opens the live alert queue,
// tells the test it is ready (prints READY), waits for the alert the test's
// marker exec raises to appear without a reload, opens it, checks the
// evidence inclusion proof verified in the browser, resolves it as a true
// positive, and saves a screenshot of every page.
//
// Environment: WEIR_URL, WEIR_USER, WEIR_PASSWORD (analyst), WEIR_ADMIN,
// WEIR_ADMIN_PASSWORD, WEIR_RULE_TITLE, WEIR_MARKER, WEIR_SHOTS (directory),
// WEIR_CHROMIUM (executable).
import { chromium } from "playwright-core";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const base = env("WEIR_URL");
const shots = env("WEIR_SHOTS");
const title = env("WEIR_RULE_TITLE");
const marker = env("WEIR_MARKER");
mkdirSync(shots, { recursive: true });

const problems = [];
const profile = mkdtempSync(join(tmpdir(), "weir-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: env("WEIR_CHROMIUM"),
  headless: true,
  viewport: { width: 1400, height: 900 },
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
// Only loopback: the console must need nothing from the Internet.
await context.route("**/*", (route) => {
  const url = new URL(route.request().url());
  if (url.hostname !== "127.0.0.1" && url.protocol !== "data:") {
    problems.push(`request to another host: ${url.href}`);
    return route.abort();
  }
  return route.continue();
});
const page = context.pages()[0] || (await context.newPage());
page.on("pageerror", (e) => problems.push(`script error on ${page.url()}: ${e.message}`));
page.on("console", (m) => {
  // 404s of optional data (risk before any inventory, triage when off) are expected.
  if (m.type() === "error" && !/Failed to load resource: the server responded with a status of 404/.test(m.text())) {
    problems.push(`console error on ${page.url()}: ${m.text()}`);
  }
});

const step = (text) => console.error(`[e2e] ${text}`);
const shot = async (name) => {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
  step(`screenshot ${name}.png`);
};
// Waits for the page's first data load (the status line says "updated" or counts events).
const settled = async () => {
  await page.waitForFunction(() => /updated|events/.test(document.getElementById("status")?.textContent || ""), null, { timeout: 15000 });
};

async function signIn(user, password) {
  await page.goto(`${base}/`);
  await page.waitForURL(`${base}/login`);
  await page.fill("#username", user);
  await page.fill("#password", password);
  const [answer] = await Promise.all([
    page.waitForResponse((r) => r.url() === `${base}/login` && r.request().method() === "POST"),
    page.click("form[action='/login'] button"),
  ]);
  if (answer.status() === 403) {
    // The form itself was refused (Chromium sends "Origin: null" for a form
    // post from a page under "Referrer-Policy: no-referrer"). Record it as a
    // failure, and sign in through the same endpoint with fetch (which sends
    // the real origin) so the rest of the run still checks the console.
    problems.push(`the sign-in form was refused (403: ${(await answer.text()).match(/cross-site[^<]*/)?.[0] || "?"}); ` +
      "a form post from a page served with Referrer-Policy: no-referrer carries Origin: null in Chromium");
    await page.evaluate(async ([u, p]) => {
      await fetch("/login", { method: "POST", body: new URLSearchParams({ username: u, password: p }), credentials: "same-origin" });
    }, [user, password]);
    await page.goto(`${base}/`);
  }
  await page.waitForURL(`${base}/`);
  const who = await page.textContent("header .who b");
  if (who !== user) throw new Error(`signed in as ${who}, expected ${user}`);
}

try {
  await page.goto(`${base}/`);
  await page.waitForURL(`${base}/login`);
  await shot("01-login");
  await signIn(env("WEIR_USER"), env("WEIR_PASSWORD"));
  step("signed in");
  await settled();
  await shot("02-overview");

  await page.goto(`${base}/alerts`);
  await settled();
  await page.evaluate(() => { window.weirLoadedOnce = true; });
  console.log("READY");

  // The alert must appear live: no navigation, no reload.
  const row = page.locator("tr[data-alert-id]", { hasText: title });
  await row.first().waitFor({ timeout: 60000 });
  if (!(await page.evaluate(() => window.weirLoadedOnce === true))) throw new Error("the alert page was reloaded");
  const alertId = await row.first().getAttribute("data-alert-id");
  console.log(`ALERT ${alertId}`);
  step(`alert ${alertId} appeared live`);
  await shot("03-alerts-live");

  await Promise.all([page.waitForURL(`${base}/alerts/${alertId}`), row.first().locator("a").first().click()]);
  await page.waitForSelector("#proof[data-verified='yes']", { timeout: 60000 });
  const proof = await page.textContent("#proof");
  if (!/verified against checkpoint of tree size \d+ signed at/.test(proof)) throw new Error(`proof says: ${proof}`);
  step(`proof: ${proof.trim().split("\n")[0]}`);
  await page.waitForFunction((m) => document.getElementById("evidence").textContent.includes(m), marker, { timeout: 15000 });
  const lineage = await page.textContent("#lineage");
  if (!lineage.includes(marker)) throw new Error(`lineage lacks the marker: ${lineage}`);
  await shot("04-alert");

  await page.fill("#resolve-form input[name=note]", "confirmed by the console end-to-end test");
  await page.click("#resolve-form button[data-resolution='true_positive']");
  await page.waitForFunction(() => document.getElementById("alert-state")?.textContent === "true positive", null, { timeout: 15000 });
  await page.waitForSelector("#resolve-panel", { state: "hidden" });
  const transitions = await page.textContent("#transitions");
  if (!transitions.includes(env("WEIR_USER"))) throw new Error(`transitions lack the user: ${transitions}`);
  step("resolved as true positive");
  await page.fill("#suppress-form input[name=reason]", "known test marker");
  await page.fill("#suppress-form input[name=hours]", "2");
  await page.click("#suppress-form button");
  await page.waitForFunction(() => /Suppression \d+ created/.test(document.getElementById("suppress-result").textContent), null, { timeout: 15000 });
  step("suppression created from the alert");
  const exe = await page.inputValue("#except-form input[name=exe]");
  if (!exe.endsWith("/true")) throw new Error(`the exception form was not filled from the evidence: ${exe}`);
  await page.fill("#except-form input[name=reason]", "known test marker");
  await page.click("#except-form button");
  await page.waitForFunction(() => /Exception added/.test(document.getElementById("except-result").textContent), null, { timeout: 15000 });
  step("exception added from the alert");
  await shot("05-alert-resolved");

  const hostHref = await page.getAttribute("#alert-facts a[href^='/hosts/']", "href");
  await page.goto(`${base}/hosts`);
  await settled();
  await shot("06-hosts");
  await page.goto(`${base}${hostHref}`);
  await settled();
  await page.waitForFunction(() => document.getElementById("tree").textContent.length > 0);
  await shot("07-host");
  await page.goto(`${base}/search?since=1h&contains=${encodeURIComponent(marker)}&limit=200`);
  await page.waitForFunction((m) => document.getElementById("events").textContent.includes(m), marker, { timeout: 15000 });
  await page.click("#events tr.event-row >> nth=0");
  await page.waitForSelector("#events tr.event-detail");
  if (!(await page.textContent("#events tr.event-detail")).includes("event.sequence")) throw new Error("event detail lacks the event");
  await shot("08-search");
  await page.goto(`${base}/rules`);
  await settled();
  await page.waitForFunction(() => document.getElementById("suppression-rows").textContent.includes("known test marker"), null, { timeout: 15000 });
  await shot("09-rules");

  // An administrator sees the audit log with the resolution in it.
  await Promise.all([page.waitForURL(`${base}/login`), page.click("header .who button")]);
  await signIn(env("WEIR_ADMIN"), env("WEIR_ADMIN_PASSWORD"));
  await page.goto(`${base}/audit`);
  await page.waitForFunction(() => document.getElementById("audit-rows").textContent.includes("/resolve"), null, { timeout: 15000 });
  if (!(await page.textContent("#audit-rows")).includes("POST /api/suppressions")) throw new Error("the suppression is not in the audit log");
  await shot("10-audit");
  await page.goto(`${base}/rules`);
  await settled();
  await shot("11-rules-admin");
  await page.goto(`${base}/`);
  await settled();
  await page.waitForTimeout(3000); // a few live events/s samples for the chart
  await shot("12-overview-admin");

  if (problems.length) throw new Error(`problems seen:\n${problems.join("\n")}`);
  console.log("DONE");
} catch (e) {
  await page.screenshot({ path: join(shots, "failure.png"), fullPage: true }).catch(() => {});
  console.error(`[e2e] FAILED at ${page.url()}: ${e.stack || e}`);
  if (problems.length) console.error(problems.join("\n"));
  process.exitCode = 1;
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
