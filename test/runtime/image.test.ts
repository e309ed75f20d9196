// Image IO: PNG (RGB, grey, RGBA) and JPEG decode to RGB; PNG encode round-trips; bad files say what is wrong.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { decodeImage, encodePng, ImageError, readImage } from '../../runtime/image.ts';
import { ROOT } from '../helpers.ts';

describe('image IO', () => {
  it('reads the sample photo', () => {
    const img = readImage(join(ROOT, 'test', 'fixtures', 'images', 'chelsea.png'));
    expect([img.width, img.height, img.data.length]).toEqual([451, 300, 451 * 300 * 3]);
  });
  it('PNG encode/decode round trip, RGB and grey', () => {
    const rgb = Uint8Array.from({ length: 7 * 5 * 3 }, (_, i) => (i * 37) % 256);
    expect(decodeImage(encodePng(7, 5, rgb, 3)).data).toEqual(rgb);
    const grey = Uint8Array.from({ length: 7 * 5 }, (_, i) => i * 3);
    const back = decodeImage(encodePng(7, 5, grey, 1));
    expect([...back.data.filter((_, i) => i % 3 === 0)]).toEqual([...grey]);
  });
  it('RGBA PNGs lose only the alpha channel', () => {
    const png = new PNG({ width: 2, height: 1 });
    png.data = Buffer.from([10, 20, 30, 255, 40, 50, 60, 0]);
    expect([...decodeImage(PNG.sync.write(png)).data]).toEqual([10, 20, 30, 40, 50, 60]);
  });
  it('decodes JPEG by content, whatever the extension', () => {
    const w = 16;
    const h = 8;
    const rgba = Buffer.alloc(w * h * 4, 0);
    for (let p = 0; p < w * h; p++) rgba.set([200, 100, 50, 255], p * 4);
    const bytes = jpeg.encode({ width: w, height: h, data: rgba }, 95).data;
    const img = decodeImage(bytes, 'photo.png');
    expect([img.width, img.height]).toEqual([w, h]);
    expect(Math.abs(img.data[0]! - 200)).toBeLessThan(4);
    expect(Math.abs(img.data[2]! - 50)).toBeLessThan(4);
  });
  it('says what is wrong with bad files', () => {
    expect(() => decodeImage(new TextEncoder().encode('hello'), 'notes.txt')).toThrow(
      /notes\.txt: not a PNG or JPEG image/,
    );
    const cut = readFileSync(join(ROOT, 'test', 'fixtures', 'images', 'chelsea.png')).subarray(0, 1000);
    expect(() => decodeImage(cut, 'cut.png')).toThrow(ImageError);
    expect(() => decodeImage(cut, 'cut.png')).toThrow(/cut\.png: cannot decode the image/);
    expect(() => readImage('/nonexistent/x.jpg')).toThrow(/no such image file/);
  });
});
