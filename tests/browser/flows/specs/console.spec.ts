/**
 * The moderation console at /admin, signed in as an admin (FLOWS_ADMIN_EMAIL and
 * FLOWS_ADMIN_PASSWORD: the pytest side grants the role with `conduit users grant`): ban a
 * user and lift the ban, delete an article with a reason, and find all three in the audit
 * log. Every console page passes the axe-core check; a reader without a role is kept out.
 */
import { expect, test, type Locator, type Page, type TestInfo } from "@playwright/test";
import { checkAccessibility, newReader, publish, signIn, signUp } from "./support";

const adminEmail = process.env.FLOWS_ADMIN_EMAIL || "";
const adminPassword = process.env.FLOWS_ADMIN_PASSWORD || "";

async function freshPage(page: Page, testInfo: TestInfo): Promise<Page> {
  const browser = page.context().browser();
  if (browser === null) throw new Error("the page has no browser");
  const context = await browser.newContext({
    baseURL: testInfo.project.use.baseURL,
    javaScriptEnabled: testInfo.project.use.javaScriptEnabled,
  });
  return context.newPage();
}

function button(within: Page | Locator, name: string): Locator {
  return within.getByRole("button", { name, exact: true });
}

/** The console's table row of a user (found by the search box). */
async function userRow(page: Page, username: string) {
  await page.goto("/admin/users");
  await page.getByLabel("Username or email starts with").fill(username);
  await page.getByRole("button", { name: "Search" }).click();
  await expect(page).toHaveURL(/\/admin\/users\?/);
  return page.locator("tr", { has: page.getByRole("link", { name: username, exact: true }) });
}

test("a reader without a role is kept out of the console", async ({ page }, testInfo) => {
  await signUp(page, newReader("plain", testInfo));
  const answer = await page.goto("/admin");
  expect(answer?.status()).toBe(403);
  await expect(page.locator(".console-nav")).toHaveCount(0);
});

test("an admin bans and unbans a user, deletes an article with a reason, and reads the audit log", async ({
  page,
}, testInfo) => {
  expect(adminEmail, "FLOWS_ADMIN_EMAIL names the admin").not.toBe("");
  const author = await freshPage(page, testInfo);
  const victim = newReader("victim", testInfo);
  const title = `Spam for the console ${Date.now()}`;
  const reason = `off-topic advertising ${testInfo.project.name}`;
  await signUp(author, victim);
  const articlePath = await publish(
    author,
    { title, description: "spam", body: "Buy now.", tags: [] },
    testInfo,
  );

  await signIn(page, adminEmail, adminPassword);
  await expect(page.locator('nav a[href="/admin"]')).toBeVisible();
  await page.goto("/admin");
  await expect(page.locator(".console-nav")).toBeVisible();
  await checkAccessibility(page, "console: overview", testInfo);

  // Ban, then lift the ban.
  const row = await userRow(page, victim.username);
  await checkAccessibility(page, "console: users", testInfo);
  const ban = row.locator("form", { has: button(page, `Ban ${victim.username}`) });
  await ban.getByLabel("Reason").fill(reason);
  await button(ban, `Ban ${victim.username}`).click();
  await expect(row).toContainText("banned");
  await expect(button(row, `Ban ${victim.username}`)).toHaveCount(0);
  // Banned, the user can no longer publish (refused, or signed out).
  await author.goto("/editor");
  if (new URL(author.url()).pathname === "/editor") {
    await author.fill('input[name="title"]', `${title} again`);
    await author.fill('input[name="description"]', "spam");
    await author.fill('textarea[name="body"]', "Buy again.");
    await author.getByRole("button", { name: "Publish Article" }).click();
    await author.waitForLoadState();
  }
  await author.context().close();
  await page.goto(`/profile/${victim.username}`);
  await expect(page.locator(".article-preview h1")).toHaveText([title]);
  await page.goBack();
  await button(row, `Unban ${victim.username}`).click();
  await expect(button(row, `Ban ${victim.username}`)).toBeVisible();
  await expect(row).not.toContainText("banned");

  // Delete the article, giving a reason.
  await page.goto(`/admin/articles?author=${victim.username}`);
  await checkAccessibility(page, "console: articles", testInfo);
  await page.getByRole("link", { name: title }).click();
  await expect(page.locator("h1")).toContainText(title);
  await checkAccessibility(page, "console: article", testInfo);
  await page.getByLabel("Reason").first().fill(reason);
  await button(page, "Delete article").click();
  await expect(page).toHaveURL(/\/admin\/articles/);
  const gone = await page.goto(articlePath);
  expect(gone?.status()).toBe(404);

  // The audit log has all three, with the reason.
  await page.goto("/admin/audit");
  await checkAccessibility(page, "console: audit log", testInfo);
  const entries = page.locator("tr.audit-entry", { hasText: victim.username });
  await expect(entries.locator(".audit-reason", { hasText: reason })).toHaveCount(2);
  expect(await entries.count()).toBeGreaterThanOrEqual(3); // the ban, its lifting, the deletion

  for (const [path, name] of [
    ["/admin/dead-letters", "console: dead letters"],
    ["/admin/rate-limits", "console: rate limits"],
  ]) {
    const answer = await page.goto(path);
    expect(answer?.status()).toBe(200);
    await checkAccessibility(page, name, testInfo);
  }
});
