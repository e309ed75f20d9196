// Bad data, case by case: a missing annotation, an image/label size mismatch, label values outside the classes,
// unreadable and truncated files, an empty split. Each is a DataError naming the file — from loadSample, from the
// loader (or, with skipBad, a deterministic replacement that is counted), and from `fcnc data check` (exit 1).
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkDataset } from '../../runtime/data/check.ts';
import { loadSample, openDataset, type Dataset } from '../../runtime/data/datasets.ts';
import { DataError, type DataErrorKind } from '../../runtime/data/errors.ts';
import { Loader } from '../../runtime/data/loader.ts';
import { runCli } from '../helpers.ts';
import { coordPixel, tmp, writeImage, writeLabel } from './helpers.ts';

let root: string;
let ade: string;
const img = (split: string, n: string, ext = 'jpg') => join(ade, 'images', split, `${n}.${ext}`);
const lab = (split: string, n: string) => join(ade, 'annotations', split, `${n}.png`);

/** name → the kind of problem it has ('' for good samples). */
const BAD: Record<string, DataErrorKind> = {
  b_mismatch: 'size-mismatch',
  d_range: 'label-range',
  f_truncimg: 'unreadable',
  h_trunclab: 'unreadable',
  j_notimage: 'unreadable',
};

beforeAll(() => {
  root = tmp('bad');
  ade = join(root, 'ADEChallengeData2016');
  const good = ['a_good', 'c_good', 'e_good', 'g_good', 'i_good', 'k_good'];
  for (const n of good) {
    writeImage(img('training', n), 20, 14, coordPixel);
    writeLabel(lab('training', n), 20, 14, (x, y) => ((x >> 2) + y) % 4);
  }
  writeImage(img('training', 'b_mismatch'), 20, 14, coordPixel);
  writeLabel(lab('training', 'b_mismatch'), 19, 14, () => 1);
  writeImage(img('training', 'd_range'), 20, 14, coordPixel);
  writeLabel(lab('training', 'd_range'), 20, 14, (x) => (x === 3 ? 9 : 1));
  writeImage(img('training', 'f_truncimg'), 20, 14, coordPixel);
  const full = readFileSync(img('training', 'f_truncimg'));
  writeFileSync(img('training', 'f_truncimg'), full.subarray(0, Math.floor(full.length * 0.6)));
  writeLabel(lab('training', 'f_truncimg'), 20, 14, () => 1);
  writeImage(img('training', 'h_trunclab'), 20, 14, coordPixel);
  writeLabel(lab('training', 'h_trunclab'), 20, 14, (x, y) => (x * y) % 4);
  const fl = readFileSync(lab('training', 'h_trunclab'));
  writeFileSync(lab('training', 'h_trunclab'), fl.subarray(0, fl.length - 30));
  writeFileSync(img('training', 'j_notimage'), 'this is not an image\n');
  writeLabel(lab('training', 'j_notimage'), 20, 14, () => 1);
  writeImage(img('training', 'z_missing'), 20, 14, coordPixel); // no annotation
  // an empty validation split (an image without its label only)
  writeImage(img('validation', 'lonely'), 8, 8, coordPixel);
  mkdirSync(join(ade, 'annotations', 'validation'));
  writeFileSync(join(ade, 'classes.txt'), 'background\nred\nblue\n');
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function dataError(f: () => unknown): DataError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(DataError);
    return e as DataError;
  }
  throw new Error('expected a DataError');
}

describe('each case is a DataError with the file', () => {
  it('a missing annotation: the image is skipped and reported', () => {
    const ds = openDataset(root);
    expect(ds.samples.map((s) => s.image)).not.toContain(img('training', 'z_missing'));
    expect(ds.unmatched).toHaveLength(1);
    expect(ds.unmatched[0]!.kind).toBe('missing-label');
    expect(ds.unmatched[0]!.file).toBe(img('training', 'z_missing'));
    // an annotation that disappears after listing
    const gone = { image: img('training', 'a_good'), label: lab('training', 'a_gone') };
    const e = dataError(() => loadSample(ds, gone));
    expect([e.kind, e.file]).toEqual(['missing-label', gone.label]);
    expect(e.message).toMatch(/a_gone\.png: the label is gone/);
  });

  it('size mismatch, labels out of range, truncated image, truncated label, not an image', () => {
    const ds = openDataset(root);
    const byName = (n: string) => ds.samples.find((s) => s.image.includes(n))!;
    const cases: [string, DataErrorKind, string, RegExp][] = [
      [
        'b_mismatch',
        'size-mismatch',
        lab('training', 'b_mismatch'),
        /label is 19×14 but its image .*b_mismatch\.jpg is 20×14/,
      ],
      [
        'd_range',
        'label-range',
        lab('training', 'd_range'),
        /label values outside the classes: 9 \(14 px\); valid: 1\.\.3/,
      ],
      [
        'f_truncimg',
        'unreadable',
        img('training', 'f_truncimg'),
        /f_truncimg\.jpg: cannot decode the image .*is the file complete/,
      ],
      [
        'h_trunclab',
        'unreadable',
        lab('training', 'h_trunclab'),
        /h_trunclab\.png: cannot decode the label PNG/,
      ],
      ['j_notimage', 'unreadable', img('training', 'j_notimage'), /j_notimage\.jpg: not a PNG or JPEG image/],
    ];
    for (const [n, kind, file, msg] of cases) {
      const e = dataError(() => loadSample(ds, byName(n)));
      expect([n, e.kind, e.file]).toEqual([n, kind, file]);
      expect(e.message).toMatch(msg);
    }
  });

  it('an empty split', () => {
    const e = dataError(() => openDataset(root, { split: 'val' }));
    expect(e.kind).toBe('empty-split');
    expect(e.file).toBe(join(ade, 'annotations', 'validation'));
    expect(e.message).toMatch(/the val split of .* has no samples/);
    const empty = openDataset(root, { split: 'val', allowEmpty: true });
    expect(() => new Loader(empty, { batch: 1, crop: 8, workers: 0 })).toThrow(DataError);
  });
});

