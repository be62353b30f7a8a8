/**
 * A reader with a keyboard and no mouse: the skip link first, then sign up, write an
 * article, comment on it and favorite it from the home page with Tab, typing, Enter and
 * Space only. Every
 * step checks where the focus is (the next field in reading order, a visible outline), so
 * a field out of order, a control that takes no focus or a form that Enter does not send
 * fails here. In both projects: with JavaScript off, Enter still sends each form.
 */
import { expect, test, type Page, type TestInfo } from "@playwright/test";
import { jsOn, newReader } from "./support";

/** Presses Tab until `selector` has the focus (at most `most` presses). */
async function tabTo(page: Page, selector: string, most = 40): Promise<void> {
  for (let presses = 0; presses < most; presses += 1) {
    await page.keyboard.press("Tab");
    if ((await page.locator(`${selector}:focus`).count()) === 1) {
      return;
    }
  }
  throw new Error(`${selector} took no focus in ${most} presses of Tab`);
}

/** The focused element draws an outline (the style sheet's :focus-visible ring). */
async function expectFocusRing(page: Page, selector: string): Promise<void> {
  const focused = page.locator(`${selector}:focus`);
  await expect(focused).toHaveCount(1);
  await expect(focused).toHaveCSS("outline-style", "solid");
}

/** Tab moves from the focused field straight to `selector`, then types `text`. */
async function nextField(page: Page, selector: string, text: string): Promise<void> {
  await page.keyboard.press("Tab");
  await expect(page.locator(`${selector}:focus`)).toHaveCount(1);
  await page.keyboard.type(text);
}

test("a keyboard alone signs up, writes, comments and favorites", async ({ page }, testInfo: TestInfo) => {
  test.slow(); // some forty key presses a step on a loaded machine
  const reader = newReader("keys", testInfo);
  const title = `Written with keys ${Date.now()}`;

  // The skip link comes first and takes the reader past the navigation.
  await page.goto("/register");
  await page.keyboard.press("Tab");
  await expectFocusRing(page, "a.skip-link");
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL(/#main$/);

  // Sign up: the three fields in order, Enter sends the form.
  await tabTo(page, 'input[name="username"]');
  await expectFocusRing(page, 'input[name="username"]');
  await page.keyboard.type(reader.username);
  await nextField(page, 'input[name="email"]', reader.email);
  await nextField(page, 'input[name="password"]', reader.password);
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL("/");
  await expect(page.locator(`nav a[href="/profile/${reader.username}"]`)).toBeVisible();

  // The editor, reached from the navigation.
  await tabTo(page, 'nav a[href="/editor"]');
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL("/editor");
  await tabTo(page, 'input[name="title"]');
  await page.keyboard.type(title);
  await nextField(page, 'input[name="description"]', "Tab, type, Enter");
  await nextField(page, 'textarea[name="body"]', "Written **without** a mouse.");
  await nextField(page, 'input[name="tags"]', "keyboard");
  if (jsOn(testInfo)) {
    await page.keyboard.press("Enter"); // with the script: a tag pill, the form stays
    await expect(page).toHaveURL("/editor");
    await expect(page.locator(".tag-list .tag-pill")).toHaveText(["keyboard"]);
  }
  await tabTo(page, 'button[type="submit"]');
  await expectFocusRing(page, 'button[type="submit"]');
  await page.keyboard.press("Enter");
  await expect(page.locator("h1")).toHaveText(title);
  await expect(page.locator(".article-content strong")).toHaveText("without");
  await expect(page.locator(".article-page ul.tag-list")).toHaveText("keyboard");

  // Comment: the text area, then its button.
  await tabTo(page, 'textarea[name="body"]');
  await page.keyboard.type("Typed, not clicked.");
  await page.keyboard.press("Tab");
  await expect(page.locator('button:has-text("Post Comment"):focus')).toHaveCount(1);
  await page.keyboard.press("Enter");
  await expect(page.locator(".card .card-text")).toHaveText(["Typed, not clicked."]);

  // Favorite it from the home page with Space on its focused button; the count goes up.
  await tabTo(page, 'nav a[href="/"]:not(.navbar-brand)');
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL("/");
  const favorite = `button[aria-label="Favorite article: ${title}"]`;
  await tabTo(page, favorite, 80);
  await expectFocusRing(page, favorite);
  await page.keyboard.press("Space");
  await expect(page).toHaveURL("/");
  await expect(page.locator(`button[aria-label="Unfavorite article: ${title}"]`)).toHaveText("1");
});
