// The official training and validation transforms (reference §5.3; PyTorch-Encoding's `_sync_transform` and
// `_val_sync_transform` as FastFCN uses them), reproducing PIL's arithmetic:
//   * bilinear resize = PIL's `Image.resize(size, BILINEAR)` (Resample.c): separable convolution with the
//     triangle filter widened by the scale when shrinking (antialiasing), horizontal pass first, 22-bit
//     fixed-point coefficients, each pass rounded to 8 bits;
//   * nearest resize = PIL's `resize(size, NEAREST)` (Geometry.c, ImagingScaleAffine): source pixel
//     int((x + 0.5)·in/out), positions accumulated as PIL does;
//   * Gaussian blur = PIL's `ImageFilter.GaussianBlur(r)`: three box blurs per axis with the extended box
//     radius of Gwosdek et al. (fractional edge weights, 24-bit fixed point), edges extended;
//   * ToTensor (÷255) and Normalize(MEAN, STD) in float32.
// test/data/fixtures/pil.json (written by test/data/fixtures/make_pil_fixtures.py with Pillow 9.4) checks each
// against PIL byte for byte. Only the crop window of the resized image is computed: the result is identical to
// resizing the whole image and cropping, at the cost of the crop.
import type { RgbImage } from '../image.ts';
import { MEAN, STD } from '../datasets.ts';
import type { LoadedSample } from './datasets.ts';
import type { Rng } from './rng.ts';

export interface AugmentOptions {
  /** base_size: the short side is drawn from [int(0.5·base), int(2.0·base)] (official 520). */
  readonly base: number;
  /** crop_size: the square crop fed to the network (official 480). */
  readonly crop: number;
}

/** Every decision of a transform, drawn from the sample's randomness (train) or fixed (val). */
export interface CropPlan {
  /** Horizontal flip of the source before resizing. */
  readonly flip: boolean;
  /** Size after the resize (before padding). */
  readonly width: number;
  readonly height: number;
  /** Top-left corner of the crop in the resized (and padded) image. */
  readonly x: number;
  readonly y: number;
  readonly crop: number;
  /** Gaussian blur radius (PIL's, float32); 0 = no blur. */
  readonly blur: number;
}

/** A transformed sample before ToTensor: crop×crop RGB bytes (HWC) and train ids (−1 = ignore). */
export interface CroppedSample {
  readonly rgb: Uint8Array;
  readonly label: Int16Array;
}

/**
 * The random draws of the training transform, in the official order: flip (random() < 0.5), short side
 * (randint(int(0.5·base), int(2.0·base))), crop x then y (randint over the padded size), blur (random() < 0.5)
 * and its radius (random()).
 */
export function drawTrainPlan(width: number, height: number, opts: AugmentOptions, rng: Rng): CropPlan {
  const { base, crop } = opts;
  const flip = rng.next() < 0.5;
  const short = rng.int(Math.trunc(base * 0.5), Math.trunc(base * 2.0));
  let ow: number;
  let oh: number;
  if (height > width) {
    ow = short;
    oh = Math.trunc((height * ow) / width);
  } else {
    oh = short;
    ow = Math.trunc((width * oh) / height);
  }
  const pw = Math.max(ow, crop);
  const ph = Math.max(oh, crop);
  const x = rng.int(0, pw - crop);
  const y = rng.int(0, ph - crop);
  const blur = rng.next() < 0.5 ? Math.fround(rng.next()) : 0;
  return { flip, width: ow, height: oh, x, y, crop, blur };
}

/** Python 3's round() (half to even). */
function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** The validation transform: short side resized to `crop`, centre crop×crop. Also `--no-augment` training. */
export function valPlan(width: number, height: number, crop: number): CropPlan {
  let ow: number;
  let oh: number;
  if (width > height) {
    oh = crop;
    ow = Math.trunc((width * oh) / height);
  } else {
    ow = crop;
    oh = Math.trunc((height * ow) / width);
  }
  const x = roundHalfEven((ow - crop) / 2);
  const y = roundHalfEven((oh - crop) / 2);
  return { flip: false, width: ow, height: oh, x, y, crop, blur: 0 };
}

// ---- PIL's bilinear resample (Resample.c) ------------------------------------------------------------------

const PRECISION_BITS = 22;
const HALF = 1 << (PRECISION_BITS - 1);

interface Coeffs {
  /** Per output position: first input index and count. */
  readonly start: Int32Array;
  readonly count: Int32Array;
  /** ksize fixed-point weights per output position. */
  readonly k: Int32Array;
  readonly ksize: number;
}

