/**
 * Conduit's own browser tests of its web app, in the system's Chromium (no download).
 *
 * Two projects run every spec: `js` (JavaScript on, conduit.js enhancing the pages) and
 * `nojs` (JavaScript off: plain forms, POST-redirect-GET). tests/browser/test_web_flows.py
 * starts `conduit serve`, makes the admin, and runs this with:
 *   CONDUIT_BASE_URL     the server (http://127.0.0.1:PORT)
 *   CONDUIT_CHROMIUM     the browser (default /usr/bin/chromium)
 *   FLOWS_REPORT         where the JSON report goes (default results/report.json)
 *   FLOWS_AXE_LOG        where each page's axe-core results go, one JSON line per page
 *   FLOWS_XSS_PAYLOADS   a JSON file of [name, markdown] pairs (tests/web_payloads.py)
 *   FLOWS_XSS_LOG        where the XSS spec writes what it saw (dialogs, CSP reports)
 *   FLOWS_ADMIN_EMAIL, FLOWS_ADMIN_PASSWORD   an account with the admin role
 */
import { defineConfig } from "@playwright/test";

const chromium = process.env.CONDUIT_CHROMIUM || "/usr/bin/chromium";

export default defineConfig({
  testDir: "./specs",
  fullyParallel: false,
  workers: 1,
  retries: 0,
  forbidOnly: true,
  // Generous: the suite also runs beside other tests on a loaded machine.
  timeout: 90_000,
  expect: { timeout: 10_000 },
  reporter: [
    ["list"],
    ["json", { outputFile: process.env.FLOWS_REPORT || "results/report.json" }],
  ],
  use: {
    baseURL: process.env.CONDUIT_BASE_URL || "http://127.0.0.1:8000",
    actionTimeout: 10_000,
    navigationTimeout: 20_000,
    trace: "off",
    screenshot: "off",
    launchOptions: { executablePath: chromium, args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] },
  },
  projects: [
    { name: "js", use: { javaScriptEnabled: true } },
    // Scripts are what the XSS spec looks for: with JavaScript off none could run.
    { name: "nojs", use: { javaScriptEnabled: false }, testIgnore: /xss\.spec\.ts/ },
  ],
});
