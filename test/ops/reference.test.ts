// The float64 CPU references against values derived by hand (or by an independent naive formula written here),
// and the reference interpreter on narrow versions of the real specs.
import { describe, expect, it } from 'vitest';
import { getOp } from '../../compiler/ops/index.ts';
import type { RefTensor } from '../../compiler/ops/op.ts';
import type { Attrs } from '../../compiler/ir/types.ts';
import { interpret, refTensor, seededFill, seededParams } from '../../compiler/ir/interpret.ts';
import { buildGraph } from '../../compiler/index.ts';

const t = (shape: number[], data: number[]): RefTensor => refTensor(shape, data);
const range = (n: number, from = 1): number[] => Array.from({ length: n }, (_, i) => i + from);

/** Runs one op's reference, its output shape taken from the op's own shape rule. */
function run(op: string, inputs: RefTensor[], attrs: Attrs, params: RefTensor[] = []): RefTensor {
  const def = getOp(op);
  const out = def.inferShape(
    inputs.map((x) => x.shape),
    attrs,
  );
  return def.reference!(inputs, params, attrs, out);
}

function expectClose(got: RefTensor, shape: number[], want: number[], tol = 1e-12): void {
  expect(got.shape).toEqual(shape);
  expect(got.data.length).toBe(want.length);
  got.data.forEach((v, i) => {
    if (Math.abs(v - want[i]!) > tol * Math.max(1, Math.abs(want[i]!)))
      expect.fail(`element ${i}: got ${v}, want ${want[i]}`);
  });
}

const conv = (o: Partial<Record<string, number | boolean>>): Attrs =>
  ({ stride: 1, padding: 0, dilation: 1, groups: 1, bias: false, ...o }) as Attrs;

// 5×5 input with x[i][j] = 5i + j + 1 (1..25), used by several cases.
const x5 = t([1, 1, 5, 5], range(25));
const X5 = (i: number, j: number): number => (i >= 0 && i < 5 && j >= 0 && j < 5 ? 5 * i + j + 1 : 0);

describe('conv2d reference', () => {
  it('stride 2 on an odd input with padding 1 (box filter)', () => {
    const w = t([1, 1, 3, 3], Array(9).fill(1));
    const y = run('conv2d', [x5], conv({ channels: 1, kernel: 3, stride: 2, padding: 1 }), [w]);
    // window sums centred at (2·oh, 2·ow), cut to the input
    expectClose(y, [1, 1, 3, 3], [16, 33, 28, 69, 117, 87, 76, 123, 88]);
  });

  it('stride 2 without padding', () => {
    const w = t([1, 1, 3, 3], Array(9).fill(1));
    const y = run('conv2d', [x5], conv({ channels: 1, kernel: 3, stride: 2 }), [w]);
    expectClose(y, [1, 1, 2, 2], [63, 81, 153, 171]);
  });

  it('is a cross-correlation (kernel not flipped)', () => {
    const w = t([1, 1, 3, 3], [1, 0, 0, 0, 0, 0, 0, 0, 0]); // only the top-left tap
    const y = run('conv2d', [x5], conv({ channels: 1, kernel: 3, stride: 2, padding: 1 }), [w]);
    // y[oh][ow] = x[2oh − 1][2ow − 1]
    expectClose(y, [1, 1, 3, 3], [0, 0, 0, 0, 7, 9, 0, 17, 19]);
  });

  it('dilation 2 with padding 2', () => {
    const w = t([1, 1, 3, 3], [100, 0, 0, 0, 1, 0, 0, 0, 10]);
    const y = run('conv2d', [x5], conv({ channels: 1, kernel: 3, padding: 2, dilation: 2 }), [w]);
    // taps at offsets −2, 0, +2 on both axes
    const want: number[] = [];
    for (let i = 0; i < 5; i++)
      for (let j = 0; j < 5; j++) want.push(100 * X5(i - 2, j - 2) + X5(i, j) + 10 * X5(i + 2, j + 2));
    expectClose(y, [1, 1, 5, 5], want);
    expect(y.data[0]).toBe(1 + 10 * 13); // by hand: x[0][0] + 10·x[2][2]
    expect(y.data[2 * 5 + 2]).toBe(100 * 1 + 13 + 10 * 25);
  });

  it('depthwise (groups = channels)', () => {
    const x = t([1, 2, 3, 3], [...range(9), ...Array(9).fill(2)]);
    const w = t([2, 1, 3, 3], [...Array(9).fill(1), 0, 0, 0, 0, 3, 0, 0, 0, 0]);
    const y = run('conv2d', [x], conv({ channels: 2, kernel: 3, padding: 1, groups: 2 }), [w]);
    // channel 0: 3×3 box sums of 1..9; channel 1: 3 · 2 everywhere
    expectClose(y, [1, 2, 3, 3], [12, 21, 16, 27, 45, 33, 24, 39, 28, ...Array(9).fill(6)]);
  });

  it('groups = 2 maps each output to its own input channels', () => {
    const x = t([1, 4, 1, 1], [1, 2, 3, 4]);
    const w = t([2, 2, 1, 1], [1, 10, 100, 1000]);
    const y = run('conv2d', [x], conv({ channels: 2, kernel: 1, groups: 2 }), [w]);
    expectClose(y, [1, 2, 1, 1], [1 * 1 + 10 * 2, 100 * 3 + 1000 * 4]);
  });

  it('bias, batch of 2', () => {
    const x = t([2, 2, 1, 2], [1, 2, 3, 4, 5, 6, 7, 8]);
    const w = t([3, 2, 1, 1], [1, 0, 0, 1, 1, 1]);
    const b = t([3], [10, 20, 30]);
    const y = run('conv2d', [x], conv({ channels: 3, kernel: 1, bias: true }), [w, b]);
    expectClose(y, [2, 3, 1, 2], [11, 12, 23, 24, 34, 36, 15, 16, 27, 28, 42, 44]);
  });
});

