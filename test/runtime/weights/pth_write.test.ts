// writeTorchZip (runtime/weights/pth_write.ts) and `fcnc convert … -o X.pth`: round trips through our reader,
// determinism, the zip layout torch writes, errors; with PyTorch (skipped without it): torch.load(…,
// weights_only=True), the values, byte-identical re-saves (torch 1.13), load_state_dict into the official model.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertWeights, formatForOutput } from '../../../compiler/cli/commands/convert.ts';
import { nativeCrc32 } from '../../../runtime/weights/atomic_write.ts';
import { PyObject, isTuple, type PyValue as PyRead } from '../../../runtime/weights/pickle.ts';
import { TensorValue, readPth, readPthValue } from '../../../runtime/weights/pth.ts';
import {
  OrderedDict,
  PyFloat,
  crc32,
  isHostTensor,
  pickleForTorch,
  pyFloat,
  pyTuple,
  stateDictToPy,
  writeTorchZip,
  type PyValue,
} from '../../../runtime/weights/pth_write.ts';
import { readSafetensors } from '../../../runtime/weights/safetensors.ts';
import { loadWeightsFile, readWeights } from '../../../runtime/weights/state_dict.ts';
import type { DType, HostTensor, StateDict } from '../../../runtime/weights/tensor.ts';
import { ROOT, runCli } from '../../helpers.ts';
import { catchWeightsError } from './helpers.ts';
import { parseHexFloat, runTorchCheck, torchPython, type PyDesc, type TorchResult } from './torch_python.ts';

// ---------------------------------------------------------------------------------------------------------
// Test values

const f32 = (shape: number[], values: number[]): HostTensor => ({
  dtype: 'f32',
  shape,
  data: Float32Array.from(values),
});

/** One tensor of every writable dtype, plus empty and scalar shapes. */
function allDTypes(): StateDict {
  const sd: StateDict = new Map();
  sd.set('f32', f32([2, 3], [0, -0, 1.5, -2.25, 3e-41, Infinity]));
  sd.set('f64', { dtype: 'f64', shape: [3], data: Float64Array.from([Math.PI, -1e300, 5e-324]) });
  sd.set('f16', { dtype: 'f16', shape: [2], data: Uint16Array.from([0x3c00, 0xfbff]) });
  sd.set('bf16', { dtype: 'bf16', shape: [2, 1], data: Uint16Array.from([0x3f80, 0xc040]) });
  sd.set('i64', { dtype: 'i64', shape: [3], data: BigInt64Array.from([-(2n ** 63n), 0n, 2n ** 63n - 1n]) });
  sd.set('i32', { dtype: 'i32', shape: [2], data: Int32Array.from([-7, 2 ** 31 - 1]) });
  sd.set('i16', { dtype: 'i16', shape: [1], data: Int16Array.from([-300]) });
  sd.set('i8', { dtype: 'i8', shape: [2], data: Int8Array.from([-128, 127]) });
  sd.set('u8', { dtype: 'u8', shape: [3], data: Uint8Array.from([0, 128, 255]) });
  sd.set('bool', { dtype: 'bool', shape: [2, 2], data: Uint8Array.from([1, 0, 0, 1]) });
  sd.set('bn.num_batches_tracked', { dtype: 'i64', shape: [], data: BigInt64Array.from([123n]) });
  sd.set('scalar', f32([], [42.5]));
  sd.set('empty', f32([0, 3], []));
  sd.set('empty2', f32([3, 0], []));
  sd.set('empty1', { dtype: 'i64', shape: [0], data: new BigInt64Array(0) });
  return sd;
}

const shared = f32([2], [7, 8]);

const bigMap = (ordered: boolean, n: number): PyValue => {
  const entries = Array.from({ length: n }, (_, i) => [`k${i}`, i] as [string, PyValue]);
  return ordered ? new OrderedDict(entries) : new Map(entries);
};

