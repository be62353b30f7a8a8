/**
 * The RealWorld project's Playwright specs against Conduit's web app, in fullstack mode.
 *
 * tests/browser/test_realworld_specs.py copies the specs (REALWORLD_DIR/e2e) into ./e2e,
 * starts `conduit serve` and runs `npx playwright test` here with:
 *   CONDUIT_E2E_BASE_URL   the server's base URL (default http://127.0.0.1:8000)
 *   CONDUIT_E2E_REPORT     where the JSON report goes (default results/report.json)
 *   CONDUIT_CHROMIUM       the system's Chromium (default /usr/bin/chromium; no download)
 *
 * Everything else is the specs' own base configuration: one worker, files in order, their
 * timeouts, 2 retries in CI (CI=true) and 1 elsewhere.
 */
import { defineConfig, devices } from '@playwright/test';
import { baseConfig } from './e2e/playwright.base';

// Conduit owns its whole stack: the specs drive everything through the pages.
process.env.TEST_MODE ??= 'fullstack';

const results = process.env.CONDUIT_E2E_RESULTS || 'results';

export default defineConfig({
  ...baseConfig,
  testDir: './e2e',
  // A run that fails most specs (each one waits out its timeouts, retried) stops here, reported.
  globalTimeout: 20 * 60_000,
  outputDir: `${results}/artifacts`,
  reporter: [['line'], ['json', { outputFile: process.env.CONDUIT_E2E_REPORT || `${results}/report.json` }]],
  use: {
    ...baseConfig.use,
    baseURL: process.env.CONDUIT_E2E_BASE_URL || 'http://127.0.0.1:8000',
  },
  projects: [
    {
      name: 'chromium',
      use: {
        ...devices['Desktop Chrome'],
        launchOptions: {
          executablePath: process.env.CONDUIT_CHROMIUM || '/usr/bin/chromium',
          args: ['--disable-gpu', '--disable-dev-shm-usage'],
        },
      },
    },
  ],
});