/** PIL's precompute_coeffs + normalize_coeffs_8bpc for outputs o0..o0+n−1 of an inSize → outSize resize. */
function bilinearCoeffs(inSize: number, outSize: number, o0: number, n: number): Coeffs {
  const scale = inSize / outSize;
  const filterscale = scale < 1 ? 1 : scale;
  const support = 1.0 * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(n);
  const count = new Int32Array(n);
  const k = new Int32Array(n * ksize);
  const w = new Float64Array(ksize);
  const ss = 1.0 / filterscale;
  for (let i = 0; i < n; i++) {
    const xx = o0 + i;
    const center = (xx + 0.5) * scale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      let t = (x + xmin - center + 0.5) * ss;
      if (t < 0) t = -t;
      const v = t < 1 ? 1 - t : 0;
      w[x] = v;
      ww += v;
    }
    for (let x = 0; x < xmax; x++) {
      const v = ww !== 0 ? w[x]! / ww : w[x]!;
      k[i * ksize + x] =
        v < 0 ? Math.trunc(-0.5 + v * (1 << PRECISION_BITS)) : Math.trunc(0.5 + v * (1 << PRECISION_BITS));
    }
    start[i] = xmin;
    count[i] = xmax;
  }
  return { start, count, k, ksize };
}

const clip8 = (v: number) => (v >= 1 << (PRECISION_BITS + 8) ? 255 : v <= 0 ? 0 : v >> PRECISION_BITS);

/**
 * The window [x0, x0+w) × [y0, y0+h) (inside outW × outH) of PIL's bilinear resize of `img` to outW × outH,
 * as RGB bytes w·h·3.
 */
export function resizeBilinearWindow(
  img: RgbImage,
  outW: number,
  outH: number,
  x0: number,
  y0: number,
  w: number,
  h: number,
): Uint8Array {
  const out = new Uint8Array(w * h * 3);
  if (w <= 0 || h <= 0) return out;
  const cx = bilinearCoeffs(img.width, outW, x0, w);
  const cy = bilinearCoeffs(img.height, outH, y0, h);
  // Source rows the vertical pass reads.
  let r0 = Infinity;
  let r1 = 0;
  for (let i = 0; i < h; i++) {
    r0 = Math.min(r0, cy.start[i]!);
    r1 = Math.max(r1, cy.start[i]! + cy.count[i]!);
  }
  const src = img.data;
  const sw = img.width;
  // Horizontal pass over rows r0..r1−1 (rounded to 8 bits, as PIL's intermediate image is).
  const tmp = new Uint8Array((r1 - r0) * w * 3);
  for (let r = r0; r < r1; r++) {
    const rowIn = r * sw * 3;
    const rowOut = (r - r0) * w * 3;
    for (let i = 0; i < w; i++) {
      const s = cx.start[i]!;
      const c = cx.count[i]!;
      const kb = i * cx.ksize;
      let a0 = HALF;
      let a1 = HALF;
      let a2 = HALF;
      for (let x = 0; x < c; x++) {
        const kv = cx.k[kb + x]!;
        const p = rowIn + (s + x) * 3;
        a0 += src[p]! * kv;
        a1 += src[p + 1]! * kv;
        a2 += src[p + 2]! * kv;
      }
      const o = rowOut + i * 3;
      tmp[o] = clip8(a0);
      tmp[o + 1] = clip8(a1);
      tmp[o + 2] = clip8(a2);
    }
  }
  // Vertical pass.
  const tw = w * 3;
  for (let j = 0; j < h; j++) {
    const s = cy.start[j]! - r0;
    const c = cy.count[j]!;
    const kb = j * cy.ksize;
    const rowOut = j * tw;
    for (let q = 0; q < tw; q++) {
      let a = HALF;
      for (let y = 0; y < c; y++) a += tmp[(s + y) * tw + q]! * cy.k[kb + y]!;
      out[rowOut + q] = clip8(a);
    }
  }
  return out;
}

/** PIL's nearest source index for each output position 0..outSize−1 (ImagingScaleAffine's table). */
function nearestTable(inSize: number, outSize: number, upTo: number): Int32Array {
  const a = inSize / outSize;
  const tab = new Int32Array(upTo);
  let xo = 0 + a * 0.5;
  for (let x = 0; x < upTo; x++) {
    const xin = xo < 0 ? -1 : Math.trunc(xo);
    tab[x] = xin >= 0 && xin < inSize ? xin : -1;
    xo += a;
  }
  return tab;
}

