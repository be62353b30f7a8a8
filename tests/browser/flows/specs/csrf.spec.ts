/**
 * Cross-site request forgery: a form posted without this browser's token, or from another
 * site, is refused (403) and changes nothing, even with the reader's session cookie on it.
 */
import { expect, test } from "@playwright/test";
import { checkAccessibility, jsOn, newReader, signUp } from "./support";

test("a form posted without its token is refused and changes nothing", async ({
  page,
  baseURL,
}, testInfo) => {
  const reader = newReader("csrf", testInfo);
  await signUp(page, reader);
  const origin = { Origin: new URL(baseURL!).origin };

  // The session cookie goes along (page.request shares the browser's cookies), the token does not.
  const settings = await page.request.post("/settings", {
    form: { username: reader.username, email: reader.email, bio: "forged bio", image: "" },
    headers: origin,
    maxRedirects: 0,
  });
  expect(settings.status()).toBe(403);
  const article = await page.request.post("/editor", {
    form: { title: "Forged", description: "forged", body: "forged", tags: "" },
    headers: origin,
    maxRedirects: 0,
  });
  expect(article.status()).toBe(403);

  // With the page's own token but from another site: refused too.
  await page.goto("/settings");
  const token = await page.locator('form input[name="csrf_token"]').first().inputValue();
  const foreign = await page.request.post("/settings", {
    form: { csrf_token: token, username: reader.username, email: reader.email, bio: "forged bio" },
    headers: { Origin: "https://forger.example" },
    maxRedirects: 0,
  });
  expect(foreign.status()).toBe(403);

  if (jsOn(testInfo)) {
    // The settings form itself, its hidden token taken out of the page before sending.
    await page.fill('textarea[name="bio"]', "forged bio");
    await page.evaluate(() => {
      for (const input of document.querySelectorAll('input[name="csrf_token"]')) input.remove();
    });
    const [answer] = await Promise.all([
      page.waitForResponse((response) => response.request().method() === "POST"),
      page.locator('button[type="submit"]').first().click(),
    ]);
    expect(answer.status()).toBe(403);
    await expect(page.locator("h1")).toHaveText("Not allowed");
    await checkAccessibility(page, "403", testInfo);
  }

  await page.goto(`/profile/${reader.username}`);
  await expect(page.locator(".user-info p")).toHaveText("");
  await expect(page.locator(".article-preview h1")).toHaveCount(0);
  await page.goto("/settings");
  await expect(page.locator('textarea[name="bio"]')).toHaveValue("");
});
