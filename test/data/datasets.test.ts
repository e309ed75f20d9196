// Readers: layouts, format detection, pairing by basename, class lists and the label mapping of each format
// (ADE20K and PASCAL Context: 0 → ignore, v → v−1; plain folder: v → v, 255 → ignore), label PNG variants.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ADE20K_CLASSES } from '../../runtime/data/ade20k-classes.ts';
import { detectFormat, loadSample, openDataset } from '../../runtime/data/datasets.ts';
import { DataError } from '../../runtime/data/errors.ts';
import { decodeLabelPng } from '../../runtime/data/labels.ts';
import { PCONTEXT_CLASSES } from '../../runtime/datasets.ts';
import { encodePng } from '../../runtime/image.ts';
import { coordPixel, rawPng, tmp, writeBytes, writeImage, writeLabel } from './helpers.ts';

/** A label map whose value at (x, y) is values[(x + y) % values.length]. */
const diag = (values: number[]) => (x: number, y: number) => values[(x + y) % values.length]!;

function thrown(f: () => unknown): DataError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(DataError);
    return e as DataError;
  }
  throw new Error('expected a DataError');
}

describe('ADE20K', () => {
  let root: string;
  beforeAll(() => {
    root = tmp('ade');
    const ade = join(root, 'ADEChallengeData2016');
    for (const n of ['b', 'a', 'c']) {
      writeImage(join(ade, 'images', 'training', `${n}.jpg`), 6, 4, coordPixel);
      writeLabel(join(ade, 'annotations', 'training', `${n}.png`), 6, 4, diag([0, 1, 2, 150]));
    }
    writeImage(join(ade, 'images', 'training', 'nolabel.jpg'), 6, 4, coordPixel);
    writeLabel(join(ade, 'annotations', 'training', 'noimage.png'), 6, 4, diag([1]));
    writeImage(join(ade, 'images', 'validation', 'v.jpg'), 5, 7, coordPixel);
    writeLabel(join(ade, 'annotations', 'validation', 'v.png'), 5, 7, diag([3]));
  });

  it('is detected, pairs by basename in name order, skips and reports the unmatched', () => {
    expect(detectFormat(root)).toBe('ade20k');
    const ds = openDataset(root);
    expect(ds.format).toBe('ade20k');
    expect(ds.split).toBe('train');
    expect(ds.samples.map((s) => s.image.split('/').pop())).toEqual(['a.jpg', 'b.jpg', 'c.jpg']);
    expect(ds.samples[0]!.label).toBe(join(root, 'ADEChallengeData2016', 'annotations', 'training', 'a.png'));
    expect(ds.unmatched.map((e) => [e.kind, e.file.split('/').pop()])).toEqual([
      ['missing-image', 'noimage.png'],
      ['missing-label', 'nolabel.jpg'],
    ]);
    expect(ds.unmatched[1]!.message).toMatch(/nolabel\.jpg: no label .*nolabel\.png; the image is skipped/);
    // the ADEChallengeData2016 folder itself is a root too
    expect(openDataset(join(root, 'ADEChallengeData2016'), { split: 'val' }).samples).toHaveLength(1);
    expect(openDataset(root, { split: 'trainval' }).samples).toHaveLength(4);
  });

  it('has the 150 objectInfo150 classes unless classes.txt says otherwise', () => {
    const ds = openDataset(root);
    expect(ds.classes).toHaveLength(150);
    expect(ds.classes.slice(0, 5)).toEqual(['wall', 'building', 'sky', 'floor', 'tree']);
    expect(ds.classes[149]).toBe('flag');
    expect(new Set(ADE20K_CLASSES).size).toBe(150);
  });

  it('maps PNG 0 → −1 (ignore) and v → v − 1', () => {
    const ds = openDataset(root);
    const s = loadSample(ds, ds.samples[0]!);
    expect([s.image.width, s.image.height]).toEqual([6, 4]);
    // label values (x + y) % 4 → [0, 1, 2, 150][·] → [−1, 0, 1, 149]
    expect([...s.label.subarray(0, 6)]).toEqual([-1, 0, 1, 149, -1, 0]);
    expect([...s.label.subarray(6, 12)]).toEqual([0, 1, 149, -1, 0, 1]);
  });

  it('reads classes.txt when present; values past its classes are errors', () => {
    const r2 = tmp('ade-classes');
    const ade = join(r2, 'ADEChallengeData2016');
    writeImage(join(ade, 'images', 'training', 'x.png'), 3, 2, coordPixel);
    writeLabel(join(ade, 'annotations', 'training', 'x.png'), 3, 2, diag([0, 1, 2, 3]));
    writeFileSync(join(ade, 'classes.txt'), 'sky\nsea\n\nsand\n');
    const ds = openDataset(r2);
    expect(ds.classes).toEqual(['sky', 'sea', 'sand']);
    expect([...loadSample(ds, ds.samples[0]!).label]).toEqual([-1, 0, 1, 0, 1, 2]);
    writeFileSync(join(ade, 'classes.txt'), 'sky\nsea\n');
    const e = thrown(() => loadSample(openDataset(r2), ds.samples[0]!));
    expect(e.kind).toBe('label-range');
    expect(e.file).toBe(ds.samples[0]!.label);
    expect(e.message).toContain(
      'label values outside the classes: 3 (1 px); valid: 1..2 for the 2 classes, 0 = ignore',
    );
  });
});

