/**
 * The live queue with a slow engine, so that tasks wait: positions, several tasks at once
 * (more than the page follows by event stream, the rest by polling), the queue restored
 * after a reload, and Cancel on queued and running tasks.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { getJson } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { browserMissing, launchBrowser, openPlayground, screenshot, type PlaygroundPage } from './browser.js';
import { generate, until } from './pageHelpers.js';

const skip = browserMissing();
const PROMPTS = ['first in line', 'second in line', 'third in line', 'fourth in line', 'fifth in line'];

describe('the queue in a browser', { skip, timeout: 120_000 }, () => {
  let server: TestServer;
  let browser: Browser;
  let ui: PlaygroundPage;
  before(async () => {
    // 200 ms a step, 100 steps: the first task runs for 20 s while the others wait.
    server = await startTestServer({ syntheticStepMs: 200 });
    browser = await launchBrowser();
    ui = await openPlayground(browser, server.url);
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  const item = (prompt: string) => ui.page.locator('#queue-list > li', { hasText: prompt });
  const stateOf = async (prompt: string) => (await item(prompt).locator('.queue-state').innerText()).trim();
  const status = async (prompt: string) => {
    const list = (await getJson(`${server.url}/v1/images/tasks?limit=100`)).body.data as Array<{ status: string; request: { prompt: string } }>;
    return list.find((t) => t.request.prompt === prompt)?.status;
  };

  test('several tasks at once, each with its queue position, progress and ETA', async () => {
    const { page } = ui;
    for (const prompt of PROMPTS) await generate(page, prompt, { steps: 100, size: '256x256' });
    await until('five queue items', async () => (await page.locator('#queue-list > li').count()) === 5);
    await until('the first task to run', async () => /^Generating: step [1-9]\d* of 100 · about \d+ (s|min) left$/.test(await stateOf(PROMPTS[0])));
    // Positions also for the tasks beyond the streams the page keeps open (they are polled).
    for (const [i, prompt] of PROMPTS.entries()) {
      if (i === 0) continue;
      await until(`the position of "${prompt}"`, async () => (await stateOf(prompt)).startsWith(`Queued: position ${i}`));
    }
    assert.match(await stateOf(PROMPTS[1]), /^Queued: position 1 \(next\)/);
    assert.match(await stateOf(PROMPTS[3]), /^Queued: position 3 \(2 ahead\)/);
    const bar = page.getByRole('progressbar', { name: PROMPTS[0] });
    await until('the running bar to move', async () => Number(await bar.getAttribute('aria-valuenow')) > 0);
    assert.match((await bar.getAttribute('aria-valuetext'))!, /^\d+%: Generating: step \d+ of 100$/);
    assert.equal(await page.getByRole('progressbar', { name: PROMPTS[4] }).getAttribute('aria-valuenow'), '0');
    // The running task shows its live preview (ZIMAGE_PREVIEW_EVERY, default every 2 steps), from its event stream.
    const preview = item(PROMPTS[0]).locator('img.queue-preview');
    await until('a live preview', async () => /^Preview of the unfinished image at step \d+ of 100$/.test((await preview.getAttribute('alt')) ?? ''));
    assert.ok(await preview.isVisible());
    assert.match((await preview.getAttribute('src'))!, /^data:image\/webp;base64,/);
    assert.equal(await item(PROMPTS[1]).locator('img.queue-preview').isVisible(), false);
    await screenshot(page, 'queue');
    await screenshot(page, 'queue');
  });

  test('a reload finds the tasks still processing, oldest first', async () => {
    const { page } = ui;
    await page.reload();
    await until('five queue items again', async () => (await page.locator('#queue-list > li').count()) === 5);
    const prompts = await page.locator('#queue-list .queue-prompt').allInnerTexts();
    assert.deepEqual(prompts, PROMPTS);
    await until('positions again', async () => (await stateOf(PROMPTS[2])).startsWith('Queued: position 2'));
  });

  test('Cancel on a queued task removes it at once; the ones behind move up', async () => {
    await item(PROMPTS[2]).getByRole('button', { name: 'Cancel' }).click();
    await item(PROMPTS[2]).waitFor({ state: 'detached' });
    assert.equal(await status(PROMPTS[2]), 'canceled');
    await until('the fourth to move up', async () => (await stateOf(PROMPTS[3])).startsWith('Queued: position 2'));
    await until('the fifth to move up', async () => (await stateOf(PROMPTS[4])).startsWith('Queued: position 3'));
    await until('the announcement', async () => /Canceled: third in line/.test(await ui.page.locator('#status').innerText()));
  });

  test('Cancel on the running task stops it; the next one starts', async () => {
    await item(PROMPTS[0]).getByRole('button', { name: 'Cancel' }).click();
    await item(PROMPTS[0]).waitFor({ state: 'detached' });
    assert.equal(await status(PROMPTS[0]), 'canceled');
    await until('the second to run', async () => (await stateOf(PROMPTS[1])).startsWith('Generating'));
  });

  test('canceling the rest empties the queue; nothing went to another origin', async () => {
    const { page } = ui;
    for (const prompt of [PROMPTS[4], PROMPTS[3], PROMPTS[1]]) {
      await item(prompt).getByRole('button', { name: 'Cancel' }).click();
      await item(prompt).waitFor({ state: 'detached' });
      assert.equal(await status(prompt), 'canceled');
    }
    await page.getByText('Nothing queued.').waitFor();
    assert.equal(await page.locator('#gallery-list > li').count(), 0, 'canceled tasks leave no images');
    assert.deepEqual(ui.foreign, []);
    assert.deepEqual(ui.errors, []);
  });
});