describe('pooling references', () => {
  const pool = (o: Record<string, number | boolean>): Attrs =>
    ({ padding: 0, ceil_mode: false, ...o }) as Attrs;

  it('maxpool 3/2/1 (the ResNet stem) on 5×5', () => {
    const y = run('maxpool2d', [x5], pool({ kernel: 3, stride: 2, padding: 1 }));
    expectClose(y, [1, 1, 3, 3], [7, 9, 10, 17, 19, 20, 22, 24, 25]);
  });

  it('maxpool: padding never wins over negative values', () => {
    const x = t([1, 1, 2, 2], [-5, -6, -7, -8]);
    const y = run('maxpool2d', [x], pool({ kernel: 2, stride: 1, padding: 1 }));
    expectClose(y, [1, 1, 3, 3], [-5, -5, -6, -5, -5, -6, -7, -7, -8]);
  });

  it('maxpool ceil_mode adds the partial window', () => {
    const x = t([1, 1, 4, 4], range(16));
    expectClose(
      run('maxpool2d', [x], pool({ kernel: 3, stride: 2, ceil_mode: true })),
      [1, 1, 2, 2],
      [11, 12, 15, 16],
    );
    expectClose(run('maxpool2d', [x], pool({ kernel: 3, stride: 2, ceil_mode: false })), [1, 1, 1, 1], [11]);
  });

  // 4×4 input 1..16, kernel 3, stride 2, padding 1, ceil_mode: windows start at −1, 1, 3 on each axis.
  // In-bounds rows: {0,1}, {1,2,3}, {3}; the divisor with padding counts rows [−1,2), [1,4), [3,5) = 3, 3, 2
  // (the last window stops at input + padding). Sums per (row set, column set):
  const sums = [14, 30, 12, 57, 99, 36, 27, 45, 16];
  const x4 = t([1, 1, 4, 4], range(16));
  const ceilPool = { kernel: 3, stride: 2, padding: 1, ceil_mode: true };

  it('avgpool ceil_mode, count_include_pad = true', () => {
    const y = run('avgpool2d', [x4], pool({ ...ceilPool, count_include_pad: true }));
    const div = [9, 9, 6, 9, 9, 6, 6, 6, 4];
    expectClose(
      y,
      [1, 1, 3, 3],
      sums.map((s, i) => s / div[i]!),
    );
  });

  it('avgpool ceil_mode, count_include_pad = false', () => {
    const y = run('avgpool2d', [x4], pool({ ...ceilPool, count_include_pad: false }));
    const div = [4, 6, 2, 6, 9, 3, 2, 3, 1];
    expectClose(
      y,
      [1, 1, 3, 3],
      sums.map((s, i) => s / div[i]!),
    );
  });

  it('avgpool defaults to count_include_pad = true', () => {
    const y = run('avgpool2d', [x4], pool(ceilPool));
    expect(y.data[0]).toBeCloseTo(14 / 9, 14);
  });

  it('maxpool with the same windows', () => {
    const y = run('maxpool2d', [x4], pool(ceilPool));
    expectClose(y, [1, 1, 3, 3], [6, 8, 8, 14, 16, 16, 14, 16, 16]);
  });

  it('adaptive avgpool 7 → 3 bins (overlapping, uneven)', () => {
    // bins [floor(7i/3), ceil(7(i+1)/3)) = [0,3), [2,5), [4,7): index means 1, 3, 5
    const x = t(
      [1, 1, 7, 7],
      Array.from({ length: 49 }, (_, k) => 10 * Math.floor(k / 7) + (k % 7)),
    );
    const y = run('adaptive_avgpool2d', [x], { bins: [3, 3] });
    const m = [1, 3, 5];
    expectClose(
      y,
      [1, 1, 3, 3],
      m.flatMap((r) => m.map((c) => 10 * r + c)),
    );
  });

  it('adaptive avgpool to a non-square grid, nonlinear values', () => {
    // 7×5 input x[i][j] = 10i + j²; rows as above (means of 10i: 10, 30, 50); columns [0,3), [2,5): j² means 5/3, 29/3
    const x = t(
      [1, 1, 7, 5],
      Array.from({ length: 35 }, (_, k) => 10 * Math.floor(k / 5) + (k % 5) ** 2),
    );
    const y = run('adaptive_avgpool2d', [x], { bins: [3, 2] });
    expectClose(y, [1, 1, 3, 2], [10 + 5 / 3, 10 + 29 / 3, 30 + 5 / 3, 30 + 29 / 3, 50 + 5 / 3, 50 + 29 / 3]);
  });

  it('global average pooling (1 bin)', () => {
    const y = run('adaptive_avgpool2d', [t([1, 2, 2, 2], [1, 2, 3, 4, 10, 20, 30, 40])], { bins: [1, 1] });
    expectClose(y, [1, 2, 1, 1], [2.5, 25]);
  });
});

