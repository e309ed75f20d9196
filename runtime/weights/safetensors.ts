// safetensors reader/writer (https://github.com/huggingface/safetensors, format as of v0.4):
//   [u64 little-endian N][N bytes UTF-8 JSON header, padded with spaces][data section]
// Header: { "<name>": { "dtype": "F32", "shape": [..], "data_offsets": [begin, end] }, ...,
//           "__metadata__": { "<str>": "<str>" } }   (offsets relative to the data section).
// The reader validates everything the reference implementation validates (offsets contiguous, no holes,
// covering the whole data section; byte size = numel × element size) and never throws anything but a
// WeightsError. Tensors are zero-copy views into `bytes` when aligned, copies otherwise.

import { WeightsError, describeFile, wrapUnexpected } from './errors.ts';
import {
  DTYPE_SIZE,
  dataFromBytes,
  numel,
  tensorBytes,
  type DType,
  type HostTensor,
  type StateDict,
} from './tensor.ts';

const ST_TO_DTYPE: Readonly<Record<string, DType>> = {
  F64: 'f64',
  F32: 'f32',
  F16: 'f16',
  BF16: 'bf16',
  I64: 'i64',
  U64: 'u64',
  I32: 'i32',
  U32: 'u32',
  I16: 'i16',
  U16: 'u16',
  I8: 'i8',
  U8: 'u8',
  BOOL: 'bool',
};

const DTYPE_TO_ST: Readonly<Record<DType, string>> = {
  f64: 'F64',
  f32: 'F32',
  f16: 'F16',
  bf16: 'BF16',
  i64: 'I64',
  u64: 'U64',
  i32: 'I32',
  u32: 'U32',
  i16: 'I16',
  u16: 'U16',
  i8: 'I8',
  u8: 'U8',
  bool: 'BOOL',
};

/** Same limit as the reference implementation: headers above 100 MB are refused. */
export const MAX_HEADER_BYTES = 100_000_000;

export interface SafetensorsFile {
  tensors: StateDict;
  metadata: Record<string, string>;
}

/** True when `bytes` plausibly starts a safetensors file (used for format sniffing). */
export function looksLikeSafetensors(bytes: Uint8Array): boolean {
  // Only the prefix is checked, so a truncated safetensors file is still recognised (and then reported
  // as truncated by readSafetensors).
  if (bytes.length < 9) return false;
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  return n >= 2n && n <= BigInt(MAX_HEADER_BYTES) && bytes[8] === 0x7b; /* { */
}

export function readSafetensors(bytes: Uint8Array, fileName?: string): SafetensorsFile {
  return wrapUnexpected(fileName, 'the safetensors file', () => readSafetensorsInner(bytes, fileName));
}

