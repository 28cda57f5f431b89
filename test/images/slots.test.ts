import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Slots } from '../../src/images/slots.js';

test('Slots runs at most `size` jobs at once, in arrival order, and frees a slot on failure', async () => {
  const slots = new Slots(2);
  let running = 0;
  let peak = 0;
  const order: number[] = [];
  const job = (i: number, fail = false) => slots.run(async () => {
    running++;
    peak = Math.max(peak, running);
    await new Promise((r) => setTimeout(r, 5));
    running--;
    order.push(i);
    if (fail) throw new Error(`job ${i} failed`);
    return i;
  });
  const results = await Promise.allSettled([job(1), job(2, true), job(3), job(4), job(5)]);
  assert.equal(peak, 2);
  assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled']);
  assert.deepEqual(order, [1, 2, 3, 4, 5]);
  assert.equal(await job(6), 6, 'slots are all free again');
});
