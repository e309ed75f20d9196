// The official transforms (reference §5.3): PIL-exact resampling and blur against Pillow's own output, the
// geometry of flip / pad / crop on a known image, the random draws in the official order and ranges, and the
// normalisation values.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  applyPlan,
  boxRadius,
  drawTrainPlan,
  gaussianBlur,
  resizeBilinearWindow,
  resizeNearestWindow,
  toTensor,
  transformSample,
  valPlan,
  type CropPlan,
} from '../../runtime/data/augment.ts';
import type { LoadedSample } from '../../runtime/data/datasets.ts';
import { Rng, sampleRng } from '../../runtime/data/rng.ts';
import { MEAN, STD } from '../../runtime/datasets.ts';

interface Fixture {
  pillow: string;
  width: number;
  height: number;
  image: string;
  mask: string;
  resize: { width: number; height: number; bilinear: string; nearest: string }[];
  blur: { radius: number; image: string }[];
  train: (Omit<CropPlan, 'blur'> & { short: number; blur: number; image: string; mask: string })[];
  val: { crop: number; x: number; y: number; image: string; mask: string }[];
  tall: {
    image: string;
    mask: string;
    val: Fixture['val'][number];
    train: Fixture['train'][number];
  };
}
const fx = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'pil.json'), 'utf8')) as Fixture;
const bytes = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
/** The fixture's mask holds ADE-style values (0 = ignore): as train ids. */
const ids = (s: string) => Int16Array.from(bytes(s), (v) => v - 1);
const W = fx.width;
const H = fx.height;
const sample: LoadedSample = { image: { width: W, height: H, data: bytes(fx.image) }, label: ids(fx.mask) };
const tall: LoadedSample = {
  image: { width: H, height: W, data: bytes(fx.tall.image) },
  label: ids(fx.tall.mask),
};

describe('PIL equivalence (fixtures written by Pillow ' + fx.pillow + ')', () => {
  it('bilinear and nearest resize, whole images and windows', () => {
    for (const r of fx.resize) {
      const full = resizeBilinearWindow(sample.image, r.width, r.height, 0, 0, r.width, r.height);
      expect(
        Buffer.from(full).equals(Buffer.from(bytes(r.bilinear))),
        `bilinear ${r.width}×${r.height}`,
      ).toBe(true);
      const nn = resizeNearestWindow(sample.label, W, H, r.width, r.height, 0, 0, r.width, r.height);
      expect([...nn], `nearest ${r.width}×${r.height}`).toEqual([...ids(r.nearest)]);
      // A window equals the same part of the whole resize.
      const x0 = Math.floor(r.width / 3);
      const y0 = Math.floor(r.height / 4);
      const w = r.width - x0;
      const h = r.height - y0;
      const win = resizeBilinearWindow(sample.image, r.width, r.height, x0, y0, w, h);
      for (let j = 0; j < h; j++)
        expect(
          Buffer.from(win.subarray(j * w * 3, (j + 1) * w * 3)).equals(
            Buffer.from(full.subarray(((y0 + j) * r.width + x0) * 3, ((y0 + j) * r.width + x0 + w) * 3)),
          ),
        ).toBe(true);
    }
  });

  it('Gaussian blur', () => {
    for (const b of fx.blur) {
      const img = new Uint8Array(sample.image.data);
      gaussianBlur(img, W, H, Math.fround(b.radius));
      expect(Buffer.from(img).equals(Buffer.from(bytes(b.image))), `radius ${b.radius}`).toBe(true);
    }
    // radius ~ U[0, 1) always gives box radius < 1: one 3-tap pass weighted by the fractional edge
    expect(boxRadius(0)).toBe(0);
    expect(boxRadius(0.999)).toBeGreaterThan(0.2);
    expect(boxRadius(0.999)).toBeLessThan(0.25);
  });

  it('training transform (flip, rescale, pad, crop, blur) with given draws', () => {
    for (const t of [...fx.train, fx.tall.train]) {
      const src = t === fx.tall.train ? tall : sample;
      const plan: CropPlan = {
        flip: t.flip,
        width: t.width,
        height: t.height,
        x: t.x,
        y: t.y,
        crop: t.crop,
        blur: Math.fround(t.blur),
      };
      const c = applyPlan(src, plan);
      expect(Buffer.from(c.rgb).equals(Buffer.from(bytes(t.image))), JSON.stringify(plan)).toBe(true);
      expect([...c.label]).toEqual([...ids(t.mask)]);
    }
  });

  it('validation transform (short side = crop, centre crop with Python rounding)', () => {
    for (const t of [...fx.val, fx.tall.val]) {
      const src = t === fx.tall.val ? tall : sample;
      const plan = valPlan(src.image.width, src.image.height, t.crop);
      expect([plan.x, plan.y]).toEqual([t.x, t.y]);
      const c = applyPlan(src, plan);
      expect(Buffer.from(c.rgb).equals(Buffer.from(bytes(t.image)))).toBe(true);
      expect([...c.label]).toEqual([...ids(t.mask)]);
    }
  });
});

