// The official evaluation protocol (reference §5.4), independent of how a forward pass is run: normalise,
// resize so the long side is ceil(520·scale), cut 480×480 windows with stride 320 (padding with normalised
// black), score each window as exp(logits) (+ the flipped pass with --ms), average overlapping windows, resize the
// scores to the original size and sum over scales; the prediction is the argmax.
import { MEAN, STD } from './datasets.ts';
import type { RgbImage } from './image.ts';

export interface ProtocolOptions {
  readonly baseSize: number;
  readonly cropSize: number;
  readonly scales: readonly number[];
  readonly flip: boolean;
}

/** Single scale, no flip (paper Table 1). */
export const SINGLE_SCALE: ProtocolOptions = { baseSize: 520, cropSize: 480, scales: [1.0], flip: false };
/** Multi-scale + flip (`--ms`, paper Tables 3–5). */
export const MULTI_SCALE: ProtocolOptions = {
  baseSize: 520,
  cropSize: 480,
  scales: [0.5, 0.75, 1.0, 1.25, 1.5, 1.75],
  flip: true,
};

/** A CHW float tensor (batch 1). */
export interface Chw {
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  readonly data: Float32Array;
}

/** Runs the network on one cropSize×cropSize window [1, 3, c, c] and returns the logits [1, K, c, c]. */
export type Forward = (window: Float32Array) => Promise<Float32Array>;

export function normalise(img: RgbImage): Chw {
  const { width, height } = img;
  const data = new Float32Array(3 * width * height);
  for (let c = 0; c < 3; c++)
    for (let i = 0; i < width * height; i++)
      data[c * width * height + i] = (img.data[i * 3 + c]! / 255 - MEAN[c]!) / STD[c]!;
  return { channels: 3, height, width, data };
}

/** Bilinear resize of a CHW tensor with align_corners=True (as the official protocol resizes). */
export function resizeAlignCorners(x: Chw, height: number, width: number): Chw {
  const out = new Float32Array(x.channels * height * width);
  const sy = height > 1 ? (x.height - 1) / (height - 1) : 0;
  const sx = width > 1 ? (x.width - 1) / (width - 1) : 0;
  const x0s = new Int32Array(width);
  const x1s = new Int32Array(width);
  const lxs = new Float32Array(width);
  for (let j = 0; j < width; j++) {
    const src = j * sx;
    const x0 = Math.floor(src);
    x0s[j] = x0;
    x1s[j] = Math.min(x0 + 1, x.width - 1);
    lxs[j] = src - x0;
  }
  for (let c = 0; c < x.channels; c++) {
    const plane = c * x.height * x.width;
    for (let i = 0; i < height; i++) {
      const src = i * sy;
      const y0 = Math.floor(src);
      const y1 = Math.min(y0 + 1, x.height - 1);
      const ly = src - y0;
      const r0 = plane + y0 * x.width;
      const r1 = plane + y1 * x.width;
      const o = (c * height + i) * width;
      for (let j = 0; j < width; j++) {
        const a = x.data[r0 + x0s[j]!]! * (1 - lxs[j]!) + x.data[r0 + x1s[j]!]! * lxs[j]!;
        const b = x.data[r1 + x0s[j]!]! * (1 - lxs[j]!) + x.data[r1 + x1s[j]!]! * lxs[j]!;
        out[o + j] = a * (1 - ly) + b * ly;
      }
    }
  }
  return { channels: x.channels, height, width, data: out };
}

/** Crops rows [y0, y0+h) × cols [x0, x0+w) and pads to size×size with per-channel `fill` on the right/bottom. */
function cropPad(
  x: Chw,
  y0: number,
  x0: number,
  h: number,
  w: number,
  size: number,
  fill: readonly number[],
): Float32Array {
  const out = new Float32Array(x.channels * size * size);
  for (let c = 0; c < x.channels; c++) {
    out.fill(fill[c]!, c * size * size, (c + 1) * size * size);
    for (let i = 0; i < h; i++) {
      const src = c * x.height * x.width + (y0 + i) * x.width + x0;
      out.set(x.data.subarray(src, src + w), c * size * size + i * size);
    }
  }
  return out;
}

function flipW(data: Float32Array, channels: number, size: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let c = 0; c < channels; c++)
    for (let i = 0; i < size; i++) {
      const row = (c * size + i) * size;
      for (let j = 0; j < size; j++) out[row + j] = data[row + size - 1 - j]!;
    }
  return out;
}

/** Windows (top-left corners) the protocol cuts from an h×w (already padded to ≥ crop) image. */
export function windows(
  h: number,
  w: number,
  crop: number,
): { y0: number; x0: number; y1: number; x1: number }[] {
  const stride = Math.floor((crop * 2) / 3);
  const gh = Math.ceil((h - crop) / stride) + 1;
  const gw = Math.ceil((w - crop) / stride) + 1;
  const out = [];
  for (let a = 0; a < gh; a++)
    for (let b = 0; b < gw; b++) {
      const y0 = a * stride;
      const x0 = b * stride;
      out.push({ y0, x0, y1: Math.min(y0 + crop, h), x1: Math.min(x0 + crop, w) });
    }
  return out;
}

