import { describe, expect, it } from 'vitest';
import { readSafetensors, writeSafetensors } from '../../../runtime/weights/safetensors.ts';
import { toFloat32, type HostTensor, type StateDict } from '../../../runtime/weights/tensor.ts';
import { EXPECTED, catchWeightsError, expectTensor, fixture, fuzzRng } from './helpers.ts';

function sampleDict(): StateDict {
  const sd: StateDict = new Map();
  sd.set('a.u8', { dtype: 'u8', shape: [3], data: new Uint8Array([1, 2, 3]) }); // odd size first
  sd.set('b.f32', { dtype: 'f32', shape: [2, 2], data: new Float32Array([1.5, -0, 1e-45, -3.25]) });
  sd.set('c.i64', { dtype: 'i64', shape: [], data: new BigInt64Array([-(2n ** 62n)]) });
  sd.set('d.f16', { dtype: 'f16', shape: [2], data: new Uint16Array([0x3c00, 0xc100]) }); // 1, -2.5
  sd.set('e.bf16', { dtype: 'bf16', shape: [1], data: new Uint16Array([0x4049]) }); // 3.140625
  sd.set('f.f64', { dtype: 'f64', shape: [1, 1], data: new Float64Array([Math.PI]) });
  sd.set('g.bool', { dtype: 'bool', shape: [2], data: new Uint8Array([1, 0]) });
  sd.set('h.i32', { dtype: 'i32', shape: [0, 4], data: new Int32Array(0) });
  sd.set('i.i8', { dtype: 'i8', shape: [1], data: new Int8Array([-7]) });
  return sd;
}

function header(bytes: Uint8Array): { n: number; json: Record<string, unknown> } {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return {
    n,
    json: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, unknown>,
  };
}

/** A valid file whose header is replaced by `h` (data section kept). */
function withHeader(h: unknown, data: Uint8Array): Uint8Array {
  const j = new TextEncoder().encode(JSON.stringify(h));
  const out = new Uint8Array(8 + j.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(j.length), true);
  out.set(j, 8);
  out.set(data, 8 + j.length);
  return out;
}

