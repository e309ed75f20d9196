// Elementwise ops: relu, sigmoid, add (equal shapes) and mul (equal shapes, or a per-channel [N, C] or
// [N, C, 1, 1] factor broadcast over H×W, as EncNet's channel attention needs).
import { defineLayer, defineOp, ShapeError, type TensorArg, perChannelSlice } from './op.ts';
import { shapeToString, type Shape } from '../ir/types.ts';
import { mapRef, refTensor } from './ref.ts';
import { binaryKernel, unaryKernel } from '../codegen/wgsl/elementwise.ts';

const unary = (name: string, doc: string, f: (v: number) => number) =>
  defineOp({
    name,
    doc,
    arity: 1,
    elementwise: true,
    inferShape: ([x]) => x!,
    reference: ([x], _p, _a, out) => mapRef(x, out, f),
    kernel: (ctx) => unaryKernel(name, ctx),
    channelSlice: perChannelSlice,
  });

// relu keeps NaN (as torch.relu does): NaN < 0 is false.
export const relu = unary('relu', 'y = max(x, 0)', (v) => (v < 0 ? 0 : v));
export const sigmoid = unary('sigmoid', 'y = 1 / (1 + exp(−x))', (v) => 1 / (1 + Math.exp(-v)));

export const add = defineOp({
  name: 'add',
  doc: 'y = a + b (equal shapes)',
  arity: 2,
  elementwise: true,
  inferShape([a, b]) {
    if (!sameShape(a!, b!))
      throw new ShapeError(
        `add needs equal shapes, got ${shapeToString(a!)} and ${shapeToString(b!)}`,
        [0, 1],
      );
    return a!;
  },
  kernel: (ctx) => binaryKernel('add', ctx),
  channelSlice: perChannelSlice,
  reference([a, b], _p, _a, out) {
    const y = refTensor(out);
    for (let i = 0; i < y.data.length; i++) y.data[i] = a.data[i]! + b.data[i]!;
    return y;
  },
});

export const mul = defineOp({
  name: 'mul',
  doc: 'y = a · b, b of equal shape or [N, C] / [N, C, 1, 1] broadcast over the spatial axes of a',
  arity: 2,
  inferShape([a, b]) {
    if (sameShape(a!, b!)) return a!;
    const channelFactor =
      a!.length === 4 &&
      b![0] === a![0] &&
      b![1] === a![1] &&
      (b!.length === 2 || (b!.length === 4 && b![2] === 1 && b![3] === 1));
    if (!channelFactor)
      throw new ShapeError(
        `mul needs equal shapes or a per-channel factor [N, C] for [N, C, H, W]; got ${shapeToString(a!)} and ${shapeToString(b!)}`,
        [0, 1],
      );
    return a!;
  },
  kernel: (ctx) => binaryKernel('mul', ctx),
  // a and b are cut alike: b is either a's shape or a per-channel [N, C] / [N, C, 1, 1] factor.
  channelSlice: perChannelSlice,
  reference([a, b], _p, _a, out) {
    const y = refTensor(out);
    if (sameShape(a.shape, b.shape)) {
      for (let i = 0; i < y.data.length; i++) y.data[i] = a.data[i]! * b.data[i]!;
      return y;
    }
    // b is a per-(n, c) factor: index n·C + c for both [N, C] and [N, C, 1, 1].
    const [N, C, H, W] = a.shape as [number, number, number, number];
    for (let nc = 0; nc < N * C; nc++) {
      const f = b.data[nc]!;
      for (let i = nc * H * W; i < (nc + 1) * H * W; i++) y.data[i] = a.data[i]! * f;
    }
    return y;
  },
});

function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

const unaryLayer = (name: string, doc: string) =>
  defineLayer({
    name,
    doc,
    params: [{ name: 'x', type: 'tensor', doc: 'input' }],
    build: (ctx, a) => ctx.op(name, [a.x as TensorArg], {}),
  });
const binaryLayer = (name: string, doc: string) =>
  defineLayer({
    name,
    doc,
    params: [
      { name: 'a', type: 'tensor', doc: 'left operand' },
      { name: 'b', type: 'tensor', doc: 'right operand' },
    ],
    build: (ctx, a) => ctx.op(name, [a.a as TensorArg, a.b as TensorArg], {}),
  });

export const reluLayer = unaryLayer('relu', 'Rectified linear unit.');
export const sigmoidLayer = unaryLayer('sigmoid', 'Logistic sigmoid.');
export const addLayer = binaryLayer('add', 'Elementwise sum of two tensors of equal shape.');
export const mulLayer = binaryLayer('mul', 'Elementwise product; b may be a per-channel factor [N, C].');
