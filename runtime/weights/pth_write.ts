// PyTorch checkpoint writer: the zip serialization format `torch.save` writes by default since 1.6.
//
//   <archive>/data.pkl    pickle protocol 2 of the object; tensors as
//                         torch._utils._rebuild_tensor_v2(persistent_load(('storage', torch.FloatStorage, key,
//                         'cpu', numel)), offset, size, stride, False, collections.OrderedDict())
//   <archive>/byteorder   "little" (torch >= 2.0 writes it; `byteorderRecord: false` leaves it out as 1.13 does)
//   <archive>/data/<key>  raw little-endian storage bytes, one storage per tensor, keys "0", "1", … in order of
//                         first appearance, records in Python's sorted() order of the keys
//   <archive>/version     "3\n"
//
// Imitates torch's writer (caffe2/serialize/inline_container.cc over miniz) record for record: STORED entries,
// data aligned to 64 bytes by an "FB" extra field of 'Z's in the local header, data descriptors, DOS time 0,
// UTF-8 flag, a zip64 end-of-central-directory record and locator before the classic one. The pickle is what
// CPython's C pickler (protocol 2) writes for the same object: same opcodes, same memo (BINPUT after every str,
// tuple, list, dict, global and reduced object; BINGET on repeats), the same APPENDS/SETITEMS batches of 1000.
// So torch 1.13 re-saving what it loads from our file writes the same bytes (with byteorderRecord false; the
// tests check it). The output is a pure function of the input: same value, same bytes.
//
// Only opcodes and globals that torch 1.13's weights-only unpickler accepts are used for tensors, ints, str,
// bool, None, lists, tuples, dicts and OrderedDicts. Two exceptions, both torch 1.13 limits: floats are BINFLOAT
// (weights_only=True accepts them from torch 2.0 on) and bytes are `_codecs.encode(str, 'latin1')`.

import { WeightsError } from './errors.ts';
import {
  DTYPE_SIZE,
  HOST_LITTLE_ENDIAN,
  byteSwapInPlace,
  numel,
  type DType,
  type HostTensor,
} from './tensor.ts';

// ---------------------------------------------------------------------------------------------------------
// Value model

/** A Python float (always written as a float, even when integral: `pyFloat(0)` is `0.0`). */
export class PyFloat {
  constructor(readonly value: number) {}
}

/** `pyFloat(x)`: the Python float x. */
export function pyFloat(value: number): PyFloat {
  return new PyFloat(value);
}

/** `collections.OrderedDict` (a plain Map is a dict). Insertion-ordered, as both are in Python ≥ 3.7. */
export class OrderedDict<K extends PyKey = PyKey, V extends PyValue = PyValue> extends Map<K, V> {}

/** A tuple: a frozen array (the reader's convention too: `isTuple` in pickle.ts). */
export function pyTuple(...items: PyValue[]): readonly PyValue[] {
  return Object.freeze(items);
}

/** Hashable values usable as dict keys. */
export type PyKey = null | boolean | number | bigint | string | PyFloat | readonly PyKey[];

/**
 * What `writeTorchZip` can write.
 *  - `null` → None; `boolean` → bool
 *  - `number`: a safe integer → int, anything else (fractional, ±Infinity, NaN, beyond 2^53) → float;
 *    `bigint` → int; `PyFloat` → float
 *  - `string` → str; `Uint8Array` → bytes
 *  - array → list; frozen array (`pyTuple`, `Object.freeze([...])`) → tuple
 *  - `Map` → dict; `OrderedDict` → collections.OrderedDict (keys: see PyKey)
 *  - `HostTensor` → torch.Tensor (CPU, contiguous, requires_grad False); f32 f64 f16 bf16 i64 i32 i16 i8 u8
 *    bool (torch has no u16/u32/u64 storages)
 * The same object (by identity) written twice is pickled once and referenced (memo), as Python does.
 */
export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PyFloat
  | HostTensor
  | readonly PyValue[]
  | Map<PyKey, PyValue>;

