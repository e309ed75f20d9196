// Full-width networks on the GPU against the float64 reference interpreter (slow on the software adapter:
// `npm run test:slow`). Real channel counts exercise the vec4 paths and tile sizes the narrow tests cannot.
import { describe, expect, it } from 'vitest';
import { buildGraph } from '../../compiler/index.ts';
import { interpret, seededParams } from '../../compiler/ir/interpret.ts';
import { compile } from '../../compiler/compile.ts';
import { gpuForTests, randomInputs, relError, roundToF32, runProgram } from './harness.ts';

const TOL = 1e-4;
const { dev, reason } = await gpuForTests();

const CASES: readonly [spec: string, opts: { size: number; batch: number; width?: number }][] = [
  ['specs/enc_jpu_r50.fcn', { size: 64, batch: 2 }],
  ['specs/enc_jpux_r101.fcn', { size: 96, batch: 1, width: 16 }],
  ['specs/psp_dilated_r50.fcn', { size: 64, batch: 1 }],
];

describe.skipIf(!dev)(`full networks on the GPU vs interpret (${dev?.description ?? reason})`, () => {
  it.each(CASES)('%s %o', async (spec, o) => {
    const r = buildGraph(spec, {
      height: o.size,
      width: o.size,
      batch: o.batch,
      settings: { classes: 21, ...(o.width ? { width: o.width } : {}) },
    });
    const g = r.graph!;
    expect(g).toBeDefined();
    const params = roundToF32(seededParams(g, 5));
    const inputs = roundToF32(randomInputs(g, 6));
    const want = interpret(g, params, inputs);
    for (const mode of ['inference', 'none'] as const) {
      const got = await runProgram(dev!, compile(g, { limits: dev!.limits, mode }).program, params, inputs);
      for (const out of g.outputs)
        expect(relError(got.get(out.name)!, want.get(out.name)!), `${mode} ${out.name}`).toBeLessThanOrEqual(
          TOL,
        );
    }
  });
});
