/**
 * Script injection: every payload of tests/web_payloads.py (FLOWS_XSS_PAYLOADS, a JSON list
 * of [name, markdown]) is stored as an article body and as a comment; the article page then
 * shows it without any script of it running (no dialog, no window.__xss), with no
 * active content left in the rendered body, and no CSP violation other than an image from
 * another site being blocked. Run with JavaScript on only (off, nothing could run anyway).
 */
import { expect, test } from "@playwright/test";
import { readFileSync, appendFileSync } from "node:fs";
import { newReader } from "./support";

const file = process.env.FLOWS_XSS_PAYLOADS;
const payloads: [string, string][] = file ? JSON.parse(readFileSync(file, "utf8")) : [];

/** A CSP report Chromium prints that only says an image of another site was not loaded. */
function blockedImage(text: string): boolean {
  return (
    /^Refused to load the image '[^']+' because it violates/.test(text) ||
    /^Loading the image '[^']+' violates the following Content Security Policy directive: "img-src [^"]*"\. The action has been blocked\.$/.test(text)
  );
}

test("no payload runs in an article body or a comment", async ({ page, request }, testInfo) => {
  expect(payloads.length, "FLOWS_XSS_PAYLOADS names the payloads").toBeGreaterThan(0);
  test.setTimeout(60_000 + payloads.length * 3_000);
  const dialogs: string[] = [];
  const csp: string[] = [];
  page.on("dialog", async (dialog) => {
    dialogs.push(`${page.url()}: ${dialog.message()}`);
    await dialog.dismiss();
  });
  page.on("console", (message) => {
    if (message.text().includes("Content Security Policy")) csp.push(message.text());
  });
  // The payloads are stored through the API (what they are stored by does not matter: the
  // body is kept as written); what is tested is the page that shows them, in Chromium.
  // Publishing through the editor is reader.spec.ts's.
  const author = newReader("xss", testInfo);
  const signedUp = await request.post("/api/users", {
    data: { user: { username: author.username, email: author.email, password: author.password } },
  });
  expect(signedUp.status()).toBe(201);
  const headers = { Authorization: `Token ${(await signedUp.json()).user.token}` };

  const marker = () => page.evaluate(() => (window as { __xss?: unknown }).__xss);
  for (const [index, [name, body]] of payloads.entries()) {
    await test.step(name, async () => {
      const published = await request.post("/api/articles", {
        headers,
        data: { article: { title: `Payload ${index}: ${name}`, description: name, body } },
      });
      expect(published.status()).toBe(201);
      const slug: string = (await published.json()).article.slug;
      const commented = await request.post(`/api/articles/${slug}/comments`, {
        headers,
        data: { comment: { body } },
      });
      expect(commented.status()).toBe(201);
      await page.goto(`/article/${slug}`, { waitUntil: "load" });
      const content = page.locator(".article-content");
      await expect(content).toBeAttached();
      const active = await content.evaluate((root) => {
        const found: string[] = [];
        for (const element of root.querySelectorAll("*")) {
          const tag = element.tagName.toLowerCase();
          if (["script", "iframe", "object", "embed", "base", "meta", "style", "form"].includes(tag)) {
            found.push(`<${tag}>`);
          }
          for (const attribute of element.getAttributeNames()) {
            const value = (element.getAttribute(attribute) || "").replace(/[\s\0]/g, "");
            if (attribute.startsWith("on") || attribute === "style" || attribute === "srcdoc") {
              found.push(`${tag}[${attribute}]`);
            } else if (/^(javascript|vbscript|data):/i.test(value)) {
              found.push(`${tag}[${attribute}=${value.slice(0, 30)}]`);
            }
          }
        }
        return found;
      });
      expect(active, "active content left in the rendered body").toEqual([]);
      const firstLine = body.split("\n")[0].trim();
      await expect(page.locator("p.card-text").last()).toContainText(firstLine);
      expect(await marker()).toBeUndefined();
    });
  }
  const others = csp.filter((text) => !blockedImage(text));
  const log = process.env.FLOWS_XSS_LOG;
  if (log) {
    const summary = {
      payloads: payloads.length,
      dialogs,
      blockedImages: csp.filter(blockedImage),
      otherCspReports: others,
    };
    appendFileSync(log, JSON.stringify(summary) + "\n");
  }
  expect(dialogs, "dialogs opened by a payload").toEqual([]);
  expect(others, "CSP violations other than blocked images").toEqual([]);
});
