/**
 * The text drawn on every synthetic image: a banner nobody can mistake for model output,
 * the prompt (so a client can see its request arrived intact) and the seed/settings.
 * Text scale follows the image size so it is legible from 64 up to 2048+ pixels.
 */
import type { RawImage } from '../../interfaces.js';
import { CELL_H, CELL_W, drawText, fillRect, wrapText, type Rgb } from '../../images/font.js';

export const BANNER_TEXT = 'SYNTHETIC TEST PATTERN - NOT A MODEL OUTPUT';
/** The banner is a full-width strip of BANNER_BG at the very top, with BANNER_FG letters. */
export const BANNER_BG: Rgb = [0, 0, 0];
export const BANNER_FG: Rgb = [255, 214, 0];
const TEXT_FG: Rgb = [255, 255, 255];
const TEXT_BG: Rgb = [24, 24, 24];

export interface LabelText {
  /** Main text, e.g. the prompt or "EDIT: ..." (wrapped, ellipsised). */
  body: string;
  /** Where the body goes: centred (generate), or just under the banner (edit: the centre shows the input). */
  bodyAt?: 'centre' | 'top';
  /** Settings at the bottom, e.g. "seed 42 | 8 steps" (at most two lines). */
  footer: string;
}

/** The banner split at its natural break, for images too narrow for one line. */
const BANNER_LINES = ['SYNTHETIC TEST PATTERN', 'NOT A MODEL OUTPUT'];

/**
 * Banner scale: at least the body's, larger when the whole banner still fits on one
 * line, and bounded by the image height so a wide, short image keeps some picture.
 */
function bannerScale(width: number, height: number): number {
  const oneLine = Math.floor((width * 0.94) / (BANNER_TEXT.length * CELL_W));
  return Math.max(1, Math.min(Math.max(bodyScale(width, height), oneLine), Math.floor(height / 64)));
}

/** The banner's lines at scale: one line, its two halves, or wrapped (ellipsised) for tiny images. */
function bannerLines(width: number, scale: number): string[] {
  const chars = Math.max(1, Math.floor((width - 2 * scale) / (CELL_W * scale)));
  if (BANNER_TEXT.length <= chars) return [BANNER_TEXT];
  if (BANNER_LINES.every((l) => l.length <= chars)) return BANNER_LINES;
  return wrapText(BANNER_TEXT, chars, 3);
}

/** Body scale: about one font pixel per 320 image pixels of the shorter side. */
export function bodyScale(width: number, height: number): number {
  return Math.max(1, Math.round(Math.min(width, height) / 320));
}

function centred(img: RawImage, lines: string[], top: number, scale: number, color: Rgb, background?: Rgb): number {
  let y = top;
  for (const line of lines) {
    // Padding with a space on each side gives the background box a margin around the letters.
    const text = background ? ` ${line} ` : line;
    const x = Math.floor((img.width - text.length * CELL_W * scale) / 2);
    drawText(img, text, x, y, { scale, color, background });
    y += CELL_H * scale;
  }
  return y;
}

/** Draws banner, body and footer onto img in place. Returns the banner height in pixels. */
export function drawLabel(img: RawImage, label: LabelText): number {
  const { width, height } = img;

  const bs = bannerScale(width, height);
  const banner = bannerLines(width, bs);
  const pad = 2 * bs;
  const bannerH = banner.length * CELL_H * bs + 2 * pad;
  fillRect(img, 0, 0, width, bannerH, BANNER_BG);
  centred(img, banner, pad, bs, BANNER_FG);

  const ts = bodyScale(width, height);
  const lineH = CELL_H * ts;
  const margin = 2 * lineH;
  // Two characters of each line go to the padding spaces around the background box.
  const chars = Math.max(1, Math.floor((width - 2 * CELL_W * ts) / (CELL_W * ts)) - 2);
  const footer = wrapText(label.footer, chars, 2);
  const footerTop = height - margin / 2 - footer.length * lineH;
  centred(img, footer, footerTop, ts, TEXT_FG, TEXT_BG);

  // The body sits centred in the space between banner and footer, as many lines as fit (max 6).
  const room = footerTop - bannerH - margin;
  const maxLines = Math.min(6, Math.floor(room / lineH));
  if (maxLines >= 1) {
    const body = wrapText(label.body, chars, maxLines);
    const top = label.bodyAt === 'top'
      ? bannerH + Math.floor(lineH / 2)
      : bannerH + Math.floor((footerTop - bannerH - body.length * lineH) / 2);
    centred(img, body, top, ts, TEXT_FG, TEXT_BG);
  }
  return bannerH;
}
