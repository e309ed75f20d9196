// `fcnc data synth`: a synthetic segmentation dataset in the ADE20K layout, deterministic from a seed. Shapes
// (discs, rectangles, triangles, blobs) of several classes over a background class; each class has a
// distinctive colour AND texture (stripes, checks, speckle noise, dots, rings), jittered per image (hue,
// brightness, texture period, phase and angle) and under pixel noise, so that a small CNN can learn it but not
// from the colour of one pixel. About half of the shapes have a thin unlabelled border (value 0), so the ignore
// label is exercised. Layout and conventions: docs/data.md.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { DataError } from './errors.ts';
import { encodeLabelPng } from './labels.ts';
import { Rng, STREAM } from './rng.ts';

export interface SynthOptions {
  /** Training images (default 64). */
  readonly train?: number;
  /** Validation images (default 16). */
  readonly val?: number;
  /** Nominal size S: each image is W×H with W, H drawn from [round(0.85·S), round(1.3·S)] (default 96). */
  readonly size?: number;
  /** Classes including the background (default 5; 2..254). */
  readonly classes?: number;
  readonly seed?: number;
  /** JPEG quality (default 95). */
  readonly quality?: number;
  /** Replace an existing OUT/ADEChallengeData2016. */
  readonly force?: boolean;
}

export interface SynthResult {
  /** OUT/ADEChallengeData2016 */
  readonly base: string;
  readonly classes: string[];
  readonly train: number;
  readonly val: number;
}

type Texture = 'stripes' | 'checks' | 'speckle' | 'dots' | 'rings';
const TEXTURES: readonly Texture[] = ['stripes', 'checks', 'speckle', 'dots', 'rings'];
const COLOURS: readonly [string, [number, number, number]][] = [
  ['red', [205, 55, 45]],
  ['green', [55, 165, 70]],
  ['blue', [50, 85, 205]],
  ['yellow', [225, 205, 55]],
  ['purple', [150, 65, 185]],
  ['cyan', [55, 190, 205]],
  ['orange', [235, 135, 40]],
  ['pink', [235, 130, 175]],
];

interface ClassLook {
  readonly name: string;
  readonly colour: [number, number, number];
  readonly texture: Texture;
}

/** The look of each class: 0 is the background, k ≥ 1 colour k−1 mod 8 with texture k−1 mod 5. */
export function synthClasses(classes: number): ClassLook[] {
  const out: ClassLook[] = [{ name: 'background', colour: [120, 115, 105], texture: 'speckle' }];
  for (let k = 1; k < classes; k++) {
    const [cname, colour] = COLOURS[(k - 1) % COLOURS.length]!;
    const texture = TEXTURES[(k - 1) % TEXTURES.length]!;
    const round = Math.floor((k - 1) / (COLOURS.length * TEXTURES.length));
    out.push({ name: `${cname} ${texture}${round ? ` ${round + 1}` : ''}`, colour, texture });
  }
  return out;
}

type ShapeKind = 'disc' | 'rectangle' | 'triangle' | 'blob';
const SHAPES: readonly ShapeKind[] = ['disc', 'rectangle', 'triangle', 'blob'];

interface Shape {
  readonly cls: number;
  /** Signed distance-like function: < 0 inside. */
  readonly d: (x: number, y: number) => number;
  readonly border: number;
  readonly colour: [number, number, number];
  readonly tex: (x: number, y: number) => number;
  readonly amp: number;
}

