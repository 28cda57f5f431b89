/**
 * The playground on a server with API keys: the first 401 asks for the key once (however
 * many calls failed), the key is stored and sent as a header (never in a URL), survives a
 * reload, and "Forget key" removes it. A refused or wrong key shows the server's message.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext } from 'playwright-core';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { browserMissing, launchBrowser, openPlayground, screenshot, type PlaygroundPage } from './browser.js';
import { cards, countDialogsScript, dialogCount, generate, until } from './pageHelpers.js';

const skip = browserMissing();
const KEY = 'secret-key-1';

describe('API keys in the playground', { skip, timeout: 120_000 }, () => {
  let server: TestServer;
  let browser: Browser;
  let context: BrowserContext;
  let ui: PlaygroundPage;
  /** Every /v1 request: its URL and Authorization header. */
  const v1: Array<{ url: string; auth: string | undefined }> = [];
  before(async () => {
    server = await startTestServer({ apiKeys: `alice:${KEY}`, syntheticStepMs: 20 });
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.addInitScript(countDialogsScript);
    context.on('request', async (r) => {
      if (new URL(r.url()).pathname.startsWith('/v1/')) v1.push({ url: r.url(), auth: (await r.allHeaders()).authorization });
    });
    ui = await openPlayground(browser, server.url, { context });
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  const dialog = () => ui.page.getByRole('dialog', { name: 'API key needed' });
  const storedKey = () => ui.page.evaluate(() => localStorage.getItem('zimage.apiKey'));

  test('the first 401 asks for the key once; with it the page works', async () => {
    const { page } = ui;
    await dialog().waitFor();
    assert.match(await dialog().innerText(), /This server requires an API key/);
    assert.ok(await page.getByRole('textbox', { name: 'API key' }).evaluate((el) => el === document.activeElement), 'focus is in the dialog');
    await screenshot(page, 'key-dialog');
    await page.getByRole('textbox', { name: 'API key' }).fill(KEY);
    await page.getByRole('button', { name: 'Save key' }).click();
    await dialog().waitFor({ state: 'hidden' });
    assert.equal(await dialogCount(page), 1, 'one dialog for the gallery and the queue calls together');
    assert.equal(await storedKey(), KEY);
    await generate(page, 'a key-protected kite', { steps: 4, size: '256x256' });
    await cards(page, 'a key-protected kite').waitFor();
    assert.equal(await dialogCount(page), 1);
    assert.ok(await page.getByRole('button', { name: 'Forget key' }).isVisible());
  });

  test('the key goes in the Authorization header, never in a URL', () => {
    assert.ok(v1.length > 3);
    for (const r of v1) assert.ok(!r.url.includes(KEY), r.url);
    const afterKey = v1.filter((r) => r.auth !== undefined);
    assert.ok(afterKey.some((r) => r.url.includes('/events')), 'the event stream carries it too');
    for (const r of afterKey) assert.equal(r.auth, `Bearer ${KEY}`);
  });

  test('after a reload the stored key is used without asking', async () => {
    const { page } = ui;
    await page.reload();
    await cards(page, 'a key-protected kite').waitFor();
    assert.equal(await dialogCount(page), 0);
  });

  test('"Forget key" removes it; the next visit asks again, and a refusal shows the server\'s message', async () => {
    const { page } = ui;
    await page.getByRole('button', { name: 'Forget key' }).click();
    assert.equal(await storedKey(), null);
    assert.equal(await cards(page, 'a key-protected kite').count(), 0, 'the gallery of that key is hidden');
    assert.ok(await page.getByRole('button', { name: 'Enter API key' }).isVisible());
    await page.reload();
    await dialog().waitFor();
    await page.getByRole('button', { name: 'Cancel' }).click();
    const notice = page.locator('#notices .notice');
    await notice.first().waitFor();
    assert.match(await notice.first().innerText(), /This server requires an API key\. Send it as "Authorization: Bearer YOUR_KEY"/);
    assert.equal(await dialogCount(page), 1, 'a refusal is not asked again');
    await screenshot(page, 'key-refused');
  });

  test('"Enter API key" asks again; a wrong key is refused with the server\'s reason', async () => {
    const { page } = ui;
    await page.getByRole('button', { name: 'Enter API key' }).click();
    await dialog().waitFor();
    await page.getByRole('textbox', { name: 'API key' }).fill('wrong-key');
    await page.getByRole('button', { name: 'Save key' }).click();
    await until('the dialog to ask again', async () => /The API key is not valid/.test(await dialog().innerText()));
    await page.getByRole('textbox', { name: 'API key' }).fill(KEY);
    await page.getByRole('button', { name: 'Save key' }).click();
    await cards(page, 'a key-protected kite').waitFor();
    assert.equal(await storedKey(), KEY);
    assert.equal(await page.locator('#notices .notice').count(), 0, 'the refusal notice is cleared');
    assert.deepEqual(ui.foreign, []);
    assert.deepEqual(ui.errors, []);
  });
});
