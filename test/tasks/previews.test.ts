/** The API node's latest-preview store: newest wins, gone at the end, bounded in count and age. */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import type { TaskEvent, TaskEvents, TaskPreview } from '../../src/interfaces.js';
import { PreviewStore, presentInlinePreview, presentPreview, previewStoreFor } from '../../src/tasks/previews.js';

function events() {
  const emitter = new EventEmitter();
  const source: TaskEvents = {
    subscribe: (listener) => {
      emitter.on('e', listener);
      return () => emitter.off('e', listener);
    },
  };
  const emit = (e: Omit<TaskEvent, 'at'>) => emitter.emit('e', { ...e, at: Date.now() });
  return { source, emit, listeners: () => emitter.listenerCount('e') };
}

const preview = (step: number): TaskPreview => ({ step, total: 8, width: 4, height: 2, format: 'webp', data: Buffer.from([step]) });

test('keeps the newest preview per task; an older step never replaces a newer one; final and requeued events drop it', () => {
  const { source, emit, listeners } = events();
  const store = new PreviewStore(source, { maxEntries: 10, maxAgeMs: 60_000 });
  emit({ type: 'preview', taskId: 'a', preview: preview(2) });
  emit({ type: 'preview', taskId: 'a', preview: preview(4) });
  emit({ type: 'preview', taskId: 'a', preview: preview(3) });
  emit({ type: 'progress', taskId: 'a', progress: { step: 5, total: 8 } });
  assert.equal(store.get('a')?.step, 4);
  for (const type of ['completed', 'failed', 'canceled', 'requeued'] as const) {
    emit({ type: 'preview', taskId: type, preview: preview(1) });
    emit({ type, taskId: type });
    assert.equal(store.get(type), undefined, type);
  }
  emit({ type: 'completed', taskId: 'a' });
  assert.equal(store.get('a'), undefined);
  assert.equal(store.size(), 0);
  store.close();
  assert.equal(listeners(), 0, 'close() unsubscribes');
});

test('bounded: beyond maxEntries the least recently updated goes; older than maxAgeMs is gone', async () => {
  const { source, emit } = events();
  const store = new PreviewStore(source, { maxEntries: 2, maxAgeMs: 80 });
  emit({ type: 'preview', taskId: 'a', preview: preview(1) });
  emit({ type: 'preview', taskId: 'b', preview: preview(1) });
  emit({ type: 'preview', taskId: 'a', preview: preview(2) });
  emit({ type: 'preview', taskId: 'c', preview: preview(1) });
  assert.equal(store.get('b'), undefined, 'b was the least recently updated');
  assert.deepEqual([store.get('a')?.step, store.get('c')?.step], [2, 1]);
  await new Promise((r) => setTimeout(r, 120));
  assert.equal(store.get('a'), undefined);
  store.close();
});

test('one store per event source; the JSON shapes of the pointer and the inline preview', () => {
  const { source } = events();
  const first = previewStoreFor(source);
  const again = previewStoreFor(source);
  assert.ok(first.created && !again.created && first.store === again.store);
  first.store.close();
  assert.deepEqual(presentPreview('t1', preview(3), 'http://h'), {
    step: 3, total_steps: 8, width: 4, height: 2, output_format: 'webp', url: 'http://h/v1/images/tasks/t1/preview',
  });
  assert.deepEqual(presentInlinePreview(preview(3)), { step: 3, total_steps: 8, width: 4, height: 2, output_format: 'webp', b64_json: 'Aw==' });
});
