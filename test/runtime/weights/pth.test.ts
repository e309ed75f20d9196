import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readPth } from '../../../runtime/weights/pth.ts';
import { readWeights } from '../../../runtime/weights/state_dict.ts';
import { EXPECTED, catchWeightsError, expectTensor, fixture, fuzzRng } from './helpers.ts';

const ALL_FORMATS = [
  ['legacy_checkpoint.pth', 'pth-legacy'],
  ['legacy_checkpoint_p4.pth', 'pth-legacy'],
  ['legacy_module_prefix.pth', 'pth-legacy'],
  ['zip_state_dict.pth', 'pth-zip'],
  ['zip_checkpoint.pth', 'pth-zip'],
  ['zip_module_prefix.pth', 'pth-zip'],
  ['zip_deflated.pth', 'pth-zip'],
  ['expected.safetensors', 'safetensors'],
] as const;

describe('PyTorch checkpoints load to exactly the expected tensors', () => {
  for (const [file, format] of ALL_FORMATS) {
    it(`${file} (${format})`, () => {
      const r = readWeights(fixture(file), file);
      expect(r.format).toBe(format);
      // Same keys, same order (module. prefix stripped), same dtypes/shapes/bits.
      expect([...r.stateDict.keys()]).toEqual(EXPECTED.order);
      for (const name of EXPECTED.order)
        expectTensor(r.stateDict.get(name), EXPECTED.tensors[name], `${file}:${name}`);
    });
  }

  it('materialises non-contiguous views in row-major order', () => {
    // Sanity: the fixture really saved views with non-trivial strides/offsets.
    expect(EXPECTED.strides['view.transposed']).toEqual([1, 3]);
    expect(EXPECTED.strides['view.sliced']).toEqual([6, 2]);
    expect(EXPECTED.storage_offsets['view.sliced']).toBe(6);
    expect(EXPECTED.storage_offsets['shared.b']).toBe(6);
    const sd = readPth(fixture('zip_state_dict.pth')).stateDict;
    // grid = arange(24).reshape(4,6)*0.5-3 ; sliced = grid[1:, ::2]
    const sliced = sd.get('view.sliced')!;
    expect(sliced.shape).toEqual([3, 3]);
    const want = [1, 2, 3].flatMap((r) => [0, 2, 4].map((c) => (r * 6 + c) * 0.5 - 3));
    expect(Array.from(sliced.data as Float32Array)).toEqual(want);
  });

  it('tensors sharing one storage each get the right window, as independent arrays', () => {
    const sd = readPth(fixture('legacy_checkpoint.pth')).stateDict;
    const a = sd.get('shared.a')!;
    const b = sd.get('shared.b')!;
    expect(a.shape).toEqual([2, 3]);
    expect(b.shape).toEqual([6]);
    expectTensor(a, EXPECTED.tensors['shared.a'], 'shared.a');
    expectTensor(b, EXPECTED.tensors['shared.b'], 'shared.b');
    expect(a.data.buffer).not.toBe(b.data.buffer);
  });

  it('legacy storage views (view_metadata) are honoured', () => {
    const r = readPth(fixture('legacy_views.pth'), 'legacy_views.pth');
    expect(r.format).toBe('pth-legacy');
    expect([...r.stateDict.keys()]).toEqual(['a', 'b', 'c', 'd']);
    for (const k of ['a', 'b', 'c', 'd']) expectTensor(r.stateDict.get(k), EXPECTED.views[k], k);
  });

  it('unwraps checkpoint dicts and keeps plain extras (epoch, numpy best_pred), dropping the optimizer', () => {
    const legacy = readPth(fixture('legacy_checkpoint.pth'));
    expect(legacy.extra).toEqual({ epoch: 3, best_pred: 0.5 });
    expect(legacy.extra.epoch).toBe(3);
    const zip = readPth(fixture('zip_checkpoint.pth'));
    expect(zip.extra).toEqual({ epoch: 3, best_pred: 0.5, arch: 'tiny' });
    expect(readPth(fixture('zip_state_dict.pth')).extra).toEqual({});
  });

  it('strips a DataParallel module. prefix', () => {
    for (const f of ['zip_module_prefix.pth', 'legacy_module_prefix.pth']) {
      const keys = [...readPth(fixture(f)).stateDict.keys()];
      expect(keys).toContain('conv.weight');
      expect(keys.some((k) => k.startsWith('module.'))).toBe(false);
    }
  });

  it('zip64 end-of-central-directory records are followed', () => {
    const bytes = fixture('zip_state_dict.pth').slice();
    const dv = new DataView(bytes.buffer);
    let eocd = -1;
    for (let i = bytes.length - 22; i >= 0; i--)
      if (dv.getUint32(i, true) === 0x06054b50) {
        eocd = i;
        break;
      }
    expect(dv.getUint32(eocd - 20, true)).toBe(0x07064b50); // torch writes a zip64 locator
    dv.setUint16(eocd + 8, 0xffff, true);
    dv.setUint16(eocd + 10, 0xffff, true);
    dv.setUint32(eocd + 12, 0xffffffff, true);
    dv.setUint32(eocd + 16, 0xffffffff, true);
    const sd = readPth(bytes).stateDict;
    expectTensor(sd.get('conv.weight'), EXPECTED.tensors['conv.weight'], 'conv.weight');
  });

  it('loads from a Uint8Array at a non-zero, unaligned byteOffset', () => {
    for (const f of ['legacy_checkpoint.pth', 'zip_state_dict.pth', 'expected.safetensors']) {
      const src = fixture(f);
      const buf = new Uint8Array(src.length + 3);
      buf.set(src, 3);
      const sd = readWeights(buf.subarray(3), f).stateDict;
      for (const name of EXPECTED.order) expectTensor(sd.get(name), EXPECTED.tensors[name], `${f}:${name}`);
    }
  });
});

