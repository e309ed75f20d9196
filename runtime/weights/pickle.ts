// A SAFE, restricted unpickler for PyTorch checkpoints.
//
// It interprets the pickle opcodes (protocols 0-5, minus text strings) as a pure data-structure builder and
// NEVER executes anything: GLOBAL / STACK_GLOBAL / INST are resolved against a fixed allow-list of the few
// callables a state-dict checkpoint needs (OrderedDict, torch tensor rebuild functions, torch storage type
// tags, numpy scalars for `best_pred`), each *emulated* here in TypeScript. Any other global
// (`os.system`, `builtins.eval`, `__main__.Foo`, `torch.nn.modules.conv.Conv2d`, ...) is refused with
// WeightsError E_PICKLE_FORBIDDEN before anything is built from it. Unknown opcodes are refused with
// E_PICKLE_OPCODE naming the byte and offset.
//
// Value mapping: None → null, bool → boolean, int → number (bigint outside the safe-integer range),
// float → number, str → string, bytes/bytearray → Uint8Array, list → PyValue[], tuple → frozen PyValue[],
// dict/OrderedDict → Map, set/frozenset → Set, tensors → PickledTensor, persistent ids → whatever
// `persistentLoad` returns (a PyObject subclass).

import { WeightsError, describeFile, wrapUnexpected } from './errors.ts';
import type { DType } from './tensor.ts';

/** Base class for the non-primitive objects an unpickle can produce. */
export abstract class PyObject {
  abstract describe(): string;
}

export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PyValue[]
  | Map<PyValue, PyValue>
  | Set<PyValue>
  | PyObject;

export type PyDict = Map<PyValue, PyValue>;

/** An allow-listed global (a storage type tag, a rebuild function, ...), as pushed by GLOBAL. */
export class PyGlobal extends PyObject {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {
    super();
  }
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
  describe(): string {
    return `<global ${this.qualified}>`;
  }
}

/** `torch.FloatStorage` & co. used as a type tag in persistent ids. */
export class TorchStorageType extends PyGlobal {
  constructor(
    module: string,
    name: string,
    readonly dtype: DType,
  ) {
    super(module, name);
  }
}

/** The result of `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)`. */
export class PickledTensor extends PyObject {
  constructor(
    readonly storage: PyValue,
    readonly storageOffset: number,
    readonly size: readonly number[],
    readonly stride: readonly number[],
    readonly requiresGrad: boolean,
  ) {
    super();
  }
  describe(): string {
    return `tensor of shape [${this.size.join(', ')}]`;
  }
}

/** `numpy.dtype(...)`, only to decode numpy scalars (FastFCN's `best_pred` is a numpy.float64). */
export class NumpyDType extends PyObject {
  byteorder = '=';
  constructor(readonly descr: string) {
    super();
  }
  describe(): string {
    return `<numpy dtype ${this.descr}>`;
  }
}

export function isTuple(v: PyValue): v is PyValue[] {
  return Array.isArray(v) && Object.isFrozen(v);
}

/** Python-ish type name of a value, for messages. */
export function pyTypeName(v: PyValue): string {
  if (v === null) return 'None';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  if (typeof v === 'bigint') return 'int';
  if (typeof v === 'string') return 'str';
  if (v instanceof Uint8Array) return 'bytes';
  if (Array.isArray(v)) return isTuple(v) ? 'tuple' : 'list';
  if (v instanceof Map) return 'dict';
  if (v instanceof Set) return 'set';
  return v.describe();
}

export interface UnpickleOptions {
  /** Offset of the first opcode in `bytes` (several pickles may be concatenated, as in legacy .pth). */
  offset?: number;
  fileName?: string;
  /** Called for BINPERSID / PERSID with the persistent id; required if the stream uses persistent ids. */
  persistentLoad?: (pid: PyValue) => PyValue;
}

export interface UnpickleResult {
  value: PyValue;
  /** Offset just past the STOP opcode. */
  end: number;
}

// ---------------------------------------------------------------------------------------------------------
// Allow-list. Each entry emulates the callable; nothing else can ever be referenced.

