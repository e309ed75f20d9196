// Normalisation: batchnorm (inference uses running statistics; channels on axis 1 of a 2-, 3- or 4-D tensor,
// so it also serves the BatchNorm1d over the Encoding layer's K axis) and groupnorm (JPU_X).
import { defineLayer, defineOp, expectRank, ShapeError, type TensorArg, perChannelSlice } from './op.ts';
import { refTensor, splitAt } from './ref.ts';
import { batchnormKernel } from '../codegen/wgsl/elementwise.ts';
import { groupnormKernel } from '../codegen/wgsl/norm.ts';

type BnAttrs = { eps: number; momentum: number };
type GnAttrs = { groups: number; eps: number };

export const batchnorm = defineOp<BnAttrs>({
  name: 'batchnorm',
  doc: 'y = (x − running_mean[c]) / sqrt(running_var[c] + eps) · weight[c] + bias[c], c = axis 1',
  arity: 1,
  elementwise: false,
  inferShape([x]) {
    expectRank(x!, [2, 3, 4], 'batchnorm');
    return x!;
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
  kernel: (ctx) => batchnormKernel(ctx),
  channelSlice: perChannelSlice,
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