/** Every kind of value except floats and bytes (what torch 1.13's weights-only unpickler reads). */
function plainValue(): PyValue {
  const strings = Array.from({ length: 300 }, (_, i) => `s${i}`);
  return new Map<string | number, PyValue>([
    ['none', null],
    ['bools', [true, false]],
    [
      'ints',
      [
        0,
        1,
        255,
        256,
        65535,
        65536,
        -1,
        -256,
        -(2 ** 31),
        2 ** 31 - 1,
        2 ** 31,
        -(2 ** 31) - 1,
        2 ** 53 - 1,
        -(2 ** 53) + 1,
        2n ** 63n,
        -(2n ** 63n) - 1n,
        2n ** 100n,
        -(2n ** 100n),
        -128n,
        -129n,
        255n,
      ],
    ],
    ['strs', ['', 'ascii', 'héllo wörld', '日本語', '😀 emoji', 'new\nline']],
    ['tuples', [pyTuple(), pyTuple(1), pyTuple(1, 'a'), pyTuple(1, 2, 3), pyTuple(1, 2, 3, 4, pyTuple())]],
    ['nested', [[], [[1], new Map()], new Map<number, PyValue>([[3, 'three']])]],
    [7, 'int key'],
    [-70000, 'negative int key'],
    [
      'tuple_key',
      new Map<PyValue & (string | readonly PyValue[]), PyValue>([[pyTuple(1, 'x'), 'v']]) as PyValue,
    ],
    [
      'od',
      new OrderedDict<string, PyValue>([
        ['z', 1],
        ['a', 2],
      ]),
    ],
    ['od_empty', new OrderedDict()],
    ['big_list', Array.from({ length: 2500 }, (_, i) => i)],
    ['big_dict', bigMap(false, 1001)],
    ['dict_1000', bigMap(false, 1000)],
    ['dict_2000', bigMap(false, 2000)],
    ['od_1000', bigMap(true, 1000)],
    ['od_1001', bigMap(true, 1001)],
    ['od_one', new OrderedDict([['one', 1]])],
    ['list_1000', Array.from({ length: 1000 }, (_, i) => i)],
    ['list_1001', Array.from({ length: 1001 }, (_, i) => -i)],
    ['one_item_list', [1]],
    ['one_item_dict', new Map([['only', 1]])],
    ['many_strings', [...strings, strings[299], strings[0]]],
    ['state_dict', stateDictToPy(allDTypes())],
    ['shared', [shared, shared]],
  ]) as PyValue;
}

/** With floats and bytes too. */
function fullValue(): PyValue {
  return new Map<string, PyValue>([
    ['plain', plainValue()],
    [
      'floats',
      [
        1.5,
        -0.1,
        pyFloat(2),
        pyFloat(-0),
        NaN,
        Infinity,
        -Infinity,
        1e-300,
        5e-324,
        1.7976931348623157e308,
        2 ** 60,
      ],
    ],
    ['bytes', [Uint8Array.from([0, 1, 255, 128]), new TextEncoder().encode('abc')]],
    ['float_key', new Map([[pyFloat(0.5), 'half']]) as PyValue],
  ]);
}

// ---------------------------------------------------------------------------------------------------------
// Comparable structures

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const canonNum = (x: number): string => (Object.is(x, -0) ? '-0' : String(x));

const TORCH_DTYPE: Record<DType, string> = {
  f32: 'float32',
  f64: 'float64',
  f16: 'float16',
  bf16: 'bfloat16',
  i64: 'int64',
  i32: 'int32',
  i16: 'int16',
  i8: 'int8',
  u8: 'uint8',
  bool: 'bool',
  u16: '-',
  u32: '-',
  u64: '-',
};

const tensorHex = (t: HostTensor): string =>
  hex(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));

/** The value as Python sees it (exact: int vs float, tuple vs list, dict vs OrderedDict). */
function expectPy(v: PyValue): unknown {
  if (v === null) return null;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'bigint') return { int: String(v) };
  if (typeof v === 'number') return Number.isSafeInteger(v) ? { int: String(v) } : { float: canonNum(v) };
  if (v instanceof PyFloat) return { float: canonNum(v.value) };
  if (typeof v === 'string') return { str: hex(new TextEncoder().encode(v)) };
  if (v instanceof Uint8Array) return { bytes: hex(v) };
  if (Array.isArray(v)) return Object.isFrozen(v) ? { tuple: v.map(expectPy) } : v.map(expectPy);
  if (v instanceof Map) {
    const items = [...v].map(([k, x]) => [expectPy(k as PyValue), expectPy(x)]);
    return v instanceof OrderedDict ? { odict: items } : { dict: items };
  }
  if (isHostTensor(v)) return { tensor: TORCH_DTYPE[v.dtype], shape: v.shape, hex: tensorHex(v) };
  throw new Error('unexpected');
}