interface GlobalSpec {
  /** REDUCE / INST / OBJ: f(*args). */
  call?: (args: PyValue[], ctx: Ctx) => PyValue;
  /** NEWOBJ: cls.__new__(cls, *args). */
  newobj?: (args: PyValue[], ctx: Ctx) => PyValue;
  /** Value pushed for GLOBAL (default: a PyGlobal). */
  make?: (module: string, name: string) => PyGlobal;
}

interface Ctx {
  fail(what: string): never;
}

const STORAGE_DTYPES: Readonly<Record<string, DType>> = {
  FloatStorage: 'f32',
  DoubleStorage: 'f64',
  HalfStorage: 'f16',
  BFloat16Storage: 'bf16',
  LongStorage: 'i64',
  IntStorage: 'i32',
  ShortStorage: 'i16',
  CharStorage: 'i8',
  ByteStorage: 'u8',
  BoolStorage: 'bool',
};

function asInt(v: PyValue, what: string, ctx: Ctx): number {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  return ctx.fail(`${what} should be an int, got ${pyTypeName(v)}`);
}

function asIntTuple(v: PyValue, what: string, ctx: Ctx): number[] {
  if (!Array.isArray(v)) return ctx.fail(`${what} should be a tuple of ints, got ${pyTypeName(v)}`);
  return v.map((x, i) => asInt(x, `${what}[${i}]`, ctx));
}

function rebuildTensor(args: PyValue[], ctx: Ctx, fn: string): PyValue {
  if (args.length < 4) ctx.fail(`${fn} called with ${args.length} arguments, expected at least 4`);
  const [storage, offset, size, stride, requiresGrad] = args;
  if (!(storage instanceof PyObject)) {
    ctx.fail(`${fn}: the first argument should be a storage (a persistent id), got ${pyTypeName(storage)}`);
  }
  const sz = asIntTuple(size, `${fn} size`, ctx);
  const st = asIntTuple(stride, `${fn} stride`, ctx);
  if (sz.length !== st.length) ctx.fail(`${fn}: size has ${sz.length} dims but stride has ${st.length}`);
  if (sz.some((d) => d < 0) || st.some((d) => d < 0)) ctx.fail(`${fn}: negative size or stride`);
  return new PickledTensor(
    storage,
    asInt(offset, `${fn} storage_offset`, ctx),
    sz,
    st,
    requiresGrad === true,
  );
}

function mapFromPairs(args: PyValue[], ctx: Ctx): PyValue {
  const m: PyDict = new Map();
  if (args.length === 0) return m;
  const src = args[0];
  if (src instanceof Map) {
    for (const [k, v] of src) m.set(k, v);
    return m;
  }
  if (!Array.isArray(src))
    ctx.fail(`OrderedDict(...) called with a ${pyTypeName(src)}, expected a list of pairs`);
  for (const pair of src) {
    if (!Array.isArray(pair) || pair.length !== 2)
      ctx.fail('OrderedDict(...) called with an item that is not a pair');
    m.set(pair[0], pair[1]);
  }
  return m;
}

function numpyDtype(args: PyValue[], ctx: Ctx): PyValue {
  const descr = args[0];
  if (typeof descr !== 'string' || !/^[<>|=]?[fiub][1248]$/.test(descr)) {
    ctx.fail(
      `numpy.dtype(${typeof descr === 'string' ? JSON.stringify(descr) : pyTypeName(descr)}) is not a supported numeric dtype`,
    );
  }
  const d = new NumpyDType(descr.replace(/^[<>|=]/, ''));
  if (/^[<>|]/.test(descr)) d.byteorder = descr[0];
  return d;
}

