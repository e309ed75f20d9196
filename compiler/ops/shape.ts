// Shape-level ops: concat along channels, mean over an axis, and dropout (identity at inference; in training
// it zeroes whole channels, as Dropout2d does in every FastFCN head).
import { defineLayer, defineOp, ShapeError, type TensorArg } from './op.ts';
import { shapeToString } from '../ir/types.ts';
import { refTensor, splitAt } from './ref.ts';
import { concatKernel, meanKernel } from '../codegen/wgsl/shape.ts';
import { pointwiseOp } from './elementwise.ts';

type ConcatAttrs = { axis: number };
export const concat = defineOp<ConcatAttrs>({
  name: 'concat',
  doc: 'join tensors along `axis`; every other dimension must agree',
  arity: 'variadic',
  inferShape(xs, a) {
    if (xs.length < 1) throw new ShapeError('concat needs at least one tensor');
    const first = xs[0]!;
    if (a.axis < 0 || a.axis >= first.length)
      throw new ShapeError(`concat axis ${a.axis} is out of range for a ${first.length}-D tensor`, [0]);
    let total = 0;
    xs.forEach((s, i) => {
      const ok = s.length === first.length && s.every((d, k) => k === a.axis || d === first[k]);
      if (!ok)
        throw new ShapeError(
          `concat along axis ${a.axis}: input ${i} has shape ${shapeToString(s)} but input 0 has ${shapeToString(first)}; all dimensions but axis ${a.axis} must agree`,
          [0, i],
        );
      total += s[a.axis]!;
    });
    return first.map((d, k) => (k === a.axis ? total : d));
  },
  kernel: (ctx) => concatKernel(ctx),
  // The gradient of input k is its slice of dy along the axis.
  backward(c) {
    let offset = 0;
    return c.shapes.inputs.map((s, k) => {
      const size = s[c.attrs.axis]!;
      const g = c.add('slice', [c.dy], [], { axis: c.attrs.axis, offset, size }, `x${k}`);
      offset += size;
      return g;
    });
  },
  reference(xs, _p, a, out) {
    const { outer, size, inner } = splitAt(out, a.axis);
    const y = refTensor(out);
    let offset = 0; // where the current input starts along the axis
    for (const x of xs) {
      const chunk = x.shape[a.axis]! * inner;
      for (let o = 0; o < outer; o++)
        y.data.set(x.data.subarray(o * chunk, (o + 1) * chunk), (o * size + offset) * inner);
      offset += x.shape[a.axis]!;
    }
    return y;
  },
});

export const concatLayer = defineLayer({
  name: 'concat',
  doc: 'Concatenate a list of tensors along an axis (channels by default).',
  params: [
    { name: 'xs', type: '[tensor]', doc: 'tensors to join, in order' },
    { name: 'axis', type: 'int', default: 1, min: 0, doc: 'axis to join along' },
  ],
  build(ctx, a) {
    return ctx.op('concat', a.xs as TensorArg[], { axis: a.axis as number });
  },
});

type MeanAttrs = { axis: number };
export const mean = defineOp<MeanAttrs>({
  name: 'mean',
  doc: 'mean over one axis, which is removed',
  arity: 1,
  inferShape([x], a) {
    if (a.axis < 0 || a.axis >= x!.length)
      throw new ShapeError(`mean axis ${a.axis} is out of range for shape ${shapeToString(x!)}`, [0]);
    return x!.filter((_, k) => k !== a.axis);
  },
  kernel: (ctx) => meanKernel(ctx),
  backward: (c) => [
    c.add('mean_grad', [c.dy], [], { axis: c.attrs.axis, size: c.shapes.inputs[0]![c.attrs.axis]! }, 'x'),
  ],
  reference([x], _p, a, out) {
    const { outer, size, inner } = splitAt(x.shape, a.axis);
    const y = refTensor(out);
    for (let o = 0; o < outer; o++)
      for (let i = 0; i < inner; i++) {
        let sum = 0;
        for (let k = 0; k < size; k++) sum += x.data[(o * size + k) * inner + i]!;
        y.data[o * inner + i] = sum / size;
      }
    return y;
  },
});

export const meanLayer = defineLayer({
  name: 'mean',
  doc: 'Mean over an axis (removing it).',
  params: [
    { name: 'x', type: 'tensor', doc: 'input' },
    { name: 'axis', type: 'int', min: 0, doc: 'axis to average over' },
  ],
  build(ctx, a) {
    return ctx.op('mean', [a.x as TensorArg], { axis: a.axis as number });
  },
});

type DropoutAttrs = { p: number; channelwise: boolean };
export const dropout = pointwiseOp<DropoutAttrs>({
  name: 'dropout',
  doc: 'identity at inference; in training zeroes (channels of) x with probability p and scales by 1/(1−p)',
  arity: 1,
  inferShape: ([x]) => x!,
  reference: ([x], _p, _a, out) => refTensor(out, x.data),
  // At inference dropout is the identity (the drop_dropout pass removes it before fusion).
  pointwise: { primary: [0], wgsl: ([x]) => x! },
  // The inference op is the identity.
  backward: (c) => [c.dy],
});

export const dropoutLayer = defineLayer({
  name: 'dropout',
  doc: 'Dropout; channelwise (Dropout2d) by default.',
  params: [
    { name: 'x', type: 'tensor', doc: 'input' },
    { name: 'p', type: 'float', min: 0, max: 1, exclusiveMax: true, doc: 'drop probability' },
    { name: 'channelwise', type: 'bool', default: true, doc: 'drop whole channels (Dropout2d)' },
  ],
  build(ctx, a) {
    return ctx.op('dropout', [a.x as TensorArg], { p: a.p as number, channelwise: a.channelwise as boolean });
  },
});
