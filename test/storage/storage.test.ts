/**
 * One contract for the storage port, run against a directory (LocalStorage) and against a
 * real S3-compatible server (S3Storage on s3rver, with both checksum settings). Then what only
 * a directory has: sidecars, legacy files, and the sweep of dead writers' leftovers.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { LocalStorage } from '../../src/storage/local.js';
import { S3Storage } from '../../src/storage/s3.js';
import type { Storage } from '../../src/storage/storage.js';
import { startS3rver, type TestS3 } from '../helpers/s3rver.js';
import { tempDir } from '../helpers/server.js';

interface Factory {
  name: string;
  /** A fresh, empty storage. */
  open(): Promise<Storage>;
}

const bytes = (n: number) => randomBytes(n);
const read = async (body: Readable) => Buffer.concat(await body.toArray());
const listAll = async (storage: Storage, prefix: string) => {
  const out = [];
  for await (const obj of storage.list(prefix)) out.push(obj);
  return out.sort((a, b) => a.key.localeCompare(b.key));
};

function storageContract(factory: Factory) {
  describe(`storage contract: ${factory.name}`, () => {
    let storage: Storage;
    beforeEach(async () => { storage = await factory.open(); });
    afterEach(() => storage.close());

    test('put then get returns the bytes and the stored content type; a missing key is undefined', async () => {
      const data = bytes(3000);
      await storage.put('outputs/gen_a.png', data, 'image/png');
      assert.deepEqual(await storage.get('outputs/gen_a.png'), { data, contentType: 'image/png' });
      assert.equal(await storage.get('outputs/gen_missing.png'), undefined);
    });

    test('content types are stored, not guessed: keys without an extension keep theirs', async () => {
      await storage.put('uploads/abc_image', bytes(10), 'image/webp');
      await storage.put('uploads/abc_mask', bytes(10), 'image/jpeg');
      // The type given wins over the extension, and a header-unsafe one is not echoed back.
      await storage.put('outputs/gen_b.png', bytes(10), 'image/webp');
      await storage.put('uploads/abc_bad', bytes(10), 'image/png\r\nX-Evil: 1');
      assert.equal((await storage.get('uploads/abc_image'))!.contentType, 'image/webp');
      assert.equal((await storage.head('uploads/abc_mask'))!.contentType, 'image/jpeg');
      const s = (await storage.stream('outputs/gen_b.png'))!;
      s.body.destroy();
      assert.equal(s.contentType, 'image/webp');
      assert.equal((await storage.get('uploads/abc_bad'))!.contentType, 'application/octet-stream');
    });

    test('head: size, type, last-modified and an entity tag; undefined when missing', async () => {
      const before = Date.now();
      await storage.put('outputs/gen_c.png', bytes(1234), 'image/png');
      const info = (await storage.head('outputs/gen_c.png'))!;
      assert.equal(info.size, 1234);
      assert.equal(info.contentType, 'image/png');
      // S3 keeps whole seconds.
      assert.ok(info.lastModified >= before - 1000 && info.lastModified <= Date.now() + 1000, String(info.lastModified));
      assert.match(info.etag, /^"[^"]+"$/);
      assert.equal(await storage.head('outputs/gen_missing.png'), undefined);
    });

    test('stream: the whole object, or an inclusive range of it with the whole size', async () => {
      const data = bytes(100_000);
      await storage.put('outputs/gen_d.png', data, 'image/png');
      const whole = (await storage.stream('outputs/gen_d.png'))!;
      assert.equal(whole.size, data.length);
      assert.equal(whole.range, undefined);
      assert.deepEqual(await read(whole.body), data);
      // Not bytes=0-0: s3rver answers it with the whole object (S3Storage then refuses to serve it).
      for (const range of [{ start: 0, end: 1 }, { start: 5, end: 5 }, { start: 10, end: 19 }, { start: 99_000, end: 99_999 }]) {
        const part = (await storage.stream('outputs/gen_d.png', range))!;
        assert.equal(part.size, data.length);
        assert.deepEqual(part.range, range);
        assert.deepEqual(await read(part.body), data.subarray(range.start, range.end + 1));
      }
      assert.equal(await storage.stream('outputs/gen_missing.png'), undefined);
    });

    test('delete and deleteMany remove what they name; missing keys are no error', async () => {
      for (const k of ['a', 'b', 'c', 'd']) await storage.put(`outputs/gen_${k}.png`, bytes(5), 'image/png');
      await storage.delete('outputs/gen_a.png');
      await storage.delete('outputs/gen_a.png');
      await storage.deleteMany(['outputs/gen_b.png', 'outputs/gen_c.png', 'outputs/gen_missing.png']);
      await storage.deleteMany([]);
      assert.deepEqual((await listAll(storage, 'outputs/')).map((o) => o.key), ['outputs/gen_d.png']);
      assert.equal(await storage.get('outputs/gen_b.png'), undefined);
    });

    test('deleteMany works past one S3 batch (1000 keys)', async () => {
      await storage.put('outputs/gen_0.png', bytes(5), 'image/png');
      await storage.put('outputs/gen_1000.png', bytes(5), 'image/png');
      await storage.put('outputs/gen_keep.png', bytes(5), 'image/png');
      await storage.deleteMany(Array.from({ length: 1001 }, (_, i) => `outputs/gen_${i}.png`));
      assert.deepEqual((await listAll(storage, '')).map((o) => o.key), ['outputs/gen_keep.png']);
    });

    test('list: every key under a prefix with its size and time, nothing else', async () => {
      await storage.put('outputs/gen_e.png', bytes(7), 'image/png');
      await storage.put('outputs/edit_f.webp', bytes(8), 'image/webp');
      await storage.put('uploads/t1_image', bytes(9), 'image/png');
      assert.deepEqual((await listAll(storage, 'outputs/')).map((o) => [o.key, o.size]), [['outputs/edit_f.webp', 8], ['outputs/gen_e.png', 7]]);
      assert.deepEqual((await listAll(storage, 'outputs/gen_')).map((o) => o.key), ['outputs/gen_e.png']);
      assert.deepEqual((await listAll(storage, '')).map((o) => o.key), ['outputs/edit_f.webp', 'outputs/gen_e.png', 'uploads/t1_image']);
      assert.deepEqual(await listAll(storage, 'nothing/'), []);
      for (const o of await listAll(storage, '')) assert.ok(Math.abs(o.lastModified - Date.now()) < 60_000, o.key);
    });

    test('invalid keys are refused by every method', async () => {
      const bad = ['', '../x', 'outputs/../../etc/passwd', '/etc/passwd', 'outputs/a/b', 'outputs/.hidden', 'Outputs/x',
        'outputs/gen_a.png.meta.json', 'outputs/gen a.png', 'outputs/%2e%2e', 'outputs'];
      for (const key of bad) {
        await assert.rejects(storage.put(key, bytes(1), 'image/png'), /invalid storage key/, key);
        await assert.rejects(storage.get(key), /invalid storage key/, key);
        await assert.rejects(storage.head(key), /invalid storage key/, key);
        await assert.rejects(storage.stream(key), /invalid storage key/, key);
        await assert.rejects(storage.delete(key), /invalid storage key/, key);
        await assert.rejects(storage.deleteMany(['outputs/gen_ok.png', key]), /invalid storage key/, key);
      }
    });

    test('sweepTemporary never touches stored objects', async () => {
      await storage.put('outputs/gen_g.png', bytes(5), 'image/png');
      await storage.put('uploads/t2_image', bytes(5), 'image/png');
      await storage.sweepTemporary(0);
      assert.equal((await listAll(storage, '')).length, 2);
      assert.equal((await storage.get('uploads/t2_image'))!.contentType, 'image/png');
    });
  });
}