function fromPy(d: PyDesc): unknown {
  switch (d.t) {
    case 'None':
      return null;
    case 'bool':
      return d.v;
    case 'int':
      return { int: d.v };
    case 'float':
      return { float: canonNum(parseHexFloat(d.v)) };
    case 'str':
      return { str: d.v };
    case 'bytes':
      return { bytes: d.v };
    case 'list':
      return d.items.map(fromPy);
    case 'tuple':
      return { tuple: d.items.map(fromPy) };
    case 'dict':
      return { dict: d.items.map(([k, v]) => [fromPy(k), fromPy(v)]) };
    case 'OrderedDict':
      return { odict: d.items.map(([k, v]) => [fromPy(k), fromPy(v)]) };
    case 'tensor':
      expect(d.requires_grad).toBe(false);
      return { tensor: d.dtype, shape: d.shape, hex: d.hex };
    default:
      throw new Error(`unexpected ${d.v}`);
  }
}

/** The value as our reader sees it (ints and floats are numbers or bigints; every dict is a Map). */
function expectRead(v: PyValue): unknown {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'bigint')
    return { num: v >= -(2n ** 53n) + 1n && v <= 2n ** 53n - 1n ? String(Number(v)) : String(v) };
  if (typeof v === 'number') return { num: Number.isSafeInteger(v) ? String(v) : canonNum(v) }; // int -0 is 0
  if (v instanceof PyFloat) return { num: canonNum(v.value) };
  if (v instanceof Uint8Array) return { bytes: hex(v) };
  if (Array.isArray(v)) return Object.isFrozen(v) ? { tuple: v.map(expectRead) } : v.map(expectRead);
  if (v instanceof Map) return { dict: [...v].map(([k, x]) => [expectRead(k as PyValue), expectRead(x)]) };
  if (isHostTensor(v)) {
    const data = v.dtype === 'bool' ? Uint8Array.from(v.data, (b) => (b ? 1 : 0)) : v.data;
    return { tensor: v.dtype, shape: v.shape, hex: tensorHex({ ...v, data } as HostTensor) };
  }
  throw new Error('unexpected');
}

function fromRead(v: PyRead): unknown {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number') return { num: canonNum(v) };
  if (typeof v === 'bigint') return { num: String(v) };
  if (v instanceof Uint8Array) return { bytes: hex(v) };
  if (Array.isArray(v)) {
    const items = (v as PyRead[]).map(fromRead);
    return isTuple(v) ? { tuple: items } : items;
  }
  if (v instanceof Map) return { dict: [...v].map(([k, x]) => [fromRead(k), fromRead(x)]) };
  if (v instanceof TensorValue)
    return { tensor: v.tensor.dtype, shape: v.tensor.shape, hex: tensorHex(v.tensor) };
  if (v instanceof PyObject) return { other: v.describe() };
  throw new Error('unexpected');
}

// ---------------------------------------------------------------------------------------------------------
// Zip layout

interface LocalEntry {
  name: string;
  flags: number;
  dataOffset: number;
  size: number;
  crc: number;
  extra: Uint8Array;
}