/** A texture in [−1, 1] with per-instance jitter. */
function texture(kind: Texture, rng: Rng): (x: number, y: number) => number {
  const angle = rng.uniform(0, Math.PI);
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  const phase = rng.uniform(0, 2 * Math.PI);
  switch (kind) {
    case 'stripes': {
      const period = rng.uniform(5, 8);
      return (x, y) => Math.tanh(3 * Math.sin((2 * Math.PI * (x * c + y * s)) / period + phase));
    }
    case 'checks': {
      const cell = rng.uniform(3.5, 6);
      const a = rng.uniform(-0.3, 0.3);
      const ca = Math.cos(a);
      const sa = Math.sin(a);
      return (x, y) => {
        const u = (x * ca + y * sa) / cell;
        const v = (-x * sa + y * ca) / cell;
        return (Math.floor(u) + Math.floor(v)) % 2 === 0 ? 1 : -1;
      };
    }
    case 'speckle': {
      const key = rng.u32();
      return (x, y) => {
        let h = Math.imul(((x | 0) * 73856093) ^ ((y | 0) * 19349663) ^ key, 0x9e3779b1);
        h ^= h >>> 15;
        return ((h >>> 0) / 4294967296) * 2 - 1;
      };
    }
    case 'dots': {
      const pitch = rng.uniform(5, 8);
      const radius = pitch * rng.uniform(0.25, 0.35);
      const ox = rng.uniform(0, pitch);
      const oy = rng.uniform(0, pitch);
      return (x, y) => {
        const u = ((((x * c + y * s + ox) % pitch) + pitch) % pitch) - pitch / 2;
        const v = ((((-x * s + y * c + oy) % pitch) + pitch) % pitch) - pitch / 2;
        return Math.sqrt(u * u + v * v) < radius ? 1 : -1;
      };
    }
    case 'rings': {
      const period = rng.uniform(5, 8);
      const cx = rng.uniform(-40, 140);
      const cy = rng.uniform(-40, 140);
      return (x, y) =>
        Math.tanh(
          3 * Math.sin((2 * Math.PI * Math.sqrt((x - cx) * (x - cx) + (y - cy) * (y - cy))) / period + phase),
        );
    }
  }
}

function shapeDistance(
  kind: ShapeKind,
  cx: number,
  cy: number,
  r: number,
  rng: Rng,
): (x: number, y: number) => number {
  switch (kind) {
    case 'disc':
      return (x, y) => Math.sqrt((x - cx) * (x - cx) + (y - cy) * (y - cy)) - r;
    case 'rectangle': {
      const a = rng.uniform(0, Math.PI);
      const c = Math.cos(a);
      const s = Math.sin(a);
      const hw = r * rng.uniform(0.6, 1.2);
      const hh = r * rng.uniform(0.5, 1.0);
      return (x, y) => {
        const u = (x - cx) * c + (y - cy) * s;
        const v = -(x - cx) * s + (y - cy) * c;
        return Math.max(Math.abs(u) - hw, Math.abs(v) - hh);
      };
    }
    case 'triangle': {
      const a0 = rng.uniform(0, 2 * Math.PI);
      const pts = [0, 1, 2].map((k) => {
        const a = a0 + (2 * Math.PI * k) / 3 + rng.uniform(-0.3, 0.3);
        const rr = r * rng.uniform(1.0, 1.35);
        return [cx + rr * Math.cos(a), cy + rr * Math.sin(a)] as const;
      });
      // Outward edge normals (vertices are counter-clockwise in angle order).
      const edges = [0, 1, 2].map((k) => {
        const [x0, y0] = pts[k]!;
        const [x1, y1] = pts[(k + 1) % 3]!;
        const len = Math.sqrt((x1 - x0) * (x1 - x0) + (y1 - y0) * (y1 - y0));
        return [(y1 - y0) / len, -(x1 - x0) / len, x0, y0] as const;
      });
      const [e0, e1, e2] = edges as [(typeof edges)[0], (typeof edges)[0], (typeof edges)[0]];
      const dist = (e: (typeof edges)[0], x: number, y: number) => -((x - e[2]) * e[0] + (y - e[3]) * e[1]);
      return (x, y) => Math.max(dist(e0, x, y), dist(e1, x, y), dist(e2, x, y));
    }
    case 'blob': {
      const p = [rng.uniform(0, 6.3), rng.uniform(0, 6.3), rng.uniform(0, 6.3)];
      const m = [rng.uniform(0.1, 0.3), rng.uniform(0.05, 0.2), rng.uniform(0.03, 0.12)];
      return (x, y) => {
        const t = Math.atan2(y - cy, x - cx);
        const rr =
          r *
          (1 +
            m[0]! * Math.sin(2 * t + p[0]!) +
            m[1]! * Math.sin(3 * t + p[1]!) +
            m[2]! * Math.sin(5 * t + p[2]!));
        return Math.sqrt((x - cx) * (x - cx) + (y - cy) * (y - cy)) - rr;
      };
    }
  }
}

