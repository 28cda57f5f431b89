/**
 * The playground in Chromium against a real server (synthetic engine, slowed so progress can
 * be watched): generate with a moving progress bar, the gallery after a reload and after a
 * restart, "Use these settings", editing a gallery image, dropped/pasted/picked inputs,
 * deleting, and the server's own error messages. No request may leave the server.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import sharp from 'sharp';
import { sizeForInput } from '../../src/http/imageSubmit.js';
import { getJson, solidPng } from '../helpers/http.js';
import { ROOT, startTestServer, type TestServer } from '../helpers/server.js';
import { browserMissing, launchBrowser, openPlayground, screenshot, type PlaygroundPage } from './browser.js';
import { cards, generate, panel, recordedProgress, recordProgress, until } from './pageHelpers.js';

const skip = browserMissing();

describe('the playground in a browser', { skip, timeout: 120_000 }, () => {
  let server: TestServer;
  let browser: Browser;
  let ui: PlaygroundPage;
  before(async () => {
    // 40 ms a step: a 16-step task takes about 0.7 s, long enough to see its bar move.
    server = await startTestServer({ syntheticStepMs: 40 });
    browser = await launchBrowser();
    ui = await openPlayground(browser, server.url);
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test('says that the synthetic engine is running', async () => {
    const banner = ui.page.getByRole('status').filter({ hasText: 'Synthetic engine' });
    await banner.waitFor();
    assert.match(await banner.innerText(), /test patterns, not model output/);
    assert.match(await ui.page.locator('#engine-status').innerText(), /Engine: synthetic/);
  });

  test('generates an image: the progress bar moves, then the image is in the gallery', async () => {
    const { page } = ui;
    await recordProgress(page);
    await generate(page, 'a lighthouse at dawn', { steps: 16, size: '512x512', seed: 7 });
    const bar = page.getByRole('progressbar', { name: 'a lighthouse at dawn' });
    await bar.waitFor();
    assert.equal(await bar.getAttribute('aria-valuemin'), '0');
    assert.equal(await bar.getAttribute('aria-valuemax'), '100');
    await screenshot(page, 'generating');
    const card = cards(page, 'a lighthouse at dawn');
    await card.waitFor();
    const values = await recordedProgress(page);
    const between = values.filter((v) => v > 0 && v < 100);
    assert.ok(new Set(between).size >= 3, `the bar moved through several values: ${values}`);
    assert.deepEqual(values, [...values].sort((a, b) => a - b), 'and only forward');
    await bar.waitFor({ state: 'detached' });
    const img = card.getByRole('img', { name: 'a lighthouse at dawn' });
    await until('the image to load', () => img.evaluate((el) => (el as HTMLImageElement).complete && (el as HTMLImageElement).naturalWidth === 512));
    assert.match(await card.innerText(), /512 × 512 · seed 7/);
    const download = card.getByRole('link', { name: 'Download' });
    assert.match((await download.getAttribute('download'))!, /^zimage-\w+-1\.png$/);
    assert.equal(new URL((await download.getAttribute('href'))!).origin, server.url);
    await screenshot(page, 'generated');
  });

  test('the gallery is the server\'s: it is still there after a reload', async () => {
    const { page } = ui;
    await page.reload();
    await cards(page, 'a lighthouse at dawn').waitFor();
  });

  test('"Use these settings" fills the Generate form from the task\'s request', async () => {
    const { page } = ui;
    const form = panel(page, 'Generate');
    await form.getByLabel('Prompt', { exact: true }).fill('something else');
    await form.getByLabel('Size').selectOption('1344x768');
    await cards(page, 'a lighthouse at dawn').getByRole('button', { name: 'Use these settings' }).click();
    assert.equal(await form.getByLabel('Prompt', { exact: true }).inputValue(), 'a lighthouse at dawn');
    assert.equal(await form.getByLabel('Size').inputValue(), '512x512');
    assert.equal(await form.getByLabel(/^Seed/).inputValue(), '7');
    assert.equal(await form.getByLabel(/^Steps/).inputValue(), '16');
    assert.ok(await form.getByLabel('Prompt', { exact: true }).evaluate((el) => el === document.activeElement), 'focus moves to the prompt');
  });

  test('the dice button picks a random seed', async () => {
    const seed = panel(ui.page, 'Generate').getByLabel(/^Seed/);
    const dice = panel(ui.page, 'Generate').getByRole('button', { name: 'Random seed' });
    const seen = new Set<string>();
    for (let i = 0; i < 3; i++) {
      await dice.click();
      const value = await seed.inputValue();
      assert.match(value, /^\d+$/);
      assert.ok(Number(value) <= 4294967295);
      seen.add(value);
    }
    assert.ok(seen.size > 1);
  });

  test('"Edit this image" opens the Edit tab with that image; the edit lands in the gallery', async () => {
    const { page } = ui;
    await cards(page, 'a lighthouse at dawn').getByRole('button', { name: 'Edit this image' }).click();
    const editTab = page.getByRole('tab', { name: 'Edit' });
    await until('the Edit tab', async () => (await editTab.getAttribute('aria-selected')) === 'true');
    const form = panel(page, 'Edit');
    const preview = form.getByRole('img', { name: 'The image to edit' });
    await preview.waitFor();
    await until('the preview', () => preview.evaluate((el) => (el as HTMLImageElement).naturalWidth === 512));
    assert.equal(await form.getByLabel('Image to edit').evaluate((el) => (el as HTMLInputElement).files?.length), 1);
    await form.getByLabel('What the result should look like').fill('the lighthouse at night');
    await form.getByLabel(/^Strength/).fill('0.8');
    assert.match(await form.locator('output').innerText(), /0\.80/);
    await form.getByRole('button', { name: 'Edit image' }).click();
    const card = cards(page, 'the lighthouse at night');
    await card.waitFor();
    assert.match(await card.innerText(), /1024 × 1024 · seed \d+ · edit/, 'the input\'s shape at about one megapixel');
    const list = (await getJson(`${server.url}/v1/images/tasks?status=completed`)).body;
    const editTask = list.data.find((t: { kind: string }) => t.kind === 'edit');
    assert.equal(editTask.request.prompt, 'the lighthouse at night');
    assert.equal(editTask.request.strength, 0.8);
    assert.equal(editTask.request.size, '1024x1024');
    await screenshot(page, 'edited');
  });

  test('the image to edit can be picked, dropped or pasted; a mask is optional', async () => {
    const { page } = ui;
    await page.reload(); // a fresh form: strength untouched
    await page.getByRole('tab', { name: 'Edit' }).click();
    const form = panel(page, 'Edit');
    const preview = form.getByRole('img', { name: 'The image to edit' });
    const width = () => preview.evaluate((el) => (el as HTMLImageElement).naturalWidth);

    await form.getByLabel('Image to edit').setInputFiles({ name: 'picked.png', mimeType: 'image/png', buffer: await solidPng(320, 256, [200, 30, 30]) });
    await until('the picked image', async () => (await width()) === 320);

    const dropped = (await solidPng(288, 256, [30, 200, 30])).toString('base64');
    await page.evaluate((b64) => {
      const dt = new DataTransfer();
      dt.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], 'dropped.png', { type: 'image/png' }));
      document.getElementById('drop-zone')!.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    }, dropped);
    await until('the dropped image', async () => (await width()) === 288);

    await page.getByRole('tab', { name: 'Generate' }).click();
    const pasted = (await solidPng(272, 256, [30, 30, 200])).toString('base64');
    await page.evaluate((b64) => {
      const dt = new DataTransfer();
      dt.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], 'pasted.png', { type: 'image/png' }));
      document.body.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
    }, pasted);
    await until('the pasted image, in the Edit tab', async () =>
      (await page.getByRole('tab', { name: 'Edit' }).getAttribute('aria-selected')) === 'true' && (await width()) === 272);

    await form.getByLabel(/^Mask/).setInputFiles({ name: 'mask.png', mimeType: 'image/png', buffer: await solidPng(272, 256, [255, 255, 255]) });
    await form.getByLabel('What the result should look like').fill('a pasted square, masked');
    await form.getByRole('button', { name: 'Edit image' }).click();
    const card = cards(page, 'a pasted square, masked');
    await card.waitFor();
    assert.match(await card.innerText(), new RegExp(sizeForInput(272, 256).replace('x', ' × ')));
    const task = (await getJson(`${server.url}/v1/images/tasks?status=completed&limit=1`)).body.data[0];
    assert.equal(task.request.strength, 1, 'strength left to the server: a masked edit repaints');
    await form.getByLabel(/^Mask/).setInputFiles([]);
  });

  test('errors show the server\'s message at the field it names', async () => {
    const { page } = ui;
    await page.getByRole('tab', { name: 'Generate' }).click();
    const form = panel(page, 'Generate');
    await form.getByLabel('Prompt', { exact: true }).fill('a wrong size');
    await form.getByLabel('Size').selectOption('custom');
    await form.getByLabel('Width').fill('1000');
    await form.getByRole('button', { name: 'Generate' }).click();
    const alert = form.getByRole('alert');
    await alert.waitFor();
    assert.match(await alert.innerText(), /"size" must be "WIDTHxHEIGHT" with each side a multiple of 16/);
    assert.equal(await form.getByLabel('Width').getAttribute('aria-invalid'), 'true');
    assert.ok(await form.getByLabel('Width').evaluate((el) => el === document.activeElement));
    await screenshot(page, 'error');

    await form.getByLabel('Size').selectOption('512x512');
    await form.getByLabel('Prompt', { exact: true }).fill('   ');
    await form.getByRole('button', { name: 'Generate' }).click();
    await until('the prompt error', async () => /prompt/.test(await alert.innerText()));
    assert.equal(await form.getByLabel('Prompt', { exact: true }).getAttribute('aria-invalid'), 'true');
    assert.equal(await form.getByLabel('Width').getAttribute('aria-invalid'), null, 'the earlier mark is cleared');
  });

  test('delete removes the task\'s images from the gallery and the server', async () => {
    const { page } = ui;
    const card = cards(page, 'a lighthouse at dawn');
    const src = await card.getByRole('img').getAttribute('src');
    const del = card.getByRole('button', { name: 'Delete' });
    await del.click();
    // The first press arms it; the second deletes.
    await card.getByRole('button', { name: 'Confirm delete' }).click();
    await card.waitFor({ state: 'detached' });
    const id = new URL(src!).pathname;
    assert.equal((await fetch(`${server.url}${id}`)).status, 404, 'the image file is gone');
    await page.reload();
    await cards(page, 'the lighthouse at night').waitFor();
    assert.equal(await cards(page, 'a lighthouse at dawn').count(), 0);
  });

  test('keyboard: arrow keys move between the tabs, and focus is visible', async () => {
    const { page } = ui;
    const generateTab = page.getByRole('tab', { name: 'Generate' });
    await generateTab.click();
    await generateTab.focus();
    await page.keyboard.press('ArrowRight');
    const editTab = page.getByRole('tab', { name: 'Edit' });
    assert.equal(await editTab.getAttribute('aria-selected'), 'true');
    assert.ok(await editTab.evaluate((el) => el === document.activeElement));
    await page.keyboard.press('ArrowLeft');
    assert.equal(await generateTab.getAttribute('aria-selected'), 'true');
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => {
      const el = document.activeElement as HTMLElement;
      const style = getComputedStyle(el);
      return { label: (el as HTMLTextAreaElement).labels?.[0]?.textContent, outline: style.outlineStyle, width: parseFloat(style.outlineWidth) };
    });
    assert.equal(focused.label, 'Prompt', 'Tab from the tabs goes to the prompt');
    assert.notEqual(focused.outline, 'none');
    assert.ok(focused.width >= 2);
  });

  test('made no request to any other origin, and no page errors', () => {
    assert.deepEqual(ui.foreign, []);
    assert.deepEqual(ui.errors, []);
  });

  test('the gallery survives a server restart (same data directory)', async () => {
    const dataDir = server.dataDir;
    await ui.context.close();
    await server.close();
    server = await startTestServer({ dataDir, syntheticStepMs: 40 });
    ui = await openPlayground(browser, server.url);
    await cards(ui.page, 'the lighthouse at night').waitFor();
    assert.deepEqual(ui.foreign, []);
  });

  test('older images come page by page ("Show older images")', async () => {
    const { page } = ui;
    const before = await page.locator('#gallery-list > li').count();
    const ids: string[] = [];
    for (let i = 0; i < 24; i++) {
      const res = await fetch(`${server.url}/v1/images/async_generate`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: `filler ${i}`, size: '256x256', num_inference_steps: 1 }),
      });
      ids.push((await res.json()).task_id);
    }
    await until('the fillers to finish', async () =>
      (await getJson(`${server.url}/v1/images/tasks?status=processing`)).body.data.length === 0, 30_000);
    await page.reload();
    await cards(page, 'filler 23').waitFor();
    assert.equal(await page.locator('#gallery-list > li').count(), 24, 'one page of 24');
    const more = page.getByRole('button', { name: 'Show older images' });
    await more.click();
    await until('the older page', async () => (await page.locator('#gallery-list > li').count()) === 24 + before);
    assert.ok(await more.isHidden(), 'no more pages');
  });
});

describe('a desktop screenshot', { skip, timeout: 120_000 }, () => {
  test('with a few gallery images and one running (copied to docs/playground.png with UPDATE_DOCS_SCREENSHOT=1)', async (t) => {
    const server = await startTestServer({ syntheticStepMs: 40 });
    const browser = await launchBrowser();
    t.after(async () => {
      await browser.close();
      await server.close();
    });
    const { page, foreign } = await openPlayground(browser, server.url);
    const shots: Array<[string, number]> = [
      ['a lighthouse on a cliff at dawn, watercolour', 3], ['a red fox in fresh snow, golden hour', 11],
      ['an isometric tiny city on a floating island', 23],
    ];
    for (const [prompt, seed] of shots) {
      await generate(page, prompt, { steps: 4, size: '768x768', seed });
      await cards(page, prompt).waitFor();
    }
    await generate(page, 'a bowl of ramen, studio photo', { steps: 40, size: '768x768', seed: 5 });
    const bar = page.getByRole('progressbar', { name: 'a bowl of ramen, studio photo' });
    await until('the ramen task to be under way', async () => Number(await bar.getAttribute('aria-valuenow')) >= 30, 10_000);
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    const file = await screenshot(page, 'desktop');
    if (process.env.UPDATE_DOCS_SCREENSHOT) {
      // A palette PNG keeps the README's copy small (the test patterns are noisy).
      const docs = path.join(ROOT, 'docs/playground.png');
      await sharp(file).png({ palette: true, quality: 80, effort: 10 }).toFile(docs);
      assert.ok(fs.statSync(docs).size < 300_000, `docs/playground.png is ${fs.statSync(docs).size} bytes`);
    }
    assert.deepEqual(foreign, []);
  });
});