export interface TorchZipOptions {
  /**
   * The top folder of every record. torch names it after the file (`model.pth` → `model/`) or `archive`
   * when saving to a buffer; readers ignore it. Default `archive`.
   */
  archiveName?: string;
  /** Write the `byteorder` record (torch ≥ 2.0 does; 1.13 does not; both read either). Default true. */
  byteorderRecord?: boolean;
  /** A faster CRC-32 (e.g. Node's zlib.crc32) than this file's portable one; same results. */
  crc32?: (bytes: Uint8Array) => number;
}

// ---------------------------------------------------------------------------------------------------------
// Pickler

const STORAGE_TYPES: Partial<Record<DType, string>> = {
  f32: 'FloatStorage',
  f64: 'DoubleStorage',
  f16: 'HalfStorage',
  bf16: 'BFloat16Storage',
  i64: 'LongStorage',
  i32: 'IntStorage',
  i16: 'ShortStorage',
  i8: 'CharStorage',
  u8: 'ByteStorage',
  bool: 'BoolStorage',
};

/** Python's pickle.Pickler._BATCHSIZE. */
const BATCH = 1000;

const OP = {
  PROTO: 0x80,
  STOP: 0x2e,
  NONE: 0x4e,
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  BININT: 0x4a,
  BININT1: 0x4b,
  BININT2: 0x4d,
  LONG1: 0x8a,
  LONG4: 0x8b,
  BINFLOAT: 0x47,
  BINUNICODE: 0x58,
  EMPTY_LIST: 0x5d,
  EMPTY_DICT: 0x7d,
  EMPTY_TUPLE: 0x29,
  MARK: 0x28,
  APPEND: 0x61,
  APPENDS: 0x65,
  SETITEM: 0x73,
  SETITEMS: 0x75,
  TUPLE: 0x74,
  TUPLE1: 0x85,
  TUPLE2: 0x86,
  TUPLE3: 0x87,
  GLOBAL: 0x63,
  REDUCE: 0x52,
  BINPERSID: 0x51,
  BINPUT: 0x71,
  LONG_BINPUT: 0x72,
  BINGET: 0x68,
  LONG_BINGET: 0x6a,
} as const;

/** Growable byte buffer. */
class ByteSink {
  private buf = new Uint8Array(1024);
  private dv = new DataView(this.buf.buffer);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.length + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.dv = new DataView(next.buffer);
  }
  u8(v: number): void {
    this.reserve(1);
    this.buf[this.length++] = v;
  }
  u16(v: number): void {
    this.reserve(2);
    this.dv.setUint16(this.length, v, true);
    this.length += 2;
  }
  u32(v: number): void {
    this.reserve(4);
    this.dv.setUint32(this.length, v, true);
    this.length += 4;
  }
  i32(v: number): void {
    this.reserve(4);
    this.dv.setInt32(this.length, v, true);
    this.length += 4;
  }
  u64(v: number): void {
    this.reserve(8);
    this.dv.setBigUint64(this.length, BigInt(v), true);
    this.length += 8;
  }
  f64be(v: number): void {
    this.reserve(8);
    this.dv.setFloat64(this.length, v, false);
    this.length += 8;
  }
  bytes(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }
  /** The written bytes (a copy, exactly `length` long). */
  result(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

/** UTF-8 with lone surrogates encoded as themselves (Python's 'surrogatepass'; TextEncoder would drop them). */
function utf8SurrogatePass(s: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      }
    }
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return Uint8Array.from(out);
}

const ASCII = /^[\x00-\x7f]*$/;
const textEncoder = new TextEncoder();

function encodeStr(s: string): Uint8Array {
  return ASCII.test(s) ? textEncoder.encode(s) : utf8SurrogatePass(s);
}