describe('PASCAL Context (label PNGs)', () => {
  let root: string;
  beforeAll(() => {
    root = tmp('pcontext');
    const voc = join(root, 'VOCdevkit', 'VOC2010');
    for (const n of ['2008_000002', '2008_000003', '2008_000007', '2008_000009'])
      writeImage(join(voc, 'JPEGImages', `${n}.jpg`), 5, 3, coordPixel);
    writeLabel(join(voc, 'SegmentationClassContext', 'train', '2008_000002.png'), 5, 3, diag([0, 1, 59, 30]));
    // a palette PNG (as PIL writes mode 'P'): indices, not the palette's colours, are the values
    const palette: [number, number, number][] = Array.from({ length: 60 }, (_, i) => [i * 3, 255 - i, 7]);
    palette[5] = palette[6]!; // duplicate colours must not confuse the decoding
    const idx = Array.from({ length: 15 }, (_, i) => [0, 5, 6, 59][i % 4]!);
    writeBytes(
      join(voc, 'SegmentationClassContext', 'train', '2008_000003.png'),
      rawPng(5, 3, idx, { colorType: 3, depth: 8, palette, trns: [0] }),
    );
    writeLabel(join(voc, 'SegmentationClassContext', 'val', '2008_000007.png'), 5, 3, diag([60]));
  });

  it('is detected; labels select the images, unused images are not problems', () => {
    expect(detectFormat(root)).toBe('pcontext');
    const ds = openDataset(root);
    expect(ds.samples.map((s) => s.image.split('/').pop())).toEqual(['2008_000002.jpg', '2008_000003.jpg']);
    expect(ds.unmatched).toEqual([]);
    expect(ds.classes).toEqual([...PCONTEXT_CLASSES]);
    expect(ds.classes).toHaveLength(59);
    expect(openDataset(join(root, 'VOCdevkit', 'VOC2010'), { split: 'val' }).samples).toHaveLength(1);
  });

  it('maps 0 (background) → −1 and v → v − 1 (59 classes), grey and palette PNGs alike', () => {
    const ds = openDataset(root);
    expect([...loadSample(ds, ds.samples[0]!).label.subarray(0, 5)]).toEqual([-1, 0, 58, 29, -1]);
    expect([...loadSample(ds, ds.samples[1]!).label.subarray(0, 8)]).toEqual([-1, 4, 5, 58, -1, 4, 5, 58]);
    const val = openDataset(root, { split: 'val' });
    const e = thrown(() => loadSample(val, val.samples[0]!));
    expect(e.kind).toBe('label-range');
    expect(e.message).toMatch(/2008_000007\.png: label values outside the classes: 60 \(15 px\)/);
  });
});