storageContract({ name: 'LocalStorage', open: () => LocalStorage.open(tempDir('zimage-storage-')) });

describe('S3 on s3rver', () => {
  let s3: TestS3;
  before(async () => { s3 = await startS3rver(); });
  after(() => s3.close());
  // A fresh prefix per storage keeps the tests apart in the one bucket.
  const s3Factory = (checksums: 'WHEN_SUPPORTED' | 'WHEN_REQUIRED'): Factory => ({
    name: `S3Storage (${checksums})`,
    open: () => S3Storage.open({
      url: `s3://${s3.bucket}/t${randomBytes(4).toString('hex')}/`, endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, checksums,
    }),
  });
  storageContract(s3Factory('WHEN_REQUIRED'));
  storageContract(s3Factory('WHEN_SUPPORTED'));

  test('prefixes keep deployments apart; presigned URLs download the object', async () => {
    const [a, b] = [await s3Factory('WHEN_REQUIRED').open(), await s3Factory('WHEN_REQUIRED').open()];
    const data = bytes(500);
    await a.put('outputs/gen_p.png', data, 'image/png');
    assert.equal(await b.get('outputs/gen_p.png'), undefined);
    assert.deepEqual(await listAll(b, ''), []);
    const res = await fetch(await a.presignedUrl!('outputs/gen_p.png', 60));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'image/png');
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), data);
    await Promise.all([a.close(), b.close()]);
  });

  test('a server that answers another range than asked is refused, not passed on (s3rver and bytes=0-0)', async () => {
    const storage = await s3Factory('WHEN_REQUIRED').open();
    await storage.put('outputs/gen_r.png', bytes(100), 'image/png');
    await assert.rejects(storage.stream('outputs/gen_r.png', { start: 0, end: 0 }), /S3 answered bytes 0-99\/100 to bytes=0-0/);
    await storage.close();
  });

  test('a bucket that does not answer fails open() with a message that says what to check', async () => {
    await assert.rejects(
      S3Storage.open({ url: 's3://no-such-bucket', endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, checksums: 'WHEN_REQUIRED' }),
      /s3:\/\/no-such-bucket: the bucket did not answer .*ZIMAGE_S3_ENDPOINT.*AWS_ACCESS_KEY_ID/,
    );
  });
});

