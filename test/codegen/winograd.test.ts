// Winograd F(m×m, 3×3) (compiler/codegen/wgsl/winograd.ts) without a GPU: its matrices compute a correlation exactly
// (in float64), where it applies and why not, and the plan conv2dPlan makes of it — four passes, their bindings and
// scratch. The GPU op tests (test/gpu/cases.ts) and the e2e test run it against the float64 reference.
import { describe, expect, it } from 'vitest';
import { conv2dPlan } from '../../compiler/codegen/wgsl/conv.ts';
import {
  WINOGRAD,
  WINOGRAD_TILES,
  winogradProblem,
  winogradScratch,
} from '../../compiler/codegen/wgsl/winograd.ts';
import { kernelOptions } from '../../compiler/codegen/limits.ts';
import type { ConvAttrs } from '../../compiler/ops/conv.ts';
import type { KernelSpec } from '../../compiler/ops/op.ts';
import { LLVMPIPE_TUNING } from '../../runtime/tuning.ts';

const conv3 = (channels: number, o: Partial<ConvAttrs> = {}): ConvAttrs => ({
  channels,
  kernel: 3,
  stride: 1,
  padding: 1,
  dilation: 1,
  groups: 1,
  bias: false,
  ...o,
});

const matVec = (m: readonly (readonly number[])[], v: readonly number[]) =>
  m.map((row) => row.reduce((a, c, j) => a + c * v[j]!, 0));

