// Every op's WGSL kernel against its float64 reference on random inputs over many shapes: odd sizes, stride 2
// on odd inputs, dilation with padding, channel counts not divisible by 4, depthwise, 1×1, grouped, concat of
// five inputs (also split by the storage-buffer limit), resize up and down in both align modes, and grids
// forced into 2-D/3-D by a tiny workgroups-per-dimension limit. That every op has a kernel and cases is checked
// without a GPU by test/ops/registry.test.ts.
import { describe, expect, it } from 'vitest';
import { OPS } from '../../compiler/ops/index.ts';
import type { RefTensor } from '../../compiler/ops/op.ts';
import { lowerToProgram } from '../../compiler/codegen/lower.ts';
import { numel } from '../../compiler/ir/types.ts';
import { CASES, VARIANTS } from './cases.ts';
import {
  gpuForTests,
  oneOpGraph,
  randomInputs,
  randomParams,
  relError,
  roundToF32,
  runOnGpu,
} from './harness.ts';

const TOL = 1e-4;

const { dev, reason } = await gpuForTests();
const ops = [...OPS.values()].filter((o) => !o.structural);

describe.skipIf(!dev)(`op kernels vs float64 reference (${dev?.description ?? reason})`, () => {
  // Each case as it is, then under every kernel variant of its op that applies to it (cases with a tuning of their
  // own test that tuning only).
  const all = ops.flatMap((op) =>
    (CASES[op.name] ?? []).flatMap((c0, k) =>
      [
        { c: c0, variant: '' },
        ...(c0.tuning
          ? []
          : (VARIANTS[op.name] ?? [])
              .filter((v) => v.applies?.(c0) ?? true)
              .map((v) => ({ c: { ...c0, tuning: v.tuning }, variant: ` [${v.name}]` }))),
      ].map(({ c, variant }) => {
        const label = `${op.name} #${k}${variant} ${c.inputs.map((s) => `[${s.join(',')}]`).join(' ')} ${JSON.stringify(c.attrs)}${c.limits ? ` limits ${JSON.stringify(c.limits)}` : ''}${c.tuning && !variant ? ` tuning ${JSON.stringify(c.tuning)}` : ''}`;
        return [label, op.name, c, k, variant] as const;
      }),
    ),
  );

  it.each(all)('%s', async (_label, name, c, k, variant) => {
    const op = OPS.get(name)!;
    const g = oneOpGraph(name, c.inputs, c.attrs);
    const params = roundToF32(randomParams(g, 100 + k));
    const inputs = roundToF32(randomInputs(g, 200 + k, c.ranges, c.integers));
    const limits = { ...dev!.limits, ...c.limits };
    const got = (
      await runOnGpu(dev!, g, params, inputs, limits, { copyIdentity: true, tuning: c.tuning })
    ).get('y')!;
    const node = g.nodes[g.nodes.length - 1]!;
    const refIn: RefTensor[] = g.inputs.map((i) => ({
      shape: g.nodes[i.node]!.shape,
      data: inputs.get(i.name)!,
    }));
    const refParams: RefTensor[] = g.params.map((p) => ({ shape: p.shape, data: params.get(p.name)! }));
    const want = op.reference!(refIn, refParams, c.attrs, node.shape);
    expect(got.length).toBe(numel(node.shape));
    expect(relError(got, want)).toBeLessThanOrEqual(TOL);
    if (c.limits?.maxComputeWorkgroupsPerDimension && !variant) {
      // The split really happened: some dispatch uses a 2-D or 3-D grid.
      const prog = lowerToProgram(g, limits, { copyIdentity: true, tuning: c.tuning });
      expect(prog.entries.forward.steps.some((s) => s.grid[1] > 1 || s.grid[2] > 1)).toBe(true);
    }
    if (c.limits?.maxStorageBuffersPerShaderStage) {
      const prog = lowerToProgram(g, limits, { copyIdentity: true, tuning: c.tuning });
      expect(prog.entries.forward.steps.length).toBeGreaterThan(1);
      for (const s of prog.entries.forward.steps)
        expect(s.buffers.length).toBeLessThanOrEqual(c.limits.maxStorageBuffersPerShaderStage);
    }
  });
});
