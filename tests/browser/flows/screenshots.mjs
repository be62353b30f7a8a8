// The README's pictures of the web app: the home page (signed in, global feed) and the
// moderation console (signed in as an admin), 1280×800, in the system's Chromium.
//
//   node screenshots.mjs BASE_URL OUT_DIR EMAIL PASSWORD [CHROMIUM]
//
// scripts/screenshots.py starts a seeded `conduit serve` and runs this.
import { chromium } from "@playwright/test";
import path from "node:path";

const [base, out, email, password, executable = "/usr/bin/chromium"] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: executable,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
try {
  const context = await browser.newContext({ baseURL: base, viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto("/login");
  await page.fill('input[name="email"]', email);
  await page.fill('input[name="password"]', password);
  await page.click('button[type="submit"]');
  await page.waitForURL("/");
  await page.screenshot({ path: path.join(out, "web-home.png") });
  await page.goto("/admin");
  await page.screenshot({ path: path.join(out, "web-console.png") });
} finally {
  await browser.close();
}