describe('resize_bilinear reference (PyTorch upsample_bilinear2d)', () => {
  const x = t([1, 1, 2, 2], [1, 2, 3, 4]);

  it('align_corners = true, 2×2 → 3×3', () => {
    const y = run('resize_bilinear', [x], { size: [3, 3], align_corners: true });
    expectClose(y, [1, 1, 3, 3], [1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4]);
  });

  it('align_corners = false, 2×2 → 4×4', () => {
    const y = run('resize_bilinear', [x], { size: [4, 4], align_corners: false });
    expectClose(
      y,
      [1, 1, 4, 4],
      [1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4],
    );
  });

  it('align_corners = false downsampling averages pairs', () => {
    const y = run('resize_bilinear', [t([1, 1, 1, 4], [1, 2, 3, 4])], { size: [1, 2], align_corners: false });
    expectClose(y, [1, 1, 1, 2], [1.5, 3.5]);
  });

  it('an explicit scale sets the source step to 1/scale, not in/out', () => {
    // in 3, scale 1.5 → out 4; src = max(0, (o + 0.5)/1.5 − 0.5) = 0, 0.5, 7/6, 11/6 on [0, 10, 20]
    const y = run('resize_bilinear', [t([1, 1, 1, 3], [0, 10, 20])], {
      size: [1, 4],
      align_corners: false,
      scale: 1.5,
    });
    expectClose(y, [1, 1, 1, 4], [0, 5, 35 / 3, 55 / 3]);
    const z = run('resize_bilinear', [t([1, 1, 1, 3], [0, 10, 20])], { size: [1, 4], align_corners: false });
    expectClose(z, [1, 1, 1, 4], [0, 6.25, 13.75, 20]); // r = 3/4 without the scale
  });

  it('align_corners = true to a single pixel takes the first one', () => {
    expectClose(run('resize_bilinear', [x], { size: [1, 1], align_corners: true }), [1, 1, 1, 1], [1]);
  });

  it('keeps channels and batch apart', () => {
    const y = run('resize_bilinear', [t([2, 1, 1, 2], [0, 1, 10, 20])], {
      size: [1, 3],
      align_corners: true,
    });
    expectClose(y, [2, 1, 1, 3], [0, 0.5, 1, 10, 15, 20]);
  });
});

