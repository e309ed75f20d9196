// Helpers of the data tests: temporary folders, tiny datasets written file by file, hand-built PNGs.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { deflateSync } from 'node:zlib';
import jpeg from 'jpeg-js';
import { encodePng } from '../../runtime/image.ts';

export const tmp = (prefix: string) => mkdtempSync(join(tmpdir(), `fcnc-data-${prefix}-`));

function put(path: string, bytes: Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, bytes);
}

export type Rgb = [number, number, number];

/** An RGB image as PNG (lossless) or JPEG (quality 95); `fill(x, y)` gives each pixel. */
export function writeImage(path: string, w: number, h: number, fill: (x: number, y: number) => Rgb): void {
  const rgb = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) rgb.set(fill(x, y), (y * w + x) * 3);
  if (path.endsWith('.png')) return put(path, encodePng(w, h, rgb, 3));
  const rgba = new Uint8Array(w * h * 4);
  for (let i = 0; i < w * h; i++) rgba.set([rgb[i * 3]!, rgb[i * 3 + 1]!, rgb[i * 3 + 2]!, 255], i * 4);
  put(path, jpeg.encode({ data: rgba, width: w, height: h }, 95).data);
}

/** An 8-bit grey label PNG. */
export function writeLabel(path: string, w: number, h: number, fill: (x: number, y: number) => number): void {
  const v = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) v[y * w + x] = fill(x, y);
  put(path, encodePng(w, h, v, 1));
}

let crcTable: Uint32Array | undefined;
function crc32(b: Uint8Array): number {
  crcTable ??= Uint32Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  let c = 0xffffffff;
  for (const x of b) c = crcTable[(c ^ x) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/**
 * A PNG built by hand: colour type 0 (grey) or 3 (palette), bit depth 8 or 16 (grey), unfiltered rows.
 * `values` are grey values or palette indices.
 */
export function rawPng(
  w: number,
  h: number,
  values: ArrayLike<number>,
  opts: { colorType: 0 | 3; depth: 8 | 16; palette?: Rgb[]; trns?: number[] },
): Buffer {
  const bpp = opts.depth / 8;
  const rows = Buffer.alloc(h * (1 + w * bpp));
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const o = y * (1 + w * bpp) + 1 + x * bpp;
      const v = values[y * w + x]!;
      if (bpp === 2) rows.writeUInt16BE(v, o);
      else rows[o] = v;
    }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = opts.depth;
  ihdr[9] = opts.colorType;
  const parts = [Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr)];
  if (opts.palette) parts.push(chunk('PLTE', Uint8Array.from(opts.palette.flat())));
  if (opts.trns) parts.push(chunk('tRNS', Uint8Array.from(opts.trns)));
  parts.push(chunk('IDAT', deflateSync(rows)), chunk('IEND', new Uint8Array(0)));
  return Buffer.concat(parts);
}

export function writeBytes(path: string, bytes: Uint8Array): void {
  put(path, bytes);
}

/** Pixel (x, y) of an image that encodes its coordinates: (8x, 8y, 77). */
export const coordPixel = (x: number, y: number): Rgb => [(x * 8) % 256, (y * 8) % 256, 77];
