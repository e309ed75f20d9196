// End to end on narrow networks of every spec: spec → graph → Program → GPU, against the float64 reference
// interpreter on the same (f32-rounded) parameters and input, both unoptimised (one kernel per op) and through
// the inference pipeline (batchnorm folded, epilogues fused, concats eliminated): each within 1e-4 of the
// reference, and the two within 1e-5 of each other.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildGraph } from '../../compiler/index.ts';
import { interpret, seededParams } from '../../compiler/ir/interpret.ts';
import { compile } from '../../compiler/compile.ts';
import { numel, type Graph } from '../../compiler/ir/types.ts';
import { gpuForTests, randomInputs, relError, roundToF32, runProgram } from './harness.ts';
import { ROOT } from '../helpers.ts';
import { GPU_TUNING, tuningFor } from '../../runtime/tuning.ts';

const TOL = 1e-4;
const FUSED_VS_UNFUSED = 1e-5;
const { dev, reason } = await gpuForTests();

function graphOf(spec: string, width: number, size = 64, batch = 1): Graph {
  const r = buildGraph(join(ROOT, spec), {
    height: size,
    width: size,
    batch,
    settings: { width, classes: 5 },
  });
  if (!r.graph) throw new Error(`${spec}: ${r.diagnostics.map((d) => d.message).join('; ')}`);
  return r.graph;
}

const SPECS = readdirSync(join(ROOT, 'specs'))
  .filter((f) => f.endsWith('.fcn'))
  .sort()
  // Width 8 (16 for JPU_X: its group norms need well-conditioned groups): at width 4, with 4-channel layers,
  // float32 rounding alone moves some logits by ~1e-5 of their scale in either program.
  .map((f): [string, number] => [`specs/${f}`, f.includes('jpux') ? 16 : 8]);

/**
 * EncNet+JPU R50 at width 4, batch 2, size²: compiled fused under `tuning`, run on the adapter, every output within
 * TOL of the float64 interpreter (parameters from `seed`, inputs from seed + 1). Returns the program.
 */
async function encJpuBatch2Under(tuning: Readonly<Record<string, number>>, size: number, seed: number) {
  const g = graphOf('specs/enc_jpu_r50.fcn', 4, size, 2);
  const params = roundToF32(seededParams(g, seed));
  const inputs = roundToF32(randomInputs(g, seed + 1));
  const want = interpret(g, params, inputs);
  const { program } = compile(g, { limits: dev!.limits, tuning: { ...tuning }, verify: true });
  const a = await runProgram(dev!, program, params, inputs);
  for (const o of g.outputs)
    expect(relError(a.get(o.name)!, want.get(o.name)!), o.name).toBeLessThanOrEqual(TOL);
  return program;
}

describe.skipIf(!dev)(`narrow networks on the GPU vs interpret (${dev?.description ?? reason})`, () => {
  it.each(SPECS)('%s at width %d, 64×64: fused = unfused = reference', async (spec, width) => {
    const g = graphOf(spec, width);
    const params = roundToF32(seededParams(g, 1));
    const inputs = roundToF32(randomInputs(g, 7));
    const want = interpret(g, params, inputs);
    const fused = compile(g, { limits: dev!.limits, verify: true });
    const plain = compile(g, { limits: dev!.limits, mode: 'none' });
    expect(fused.program.entries.forward.steps.length).toBeLessThan(
      plain.program.entries.forward.steps.length,
    );
    const [a, b] = [
      await runProgram(dev!, fused.program, params, inputs),
      await runProgram(dev!, plain.program, params, inputs),
    ];
    for (const o of g.outputs) {
      const w = want.get(o.name)!;
      expect(a.get(o.name)!.length, o.name).toBe(numel(w.shape));
      expect(relError(b.get(o.name)!, w), `${o.name}: unfused vs reference`).toBeLessThanOrEqual(TOL);
      expect(relError(a.get(o.name)!, w), `${o.name}: fused vs reference`).toBeLessThanOrEqual(TOL);
      expect(relError(a.get(o.name)!, b.get(o.name)!), `${o.name}: fused vs unfused`).toBeLessThanOrEqual(
        FUSED_VS_UNFUSED,
      );
    }
  });

  it('batch 2: fused and unfused agree (views and epilogue operands index per sample)', async () => {
    const g = graphOf('specs/psp_jpu_r50.fcn', 4, 48, 2);
    const params = roundToF32(seededParams(g, 3));
    const inputs = roundToF32(randomInputs(g, 4));
    const want = interpret(g, params, inputs);
    const a = await runProgram(
      dev!,
      compile(g, { limits: dev!.limits, verify: true }).program,
      params,
      inputs,
    );
    for (const o of g.outputs)
      expect(relError(a.get(o.name)!, want.get(o.name)!), o.name).toBeLessThanOrEqual(TOL);
  });

  it("batch 2 under the adapter's fixed kernel choices (tuningFor): fused = reference", async () => {
    // The e2e tests above compile with the emitters' defaults; the CLI compiles with the adapter's table
    // (llvmpipe: row-vectorised 3×3 convs, subsampled strided 1×1 convs, depthwise rows …), with fused epilogues
    // and concat views on every kernel.
    const program = await encJpuBatch2Under(tuningFor(dev!), 64, 5);
    if (/llvmpipe/i.test(dev!.description))
      expect(program.kernels.some((k) => k.name.startsWith('conv2d_subsample_s2'))).toBe(true);
  });

  it.each([{ m: 2 }, { m: 4 }])(
    'batch 2 with Winograd F($m×$m, 3×3) wherever it applies: fused = reference',
    async ({ m }) => {
      // Every 3×3 stride-1 conv whose map it tiles runs as Winograd's four passes, on llvmpipe's kernels (or the
      // emitters' defaults), with the conv's fused epilogue (BN folded, ReLU, residual adds) and concat views.
      const program = await encJpuBatch2Under({ ...tuningFor(dev!), 'conv2d.winograd': m }, 64, 9);
      const names = program.kernels.map((k) => k.name);
      for (const pass of ['weights', 'input', 'gemm', 'output'])
        expect(names.filter((k) => k.startsWith(`conv2d_winograd${m}_${pass}`)).length).toBeGreaterThan(
          m === 2 ? 2 : 0,
        );
    },
  );

  it("batch 2 under a real GPU's fixed kernel choices (workgroup-tiled convs): fused = reference", async () => {
    // What `fcnc bench` / `fcnc infer` compile on a GPU with no tuning cache (bench/device.sh): the tiled conv
    // kernels with fused epilogues (BN, ReLU, residual adds) and concat views, strided and grouped convs included.
    const program = await encJpuBatch2Under(GPU_TUNING, 32, 8);
    const convs = program.kernels.filter((k) => /^conv2d_/.test(k.name) && !/^conv2d_dw/.test(k.name));
    expect(convs.length).toBeGreaterThan(40);
    // Every conv but the depthwise ones is the tiled kernel.
    expect(convs.filter((k) => !/_wg32x32/.test(k.name)).map((k) => k.name)).toEqual([]);
  });

  it('computes argmax labels on the GPU', async () => {
    const g = graphOf('specs/enc_jpu_r50.fcn', 4);
    const params = roundToF32(seededParams(g, 2));
    const inputs = roundToF32(randomInputs(g, 3));
    const want = interpret(g, params, inputs).get('logits')!;
    const { program } = compile(g, { limits: dev!.limits, argmax: ['logits'] });
    expect(program.entries.forward.outputs.map((o) => o.name)).toContain('logits.argmax');
    const got = await runProgram(dev!, program, params, inputs);
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
  });
});
