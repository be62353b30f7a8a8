/**
 * A reader's whole visit, in order, on one page: sign up, sign out and in again, write an
 * article in Markdown (rendered, and sanitised), comment on it; a second reader (a fresh
 * browser context) favorites it, follows its author and finds it in their feed; the author
 * changes their bio and signs out. Every page on the way passes the axe-core check.
 */
import { expect, test, type Browser, type Page, type TestInfo } from "@playwright/test";
import {
  checkAccessibility,
  jsOn,
  newReader,
  publish,
  signIn,
  signOut,
  signUp,
  type Reader,
} from "./support";

const BODY = [
  "# Why Markdown",
  "",
  "Some **bold** words, a [link](https://conduit.example/docs) and `inline code`.",
  "",
  "- first point",
  "- second point",
  "",
  "<script>window.__xss = 'script'</script>",
  '<img src="/static/web/default-avatar.svg" alt="avatar" onerror="window.__xss = \'img\'">',
  '<a href="javascript:window.__xss = \'link\'">a trap</a>',
].join("\n");

/** A second browser with the same settings as the project's (JavaScript on or off). */
async function freshPage(browser: Browser, testInfo: TestInfo): Promise<Page> {
  const context = await browser.newContext({
    baseURL: testInfo.project.use.baseURL,
    javaScriptEnabled: testInfo.project.use.javaScriptEnabled,
  });
  return context.newPage();
}