/** A 40×30 image whose pixels encode their coordinates; label = (x + y) % 5, −1 on the diagonal x = y. */
function known(w = 40, h = 30): LoadedSample {
  const data = new Uint8Array(w * h * 3);
  const label = new Int16Array(w * h);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      data.set([x * 6, y * 8, 77], (y * w + x) * 3);
      label[y * w + x] = x === y ? -1 : (x + y) % 5;
    }
  return { image: { width: w, height: h, data }, label };
}

describe('geometry on a known image', () => {
  it('crop without rescale copies the window; flip mirrors the source first', () => {
    const s = known();
    const plain = applyPlan(s, { flip: false, width: 40, height: 30, x: 5, y: 3, crop: 16, blur: 0 });
    const flip = applyPlan(s, { flip: true, width: 40, height: 30, x: 5, y: 3, crop: 16, blur: 0 });
    for (let j = 0; j < 16; j++)
      for (let i = 0; i < 16; i++) {
        const o = j * 16 + i;
        expect([...plain.rgb.subarray(o * 3, o * 3 + 3)]).toEqual([(5 + i) * 6, (3 + j) * 8, 77]);
        expect(plain.label[o]).toBe(5 + i === 3 + j ? -1 : (8 + i + j) % 5);
        const sx = 39 - (5 + i); // flipped: output column 5+i reads source column 39−(5+i)
        expect([...flip.rgb.subarray(o * 3, o * 3 + 3)]).toEqual([sx * 6, (3 + j) * 8, 77]);
        expect(flip.label[o]).toBe(sx === 3 + j ? -1 : (sx + 3 + j) % 5);
      }
  });

  it('an image smaller than the crop is padded right and bottom: black image, ignore label', () => {
    const s = known(12, 10);
    // short side 10 < crop 16: resized to 12×10 (unchanged), padded to 16×16, the only crop is at (0, 0)
    const plan = drawTrainPlan(12, 10, { base: 20, crop: 16 }, new ScriptedRng([0.9, 0, 0, 0, 0.9]));
    expect(plan).toEqual({ flip: false, width: 12, height: 10, x: 0, y: 0, crop: 16, blur: 0 });
    const c = applyPlan(s, plan);
    for (let j = 0; j < 16; j++)
      for (let i = 0; i < 16; i++) {
        const o = j * 16 + i;
        const inside = i < 12 && j < 10;
        expect([...c.rgb.subarray(o * 3, o * 3 + 3)]).toEqual(inside ? [i * 6, j * 8, 77] : [0, 0, 0]);
        expect(c.label[o]).toBe(inside ? s.label[j * 12 + i] : -1);
      }
    // and normalised, the padding is −mean/std
    const t = toTensor(c.rgb, 16, 16);
    expect(t[15]).toBeCloseTo(-MEAN[0] / STD[0], 5);
    expect(t[256 + 255]).toBeCloseTo(-MEAN[1] / STD[1], 5);
  });

  it('rescale: a 2× upscale keeps nearest labels in 2×2 blocks', () => {
    const s = known();
    const c = applyPlan(s, { flip: false, width: 80, height: 60, x: 10, y: 20, crop: 16, blur: 0 });
    for (let j = 0; j < 16; j++)
      for (let i = 0; i < 16; i++) {
        const sx = (10 + i) >> 1;
        const sy = (20 + j) >> 1;
        expect(c.label[j * 16 + i]).toBe(s.label[sy * 40 + sx]);
      }
  });
});

/** An Rng whose next() returns scripted values (int() is derived from next() as in Rng). */
class ScriptedRng extends Rng {
  constructor(private readonly values: number[]) {
    super(0);
  }
  override next(): number {
    const v = this.values.shift();
    if (v === undefined) throw new Error('ScriptedRng: out of values');
    return v;
  }
}

