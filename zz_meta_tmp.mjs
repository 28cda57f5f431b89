import sharp from 'sharp';
import { pngChunk } from '/work/main/dist/src/images/pngText.js';
const sig = Buffer.from([0x89,0x50,0x4e,0x47,0x0d,0x0a,0x1a,0x0a]);
const ihdr = Buffer.alloc(13); ihdr.writeUInt32BE(100000,0); ihdr.writeUInt32BE(100000,4); ihdr[8]=8; ihdr[9]=2;
const bomb = Buffer.concat([sig, pngChunk('IHDR', ihdr)]);
for (const fo of ['none','truncated','error','warning']) {
try { const m = await sharp(bomb, { failOn: fo }).metadata(); console.log(fo, m.format, m.width, m.height); } catch (e) { console.log(fo, e.message); }
}
const withIend = Buffer.concat([bomb, pngChunk('IEND', Buffer.alloc(0))]);
try { const m = await sharp(withIend).metadata(); console.log('iend', m.format, m.width, m.height); } catch (e) { console.log('iend', e.message); }
const ihdr2 = Buffer.from(ihdr); ihdr2.writeUInt32BE(20000,0); ihdr2.writeUInt32BE(20000,4);
try { const m = await sharp(Buffer.concat([sig, pngChunk('IHDR', ihdr2)])).metadata(); console.log('20k', m.format, m.width, m.height); } catch (e) { console.log('20k', e.message); }