describe('refusing what is not a state dict', () => {
  const marker = EXPECTED.pwned_marker;

  it.each([
    ['evil_system_zip.pth', 'posix.system'],
    ['evil_eval_legacy.pth', 'eval'],
    ['evil_module_zip.pth', 'torch.nn.modules.conv.Conv2d'],
    ['evil_module_legacy.pth', 'torch.nn.modules.conv.Conv2d'],
  ])('%s is refused with E_PICKLE_FORBIDDEN naming %s, and nothing runs', (file, global) => {
    expect(existsSync(marker)).toBe(false);
    const e = catchWeightsError(() => readWeights(fixture(file), file));
    expect(e.code).toBe('E_PICKLE_FORBIDDEN');
    expect(e.message).toContain(global);
    expect(e.message).toContain(file);
    expect(e.message).toMatch(/only state dicts/i);
    expect(existsSync(marker)).toBe(false);
  });

  it('a checkpoint with weights under another key says where they are', () => {
    const e = catchWeightsError(() => readPth(fixture('zip_nested_model_key.pth'), 'nested.pth'));
    expect(e.code).toBe('E_WEIGHTS_NOT_STATE_DICT');
    expect(e.message).toContain('"model"');
    expect(e.message).toContain('nested.pth');
  });

  it('a tiny file cannot make the loader allocate gigabytes (stride-0 expand)', () => {
    const bytes = fixture('evil_expand_zip.pth');
    expect(bytes.length).toBeLessThan(10_000);
    const e = catchWeightsError(() => readPth(bytes, 'expand.pth'));
    expect(e.code).toBe('E_WEIGHTS_CORRUPT');
    expect(e.message).toContain('"w"');
  });

  it('a plain pickle (not torch.save) is unrecognised', () => {
    const e = catchWeightsError(() => readWeights(fixture('plain_values_p2.pkl'), 'x.pkl'));
    expect(e.code).toBe('E_WEIGHTS_UNRECOGNIZED');
  });
});

describe('corrupt and truncated checkpoints only ever throw WeightsError', () => {
  for (const file of ['legacy_checkpoint.pth', 'zip_checkpoint.pth', 'legacy_views.pth']) {
    it(`${file}: truncated at every 7th byte`, () => {
      const bytes = fixture(file);
      for (let cut = 0; cut < bytes.length; cut += 7) {
        const e = catchWeightsError(() => readWeights(bytes.subarray(0, cut), file));
        expect([
          'E_WEIGHTS_TRUNCATED',
          'E_WEIGHTS_CORRUPT',
          'E_WEIGHTS_UNRECOGNIZED',
          'E_PICKLE_CORRUPT',
        ]).toContain(e.code);
      }
    });

    it(`${file}: random byte corruption never escapes as another exception`, () => {
      const bytes = fixture(file);
      const rnd = fuzzRng(42);
      for (let trial = 0; trial < 300; trial++) {
        const b = bytes.slice();
        const flips = 1 + Math.floor(rnd() * 3);
        for (let k = 0; k < flips; k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
        try {
          readWeights(b, file);
        } catch (e) {
          if (!(e instanceof Error) || e.name !== 'WeightsError') throw e;
        }
      }
    });
  }
});