function numpyScalar(args: PyValue[], ctx: Ctx): PyValue {
  const [dt, data] = args;
  if (!(dt instanceof NumpyDType))
    return ctx.fail(`numpy scalar(...) without a numpy dtype (got ${pyTypeName(dt)})`);
  if (!(data instanceof Uint8Array))
    return ctx.fail(`numpy scalar(...) without its data bytes (got ${pyTypeName(data)})`);
  const kind = dt.descr[0];
  const size = Number(dt.descr.slice(1));
  if (data.length !== size) ctx.fail(`numpy scalar of dtype ${dt.descr} has ${data.length} data bytes`);
  const le = dt.byteorder !== '>';
  const dv = new DataView(data.buffer, data.byteOffset, data.length);
  if (kind === 'f') {
    if (size === 8) return dv.getFloat64(0, le);
    if (size === 4) return dv.getFloat32(0, le);
    ctx.fail(`numpy scalar of dtype ${dt.descr} is not supported`);
  }
  if (kind === 'b') return data[0] !== 0;
  const signed = kind === 'i';
  let v: bigint | number;
  if (size === 8) v = signed ? dv.getBigInt64(0, le) : dv.getBigUint64(0, le);
  else if (size === 4) v = signed ? dv.getInt32(0, le) : dv.getUint32(0, le);
  else if (size === 2) v = signed ? dv.getInt16(0, le) : dv.getUint16(0, le);
  else v = signed ? dv.getInt8(0) : dv.getUint8(0);
  return typeof v === 'bigint' ? normInt(v) : v;
}

function codecsEncode(args: PyValue[], ctx: Ctx): PyValue {
  // Protocol-2 pickles of Python 3 `bytes` use `_codecs.encode(str, 'latin1')`.
  const [s, enc] = args;
  if (typeof s !== 'string' || (enc !== 'latin1' && enc !== 'latin-1' && enc !== 'iso-8859-1')) {
    ctx.fail(`_codecs.encode is only accepted as encode(str, "latin1")`);
  }
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 255) ctx.fail('_codecs.encode(str, "latin1") with a non-latin1 character');
    out[i] = c;
  }
  return out;
}

const ALLOWED_GLOBALS: ReadonlyMap<string, GlobalSpec> = (() => {
  const m = new Map<string, GlobalSpec>();
  m.set('collections.OrderedDict', { call: mapFromPairs, newobj: () => new Map() });
  m.set('torch._utils._rebuild_tensor_v2', { call: (a, c) => rebuildTensor(a, c, '_rebuild_tensor_v2') });
  m.set('torch._utils._rebuild_tensor', { call: (a, c) => rebuildTensor(a, c, '_rebuild_tensor') });
  const rebuildParameter = (a: PyValue[], c: Ctx): PyValue => {
    if (!(a[0] instanceof PickledTensor))
      c.fail(`_rebuild_parameter of a ${a.length ? pyTypeName(a[0]) : 'nothing'}`);
    return a[0];
  };
  m.set('torch._utils._rebuild_parameter', { call: rebuildParameter });
  m.set('torch._utils._rebuild_parameter_with_state', { call: rebuildParameter });
  for (const [name, dtype] of Object.entries(STORAGE_DTYPES)) {
    const make = (mod: string, n: string): PyGlobal => new TorchStorageType(mod, n, dtype);
    m.set(`torch.${name}`, { make });
    m.set(`torch.cuda.${name}`, { make }); // very old saves keep the CUDA type name
  }
  m.set('torch.UntypedStorage', { make: (mod, n) => new TorchStorageType(mod, n, 'u8') });
  m.set('numpy.dtype', { call: numpyDtype });
  m.set('numpy.core.multiarray.scalar', { call: numpyScalar });
  m.set('numpy._core.multiarray.scalar', { call: numpyScalar });
  m.set('_codecs.encode', { call: codecsEncode });
  return m;
})();

/** The fully qualified names of the globals a pickle may reference. */
export const ALLOWED_GLOBAL_NAMES: readonly string[] = [...ALLOWED_GLOBALS.keys()];

// ---------------------------------------------------------------------------------------------------------

const MARK = Symbol('mark');
type StackItem = PyValue | typeof MARK;