/** Walks the local headers in file order (data descriptors after each non-empty entry). */
function localEntries(bytes: Uint8Array): LocalEntry[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: LocalEntry[] = [];
  let p = 0;
  while (dv.getUint32(p, true) === 0x04034b50) {
    const flags = dv.getUint16(p + 6, true);
    const nameLen = dv.getUint16(p + 26, true);
    const extraLen = dv.getUint16(p + 28, true);
    const name = new TextDecoder().decode(bytes.subarray(p + 30, p + 30 + nameLen));
    const extra = bytes.subarray(p + 30 + nameLen, p + 30 + nameLen + extraLen);
    const dataOffset = p + 30 + nameLen + extraLen;
    // sizes from the central directory would do too; here: the descriptor, found after the data
    let size = 0;
    let crc = 0;
    if (flags & 8) {
      // scan for the descriptor: the data is followed by PK\x07\x08 crc size size
      let q = dataOffset;
      for (;;) {
        if (dv.getUint32(q, true) === 0x08074b50 && dv.getUint32(q + 8, true) === q - dataOffset) break;
        q++;
      }
      size = q - dataOffset;
      crc = dv.getUint32(q + 4, true);
      p = q + 16;
    } else p = dataOffset;
    out.push({ name, flags, dataOffset, size, crc, extra });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------

describe('writeTorchZip: our reader reads back exactly what was written', () => {
  it('a state dict of every dtype, empty tensors and scalars', () => {
    const sd = allDTypes();
    const bytes = writeTorchZip(stateDictToPy(sd));
    const r = readWeights(bytes, 'sd.pth');
    expect(r.format).toBe('pth-zip');
    expect([...r.stateDict.keys()]).toEqual([...sd.keys()]);
    for (const [k, t] of sd) {
      const got = r.stateDict.get(k)!;
      expect(got.dtype, k).toBe(t.dtype);
      expect(got.shape, k).toEqual(t.shape);
      expect(tensorHex(got), k).toBe(tensorHex(t));
    }
  });

  it('nested values: ints of every size, floats, strings, bytes, lists, tuples, dicts', () => {
    for (const v of [plainValue(), fullValue()]) {
      const { value, format } = readPthValue(writeTorchZip(v), 'v.pth');
      expect(format).toBe('pth-zip');
      expect(fromRead(value)).toEqual(expectRead(v));
    }
  });

  it('the same tensor object twice is stored once and read back twice', () => {
    const bytes = writeTorchZip([shared, shared, f32([1], [1])]);
    const names = localEntries(bytes).map((e) => e.name);
    expect(names).toEqual([
      'archive/data.pkl',
      'archive/byteorder',
      'archive/data/0',
      'archive/data/1',
      'archive/version',
    ]);
    const v = readPthValue(bytes).value as PyRead[];
    expect(fromRead(v)).toEqual(expectRead([shared, shared, f32([1], [1])]));
  });

  it('lone surrogates are encoded as Python does (surrogatepass); other top-level values', () => {
    const { pickle } = pickleForTorch('\ud800x\udfff');
    expect(hex(pickle)).toBe('8002' + '5807000000' + 'eda08078edbfbf' + '7100' + '2e');
    for (const v of [5, null, pyTuple(), [], 2n ** 200n, -(2n ** 2000n)] as PyValue[]) {
      expect(fromRead(readPthValue(writeTorchZip(v)).value)).toEqual(expectRead(v));
    }
  });

  it('non-contiguous typed-array views (e.g. into a larger buffer) are written as their own elements', () => {
    const big = Float32Array.from([9, 1, 2, 3, 9]);
    const t: HostTensor = { dtype: 'f32', shape: [3], data: big.subarray(1, 4) };
    const got = readPth(writeTorchZip(new OrderedDict([['t', t]]))).stateDict.get('t')!;
    expect(Array.from(got.data as Float32Array)).toEqual([1, 2, 3]);
  });
});

describe('writeTorchZip: output format', () => {
  it('is deterministic: same input, same bytes (also for an equal copy)', () => {
    const a = writeTorchZip(fullValue());
    const b = writeTorchZip(fullValue());
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(Buffer.from(writeTorchZip(fullValue())).equals(Buffer.from(a))).toBe(true);
  });

  it('records as torch writes them: stored, 64-byte aligned by an FB extra field, CRCs, sorted storage keys', () => {
    const sd = new OrderedDict<string, HostTensor>();
    for (let i = 0; i < 12; i++)
      sd.set(
        `t${i}`,
        f32(
          [i % 3],
          Array.from({ length: i % 3 }, (_, j) => i + j),
        ),
      );
    const bytes = writeTorchZip(sd);
    const entries = localEntries(bytes);
    expect(entries.map((e) => e.name)).toEqual([
      'archive/data.pkl',
      'archive/byteorder',
      ...['0', '1', '10', '11', '2', '3', '4', '5', '6', '7', '8', '9'].map((k) => `archive/data/${k}`),
      'archive/version',
    ]);
    for (const e of entries) {
      expect(e.dataOffset % 64, e.name).toBe(0);
      expect(String.fromCharCode(e.extra[0], e.extra[1]), e.name).toBe('FB');
      expect(e.extra.length, e.name).toBe(4 + (e.extra[2] | (e.extra[3] << 8)));
      expect(
        [...e.extra.subarray(4)].every((b) => b === 0x5a),
        e.name,
      ).toBe(true);
      const data = bytes.subarray(e.dataOffset, e.dataOffset + e.size);
      if (e.size > 0) expect(e.crc, e.name).toBe(crc32(data));
      expect(e.flags, e.name).toBe(e.size > 0 ? 0x0808 : 0x0800);
    }
    const rec = (n: string): string => {
      const e = entries.find((x) => x.name === `archive/${n}`)!;
      return new TextDecoder().decode(bytes.subarray(e.dataOffset, e.dataOffset + e.size));
    };
    expect(rec('version')).toBe('3\n');
    expect(rec('byteorder')).toBe('little');
    // zip64 end record + locator + classic end record, as miniz writes them
    const tail = bytes.subarray(bytes.length - 22 - 20 - 56);
    expect(hex(tail.subarray(0, 4))).toBe('504b0606');
    expect(hex(tail.subarray(56, 60))).toBe('504b0607');
    expect(hex(tail.subarray(76, 80))).toBe('504b0506');
  });

  it('archiveName and byteorderRecord', () => {
    const bytes = writeTorchZip(stateDictToPy(allDTypes()), { archiveName: 'model', byteorderRecord: false });
    const names = localEntries(bytes).map((e) => e.name);
    expect(names[0]).toBe('model/data.pkl');
    expect(names).not.toContain('model/byteorder');
    expect(readPth(bytes).stateDict.size).toBe(allDTypes().size);
    expect(catchWeightsError(() => writeTorchZip(null, { archiveName: 'a/b' })).message).toMatch(
      /archive name/,
    );
  });

  it('crc32 matches known values', () => {
    expect(crc32(new Uint8Array(0))).toBe(0);
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    const long = Uint8Array.from({ length: 1000 }, (_, i) => (i * 31) & 255);
    expect(crc32(long.subarray(500), crc32(long.subarray(0, 500)))).toBe(crc32(long));
    // Node's native CRC (used when writing files) gives the same bytes
    expect(nativeCrc32).toBeDefined();
    const v = fullValue();
    expect(Buffer.from(writeTorchZip(v, { crc32: nativeCrc32 })).equals(Buffer.from(writeTorchZip(v)))).toBe(
      true,
    );
  });
});

describe('writeTorchZip: values Python cannot hold are refused with WeightsError', () => {
  it('unsupported dtypes, inconsistent tensors, non-values, unhashable keys, recursive tuples', () => {
    const u32: HostTensor = { dtype: 'u32', shape: [1], data: Uint32Array.from([1]) };
    expect(catchWeightsError(() => writeTorchZip(new Map([['w', u32]]))).code).toBe('E_WEIGHTS_DTYPE');
    const e = catchWeightsError(() => writeTorchZip(new Map([['w', f32([2, 2], [1, 2, 3])]])));
    expect(e.message).toMatch(/\["w"\].*4 elements.*3 data/);
    expect(catchWeightsError(() => writeTorchZip({ a: 1 } as unknown as PyValue)).message).toMatch(
      /not a Python value/,
    );
    expect(catchWeightsError(() => writeTorchZip((() => 1) as unknown as PyValue)).message).toMatch(
      /not a Python value/,
    );
    expect(catchWeightsError(() => writeTorchZip([2n ** 2100n])).message).toMatch(/\[0\] needs 263 bytes/);
    const unhashable = new Map([[[1] as unknown as string, 1]]);
    expect(catchWeightsError(() => writeTorchZip(unhashable)).message).toMatch(/not hashable/);
    const inner: PyValue[] = [];
    const t = pyTuple(inner);
    inner.push(t);
    expect(catchWeightsError(() => writeTorchZip(t)).message).toMatch(/contains itself/);
    // a list containing itself is fine (Python memoises lists before their items)
    const l: PyValue[] = [1];
    l.push(l);
    const back = readPthValue(writeTorchZip(l)).value as PyRead[];
    expect(back[1]).toBe(back);
  });
});

// ---------------------------------------------------------------------------------------------------------
// fcnc convert

const PARITY_WEIGHTS = join(ROOT, 'test', 'fixtures', 'parity', 'enc_jpu_r50', 'weights.safetensors');

describe('fcnc convert to a PyTorch state dict', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'fcnc-convert-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the format follows the output name', () => {
    expect(formatForOutput('a.pth')).toBe('pth');
    expect(formatForOutput('a.pt')).toBe('pth');
    expect(formatForOutput('dir/model_best.pth.tar')).toBe('pth');
    expect(formatForOutput('A.PTH')).toBe('pth');
    expect(formatForOutput('a.safetensors')).toBe('safetensors');
    expect(formatForOutput('a.bin')).toBe('safetensors');
  });

  it('.pth / .pt / .pth.tar hold the state dict, same names, dtypes and bits; back to safetensors too', async () => {
    const src = readSafetensors(new Uint8Array(readFileSync(PARITY_WEIGHTS))).tensors;
    for (const name of ['w.pth', 'w.pt', 'w.pth.tar']) {
      const out = join(dir, name);
      expect(await convertWeights(PARITY_WEIGHTS, out)).toBe(src.size);
      const r = await loadWeightsFile(out);
      expect(r.format).toBe('pth-zip');
      expect([...r.stateDict.keys()]).toEqual([...src.keys()]);
      for (const [k, t] of src) {
        expect(r.stateDict.get(k)!.dtype, k).toBe(t.dtype);
        expect(tensorHex(r.stateDict.get(k)!), k).toBe(tensorHex(t));
      }
    }
    expect(src.get('pretrained.bn1.num_batches_tracked')?.dtype).toBe('i64');
    const back = join(dir, 'back.safetensors');
    await convertWeights(join(dir, 'w.pth'), back);
    const b = readSafetensors(new Uint8Array(readFileSync(back))).tensors;
    expect([...b.keys()]).toEqual([...src.keys()]);
  });

  it('--format overrides the name; the CLI reports what it wrote', async () => {
    const out = join(dir, 'forced.bin');
    const r = await runCli('convert', PARITY_WEIGHTS, '-o', out, '--format', 'pth');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/wrote 431 tensors .*PyTorch state dict/);
    expect((await loadWeightsFile(out)).format).toBe('pth-zip');
    const st = join(dir, 'forced.pth');
    expect((await runCli('convert', PARITY_WEIGHTS, '-o', st, '--format', 'safetensors')).code).toBe(0);
    expect((await loadWeightsFile(st)).format).toBe('safetensors');
    const bad = await runCli('convert', PARITY_WEIGHTS, '-o', st, '--format', 'onnx');
    expect(bad.code).toBe(2);
  });
});