const jitterColour = (c: [number, number, number], rng: Rng, by: number): [number, number, number] => {
  const b = rng.uniform(-by / 2, by / 2);
  return c.map((v) => v + b + rng.uniform(-by / 2, by / 2)) as [number, number, number];
};

/** One synthetic image (RGB bytes) and its label map (ADE convention: 0 unlabelled, k+1 = class k). */
export function synthImage(
  width: number,
  height: number,
  looks: readonly ClassLook[],
  first: number,
  rng: Rng,
): { rgb: Uint8Array; label: Uint8Array } {
  const K = looks.length;
  const bgLook = looks[0]!;
  const bg = jitterColour(bgLook.colour, rng, 50);
  const grad = [rng.uniform(-0.4, 0.4), rng.uniform(-0.4, 0.4)];
  const bgTex = texture('speckle', rng);
  const shapes: Shape[] = [];
  const n = K > 1 ? rng.int(2, 4) : 0;
  const m = Math.min(width, height);
  for (let s = 0; s < n; s++) {
    const cls = s === 0 ? first : rng.int(1, K - 1);
    const look = looks[cls]!;
    const r = m * rng.uniform(0.16, 0.34);
    const cx = rng.uniform(0.15 * width, 0.85 * width);
    const cy = rng.uniform(0.15 * height, 0.85 * height);
    shapes.push({
      cls,
      d: shapeDistance(SHAPES[rng.int(0, SHAPES.length - 1)]!, cx, cy, r, rng),
      border: rng.next() < 0.5 ? rng.uniform(1, 2.2) : 0,
      colour: jitterColour(look.colour, rng, 60),
      tex: texture(look.texture, rng),
      amp: rng.uniform(30, 55),
    });
  }
  const noise = rng.uniform(4, 10);
  const rgb = new Uint8Array(width * height * 3);
  const label = new Uint8Array(width * height);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const g = (grad[0]! * (x - width / 2) + grad[1]! * (y - height / 2)) * 0.6;
      const t = bgTex(x, y) * 12;
      let c0 = bg[0] + g + t;
      let c1 = bg[1] + g + t;
      let c2 = bg[2] + g + t;
      let lab = 1;
      for (const sh of shapes) {
        const d = sh.d(x + 0.5, y + 0.5);
        if (d < 0) {
          const v = sh.tex(x, y) * sh.amp;
          c0 = sh.colour[0] + v;
          c1 = sh.colour[1] + v;
          c2 = sh.colour[2] + v;
          lab = sh.cls + 1;
        } else if (d < sh.border) {
          // The unlabelled rim: a blend of the shape and what is under it.
          const v = sh.tex(x, y) * sh.amp;
          c0 = (c0 + sh.colour[0] + v) / 2;
          c1 = (c1 + sh.colour[1] + v) / 2;
          c2 = (c2 + sh.colour[2] + v) / 2;
          lab = 0;
        }
      }
      const i = y * width + x;
      // Pixel noise: roughly normal (a sum of two uniforms), shared by the channels plus a little per channel.
      const e = (rng.next() + rng.next() - 1) * 2.4 * noise;
      rgb[i * 3] = Math.max(0, Math.min(255, Math.round(c0 + e)));
      rgb[i * 3 + 1] = Math.max(0, Math.min(255, Math.round(c1 + e + (rng.next() - 0.5) * noise)));
      rgb[i * 3 + 2] = Math.max(0, Math.min(255, Math.round(c2 + e)));
      label[i] = lab;
    }
  return { rgb, label };
}

type JpegEncoder = {
  encode(img: { data: Uint8Array; width: number; height: number }, q: number): Uint8Array;
};
let encoders: Map<number, JpegEncoder> | undefined;

