// Helpers for the float64 CPU reference (the `reference` field of every op): making tensors and walking shapes.
// Kept apart from the op records so that every op file and the interpreter can share them without a cycle.
import { numel, shapeToString, type Shape } from '../ir/types.ts';
import type { RefTensor } from './op.ts';

/** A reference tensor of `shape`: zeros, or the given row-major values (copied to float64; length checked). */
export function refTensor(shape: Shape, data?: ArrayLike<number>): RefTensor {
  const n = numel(shape);
  if (data === undefined) return { shape: [...shape], data: new Float64Array(n) };
  if (data.length !== n)
    throw new Error(`refTensor: ${data.length} values for shape ${shapeToString(shape)} (${n} expected)`);
  return { shape: [...shape], data: Float64Array.from(data) };
}

/** Product of the dimensions before `axis` (outer), the dimension itself, and the product after it (inner). */
export function splitAt(shape: Shape, axis: number): { outer: number; size: number; inner: number } {
  return { outer: numel(shape.slice(0, axis)), size: shape[axis]!, inner: numel(shape.slice(axis + 1)) };
}

/** Applies `f` to every element: the reference of a unary elementwise op. */
export function mapRef(x: RefTensor, out: Shape, f: (v: number) => number): RefTensor {
  const y = new Float64Array(x.data.length);
  const xd = x.data;
  for (let i = 0; i < xd.length; i++) y[i] = f(xd[i]!);
  return { shape: [...out], data: y };
}
