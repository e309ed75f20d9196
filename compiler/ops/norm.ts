// Normalisation: batchnorm (inference uses running statistics; channels on axis 1 of a 2-, 3- or 4-D tensor,
// so it also serves the BatchNorm1d over the Encoding layer's K axis) and groupnorm (JPU_X).
import { defineLayer, defineOp, expectRank, ShapeError, type TensorArg } from './op.ts';
import { pointwiseOp } from './elementwise.ts';
import { f } from '../codegen/wgsl/common.ts';
import type { Shape } from '../ir/types.ts';
import { refTensor, splitAt } from './ref.ts';
import { groupnormKernel } from '../codegen/wgsl/norm.ts';

type BnAttrs = { eps: number; momentum: number };
type GnAttrs = { groups: number; eps: number };

export const batchnorm = pointwiseOp<BnAttrs>({
  name: 'batchnorm',
  doc: 'y = (x − running_mean[c]) / sqrt(running_var[c] + eps) · weight[c] + bias[c], c = axis 1',
  arity: 1,
  // Inference semantics (running statistics). fold_batchnorm turns every inference batchnorm into a folded conv
  // or an `affine`, so this kernel runs only in unoptimised programs.
  pointwise: {
    primary: [0],
    params: [0, 1, 2, 3],
    wgsl: ([x, w, b, m, v], a) => `(${x} - ${m}) * (${w} / sqrt(${v} + ${f(a.eps)})) + ${b}`,
  },
  inferShape([x]) {
    expectRank(x!, [2, 3, 4], 'batchnorm');
    return x!;
  },
  // With the running statistics (inference semantics; training graphs use bn_norm with batch statistics).
  backward(c) {
    const [x] = c.inputs as [number];
    const [w, , mean, variance] = c.params as [number, number, number, number];
    const eps = c.attrs.eps;
    const sums = c.add('bn_norm_grad_sums', [c.dy, x, mean, variance], [], { eps }, 'sums');
    return [
      c.add('bn_norm_grad_x', [c.dy, variance], [w], { eps }, 'x'),
      c.add('take_row', [sums], [], { row: 1 }, 'weight'),
      c.add('take_row', [sums], [], { row: 0 }, 'bias'),
      null,
      null,
      null,
    ];
  },
  params([x]) {
    const c = x![1]!;
    return [
      { role: 'weight', shape: [c], init: { kind: 'ones' } },
      { role: 'bias', shape: [c], init: { kind: 'zeros' } },
      { role: 'running_mean', shape: [c], init: { kind: 'zeros' }, trainable: false },
      { role: 'running_var', shape: [c], init: { kind: 'ones' }, trainable: false },
      { role: 'num_batches_tracked', shape: [], dtype: 'i64', init: { kind: 'zeros' }, trainable: false },
    ];
  },
  reference([x], [weight, bias, mean, variance], a, out) {
    const { outer: N, size: C, inner } = splitAt(x.shape, 1);
    const y = refTensor(out);
    for (let c = 0; c < C; c++) {
      const inv = 1 / Math.sqrt(variance.data[c]! + a.eps);
      const m = mean.data[c]!,
        g = weight.data[c]!,
        b = bias.data[c]!;
      for (let n = 0; n < N; n++)
        for (let i = (n * C + c) * inner; i < (n * C + c + 1) * inner; i++)
          y.data[i] = (x.data[i]! - m) * inv * g + b;
    }
    return y;
  },
});

export const batchnormLayer = defineLayer({
  name: 'batchnorm',
  doc: 'Batch normalisation over axis 1 (BatchNorm1d/2d).',
  params: [
    { name: 'x', type: 'tensor', doc: 'input [N, C, ...]' },
    { name: 'eps', type: 'float', default: 1e-5, min: 0, doc: 'added to the variance' },
    {
      name: 'momentum',
      type: 'float',
      default: 0.1,
      min: 0,
      max: 1,
      doc: 'running statistics momentum (training)',
    },
  ],
  build(ctx, a) {
    return ctx.op('batchnorm', [a.x as TensorArg], { eps: a.eps as number, momentum: a.momentum as number });
  },
});

export const groupnorm = defineOp<GnAttrs>({
  name: 'groupnorm',
  doc: 'per sample and group of C/G channels: y = (x − mean) / sqrt(var + eps) · weight[c] + bias[c]',
  arity: 1,
  inferShape([x], a) {
    expectRank(x!, [4], 'groupnorm');
    if (x![1]! % a.groups !== 0)
      throw new ShapeError(`groupnorm: ${a.groups} groups do not divide ${x![1]} channels`, [0]);
    return x!;
  },
  params([x]) {
    const c = x![1]!;
    return [
      { role: 'weight', shape: [c], init: { kind: 'ones' } },
      { role: 'bias', shape: [c], init: { kind: 'zeros' } },
    ];
  },
  kernel: (ctx) => groupnormKernel(ctx),
  // The gradients wrt x, the weight and the bias: ops of their own (norm_grad.ts).
  backward(ctx) {
    const [x] = ctx.inputs as [number];
    const [w] = ctx.params as [number, number];
    const a = { groups: ctx.attrs.groups, eps: ctx.attrs.eps };
    return [
      ctx.add('groupnorm_grad_input', [ctx.dy, x], [w], a, 'input'),
      ctx.add('groupnorm_grad_weight', [ctx.dy, x], [], a, 'weight'),
      ctx.add('groupnorm_grad_bias', [ctx.dy], [], {}, 'bias'),
    ];
  },
  reference([x], [weight, bias], a, out) {
    const [N, C, H, W] = x.shape as [number, number, number, number];
    const cg = C / a.groups,
      HW = H * W,
      count = cg * HW;
    const y = refTensor(out);
    for (let n = 0; n < N; n++)
      for (let g = 0; g < a.groups; g++) {
        // one group of one sample is the contiguous block of cg channels × H × W
        const start = (n * C + g * cg) * HW,
          end = start + count;
        let sum = 0;
        for (let i = start; i < end; i++) sum += x.data[i]!;
        const m = sum / count;
        let sq = 0;
        for (let i = start; i < end; i++) sq += (x.data[i]! - m) ** 2;
        const inv = 1 / Math.sqrt(sq / count + a.eps); // biased variance, as PyTorch
        for (let i = start; i < end; i++) {
          const c = Math.floor(i / HW) % C;
          y.data[i] = (x.data[i]! - m) * inv * weight.data[c]! + bias.data[c]!;
        }
      }
    return y;
  },
});

