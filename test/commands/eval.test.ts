// `fcnc eval` (the official testval metrics over a split) agrees with `fcnc infer` on the same images: the label
// maps infer writes, scored against the dataset's labels, give eval's pixAcc and mIoU. `--data` gives infer the
// dataset's class names and count; `--crop` scales the protocol.
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, extname, join } from 'node:path';
import { PNG } from 'pngjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadSample, openDataset } from '../../runtime/data/datasets.ts';
import { SegmentationMetric } from '../../runtime/train/metrics.ts';
import { gpuForTests } from '../gpu/harness.ts';
import { ROOT, runCli } from '../helpers.ts';

const gpu = await gpuForTests();
gpu.dev?.destroy();
const dir = mkdtempSync(join(tmpdir(), 'fcnc-eval-'));
const data = join(dir, 'synth');
const SPEC = join(ROOT, 'specs', 'enc_jpu_r50.fcn');
const WEIGHTS = join(ROOT, 'test', 'fixtures', 'parity', 'enc_jpu_r50', 'weights.safetensors'); // width 4, 5 classes

beforeAll(async () => {
  expect((await runCli('data', 'synth', data, '--train', '2', '--val', '3', '--size', '40')).code).toBe(0);
}, 60_000);

describe.skipIf(!gpu.dev)('fcnc eval and fcnc infer --data', () => {
  it('eval equals the metric of the label maps infer writes', async () => {
    const json = join(dir, 'metrics.json');
    const e = await runCli(
      'eval',
      SPEC,
      '--set',
      'width=4',
      '--crop',
      '32',
      '--weights',
      WEIGHTS,
      '--data',
      data,
      '--json',
      json,
    );
    expect(e.code, e.err).toBe(0);
    expect(e.out).toMatch(
      /enc_jpu_r50 on .* \(ade20k, val, 3 images, single scale, window 32\):\npixAcc \d+\.\d\d %  mIoU \d+\.\d\d %/,
    );
    const m = JSON.parse(readFileSync(json, 'utf8')) as {
      pixAcc: number;
      mIoU: number;
      iou: number[];
      classes: string[];
    };
    expect(m.classes).toEqual(['background', 'red stripes', 'green checks', 'blue speckle', 'yellow dots']);

    const out = join(dir, 'seg');
    const images = join(data, 'ADEChallengeData2016', 'images', 'validation');
    const i = await runCli(
      'infer',
      SPEC,
      '--set',
      'width=4',
      '--crop',
      '32',
      '--weights',
      WEIGHTS,
      '--data',
      data,
      images,
      '-o',
      out,
    );
    expect(i.code, i.err).toBe(0);
    const ds = openDataset(data, { split: 'val' });
    const metric = new SegmentationMetric(5);
    for (const files of ds.samples) {
      const stem = basename(files.image, extname(files.image));
      const png = PNG.sync.read(readFileSync(join(out, `${stem}.png`)));
      const pred = new Uint8Array(png.width * png.height).map((_, p) => png.data[4 * p]!);
      metric.update(pred, loadSample(ds, files).label);
    }
    const r = metric.get();
    expect(m.pixAcc).toBeCloseTo(r.pixAcc, 12);
    expect(m.mIoU).toBeCloseTo(r.mIoU, 12);
    expect(readdirSync(out).filter((f) => f.endsWith('.overlay.png'))).toHaveLength(3);
  });

  it('a class count that disagrees with the dataset is refused', async () => {
    const e = await runCli(
      'eval',
      SPEC,
      '--set',
      'width=4',
      '--classes',
      '7',
      '--crop',
      '32',
      '--weights',
      WEIGHTS,
      '--data',
      data,
    );
    expect(e.code).toBe(2);
    expect(e.err).toContain('--classes 7, but');
  });
});