function readSafetensorsInner(bytes: Uint8Array, fileName: string | undefined): SafetensorsFile {
  const f = describeFile(fileName);
  const fail = (
    code: 'E_WEIGHTS_TRUNCATED' | 'E_WEIGHTS_CORRUPT' | 'E_WEIGHTS_DTYPE',
    what: string,
    todo?: string,
  ): never => {
    throw new WeightsError(
      code,
      `${f}: invalid safetensors file: ${what}. ${todo ?? 'The file is corrupt or not a safetensors file; re-download or re-export it.'}`,
      { file: fileName },
    );
  };
  if (bytes.length < 8) {
    fail(
      'E_WEIGHTS_TRUNCATED',
      `the file is ${bytes.length} bytes long, shorter than the 8-byte header-length prefix`,
    );
  }
  const n64 = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER_BYTES)) {
    fail(
      'E_WEIGHTS_CORRUPT',
      `the header length prefix says ${n64} bytes, above the ${MAX_HEADER_BYTES}-byte limit`,
    );
  }
  const n = Number(n64);
  if (8 + n > bytes.length) {
    fail(
      'E_WEIGHTS_TRUNCATED',
      `the header length prefix says ${n} bytes but only ${bytes.length - 8} bytes follow it (file truncated?)`,
    );
  }
  let headerText: string;
  try {
    headerText = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    return fail('E_WEIGHTS_CORRUPT', 'the JSON header is not valid UTF-8');
  }
  if (!headerText.startsWith('{')) fail('E_WEIGHTS_CORRUPT', 'the JSON header does not start with "{"');
  let header: unknown;
  try {
    header = JSON.parse(headerText);
  } catch (e) {
    return fail(
      'E_WEIGHTS_CORRUPT',
      `the JSON header does not parse (${e instanceof Error ? e.message : String(e)})`,
    );
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    return fail('E_WEIGHTS_CORRUPT', 'the JSON header is not an object');
  }
  const dataStart = 8 + n;
  const dataLen = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const entries: { name: string; dtype: DType; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof info !== 'object' || info === null || Array.isArray(info)) {
        fail('E_WEIGHTS_CORRUPT', '"__metadata__" is not an object of strings');
      }
      for (const [k, v] of Object.entries(info as Record<string, unknown>)) {
        if (typeof v !== 'string') fail('E_WEIGHTS_CORRUPT', `"__metadata__"."${k}" is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    if (typeof info !== 'object' || info === null || Array.isArray(info)) {
      return fail('E_WEIGHTS_CORRUPT', `the entry for tensor "${name}" is not an object`);
    }
    const rec = info as Record<string, unknown>;
    const st = rec.dtype;
    if (typeof st !== 'string') return fail('E_WEIGHTS_CORRUPT', `tensor "${name}" has no "dtype" string`);
    const dtype = Object.prototype.hasOwnProperty.call(ST_TO_DTYPE, st) ? ST_TO_DTYPE[st] : undefined;
    if (dtype === undefined) {
      return fail(
        'E_WEIGHTS_DTYPE',
        `tensor "${name}" has dtype "${st}", which is not supported (supported: ${Object.keys(ST_TO_DTYPE).join(', ')})`,
        'Convert the tensor to F32 (or F16/BF16) before exporting.',
      );
    }
    const shape = rec.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      return fail(
        'E_WEIGHTS_CORRUPT',
        `tensor "${name}" has an invalid "shape" (expected an array of non-negative integers)`,
      );
    }
    const offs = rec.data_offsets;
    if (
      !Array.isArray(offs) ||
      offs.length !== 2 ||
      !offs.every((o) => Number.isSafeInteger(o) && (o as number) >= 0)
    ) {
      return fail('E_WEIGHTS_CORRUPT', `tensor "${name}" has invalid "data_offsets" (expected [begin, end])`);
    }
    const [begin, end] = offs as [number, number];
    if (end < begin)
      fail('E_WEIGHTS_CORRUPT', `tensor "${name}" has data_offsets [${begin}, ${end}] with end < begin`);
    if (end > dataLen) {
      fail(
        'E_WEIGHTS_TRUNCATED',
        `tensor "${name}" has data_offsets [${begin}, ${end}] but the data section is only ${dataLen} bytes (file truncated?)`,
      );
    }
    const shapeArr = shape as number[];
    const expectBytes = numel(shapeArr) * DTYPE_SIZE[dtype];
    if (end - begin !== expectBytes) {
      fail(
        'E_WEIGHTS_CORRUPT',
        `tensor "${name}" (${st}, shape [${shapeArr.join(', ')}]) needs ${expectBytes} bytes but its data_offsets ` +
          `[${begin}, ${end}] span ${end - begin}`,
      );
    }
    entries.push({ name, dtype, shape: [...shapeArr], begin, end });
  }
  // The data section must be covered exactly, without overlaps or holes.
  const byOffset = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  for (const e of byOffset) {
    if (e.begin !== pos) {
      fail(
        'E_WEIGHTS_CORRUPT',
        e.begin < pos
          ? `tensor "${e.name}" (data_offsets [${e.begin}, ${e.end}]) overlaps the previous tensor, which ends at ${pos}`
          : `there is a hole in the data section between byte ${pos} and tensor "${e.name}" starting at ${e.begin}`,
      );
    }
    pos = e.end;
  }
  if (pos !== dataLen) {
    fail(
      'E_WEIGHTS_CORRUPT',
      `the tensors cover ${pos} bytes of the data section but it is ${dataLen} bytes long`,
    );
  }
  const tensors: StateDict = new Map();
  for (const e of entries) {
    const data = dataFromBytes(e.dtype, bytes, dataStart + e.begin, numel(e.shape));
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data } as HostTensor);
  }
  return { tensors, metadata };
}

/**
 * Serialises `tensors` to safetensors bytes. The header lists tensors in map order; the data section is
 * laid out by decreasing element size (stable), so with the 8-aligned header every tensor is aligned to
 * its element size. The header is padded with spaces to a multiple of 8 bytes.
 */
export function writeSafetensors(tensors: StateDict, metadata?: Record<string, string>): Uint8Array {
  const names = [...tensors.keys()];
  for (const [name, t] of tensors) {
    if (name === '__metadata__') {
      throw new WeightsError(
        'E_WEIGHTS_CORRUPT',
        'cannot write safetensors: "__metadata__" is reserved and cannot be a tensor name.',
      );
    }
    const expect = numel(t.shape);
    if (t.data.length !== expect) {
      throw new WeightsError(
        'E_WEIGHTS_CORRUPT',
        `cannot write safetensors: tensor "${name}" has shape [${t.shape.join(', ')}] (${expect} elements) but ${t.data.length} data elements.`,
      );
    }
  }
  const layout = names
    .map((name, i) => ({ name, i, es: DTYPE_SIZE[tensors.get(name)!.dtype] }))
    .sort((a, b) => b.es - a.es || a.i - b.i);
  const offsets = new Map<string, [number, number]>();
  let pos = 0;
  for (const { name } of layout) {
    const t = tensors.get(name)!;
    const nb = t.data.byteLength;
    offsets.set(name, [pos, pos + nb]);
    pos += nb;
  }
  const header: Record<string, unknown> = {};
  if (metadata !== undefined && Object.keys(metadata).length > 0) header.__metadata__ = { ...metadata };
  for (const name of names) {
    const t = tensors.get(name)!;
    header[name] = { dtype: DTYPE_TO_ST[t.dtype], shape: t.shape, data_offsets: offsets.get(name) };
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded + pos);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);
  const dataStart = 8 + padded;
  for (const [name, [begin]] of offsets) {
    out.set(tensorBytes(tensors.get(name)!), dataStart + begin);
  }
  return out;
}