// prettier-ignore
const OPCODE_NAMES: Readonly<Record<number, string>> = {
  0x28: 'MARK', 0x2e: 'STOP', 0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP', 0x46: 'FLOAT', 0x49: 'INT',
  0x4a: 'BININT', 0x4b: 'BININT1', 0x4c: 'LONG', 0x4d: 'BININT2', 0x4e: 'NONE', 0x50: 'PERSID',
  0x51: 'BINPERSID', 0x52: 'REDUCE', 0x53: 'STRING', 0x54: 'BINSTRING', 0x55: 'SHORT_BINSTRING',
  0x56: 'UNICODE', 0x58: 'BINUNICODE', 0x61: 'APPEND', 0x62: 'BUILD', 0x63: 'GLOBAL', 0x64: 'DICT',
  0x7d: 'EMPTY_DICT', 0x65: 'APPENDS', 0x67: 'GET', 0x68: 'BINGET', 0x69: 'INST', 0x6a: 'LONG_BINGET',
  0x6c: 'LIST', 0x5d: 'EMPTY_LIST', 0x6f: 'OBJ', 0x70: 'PUT', 0x71: 'BINPUT', 0x72: 'LONG_BINPUT',
  0x73: 'SETITEM', 0x74: 'TUPLE', 0x29: 'EMPTY_TUPLE', 0x75: 'SETITEMS', 0x47: 'BINFLOAT', 0x80: 'PROTO',
  0x81: 'NEWOBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x85: 'TUPLE1', 0x86: 'TUPLE2', 0x87: 'TUPLE3',
  0x88: 'NEWTRUE', 0x89: 'NEWFALSE', 0x8a: 'LONG1', 0x8b: 'LONG4', 0x42: 'BINBYTES', 0x43: 'SHORT_BINBYTES',
  0x8c: 'SHORT_BINUNICODE', 0x8d: 'BINUNICODE8', 0x8e: 'BINBYTES8', 0x8f: 'EMPTY_SET', 0x90: 'ADDITEMS',
  0x91: 'FROZENSET', 0x92: 'NEWOBJ_EX', 0x93: 'STACK_GLOBAL', 0x94: 'MEMOIZE', 0x95: 'FRAME',
  0x96: 'BYTEARRAY8', 0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
};