/** The window of PIL's nearest resize of a label map (values copied; −1 where PIL would leave a pixel empty). */
export function resizeNearestWindow(
  label: Int16Array,
  inW: number,
  inH: number,
  outW: number,
  outH: number,
  x0: number,
  y0: number,
  w: number,
  h: number,
): Int16Array {
  const out = new Int16Array(w * h).fill(-1);
  if (w <= 0 || h <= 0) return out;
  const tx = nearestTable(inW, outW, x0 + w);
  const ty = nearestTable(inH, outH, y0 + h);
  for (let j = 0; j < h; j++) {
    const yi = ty[y0 + j]!;
    if (yi < 0) continue;
    for (let i = 0; i < w; i++) {
      const xi = tx[x0 + i]!;
      if (xi >= 0) out[j * w + i] = label[yi * inW + xi]!;
    }
  }
  return out;
}

// ---- PIL's Gaussian blur (BoxBlur.c) -----------------------------------------------------------------------

/** PIL's _gaussian_blur_radius: the extended box radius of one of `passes` box blurs, in float32. */
export function boxRadius(radius: number, passes = 3): number {
  const f = Math.fround;
  const r = f(radius);
  const sigma2 = f(f(r * r) / passes);
  const L = f(Math.sqrt(12.0 * sigma2 + 1.0));
  const l = f(Math.floor((L - 1.0) / 2.0));
  let a = f(f(f(2 * l) + 1) * f(f(l * f(l + 1)) - f(3 * sigma2)));
  a = f(a / f(6 * f(sigma2 - f(f(l + 1) * f(l + 1)))));
  return f(l + a);
}

/** One box blur of a line (PIL's ImagingLineBoxBlur32, one channel): `n` values at `inp[off + i·step]`. */
function boxBlurLine(
  line: Uint8Array,
  out: Uint8Array,
  n: number,
  radius: number,
  edgeA: number,
  edgeB: number,
  ww: number,
  fw: number,
): void {
  const lastx = n - 1;
  const save = (x: number, bulk: number) => {
    out[x] = Math.floor((bulk + (1 << 23)) / 16777216);
  };
  let acc = line[0]! * (radius + 1);
  for (let x = 0; x < edgeA - 1; x++) acc += line[x]!;
  acc += line[lastx]! * (radius - edgeA + 1);
  if (edgeA <= edgeB) {
    for (let x = 0; x < edgeA; x++) {
      acc += line[x + radius]! - line[0]!;
      save(x, acc * ww + (line[0]! + line[x + radius + 1]!) * fw);
    }
    for (let x = edgeA; x < edgeB; x++) {
      acc += line[x + radius]! - line[x - radius - 1]!;
      save(x, acc * ww + (line[x - radius - 1]! + line[x + radius + 1]!) * fw);
    }
    for (let x = edgeB; x <= lastx; x++) {
      acc += line[lastx]! - line[x - radius - 1]!;
      save(x, acc * ww + (line[x - radius - 1]! + line[lastx]!) * fw);
    }
  } else {
    for (let x = 0; x < edgeB; x++) {
      acc += line[x + radius]! - line[0]!;
      save(x, acc * ww + (line[0]! + line[x + radius + 1]!) * fw);
    }
    for (let x = edgeB; x < edgeA; x++) {
      acc += line[lastx]! - line[0]!;
      save(x, acc * ww + (line[0]! + line[lastx]!) * fw);
    }
    for (let x = edgeA; x <= lastx; x++) {
      acc += line[lastx]! - line[x - radius - 1]!;
      save(x, acc * ww + (line[x - radius - 1]! + line[lastx]!) * fw);
    }
  }
}

/**
 * PIL's `ImageFilter.GaussianBlur(radius)` on RGB bytes (w·h·3), in place: three horizontal box blurs, then three
 * vertical ones, each rounded to 8 bits.
 */
export function gaussianBlur(rgb: Uint8Array, w: number, h: number, radius: number): void {
  if (radius === 0) return;
  const br = boxRadius(radius);
  if (br === 0) return;
  const pass = (n: number, lines: number, at: (line: number, i: number) => number) => {
    const r = Math.trunc(br);
    const ww = Math.trunc(Math.fround(16777216 / Math.fround(Math.fround(br * 2) + 1)));
    const fw = Math.floor((16777216 - (r * 2 + 1) * ww) / 2);
    const edgeA = Math.min(r + 1, n);
    const edgeB = Math.max(n - r - 1, 0);
    const a = new Uint8Array(n);
    const b = new Uint8Array(n);
    for (let l = 0; l < lines; l++)
      for (let c = 0; c < 3; c++) {
        for (let i = 0; i < n; i++) a[i] = rgb[at(l, i) + c]!;
        boxBlurLine(a, b, n, r, edgeA, edgeB, ww, fw);
        boxBlurLine(b, a, n, r, edgeA, edgeB, ww, fw);
        boxBlurLine(a, b, n, r, edgeA, edgeB, ww, fw);
        for (let i = 0; i < n; i++) rgb[at(l, i) + c] = b[i]!;
      }
  };
  pass(w, h, (y, x) => (y * w + x) * 3);
  pass(h, w, (x, y) => (y * w + x) * 3);
}

