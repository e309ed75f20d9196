import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  ALLOWED_GLOBAL_NAMES,
  PickledTensor,
  PyGlobal,
  isTuple,
  unpickle,
  type PyValue,
} from '../../../runtime/weights/pickle.ts';
import { EXPECTED, catchWeightsError, fixture, fuzzRng } from './helpers.ts';

const enc = new TextEncoder();
/** Builds a pickle from opcode bytes / strings (strings are UTF-8 encoded as is). */
function pk(...parts: (number | string | number[])[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === 'number') out.push(p);
    else if (typeof p === 'string') out.push(...enc.encode(p));
    else out.push(...p);
  }
  return new Uint8Array(out);
}
const u32le = (n: number): number[] => [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255];
const binunicode = (s: string): number[] => {
  const b = enc.encode(s);
  return [0x58, ...u32le(b.length), ...b];
};

describe('restricted unpickler: plain values at protocols 1-5', () => {
  for (const proto of [1, 2, 3, 4, 5]) {
    it(`protocol ${proto}`, () => {
      const { value, end } = unpickle(fixture(`plain_values_p${proto}.pkl`));
      expect(end).toBe(fixture(`plain_values_p${proto}.pkl`).length);
      expect(value).toBeInstanceOf(Map);
      const m = value as Map<PyValue, PyValue>;
      expect(m.get('int')).toBe(1);
      expect(m.get('neg')).toBe(-5);
      expect(m.get('i16')).toBe(40000);
      expect(m.get('i32')).toBe(-(2 ** 31));
      expect(m.get('big')).toBe(2n ** 70n);
      expect(m.get('negbig')).toBe(-(2n ** 63n));
      expect(m.get('float')).toBe(1.5);
      expect(m.get('str')).toBe('h\u00e9llo \u2603');
      expect(m.get('bytes')).toEqual(new Uint8Array([0, 1, 255]));
      expect(m.get('list')).toEqual([1, 2, [3]]);
      const tup = m.get('tuple')!;
      expect(tup).toEqual([1, 'a']);
      expect(isTuple(tup)).toBe(true);
      expect(isTuple(m.get('list')!)).toBe(false);
      expect(m.get('none')).toBe(null);
      expect(m.get('bool')).toEqual([true, false]);
      expect(m.get('dict')).toEqual(
        new Map<PyValue, PyValue>([
          [1, 'one'],
          ['two', 2.0],
        ]),
      );
      expect(m.get('od')).toEqual(new Map([['a', 1]]));
      const shared = m.get('shared') as PyValue[];
      expect(shared[0]).toBe(shared[1]); // memo: the same object twice
      expect(m.get('long_list')).toEqual(Array.from({ length: 1500 }, (_, i) => i));
      expect(m.get('np')).toBe(0.25);
      if (proto >= 4) {
        expect(m.get('set')).toEqual(new Set([1, 2]));
        expect(m.get('frozenset')).toEqual(new Set([3]));
      }
    });
  }

  it('several concatenated pickles are read one at a time', () => {
    const a = pk(0x80, 2, 0x4b, 7, 0x2e);
    const b = pk(0x80, 2, ...binunicode('x'), 0x2e);
    const both = new Uint8Array([...a, ...b]);
    const r1 = unpickle(both);
    expect(r1).toEqual({ value: 7, end: a.length });
    expect(unpickle(both, { offset: r1.end }).value).toBe('x');
  });

  it('rebuilds tensors only through the allow-listed torch functions', () => {
    // (_rebuild_tensor_v2, (persid 'S', 2, (3,), (1,), False, OrderedDict()))
    const bytes = pk(
      0x80,
      2,
      'ctorch._utils\n_rebuild_tensor_v2\n',
      0x28, // MARK
      ...binunicode('S'),
      0x51, // BINPERSID
      0x4b,
      2, // offset 2
      0x4b,
      3,
      0x85, // (3,)
      0x4b,
      1,
      0x85, // (1,)
      0x89, // False
      'ccollections\nOrderedDict\n',
      0x29,
      0x52, // OrderedDict()
      0x74, // TUPLE
      0x52, // REDUCE
      0x2e,
    );
    const storage = new PyGlobal('test', 'storage'); // any PyObject stands for a storage
    let seen: PyValue = null;
    const { value } = unpickle(bytes, {
      persistentLoad: (pid) => {
        seen = pid;
        return storage;
      },
    });
    expect(seen).toBe('S');
    expect(value).toBeInstanceOf(PickledTensor);
    const t = value as PickledTensor;
    expect(t.storage).toBe(storage);
    expect([t.storageOffset, t.size, t.stride, t.requiresGrad]).toEqual([2, [3], [1], false]);
  });
});

