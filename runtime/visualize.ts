// Turning a label map into pictures: a colour label image and an overlay of the colours on the photo with a
// legend naming the classes present. Text is drawn with pureimage and the DejaVu Sans font shipped on npm.
import { createRequire } from 'node:module';
import * as PImage from 'pureimage';
import { palette } from './datasets.ts';
import type { RgbImage } from './image.ts';

const require = createRequire(import.meta.url);
let fontLoaded = false;
function ensureFont(): void {
  if (fontLoaded) return;
  const path = require.resolve('dejavu-fonts-ttf/ttf/DejaVuSans.ttf');
  PImage.registerFont(path, 'DejaVuSans').loadSync();
  fontLoaded = true;
}

/** RGB image of the label map in the palette. */
export function colorize(
  labels: ArrayLike<number>,
  width: number,
  height: number,
  classes: number,
): RgbImage {
  const pal = palette(classes);
  const data = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    const c = pal[labels[p]!] ?? [0, 0, 0];
    data[p * 3] = c[0];
    data[p * 3 + 1] = c[1];
    data[p * 3 + 2] = c[2];
  }
  return { width, height, data };
}

const MAX_LEGEND = 20;

/** The photo blended 50/50 with the label colours, with a legend panel on the right. */
export function overlayWithLegend(
  img: RgbImage,
  labels: ArrayLike<number>,
  names: readonly string[],
): RgbImage {
  const classes = names.length;
  const colours = colorize(labels, img.width, img.height, classes);
  const counts = new Array<number>(classes).fill(0);
  for (let p = 0; p < img.width * img.height; p++) counts[labels[p]!]!++;
  const all = counts
    .map((n, k) => ({ k, n }))
    .filter((c) => c.n > 0)
    .sort((a, b) => b.n - a.n || a.k - b.k);
  // The legend lists the classes present, largest first, at most MAX_LEGEND of them.
  const present = all.slice(0, MAX_LEGEND);
  const hidden = all.length - present.length;

  const row = 20;
  const panel = 240;
  const width = img.width + panel;
  const height = Math.max(img.height, 12 + row * (present.length + (hidden > 0 ? 2 : 1)));
  ensureFont();
  const canvas = PImage.make(width, height);
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, width, height);
  ctx.font = '13px DejaVuSans';
  ctx.fillStyle = '#000000';
  ctx.fillText('classes (share of pixels)', img.width + 10, 6 + row * 0.7);
  const pal = palette(classes);
  present.forEach(({ k, n }, i) => {
    const y = 8 + row * (i + 1);
    const [r, g, b] = pal[k]!;
    ctx.fillStyle = `rgb(${r},${g},${b})`;
    ctx.fillRect(img.width + 10, y, 14, 14);
    ctx.fillStyle = '#000000';
    ctx.fillText(
      `${names[k]} (${((100 * n) / (img.width * img.height)).toFixed(1)}%)`,
      img.width + 30,
      y + 12,
    );
  });
  if (hidden > 0) {
    const rest = all.slice(MAX_LEGEND).reduce((a, c) => a + c.n, 0);
    ctx.fillText(
      `… ${hidden} more (${((100 * rest) / (img.width * img.height)).toFixed(1)}%)`,
      img.width + 30,
      8 + row * (present.length + 1) + 12,
    );
  }
  const out = new Uint8Array(width * height * 3);
  const rgba = canvas.data;
  for (let p = 0; p < width * height; p++) {
    out[p * 3] = rgba[p * 4]!;
    out[p * 3 + 1] = rgba[p * 4 + 1]!;
    out[p * 3 + 2] = rgba[p * 4 + 2]!;
  }
  for (let y = 0; y < img.height; y++)
    for (let x = 0; x < img.width; x++) {
      const s = (y * img.width + x) * 3;
      const d = (y * width + x) * 3;
      for (let c = 0; c < 3; c++)
        out[d + c] = Math.round(0.5 * img.data[s + c]! + 0.5 * colours.data[s + c]!);
    }
  return { width, height, data: out };
}