describe('normalisation references', () => {
  const bnParams = [t([2], [2, 3]), t([2], [0.5, 0]), t([2], [1, -1]), t([2], [4, 0.25]), t([], [0])];

  it('batchnorm eval on a 3-D tensor (BatchNorm1d over K)', () => {
    const y = run('batchnorm', [t([1, 2, 2], [3, 5, 0, -2])], { eps: 0, momentum: 0.1 }, bnParams);
    expectClose(y, [1, 2, 2], [2.5, 4.5, 6, -6]);
  });

  it('batchnorm eval on 4-D and 2-D tensors, with eps', () => {
    const eps = 1e-5;
    const y = run('batchnorm', [t([2, 2, 1, 1], [3, 0, 5, -2])], { eps, momentum: 0.1 }, bnParams);
    const f = (v: number, c: number) =>
      ((v - [1, -1][c]!) / Math.sqrt([4, 0.25][c]! + eps)) * [2, 3][c]! + [0.5, 0][c]!;
    expectClose(y, [2, 2, 1, 1], [f(3, 0), f(0, 1), f(5, 0), f(-2, 1)]);
    const z = run('batchnorm', [t([2, 2], [3, 0, 5, -2])], { eps, momentum: 0.1 }, bnParams);
    expectClose(z, [2, 2], [f(3, 0), f(0, 1), f(5, 0), f(-2, 1)]);
  });

  it('groupnorm uses per-sample group statistics with the biased variance', () => {
    // group 0 = channels 0,1: [1,2,3,4], mean 2.5, var 1.25; group 1 = channels 2,3: [10,10,10,14], mean 11, var 3
    const x = t([1, 4, 1, 2], [1, 2, 3, 4, 10, 10, 10, 14]);
    const y = run('groupnorm', [x], { groups: 2, eps: 0 }, [t([4], [1, 1, 2, 1]), t([4], [0, 0, 0, 1])]);
    const s = Math.sqrt(1.25),
      r3 = Math.sqrt(3);
    expectClose(
      y,
      [1, 4, 1, 2],
      [-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s, -2 / r3, -2 / r3, 1 - 1 / r3, 1 + 3 / r3],
    );
  });

  it('groupnorm keeps samples apart', () => {
    const x = t([2, 2, 1, 1], [1, 3, 100, 300]);
    const y = run('groupnorm', [x], { groups: 1, eps: 0 }, [t([2], [1, 1]), t([2], [0, 0])]);
    expectClose(y, [2, 2, 1, 1], [-1, 1, -1, 1]);
  });
});

describe('encoding reference', () => {
  /** Direct formula: A = exp(SL) / Σ exp(SL), no stabilisation; loops over the [N, D, H·W] layout. */
  function naive(x: number[], N: number, D: number, HW: number, c: number[], s: number[]): number[] {
    const K = s.length;
    const e = new Array(N * K * D).fill(0);
    for (let n = 0; n < N; n++)
      for (let i = 0; i < HW; i++) {
        const xi = (d: number) => x[(n * D + d) * HW + i]!;
        const sl = s.map(
          (sk, k) =>
            sk * Array.from({ length: D }, (_, d) => (xi(d) - c[k * D + d]!) ** 2).reduce((a, b) => a + b),
        );
        const z = sl.map(Math.exp).reduce((a, b) => a + b);
        for (let k = 0; k < K; k++)
          for (let d = 0; d < D; d++)
            e[(n * K + k) * D + d] += (Math.exp(sl[k]!) / z) * (xi(d) - c[k * D + d]!);
      }
    return e;
  }

  it('matches the direct formula on a tiny case (N=2, D=3, 2×2 positions, K=2)', () => {
    const N = 2,
      D = 3,
      K = 2;
    const xs = Array.from({ length: N * D * 4 }, (_, i) => Math.sin(i * 1.7) * 1.5);
    const c = [0.1, -0.2, 0.3, -0.5, 0.4, 0.0];
    const s = [-0.7, -1.3];
    const y = run('encoding', [t([N, D, 2, 2], xs)], { codewords: K }, [t([K, D], c), t([K], s)]);
    expectClose(y, [N, K, D], naive(xs, N, D, 4, c, s), 1e-12);
  });

  it('by hand: two positions, two codewords', () => {
    // x0 = (1, 0), x1 = (0, 2); c0 = (0, 0), c1 = (1, 1); s = (−1, −0.5)
    // x0: ‖x0−c0‖² = 1, ‖x0−c1‖² = 1 → SL = (−1, −0.5); x1: 4, 2 → SL = (−4, −1)
    const y = run('encoding', [t([1, 2, 1, 2], [1, 0, 0, 2])], { codewords: 2 }, [
      t([2, 2], [0, 0, 1, 1]),
      t([2], [-1, -0.5]),
    ]);
    const a0 = [Math.exp(-1), Math.exp(-0.5)].map((v, _, arr) => v / (arr[0]! + arr[1]!));
    const a1 = [Math.exp(-4), Math.exp(-1)].map((v, _, arr) => v / (arr[0]! + arr[1]!));
    const want = [
      a0[0]! * 1 + a1[0]! * 0,
      a0[0]! * 0 + a1[0]! * 2,
      a0[1]! * 0 + a1[1]! * -1,
      a0[1]! * -1 + a1[1]! * 1,
    ];
    expectClose(y, [1, 2, 2], want);
  });

  it('is stable where the direct formula underflows', () => {
    const y = run('encoding', [t([1, 2, 1, 2], [1, 0, 0, 2])], { codewords: 2 }, [
      t([2, 2], [0, 0, 1, 1]),
      t([2], [-1e4, -0.5e4]),
    ]);
    // every position is assigned to c1: E1 = (x0 − c1) + (x1 − c1) = (0, −1) + (−1, 1)
    expectClose(y, [1, 2, 2], [0, 0, -1, 0]);
  });
});