describe('safetensors', () => {
  it('reads the Python-written fixture exactly', () => {
    const { tensors, metadata } = readSafetensors(fixture('expected.safetensors'), 'expected.safetensors');
    expect(metadata).toEqual({ format: 'pt', source: 'make_fixtures.py' });
    expect([...tensors.keys()]).toEqual(EXPECTED.order);
    for (const k of EXPECTED.order) expectTensor(tensors.get(k), EXPECTED.tensors[k], k);
  });

  it('round-trips every dtype bit-exactly, with metadata, aligned data and a padded header', () => {
    const sd = sampleDict();
    const bytes = writeSafetensors(sd, { format: 'pt', note: 'héllo' });
    const { n, json } = header(bytes);
    expect(n % 8).toBe(0);
    expect((8 + n) % 8).toBe(0);
    expect(json.__metadata__).toEqual({ format: 'pt', note: 'héllo' });
    for (const [name, t] of sd) {
      const entry = json[name] as { data_offsets: [number, number]; dtype: string };
      const es = t.data.BYTES_PER_ELEMENT;
      expect(entry.data_offsets[0] % es, `${name} aligned`).toBe(0);
    }
    const back = readSafetensors(bytes);
    expect(back.metadata).toEqual({ format: 'pt', note: 'héllo' });
    expect([...back.tensors.keys()]).toEqual([...sd.keys()]);
    for (const [name, t] of sd) {
      const g = back.tensors.get(name)!;
      expect(g.dtype).toBe(t.dtype);
      expect(g.shape).toEqual(t.shape);
      expect(new Uint8Array(g.data.buffer, g.data.byteOffset, g.data.byteLength)).toEqual(
        new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
      );
    }
    expect(Array.from(toFloat32(back.tensors.get('d.f16')!))).toEqual([1, -2.5]);
    expect(Array.from(toFloat32(back.tensors.get('e.bf16')!))).toEqual([3.140625]);
    // Header padding is spaces; the header is readable by JSON.parse with trailing whitespace.
    const raw = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    expect(raw).toMatch(/^\{.*\} *$/s);
  });

  it('without metadata there is no __metadata__ entry', () => {
    const bytes = writeSafetensors(
      new Map([['x', { dtype: 'f32', shape: [1], data: new Float32Array([2]) } as HostTensor]]),
    );
    expect(header(bytes).json).not.toHaveProperty('__metadata__');
    expect(readSafetensors(bytes).metadata).toEqual({});
  });

  it('aligned data is a zero-copy view, unaligned data is copied correctly', () => {
    const bytes = writeSafetensors(
      new Map([['x', { dtype: 'f32', shape: [3], data: new Float32Array([1, 2, 3]) } as HostTensor]]),
    );
    const aligned = readSafetensors(bytes).tensors.get('x')!;
    expect(aligned.data.buffer).toBe(bytes.buffer);
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    const copy = readSafetensors(shifted.subarray(1)).tensors.get('x')!;
    expect(copy.data.buffer).not.toBe(shifted.buffer);
    expect(Array.from(copy.data as Float32Array)).toEqual([1, 2, 3]);
  });

  it('a file cut at any byte gives a WeightsError', () => {
    const bytes = writeSafetensors(sampleDict(), { k: 'v' });
    for (let cut = 0; cut < bytes.length; cut++) {
      const e = catchWeightsError(() => readSafetensors(bytes.subarray(0, cut), 'cut.safetensors'));
      expect(['E_WEIGHTS_TRUNCATED', 'E_WEIGHTS_CORRUPT']).toContain(e.code);
      expect(e.message).toContain('cut.safetensors');
    }
  });

  it('random corruption gives a WeightsError or a valid result, never another exception', () => {
    const bytes = writeSafetensors(sampleDict(), { k: 'v' });
    const rnd = fuzzRng(7);
    for (let trial = 0; trial < 2000; trial++) {
      const b = bytes.slice();
      const k = 1 + Math.floor(rnd() * 3);
      // Bias towards the length prefix and header, where the interesting failures are.
      for (let i = 0; i < k; i++) b[Math.floor(rnd() * rnd() * b.length)] = Math.floor(rnd() * 256);
      try {
        readSafetensors(b);
      } catch (e) {
        if (!(e instanceof Error) || e.name !== 'WeightsError') throw e;
      }
    }
  });

  const f32 = (n: number): Uint8Array => new Uint8Array(4 * n);
  it.each([
    [
      'header length beyond the file',
      (() => {
        const b = writeSafetensors(sampleDict());
        new DataView(b.buffer).setBigUint64(0, BigInt(b.length), true);
        return b;
      })(),
      'E_WEIGHTS_TRUNCATED',
      /header length/,
    ],
    [
      'huge header length',
      (() => {
        const b = writeSafetensors(sampleDict());
        new DataView(b.buffer).setBigUint64(0, 2n ** 62n, true);
        return b;
      })(),
      'E_WEIGHTS_CORRUPT',
      /limit/,
    ],
    [
      'bad JSON',
      withHeader('x', new Uint8Array(0)).map((v, i) => (i === 8 ? 0x7b : v)),
      'E_WEIGHTS_CORRUPT',
      /JSON/,
    ],
    [
      'unknown dtype',
      withHeader({ x: { dtype: 'F8_E4M3', shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1)),
      'E_WEIGHTS_DTYPE',
      /F8_E4M3/,
    ],
    [
      'offsets past the data',
      withHeader({ x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, f32(1)),
      'E_WEIGHTS_TRUNCATED',
      /data_offsets/,
    ],
    [
      'size ≠ shape × dtype',
      withHeader({ x: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, f32(2)),
      'E_WEIGHTS_CORRUPT',
      /needs 12 bytes/,
    ],
    [
      'overlapping tensors',
      withHeader(
        {
          x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
          y: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
        },
        f32(3),
      ),
      'E_WEIGHTS_CORRUPT',
      /overlaps/,
    ],
    [
      'hole in the data',
      withHeader({ x: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, f32(2)),
      'E_WEIGHTS_CORRUPT',
      /hole/,
    ],
    [
      'trailing bytes',
      withHeader({ x: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, f32(2)),
      'E_WEIGHTS_CORRUPT',
      /cover/,
    ],
    [
      'end < begin',
      withHeader({ x: { dtype: 'U8', shape: [0], data_offsets: [4, 0] } }, f32(1)),
      'E_WEIGHTS_CORRUPT',
      /end < begin/,
    ],
    [
      'bad shape',
      withHeader({ x: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, f32(1)),
      'E_WEIGHTS_CORRUPT',
      /shape/,
    ],
    [
      'metadata not strings',
      withHeader({ __metadata__: { a: 1 } }, new Uint8Array(0)),
      'E_WEIGHTS_CORRUPT',
      /__metadata__/,
    ],
    [
      'header not an object',
      withHeader([1], new Uint8Array(0)),
      'E_WEIGHTS_CORRUPT',
      /not start with|not an object/,
    ],
    ['shorter than 8 bytes', new Uint8Array(5), 'E_WEIGHTS_TRUNCATED', /8-byte/],
  ])('%s → %s', (_label, bytes, code, msg) => {
    const e = catchWeightsError(() => readSafetensors(bytes, 'bad.safetensors'));
    expect(e.code).toBe(code);
    expect(e.message).toMatch(msg);
    expect(e.message).toContain('bad.safetensors');
  });

  it('writer rejects inconsistent tensors', () => {
    expect(() =>
      writeSafetensors(
        new Map([['x', { dtype: 'f32', shape: [2], data: new Float32Array(3) } as HostTensor]]),
      ),
    ).toThrow(/2 elements/);
  });
});
