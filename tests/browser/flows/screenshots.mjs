// The README's pictures of the web app: the home page (signed in, global feed) and the
// moderation console (signed in as an admin), 1280×800, in the system's Chromium.
//
//   node screenshots.mjs BASE_URL OUT_DIR EMAIL PASSWORD [CHROMIUM]
//
// scripts/screenshots.py starts a seeded `conduit serve` and runs this. Nothing leaves the
// machine: the pictures `conduit seed` gives half of its users (identicons of another site)
// are drawn here instead, a coloured disc with the user's number.
import { chromium } from "@playwright/test";
import path from "node:path";

const [base, out, email, password, executable = "/usr/bin/chromium"] = process.argv.slice(2);
/** A stand-in for a picture of another site: a disc coloured by, and showing, its seed. */
function avatar(url) {
  const seed = new URL(url).searchParams.get("seed") || "?";
  const number = seed.replace(/\D/g, "") || "?";
  const hue = ((Number(number) || 0) * 137) % 360;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64">` +
    `<circle cx="32" cy="32" r="32" fill="hsl(${hue},55%,55%)"/>` +
    `<text x="32" y="42" font-family="sans-serif" font-size="28" fill="#fff" text-anchor="middle">${number}</text></svg>`
  );
}

const browser = await chromium.launch({
  executablePath: executable,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
try {
  const context = await browser.newContext({ baseURL: base, viewport: { width: 1280, height: 800 } });
  await context.route(
    (url) => url.origin !== new URL(base).origin,
    (route) => route.fulfill({ contentType: "image/svg+xml", body: avatar(route.request().url()) }),
  );
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
