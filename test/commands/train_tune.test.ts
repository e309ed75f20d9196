// Kernels of a training step chosen by measurement (`fcnc train --tune`, `fcnc bench --train --tune`): the cached
// choices of its gradient problems reach the compiled training program, and only those kernels change.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildGraph } from '../../compiler/index.ts';
import { compileTrainingTuned } from '../../compiler/cli/commands/train.ts';
import {
  adapterIdentity,
  cacheFile,
  CANDIDATES,
  candidatesOfKind,
  kernelSetChecksum,
  problemsOf,
  writeCache,
} from '../../runtime/tune.ts';
import { tuningFor } from '../../runtime/tuning.ts';
import { gpuForTests } from '../gpu/harness.ts';
import { ROOT } from '../helpers.ts';

const { dev, reason } = await gpuForTests();
afterAll(() => dev?.destroy());

describe.skipIf(!dev)(`training step with --tune (${dev?.description ?? reason})`, () => {
  it('cached: the cache’s gradient choices compile into the step; off: the defaults', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fcnc-train-tune-'));
    const saved = process.env.FCNC_CACHE_DIR;
    process.env.FCNC_CACHE_DIR = dir;
    try {
      const g = buildGraph(join(ROOT, 'specs', 'enc_jpu_r50.fcn'), {
        height: 64,
        width: 64,
        batch: 2,
        settings: { width: 8, classes: 5 },
      }).graph!;
      const lines: string[] = [];
      const log = { info: (l: string) => lines.push(l) };
      const off = await compileTrainingTuned(g, dev!, { dropout: true, tune: 'off' }, log);
      expect(off.compiled.program.tuning).toEqual(tuningFor(dev!));
      // One weight-gradient and one input-gradient problem of the step, each given a candidate in the cache.
      const problems = problemsOf(off.compiled.graph);
      const pick = (op: string) =>
        problems.find((p) => p.op === op && candidatesOfKind(p).length > 0 && p.attrs.kernel === 3)!;
      const gw = pick('conv2d_grad_weight');
      const gi = pick('conv2d_grad_input');
      const entry = (tuning: Record<string, number>) => ({
        name: 'register 4×4',
        tuning,
        ms: 1,
        times: {},
        date: '',
      });
      writeCache(
        cacheFile(dir, adapterIdentity(dev!)),
        adapterIdentity(dev!),
        kernelSetChecksum(tuningFor(dev!)),
        {
          [gw.key]: entry({ 'conv2d_grad_weight.tm': 4, 'conv2d_grad_weight.tn': 4 }),
          // The candidate's whole tuning (its variant too: llvmpipe's default for this one is the row kernel).
          [gi.key]: entry({ ...CANDIDATES.gradInput.find((c) => c.name === 'register 4×4')!.tuning }),
        },
      );
      lines.length = 0;
      const cached = await compileTrainingTuned(g, dev!, { dropout: true, tune: 'cached' }, log);
      expect(lines.join('\n')).toMatch(/kernel tuning: 2 of \d+ conv problems from the cache/);
      const t = cached.compiled.program.tuning;
      expect(t[`conv2d_grad_weight.tm@${gw.key}`]).toBe(4);
      expect(t[`conv2d_grad_input.tn@${gi.key}`]).toBe(4);
      expect(cached.micro).toBe(off.micro);
      // Exactly the kernels of those two problems changed.
      const texts = (c: typeof off) => {
        const prog = c.compiled.program;
        return prog.entries
          .train_step!.steps.filter((s) => s.kernel)
          .map((s) => prog.kernels.find((k) => k.name === s.kernel)!.wgsl);
      };
      const before = texts(off);
      const after = texts(cached);
      expect(after.length).toBe(before.length);
      const changed = after.filter((w, k) => w !== before[k]);
      expect(changed.length).toBeGreaterThanOrEqual(gw.count + gi.count);
      for (const w of changed) {
        expect(w).toMatch(/^\/\/ conv2d_grad_(weight|input), conv 3×3/m);
        expect(w).toMatch(/const TM = 4u/);
      }
    } finally {
      if (saved === undefined) delete process.env.FCNC_CACHE_DIR;
      else process.env.FCNC_CACHE_DIR = saved;
    }
  });
});