describe('plain folder', () => {
  let root: string;
  beforeAll(() => {
    root = tmp('folder');
    writeImage(join(root, 'train', 'images', 'one.png'), 4, 2, coordPixel);
    writeLabel(join(root, 'train', 'labels', 'one.png'), 4, 2, diag([0, 2, 255, 1]));
    writeImage(join(root, 'train', 'images', 'two.jpg'), 3, 3, coordPixel);
    writeLabel(join(root, 'train', 'labels', 'two.png'), 3, 3, diag([3]));
    writeImage(join(root, 'val', 'images', 'v.png'), 2, 2, coordPixel);
    writeLabel(join(root, 'val', 'labels', 'v.png'), 2, 2, diag([1]));
    writeFileSync(join(root, 'classes.txt'), 'road\ncar\nperson\n');
  });

  it('is detected; label v = class v, 255 = ignore, PNG images decode losslessly', () => {
    expect(detectFormat(root)).toBe('folder');
    const ds = openDataset(root);
    expect(ds.classes).toEqual(['road', 'car', 'person']);
    expect(ds.mapping).toEqual({ ignore: 255, offset: 0 });
    const s = loadSample(ds, ds.samples[0]!);
    expect([...s.label]).toEqual([0, 2, -1, 1, 2, -1, 1, 0]);
    expect([...s.image.data.subarray(0, 6)]).toEqual([0, 0, 77, 8, 0, 77]);
    const e = thrown(() => loadSample(ds, ds.samples[1]!));
    expect(e.kind).toBe('label-range');
    expect(e.message).toContain('valid: 0..2 for the 3 classes, 255 = ignore');
  });

  it('needs classes.txt', () => {
    const r2 = tmp('folder-noclasses');
    writeImage(join(r2, 'train', 'images', 'a.png'), 2, 2, coordPixel);
    writeLabel(join(r2, 'train', 'labels', 'a.png'), 2, 2, diag([0]));
    const e = thrown(() => openDataset(r2));
    expect(e.kind).toBe('layout');
    expect(e.file).toBe(join(r2, 'classes.txt'));
    expect(e.message).toMatch(/classes\.txt: missing; a folder dataset needs classes\.txt/);
  });
});

describe('layouts and label files', () => {
  it('an unknown layout lists the expected ones', () => {
    const r = tmp('unknown');
    writeFileSync(join(r, 'readme.txt'), 'hi');
    const e = thrown(() => detectFormat(r));
    expect(e.kind).toBe('layout');
    expect(e.message).toContain('cannot tell the dataset format');
    expect(e.message).toContain('ADEChallengeData2016/images/{training,validation}');
    expect(e.message).toContain('SegmentationClassContext/{train,val}');
    const e2 = thrown(() => openDataset(join(r, 'nope')));
    expect(e2.message).toMatch(/nope: no such folder/);
    const e3 = thrown(() => openDataset(r, { format: 'ade20k' }));
    expect(e3.message).toMatch(/not a ade20k dataset/);
  });

  it('label PNG variants: 16-bit grey, grey stored as RGB; colour RGB and JPEG refused', () => {
    const v16 = decodeLabelPng(rawPng(3, 1, [0, 300, 65535], { colorType: 0, depth: 16 }), 'a.png');
    expect([...v16.values]).toEqual([0, 300, 65535]);
    const greyRgb = encodePng(2, 1, Uint8Array.from([7, 7, 7, 9, 9, 9]), 3);
    expect([...decodeLabelPng(greyRgb, 'g.png').values]).toEqual([7, 9]);
    const colour = encodePng(2, 1, Uint8Array.from([7, 7, 7, 9, 8, 9]), 3);
    const e = thrown(() => decodeLabelPng(colour, 'c.png'));
    expect(e.message).toMatch(/c\.png: the label PNG is a colour image \(pixel 1,0 is 9,8,9\)/);
    const e2 = thrown(() => decodeLabelPng(Uint8Array.from([0xff, 0xd8, 0xff, 0, 0, 0, 0, 0, 0]), 'j.png'));
    expect(e2.message).toMatch(/j\.png: not a PNG file/);
  });
});
