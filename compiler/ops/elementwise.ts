// Pointwise ops: relu, sigmoid, add (equal shapes), mul (equal shapes, or a per-channel [N, C] or [N, C, 1, 1]
// factor broadcast over H×W, as EncNet's channel attention needs), affine (a per-channel scale and shift: what an
// inference batchnorm becomes when no conv takes it in) and copy. Each gives its WGSL expression (`pointwise`):
// the generic pointwise kernel runs it alone and any kernel's fused epilogue inlines it.
import {
  defineLayer,
  defineOp,
  ShapeError,
  type OpDef,
  type Pointwise,
  type TensorArg,
  perChannelSlice,
} from './op.ts';
import { shapeToString, type Attrs, type Shape } from '../ir/types.ts';
import { mapRef, refTensor } from './ref.ts';
import { pointwiseKernel } from '../codegen/wgsl/pointwise.ts';

/** An op record with a `pointwise` expression whose kernel is the generic pointwise kernel. */
export function pointwiseOp<A extends Attrs>(
  def: Omit<OpDef<A>, 'kernel' | 'pointwise'> & { pointwise: Pointwise<A> },
): OpDef<A> {
  const op: OpDef<A> = defineOp<A>({
    channelSlice: perChannelSlice,
    ...def,
    kernel: (ctx) => pointwiseKernel(op as OpDef, ctx),
  });
  return op;
}

const unary = (
  name: string,
  doc: string,
  f: (v: number) => number,
  wgsl: (x: string, elem: string) => string,
  backward: OpDef['backward'],
) =>
  pointwiseOp({
    name,
    doc,
    arity: 1,
    inferShape: ([x]) => x!,
    reference: ([x], _p, _a, out) => mapRef(x, out, f),
    pointwise: { primary: [0], wgsl: ([x], _a, elem) => wgsl(x!, elem) },
    backward,
  });

/** dy · g(y), a gradient through a unary op written in terms of its output y (relu, sigmoid). */
const outputGrad = (
  name: string,
  doc: string,
  g: (y: number) => number,
  wgsl: (y: string, elem: string) => string,
) =>
  pointwiseOp({
    name,
    doc,
    arity: 2,
    noBackward: 'a gradient op',
    inferShape([dy, y]) {
      if (!sameShape(dy!, y!)) throw new ShapeError(`${name} needs equal shapes`, [0, 1]);
      return dy!;
    },
    reference([dy, y], _p, _a, out) {
      const r = refTensor(out);
      for (let i = 0; i < r.data.length; i++) r.data[i] = dy.data[i]! * g(y.data[i]!);
      return r;
    },
    pointwise: { primary: [0], wgsl: ([dy, y], _a, elem) => `${dy} * ${wgsl(y!, elem)}` },
  });

/** relu's gradient: dy where the output is positive (the input was), else 0. */
export const reluGrad = outputGrad(
  'relu_grad',
  'dx = dy · [y > 0]',
  (y) => (y > 0 ? 1 : 0),
  (y, elem) => `select(${elem}(0.0), ${elem}(1.0), ${y} > ${elem}(0.0))`,
);
/** sigmoid's gradient: dy · y · (1 − y). */
export const sigmoidGrad = outputGrad(
  'sigmoid_grad',
  'dx = dy · y · (1 − y)',
  (y) => y * (1 - y),
  (y) => `(${y} * (1.0 - ${y}))`,
);

// relu keeps NaN (as torch.relu does): NaN < 0 is false.
export const relu = unary(
  'relu',
  'y = max(x, 0)',
  (v) => (v < 0 ? 0 : v),
  (x, elem) => `max(${x}, ${elem}(0.0))`,
  (c) => [c.add('relu_grad', [c.dy, c.out], [], {}, 'x')],
);
export const sigmoid = unary(
  'sigmoid',
  'y = 1 / (1 + exp(−x))',
  (v) => 1 / (1 + Math.exp(-v)),
  (x) => `1.0 / (1.0 + exp(-${x}))`,
  (c) => [c.add('sigmoid_grad', [c.dy, c.out], [], {}, 'x')],
);
/** The identity: a value copied into a buffer of its own (or a concat's slice) when it cannot be computed there. */
export const copy = unary(
  'copy',
  'y = x',
  (v) => v,
  (x) => x,
  (c) => [c.dy],
);

export const add = pointwiseOp({
  name: 'add',
  doc: 'y = a + b (equal shapes)',
  arity: 2,
  pointwise: { primary: [0, 1], wgsl: ([a, b]) => `${a} + ${b}` },
  backward: (c) => [c.dy, c.dy],
  inferShape([a, b]) {
    if (!sameShape(a!, b!))
      throw new ShapeError(
        `add needs equal shapes, got ${shapeToString(a!)} and ${shapeToString(b!)}`,
        [0, 1],
      );
    return a!;
  },
  reference([a, b], _p, _a, out) {
    const y = refTensor(out);
    for (let i = 0; i < y.data.length; i++) y.data[i] = a.data[i]! + b.data[i]!;
    return y;
  },
});

export const mul = pointwiseOp({
  name: 'mul',
  doc: 'y = a · b, b of equal shape or [N, C] / [N, C, 1, 1] broadcast over the spatial axes of a',
  arity: 2,
  // The factor b may be broadcast, so only a carries a chain's value (a · b with equal shapes is commutative,
  // but one primary keeps the rule simple).
  pointwise: { primary: [0], wgsl: ([a, b]) => `${a} * ${b}` },
  // da = dy · b (b broadcast as in the forward); db = dy · a, or Σ_{h,w} dy · a for a per-channel factor.
  backward(c) {
    const [a, b] = c.inputs as [number, number];
    const [sa, sb] = c.shapes.inputs as [Shape, Shape];
    const da = c.add('mul', [c.dy, b], [], {}, 'a');
    const db = sameShape(sa, sb)
      ? c.add('mul', [c.dy, a], [], {}, 'b')
      : c.add('mul_grad_factor', [c.dy, a], [], { keepdims: sb.length === 4 }, 'b');
    return [da, db];
  },
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
  // Channel slices cut a and b alike: b is either a's shape or a per-channel [N, C] / [N, C, 1, 1] factor.
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

/** y = x · scale[c] + shift[c]: an inference batchnorm that no conv could take in (scale and shift made at load). */
export const affine = pointwiseOp({
  name: 'affine',
  doc: 'y[n, c, …] = x[n, c, …] · scale[c] + shift[c]',
  arity: 1,
  inferShape([x]) {
    if (x!.length < 2)
      throw new ShapeError(`affine needs a tensor with channels, got ${shapeToString(x!)}`, [0]);
    return x!;
  },
  params: ([x]) => [
    { role: 'scale', shape: [x![1]!], init: { kind: 'ones' } },
    { role: 'shift', shape: [x![1]!], init: { kind: 'zeros' } },
  ],
  pointwise: { primary: [0], wgsl: ([x, s, t]) => `${x} * ${s} + ${t}` },
  noBackward: 'inference only: fold_batchnorm makes it from a batchnorm with running statistics',
  reference([x], [scale, shift], _a, out) {
    const C = x.shape[1]!;
    const inner = x.data.length / (x.shape[0]! * C);
    const y = refTensor(out);
    for (let i = 0; i < y.data.length; i++) {
      const c = Math.floor(i / inner) % C;
      y.data[i] = x.data[i]! * scale.data[c]! + shift.data[c]!;
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