/** Python's pickle.encode_long: minimal two's-complement little-endian bytes (empty for 0). */
function encodeLong(x: bigint): Uint8Array {
  if (x === 0n) return new Uint8Array(0);
  const bitLength = (x < 0n ? -x : x).toString(2).length; // Python's x.bit_length()
  const nbytes = (bitLength >> 3) + 1;
  const out = new Uint8Array(nbytes);
  let v = x < 0n ? (1n << BigInt(8 * nbytes)) + x : x;
  for (let i = 0; i < nbytes; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  if (x < 0n && nbytes > 1 && out[nbytes - 1] === 0xff && (out[nbytes - 2] & 0x80) !== 0) {
    return out.subarray(0, nbytes - 1);
  }
  return out;
}

export function isHostTensor(v: unknown): v is HostTensor {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Map) return false;
  const t = v as { dtype?: unknown; shape?: unknown; data?: unknown };
  return typeof t.dtype === 'string' && Array.isArray(t.shape) && ArrayBuffer.isView(t.data);
}

/** One storage of the archive: its key and raw little-endian bytes. */
export interface TorchStorageRecord {
  key: string;
  bytes: Uint8Array;
}

function writeError(what: string): WeightsError {
  return new WeightsError('E_WEIGHTS_NOT_STATE_DICT', `cannot write the PyTorch checkpoint: ${what}.`);
}

/** Row-major strides as torch computes them (a size-0 dimension counts as 1). */
function contiguousStrides(shape: readonly number[]): number[] {
  const stride = new Array<number>(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    stride[d] = s;
    s *= Math.max(shape[d], 1);
  }
  return stride;
}

/** The raw little-endian bytes of a tensor's data (a view when possible). */
function storageBytes(t: HostTensor): Uint8Array {
  const raw = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  if (t.dtype === 'bool') {
    // torch's bool storage holds 0/1 bytes
    return raw.every((b) => b <= 1) ? raw : raw.map((b) => (b ? 1 : 0));
  }
  if (HOST_LITTLE_ENDIAN) return raw;
  const copy = raw.slice();
  byteSwapInPlace(copy, DTYPE_SIZE[t.dtype]);
  return copy;
}

/**
 * Pickles `obj` as torch.save does (protocol 2, tensors through persistent ids). Returns the pickle and the
 * storages in order of their keys' first appearance.
 */
