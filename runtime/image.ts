// Image IO for inference: PNG and JPEG in (pure JS decoders), PNG out. Images are 8-bit RGB, row-major HWC.
import { readFileSync } from 'node:fs';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';

export interface RgbImage {
  readonly width: number;
  readonly height: number;
  /** width·height·3 bytes, RGB. */
  readonly data: Uint8Array;
}

export class ImageError extends Error {
  constructor(
    message: string,
    readonly file?: string,
  ) {
    super(message);
  }
}

const isPng = (b: Uint8Array) =>
  b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47;
const isJpeg = (b: Uint8Array) => b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg'];

/** Decodes a PNG or JPEG (chosen by content, not by extension). */
export function decodeImage(bytes: Uint8Array, file = 'image'): RgbImage {
  let rgba: Uint8Array;
  let width: number;
  let height: number;
  try {
    if (isPng(bytes)) {
      const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      ({ width, height } = png);
      rgba = png.data;
    } else if (isJpeg(bytes)) {
      const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: 1024 });
      ({ width, height } = img);
      rgba = img.data;
    } else {
      throw new ImageError(`${file}: not a PNG or JPEG image (unrecognised content)`, file);
    }
  } catch (e) {
    if (e instanceof ImageError) throw e;
    throw new ImageError(
      `${file}: cannot decode the image (${(e as Error).message}); is the file complete?`,
      file,
    );
  }
  if (width < 1 || height < 1) throw new ImageError(`${file}: the image is empty`, file);
  const data = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < width * height; i++, j += 4) {
    data[i * 3] = rgba[j]!;
    data[i * 3 + 1] = rgba[j + 1]!;
    data[i * 3 + 2] = rgba[j + 2]!;
  }
  return { width, height, data };
}

export function readImage(path: string): RgbImage {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ImageError(
      code === 'ENOENT' ? `${path}: no such image file` : `${path}: cannot read (${(e as Error).message})`,
      path,
    );
  }
  return decodeImage(bytes, path);
}

/** Encodes RGB (3 channels) or grey (1 channel) 8-bit data as PNG. */
export function encodePng(width: number, height: number, data: Uint8Array, channels: 1 | 3): Buffer {
  const png = new PNG({
    width,
    height,
    colorType: channels === 1 ? 0 : 2,
    inputColorType: channels === 1 ? 0 : 2,
    inputHasAlpha: false,
  });
  png.data = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return PNG.sync.write(png, {
    colorType: channels === 1 ? 0 : 2,
    inputColorType: channels === 1 ? 0 : 2,
    inputHasAlpha: false,
  });
}