// ---- the transforms ----------------------------------------------------------------------------------------

function flipped(sample: LoadedSample): LoadedSample {
  const { width: w, height: h, data } = sample.image;
  const img = new Uint8Array(data.length);
  const lab = new Int16Array(sample.label.length);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const s = y * w + x;
      const d = y * w + (w - 1 - x);
      img[d * 3] = data[s * 3]!;
      img[d * 3 + 1] = data[s * 3 + 1]!;
      img[d * 3 + 2] = data[s * 3 + 2]!;
      lab[d] = sample.label[s]!;
    }
  return { image: { width: w, height: h, data: img }, label: lab };
}

/**
 * Applies a plan: flip, resize (image bilinear, label nearest), pad right/bottom to ≥ crop (image black, label
 * ignore), crop, blur (image only). Returns crop×crop RGB bytes and train ids.
 */
export function applyPlan(sample: LoadedSample, plan: CropPlan): CroppedSample {
  const s = plan.flip ? flipped(sample) : sample;
  const { crop, x, y, width: ow, height: oh } = plan;
  // The part of the crop window inside the resized image; the rest is padding.
  const w = Math.max(0, Math.min(crop, ow - x));
  const h = Math.max(0, Math.min(crop, oh - y));
  const win = resizeBilinearWindow(s.image, ow, oh, x, y, w, h);
  const lwin = resizeNearestWindow(s.label, s.image.width, s.image.height, ow, oh, x, y, w, h);
  let rgb: Uint8Array;
  let label: Int16Array;
  if (w === crop && h === crop) {
    rgb = win;
    label = lwin;
  } else {
    rgb = new Uint8Array(crop * crop * 3);
    label = new Int16Array(crop * crop).fill(-1);
    for (let j = 0; j < h; j++) {
      rgb.set(win.subarray(j * w * 3, (j + 1) * w * 3), j * crop * 3);
      label.set(lwin.subarray(j * w, (j + 1) * w), j * crop);
    }
  }
  if (plan.blur > 0) gaussianBlur(rgb, crop, crop, plan.blur);
  return { rgb, label };
}

const NORM_LUT: Float32Array[] = [0, 1, 2].map((c) => {
  const f = Math.fround;
  const lut = new Float32Array(256);
  for (let v = 0; v < 256; v++) lut[v] = f(f(f(v / 255) - f(MEAN[c]!)) / f(STD[c]!));
  return lut;
});

/**
 * ToTensor + Normalize: HWC bytes → CHW float32 ((v/255 − mean)/std, float32 arithmetic as torchvision's), written
 * into `out` at `offset` (a fresh array by default).
 */
export function toTensor(
  rgb: Uint8Array,
  w: number,
  h: number,
  out = new Float32Array(3 * w * h),
  offset = 0,
): Float32Array {
  const plane = w * h;
  for (let c = 0; c < 3; c++) {
    const lut = NORM_LUT[c]!;
    const o = offset + c * plane;
    for (let i = 0; i < plane; i++) out[o + i] = lut[rgb[i * 3 + c]!]!;
  }
  return out;
}

export type TransformMode = 'train' | 'val';

export interface Transformed {
  /** [3, crop, crop], normalised. */
  readonly image: Float32Array;
  /** [crop, crop], train ids as floats, −1 = ignore. */
  readonly label: Float32Array;
  readonly plan: CropPlan;
}

/**
 * The whole transform of one sample. 'train' draws its plan from `rng` (required); 'val' (also the training
 * transform under --no-augment) is deterministic.
 */
export function transformSample(
  sample: LoadedSample,
  mode: TransformMode,
  opts: AugmentOptions,
  rng?: Rng,
): Transformed {
  const { width, height } = sample.image;
  let plan: CropPlan;
  if (mode === 'train') {
    if (!rng) throw new Error('transformSample: the training transform needs a seeded Rng');
    plan = drawTrainPlan(width, height, opts, rng);
  } else plan = valPlan(width, height, opts.crop);
  const c = applyPlan(sample, plan);
  return { image: toTensor(c.rgb, plan.crop, plan.crop), label: Float32Array.from(c.label), plan };
}