describe('Winograd F(m×m, 3×3)', () => {
  it.each(WINOGRAD_TILES.map((m) => [m]))(
    'F(%i, 3): A^T [(G g) ⊙ (B^T d)] is the correlation of d with g (float64)',
    (m) => {
      const { BT, G, AT } = WINOGRAD[m]!;
      const alpha = m + 2;
      expect([BT.length, G.length, AT.length, AT[0]!.length]).toEqual([alpha, alpha, m, alpha]);
      let seed = 7;
      const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
      for (let trial = 0; trial < 20; trial++) {
        const g = [rnd(), rnd(), rnd()];
        const d = Array.from({ length: alpha }, rnd);
        const u = matVec(G, g);
        const v = matVec(BT, d);
        const y = matVec(
          AT,
          u.map((x, k) => x * v[k]!),
        );
        const want = Array.from(
          { length: m },
          (_, i) => d[i]! * g[0]! + d[i + 1]! * g[1]! + d[i + 2]! * g[2]!,
        );
        for (let i = 0; i < m; i++) expect(Math.abs(y[i]! - want[i]!)).toBeLessThan(1e-12);
      }
    },
  );

  it('applies to 3×3 stride-1 "same" convs with channels in fours on maps it tiles, and says why not', () => {
    expect(winogradProblem([1, 64, 128, 128], conv3(128), 2)).toBeUndefined();
    expect(winogradProblem([1, 64, 128, 128], conv3(128), 4)).toBeUndefined();
    expect(winogradProblem([2, 8, 6, 24], conv3(5), 2)).toBeUndefined();
    expect(winogradProblem([2, 8, 6, 24], conv3(5), 4)).toMatch(/multiple of 4 high and 16 wide/);
    expect(winogradProblem([1, 8, 8, 12], conv3(8), 2)).toMatch(/multiple of 2 high and 8 wide/);
    expect(winogradProblem([1, 6, 8, 16], conv3(8), 2)).toMatch(/input channels/);
    for (const o of [
      { stride: 2 },
      { dilation: 2, padding: 2 },
      { padding: 0 },
      { groups: 2 },
      { kernel: 5 },
    ])
      expect(winogradProblem([1, 8, 16, 16], conv3(8, o), 2)).toMatch(/only 3×3 convs with stride 1/);
    expect(winogradProblem([1, 8, 16, 16], conv3(8), 3)).toMatch(/no F\(3×3, 3×3\)/);
    // The dilated EncNet head's 2048→512 conv at 32²: F(4,3)'s transformed weights are 36·512·2048 floats (144 MiB).
    const head: [number[], ConvAttrs] = [[1, 2048, 32, 32], conv3(512)];
    expect(winogradScratch(...head, 4).U * 4).toBe(144 * 2 ** 20);
    expect(winogradProblem(...head, 4)).toMatch(/transformed weights \(150994944 bytes\) exceed one binding/);
    expect(winogradProblem(...head, 4, 256 * 2 ** 20)).toBeUndefined();
    expect(winogradProblem(...head, 2)).toBeUndefined();
  });

  it('conv2dPlan: four passes under conv2d.winograd where it applies, the direct kernel elsewhere', () => {
    const plan = (x: number[], a: ConvAttrs, tuning: Record<string, number>) =>
      conv2dPlan({
        inputs: [x],
        out: [x[0]!, a.channels, x[2]!, x[3]!],
        attrs: a,
        params: a.bias ? [[a.channels, x[1]!, 3, 3], [a.channels]] : [[a.channels, x[1]!, 3, 3]],
        opts: kernelOptions({}, tuning),
      });
    // Not tiled by F(4,3) (12 wide): the direct kernel, as without the key.
    const direct = plan([1, 8, 8, 12], conv3(8), { 'conv2d.winograd': 4 });
    expect('wgsl' in direct).toBe(true);
    expect((direct as KernelSpec).wgsl).toBe((plan([1, 8, 8, 12], conv3(8), {}) as KernelSpec).wgsl);
    // llvmpipe's defaults: F(4×4) on output maps at least 128 wide (conv2d.winograd_wide), unless a key says otherwise.
    const isPlan = (x: number[], t: Record<string, number>) => !('wgsl' in plan(x, conv3(16), t));
    expect(LLVMPIPE_TUNING['conv2d.winograd_wide']).toBe(128);
    expect(isPlan([1, 16, 8, 128], { ...LLVMPIPE_TUNING })).toBe(true);
    expect(isPlan([1, 16, 8, 112], { ...LLVMPIPE_TUNING })).toBe(false);
    expect(isPlan([1, 16, 8, 64], { ...LLVMPIPE_TUNING })).toBe(false);
    expect(isPlan([1, 16, 6, 128], { ...LLVMPIPE_TUNING })).toBe(false); // 6 high: F(4×4) does not tile it
    expect(isPlan([1, 16, 8, 128], { ...LLVMPIPE_TUNING, 'conv2d.winograd': 0 })).toBe(false);
    expect(
      isPlan([1, 16, 8, 128], { ...LLVMPIPE_TUNING, 'conv2d.winograd@conv2d:1x16x8x128-16k3s1p1d1g1': 0 }),
    ).toBe(false);
    expect(isPlan([1, 16, 8, 64], { ...LLVMPIPE_TUNING, 'conv2d.winograd': 2 })).toBe(true);
    const f4 = plan([1, 16, 8, 128], conv3(16), { ...LLVMPIPE_TUNING });
    if ('wgsl' in f4) throw new Error('expected a plan');
    expect(f4.dispatches[0]!.name).toBe('conv2d_winograd4_weights_k16');
    // A per-problem key applies to its problem only.
    const other = plan([2, 8, 8, 16], conv3(12, { bias: true }), {
      'conv2d.winograd@conv2d:1x8x8x16-12k3s1p1d1g1': 4,
    });
    expect('wgsl' in other).toBe(true);
    for (const m of WINOGRAD_TILES) {
      const x = [2, 8, 8, 16];
      const a = conv3(12, { bias: true });
      const p = plan(x, a, { [`conv2d.winograd@conv2d:${x.join('x')}-12k3s1p1d1g1`]: m });
      if ('wgsl' in p) throw new Error('expected a plan');
      const s = winogradScratch(x, a, m);
      const xi = (m + 2) ** 2;
      const tiles = 2 * (8 / m) * (16 / m);
      expect(p.scratch).toEqual([xi * 12 * 8, xi * 8 * tiles, xi * 12 * tiles]);
      expect(p.scratch).toEqual([s.U, s.V, s.M]);
      expect(p.dispatches.map((d) => d.bindings)).toEqual([
        ['param0', 'scratch0'],
        ['input0', 'scratch1'],
        ['scratch1', 'scratch0', 'scratch2'],
        ['scratch2', 'param1', 'output'],
      ]);
      expect(p.dispatches.map((d) => d.name)).toEqual([
        `conv2d_winograd${m}_weights_k12`,
        `conv2d_winograd${m}_input_c8`,
        `conv2d_winograd${m}_gemm_k${xi * 12}`,
        `conv2d_winograd${m}_output_k12`,
      ]);
      // The GEMM pass is the grouped 1×1 conv of the α² products, all samples' tiles as one sample's pixels.
      expect(p.dispatches[2]!.wgsl).toContain(
        `conv2d 1×1 stride 1 padding 0 dilation 1 groups ${xi}: x [1, ${xi * 8}, 1, ${tiles}] → y [1, ${xi * 12}, 1, ${tiles}]`,
      );
      // Every pass that reads the weights reads them OHWI.
      for (const d of p.dispatches.filter((d) => d.bindings.includes('param0')))
        expect(d.paramLayouts?.[0]).toEqual([0, 2, 3, 1]);
    }
  });
});