// ---------------------------------------------------------------------------------------------------------
// With PyTorch

const python = torchPython();

describe.skipIf(python === null)('PyTorch reads what we write', () => {
  let dir: string;
  let results: Record<string, TorchResult>;
  let torchVersion: string;
  const files = {
    sd: 'sd.pth',
    plain: 'plain.pth',
    full: 'full.pth',
    model: 'model.pth',
  };
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fcnc-pth-write-'));
    const { writeFileSync } = await import('node:fs');
    const p = (f: string): string => join(dir, f);
    // byteorderRecord: false gives what torch 1.13 writes, so its re-save can be compared byte for byte
    const opts = { byteorderRecord: false };
    writeFileSync(p(files.sd), writeTorchZip(stateDictToPy(allDTypes()), opts));
    writeFileSync(p(files.plain), writeTorchZip(plainValue(), opts));
    writeFileSync(p(files.full), writeTorchZip(fullValue(), opts));
    await convertWeights(PARITY_WEIGHTS, p(files.model));
    results = runTorchCheck(python!, dir, [
      { op: 'load', id: 'sd', file: p(files.sd) },
      { op: 'load', id: 'plain', file: p(files.plain) },
      { op: 'load', id: 'full', file: p(files.full) },
      { op: 'state_dict', id: 'model', file: p(files.model), variant: 'enc_jpu_r50' },
    ]);
    torchVersion = results.torch as unknown as string;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const ok = (id: string): TorchResult => {
    const r = results[id];
    expect(r.ok, `${r.error}\n${r.trace}`).toBe(true);
    return r;
  };

  it('a state dict of every dtype loads with weights_only=True, values exact', () => {
    const r = ok('sd');
    expect(r.weights_only_error).toBeNull();
    expect(fromPy(r.value as PyDesc)).toEqual(expectPy(stateDictToPy(allDTypes())));
  });

  it('ints, strings, lists, tuples, dicts, OrderedDicts, tensors load with weights_only=True', () => {
    const r = ok('plain');
    expect(r.weights_only_error).toBeNull();
    expect(fromPy(r.value as PyDesc)).toEqual(expectPy(plainValue()));
  });

  it('floats and bytes load (weights_only=True needs torch >= 2.0 for floats)', () => {
    const r = ok('full');
    if (torchVersion.startsWith('1.')) expect(r.weights_only_error).toMatch(/Unsupported (operand|class)/);
    expect(fromPy(r.value as PyDesc)).toEqual(expectPy(fullValue()));
  });

  it('torch.save of the loaded value gives our bytes back (torch 1.13: byte-identical writer)', () => {
    if (!torchVersion.startsWith('1.13')) return; // newer torch adds records (byteorder, .data/…)
    for (const id of ['sd', 'plain', 'full']) expect(ok(id).resave_identical, id).toBe(true);
  });

  it('fcnc convert → .pth loads strictly into the official model (load_state_dict, weights_only=True)', () => {
    const r = ok('model');
    expect(r.weights_only_error).toBeNull();
    expect(r.type).toBe('OrderedDict');
    expect(r.mismatched).toEqual([]);
    expect(r.n).toBe(431);
  });
});