function normInt(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** Two's-complement little-endian integer (LONG1 / LONG4 payload). */
function decodeLong(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
  return normInt(v);
}

const utf8 = new TextDecoder('utf-8');

/**
 * Unpickles one pickle starting at `opts.offset` (default 0). Throws WeightsError (only) on anything
 * malformed, forbidden or unsupported.
 */
export function unpickle(bytes: Uint8Array, opts: UnpickleOptions = {}): UnpickleResult {
  return wrapUnexpected(opts.fileName, 'the pickle data', () => unpickleInner(bytes, opts));
}

function unpickleInner(bytes: Uint8Array, opts: UnpickleOptions): UnpickleResult {
  const fileName = opts.fileName;
  const f = describeFile(fileName);
  let pos = opts.offset ?? 0;
  let opStart = pos;
  let opName = '';
  const stack: StackItem[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PyValue>();

  const corrupt = (what: string): never => {
    throw new WeightsError(
      'E_PICKLE_CORRUPT',
      `${f}: malformed pickle data at byte ${opStart}${opName ? ` (opcode ${opName})` : ''}: ${what}. ` +
        'The file is corrupt or truncated; re-download or re-export it.',
      { file: fileName },
    );
  };
  const ctx: Ctx = { fail: corrupt };

  const need = (n: number): void => {
    if (n < 0 || pos + n > bytes.length) {
      throw new WeightsError(
        'E_WEIGHTS_TRUNCATED',
        `${f}: the pickle data ends unexpectedly at byte ${bytes.length} (opcode ${opName} at byte ${opStart} needs ` +
          `${n} more bytes). The file is truncated; re-download or re-export it.`,
        { file: fileName },
      );
    }
  };
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u8 = (): number => {
    need(1);
    return bytes[pos++];
  };
  const u16 = (): number => {
    need(2);
    const v = dv.getUint16(pos, true);
    pos += 2;
    return v;
  };
  const u32 = (): number => {
    need(4);
    const v = dv.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const i32 = (): number => {
    need(4);
    const v = dv.getInt32(pos, true);
    pos += 4;
    return v;
  };
  const u64 = (): number => {
    need(8);
    const v = dv.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(bytes.length)) need(Number.MAX_SAFE_INTEGER); // cannot fit in the file: truncated
    return Number(v);
  };
  const take = (n: number): Uint8Array => {
    need(n);
    const b = bytes.subarray(pos, pos + n);
    pos += n;
    return b;
  };
  const line = (): string => {
    const nl = bytes.indexOf(0x0a, pos);
    if (nl < 0) need(bytes.length - pos + 1);
    const s = utf8.decode(bytes.subarray(pos, nl));
    pos = nl + 1;
    return s;
  };
  const str = (n: number): string => utf8.decode(take(n));

  const pop = (): PyValue => {
    const base = marks.length ? marks[marks.length - 1] : 0;
    if (stack.length <= base) corrupt('stack underflow');
    const v = stack.pop()!;
    if (v === MARK) return corrupt('unexpected MARK on the stack');
    return v;
  };
  const top = (): PyValue => {
    const base = marks.length ? marks[marks.length - 1] : 0;
    if (stack.length <= base) corrupt('stack underflow');
    const v = stack[stack.length - 1];
    if (v === MARK) return corrupt('unexpected MARK on the stack');
    return v;
  };
  const popMark = (): PyValue[] => {
    if (!marks.length) corrupt('no MARK on the stack');
    const m = marks.pop()!;
    const items = stack.splice(m) as PyValue[];
    return items;
  };
  const push = (v: PyValue): void => {
    stack.push(v);
  };
  const tuple = (items: PyValue[]): PyValue[] => Object.freeze(items) as PyValue[];

  const resolveGlobal = (module: string, name: string): PyValue => {
    const q = `${module}.${name}`;
    const spec = ALLOWED_GLOBALS.get(q);
    if (spec === undefined) {
      throw new WeightsError(
        'E_PICKLE_FORBIDDEN',
        `${f}: refusing to load: the pickle references the Python global "${q}" (byte ${opStart}), which is not ` +
          'allowed. Only state dicts (tensors, dicts, lists, numbers, strings) are accepted; pickled modules, classes ' +
          'and code are refused because loading them would execute code. If this is a whole model saved with ' +
          'torch.save(model, ...), re-save its weights with torch.save(model.state_dict(), path) or export them as ' +
          '.safetensors.',
        { file: fileName },
      );
    }
    return spec.make ? spec.make(module, name) : new PyGlobal(module, name);
  };
  const specOf = (callable: PyValue, how: string): GlobalSpec => {
    if (!(callable instanceof PyGlobal))
      return corrupt(`${how} applied to a ${pyTypeName(callable)}, not a global`);
    const spec = ALLOWED_GLOBALS.get(callable.qualified)!;
    return spec;
  };
  const callGlobal = (callable: PyValue, args: PyValue[]): PyValue => {
    const spec = specOf(callable, 'call');
    if (!spec.call) return corrupt(`"${(callable as PyGlobal).qualified}" cannot be called`);
    return spec.call(args, ctx);
  };
  const setItems = (target: PyValue, items: PyValue[]): void => {
    if (!(target instanceof Map)) corrupt(`SETITEM(S) on a ${pyTypeName(target)}`);
    if (items.length % 2) corrupt('SETITEMS with an odd number of items');
    for (let i = 0; i < items.length; i += 2) (target as PyDict).set(items[i], items[i + 1]);
  };
  const appendItems = (target: PyValue, items: PyValue[]): void => {
    if (!Array.isArray(target) || Object.isFrozen(target)) corrupt(`APPEND(S) on a ${pyTypeName(target)}`);
    for (const it of items) (target as PyValue[]).push(it);
  };
  const persistent = (pid: PyValue): PyValue => {
    if (!opts.persistentLoad) corrupt('a persistent id appears but this pickle should not contain any');
    return opts.persistentLoad!(pid);
  };

  for (;;) {
    opStart = pos;
    opName = '';
    if (pos >= bytes.length) {
      throw new WeightsError(
        'E_WEIGHTS_TRUNCATED',
        `${f}: the pickle data ends at byte ${bytes.length} without a STOP opcode. The file is truncated; ` +
          're-download or re-export it.',
        { file: fileName },
      );
    }
    const op = bytes[pos++];
    opName = OPCODE_NAMES[op] ?? `0x${op.toString(16).padStart(2, '0')}`;
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) corrupt('pickle protocol above 5');
        break;
      case 0x95: // FRAME: framing is only a hint for buffering
        u64();
        break;
      case 0x2e: // STOP
        if (marks.length) corrupt('STOP with an unclosed MARK');
        if (stack.length !== 1) corrupt(`STOP with ${stack.length} items on the stack`);
        return { value: pop(), end: pos };
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x30: // POP
        if (stack.length && stack[stack.length - 1] === MARK) corrupt('POP of a MARK');
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        push(top());
        break;
      case 0x4e: // NONE
        push(null);
        break;
      case 0x88:
        push(true);
        break;
      case 0x89:
        push(false);
        break;
      case 0x4a: // BININT
        push(i32());
        break;
      case 0x4b: // BININT1
        push(u8());
        break;
      case 0x4d: // BININT2
        push(u16());
        break;
      case 0x8a: // LONG1
        push(decodeLong(take(u8())));
        break;
      case 0x8b: {
        // LONG4
        const n = i32();
        if (n < 0) corrupt('negative LONG4 length');
        push(decodeLong(take(n)));
        break;
      }
      case 0x49: {
        // INT (text)
        const s = line().trim();
        if (s === '01') push(true);
        else if (s === '00') push(false);
        else if (/^[+-]?\d+$/.test(s)) push(normInt(BigInt(s)));
        else corrupt(`bad INT literal ${JSON.stringify(s)}`);
        break;
      }
      case 0x4c: {
        // LONG (text)
        const s = line().trim().replace(/L$/, '');
        if (!/^[+-]?\d+$/.test(s)) corrupt(`bad LONG literal ${JSON.stringify(s)}`);
        push(normInt(BigInt(s)));
        break;
      }
      case 0x46: {
        // FLOAT (text)
        const s = line().trim();
        const v = Number(s);
        if (Number.isNaN(v) && !/nan/i.test(s)) corrupt(`bad FLOAT literal ${JSON.stringify(s)}`);
        push(v);
        break;
      }
      case 0x47: // BINFLOAT: big-endian float64
        need(8);
        push(dv.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x58: // BINUNICODE
        push(str(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        push(str(u8()));
        break;
      case 0x8d: // BINUNICODE8
        push(str(u64()));
        break;
      case 0x54: {
        // BINSTRING (Python 2 str; torch.load decodes these as UTF-8)
        const n = i32();
        if (n < 0) corrupt('negative BINSTRING length');
        push(str(n));
        break;
      }
      case 0x55: // SHORT_BINSTRING
        push(str(u8()));
        break;
      case 0x42: // BINBYTES
        push(take(u32()).slice());
        break;
      case 0x43: // SHORT_BINBYTES
        push(take(u8()).slice());
        break;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        push(take(u64()).slice());
        break;
      case 0x7d: // EMPTY_DICT
        push(new Map());
        break;
      case 0x5d: // EMPTY_LIST
        push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        push(tuple([]));
        break;
      case 0x8f: // EMPTY_SET
        push(new Set());
        break;
      case 0x64: {
        // DICT
        const items = popMark();
        const d: PyDict = new Map();
        setItems(d, items);
        push(d);
        break;
      }
      case 0x6c: // LIST
        push(popMark());
        break;
      case 0x74: // TUPLE
        push(tuple(popMark()));
        break;
      case 0x85: // TUPLE1
        push(tuple([pop()]));
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        const a = pop();
        push(tuple([a, b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        const a = pop();
        push(tuple([a, b, c]));
        break;
      }
      case 0x91: // FROZENSET
        push(new Set(popMark()));
        break;
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        const s = top();
        if (!(s instanceof Set)) corrupt(`ADDITEMS on a ${pyTypeName(s)}`);
        for (const it of items) (s as Set<PyValue>).add(it);
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop();
        appendItems(top(), [v]);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x70: {
        // PUT (text)
        const s = line();
        if (!/^\d+$/.test(s)) corrupt(`bad PUT index ${JSON.stringify(s)}`);
        memo.set(Number(s), top());
        break;
      }
      case 0x68: // BINGET
      case 0x6a: // LONG_BINGET
      case 0x67: {
        // GET (text)
        let idx: number;
        if (op === 0x68) idx = u8();
        else if (op === 0x6a) idx = u32();
        else {
          const s = line();
          if (!/^\d+$/.test(s)) corrupt(`bad GET index ${JSON.stringify(s)}`);
          idx = Number(s);
        }
        if (!memo.has(idx)) corrupt(`memo entry ${idx} does not exist`);
        push(memo.get(idx)!);
        break;
      }
      case 0x63: {
        // GLOBAL "module\nname\n"
        const module = line();
        const name = line();
        push(resolveGlobal(module, name));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string')
          corrupt('STACK_GLOBAL with non-string names');
        push(resolveGlobal(module as string, name as string));
        break;
      }
      case 0x69: {
        // INST "module\nname\n": class instance from the args after MARK
        const module = line();
        const name = line();
        const cls = resolveGlobal(module, name);
        push(callGlobal(cls, popMark()));
        break;
      }
      case 0x6f: {
        // OBJ: MARK cls args... OBJ
        const items = popMark();
        if (!items.length) corrupt('OBJ without a class');
        push(callGlobal(items[0], items.slice(1)));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const callable = pop();
        if (!Array.isArray(args)) corrupt(`REDUCE with a ${pyTypeName(args)} instead of an argument tuple`);
        push(callGlobal(callable, args as PyValue[]));
        break;
      }
      case 0x81: {
        // NEWOBJ
        const args = pop();
        const cls = pop();
        if (!Array.isArray(args)) corrupt(`NEWOBJ with a ${pyTypeName(args)} instead of an argument tuple`);
        const spec = specOf(cls, 'NEWOBJ');
        if (!spec.newobj) corrupt(`"${(cls as PyGlobal).qualified}" cannot be instantiated with NEWOBJ`);
        push(spec.newobj!(args as PyValue[], ctx));
        break;
      }
      case 0x92: {
        // NEWOBJ_EX
        const kwargs = pop();
        const args = pop();
        const cls = pop();
        if (!Array.isArray(args) || !(kwargs instanceof Map)) corrupt('NEWOBJ_EX with bad arguments');
        const spec = specOf(cls, 'NEWOBJ_EX');
        if (!spec.newobj || (kwargs as PyDict).size)
          corrupt(`"${pyTypeName(cls)}" cannot be instantiated with NEWOBJ_EX`);
        push(spec.newobj!(args as PyValue[], ctx));
        break;
      }
      case 0x62: {
        // BUILD: obj.__setstate__(state) — only for the objects we emulate
        const state = pop();
        const obj = top();
        if (obj instanceof Map) {
          // OrderedDict instance attributes (e.g. a state dict's `_metadata`): not needed, ignored.
        } else if (obj instanceof NumpyDType) {
          if (Array.isArray(state) && state.length >= 2 && typeof state[1] === 'string')
            obj.byteorder = state[1];
        } else if (obj instanceof PickledTensor) {
          // Tensor attributes from __setstate__ (hooks, requires_grad): not needed.
        } else {
          corrupt(`BUILD on a ${pyTypeName(obj)}`);
        }
        break;
      }
      case 0x51: // BINPERSID
        push(persistent(pop()));
        break;
      case 0x50: // PERSID (text)
        push(persistent(line()));
        break;
      case 0x82:
      case 0x83:
      case 0x84: {
        const code = op === 0x82 ? u8() : op === 0x83 ? u16() : i32();
        throw new WeightsError(
          'E_PICKLE_FORBIDDEN',
          `${f}: refusing to load: the pickle references extension code ${code} (opcode ${opName} at byte ${opStart}), ` +
            'a registered Python global. Only state dicts (tensors, dicts, lists, numbers, strings) are accepted; ' +
            'pickled modules, classes and code are refused.',
          { file: fileName },
        );
      }
      default:
        throw new WeightsError(
          'E_PICKLE_OPCODE',
          `${f}: unsupported pickle opcode ${opName} (byte 0x${op.toString(16).padStart(2, '0')}) at byte ${opStart}. ` +
            'This loader understands the binary pickle protocols 2-5 that torch.save writes; if the file really is a ' +
            'PyTorch checkpoint, re-save it with a recent PyTorch (torch.save(state_dict, path)) or export .safetensors.',
          { file: fileName },
        );
    }
  }
}
