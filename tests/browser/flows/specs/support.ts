/**
 * What the specs share: fresh readers, signing up and in through the pages, publishing an
 * article through the editor, and the axe-core check every visited page goes through.
 */
import AxeBuilder from "@axe-core/playwright";
import { expect, type Page, type TestInfo } from "@playwright/test";
import { appendFileSync } from "node:fs";

export const PASSWORD = "password123";

export interface Reader {
  username: string;
  email: string;
  password: string;
}

let made = 0;

/** A reader nobody has used yet (unique across projects and runs). */
export function newReader(role: string, testInfo: TestInfo): Reader {
  made += 1;
  const stamp = `${Date.now().toString(36)}${made}`;
  const username = `${role}${testInfo.project.name}${stamp}`;
  return { username, email: `${username}@flows.example`, password: PASSWORD };
}

export function jsOn(testInfo: TestInfo): boolean {
  return testInfo.project.name === "js";
}

export async function signUp(page: Page, reader: Reader): Promise<void> {
  await page.goto("/register");
  await page.fill('input[name="username"]', reader.username);
  await page.fill('input[name="email"]', reader.email);
  await page.fill('input[name="password"]', reader.password);
  await page.click('button[type="submit"]');
  await expect(page).toHaveURL("/");
  await expect(page.locator(`nav a[href="/profile/${reader.username}"]`)).toBeVisible();
}

export async function signIn(page: Page, email: string, password: string): Promise<void> {
  await page.goto("/login");
  await page.fill('input[name="email"]', email);
  await page.fill('input[name="password"]', password);
  await page.click('button[type="submit"]');
  await expect(page).toHaveURL("/");
}

export async function signOut(page: Page): Promise<void> {
  await page.goto("/settings");
  await page.getByRole("button", { name: "Or click here to logout" }).click();
  await expect(page).toHaveURL("/");
  await expect(page.locator('nav a[href="/login"]')).toBeVisible();
}

export interface Draft {
  title: string;
  description: string;
  body: string;
  tags: string[];
}

/**
 * Publishes through the editor; tags go in the tag input: with JavaScript each one then
 * Enter (a pill each), without it comma-separated in the same input. Ends on the article.
 */
export async function publish(page: Page, draft: Draft, testInfo: TestInfo): Promise<string> {
  await page.goto("/editor");
  await page.fill('input[name="title"]', draft.title);
  await page.fill('input[name="description"]', draft.description);
  await page.fill('textarea[name="body"]', draft.body);
  const tagInput = page.locator('input[placeholder="Enter tags"]');
  if (draft.tags.length > 0) {
    if (jsOn(testInfo)) {
      for (const tag of draft.tags) {
        await tagInput.fill(tag);
        await tagInput.press("Enter");
        await expect(tagInput).toHaveValue("");
      }
      await expect(page).toHaveURL("/editor"); // Enter added pills, it did not submit
      await expect(page.locator(".tag-list .tag-pill")).toHaveCount(draft.tags.length);
    } else {
      await tagInput.fill(draft.tags.join(", "));
    }
  }
  await page.getByRole("button", { name: "Publish Article" }).click();
  await page.waitForURL(/\/article\/[^/]+$/);
  return new URL(page.url()).pathname;
}

export interface AxeViolation {
  id: string;
  impact: string | null | undefined;
  help: string;
  nodes: number;
  targets: string[];
}

async function axeOn(page: Page) {
  return new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa"]).analyze();
}

/**
 * axe-core runs in the page, which JavaScript off forbids: the page as the reader has it
 * (its DOM, taken without running a script in it) is served again at its own address to a
 * page with JavaScript on, with the same styles and images and without conduit.js.
 */
async function axeOnCopyOf(page: Page) {
  const html = await page.content();
  const url = page.url();
  const browser = page.context().browser();
  if (browser === null) throw new Error("the page has no browser");
  const context = await browser.newContext({ javaScriptEnabled: true });
  try {
    await context.route(/\/conduit\.js(\?|$)/, (route) => route.abort());
    await context.route(url, (route) =>
      route.fulfill({ status: 200, contentType: "text/html; charset=utf-8", body: html }),
    );
    const copy = await context.newPage();
    await copy.goto(url);
    return await axeOn(copy);
  } finally {
    await context.close();
  }
}

/**
 * axe-core (WCAG 2 A and AA rules) on the page as it is now. Every violation is logged (to
 * FLOWS_AXE_LOG, one line per page); the page passes with no serious or critical one.
 */
export async function checkAccessibility(page: Page, name: string, testInfo: TestInfo) {
  const results = jsOn(testInfo) ? await axeOn(page) : await axeOnCopyOf(page);
  const violations: AxeViolation[] = results.violations.map((violation) => ({
    id: violation.id,
    impact: violation.impact,
    help: violation.help,
    nodes: violation.nodes.length,
    targets: violation.nodes.slice(0, 5).map((node) => node.target.join(" ")),
  }));
  const log = process.env.FLOWS_AXE_LOG;
  if (log) {
    const line = {
      project: testInfo.project.name,
      page: name,
      url: new URL(page.url()).pathname,
      passes: results.passes.length,
      violations,
    };
    appendFileSync(log, JSON.stringify(line) + "\n");
  }
  const serious = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  expect(serious, `${name}: serious or critical axe violations`).toEqual([]);
}
