import sharp from 'sharp';
import { declaredSize } from './dist/src/images/header.js';
const base = sharp({ create: { width: 300, height: 177, channels: 4, background: { r: 10, g: 200, b: 30, alpha: 0.5 } } });
const outs = {
  png: await base.clone().png().toBuffer(),
  jpeg: await base.clone().jpeg().toBuffer(),
  jpegProg: await base.clone().jpeg({ progressive: true }).toBuffer(),
  jpegExif: await base.clone().withExif({IFD0:{ImageDescription:'x'.repeat(500)}}).jpeg().toBuffer(),
  webpLossy: await base.clone().removeAlpha().webp().toBuffer(),
  webpAlpha: await base.clone().webp().toBuffer(),
  webpLossless: await base.clone().removeAlpha().webp({ lossless: true }).toBuffer(),
  webpExif: await base.clone().withExif({IFD0:{Software:'x'}}).removeAlpha().webp().toBuffer(),
};
for (const [k, b] of Object.entries(outs)) console.log(k, JSON.stringify(declaredSize(b)), (await sharp(b).metadata()).format);
node_modules_check: ;
