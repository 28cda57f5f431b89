/**
 * Driving the playground in a real browser: Debian's Chromium through playwright-core (no
 * browser download). Without Chromium the browser tests skip here and fail in CI.
 */
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { ROOT } from '../helpers/server.js';

export const CHROMIUM = '/usr/bin/chromium';

/**
 * The `skip` option of a browser test: a reason when Chromium is missing (false when it is
 * there). In CI a missing browser is a broken setup, not a reason to skip.
 */
export function browserMissing(): string | false {
  if (fs.existsSync(CHROMIUM)) return false;
  if (process.env.CI) throw new Error(`${CHROMIUM} is missing: install Debian's chromium package (the CI setup in .ci/run does).`);
  return `${CHROMIUM} is missing: install Chromium (apt-get install chromium) to run the playground's browser tests`;
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Without the background-networking flags Chromium keeps calling Google services.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
}

export interface PlaygroundPage {
  page: Page;
  context: BrowserContext;
  /** Requests to any origin but the server's (the page must make none). */
  foreign: string[];
  /** Uncaught errors and console errors in the page. */
  errors: string[];
}

/** A fresh browser context (its own localStorage) on the playground, recording foreign requests and page errors. */
export async function openPlayground(browser: Browser, url: string, opts: {
  viewport?: { width: number; height: number };
  context?: BrowserContext;
} = {}): Promise<PlaygroundPage> {
  const context = opts.context ?? await browser.newContext({ viewport: opts.viewport ?? { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const origin = new URL(url).origin;
  const foreign: string[] = [];
  const errors: string[] = [];
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.protocol !== 'data:' && u.protocol !== 'blob:' && u.origin !== origin) foreign.push(r.url());
  });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  await page.goto(url);
  return { page, context, foreign, errors };
}

export const ARTIFACTS = path.join(ROOT, 'test-artifacts/playground');

export async function screenshot(page: Page, name: string, fullPage = false): Promise<string> {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage });
  return file;
}