describe('restricted unpickler: refusals', () => {
  const marker = EXPECTED.pwned_marker;

  it.each([2, 4, 5])('os.system via __reduce__ (protocol %i) is refused and never runs', (proto) => {
    expect(existsSync(marker)).toBe(false);
    const e = catchWeightsError(() =>
      unpickle(fixture(`evil_system_p${proto}.pkl`), { fileName: 'evil.pkl' }),
    );
    expect(e.code).toBe('E_PICKLE_FORBIDDEN');
    expect(e.message).toContain('"posix.system"');
    expect(e.message).toContain('evil.pkl');
    expect(e.message).toMatch(/only state dicts \(tensors, dicts, lists, numbers, strings\) are accepted/i);
    expect(existsSync(marker)).toBe(false);
  });

  it('builtins eval is refused', () => {
    const e = catchWeightsError(() => unpickle(fixture('evil_eval_p2.pkl')));
    expect(e.code).toBe('E_PICKLE_FORBIDDEN');
    expect(e.message).toContain('__builtin__.eval');
  });

  it.each([
    ['GLOBAL builtins.eval', pk(0x80, 2, 'cbuiltins\neval\n', 0x2e), 'builtins.eval'],
    ['GLOBAL __main__.Foo', pk(0x80, 2, 'c__main__\nFoo\n', 0x2e), '__main__.Foo'],
    ['STACK_GLOBAL os.system', pk(0x80, 4, 0x8c, 2, 'os', 0x8c, 6, 'system', 0x93, 0x2e), 'os.system'],
    ['INST subprocess.Popen', pk(0x80, 2, 0x28, 'isubprocess\nPopen\n', 0x2e), 'subprocess.Popen'],
    ['torch.load itself', pk(0x80, 2, 'ctorch\nload\n', 0x2e), 'torch.load'],
    [
      'a torch.nn module',
      pk(0x80, 2, 'ctorch.nn.modules.conv\nConv2d\n', 0x2e),
      'torch.nn.modules.conv.Conv2d',
    ],
  ])('%s → E_PICKLE_FORBIDDEN', (_label, bytes, name) => {
    const e = catchWeightsError(() => unpickle(bytes));
    expect(e.code).toBe('E_PICKLE_FORBIDDEN');
    expect(e.message).toContain(`"${name}"`);
  });

  it('extension-registry opcodes (EXT1) are refused', () => {
    expect(catchWeightsError(() => unpickle(pk(0x80, 2, 0x82, 1, 0x2e))).code).toBe('E_PICKLE_FORBIDDEN');
  });

  it('the allow-list holds only data constructors', () => {
    for (const n of ALLOWED_GLOBAL_NAMES) {
      expect(n).toMatch(
        /^(collections\.OrderedDict|torch\._utils\._rebuild_(tensor|tensor_v2|parameter|parameter_with_state)|torch\.(cuda\.)?[A-Za-z0-9]*Storage|numpy\.dtype|numpy\.(_core|core)\.multiarray\.scalar|_codecs\.encode)$/,
      );
    }
  });

  it('allowed callables only accept the argument shapes they emulate', () => {
    // _codecs.encode with another encoding, OrderedDict called with junk
    expect(
      catchWeightsError(() =>
        unpickle(
          pk(0x80, 2, 'c_codecs\nencode\n', ...binunicode('x'), ...binunicode('rot13'), 0x86, 0x52, 0x2e),
        ),
      ).code,
    ).toBe('E_PICKLE_CORRUPT');
    expect(
      catchWeightsError(() => unpickle(pk(0x80, 2, 'ccollections\nOrderedDict\n', 0x4b, 1, 0x85, 0x52, 0x2e)))
        .code,
    ).toBe('E_PICKLE_CORRUPT');
    // a storage type tag cannot be called
    expect(
      catchWeightsError(() => unpickle(pk(0x80, 2, 'ctorch\nFloatStorage\n', 0x29, 0x52, 0x2e))).code,
    ).toBe('E_PICKLE_CORRUPT');
  });

  it('unknown opcodes name the byte and the offset', () => {
    const e = catchWeightsError(() => unpickle(pk(0x80, 2, 0x5d, 0xff, 0x2e), { fileName: 'w.pth' }));
    expect(e.code).toBe('E_PICKLE_OPCODE');
    expect(e.message).toContain('0xff');
    expect(e.message).toContain('at byte 3');
    expect(e.message).toContain('w.pth');
    // protocol-0 text strings are not supported either
    expect(catchWeightsError(() => unpickle(pk("S'abc'\n.", ''))).code).toBe('E_PICKLE_OPCODE');
  });

  it.each([
    ['stack underflow', pk(0x80, 2, 0x73, 0x2e), 'E_PICKLE_CORRUPT'],
    ['bad memo reference', pk(0x80, 2, 0x68, 5, 0x2e), 'E_PICKLE_CORRUPT'],
    ['APPEND to a tuple', pk(0x80, 2, 0x29, 0x4b, 1, 0x61, 0x2e), 'E_PICKLE_CORRUPT'],
    ['persistent id without a loader', pk(0x80, 2, 0x4b, 1, 0x51, 0x2e), 'E_PICKLE_CORRUPT'],
    ['no STOP', pk(0x80, 2, 0x4b, 1), 'E_WEIGHTS_TRUNCATED'],
    ['string longer than the file', pk(0x80, 2, 0x58, ...u32le(1000), 'ab'), 'E_WEIGHTS_TRUNCATED'],
    ['empty', pk(), 'E_WEIGHTS_TRUNCATED'],
  ])('%s → %s', (_label, bytes, code) => {
    expect(catchWeightsError(() => unpickle(bytes)).code).toBe(code);
  });

  it('random corruption of real pickles gives a value or a WeightsError, never another exception', () => {
    const rnd = fuzzRng(99);
    for (const f of ['plain_values_p2.pkl', 'plain_values_p4.pkl']) {
      const src = fixture(f);
      for (let trial = 0; trial < 500; trial++) {
        const b = src.slice();
        for (let k = 0; k < 2; k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
        try {
          unpickle(b);
        } catch (e) {
          if (!(e instanceof Error) || e.name !== 'WeightsError') throw e;
        }
      }
    }
  });

  it('every truncation of real pickles is a WeightsError', () => {
    for (const f of ['plain_values_p2.pkl', 'plain_values_p5.pkl', 'evil_system_p4.pkl']) {
      const b = fixture(f);
      for (let cut = 0; cut < b.length; cut++) catchWeightsError(() => unpickle(b.subarray(0, cut)));
    }
  });
});
