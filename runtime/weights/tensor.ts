// HostTensor / StateDict: plain CPU-side tensors as read from weight files.
// Data is stored row-major (C order), little-endian in host typed arrays. f16 and bf16 keep their raw
// 16-bit patterns in a Uint16Array; `toFloat32` decodes any numeric dtype to float32.

export type DType =
  'f64' | 'f32' | 'f16' | 'bf16' | 'i64' | 'u64' | 'i32' | 'u32' | 'i16' | 'u16' | 'i8' | 'u8' | 'bool';

/** Typed-array class used to hold each dtype. */
export interface DTypeData {
  f64: Float64Array;
  f32: Float32Array;
  f16: Uint16Array;
  bf16: Uint16Array;
  i64: BigInt64Array;
  u64: BigUint64Array;
  i32: Int32Array;
  u32: Uint32Array;
  i16: Int16Array;
  u16: Uint16Array;
  i8: Int8Array;
  u8: Uint8Array;
  bool: Uint8Array;
}

export type TensorData = DTypeData[DType];

/** A tensor on the host. Discriminated by `dtype`, so `t.dtype === 'f32'` narrows `t.data` to Float32Array. */
export type HostTensor<D extends DType = DType> = {
  [K in D]: { dtype: K; shape: number[]; data: DTypeData[K] };
}[D];

/** Parameter/buffer name → tensor, in file order. */
export type StateDict = Map<string, HostTensor>;

export const DTYPE_SIZE: Readonly<Record<DType, number>> = {
  f64: 8,
  f32: 4,
  f16: 2,
  bf16: 2,
  i64: 8,
  u64: 8,
  i32: 4,
  u32: 4,
  i16: 2,
  u16: 2,
  i8: 1,
  u8: 1,
  bool: 1,
};

type AnyTypedArrayCtor = {
  new (length: number): TensorData;
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): TensorData;
  readonly BYTES_PER_ELEMENT: number;
};

const CTORS: Readonly<Record<DType, AnyTypedArrayCtor>> = {
  f64: Float64Array,
  f32: Float32Array,
  f16: Uint16Array,
  bf16: Uint16Array,
  i64: BigInt64Array,
  u64: BigUint64Array,
  i32: Int32Array,
  u32: Uint32Array,
  i16: Int16Array,
  u16: Uint16Array,
  i8: Int8Array,
  u8: Uint8Array,
  bool: Uint8Array,
};

export function isDType(s: string): s is DType {
  return Object.prototype.hasOwnProperty.call(DTYPE_SIZE, s);
}

/** Number of elements of a shape (1 for a scalar `[]`). */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Allocates a zero-filled array of `length` elements for `dtype`. */
export function allocData<D extends DType>(dtype: D, length: number): DTypeData[D] {
  return new CTORS[dtype](length) as DTypeData[D];
}

/** A typed-array view over `buffer` (byteOffset must be a multiple of the element size). */
export function viewData<D extends DType>(
  dtype: D,
  buffer: ArrayBufferLike,
  byteOffset: number,
  length: number,
): DTypeData[D] {
  return new CTORS[dtype](buffer, byteOffset, length) as DTypeData[D];
}

/**
 * Typed array for `dtype` holding the `length` elements at `bytes[byteOffset..]` (little-endian).
 * A zero-copy view when the absolute offset is aligned and the host is little-endian, a copy otherwise.
 */
export function dataFromBytes<D extends DType>(
  dtype: D,
  bytes: Uint8Array,
  byteOffset: number,
  length: number,
  opts?: { copy?: boolean; bigEndian?: boolean },
): DTypeData[D] {
  const es = DTYPE_SIZE[dtype];
  const nbytes = length * es;
  const swap = (opts?.bigEndian ?? false) === HOST_LITTLE_ENDIAN;
  const abs = bytes.byteOffset + byteOffset;
  if (!opts?.copy && !swap && abs % es === 0) {
    return viewData(dtype, bytes.buffer, abs, length);
  }
  const out = allocData(dtype, length);
  const outBytes = new Uint8Array(out.buffer, out.byteOffset, nbytes);
  outBytes.set(bytes.subarray(byteOffset, byteOffset + nbytes));
  if (swap) byteSwapInPlace(outBytes, es);
  return out;
}

export const HOST_LITTLE_ENDIAN: boolean = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Reverses the byte order of each `elementSize`-byte element. */
export function byteSwapInPlace(bytes: Uint8Array, elementSize: number): void {
  if (elementSize <= 1) return;
  for (let i = 0; i + elementSize <= bytes.length; i += elementSize) {
    for (let a = i, b = i + elementSize - 1; a < b; a++, b--) {
      const t = bytes[a];
      bytes[a] = bytes[b];
      bytes[b] = t;
    }
  }
}

/** The raw bytes of a tensor's data (a view, no copy). */
export function tensorBytes(t: HostTensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/** Decodes an IEEE 754 binary16 bit pattern. */
export function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24; // zero / subnormal
  if (e === 31) return m === 0 ? s * Infinity : NaN;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** Converts a tensor of any numeric dtype to float32 (a copy, except for f32 which is returned as is). */
export function toFloat32(t: HostTensor): Float32Array {
  switch (t.dtype) {
    case 'f32':
      return t.data;
    case 'f16': {
      const out = new Float32Array(t.data.length);
      for (let i = 0; i < out.length; i++) out[i] = f16ToF32(t.data[i]);
      return out;
    }
    case 'bf16': {
      // bf16 is the top half of a float32.
      const bits = new Uint32Array(t.data.length);
      for (let i = 0; i < bits.length; i++) bits[i] = t.data[i] << 16;
      return new Float32Array(bits.buffer);
    }
    case 'i64':
    case 'u64': {
      const src = t.data;
      const out = new Float32Array(src.length);
      for (let i = 0; i < out.length; i++) out[i] = Number(src[i]);
      return out;
    }
    default:
      return Float32Array.from(t.data);
  }
}

/** Short description like `f32[4,3,3,3]` for messages. */
export function describeTensor(t: { dtype: DType; shape: readonly number[] }): string {
  return `${t.dtype}[${t.shape.join(',')}]`;
}
