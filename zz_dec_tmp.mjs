import sharp from 'sharp';
import { inspectImage, decodeToRaw } from '/work/main/dist/src/images/decode.js';
import { pngChunk } from '/work/main/dist/src/images/pngText.js';
import fs from 'node:fs';
const sig = Buffer.from([0x89,0x50,0x4e,0x47,0x0d,0x0a,0x1a,0x0a]);
const ihdr = Buffer.alloc(13); ihdr.writeUInt32BE(100000,0); ihdr.writeUInt32BE(100000,4); ihdr[8]=8; ihdr[9]=2;
const bomb = Buffer.concat([sig, pngChunk('IHDR', ihdr)]);
const png = fs.readFileSync('/tmp/zi/gen_256x256.png');
const tries = { bomb, half: png.subarray(0, png.length>>1), rand: Buffer.from('hello world this is not an image'), empty: Buffer.alloc(0), ok: png, gif: Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7','base64') };
for (const [k, b] of Object.entries(tries)) {
  const t0 = performance.now();
  try { console.log(k, await inspectImage(b, { maxPixels: 4_000_000, param: 'image' })); }
  catch (e) { console.log(k, e.statusCode, e.code, e.param, e.message); }
  console.log('  ', (performance.now()-t0).toFixed(1), 'ms');
}
try { await inspectImage(png, { maxPixels: 1000, param: 'mask' }); } catch (e) { console.log(e.code, e.message); }
const jpgHalf = await sharp(png).jpeg().toBuffer();
try { await inspectImage(jpgHalf.subarray(0, jpgHalf.length/2|0), { maxPixels: 1e7, param: 'image' }); console.log('jpg half accepted'); } catch (e) { console.log('jpg half', e.code); }
const wb = await sharp(png).webp().toBuffer();
try { await inspectImage(wb.subarray(0, wb.length/2|0), { maxPixels: 1e7, param: 'image' }); console.log('webp half accepted'); } catch (e) { console.log('webp half', e.code); }
