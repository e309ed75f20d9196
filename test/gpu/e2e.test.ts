// End to end on narrow networks: spec → graph → Program → GPU, against the float64 reference interpreter on
// the same (f32-rounded) parameters and input. One spec of each family; logits within 1e-4 relative.
import { describe, expect, it } from 'vitest';
import { buildGraph } from '../../compiler/index.ts';
import { interpret, seededParams } from '../../compiler/ir/interpret.ts';
import { lowerToProgram } from '../../compiler/codegen/program.ts';
import { numel, type Graph } from '../../compiler/ir/types.ts';
import { Session } from '../../runtime/execute.ts';
import { gpuForTests, randomInputs, relError, roundToF32 } from './harness.ts';

const TOL = 1e-4;
const { dev, reason } = await gpuForTests();

function graphOf(spec: string, width: number, size = 64): Graph {
  const r = buildGraph(spec, { height: size, width: size, settings: { width, classes: 5 } });
  if (!r.graph) throw new Error(`${spec}: ${r.diagnostics.map((d) => d.message).join('; ')}`);
  return r.graph;
}

const SPECS: readonly [string, number][] = [
  ['specs/enc_jpu_r50.fcn', 4],
  ['specs/aspp_jpu_r50.fcn', 4],
  ['specs/psp_dilated_r50.fcn', 4],
  ['specs/enc_fpn_r50.fcn', 4],
  ['specs/enc_bilinear_r50.fcn', 4],
  ['specs/enc_dilated_r50.fcn', 4],
  ['specs/aspp_dilated_r50.fcn', 4],
  ['specs/psp_jpu_r50.fcn', 4],
  ['specs/enc_jpux_r50.fcn', 8], // GroupNorm(32) needs width ≥ 8
];

describe.skipIf(!dev)(`narrow networks on the GPU vs interpret (${dev?.description ?? reason})`, () => {
  it.each(SPECS)('%s at width %d, 64×64', async (spec, width) => {
    const g = graphOf(spec, width);
    const params = roundToF32(seededParams(g, 1));
    const inputs = roundToF32(randomInputs(g, 7));
    const want = interpret(g, params, inputs);
    const program = lowerToProgram(g, dev!.limits);
    const session = await Session.create(dev!, program);
    try {
      session.setParams(params);
      const got = await session.run(new Map([...inputs].map(([k, v]) => [k, Float32Array.from(v)])));
      for (const o of g.outputs) {
        const w = want.get(o.name)!;
        expect(got.get(o.name)!.length, o.name).toBe(numel(w.shape));
        expect(relError(got.get(o.name)!, w), `${o.name} rel error`).toBeLessThanOrEqual(TOL);
      }
    } finally {
      session.destroy();
    }
  });

  it('computes argmax labels on the GPU', async () => {
    const g = graphOf('specs/enc_jpu_r50.fcn', 4);
    const params = roundToF32(seededParams(g, 2));
    const inputs = roundToF32(randomInputs(g, 3));
    const want = interpret(g, params, inputs).get('logits')!;
    const program = lowerToProgram(g, dev!.limits, { argmax: ['logits'] });
    expect(program.outputs.map((o) => o.name)).toContain('logits.argmax');
    const session = await Session.create(dev!, program);
    try {
      session.setParams(params);
      const got = await session.run(new Map([...inputs].map(([k, v]) => [k, Float32Array.from(v)])));
      const labels = got.get('logits.argmax')!;
      const logits = got.get('logits')!;
      const [n, c, h, w] = want.shape as number[];
      expect(labels.length).toBe(n! * h! * w!);
      let disagree = 0;
      for (let b = 0; b < n!; b++)
        for (let p = 0; p < h! * w!; p++) {
          // The label must be the argmax of the GPU's own logits (first maximum wins) …
          let best = 0;
          for (let k = 1; k < c!; k++)
            if (logits[(b * c! + k) * h! * w! + p]! > logits[(b * c! + best) * h! * w! + p]!) best = k;
          expect(labels[b * h! * w! + p]).toBe(best);
          // … and agree with the reference's except on near ties.
          let ref = 0;
          for (let k = 1; k < c!; k++)
            if (want.data[(b * c! + k) * h! * w! + p]! > want.data[(b * c! + ref) * h! * w! + p]!) ref = k;
          if (ref !== best) disagree++;
        }
      expect(disagree).toBeLessThanOrEqual(Math.ceil(0.001 * h! * w!));
    } finally {
      session.destroy();
    }
  });
});