export const groupnormLayer = defineLayer({
  name: 'groupnorm',
  doc: 'Group normalisation (used inside JPU_X).',
  params: [
    { name: 'x', type: 'tensor', doc: 'input [N, C, H, W]' },
    { name: 'groups', type: 'int', min: 1, doc: 'number of groups' },
    { name: 'eps', type: 'float', default: 1e-5, min: 0, doc: 'added to the variance' },
  ],
  build(ctx, a) {
    return ctx.op('groupnorm', [a.x as TensorArg], { groups: a.groups as number, eps: a.eps as number });
  },
});

// ---- Batchnorm folding (load time) ---------------------------------------------------------------------------
// An inference batchnorm after a conv is a per-output-channel scale s = weight / sqrt(running_var + eps) and shift
// t = bias − running_mean · s (+ s · the conv's own bias): the conv computes it with weights w · s[o] and bias t.
// These ops make s, t and the scaled weights from the loaded parameters, once, when the weights are loaded.

const vector = (name: string, xs: readonly Shape[], n: number): Shape => {
  const c = xs[0]![0]!;
  if (xs.length !== n || xs.some((s) => s.length !== 1 || s[0] !== c))
    throw new ShapeError(
      `${name} takes ${n} vectors of one length, got ${xs.map((s) => `[${s.join(', ')}]`).join(', ')}`,
    );
  return [c];
};

/** s = weight / sqrt(running_var + eps). */
export const bnScale = pointwiseOp<{ eps: number }>({
  name: 'bn_scale',
  noBackward: 'inference only: batchnorm folding at load',
  doc: 's[c] = weight[c] / sqrt(running_var[c] + eps)',
  arity: 2,
  inferShape: (xs) => vector('bn_scale', xs, 2),
  pointwise: { primary: [0], wgsl: ([w, v], a) => `${w} / sqrt(${v} + ${f(a.eps)})` },
  reference([w, v], _p, a, out) {
    const y = refTensor(out);
    for (let c = 0; c < y.data.length; c++) y.data[c] = w.data[c]! / Math.sqrt(v.data[c]! + a.eps);
    return y;
  },
});

/** t = bias + (conv_bias − running_mean) · s; without a conv bias, t = bias − running_mean · s. */
export const bnShift = pointwiseOp({
  name: 'bn_shift',
  noBackward: 'inference only: batchnorm folding at load',
  doc: 't[c] = bias[c] + (conv_bias[c] − running_mean[c]) · s[c] (conv_bias = 0 when absent)',
  arity: 'variadic',
  inferShape: (xs) => vector('bn_shift', xs, xs.length === 4 ? 4 : 3),
  pointwise: {
    primary: [0],
    wgsl: ([b, m, s, cb]) => (cb ? `${b} + (${cb} - ${m}) * ${s}` : `${b} - ${m} * ${s}`),
  },
  reference([b, m, s, cb], _p, _a, out) {
    const y = refTensor(out);
    for (let c = 0; c < y.data.length; c++)
      y.data[c] = b.data[c]! + ((cb ? cb.data[c]! : 0) - m.data[c]!) * s.data[c]!;
    return y;
  },
});

/** w'[o, …] = w[o, …] · s[o]: a weight whose output channels (axis 0, in any layout of the rest) are scaled. */
export const scaleRows = pointwiseOp({
  name: 'scale_rows',
  noBackward: 'inference only: batchnorm folding at load',
  doc: "w'[o, …] = w[o, …] · s[o]",
  arity: 2,
  inferShape([w, s]) {
    if (s!.length !== 1 || s![0] !== w![0])
      throw new ShapeError(
        `scale_rows scales the ${w![0]} rows of [${w!.join(', ')}] by a vector, got [${s!.join(', ')}]`,
        [1],
      );
    return w!;
  },
  pointwise: { primary: [0], index: () => ['same', 'row'], wgsl: ([w, s]) => `${w} * ${s}` },
  reference([w, s], _p, _a, out) {
    const y = refTensor(out);
    const per = w.data.length / s.data.length;
    for (let i = 0; i < y.data.length; i++) y.data[i] = w.data[i]! * s.data[Math.floor(i / per)]!;
    return y;
  },
});
