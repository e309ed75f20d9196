// Elementwise ops: relu, sigmoid, add (equal shapes) and mul (equal shapes, or a per-channel [N, C] or
// [N, C, 1, 1] factor broadcast over H×W, as EncNet's channel attention needs).
import { defineLayer, defineOp, ShapeError, type TensorArg } from './op.ts';
import { shapeToString, type Shape } from '../ir/types.ts';

const unary = (name: string, doc: string) =>
  defineOp({ name, doc, arity: 1, elementwise: true, inferShape: ([x]) => x! });

export const relu = unary('relu', 'y = max(x, 0)');
export const sigmoid = unary('sigmoid', 'y = 1 / (1 + exp(−x))');

export const add = defineOp({
  name: 'add',
  doc: 'y = a + b (equal shapes)',
  arity: 2,
  elementwise: true,
  inferShape([a, b]) {
    if (!sameShape(a!, b!)) throw new ShapeError(`add needs equal shapes, got ${shapeToString(a!)} and ${shapeToString(b!)}`, [0, 1]);
    return a!;
  },
});

export const mul = defineOp({
  name: 'mul',
  doc: 'y = a · b, b of equal shape or [N, C] / [N, C, 1, 1] broadcast over the spatial axes of a',
  arity: 2,
  inferShape([a, b]) {
    if (sameShape(a!, b!)) return a!;
    const channelFactor =
      a!.length === 4 && b![0] === a![0] && b![1] === a![1] && (b!.length === 2 || (b!.length === 4 && b![2] === 1 && b![3] === 1));
    if (!channelFactor)
      throw new ShapeError(
        `mul needs equal shapes or a per-channel factor [N, C] for [N, C, H, W]; got ${shapeToString(a!)} and ${shapeToString(b!)}`,
        [0, 1],
      );
    return a!;
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
