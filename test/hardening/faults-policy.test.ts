/**
 * The rules behind the fault handling, on their own: which errors pass by themselves, how long
 * a deferred task waits, and when the storage counts as full (statfs on a real directory).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StorageFullError, TransientStorageError } from '../../src/errors.js';
import { deferDelayMs, DEFER_MAX_MS } from '../../src/queue/deferral.js';
import { isNoSpaceError, isTransientStorageError, transientOr } from '../../src/storage/faults.js';
import { SpaceMonitor } from '../../src/storage/space.js';
import { tempDir } from '../helpers/server.js';

const errno = (code: string) => Object.assign(new Error(code), { code });

test('transient faults: full disks, exhausted descriptors, I/O and database hiccups, S3 throttling; not bugs or missing files', () => {
  for (const code of ['ENOSPC', 'EDQUOT', 'SQLITE_FULL', '53100']) assert.ok(isNoSpaceError(errno(code)), code);
  assert.ok(isNoSpaceError(new StorageFullError('x')));
  for (const code of ['EMFILE', 'ENFILE', 'EIO', 'EAGAIN', 'EBUSY', 'SQLITE_BUSY', 'SQLITE_IOERR_WRITE', 'ECONNRESET', '08006', '57P01', '40P01']) {
    assert.ok(isTransientStorageError(errno(code)), code);
  }
  assert.ok(isTransientStorageError(Object.assign(new Error('slow down'), { name: 'SlowDown', $metadata: { httpStatusCode: 503 } })));
  for (const err of [errno('ENOENT'), errno('EACCES'), errno('SQLITE_CONSTRAINT'), errno('23505'), new TypeError('bug'), 'a string']) {
    assert.equal(isTransientStorageError(err), false, String(err));
  }
});

test('transientOr wraps only the passing failures, naming the operation and the code', async () => {
  await assert.rejects(transientOr('storing the images', async () => { throw new StorageFullError('no room'); }),
    (err: unknown) => err instanceof TransientStorageError && err.code === 'ENOSPC' && err.operation === 'storing the images');
  await assert.rejects(transientOr('reading', async () => { throw errno('EMFILE'); }), (err: unknown) => (err as TransientStorageError).code === 'EMFILE');
  await assert.rejects(transientOr('reading', async () => { throw new TypeError('bug'); }), TypeError);
  assert.equal(await transientOr('reading', async () => 7), 7);
});

test('the backoff doubles from a second, is capped at a minute, and jitters by at most 10%', () => {
  const mid = () => 0.5;
  assert.deepEqual([1, 2, 3, 4].map((n) => deferDelayMs(n, mid)), [1000, 2000, 4000, 8000]);
  assert.equal(deferDelayMs(7, mid), DEFER_MAX_MS);
  assert.equal(deferDelayMs(1000, mid), DEFER_MAX_MS);
  assert.equal(deferDelayMs(1, () => 0), 900);
  assert.equal(deferDelayMs(1, () => 1), 1100);
});

test('free space: below ZIMAGE_MIN_FREE_MB is full; a failed write is full for a while even where statfs sees room', async () => {
  const dir = tempDir();
  let now = 1_000_000;
  const roomy = new SpaceMonitor([{ label: 'data directory', path: dir }], 0, { now: () => now, cacheMs: 0, holdMs: 5000 });
  const ok = await roomy.check();
  assert.equal(ok.full, false);
  assert.ok(ok.freeBytes! > 0);
  roomy.noteNoSpace(); // e.g. a quota that statfs does not see
  assert.equal((await roomy.check()).full, true);
  now += 5000;
  assert.equal((await roomy.check()).full, false, 'the hold passes; the next write tells again');

  const strict = new SpaceMonitor([{ label: 'data directory', path: dir }], Number.MAX_SAFE_INTEGER, { now: () => now, cacheMs: 0 });
  const full = await strict.check();
  assert.equal(full.full, true);
  assert.match(full.reason!, /^the data directory has [\d.]+ MiB free \(ZIMAGE_MIN_FREE_MB is \d+\)$/);
  assert.doesNotMatch(full.reason!, new RegExp(dir), 'the path is not shown');

  const nothingToMeasure = new SpaceMonitor([], 0, { now: () => now });
  assert.deepEqual(await nothingToMeasure.check(), { full: false, freeBytes: null, reason: null });
});
