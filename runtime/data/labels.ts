// Label maps as PNG files: decoding to the raw stored values (grey value or palette index — never the palette's
// colours), and encoding 8-bit grey label PNGs.
import { PNG } from 'pngjs';
import { encodePng } from '../image.ts';
import { DataError } from './errors.ts';

/** A label map as stored in the file: one raw value per pixel, row-major. */
export interface RawLabel {
  readonly width: number;
  readonly height: number;
  readonly values: Uint16Array;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

let crcTable: Uint32Array | undefined;
function crc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (const b of bytes) c = crcTable[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * A palette PNG with its palette replaced by the identity grey ramp (index i → colour (i, i, i)) and any tRNS chunk
 * dropped, so that a decoder that applies the palette hands back the indices. Other PNGs are returned as they are.
 */
function withIdentityPalette(bytes: Buffer): Buffer {
  if (bytes.length < 33 || bytes[25] !== 3) return bytes; // IHDR colour type at byte 25; 3 = palette
  const parts: Buffer[] = [bytes.subarray(0, 8)];
  let pos = 8;
  while (pos + 12 <= bytes.length) {
    const len = bytes.readUInt32BE(pos);
    const type = bytes.toString('latin1', pos + 4, pos + 8);
    const end = pos + 12 + len;
    if (end > bytes.length) break; // truncated: let the decoder say so
    if (type === 'PLTE') {
      const data = Buffer.alloc(256 * 3);
      for (let i = 0; i < 256; i++) data.fill(i, i * 3, i * 3 + 3);
      const head = Buffer.alloc(8);
      head.writeUInt32BE(data.length, 0);
      head.write('PLTE', 4, 'latin1');
      const crc = Buffer.alloc(4);
      crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
      parts.push(head, data, crc);
    } else if (type !== 'tRNS') parts.push(bytes.subarray(pos, end));
    pos = end;
  }
  if (pos < bytes.length) parts.push(bytes.subarray(pos));
  return Buffer.concat(parts);
}

/**
 * Decodes a label PNG to its raw values: the grey value (8 or 16 bit, or fewer bits unscaled) or the palette
 * index. An RGB PNG is accepted only when it is grey (R = G = B everywhere). Throws DataError('unreadable').
 */
export function decodeLabelPng(bytes: Uint8Array, file: string): RawLabel {
  if (bytes.length < 8 || PNG_SIGNATURE.some((b, i) => bytes[i] !== b))
    throw new DataError(
      `${file}: not a PNG file; labels must be single-channel PNGs holding class values (JPEG would corrupt them)`,
      file,
      'unreadable',
    );
  let png: { width: number; height: number; data: ArrayLike<number>; colorType: number; depth: number };
  try {
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    png = PNG.sync.read(withIdentityPalette(buf), { skipRescale: true }) as unknown as typeof png;
  } catch (e) {
    throw new DataError(
      `${file}: cannot decode the label PNG (${(e as Error).message}); is the file complete? Re-export or re-download it`,
      file,
      'unreadable',
    );
  }
  const { width, height, data, colorType } = png;
  if (width < 1 || height < 1) throw new DataError(`${file}: the label map is empty`, file, 'unreadable');
  const n = width * height;
  const values = new Uint16Array(n);
  const colour = colorType === 2 || colorType === 6;
  for (let i = 0, j = 0; i < n; i++, j += 4) {
    const v = data[j]!;
    if (colour && (data[j + 1] !== v || data[j + 2] !== v))
      throw new DataError(
        `${file}: the label PNG is a colour image (pixel ${i % width},${Math.floor(i / width)} is ` +
          `${v},${data[j + 1]},${data[j + 2]}); labels must be class values in a grey or palette PNG`,
        file,
        'unreadable',
      );
    values[i] = v;
  }
  return { width, height, values };
}

/** Encodes an 8-bit grey label PNG (values 0..255). */
export function encodeLabelPng(width: number, height: number, values: Uint8Array): Buffer {
  return encodePng(width, height, values, 1);
}
