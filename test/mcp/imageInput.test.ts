/** edit_image's image argument: which forms are read, and that no URL but this server's /outputs/ is ever fetched. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, test } from 'node:test';
import { ImageInputError, outputPathOf, resolveImage, type ImageSourceOptions } from '../../src/mcp/imageInput.js';
import { solidPng } from '../helpers/http.js';
import { tempDir } from '../helpers/server.js';

const NAME = `gen_${'a'.repeat(32)}.png`;

function sources(localFiles: boolean) {
  const downloads: string[] = [];
  const opts: ImageSourceOptions = {
    localFiles,
    download: async (p) => {
      downloads.push(p);
      return new Uint8Array([1, 2, 3]);
    },
  };
  return { opts, downloads };
}

const rejectsWith = (p: Promise<unknown>, code: string) =>
  assert.rejects(p, (err: unknown) => err instanceof ImageInputError && err.code === code && err.param === 'image');

describe('resolveImage', () => {
  test('this server\'s output URLs are downloaded from the server, by path only', async () => {
    const { opts, downloads } = sources(false);
    const urls = [`http://127.0.0.1:8003/outputs/${NAME}`, `https://img.example.com/outputs/${NAME}?x=1`, `https://example.com/zimage/outputs/${NAME}`, `/outputs/${NAME}`];
    for (const url of urls) assert.deepEqual(await resolveImage(url, 'image', opts), new Uint8Array([1, 2, 3]));
    assert.deepEqual(downloads, urls.map(() => `outputs/${NAME}`));
    assert.equal(outputPathOf(`http://x/outputs/../v1/${NAME}`), undefined);
    assert.equal(outputPathOf(`http://x/outputs/sub/${NAME}`), undefined);
    assert.equal(outputPathOf('http://x/outputs/cat.png'), undefined);
  });

  test('other URLs are refused without a request', async () => {
    const { opts, downloads } = sources(true);
    for (const url of ['http://169.254.169.254/latest/meta-data', 'https://example.com/cat.png', 'ftp://x/y.png', 'gopher://x']) {
      await rejectsWith(resolveImage(url, 'image', opts), 'unsupported_image_url');
    }
    assert.deepEqual(downloads, []);
  });

  test('base64 and data: URLs', async () => {
    const png = await solidPng(8, 8, [1, 2, 3]);
    const { opts } = sources(false);
    assert.deepEqual(Buffer.from(await resolveImage(png.toString('base64'), 'image', opts)), png);
    assert.deepEqual(Buffer.from(await resolveImage(`data:image/png;base64,${png.toString('base64')}`, 'image', opts)), png);
    const wrapped = png.toString('base64').replace(/(.{20})/g, '$1\n');
    assert.deepEqual(Buffer.from(await resolveImage(wrapped, 'image', opts)), png);
    await rejectsWith(resolveImage('data:image/png,rawbytes', 'image', opts), 'invalid_image');
    await rejectsWith(resolveImage('data:image/png;base64,@@@@', 'image', opts), 'invalid_image');
    await rejectsWith(resolveImage('', 'image', opts), 'invalid_image');
    await rejectsWith(resolveImage('a cat', 'image', opts), 'invalid_image');
  });

  test('local files: read by the stdio server (path, ~, file:// URL), refused over HTTP', async () => {
    const dir = tempDir('zimage-mcp-input-');
    const file = path.join(dir, 'in.png');
    const png = await solidPng(8, 8, [9, 9, 9]);
    fs.writeFileSync(file, png);
    const local = sources(true).opts;
    assert.deepEqual(Buffer.from(await resolveImage(file, 'image', local)), png);
    assert.deepEqual(Buffer.from(await resolveImage(pathToFileURL(file).href, 'image', local)), png);
    if (file.startsWith(os.homedir())) {
      assert.deepEqual(Buffer.from(await resolveImage(`~${file.slice(os.homedir().length)}`, 'image', local)), png);
    }
    await rejectsWith(resolveImage(path.join(dir, 'missing.png'), 'image', local), 'file_not_found');
    await rejectsWith(resolveImage(dir, 'image', local), 'invalid_image');
    // A JPEG's base64 starts with "/9j/": not taken for a path when no such file exists.
    const jpegLike = `/9j/${'A'.repeat(80)}`;
    assert.equal((await resolveImage(jpegLike, 'image', local)).length > 0, true);

    const remote = sources(false).opts;
    await rejectsWith(resolveImage(file, 'image', remote), 'local_files_unsupported');
    await rejectsWith(resolveImage(pathToFileURL(file).href, 'image', remote), 'local_files_unsupported');
  });
});
