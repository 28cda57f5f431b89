/**
 * Refused inputs are cheap: the format is read from the first bytes, so an SVG (which librsvg
 * would parse in full: a 15 MB one cost about 1 GB and seconds of CPU) or any other format we
 * do not take is a 400 before a decoder sees it, and a multipart upload is refused from its
 * first chunk without buffering the rest. An unparseable JSON body is refused in one pass. A
 * truncated image is always refused, however many are checked at once (the check used to pass
 * some under concurrency).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { inspectImage } from '../../src/images/decode.js';
import { guessOtherFormat, sniffFormat } from '../../src/images/sniff.js';
import { form, solidPng } from '../helpers/http.js';
import { NO_PROC, peakDuring, startBoundsServer, type BoundsServer } from './bounds-helpers.js';

/** An SVG of about `bytes` bytes: many small shapes, each of which librsvg would build. */
function bigSvg(bytes: number): Buffer {
  const rect = '<rect x="1" y="2" width="3" height="4" fill="#123456"/>\n';
  return Buffer.from(`<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="1024" height="1024">\n${rect.repeat(Math.ceil(bytes / rect.length))}</svg>\n`);
}

describe('refused formats are cheap', { skip: NO_PROC }, () => {
  let server: BoundsServer;
  const svg = bigSvg(15 * 1024 * 1024);

  before(async () => {
    server = await startBoundsServer();
  });
  after(() => server?.stop());

  const expectUnsupported = (res: { status: number; body: any }, format: string, param = 'image') => {
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.equal(res.body.error.code, 'invalid_image');
    assert.equal(res.body.error.param, param);
    assert.match(res.body.error.message, new RegExp(`Unsupported image format "${format}".*PNG, JPEG or WebP`));
  };

  test('a 15 MB SVG upload is refused with 400 from its first bytes, and memory barely moves', async (t) => {
    // Warm the edit path once, so the baseline holds the code every upload needs.
    const png = await solidPng(32, 32, [0, 0, 0]);
    await fetch(`${server.url}/v1/images/async_edit`, { method: 'POST', body: form({ prompt: 'warm', size: '256x256' }, { image: { data: png } }) });
    const base = server.rssMb();
    const send = async () => {
      const results = [];
      for (let i = 0; i < 3; i++) {
        const res = await fetch(`${server.url}/v1/images/async_edit`, {
          method: 'POST', body: form({ prompt: 'vector' }, { image: { data: svg, name: 'a.svg', type: 'image/svg+xml' } }),
        });
        results.push({ status: res.status, body: await res.json() });
      }
      return results;
    };
    const sent = send();
    const peak = await peakDuring(() => server.rssMb(), sent);
    for (const res of await sent) expectUnsupported(res, 'svg');
    t.diagnostic(`RSS ${base.toFixed(0)} → peak ${peak.toFixed(0)} MiB`);
    // Parsed by librsvg, each cost over 500 MB.
    assert.ok(peak - base < 120, `RSS went from ${base.toFixed(0)} to ${peak.toFixed(0)} MiB`);
  });

  test('an SVG as a base64 data: URL in a JSON edit is refused the same way, as is one sent as the mask', async () => {
    const png = await solidPng(32, 32, [0, 0, 0]);
    const small = bigSvg(2000);
    const json = await fetch(`${server.url}/v1/images/async_edit`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'vector', image: `data:image/svg+xml;base64,${small.toString('base64')}` }),
    });
    expectUnsupported({ status: json.status, body: await json.json() }, 'svg');
    const mask = await fetch(`${server.url}/v1/images/async_edit`, {
      method: 'POST', body: form({ prompt: 'vector' }, { image: { data: png }, mask: { data: small, type: 'image/svg+xml' } }),
    });
    expectUnsupported({ status: mask.status, body: await mask.json() }, 'svg', 'mask');
    // The connection and server are fine afterwards.
    assert.equal((await fetch(`${server.url}/health`)).status, 200);
  });

  test('a 40 MB JSON edit that is not JSON even leniently is a cheap 400', async (t) => {
    // Python-style, so the lenient repair runs over all of it before giving up.
    const body = `{'prompt': None, 'image': '${'A'.repeat(40 * 1024 * 1024)}', oops`;
    const base = server.rssMb();
    const sent = fetch(`${server.url}/v1/images/async_edit`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
      .then(async (r) => ({ status: r.status, body: await r.json() as any }));
    const peak = await peakDuring(() => server.rssMb(), sent);
    const res = await sent;
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.equal(res.body.error.code, 'invalid_json');
    t.diagnostic(`RSS ${base.toFixed(0)} → peak ${peak.toFixed(0)} MiB`);
    // Repaired one character at a time, this cost about 1.5 GB (and seconds of CPU).
    assert.ok(peak - base < 400, `RSS went from ${base.toFixed(0)} to ${peak.toFixed(0)} MiB`);
  });

  test('other formats are named in the refusal: GIF, TIFF, and unknown bytes', async () => {
    const gif = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#f00' } }).gif().toBuffer();
    const tiff = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#f00' } }).tiff().toBuffer();
    for (const [data, name] of [[gif, 'gif'], [tiff, 'tiff']] as const) {
      const res = await fetch(`${server.url}/v1/images/async_edit`, { method: 'POST', body: form({ prompt: 'x' }, { image: { data } }) });
      expectUnsupported({ status: res.status, body: await res.json() }, name);
    }
    const junk = await fetch(`${server.url}/v1/images/async_edit`, { method: 'POST', body: form({ prompt: 'x' }, { image: { data: Buffer.alloc(4096, 7) } }) });
    const body = await junk.json() as any;
    assert.equal(junk.status, 400);
    assert.match(body.error.message, /not a readable image/);
  });
});

