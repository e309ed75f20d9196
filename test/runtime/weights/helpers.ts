// Shared helpers for the weights tests: fixture loading and exact (bitwise) comparisons.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { WeightsError } from '../../../runtime/weights/errors.ts';
import { toFloat32, type HostTensor } from '../../../runtime/weights/tensor.ts';

export const FIXTURES = fileURLToPath(new URL('../../fixtures/pth/', import.meta.url));

export function fixture(name: string): Uint8Array {
  const b = readFileSync(FIXTURES + name);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

export interface ExpectedTensorJson {
  dtype: 'f32' | 'f16' | 'i64';
  shape: number[];
  values: number[];
}

export interface ExpectedJson {
  tensors: Record<string, ExpectedTensorJson>;
  order: string[];
  extra: { epoch: number; best_pred: number };
  views: Record<string, ExpectedTensorJson>;
  pwned_marker: string;
  strides: Record<string, number[]>;
  storage_offsets: Record<string, number>;
}

export const EXPECTED: ExpectedJson = JSON.parse(
  readFileSync(FIXTURES + 'expected.json', 'utf8'),
) as ExpectedJson;

const bits32 = (a: Float32Array): number[] => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

/** Asserts dtype, shape and exact values (bitwise for floats, so -0 and denormals count). */
export function expectTensor(got: HostTensor | undefined, exp: ExpectedTensorJson, name: string): void {
  expect(got, name).toBeDefined();
  const t = got!;
  expect(t.dtype, name).toBe(exp.dtype);
  expect(t.shape, name).toEqual(exp.shape);
  expect(t.data.length, name).toBe(exp.values.length);
  if (t.dtype === 'i64') {
    expect(Array.from(t.data), name).toEqual(exp.values.map((v) => BigInt(v)));
  } else if (t.dtype === 'f32') {
    expect(bits32(t.data), name).toEqual(bits32(Float32Array.from(exp.values)));
  } else {
    expect(bits32(toFloat32(t)), name).toEqual(bits32(Float32Array.from(exp.values)));
  }
}

/** Runs fn and returns the WeightsError it throws (fails the test for any other outcome). */
export function catchWeightsError(fn: () => unknown): WeightsError {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof WeightsError)) {
      throw new Error(
        `expected a WeightsError, got ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`,
      );
    }
    return e;
  }
  throw new Error('expected a WeightsError, but nothing was thrown');
}

/** Deterministic mulberry32 for fuzz positions. */
export function fuzzRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