/** Number of forward passes the protocol makes for an image (for progress reporting). */
export function countForwards(width: number, height: number, opts: ProtocolOptions): number {
  let n = 0;
  for (const s of opts.scales) {
    const { h, w } = scaledSize(width, height, opts.baseSize, s);
    const long = Math.max(h, w);
    n +=
      long <= opts.cropSize
        ? 1
        : windows(Math.max(h, opts.cropSize), Math.max(w, opts.cropSize), opts.cropSize).length;
  }
  return n * (opts.flip ? 2 : 1);
}

function scaledSize(width: number, height: number, base: number, scale: number): { h: number; w: number } {
  const long = Math.ceil(base * scale);
  return height > width
    ? { h: long, w: Math.floor((width * long) / height + 0.5) }
    : { w: long, h: Math.floor((height * long) / width + 0.5) };
}

/** Runs the protocol; returns the summed scores [K, H, W] at the image's size and the argmax label map. */
export async function segment(
  img: RgbImage,
  classes: number,
  forward: Forward,
  opts: ProtocolOptions = SINGLE_SCALE,
  onForward?: () => void,
): Promise<{ scores: Chw; labels: Uint8Array | Uint16Array }> {
  const crop = opts.cropSize;
  const fill = MEAN.map((m, c) => -m / STD[c]!);
  const base = normalise(img);
  const total = new Float32Array(classes * img.height * img.width);

  const score = async (window: Float32Array): Promise<Float32Array> => {
    const logits = await forward(window);
    onForward?.();
    if (logits.length !== classes * crop * crop)
      throw new Error(`forward returned ${logits.length} values, expected ${classes}×${crop}×${crop}`);
    const out = new Float32Array(logits);
    if (opts.flip) {
      const flipped = await forward(flipW(window, 3, crop));
      onForward?.();
      const back = flipW(flipped, classes, crop);
      for (let i = 0; i < out.length; i++) out[i]! += back[i]!;
    }
    for (let i = 0; i < out.length; i++) out[i] = Math.exp(out[i]!);
    return out;
  };

  for (const s of opts.scales) {
    const { h, w } = scaledSize(img.width, img.height, opts.baseSize, s);
    const cur = resizeAlignCorners(base, h, w);
    const acc = new Float32Array(classes * h * w);
    if (Math.max(h, w) <= crop) {
      const out = await score(cropPad(cur, 0, 0, h, w, crop, fill));
      for (let k = 0; k < classes; k++)
        for (let i = 0; i < h; i++)
          acc.set(out.subarray((k * crop + i) * crop, (k * crop + i) * crop + w), (k * h + i) * w);
    } else {
      // Pad to at least crop×crop, then slide.
      const ph = Math.max(h, crop);
      const pw = Math.max(w, crop);
      const padded: Chw = {
        channels: 3,
        height: ph,
        width: pw,
        data: cropPad(cur, 0, 0, h, w, Math.max(ph, pw), fill),
      };
      const sq = Math.max(ph, pw);
      const view: Chw = { channels: 3, height: sq, width: sq, data: padded.data };
      const sum = new Float32Array(classes * ph * pw);
      const count = new Uint16Array(ph * pw);
      for (const win of windows(ph, pw, crop)) {
        const out = await score(cropPad(view, win.y0, win.x0, win.y1 - win.y0, win.x1 - win.x0, crop, fill));
        for (let k = 0; k < classes; k++)
          for (let i = win.y0; i < win.y1; i++)
            for (let j = win.x0; j < win.x1; j++)
              sum[(k * ph + i) * pw + j]! += out[(k * crop + (i - win.y0)) * crop + (j - win.x0)]!;
        for (let i = win.y0; i < win.y1; i++) for (let j = win.x0; j < win.x1; j++) count[i * pw + j]!++;
      }
      for (let k = 0; k < classes; k++)
        for (let i = 0; i < h; i++)
          for (let j = 0; j < w; j++)
            acc[(k * h + i) * w + j] = sum[(k * ph + i) * pw + j]! / count[i * pw + j]!;
    }
    const resized = resizeAlignCorners(
      { channels: classes, height: h, width: w, data: acc },
      img.height,
      img.width,
    );
    for (let i = 0; i < total.length; i++) total[i]! += resized.data[i]!;
  }

  const n = img.width * img.height;
  const labels = classes <= 256 ? new Uint8Array(n) : new Uint16Array(n);
  for (let p = 0; p < n; p++) {
    let best = 0;
    let bestV = total[p]!;
    for (let k = 1; k < classes; k++) {
      const v = total[k * n + p]!;
      if (v > bestV) {
        bestV = v;
        best = k;
      }
    }
    labels[p] = best;
  }
  return { scores: { channels: classes, height: img.height, width: img.width, data: total }, labels };
}
