/** The SSE event log's backstop: with recheckMs, a stream whose final event was missed still ends with it. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TaskRecord } from '../../src/interfaces.js';
import { TaskEventLog, type StreamEvent } from '../../src/tasks/eventLog.js';
import type { TaskView } from '../../src/tasks/service.js';

const record = (state: TaskRecord['state']): TaskRecord => ({
  id: 't1', kind: 'generate', state, inputKey: null, maskKey: null, attempts: 1, maxAttempts: 3, progress: null,
  params: { prompt: 'p', n: 1, width: 64, height: 64, seed: 1, output_format: 'png', response_format: 'url' },
  result: null, error: null, cancelRequested: false, owner: 'anonymous', idempotencyKey: null, webhookUrl: null,
  createdAt: 1, startedAt: null, finishedAt: null,
});

for (const recheckMs of [undefined, 30]) {
  test(`a missed final event ${recheckMs ? 'is made up for by the recheck' : 'leaves the stream open without a recheck (embedded: none are missed)'}`, async () => {
    let state: TaskRecord['state'] = 'queued';
    // A source whose events never arrive (all missed): only the record changes.
    const log = new TaskEventLog({
      subscribe: () => () => undefined,
      view: async (): Promise<TaskView> => ({ task: record(state), queuePosition: state === 'queued' ? 0 : null, etaSeconds: null }),
      render: async (view) => ({ status: view.task.state }),
    }, { ringSize: 8, maxChannels: 8, idleMs: 60_000, recheckMs });
    const got: StreamEvent[] = [];
    const stop = log.watch('t1', undefined, { send: (e) => got.push(e), end: () => undefined });
    await new Promise((r) => setTimeout(r, 50));
    state = 'running';
    await new Promise((r) => setTimeout(r, 100));
    state = 'completed';
    await new Promise((r) => setTimeout(r, 100));
    stop();
    log.close();
    if (recheckMs) assert.deepEqual(got.map((e) => e.type), ['state', 'started', 'completed']);
    else assert.deepEqual(got.map((e) => e.type), ['state']);
  });
}
