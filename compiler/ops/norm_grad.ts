// The gradients of group norm (norm.ts). Per sample n and group g of M = C/G·H·W values, with μ the mean,
// σ = sqrt(var + eps) (biased variance), x̂ = (x − μ)/σ and y = x̂·w[c] + b[c]:
//   dx̂ = dy·w[c];  dx = (dx̂ − mean_g(dx̂) − x̂·mean_g(dx̂·x̂)) / σ      (μ and σ depend on every x of the group)
//   dw[c] = Σ_{n,h,w} dy·x̂;  db[c] = Σ_{n,h,w} dy
import { defineOp, expectRank, ShapeError, type RefTensor } from './op.ts';
import type { Shape } from '../ir/types.ts';
import { refTensor } from './ref.ts';
import {
  groupnormGradBiasKernel,
  groupnormGradInputKernel,
  groupnormGradWeightKernel,
} from '../codegen/wgsl/norm_grad.ts';

type GnAttrs = { groups: number; eps: number };

/** Checks dy and x: equal [N, C, H, W] shapes with C divisible by the groups. */
function check(name: string, [dy, x]: readonly Shape[], a: GnAttrs): Shape {
  expectRank(dy!, [4], name, 0);
  expectRank(x!, [4], name, 1);
  if (dy!.some((d, k) => d !== x![k]))
    throw new ShapeError(
      `${name}: the gradient [${dy!.join(', ')}] and the input [${x!.join(', ')}] must have one shape`,
      [0, 1],
    );
  if (x![1]! % a.groups !== 0)
    throw new ShapeError(`${name}: ${a.groups} groups do not divide ${x![1]} channels`, [1]);
  return x!;
}

/** μ and 1/σ of every (sample, group), in float64: [N·G] each. */
function groupStats(x: RefTensor, a: GnAttrs): { mean: Float64Array; inv: Float64Array } {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const count = (C / a.groups) * H * W;
  const mean = new Float64Array(N * a.groups),
    inv = new Float64Array(N * a.groups);
  for (let ng = 0; ng < N * a.groups; ng++) {
    const start = ng * count; // (n, g) blocks are contiguous in NCHW
    let sum = 0;
    for (let i = start; i < start + count; i++) sum += x.data[i]!;
    const m = sum / count;
    let sq = 0;
    for (let i = start; i < start + count; i++) sq += (x.data[i]! - m) ** 2;
    mean[ng] = m;
    inv[ng] = 1 / Math.sqrt(sq / count + a.eps);
  }
  return { mean, inv };
}

export const groupnormGradInput = defineOp<GnAttrs>({
  name: 'groupnorm_grad_input',
  doc: 'dx = (dy·w − mean_g(dy·w) − x̂·mean_g(dy·w·x̂)) / σ per sample and group (gradient of groupnorm wrt x)',
  arity: 2,
  noBackward: 'a gradient op',
  inferShape: (xs, a) => check('groupnorm_grad_input', xs, a),
  // groupnorm's weight, read, not owned.
  params: ([, x]) => [{ role: 'weight', shape: [x![1]!], init: { kind: 'ones' } }],
  kernel: (ctx) => groupnormGradInputKernel(ctx),
  reference([dy, x], [weight], a, out) {
    const [N, C, H, W] = x!.shape as [number, number, number, number];
    const HW = H * W,
      count = (C / a.groups) * HW;
    const { mean, inv } = groupStats(x!, a);
    const dx = refTensor(out);
    for (let ng = 0; ng < N * a.groups; ng++) {
      const start = ng * count;
      let s1 = 0,
        s2 = 0;
      for (let i = start; i < start + count; i++) {
        const g = dy!.data[i]! * weight!.data[Math.floor(i / HW) % C]!;
        s1 += g;
        s2 += g * (x!.data[i]! - mean[ng]!) * inv[ng]!;
      }
      const m1 = s1 / count,
        m2 = s2 / count;
      for (let i = start; i < start + count; i++) {
        const g = dy!.data[i]! * weight!.data[Math.floor(i / HW) % C]!;
        const xh = (x!.data[i]! - mean[ng]!) * inv[ng]!;
        dx.data[i] = (g - m1 - xh * m2) * inv[ng]!;
      }
    }
    return dx;
  },
});

export const groupnormGradWeight = defineOp<GnAttrs>({
  name: 'groupnorm_grad_weight',
  doc: 'dw[c] = Σ_{n,h,w} dy·(x − μ)/σ (gradient of groupnorm wrt its weight)',
  arity: 2,
  noBackward: 'a gradient op',
  inferShape: (xs, a) => [check('groupnorm_grad_weight', xs, a)[1]!],
  kernel: (ctx) => groupnormGradWeightKernel(ctx),
  reference([dy, x], _p, a, out) {
    const [N, C, H, W] = x!.shape as [number, number, number, number];
    const HW = H * W,
      cg = C / a.groups;
    const { mean, inv } = groupStats(x!, a);
    const dw = refTensor(out);
    for (let c = 0; c < C; c++)
      for (let n = 0; n < N; n++) {
        const ng = n * a.groups + Math.floor(c / cg);
        for (let i = (n * C + c) * HW; i < (n * C + c + 1) * HW; i++)
          dw.data[c] += dy!.data[i]! * (x!.data[i]! - mean[ng]!) * inv[ng]!;
      }
    return dw;
  },
});

export const groupnormGradBias = defineOp({
  name: 'groupnorm_grad_bias',
  doc: 'db[c] = Σ_{n,h,w} dy[n, c, h, w] (gradient of groupnorm wrt its bias)',
  arity: 1,
  noBackward: 'a gradient op',
  inferShape([dy]) {
    expectRank(dy!, [4], 'groupnorm_grad_bias');
    return [dy![1]!];
  },
  kernel: (ctx) => groupnormGradBiasKernel(ctx),
  reference([dy], _p, _a, out) {
    const [N, C, H, W] = dy!.shape as [number, number, number, number];
    const HW = H * W;
    const db = refTensor(out);
    for (let n = 0; n < N; n++)
      for (let c = 0; c < C; c++)
        for (let i = (n * C + c) * HW; i < (n * C + c + 1) * HW; i++) db.data[c] += dy!.data[i]!;
    return db;
  },
});