describe('shape and elementwise references', () => {
  it('mean over an axis, removing it', () => {
    const x = t([2, 3], [1, 2, 3, 4, 5, 9]);
    expectClose(run('mean', [x], { axis: 1 }), [2], [2, 6]);
    expectClose(run('mean', [x], { axis: 0 }), [3], [2.5, 3.5, 6]);
    expectClose(run('mean', [t([1, 2, 2], [1, 2, 3, 5])], { axis: 1 }), [1, 2], [2, 3.5]);
  });

  it('mul: equal shapes and per-channel factors [N, C] and [N, C, 1, 1]', () => {
    const a = t([2, 2, 1, 2], [1, 2, 3, 4, 5, 6, 7, 8]);
    const want = [10, 20, 300, 400, 5000, 6000, 70000, 80000];
    expectClose(run('mul', [a, t([2, 2], [10, 100, 1000, 10000])], {}), [2, 2, 1, 2], want);
    expectClose(run('mul', [a, t([2, 2, 1, 1], [10, 100, 1000, 10000])], {}), [2, 2, 1, 2], want);
    expectClose(run('mul', [t([2], [2, 3]), t([2], [4, 5])], {}), [2], [8, 15]);
  });

  it('concat along channels, batch and the last axis', () => {
    const a = t([2, 1, 2], [1, 2, 3, 4]);
    const b = t([2, 2, 2], [5, 6, 7, 8, 9, 10, 11, 12]);
    expectClose(run('concat', [a, b], { axis: 1 }), [2, 3, 2], [1, 2, 5, 6, 7, 8, 3, 4, 9, 10, 11, 12]);
    expectClose(run('concat', [a, a], { axis: 0 }), [4, 1, 2], [1, 2, 3, 4, 1, 2, 3, 4]);
    expectClose(run('concat', [a, t([2, 1, 1], [9, 8])], { axis: 2 }), [2, 1, 3], [1, 2, 9, 3, 4, 8]);
  });

  it('add, relu, sigmoid, dropout (identity)', () => {
    expectClose(run('add', [t([3], [1, 2, 3]), t([3], [10, -20, 0.5])], {}), [3], [11, -18, 3.5]);
    expectClose(run('relu', [t([4], [-1, 0, 2, -0.5])], {}), [4], [0, 0, 2, 0]);
    expect(Number.isNaN(run('relu', [t([1], [NaN])], {}).data[0])).toBe(true);
    expectClose(run('sigmoid', [t([3], [0, Math.log(3), -1000])], {}), [3], [0.5, 0.75, 0]);
    const x = t([1, 2, 1, 1], [3, -4]);
    const y = run('dropout', [x], { p: 0.5, channelwise: true });
    expectClose(y, [1, 2, 1, 1], [3, -4]);
    expect(y.data).not.toBe(x.data);
  });

  it('linear with and without bias (weight [out, in])', () => {
    const x = t([2, 3], [1, 2, 3, 4, 5, 6]);
    const w = t([2, 3], [1, 0, -1, 0.5, 0.5, 0.5]);
    expectClose(
      run('linear', [x], { features: 2, bias: true }, [w, t([2], [10, 20])]),
      [2, 2],
      [8, 23, 8, 27.5],
    );
    expectClose(run('linear', [x], { features: 2, bias: false }, [w]), [2, 2], [-2, 3, -2, 7.5]);
  });
});