export function pickleForTorch(obj: PyValue): { pickle: Uint8Array; storages: TorchStorageRecord[] } {
  const out = new ByteSink();
  const memoByObject = new Map<object, number>();
  const memoByString = new Map<string, number>();
  const memoByGlobal = new Map<string, number>();
  let memoSize = 0;
  const storages: TorchStorageRecord[] = [];
  const tuplesInProgress = new Set<object>();
  const path: string[] = [];
  const where = (): string => (path.length ? ` at ${path.join('')}` : '');

  const put = (): number => {
    const idx = memoSize++;
    if (idx < 256) {
      out.u8(OP.BINPUT);
      out.u8(idx);
    } else {
      out.u8(OP.LONG_BINPUT);
      out.u32(idx);
    }
    return idx;
  };
  const get = (idx: number): void => {
    if (idx < 256) {
      out.u8(OP.BINGET);
      out.u8(idx);
    } else {
      out.u8(OP.LONG_BINGET);
      out.u32(idx);
    }
  };

  const saveInt = (x: number | bigint): void => {
    if (typeof x === 'number') {
      if (x >= 0 && x <= 0xff) {
        out.u8(OP.BININT1);
        out.u8(x);
        return;
      }
      if (x >= 0 && x <= 0xffff) {
        out.u8(OP.BININT2);
        out.u16(x);
        return;
      }
      if (x >= -0x80000000 && x <= 0x7fffffff) {
        out.u8(OP.BININT);
        out.i32(x);
        return;
      }
      x = BigInt(x);
    }
    if (x >= -0x80000000n && x <= 0x7fffffffn) {
      saveInt(Number(x));
      return;
    }
    const enc = encodeLong(x);
    if (enc.length >= 256) {
      // LONG4 is not accepted by torch 1.13's weights-only unpickler; no checkpoint needs such an int.
      throw writeError(`the int${where()} needs ${enc.length} bytes (at most 255 are supported)`);
    }
    out.u8(OP.LONG1);
    out.u8(enc.length);
    out.bytes(enc);
  };

  const saveStr = (s: string): void => {
    const m = memoByString.get(s);
    if (m !== undefined) {
      get(m);
      return;
    }
    const b = encodeStr(s);
    out.u8(OP.BINUNICODE);
    out.u32(b.length);
    out.bytes(b);
    memoByString.set(s, put());
  };

  const saveGlobal = (module: string, name: string): void => {
    const q = `${module}\n${name}\n`;
    const m = memoByGlobal.get(q);
    if (m !== undefined) {
      get(m);
      return;
    }
    out.u8(OP.GLOBAL);
    out.bytes(textEncoder.encode(q));
    memoByGlobal.set(q, put());
  };

  /** A tuple built from already-known parts (fresh each time, like the tuples torch builds). */
  const saveFreshTuple = (items: (() => void)[]): void => {
    const n = items.length;
    if (n === 0) {
      out.u8(OP.EMPTY_TUPLE);
      return;
    }
    if (n <= 3) {
      for (const f of items) f();
      out.u8(n === 1 ? OP.TUPLE1 : n === 2 ? OP.TUPLE2 : OP.TUPLE3);
    } else {
      out.u8(OP.MARK);
      for (const f of items) f();
      out.u8(OP.TUPLE);
    }
    put();
  };

  const saveTensor = (t: HostTensor): void => {
    const storageType = STORAGE_TYPES[t.dtype];
    if (storageType === undefined) {
      throw new WeightsError(
        'E_WEIGHTS_DTYPE',
        `cannot write the PyTorch checkpoint: the tensor${where()} is ${t.dtype}, which torch has no storage ` +
          'type for (supported: f32 f64 f16 bf16 i64 i32 i16 i8 u8 bool). Convert it first.',
      );
    }
    const shape = t.shape;
    if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw writeError(`the tensor${where()} has an invalid shape [${shape.join(', ')}]`);
    }
    const n = numel(shape);
    if (t.data.length !== n) {
      throw writeError(
        `the tensor${where()} has shape [${shape.join(', ')}] (${n} elements) but ${t.data.length} data elements`,
      );
    }
    const key = String(storages.length);
    storages.push({ key, bytes: storageBytes(t) });
    saveGlobal('torch._utils', '_rebuild_tensor_v2');
    saveFreshTuple([
      () => {
        // persistent id ('storage', torch.XStorage, key, 'cpu', numel), then BINPERSID
        saveFreshTuple([
          () => saveStr('storage'),
          () => saveGlobal('torch', storageType),
          () => saveStr(key),
          () => saveStr('cpu'),
          () => saveInt(n),
        ]);
        out.u8(OP.BINPERSID);
      },
      () => saveInt(0),
      () => saveFreshTuple(shape.map((d) => () => saveInt(d))),
      () => saveFreshTuple(contiguousStrides(shape).map((d) => () => saveInt(d))),
      () => out.u8(OP.NEWFALSE),
      () => {
        // backward_hooks: a fresh collections.OrderedDict()
        saveGlobal('collections', 'OrderedDict');
        out.u8(OP.EMPTY_TUPLE);
        out.u8(OP.REDUCE);
        put();
      },
    ]);
    out.u8(OP.REDUCE);
  };

  /**
   * Items in batches of 1000, exactly as CPython's C pickler does it:
   *  - 'list' (batch_list_exact): one item → APPEND; otherwise MARK … APPENDS per batch (a last batch of one too);
   *  - 'dict' (batch_dict_exact): one item → SETITEM; otherwise MARK … SETITEMS per batch, and one more (empty)
   *    batch after a full one, so a multiple of 1000 items ends with an empty MARK SETITEMS;
   *  - 'items' (batch_dict, an OrderedDict's items via __reduce__): MARK … SETITEMS per batch, a batch of one
   *    item as SETITEM, no empty batch.
   */
  const batched = <T>(
    kind: 'list' | 'dict' | 'items',
    items: readonly T[],
    save: (x: T, i: number) => void,
  ): void => {
    const one = kind === 'list' ? OP.APPEND : OP.SETITEM;
    const many = kind === 'list' ? OP.APPENDS : OP.SETITEMS;
    if (items.length === 0) return;
    if (items.length === 1 && kind !== 'items') {
      save(items[0], 0);
      out.u8(one);
      return;
    }
    let start = 0;
    for (;;) {
      const n = Math.min(BATCH, items.length - start);
      if (kind === 'items' && n === 0) return;
      if (kind === 'items' && n === 1) {
        save(items[start], start);
        out.u8(one);
        return;
      }
      out.u8(OP.MARK);
      for (let i = start; i < start + n; i++) save(items[i], i);
      out.u8(many);
      start += n;
      if (kind === 'list' ? start >= items.length : n < BATCH) return;
    }
  };

  const keyLabel = (k: PyKey): string =>
    typeof k === 'string' ? `[${JSON.stringify(k)}]` : `[${k instanceof PyFloat ? k.value : String(k)}]`;

  const save = (v: PyValue): void => {
    if (v === null) {
      out.u8(OP.NONE);
      return;
    }
    if (typeof v === 'boolean') {
      out.u8(v ? OP.NEWTRUE : OP.NEWFALSE);
      return;
    }
    if (typeof v === 'number') {
      if (Number.isSafeInteger(v)) saveInt(v === 0 ? 0 : v);
      else {
        out.u8(OP.BINFLOAT);
        out.f64be(v);
      }
      return;
    }
    if (typeof v === 'bigint') {
      saveInt(v);
      return;
    }
    if (typeof v === 'string') {
      saveStr(v);
      return;
    }
    if (v instanceof PyFloat) {
      out.u8(OP.BINFLOAT);
      out.f64be(v.value);
      return;
    }
    if (typeof v !== 'object') throw writeError(`a ${typeof v}${where()} is not a Python value`);
    const m = memoByObject.get(v);
    if (m !== undefined) {
      get(m);
      return;
    }
    if (v instanceof Uint8Array) {
      // protocol 2 (Python 3): bytes as _codecs.encode(str, 'latin1')
      saveGlobal('_codecs', 'encode');
      let s = '';
      for (let i = 0; i < v.length; i += 8192)
        s += String.fromCharCode(...v.subarray(i, Math.min(v.length, i + 8192)));
      saveFreshTuple([() => saveStr(s), () => saveStr('latin1')]);
      out.u8(OP.REDUCE);
      memoByObject.set(v, put());
      return;
    }
    if (Array.isArray(v)) {
      const arr = v as readonly PyValue[];
      if (Object.isFrozen(arr)) {
        if (tuplesInProgress.has(arr)) throw writeError(`a tuple${where()} contains itself`);
        tuplesInProgress.add(arr);
        saveFreshTuple(
          arr.map((x, i) => () => {
            path.push(`[${i}]`);
            save(x);
            path.pop();
          }),
        );
        tuplesInProgress.delete(arr);
        if (arr.length > 0) memoByObject.set(arr, memoSize - 1);
        return;
      }
      out.u8(OP.EMPTY_LIST);
      memoByObject.set(arr, put());
      batched('list', arr, (x, i) => {
        path.push(`[${i}]`);
        save(x);
        path.pop();
      });
      return;
    }
    if (v instanceof Map) {
      if (v instanceof OrderedDict) {
        saveGlobal('collections', 'OrderedDict');
        out.u8(OP.EMPTY_TUPLE);
        out.u8(OP.REDUCE);
      } else {
        out.u8(OP.EMPTY_DICT);
      }
      memoByObject.set(v, put());
      batched(v instanceof OrderedDict ? 'items' : 'dict', [...v], ([k, x]) => {
        checkKey(k);
        save(k);
        path.push(keyLabel(k));
        save(x);
        path.pop();
      });
      return;
    }
    if (isHostTensor(v)) {
      saveTensor(v);
      memoByObject.set(v, put());
      return;
    }
    throw writeError(
      `${(v as object).constructor?.name ?? 'an object'}${where()} is not a Python value (None, bool, int, float, ` +
        'str, bytes, list, tuple, dict, OrderedDict or tensor)',
    );
  };

  const checkKey = (k: PyKey): void => {
    if (
      k === null ||
      typeof k === 'boolean' ||
      typeof k === 'number' ||
      typeof k === 'bigint' ||
      typeof k === 'string' ||
      k instanceof PyFloat ||
      (Array.isArray(k) && Object.isFrozen(k))
    )
      return;
    throw writeError(`a dict key${where()} is not hashable in Python (${describeJs(k)})`);
  };

  out.u8(OP.PROTO);
  out.u8(2);
  save(obj);
  out.u8(OP.STOP);
  return { pickle: out.result(), storages };
}