test('sniffFormat knows PNG, JPEG and WebP by their first bytes; guessOtherFormat names what else came', async () => {
  const pixels = sharp({ create: { width: 4, height: 4, channels: 3, background: '#0f0' } });
  assert.equal(sniffFormat(await pixels.clone().png().toBuffer()), 'png');
  assert.equal(sniffFormat(await pixels.clone().jpeg().toBuffer()), 'jpeg');
  assert.equal(sniffFormat(await pixels.clone().webp().toBuffer()), 'webp');
  assert.equal(sniffFormat(bigSvg(100)), undefined);
  assert.equal(guessOtherFormat(Buffer.from('\uFEFF  <svg xmlns="http://www.w3.org/2000/svg"/>')), 'svg');
  assert.equal(guessOtherFormat(Buffer.from('<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN">')), 'svg');
  assert.equal(guessOtherFormat(Buffer.from('%PDF-1.7\n')), 'pdf');
  assert.equal(guessOtherFormat(Buffer.from('hello world')), undefined);
  assert.equal(guessOtherFormat(Buffer.alloc(0)), undefined);
});

test('truncated images are refused every time, even many at once', async () => {
  const big = await solidPng(400, 400, [1, 2, 3]);
  const noisy = await sharp(Buffer.alloc(200 * 200 * 3, 7), { raw: { width: 200, height: 200, channels: 3 } }).png({ compressionLevel: 0 }).toBuffer();
  const jpeg = await sharp(Buffer.from(Array.from({ length: 300 * 300 * 3 }, (_, i) => (i * 7919) % 251)), { raw: { width: 300, height: 300, channels: 3 } }).jpeg().toBuffer();
  const inputs = [big, noisy, jpeg].map((img) => img.subarray(0, Math.floor(img.length / 2)));
  const checks = Array.from({ length: 60 }, (_, i) => inspectImage(inputs[i % inputs.length], { maxPixels: 4_000_000, param: 'image' })
    .then(() => 'accepted', (err) => (err as { code?: string }).code));
  assert.deepEqual(new Set(await Promise.all(checks)), new Set(['invalid_image']));
  // Whole images still pass.
  assert.equal((await inspectImage(noisy, { maxPixels: 4_000_000, param: 'image' })).format, 'png');
});