describe('interpret', () => {
  const size = { height: 64, width: 64 };
  const graphOf = (spec: string, width: number) => {
    const r = buildGraph(`specs/${spec}.fcn`, { ...size, settings: { width, classes: 5 } });
    expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    return r.graph!;
  };
  const image = (seed: number) => new Map([['image', seededFill(3 * 64 * 64, seed)]]);

  it.each([
    ['enc_jpu_r50', 4],
    ['aspp_jpu_r50', 4],
    ['psp_dilated_r50', 4],
    ['enc_fpn_r50', 4],
    ['enc_jpux_r50', 8],
  ] as const)('runs %s (width %i) end to end', (spec, width) => {
    const g = graphOf(spec, width);
    const params = seededParams(g, 7);
    const a = interpret(g, params, image(1));
    const b = interpret(g, params, image(2));
    expect([...a.keys()].sort()).toEqual(g.outputs.map((o) => o.name).sort());
    for (const o of g.outputs) {
      const va = a.get(o.name)!,
        vb = b.get(o.name)!;
      expect(va.shape).toEqual(g.nodes[o.node]!.shape);
      expect(va.data.every(Number.isFinite)).toBe(true);
      expect(vb.data.every(Number.isFinite)).toBe(true);
    }
    expect(a.get('logits')!.shape).toEqual([1, 5, 64, 64]);
    const la = a.get('logits')!.data,
      lb = b.get('logits')!.data;
    expect(Math.max(...la.map((v, i) => Math.abs(v - lb[i]!)))).toBeGreaterThan(1e-3);
    // the same inputs give bit-identical outputs
    expect(interpret(g, params, image(1)).get('logits')!.data).toEqual(la);
  });

  it("keep: 'all' returns every node by name, agreeing with the outputs", () => {
    const g = graphOf('enc_jpu_r50', 4);
    const params = seededParams(g, 3);
    const all = interpret(g, params, image(1), { keep: 'all' });
    for (const n of g.nodes) expect(all.get(n.name)?.shape).toEqual(n.shape);
    const logits = g.outputs.find((o) => o.name === 'logits')!;
    expect(all.get('logits')).toBe(all.get(g.nodes[logits.node]!.name));
    expect(all.get('image')!.data).toEqual(seededFill(3 * 64 * 64, 1));
  });

  it('accepts Float32Array params and inputs', () => {
    const g = graphOf('enc_fpn_r50', 4);
    const p64 = seededParams(g, 5);
    const p32 = new Map([...p64].map(([k, v]) => [k, Float32Array.from(v)]));
    const r = interpret(g, p32, new Map([['image', Float32Array.from(seededFill(3 * 64 * 64, 1))]]));
    expect(r.get('logits')!.data.every(Number.isFinite)).toBe(true);
  });

  it('reports a missing or mis-sized param or input by name and shape', () => {
    const g = graphOf('enc_fpn_r50', 4);
    const params = seededParams(g, 5);
    const missing = new Map(params);
    missing.delete('pretrained.conv1.0.weight');
    expect(() => interpret(g, missing, image(1))).toThrow(
      /missing param 'pretrained\.conv1\.0\.weight' \(expected shape \[4, 3, 3, 3\]\)/,
    );
    const short = new Map(params).set('pretrained.bn1.running_var', new Float64Array(3));
    expect(() => interpret(g, short, image(1))).toThrow(
      /param 'pretrained\.bn1\.running_var' has 3 values, expected shape \[8\]/,
    );
    expect(() => interpret(g, params, new Map())).toThrow(
      /missing input 'image' \(expected shape \[1, 3, 64, 64\]\)/,
    );
    expect(() => interpret(g, params, new Map([['image', new Float32Array(5)]]))).toThrow(
      /input 'image' has 5 values/,
    );
  });

  it('takes a missing num_batches_tracked as 0', () => {
    const g = graphOf('enc_fpn_r50', 4);
    const params = new Map([...seededParams(g, 5)].filter(([k]) => !k.endsWith('num_batches_tracked')));
    expect(interpret(g, params, image(1)).get('logits')!.shape).toEqual([1, 5, 64, 64]);
  });
});