function describeJs(v: unknown): string {
  if (Array.isArray(v)) return 'a list';
  if (v instanceof Map) return 'a dict';
  if (isHostTensor(v)) return 'a tensor';
  return typeof v;
}

// ---------------------------------------------------------------------------------------------------------
// CRC-32 (IEEE, reflected, as zip uses), slice-by-8

const CRC_TABLES: Uint32Array[] = (() => {
  const t0 = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t0[n] = c >>> 0;
  }
  const tables = [t0];
  for (let k = 1; k < 8; k++) {
    const prev = tables[k - 1];
    const t = new Uint32Array(256);
    for (let n = 0; n < 256; n++) t[n] = (prev[n] >>> 8) ^ t0[prev[n] & 0xff];
    tables.push(t);
  }
  return tables;
})();

export function crc32(bytes: Uint8Array, crc = 0): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = CRC_TABLES;
  let c = ~crc >>> 0;
  let i = 0;
  const n = bytes.length;
  for (; i + 8 <= n; i += 8) {
    const a = (c ^ (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24))) >>> 0;
    c =
      t7[a & 0xff] ^
      t6[(a >>> 8) & 0xff] ^
      t5[(a >>> 16) & 0xff] ^
      t4[a >>> 24] ^
      t3[bytes[i + 4]] ^
      t2[bytes[i + 5]] ^
      t1[bytes[i + 6]] ^
      t0[bytes[i + 7]];
  }
  for (; i < n; i++) c = t0[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

// ---------------------------------------------------------------------------------------------------------
// Zip container, as PyTorchStreamWriter (miniz) writes it

const FIELD_ALIGNMENT = 64;
const LOCAL_HEADER = 30;
const ZIP32_LIMIT = 0xffffffff;

/** Python's sorted() on str keys: code-point order ("0" < "1" < "10" < "2"). */
function pySortKey(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The file as a list of chunks (their concatenation is the checkpoint); storage data is not copied. For large
 * checkpoints written to disk chunk by chunk.
 */
export function writeTorchZipChunks(obj: PyValue, opts: TorchZipOptions = {}): Uint8Array[] {
  const archive = opts.archiveName ?? 'archive';
  if (archive === '' || /[/\\\x00]/.test(archive) || archive === '.' || archive === '..') {
    throw writeError(`the archive name ${JSON.stringify(archive)} is not a plain folder name`);
  }
  const { pickle, storages } = pickleForTorch(obj);
  const records: { name: string; data: Uint8Array }[] = [{ name: 'data.pkl', data: pickle }];
  if (opts.byteorderRecord ?? true) records.push({ name: 'byteorder', data: textEncoder.encode('little') });
  for (const s of [...storages].sort((a, b) => pySortKey(a.key, b.key)))
    records.push({ name: `data/${s.key}`, data: s.bytes });
  records.push({ name: 'version', data: textEncoder.encode('3\n') });

  const chunks: Uint8Array[] = [];
  const central = new ByteSink();
  let cursor = 0;
  for (const r of records) {
    const name = encodeStr(`${archive}/${r.name}`);
    const size = r.data.length;
    const start = cursor + LOCAL_HEADER + name.length + 4; // data start without padding ("FB" + u16 length)
    const padding = (FIELD_ALIGNMENT - (start % FIELD_ALIGNMENT)) % FIELD_ALIGNMENT;
    const descriptor = size > 0;
    if (cursor + LOCAL_HEADER + name.length + 4 + padding + size + 16 >= ZIP32_LIMIT) {
      throw new WeightsError(
        'E_WEIGHTS_IO',
        'cannot write the PyTorch checkpoint: it would be 4 GiB or more, which this writer does not support ' +
          '(no zip64 entries). Save fewer tensors per file.',
      );
    }
    const flags = descriptor ? 0x0808 : 0x0800; // bit 3: sizes and CRC in a data descriptor; bit 11: UTF-8
    const crc = (opts.crc32 ?? crc32)(r.data);
    const h = new ByteSink();
    h.u32(0x04034b50);
    h.u16(0); // version needed (miniz writes 0)
    h.u16(flags);
    h.u16(0); // stored
    h.u16(0); // time
    h.u16(0); // date
    h.u32(0); // crc, sizes: in the data descriptor
    h.u32(0);
    h.u32(0);
    h.u16(name.length);
    h.u16(padding + 4);
    h.bytes(name);
    h.u8(0x46); // 'F'
    h.u8(0x42); // 'B'
    h.u16(padding);
    h.bytes(new Uint8Array(padding).fill(0x5a)); // 'Z'
    chunks.push(h.result());
    if (size > 0) chunks.push(r.data);
    if (descriptor) {
      const d = new ByteSink();
      d.u32(0x08074b50);
      d.u32(crc);
      d.u32(size);
      d.u32(size);
      chunks.push(d.result());
    }
    central.u32(0x02014b50);
    central.u16(0); // version made by
    central.u16(0); // version needed
    central.u16(flags);
    central.u16(0);
    central.u16(0);
    central.u16(0);
    central.u32(crc);
    central.u32(size);
    central.u32(size);
    central.u16(name.length);
    central.u16(0); // extra
    central.u16(0); // comment
    central.u16(0); // disk
    central.u16(0); // internal attributes
    central.u32(0); // external attributes
    central.u32(cursor);
    central.bytes(name);
    cursor += LOCAL_HEADER + name.length + 4 + padding + size + (descriptor ? 16 : 0);
  }
  const cdOffset = cursor;
  const cdSize = central.length;
  const n = records.length;
  const end = central;
  // zip64 end of central directory record and locator (miniz writes them), then the classic record
  end.u32(0x06064b50);
  end.u64(44);
  end.u16(0x031e); // version made by
  end.u16(0x002d); // version needed (4.5)
  end.u32(0);
  end.u32(0);
  end.u64(n);
  end.u64(n);
  end.u64(cdSize);
  end.u64(cdOffset);
  end.u32(0x07064b50);
  end.u32(0);
  end.u64(cdOffset + cdSize);
  end.u32(1);
  end.u32(0x06054b50);
  end.u16(0);
  end.u16(0);
  end.u16(n);
  end.u16(n);
  end.u32(cdSize);
  end.u32(cdOffset);
  end.u16(0);
  chunks.push(end.result());
  return chunks;
}

/**
 * Serialises `obj` as a PyTorch zip checkpoint (what `torch.save(obj, f)` writes). Deterministic.
 * Throws WeightsError on values Python cannot represent here (see PyValue) and on files of 4 GiB or more.
 */
export function writeTorchZip(obj: PyValue, opts: TorchZipOptions = {}): Uint8Array {
  const chunks = writeTorchZipChunks(obj, opts);
  const out = new Uint8Array(chunks.reduce((a, c) => a + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/** A state dict as the OrderedDict `model.state_dict()` is. */
export function stateDictToPy(sd: ReadonlyMap<string, HostTensor>): OrderedDict<string, HostTensor> {
  return new OrderedDict(sd);
}
