// The loader: seeded epoch order, batches identical whatever the worker count (threads or none), resuming
// mid-epoch, drop-last, validation mode, counters, early exit and close; worker threads under `node bin/run-ts.js`.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDataset, type Dataset } from '../../runtime/data/datasets.ts';
import { Loader, type Batch, type LoaderOptions } from '../../runtime/data/loader.ts';
import { synthDataset } from '../../runtime/data/synth.ts';
import { ROOT } from '../helpers.ts';
import { tmp } from './helpers.ts';

let root: string;
let train: Dataset;
let val: Dataset;
const loaders: Loader[] = [];

beforeAll(() => {
  root = tmp('loader');
  synthDataset(root, { train: 14, val: 5, size: 32, classes: 4, seed: 3 });
  train = openDataset(root, { split: 'train' });
  val = openDataset(root, { split: 'val' });
});
afterAll(async () => {
  await Promise.all(loaders.map((l) => l.close()));
});

function loader(ds: Dataset, opts: Partial<LoaderOptions> & { workers: number }): Loader {
  const l = new Loader(ds, { batch: 4, crop: 24, base: 28, seed: 9, ...opts });
  loaders.push(l);
  return l;
}

async function epoch(l: Loader, e: number, start = 0): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of l.batches(e, start)) out.push(b);
  return out;
}

const digest = (bs: Batch[]) => {
  const h = createHash('sha256');
  for (const b of bs) {
    h.update(Buffer.from(b.image.buffer));
    h.update(Buffer.from(b.labels.buffer));
    h.update(b.indices.join(','));
  }
  return h.digest('hex');
};

describe('Loader', () => {
  it('batches have the documented shapes and values', async () => {
    const l = loader(train, { workers: 0 });
    expect(l.itersPerEpoch).toBe(3); // 14 samples, batch 4, drop last
    const bs = await epoch(l, 0);
    expect(bs.map((b) => [b.epoch, b.iteration, b.size, b.indices.length])).toEqual([
      [0, 0, 4, 4],
      [0, 1, 4, 4],
      [0, 2, 4, 4],
    ]);
    const b = bs[0]!;
    expect(b.image.length).toBe(4 * 3 * 24 * 24);
    expect(b.labels.length).toBe(4 * 24 * 24);
    const labels = new Set(b.labels);
    for (const v of labels) expect([-1, 0, 1, 2, 3]).toContain(v);
    expect(labels.has(0)).toBe(true);
    // normalised RGB lies within [−mean/std, (1 − mean)/std]
    expect(Math.min(...b.image)).toBeGreaterThanOrEqual(-2.12);
    expect(Math.max(...b.image)).toBeLessThanOrEqual(2.65);
    // the batch follows the epoch's order
    expect(bs.flatMap((x) => x.indices)).toEqual(l.order(0).slice(0, 12));
  });

  it('the epoch order is a seeded permutation: the same for (seed, epoch), new for each epoch', () => {
    const l = loader(train, { workers: 0 });
    const o0 = l.order(0);
    expect([...o0].sort((a, b) => a - b)).toEqual([...Array(14).keys()]);
    expect(l.order(0)).toEqual(o0);
    expect(l.order(1)).not.toEqual(o0);
    expect(loader(train, { workers: 0, seed: 10 }).order(0)).not.toEqual(o0);
    expect(loader(train, { workers: 0, shuffle: false }).order(5)).toEqual([...Array(14).keys()]);
  });

  it('gives identical batches with 0, 1 and 2 workers, and when resumed mid-epoch', async () => {
    const ref = await epoch(loader(train, { workers: 0 }), 1);
    expect(digest(await epoch(loader(train, { workers: 1 }), 1))).toBe(digest(ref));
    const two = loader(train, { workers: 2, prefetch: 3 });
    expect(digest(await epoch(two, 1))).toBe(digest(ref));
    // resume at iteration 1 of epoch 1: exactly the tail
    expect(digest(await epoch(two, 1, 1))).toBe(digest(ref.slice(1)));
    expect(digest(await epoch(loader(train, { workers: 0 }), 1, 2))).toBe(digest(ref.slice(2)));
    // another epoch, other batches
    expect(digest(await epoch(two, 2))).not.toBe(digest(ref));
  });

  it('validation: no augmentation, no shuffle, the last partial batch kept', async () => {
    const l = loader(val, { workers: 0, augment: false, shuffle: false, dropLast: false });
    expect(l.itersPerEpoch).toBe(2);
    const a = await epoch(l, 0);
    expect(a.map((b) => b.size)).toEqual([4, 1]);
    expect(a.flatMap((b) => b.indices)).toEqual([0, 1, 2, 3, 4]);
    // deterministic: every epoch and every seed the same
    expect(
      digest(
        await epoch(
          loader(val, { workers: 1, augment: false, shuffle: false, dropLast: false, seed: 77 }),
          3,
        ),
      ),
    ).toBe(digest(a));
  });

  it('counts what the consumer waited and the throughput; leaving early and close() stop the workers', async () => {
    const l = loader(train, { workers: 1 });
    for await (const b of l.batches(0)) if (b.iteration === 1) break; // cancels the rest
    const s = l.stats();
    expect(s.batches).toBe(2);
    expect(s.samples).toBe(8);
    expect(s.waitMs).toBeGreaterThanOrEqual(0);
    expect(s.waitMs).toBeLessThanOrEqual(s.elapsedMs);
    expect(s.samplesPerSecond).toBeGreaterThan(0);
    expect(s.capacitySamplesPerSecond).toBeGreaterThan(0);
    expect(s.loadMs).toBeGreaterThan(0);
    expect(s.augmentMs).toBeGreaterThan(0);
    // a new epoch after an early exit still works
    expect((await epoch(l, 0)).length).toBe(3);
    await l.close();
    await expect(epoch(l, 0)).rejects.toThrow(/closed/);
  });

  it('rejects bad options', async () => {
    expect(() => new Loader(train, { batch: 0, crop: 8 })).toThrow(/batch must be an integer ≥ 1/);
    expect(() => new Loader(train, { batch: 15, crop: 8, workers: 0 })).toThrow(/fewer than one batch of 15/);
    const l = loader(train, { workers: 0 });
    await expect(l.batches(0, 4).next()).rejects.toThrow(/startIteration must be in 0\.\.3/);
  });

  it('runs its worker threads under node bin/run-ts.js too (same batches)', async () => {
    const ref = await epoch(loader(train, { workers: 0 }), 1);
    const out = execFileSync(
      process.execPath,
      [join(ROOT, 'bin', 'run-ts.js'), join(ROOT, 'test', 'data', 'fixtures', 'loader-script.ts'), root, '1'],
      { encoding: 'utf8', cwd: ROOT },
    );
    expect(out.trim()).toBe(digest(ref));
  });
});
