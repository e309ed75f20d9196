// `fcnc data synth`: deterministic from the seed, every class in every split, unlabelled borders, varying
// non-square sizes, fast; and the CLI around it (exit codes, refusing to overwrite, data check on the result).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkDataset } from '../../runtime/data/check.ts';
import { loadSample, openDataset } from '../../runtime/data/datasets.ts';
import { synthClasses, synthDataset } from '../../runtime/data/synth.ts';
import { runCli } from '../helpers.ts';
import { tmp } from './helpers.ts';

/** Every file under a folder, path → bytes. */
function files(dir: string, prefix = ''): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) for (const [k, v] of files(p, `${prefix}${e.name}/`)) out.set(k, v);
    else out.set(prefix + e.name, readFileSync(p));
  }
  return out;
}

describe('synthDataset', () => {
  it('is deterministic from the seed', () => {
    const [a, b, c] = [tmp('synth-a'), tmp('synth-b'), tmp('synth-c')];
    synthDataset(a, { train: 6, val: 2, seed: 11 });
    synthDataset(b, { train: 6, val: 2, seed: 11 });
    synthDataset(c, { train: 6, val: 2, seed: 12 });
    const fa = files(a);
    const fb = files(b);
    const fc = files(c);
    expect([...fa.keys()].sort()).toEqual([...fb.keys()].sort());
    expect(fa.size).toBe(6 * 2 + 2 * 2 + 2); // images + labels + classes.txt + synth.json
    for (const [k, v] of fa) expect(v.equals(fb.get(k)!), k).toBe(true);
    const img = 'ADEChallengeData2016/images/training/synth_train_00001.jpg';
    expect(fa.get(img)!.equals(fc.get(img) ?? Buffer.alloc(0))).toBe(false);
  });

  it('defaults: 64 + 16 images, 5 classes, all in both splits, unlabelled rims, 82–125 px non-square, fast', () => {
    const out = tmp('synth-default');
    const t = performance.now();
    const r = synthDataset(out);
    const ms = performance.now() - t;
    expect(ms).toBeLessThan(8000); // ~0.5 s on an idle core; generous for a loaded shared machine
    expect(r.classes).toEqual(['background', 'red stripes', 'green checks', 'blue speckle', 'yellow dots']);
    expect(readFileSync(join(r.base, 'classes.txt'), 'utf8')).toBe(r.classes.join('\n') + '\n');
    const rep = checkDataset(out);
    expect(rep.problems).toEqual([]);
    expect(rep.splits.map((s) => [s.split, s.samples])).toEqual([
      ['train', 64],
      ['val', 16],
    ]);
    for (const s of rep.splits) {
      const total = s.pixels.reduce((a, b) => a + b, 0) + s.ignore;
      for (let k = 0; k < 5; k++) expect(s.pixels[k]! / total, `${s.split} class ${k}`).toBeGreaterThan(0.02);
      expect(s.pixels[0]! / total).toBeLessThan(0.85); // the background does not swamp the shapes
      expect(s.ignore / total).toBeGreaterThan(0.002);
      expect(s.ignore / total).toBeLessThan(0.05);
    }
    const ds = openDataset(out, { split: 'train' });
    const sizes = ds.samples.map((s) => {
      const l = loadSample(ds, s);
      return [l.image.width, l.image.height] as const;
    });
    for (const [w, h] of sizes) {
      expect(w).toBeGreaterThanOrEqual(82);
      expect(w).toBeLessThanOrEqual(125);
      expect(h).toBeGreaterThanOrEqual(82);
      expect(h).toBeLessThanOrEqual(125);
    }
    expect(sizes.filter(([w, h]) => w !== h).length).toBeGreaterThan(50);
    expect(new Set(sizes.map(([w]) => w)).size).toBeGreaterThan(20);
  });

  it('classes have distinct colour and texture; more than 41 get numbered', () => {
    const looks = synthClasses(12);
    expect(new Set(looks.map((l) => l.name)).size).toBe(12);
    expect(looks.slice(1, 7).map((l) => l.texture)).toEqual([
      'stripes',
      'checks',
      'speckle',
      'dots',
      'rings',
      'stripes',
    ]);
    expect(looks[6]!.name).toBe('cyan stripes');
    expect(synthClasses(42)[41]!.name).toBe('red stripes 2');
    const many = synthClasses(60);
    expect(new Set(many.map((l) => l.name)).size).toBe(60);
  });

  it('a class looks like itself: mean colour inside its pixels is close to its base colour', () => {
    const out = tmp('synth-colour');
    synthDataset(out, { train: 8, val: 0, classes: 4, seed: 5 });
    const ds = openDataset(out);
    const looks = synthClasses(4);
    const sum = looks.map(() => [0, 0, 0, 0]);
    for (const s of ds.samples) {
      const l = loadSample(ds, s);
      l.label.forEach((k, i) => {
        if (k < 0) return;
        const a = sum[k]!;
        for (let c = 0; c < 3; c++) a[c]! += l.image.data[i * 3 + c]!;
        a[3]!++;
      });
    }
    for (let k = 1; k < 4; k++) {
      const [r, g, b, n] = sum[k]!;
      const mean = [r! / n!, g! / n!, b! / n!];
      mean.forEach((m, c) =>
        expect(Math.abs(m - looks[k]!.colour[c]!), `class ${k} channel ${c}`).toBeLessThan(30),
      );
    }
  });
});

describe('fcnc data synth / check', () => {
  it('writes, refuses to overwrite without --force, checks clean', async () => {
    const out = tmp('synth-cli');
    const r = await runCli(
      'data',
      'synth',
      out,
      '--train',
      '4',
      '--val',
      '2',
      '--size',
      '40',
      '--classes',
      '3',
      '--seed',
      '1',
    );
    expect(r.code).toBe(0);
    expect(r.out).toMatch(
      /wrote 4 train \+ 2 val images \(3 classes: background, red stripes, green checks\) to .*ADEChallengeData2016/,
    );
    const again = await runCli('data', 'synth', out, '--train', '4');
    expect(again.code).toBe(1);
    expect(again.err).toMatch(
      /ADEChallengeData2016: already exists; remove it, pick another folder, or pass --force/,
    );
    expect((await runCli('data', 'synth', out, '--train', '3', '--val', '1', '--force')).code).toBe(0);
    const c = await runCli('data', 'check', out, '--split', 'train');
    expect(c.code).toBe(0);
    expect(c.out).toMatch(/ade20k dataset, 5 classes/);
    expect(c.out).toMatch(/train\s+3\s+3\s+3\s+0/);
    expect(c.out).toMatch(/0 background\s+[\d,]+\s+[\d.]+%/);
    const j = JSON.parse((await runCli('data', 'check', out, '--json', '--format', 'ade20k')).out);
    expect(j.splits.map((s: { samples: number }) => s.samples)).toEqual([3, 1]);
  });

  it('usage errors exit 2; --help works', async () => {
    expect((await runCli('data', 'synth', tmp('u'), '--classes', '1')).code).toBe(2);
    expect((await runCli('data', 'synth', tmp('u'), '--size', 'big')).code).toBe(2);
    expect((await runCli('data', 'check', tmp('u'), '--format', 'coco')).code).toBe(2);
    for (const cmd of [['data'], ['data', 'synth'], ['data', 'check']]) {
      const h = await runCli(...cmd, '--help');
      expect(h.code).toBe(0);
      expect(h.out).toContain('Usage: fcnc data');
    }
  });
});