/**
 * jpeg-js builds its Huffman and colour tables (~40 ms) on every `encode` call; its encoder object, which can be
 * reused, is not exported. We take it from the library's source once (falling back to `encode` if that fails).
 */
function jpegEncoder(quality: number): JpegEncoder | undefined {
  encoders ??= new Map();
  let e = encoders.get(quality);
  if (e) return e;
  try {
    const src = readFileSync(createRequire(import.meta.url).resolve('jpeg-js/lib/encoder.js'), 'utf8');
    const Encoder = new Function('module', 'Buffer', `${src}\nreturn JPEGEncoder;`)({}, Buffer) as new (
      q: number,
    ) => JpegEncoder;
    e = new Encoder(quality);
  } catch {
    return undefined;
  }
  encoders.set(quality, e);
  return e;
}

function encodeJpeg(width: number, height: number, rgb: Uint8Array, quality: number): Uint8Array {
  const rgba = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    rgba[i * 4] = rgb[i * 3]!;
    rgba[i * 4 + 1] = rgb[i * 3 + 1]!;
    rgba[i * 4 + 2] = rgb[i * 3 + 2]!;
    rgba[i * 4 + 3] = 255;
  }
  const enc = jpegEncoder(quality);
  if (enc) return enc.encode({ data: rgba, width, height }, quality);
  return jpeg.encode({ data: rgba, width, height }, quality).data;
}

/** Writes the dataset into OUT/ADEChallengeData2016 (built in a temporary folder, then renamed into place). */
export function synthDataset(out: string, opts: SynthOptions = {}): SynthResult {
  const train = opts.train ?? 64;
  const val = opts.val ?? 16;
  const size = opts.size ?? 96;
  const K = opts.classes ?? 5;
  const seed = opts.seed ?? 0;
  const quality = opts.quality ?? 95;
  if (K < 2 || K > 254)
    throw new RangeError(`classes must be in 2..254 (8-bit labels, 0 = unlabelled), got ${K}`);
  if (size < 8) throw new RangeError(`size must be at least 8, got ${size}`);
  const base = join(out, 'ADEChallengeData2016');
  if (existsSync(base) && !opts.force)
    throw new DataError(
      `${base}: already exists; remove it, pick another folder, or pass --force to replace it`,
      base,
      'layout',
    );
  const tmp = join(out, `.ADEChallengeData2016.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  const looks = synthClasses(K);
  const lo = Math.round(0.85 * size);
  const hi = Math.round(1.3 * size);
  try {
    for (const [split, dir, count, id] of [
      ['train', 'training', train, 0],
      ['val', 'validation', val, 1],
    ] as const) {
      const imgDir = join(tmp, 'images', dir);
      const labDir = join(tmp, 'annotations', dir);
      mkdirSync(imgDir, { recursive: true });
      mkdirSync(labDir, { recursive: true });
      for (let i = 0; i < count; i++) {
        const rng = new Rng(STREAM.synth, seed, id, i);
        const w = rng.int(lo, hi);
        const h = rng.int(lo, hi);
        // The first shape's class cycles so that every class is in every split of at least K−1 images.
        const first = 1 + ((i + id) % (K - 1));
        const { rgb, label } = synthImage(w, h, looks, first, rng);
        const name = `synth_${split}_${String(i + 1).padStart(5, '0')}`;
        writeFileSync(join(imgDir, `${name}.jpg`), encodeJpeg(w, h, rgb, quality));
        writeFileSync(join(labDir, `${name}.png`), encodeLabelPng(w, h, label));
      }
    }
    writeFileSync(join(tmp, 'classes.txt'), looks.map((l) => l.name).join('\n') + '\n');
    writeFileSync(
      join(tmp, 'synth.json'),
      JSON.stringify({ generator: 'fcnc data synth', seed, train, val, size, classes: K, quality }, null, 2) +
        '\n',
    );
    if (existsSync(base)) rmSync(base, { recursive: true, force: true });
    renameSync(tmp, base);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return { base, classes: looks.map((l) => l.name), train, val };
}