describe('LocalStorage on disk', () => {
  let root: string;
  let storage: LocalStorage;
  beforeEach(async () => {
    root = tempDir('zimage-storage-');
    storage = await LocalStorage.open(root);
  });

  const age = (file: string, ms: number) => {
    const t = new Date(Date.now() - ms);
    fs.utimesSync(path.join(root, file), t, t);
  };

  test('files stay plain images; the type is in a sidecar; files from before sidecars keep their extension type', async () => {
    const data = bytes(64);
    await storage.put('outputs/gen_h.png', data, 'image/png');
    assert.deepEqual(fs.readFileSync(path.join(root, 'outputs/gen_h.png')), data);
    assert.deepEqual(fs.readdirSync(path.join(root, 'outputs')), ['gen_h.png']);
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(root, '.meta/outputs/gen_h.png'), 'utf8')), { contentType: 'image/png' });
    fs.writeFileSync(path.join(root, 'outputs/gen_old.webp'), data);
    assert.equal((await storage.head('outputs/gen_old.webp'))!.contentType, 'image/webp');
    await storage.delete('outputs/gen_h.png');
    assert.deepEqual(fs.readdirSync(path.join(root, 'outputs')), ['gen_old.webp']);
    assert.deepEqual(fs.readdirSync(path.join(root, '.meta/outputs')), []);
  });

  test('open() leaves other processes\' writes in progress alone; the sweep removes only old leftovers', async () => {
    await storage.put('outputs/gen_i.png', bytes(5), 'image/png');
    const leftovers = ['outputs/gen_j.png.123.ab.tmp', '.meta/outputs/gen_k.png.123.ab.tmp', 'uploads/t3_image.9.cd.tmp', '.meta/outputs/gen_l.png'];
    const young = ['outputs/gen_young.png.77.ef.tmp', '.meta/uploads/t4_image'];
    for (const f of [...leftovers, ...young]) fs.writeFileSync(path.join(root, f), 'x');
    for (const f of [...leftovers, 'outputs/gen_i.png', '.meta/outputs/gen_i.png']) age(f, 2 * 3600_000);
    await LocalStorage.open(root);
    const all = () => ['outputs', 'uploads', '.meta/outputs', '.meta/uploads'].flatMap((d) => fs.readdirSync(path.join(root, d)).map((n) => `${d}/${n}`)).sort();
    assert.equal(all().length, 8, 'open() deletes nothing');
    assert.deepEqual((await listAll(storage, '')).map((o) => o.key), ['outputs/gen_i.png'], 'leftovers are never listed');

    assert.equal(await storage.sweepTemporary(3600_000), leftovers.length);
    // A young orphan sidecar may be a put between its two renames.
    assert.deepEqual(all(), ['.meta/outputs/gen_i.png', ...young, 'outputs/gen_i.png'].sort());
    assert.equal((await storage.get('outputs/gen_i.png'))!.contentType, 'image/png');
    for (const f of young) age(f, 10_000);
    assert.equal(await storage.sweepTemporary(5000), 2);
    assert.deepEqual(all(), ['.meta/outputs/gen_i.png', 'outputs/gen_i.png']);
  });
});