test.describe.serial("a reader's visit", () => {
  let page: Page;
  let author: Reader;
  let articlePath: string;
  const title = `Markdown in Conduit ${Date.now()}`;
  const tags = ["flows", "markdown"];
  const comment = "Clear and short, thank you.";

  test.beforeAll(async ({ browser }, testInfo) => {
    page = await freshPage(browser, testInfo);
    author = newReader("author", testInfo);
  });

  test.afterAll(async () => {
    await page.context().close();
  });

  test("signs up", async ({}, testInfo) => {
    await page.goto("/");
    await expect(page.locator('nav a[href="/login"]')).toHaveCount(1);
    await checkAccessibility(page, "home, signed out", testInfo);
    await page.goto("/register");
    await checkAccessibility(page, "register", testInfo);
    await signUp(page, author);
    await checkAccessibility(page, "home, signed in", testInfo);
    await page.reload();
    await expect(page.locator(`nav a[href="/profile/${author.username}"]`)).toHaveText(
      author.username,
    );
  });

  test("signs out, then signs in again", async ({}, testInfo) => {
    await signOut(page);
    await expect(page.locator(`nav a[href="/profile/${author.username}"]`)).toHaveCount(0);
    await page.goto("/login");
    await checkAccessibility(page, "login", testInfo);
    await page.fill('input[name="email"]', author.email);
    await page.fill('input[name="password"]', "not the password");
    await page.click('button[type="submit"]');
    await expect(page).toHaveURL("/login");
    await expect(page.locator(".error-messages")).toBeVisible();
    await signIn(page, author.email, author.password);
    await expect(page.locator(`nav a[href="/profile/${author.username}"]`)).toBeVisible();
  });

  test("writes an article in Markdown, shown rendered and sanitised", async ({}, testInfo) => {
    await page.goto("/editor");
    await checkAccessibility(page, "editor", testInfo);
    articlePath = await publish(page, { title, description: "How bodies render", body: BODY, tags }, testInfo);
    await expect(page.locator("h1")).toHaveText(title);
    const content = page.locator(".article-content");
    await expect(content.locator("h2")).toHaveText("Why Markdown");
    await expect(content.locator("strong")).toHaveText("bold");
    await expect(content.locator("code")).toHaveText("inline code");
    await expect(content.locator('a[href="https://conduit.example/docs"]')).toHaveText("link");
    await expect(content.locator("li")).toHaveText(["first point", "second point"]);
    await expect(content.locator("script")).toHaveCount(0);
    await expect(content.locator("[onerror]")).toHaveCount(0);
    await expect(content.locator('a[href^="javascript:" i]')).toHaveCount(0);
    await expect(page.locator(".tag-list .tag-default")).toHaveText(tags);
    if (jsOn(testInfo)) {
      expect(await page.evaluate(() => (window as { __xss?: unknown }).__xss)).toBeUndefined();
    }
    await checkAccessibility(page, "article, by its author", testInfo);
  });

  test("comments on the article", async ({}, testInfo) => {
    await page.goto(articlePath);
    const comments = page.locator(".card:not(.comment-form) .card-block");
    await expect(comments).toHaveCount(0);
    await page.fill('textarea[placeholder="Write a comment..."]', comment);
    await page.getByRole("button", { name: "Post Comment" }).click();
    await expect(page).toHaveURL(new RegExp(`${articlePath}$`));
    await expect(comments).toHaveCount(1);
    await expect(page.locator("p.card-text")).toHaveText(comment);
    await expect(page.locator('textarea[placeholder="Write a comment..."]')).toHaveValue("");
    await page.reload();
    await expect(page.locator("p.card-text")).toHaveText(comment);
    await checkAccessibility(page, "article with a comment", testInfo);
  });

  test("another reader favorites it, follows the author and finds it in their feed", async ({
    browser,
  }, testInfo) => {
    const other = await freshPage(browser, testInfo);
    try {
      const reader = newReader("reader", testInfo);
      await signUp(other, reader);
      await other.goto("/?feed=following");
      await expect(other.locator(".empty-feed-message")).toContainText("Your feed is empty");

      await other.goto(articlePath);
      await expect(other.getByRole("link", { name: "Edit Article" })).toHaveCount(0);
      await checkAccessibility(other, "article, by someone else", testInfo);
      await other.locator('button.btn-outline-primary:has-text("Favorite")').first().click();
      await expect(other).toHaveURL(new RegExp(`${articlePath}$`));
      await expect(other.locator('button.btn-primary:has-text("Unfavorite")').first()).toContainText("1");

      await other.locator(`button:has-text("Follow ${author.username}")`).first().click();
      await expect(other).toHaveURL(new RegExp(`${articlePath}$`));
      await expect(other.locator(`button:has-text("Unfollow ${author.username}")`).first()).toBeVisible();

      await other.goto(`/profile/${author.username}`);
      await expect(other.locator(".user-info h4")).toHaveText(author.username);
      await expect(other.locator(`button:has-text("Unfollow ${author.username}")`)).toBeVisible();
      await expect(other.locator(".article-preview h1")).toHaveText([title]);
      await checkAccessibility(other, "profile of someone else", testInfo);

      await other.goto("/");
      await other.locator(".feed-toggle").getByRole("link", { name: "Your Feed" }).click();
      await expect(other).toHaveURL("/?feed=following");
      await expect(other.locator(".article-preview h1")).toHaveText([title]);
      await checkAccessibility(other, "home, your feed", testInfo);

      await other.goto(`/profile/${reader.username}`);
      await other.getByRole("link", { name: /Favorited/ }).click();
      await expect(other).toHaveURL(`/profile/${reader.username}/favorites`);
      await expect(other.locator(".article-preview h1")).toHaveText([title]);
      await checkAccessibility(other, "profile, favorites tab", testInfo);
    } finally {
      await other.context().close();
    }
  });

  test("changes their bio in the settings", async ({}, testInfo) => {
    await page.goto("/settings");
    await expect(page.locator('input[name="username"]')).toHaveValue(author.username);
    await expect(page.locator('textarea[name="bio"]')).toHaveValue("");
    await checkAccessibility(page, "settings", testInfo);
    const bio = "Writes about Markdown.";
    await page.fill('textarea[name="bio"]', bio);
    await page.locator('button[type="submit"]').first().click();
    await expect(page).toHaveURL(`/profile/${author.username}`);
    await expect(page.locator(".user-info p")).toHaveText(bio);
    await expect(page.getByRole("link", { name: "Edit Profile Settings" })).toBeVisible();
    await checkAccessibility(page, "own profile", testInfo);
    await page.goto("/settings");
    await expect(page.locator('textarea[name="bio"]')).toHaveValue(bio);
  });

  test("signs out", async () => {
    await signOut(page);
    await page.goto("/settings");
    await expect(page).not.toHaveURL("/settings");
    await page.goto("/editor");
    await expect(page).not.toHaveURL("/editor");
  });
});

test("an unknown page answers 404 with the layout", async ({ page }, testInfo) => {
  const response = await page.goto("/no-such-page");
  expect(response?.status()).toBe(404);
  await expect(page.locator("nav.navbar")).toBeVisible();
  await checkAccessibility(page, "404", testInfo);
});
