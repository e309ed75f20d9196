// Segmenting image files with any forward function (a Session, a generated model): decode every image first (so
// bad input fails before anything is written), run the evaluation protocol, and write per image
// `<stem>.png` (class index per pixel, 8-bit grey), `<stem>.color.png` (palette colours) and
// `<stem>.overlay.png` (photo + colours + legend). Outputs are written atomically and removed again if the run fails.
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { classNames } from './datasets.ts';
import { encodePng, readImage, type RgbImage } from './image.ts';
import { countForwards, segment, type Forward, type ProtocolOptions } from './segment.ts';
import { colorize, overlayWithLegend } from './visualize.ts';

export interface SegmentFilesOptions {
  readonly outDir: string;
  readonly classes: number;
  readonly protocol: ProtocolOptions;
  /** Class names for the legends (default: classNames(classes)). */
  readonly names?: readonly string[];
  /** Called after each forward pass with (done, total, image). */
  readonly progress?: (done: number, total: number, image: string) => void;
}

/** Writes a file via a temporary name and a rename, so a crash never leaves a half-written output. */
export function writeAtomically(path: string, bytes: Uint8Array | string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

export function decodeAll(paths: readonly string[]): { path: string; img: RgbImage }[] {
  return paths.map((path) => ({ path, img: readImage(path) }));
}

export async function segmentFiles(
  images: readonly { path: string; img: RgbImage }[],
  forward: Forward,
  opts: SegmentFilesOptions,
): Promise<string[]> {
  const names = opts.names ? [...opts.names] : classNames(opts.classes);
  const total = images.reduce((a, d) => a + countForwards(d.img.width, d.img.height, opts.protocol), 0);
  const written: string[] = [];
  let done = 0;
  try {
    for (const { path, img } of images) {
      const { labels } = await segment(img, opts.classes, forward, opts.protocol, () =>
        opts.progress?.(++done, total, path),
      );
      const stem = basename(path, extname(path));
      const grey = new Uint8Array(labels.length);
      for (let i = 0; i < labels.length; i++) grey[i] = labels[i]!;
      const colour = colorize(labels, img.width, img.height, opts.classes);
      const overlay = overlayWithLegend(img, labels, names);
      const files: [string, Buffer][] = [
        [join(opts.outDir, `${stem}.png`), encodePng(img.width, img.height, grey, 1)],
        [join(opts.outDir, `${stem}.color.png`), encodePng(colour.width, colour.height, colour.data, 3)],
        [join(opts.outDir, `${stem}.overlay.png`), encodePng(overlay.width, overlay.height, overlay.data, 3)],
      ];
      for (const [file, bytes] of files) {
        writeAtomically(file, bytes);
        written.push(file);
      }
    }
    return written;
  } catch (e) {
    for (const f of written) rmSync(f, { force: true });
    throw e;
  }
}
