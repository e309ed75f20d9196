// Gradient ops of the shape-level ops and of mul's per-channel factor:
//  - mean_grad(dy): mean's gradient, dy / size broadcast along the axis mean removed;
//  - slice(x): a range along one axis (the gradient of each input of a concat is its slice of dy);
//  - mul_grad_factor(dy, a): Σ_{h,w} dy · a per (sample, channel), the gradient of a per-channel factor b in
//    mul(a, b) with b [N, C] or [N, C, 1, 1]; a fixed-order tree sum per (sample, channel), no atomics.
import { defineOp, expectRank, perChannelSlice, ShapeError } from './op.ts';
import { refTensor, splitAt } from './ref.ts';
import { shapeToString } from '../ir/types.ts';
import { meanGradKernel, mulGradFactorKernel, sliceKernel } from '../codegen/wgsl/shape_grad.ts';

type MeanGradAttrs = { axis: number; size: number };
export const meanGrad = defineOp<MeanGradAttrs>({
  name: 'mean_grad',
  doc: "dx[…, k, …] = dy[…] / size: mean's gradient, broadcast along the axis it removed",
  arity: 1,
  noBackward: 'a gradient op',
  inferShape([dy], a) {
    if (!Number.isInteger(a.axis) || a.axis < 0 || a.axis > dy!.length)
      throw new ShapeError(
        `mean_grad axis ${a.axis} is out of range for a gradient ${shapeToString(dy!)}`,
        [0],
      );
    if (!Number.isInteger(a.size) || a.size < 1)
      throw new ShapeError(`mean_grad size must be a positive integer, got ${a.size}`);
    return [...dy!.slice(0, a.axis), a.size, ...dy!.slice(a.axis)];
  },
  reference([dy], _p, a, out) {
    const { outer, size, inner } = splitAt(out, a.axis);
    const dx = refTensor(out);
    for (let o = 0; o < outer; o++)
      for (let k = 0; k < size; k++)
        for (let i = 0; i < inner; i++) dx.data[(o * size + k) * inner + i] = dy.data[o * inner + i]! / size;
    return dx;
  },
  kernel: (ctx) => meanGradKernel(ctx),
});

type SliceAttrs = { axis: number; offset: number; size: number };
export const slice = defineOp<SliceAttrs>({
  name: 'slice',
  doc: 'y = x[…, offset : offset + size, …] along `axis` (the gradient of one input of a concat)',
  arity: 1,
  noBackward: 'a gradient op',
  inferShape([x], a) {
    if (!Number.isInteger(a.axis) || a.axis < 0 || a.axis >= x!.length)
      throw new ShapeError(`slice axis ${a.axis} is out of range for ${shapeToString(x!)}`, [0]);
    if (!(a.offset >= 0 && a.size >= 1 && a.offset + a.size <= x![a.axis]!))
      throw new ShapeError(
        `slice [${a.offset}, ${a.offset + a.size}) along axis ${a.axis} does not fit ${shapeToString(x!)}`,
        [0],
      );
    return x!.map((d, k) => (k === a.axis ? a.size : d));
  },
  reference([x], _p, a, out) {
    const { outer, size, inner } = splitAt(x.shape, a.axis);
    const y = refTensor(out);
    for (let o = 0; o < outer; o++)
      y.data.set(
        x.data.subarray((o * size + a.offset) * inner, (o * size + a.offset + a.size) * inner),
        o * a.size * inner,
      );
    return y;
  },
  kernel: (ctx) => sliceKernel(ctx),
});

type FactorAttrs = { keepdims: boolean };
export const mulGradFactor = defineOp<FactorAttrs>({
  name: 'mul_grad_factor',
  doc: 'db[n, c] = Σ_{h,w} dy[n, c, h, w] · a[n, c, h, w]: the gradient of a per-channel factor b in mul(a, b), [N, C] or [N, C, 1, 1] (keepdims)',
  arity: 2,
  noBackward: 'a gradient op',
  inferShape([dy, a], attrs) {
    expectRank(dy!, [4], 'mul_grad_factor');
    if (a!.length !== 4 || a!.some((d, k) => d !== dy![k]))
      throw new ShapeError(
        `mul_grad_factor needs the gradient and a of equal shapes, got ${shapeToString(dy!)} and ${shapeToString(a!)}`,
        [0, 1],
      );
    return attrs.keepdims ? [dy![0]!, dy![1]!, 1, 1] : [dy![0]!, dy![1]!];
  },
  reference([dy, a], _p, _a, out) {
    const [N, C, H, W] = dy.shape as [number, number, number, number];
    const db = refTensor(out);
    for (let nc = 0; nc < N * C; nc++) {
      let s = 0;
      for (let i = nc * H * W; i < (nc + 1) * H * W; i++) s += dy.data[i]! * a.data[i]!;
      db.data[nc] = s;
    }
    return db;
  },
  kernel: (ctx) => mulGradFactorKernel(ctx),
  channelSlice: perChannelSlice,
});
