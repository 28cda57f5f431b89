/**
 * The worker's preview publisher: encodes off the engine's path, at most one encode in flight,
 * rate-limited, the newest offer wins, and nothing is published once the task's final write is due.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import type { Claim, EnginePreview, TaskPreview, WorkQueue } from '../../src/interfaces.js';
import { PreviewPublisher } from '../../src/worker/previews.js';
import sharp from 'sharp';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function fakeQueue() {
  const published: TaskPreview[] = [];
  const queue = { preview: (_claim: Claim, p: TaskPreview) => published.push(p) } as unknown as WorkQueue & { preview(c: Claim, p: TaskPreview): void };
  return { queue, published };
}

const claim = { task: { id: 'task-1' }, token: 't', signal: new AbortController().signal, abortReason: () => undefined } as unknown as Claim;

function picture(step: number, total = 100, size = 64): EnginePreview {
  const data = Buffer.alloc(size * size * 3, step % 256);
  return { step, total, image: { width: size, height: size, channels: 3, data } };
}

async function until(cond: () => boolean, timeoutMs = 3000) {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(5);
  }
}

test('offers are encoded as WebP and published in order; a burst is thinned to the newest, at most one per interval', async () => {
  const { queue, published } = fakeQueue();
  const pub = new PreviewPublisher(queue, claim, pino({ level: 'silent' }), 50);
  const started = Date.now();
  for (let step = 1; step <= 20; step++) pub.offer(picture(step));
  await until(() => published.length >= 2);
  // The first goes at once; everything offered while it encoded collapses into the newest (20).
  assert.deepEqual(published.map((p) => p.step), [1, 20]);
  assert.ok(Date.now() - started >= 45, 'the second waited for the interval');
  const meta = await sharp(published[1].data).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ['webp', 64, 64]);
  assert.deepEqual([published[1].width, published[1].height, published[1].format, published[1].total], [64, 64, 'webp', 100]);
  // Older steps than one published are ignored.
  pub.offer(picture(5));
  await sleep(120);
  assert.equal(published.length, 2);
  pub.close();
});

test('close() before the final write: a waiting offer and an encode in flight are dropped, later offers ignored', async () => {
  const { queue, published } = fakeQueue();
  const pub = new PreviewPublisher(queue, claim, pino({ level: 'silent' }), 10_000);
  pub.offer(picture(1, 10, 256)); // encoding now
  pub.offer(picture(2, 10, 256)); // waiting for the interval
  pub.close();
  pub.offer(picture(3, 10, 256));
  await sleep(200);
  assert.deepEqual(published, []);
  assert.equal(pub.published, 0);
});

test('an image that cannot be encoded is logged and skipped; the next one still goes out', async () => {
  const { queue, published } = fakeQueue();
  const pub = new PreviewPublisher(queue, claim, pino({ level: 'silent' }), 0);
  pub.offer({ step: 1, total: 3, image: { width: 10, height: 10, channels: 3, data: Buffer.alloc(7) } });
  await sleep(50);
  pub.offer(picture(2, 3));
  await until(() => published.length === 1);
  assert.equal(published[0].step, 2);
  pub.close();
});