describe('the loader', () => {
  const collect = async (ds: Dataset, workers: number, skipBad: boolean) => {
    const L = new Loader(ds, { batch: 3, crop: 12, base: 14, seed: 2, workers, skipBad, shuffle: false });
    const out: { indices: number[]; sum: number }[] = [];
    let first: Float32Array = new Float32Array(0);
    try {
      for await (const b of L.batches(0)) {
        if (b.iteration === 0) first = b.image;
        out.push({ indices: b.indices, sum: b.image.reduce((a, v) => a + v, 0) });
      }
      return { out, skipped: L.skipped, first };
    } finally {
      await L.close();
    }
  };

  it('throws the first bad sample as a DataError naming its file', async () => {
    const ds = openDataset(root);
    for (const workers of [0, 1]) {
      const err = await collect(ds, workers, false).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DataError);
      expect((err as DataError).kind).toBe('size-mismatch');
      expect((err as DataError).file).toBe(lab('training', 'b_mismatch'));
    }
  });

  it('with skipBad replaces each bad sample by the next good one, counts it, whatever the workers', async () => {
    const ds = openDataset(root);
    const a = await collect(ds, 0, true);
    const b = await collect(ds, 2, true);
    expect(b).toEqual(a);
    const names = ds.samples.map((s) =>
      s.image
        .split('/')
        .pop()!
        .replace(/\.jpg$/, ''),
    );
    // samples in name order: a_good b_mismatch c_good d_range e_good f_truncimg g_good h_trunclab i_good j_notimage k_good
    expect(a.out.map((o) => o.indices.map((i) => names[i]))).toEqual([
      ['a_good', 'c_good', 'c_good'],
      ['e_good', 'e_good', 'g_good'],
      ['g_good', 'i_good', 'i_good'],
    ]);
    expect(a.skipped.map((s) => [s.position, s.kind, s.file.split('/').pop(), s.replacement])).toEqual([
      [1, 'size-mismatch', 'b_mismatch.png', 2],
      [3, 'label-range', 'd_range.png', 4],
      [5, 'unreadable', 'f_truncimg.jpg', 6],
      [7, 'unreadable', 'h_trunclab.png', 8],
    ]);
    // positions 1 and 2 both hold c_good, with different augmentations (randomness is keyed by position)
    expect(a.first.subarray(432, 864)).not.toEqual(a.first.subarray(864, 1296));
  });
});

describe('fcnc data check', () => {
  it('lists every problem with its file and exits 1', async () => {
    const r = await runCli('data', 'check', root);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/ade20k dataset, 3 classes \(label 0 = ignore, v = class v−1\)/);
    expect(r.out).toMatch(/train\s+12\s+11\s+11\s+6/);
    expect(r.out).toMatch(/val\s+1\s+0\s+0\s+2/);
    for (const [n, kind] of Object.entries(BAD)) expect(r.out).toMatch(new RegExp(`\\[${kind}\\] .*${n}`));
    expect(r.out).toMatch(/\[missing-label\] .*z_missing\.jpg: no label/);
    expect(r.out).toMatch(/\[empty-split\] .*the val split has no samples/);
    expect(r.out).toMatch(/8 problems:/);
    expect(r.err).toMatch(/fcnc: 8 problems in /);
  });

  it('--json carries the same problems; a good split alone exits 0', async () => {
    const j = await runCli('data', 'check', root, '--json');
    expect(j.code).toBe(1);
    const rep = JSON.parse(j.out) as { problems: { kind: string; file: string }[] };
    expect(rep.problems.map((p) => p.kind).sort()).toEqual(
      [
        'empty-split',
        'label-range',
        'missing-label',
        'missing-label',
        'size-mismatch',
        'unreadable',
        'unreadable',
        'unreadable',
      ].sort(),
    );
    const r = checkDataset(root, { split: 'train' });
    expect(r.splits[0]!.pixels.reduce((a, b) => a + b, 0) + r.splits[0]!.ignore).toBeGreaterThan(0);
    const good = tmp('good');
    writeImage(join(good, 'ADEChallengeData2016', 'images', 'training', 'a.jpg'), 4, 4, coordPixel);
    writeLabel(join(good, 'ADEChallengeData2016', 'annotations', 'training', 'a.png'), 4, 4, (x) => x % 3);
    const ok = await runCli('data', 'check', good);
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/no val split/);
    expect(ok.out).toMatch(/no problems/);
    expect(ok.out).toMatch(/0 wall\s+4\s+25\.0%/); // values 1 → class 0 (wall): x % 3 = 1 in 4 of 16 pixels
    expect(ok.out).toMatch(/\(ignore\)\s+8\s+50\.0%/);
    expect(ok.out).toMatch(/148 classes with no pixels: sky, floor/);
    const missing = await runCli('data', 'check', join(good, 'nowhere'));
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/fcnc: .*nowhere: no such folder/);
  });
});
