// Opens Conduit's pages in the system's headless Chromium with no network beyond 127.0.0.1
// and prints, as one JSON object, what each showed: the elements that prove it rendered,
// the requests it tried elsewhere (blocked), its Content-Security-Policy violations, its
// console errors and failed requests.
//
//   node check_pages.mjs <chromium> <base URL, e.g. http://127.0.0.1:8000>
import { chromium } from 'playwright-core';

const [executablePath, base] = process.argv.slice(2);
const TIMEOUT_MS = 20000;

const PAGES = {
  docs: {
    path: '/docs',
    // Swagger UI lists the operations of /api/openapi.json.
    ready: '.opblock',
    count: '.opblock',
  },
  graphiql: {
    path: '/graphql',
    // GraphiQL's query editor (CodeMirror) and its run button.
    ready: '.graphiql-query-editor .CodeMirror',
    count: '.graphiql-execute-button',
  },
};

async function check(browser, name) {
  const { path, ready, count } = PAGES[name];
  const context = await browser.newContext({ extraHTTPHeaders: { Accept: 'text/html' } });
  const page = await context.newPage();
  const result = { blocked: [], violations: [], console: [], failed: [], status: null };
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.hostname === '127.0.0.1') return route.continue();
    result.blocked.push(url.href);
    return route.abort('blockedbyclient');
  });
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (event) => {
      console.error(`CSP violation: ${event.violatedDirective} ${event.blockedURI}`);
    });
  });
  page.on('console', (message) => {
    if (message.type() === 'error') result.console.push(message.text());
  });
  page.on('requestfailed', (request) => {
    result.failed.push(`${request.url()} ${request.failure()?.errorText}`);
  });
  page.on('response', (response) => {
    if (response.status() >= 400) result.failed.push(`${response.url()} ${response.status()}`);
  });
  try {
    const response = await page.goto(base + path, { waitUntil: 'load', timeout: TIMEOUT_MS });
    result.status = response?.status() ?? null;
    await page.waitForSelector(ready, { timeout: TIMEOUT_MS });
    result.count = await page.locator(count).count();
  } catch (error) {
    result.error = String(error).slice(0, 2000);
  }
  result.violations = result.console.filter((text) => /Content.Security.Policy|CSP violation/i.test(text));
  await context.close();
  return result;
}

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
try {
  const results = {};
  for (const name of Object.keys(PAGES)) results[name] = await check(browser, name);
  console.log(JSON.stringify(results));
} finally {
  await browser.close();
}
