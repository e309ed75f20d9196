// Every pass of the inference pipeline alone: on a small spec with every pattern the passes rewrite (the graph
// before and after each pass is a golden file: test/golden/passes/), and on narrow versions of real specs. After
// each pass the verifier accepts the graph, the float64 reference interpreter computes the same outputs as before
// (a pass changes how, never what), and running the pass again changes nothing.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildGraph } from '../../compiler/index.ts';
import { interpret, seededParams } from '../../compiler/ir/interpret.ts';
import { printGraph } from '../../compiler/ir/print.ts';
import { verifyGraph } from '../../compiler/ir/verify.ts';
import type { Graph } from '../../compiler/ir/types.ts';
import { INFERENCE, runPipeline } from '../../compiler/pipeline.ts';
import { randomInputs } from '../gpu/harness.ts';
import { golden, maxRelError, ROOT } from '../helpers.ts';

function sameOutputs(before: Graph, after: Graph, seed = 1): void {
  const params = seededParams(before, seed);
  const inputs = randomInputs(before, seed + 1);
  const want = interpret(before, params, inputs);
  const got = interpret(after, params, inputs);
  for (const o of before.outputs)
    expect(maxRelError(got.get(o.name)!.data, want.get(o.name)!.data), o.name).toBeLessThan(1e-12);
}

const CHANGES: Record<string, RegExp> = {
  drop_dropout: /^1 dropout removed$/,
  fold_batchnorm: /^2 batchnorms folded into convs; 1 other batchnorm became per-channel affine map$/,
  cse: /^1 duplicate merged$/,
  dce: /^\d+ dead nodes removed$/,
  fuse_epilogues: /^5 pointwise ops fused into 4 kernels$/,
  eliminate_concat: /^1 concat eliminated/,
};

describe('each inference pass on test/cases/passes/all.fcn', () => {
  const source = buildGraph(join(ROOT, 'test/cases/passes/all.fcn'), { height: 8, width: 8 }).graph!;
  it('starts from the elaborated graph', () => {
    expect(verifyGraph(source)).toEqual([]);
    golden('passes/00_elaborated.ir', printGraph(source, { locations: false }));
  });
  let g = source;
  INFERENCE.forEach((pass, k) => {
    it(`${pass.name}: golden IR after it, verified, same outputs, idempotent`, () => {
      const r = pass.run(g, { limits: {} });
      expect(verifyGraph(r.graph)).toEqual([]);
      expect(r.changes.join('; ')).toMatch(CHANGES[pass.name]!);
      golden(
        `passes/${String(k + 1).padStart(2, '0')}_${pass.name}.ir`,
        printGraph(r.graph, { locations: false }),
      );
      sameOutputs(source, r.graph);
      expect(pass.run(r.graph, { limits: {} }).changes).toEqual([]);
      g = r.graph;
    });
  });
  it('every pass has a pattern here (a new pass needs one)', () => {
    expect(INFERENCE.map((p) => p.name).sort()).toEqual(Object.keys(CHANGES).sort());
  });
});

describe('each inference pass alone on narrow real networks', () => {
  const specs: [string, number][] = [
    ['enc_jpu_r50', 4],
    ['psp_jpu_r50', 4],
    ['aspp_dilated_r50', 4],
    ['enc_fpn_r50', 4],
    ['enc_jpux_r50', 8],
  ];
  it.each(specs)('%s: the pipeline pass by pass keeps the graph valid and its outputs', (spec, width) => {
    const source = buildGraph(join(ROOT, 'specs', `${spec}.fcn`), {
      height: 32,
      width: 32,
      settings: { width, classes: 3 },
    }).graph!;
    let g = source;
    for (const pass of INFERENCE) {
      g = pass.run(g, { limits: {} }).graph;
      expect(verifyGraph(g), `after ${pass.name}`).toEqual([]);
    }
    sameOutputs(source, g, 5);
    // The same through runPipeline, which verifies after each pass itself.
    expect(() => runPipeline(source, INFERENCE, { limits: {} }, { verify: true })).not.toThrow();
  });
});
