// The evaluation protocol (reference §5.4): sizes, windows, averaging, flip and multi-scale, with fake networks.
import { describe, expect, it } from 'vitest';
import {
  countForwards,
  normalise,
  resizeAlignCorners,
  segment,
  windows,
  MULTI_SCALE,
  SINGLE_SCALE,
  type ProtocolOptions,
} from '../../runtime/segment.ts';
import type { RgbImage } from '../../runtime/image.ts';

function image(width: number, height: number, f: (x: number, y: number, c: number) => number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) for (let c = 0; c < 3; c++) data[(y * width + x) * 3 + c] = f(x, y, c);
  return { width, height, data };
}

describe('protocol geometry', () => {
  it('a 500×375 image runs 2 overlapping windows at single scale (long side 520, short 390)', () => {
    expect(countForwards(500, 375, SINGLE_SCALE)).toBe(2);
    expect(windows(480, 520, 480)).toEqual([
      { y0: 0, x0: 0, y1: 480, x1: 480 },
      { y0: 0, x0: 320, y1: 480, x1: 520 },
    ]);
  });
  it('window grid = ceil((size − 480)/320) + 1 per axis', () => {
    expect(windows(1000, 700, 480).length).toBe(
      (Math.ceil((1000 - 480) / 320) + 1) * (Math.ceil((700 - 480) / 320) + 1),
    );
  });
  it('multi-scale: long ≤ 480 is one padded forward; flips double the count', () => {
    // scales 0.5 (260) and 0.75 (390): 1 forward each; 1.0 (520): 2; 1.25 (650): 2×1→ long 650, short 488 ⇒ 2×1 grid…
    const n = countForwards(500, 375, MULTI_SCALE);
    const manual = [0.5, 0.75, 1, 1.25, 1.5, 1.75]
      .map((s) => {
        const long = Math.ceil(520 * s);
        const short = Math.floor((375 * long) / 500 + 0.5);
        if (long <= 480) return 1;
        return windows(Math.max(short, 480), long, 480).length;
      })
      .reduce((a, b) => a + b, 0);
    expect(n).toBe(2 * manual);
  });
});

describe('resize and normalise', () => {
  it('normalises with the ImageNet mean and std', () => {
    const x = normalise(image(1, 1, (_x, _y, c) => [255, 0, 128][c]!));
    expect(x.data[0]).toBeCloseTo((1 - 0.485) / 0.229, 5);
    expect(x.data[1]).toBeCloseTo((0 - 0.456) / 0.224, 5);
    expect(x.data[2]).toBeCloseTo((128 / 255 - 0.406) / 0.225, 5);
  });
  it('align_corners=True bilinear: [[1,2],[3,4]] → 3×3', () => {
    const r = resizeAlignCorners(
      { channels: 1, height: 2, width: 2, data: new Float32Array([1, 2, 3, 4]) },
      3,
      3,
    );
    expect([...r.data]).toEqual([1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4]);
  });
});

describe('segment', () => {
  const crop = 48;
  const small: ProtocolOptions = { baseSize: 52, cropSize: crop, scales: [1], flip: false };

  it('labels follow a network that classifies by the red channel, across overlapping windows', async () => {
    // Class 1 where red is high, else class 0: the label map must reproduce the image's left/right split.
    const img = image(50, 30, (x, _y, c) => (c === 0 ? (x < 25 ? 255 : 0) : 60));
    let calls = 0;
    const forward = async (w: Float32Array) => {
      calls++;
      const out = new Float32Array(2 * crop * crop);
      for (let p = 0; p < crop * crop; p++) {
        out[p] = -w[p]!; // class 0 logit
        out[crop * crop + p] = w[p]!; // class 1 logit
      }
      return out;
    };
    const { labels, scores } = await segment(img, 2, forward, small);
    expect(calls).toBe(countForwards(50, 30, small));
    expect(calls).toBe(2); // long side 52 > 48: two windows
    expect(scores.height).toBe(30);
    expect(labels[5 * 50 + 3]).toBe(1);
    expect(labels[5 * 50 + 47]).toBe(0);
    expect(labels[29 * 50 + 10]).toBe(1);
  });

  it('scores are exp(logits) averaged over overlapping windows', async () => {
    const img = image(52, 20, () => 100);
    const forward = async () => new Float32Array(1 * crop * crop).fill(Math.log(3));
    const { scores } = await segment(img, 1, forward, small);
    for (const v of scores.data) expect(v).toBeCloseTo(3, 4);
  });

  it('flip adds the mirrored logits before exp', async () => {
    const img = image(20, 20, () => 0);
    const opts: ProtocolOptions = { ...small, flip: true };
    // The fake network ignores its input and returns logit j/100 at column j. The flipped pass, mirrored back,
    // contributes (crop−1−j)/100, so every window scores exp((crop−1)/100) everywhere.
    const forward = async () => {
      const out = new Float32Array(crop * crop);
      for (let i = 0; i < crop; i++) for (let j = 0; j < crop; j++) out[i * crop + j] = j / 100;
      return out;
    };
    const { scores } = await segment(img, 1, forward, opts);
    for (const v of scores.data) expect(v).toBeCloseTo(Math.exp((crop - 1) / 100), 4);
  });

  it('checks the forward output size', async () => {
    await expect(
      segment(
        image(10, 10, () => 0),
        3,
        async () => new Float32Array(5),
        small,
      ),
    ).rejects.toThrow(/expected 3×48×48/);
  });
});
