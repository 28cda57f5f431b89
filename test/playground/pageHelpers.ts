/** What the playground's browser tests do over and over: generate, find cards, read progress. */
import assert from 'node:assert/strict';
import type { Locator, Page } from 'playwright-core';

export const panel = (page: Page, name: 'Generate' | 'Edit') => page.getByRole('tabpanel', { name });

/** The gallery cards of images whose prompt contains `text`. */
export const cards = (page: Page, text: string): Locator => page.locator('#gallery-list > li', { hasText: text });

/** Fills the Generate form (prompt, optional steps/size/seed/n) and presses Generate. */
export async function generate(page: Page, prompt: string, opts: { steps?: number; size?: string; seed?: number; n?: number } = {}): Promise<void> {
  await page.getByRole('tab', { name: 'Generate' }).click();
  const form = panel(page, 'Generate');
  await form.getByLabel('Prompt', { exact: true }).fill(prompt);
  await form.getByLabel(/^Steps/).fill(opts.steps === undefined ? '' : String(opts.steps));
  await form.getByLabel(/^Seed/).fill(opts.seed === undefined ? '' : String(opts.seed));
  const size = opts.size ?? '1024x1024';
  const preset = await form.getByLabel('Size').locator(`option[value="${size}"]`).count();
  await form.getByLabel('Size').selectOption(preset ? size : 'custom');
  if (!preset) {
    const [width, height] = size.split('x');
    await form.getByLabel('Width').fill(width);
    await form.getByLabel('Height').fill(height);
  }
  await form.getByLabel('Images').selectOption(String(opts.n ?? 1));
  await form.getByRole('button', { name: 'Generate' }).click();
}

/** Records every aria-valuenow any progress bar takes from now on, in window.__progress. */
export async function recordProgress(page: Page): Promise<void> {
  await page.evaluate(() => {
    const seen: number[] = [];
    (window as unknown as { __progress: number[] }).__progress = seen;
    new MutationObserver((records) => {
      for (const r of records) {
        const el = r.target as Element;
        if (el.getAttribute('role') === 'progressbar') seen.push(Number(el.getAttribute('aria-valuenow')));
      }
    }).observe(document.body, { subtree: true, attributes: true, attributeFilter: ['aria-valuenow'] });
  });
}

export const recordedProgress = (page: Page) => page.evaluate(() => (window as unknown as { __progress: number[] }).__progress);

/** An init script: counts showModal() calls (the API-key dialog) in window.__dialogs, afresh on each page load. */
export const countDialogsScript = () => {
  const original = HTMLDialogElement.prototype.showModal;
  (window as unknown as { __dialogs: number }).__dialogs = 0;
  HTMLDialogElement.prototype.showModal = function showModal(this: HTMLDialogElement) {
    (window as unknown as { __dialogs: number }).__dialogs++;
    return original.call(this);
  };
};

export const dialogCount = (page: Page) => page.evaluate(() => (window as unknown as { __dialogs: number }).__dialogs);

/** No element is wider than the viewport: the page never scrolls sideways. */
export async function assertNoHorizontalScroll(page: Page, width: number): Promise<void> {
  const { scrollWidth, clientWidth } = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth,
  }));
  assert.ok(scrollWidth <= width, `the page is ${scrollWidth} px wide in a ${width} px viewport`);
  assert.ok(scrollWidth <= clientWidth, `horizontal overflow: ${scrollWidth} > ${clientWidth}`);
}

export async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
