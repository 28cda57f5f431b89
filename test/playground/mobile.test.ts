/**
 * The playground on a 390 px phone screen: no horizontal scrolling in any state (empty,
 * running, with images, editing, long unbroken prompts), and the Generate button is on
 * screen and works.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { browserMissing, launchBrowser, openPlayground, screenshot, type PlaygroundPage } from './browser.js';
import { assertNoHorizontalScroll, cards, panel, until } from './pageHelpers.js';

const skip = browserMissing();
const WIDTH = 390;

describe('the playground on a phone', { skip, timeout: 120_000 }, () => {
  let server: TestServer;
  let browser: Browser;
  let ui: PlaygroundPage;
  before(async () => {
    server = await startTestServer({ syntheticStepMs: 60 });
    browser = await launchBrowser();
    const context = await browser.newContext({ viewport: { width: WIDTH, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    ui = await openPlayground(browser, server.url, { context });
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test('fits 390 px: nothing scrolls sideways, the Generate button is visible and works', async () => {
    const { page } = ui;
    await page.locator('#engine-status', { hasText: 'Engine:' }).waitFor();
    await assertNoHorizontalScroll(page, WIDTH);
    await screenshot(page, 'phone-empty');

    const form = panel(page, 'Generate');
    const long = `a ${'very'.repeat(40)}long prompt without spaces ${'x'.repeat(120)}`;
    await form.getByLabel('Prompt', { exact: true }).fill(long);
    await form.getByLabel(/^Steps/).fill('20');
    await form.getByLabel('Size').selectOption('768x1344');
    const button = form.getByRole('button', { name: 'Generate' });
    await button.scrollIntoViewIfNeeded();
    assert.ok(await button.isVisible());
    const box = (await button.boundingBox())!;
    assert.ok(box.x >= 0 && box.x + box.width <= WIDTH, `the button lies within the screen: ${JSON.stringify(box)}`);
    assert.ok(box.height >= 44, 'a comfortable touch target');
    await button.tap();
    await page.getByRole('progressbar').waitFor();
    await assertNoHorizontalScroll(page, WIDTH);
    await cards(page, 'a veryvery').waitFor();
    await assertNoHorizontalScroll(page, WIDTH);
    await page.getByRole('heading', { name: 'Gallery' }).scrollIntoViewIfNeeded();
    await screenshot(page, 'phone-gallery');
  });

  test('custom sizes, the Edit tab with an image, and the key dialog fit too', async () => {
    const { page } = ui;
    const form = panel(page, 'Generate');
    await form.getByLabel('Size').selectOption('custom');
    await assertNoHorizontalScroll(page, WIDTH);
    await cards(page, 'a veryvery').getByRole('button', { name: 'Edit this image' }).tap();
    const preview = panel(page, 'Edit').getByRole('img', { name: 'The image to edit' });
    await until('the preview', () => preview.evaluate((el) => (el as HTMLImageElement).naturalWidth > 0));
    await assertNoHorizontalScroll(page, WIDTH);
    await screenshot(page, 'phone-edit');
    await page.evaluate(() => (document.getElementById('key-dialog') as HTMLDialogElement).showModal());
    await page.getByRole('dialog', { name: 'API key needed' }).waitFor();
    await assertNoHorizontalScroll(page, WIDTH);
    const box = (await page.getByRole('dialog').boundingBox())!;
    assert.ok(box.x >= 0 && box.x + box.width <= WIDTH, `the dialog fits: ${JSON.stringify(box)}`);
    await screenshot(page, 'phone-key-dialog');
    await page.keyboard.press('Escape');
    assert.deepEqual(ui.foreign, []);
    assert.deepEqual(ui.errors, []);
  });
});