describe('random draws', () => {
  it('follow the official order: flip, short side, crop x, crop y, blur?, radius', () => {
    // 500×375 (landscape), base 520, crop 480: short ~ randint(260, 1040)
    const plan = drawTrainPlan(
      500,
      375,
      { base: 520, crop: 480 },
      new ScriptedRng([0.2, 0.5, 0.25, 0.75, 0.1, 0.625]),
    );
    // short = 260 + floor(0.5·781) = 650; long = int(500·650/375) = 866
    expect(plan).toEqual({
      flip: true,
      width: 866,
      height: 650,
      x: Math.floor(0.25 * 387),
      y: Math.floor(0.75 * 171),
      crop: 480,
      blur: 0.625,
    });
    // portrait: the width is the short side
    const p2 = drawTrainPlan(375, 500, { base: 520, crop: 480 }, new ScriptedRng([0.7, 0, 0, 0, 0.6]));
    expect(p2).toEqual({ flip: false, width: 260, height: 346, x: 0, y: 0, crop: 480, blur: 0 });
  });

  it('ranges and rates over many samples match §5.3', () => {
    let flips = 0;
    let blurs = 0;
    let lo = Infinity;
    let hi = 0;
    const N = 4000;
    for (let p = 0; p < N; p++) {
      const plan = drawTrainPlan(500, 375, { base: 520, crop: 480 }, sampleRng(1, 0, p));
      if (plan.flip) flips++;
      if (plan.blur > 0) {
        blurs++;
        expect(plan.blur).toBeLessThan(1);
      }
      lo = Math.min(lo, plan.height);
      hi = Math.max(hi, plan.height);
      expect(plan.width).toBe(Math.trunc((500 * plan.height) / 375));
      expect(plan.x).toBeLessThanOrEqual(Math.max(plan.width, 480) - 480);
      expect(plan.y).toBeLessThanOrEqual(Math.max(plan.height, 480) - 480);
    }
    expect(lo).toBe(260);
    expect(hi).toBe(1040);
    expect(Math.abs(flips / N - 0.5)).toBeLessThan(0.04);
    expect(Math.abs(blurs / N - 0.5)).toBeLessThan(0.04);
  });

  it('the transform of a sample depends only on (seed, epoch, position)', () => {
    const s = known();
    const opts = { base: 24, crop: 16 };
    const a = transformSample(s, 'train', opts, sampleRng(3, 2, 7));
    const b = transformSample(s, 'train', opts, sampleRng(3, 2, 7));
    expect(a.plan).toEqual(b.plan);
    expect(a.image).toEqual(b.image);
    expect(a.label).toEqual(b.label);
    const plans = new Set(
      [sampleRng(3, 2, 8), sampleRng(3, 3, 7), sampleRng(4, 2, 7)].map((r) =>
        JSON.stringify(transformSample(s, 'train', opts, r).plan),
      ),
    );
    expect(plans.has(JSON.stringify(a.plan))).toBe(false);
  });
});

describe('ToTensor + Normalize', () => {
  it('(v/255 − mean)/std per channel in float32, CHW', () => {
    const rgb = Uint8Array.from([0, 128, 255, 255, 0, 64]); // two pixels
    const t = toTensor(rgb, 2, 1);
    const f = Math.fround;
    const norm = (v: number, c: number) => f(f(f(v / 255) - f(MEAN[c]!)) / f(STD[c]!));
    expect([...t]).toEqual([norm(0, 0), norm(255, 0), norm(128, 1), norm(0, 1), norm(255, 2), norm(64, 2)]);
    expect(t[0]).toBeCloseTo(-2.1179039, 6);
    expect(t[1]).toBeCloseTo(2.2489083, 6);
    expect(t[2]).toBeCloseTo(0.2051821, 6); // (128/255 − 0.456)/0.224
    expect(t[4]).toBeCloseTo(2.64, 6); // (1 − 0.406)/0.225
  });

  it('validation transform output: labels as floats with −1 ignore, no randomness', () => {
    const s = known();
    const v = transformSample(s, 'val', { base: 24, crop: 16 });
    expect(v.plan).toEqual({ flip: false, width: 21, height: 16, x: 2, y: 0, crop: 16, blur: 0 });
    expect(v.image.length).toBe(3 * 16 * 16);
    expect(v.label.length).toBe(16 * 16);
    // output (0, 0) = resized (2, 0) ← source (int(2.5·40/21), int(0.5·30/16)) = (4, 0): label (4 + 0) % 5
    expect(v.label[0]).toBe(4);
    expect(v.label[16 * 15 + 15]).toBe(s.label[29 * 40 + Math.trunc((17.5 * 40) / 21)]);
    expect(new Set(v.label)).toEqual(new Set([-1, 0, 1, 2, 3, 4]));
  });
});
