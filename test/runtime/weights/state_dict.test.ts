import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WeightsError } from '../../../runtime/weights/errors.ts';
import {
  checkStateDict,
  loadWeightsFile,
  readWeights,
  sniffWeightsFormat,
  type ExpectedTensor,
} from '../../../runtime/weights/state_dict.ts';
import type { HostTensor, StateDict } from '../../../runtime/weights/tensor.ts';
import { EXPECTED, FIXTURES, catchWeightsError, expectTensor, fixture } from './helpers.ts';

const f32 = (...shape: number[]): HostTensor => ({
  dtype: 'f32',
  shape,
  data: new Float32Array(shape.reduce((a, b) => a * b, 1)),
});
const i64 = (): HostTensor => ({ dtype: 'i64', shape: [], data: new BigInt64Array(1) });

function model(): ExpectedTensor[] {
  return [
    { name: 'conv.weight', shape: [4, 3, 3, 3], dtype: 'f32' },
    { name: 'bn.weight', shape: [4], dtype: 'f32' },
    { name: 'bn.bias', shape: [4], dtype: 'f32' },
    { name: 'bn.num_batches_tracked', shape: [], dtype: 'i64' },
    { name: 'fc.weight', shape: [5, 4], dtype: 'f32' },
    { name: 'fc.bias', shape: [5], dtype: 'f32' },
  ];
}

function matching(): StateDict {
  return new Map<string, HostTensor>([
    ['conv.weight', f32(4, 3, 3, 3)],
    ['bn.weight', f32(4)],
    ['bn.bias', f32(4)],
    ['bn.num_batches_tracked', i64()],
    ['fc.weight', f32(5, 4)],
    ['fc.bias', f32(5)],
  ]);
}

describe('checkStateDict', () => {
  it('accepts a matching state dict, and one without num_batches_tracked (old PyTorch)', () => {
    expect(() => checkStateDict(model(), matching())).not.toThrow();
    const sd = matching();
    sd.delete('bn.num_batches_tracked');
    expect(() => checkStateDict(model(), sd)).not.toThrow();
    // ... and an extra counter for an expected BN is fine too
    const withCounter = matching();
    const noCounterModel = model().filter((e) => !e.name.endsWith('num_batches_tracked'));
    noCounterModel.push({ name: 'bn.running_mean', shape: [4], dtype: 'f32' });
    withCounter.set('bn.running_mean', f32(4));
    expect(() => checkStateDict(noCounterModel, withCounter)).not.toThrow();
    withCounter.set('other.num_batches_tracked', i64());
    expect(() => checkStateDict(noCounterModel, withCounter)).toThrow(/other\.num_batches_tracked/);
    // half-precision weights are acceptable for f32 parameters
    sd.set('fc.bias', { dtype: 'f16', shape: [5], data: new Uint16Array(5) });
    expect(() => checkStateDict(model(), sd)).not.toThrow();
  });

  it('lists missing, unexpected and mis-shaped keys with expected vs got, and a hint', () => {
    const sd = matching();
    sd.delete('bn.bias');
    sd.set('fc.weight', f32(150, 4));
    sd.set('bn.weight', { dtype: 'i64', shape: [4], data: new BigInt64Array(4) });
    sd.set('aux.extra', f32(7));
    const e = catchWeightsError(() => checkStateDict(model(), sd, { fileName: 'ckpt.pth' }));
    expect(e.code).toBe('E_WEIGHTS_MISMATCH');
    const m = e.message;
    expect(m).toContain('ckpt.pth');
    expect(m).toMatch(/missing from the file \(1\):\n {4}bn\.bias {2}f32\[4\]/);
    expect(m).toMatch(/unexpected in the file \(1\):\n {4}aux\.extra {2}f32\[7\]/);
    expect(m).toContain('fc.weight: expected f32[5,4], got f32[150,4]');
    expect(m).toContain('bn.weight: expected f32[4], got i64[4]');
    expect(m).toContain('fcnc info --json');
  });

  it('caps each list at 20 entries with an "… and N more" line', () => {
    const exp: ExpectedTensor[] = Array.from({ length: 50 }, (_, i) => ({
      name: `p${i}`,
      shape: [1],
      dtype: 'f32',
    }));
    const got: StateDict = new Map(
      Array.from({ length: 25 }, (_, i) => [`q${i}`, f32(1)] as [string, HostTensor]),
    );
    const m = catchWeightsError(() => checkStateDict(exp, got)).message;
    expect(m).toContain('missing from the file (50)');
    expect(m).toContain('… and 30 more');
    expect(m).toContain('unexpected in the file (25)');
    expect(m).toContain('… and 5 more');
    expect(m).toContain('p19');
    expect(m).not.toContain('p20 ');
  });

  it('ignore() removes names from both sides', () => {
    const sd = matching();
    sd.set('auxlayer.conv5.0.weight', f32(1));
    const exp = [
      ...model(),
      { name: 'head.encmodule.selayer.weight', shape: [59, 512], dtype: 'f32' as const },
    ];
    expect(() =>
      checkStateDict(exp, sd, { ignore: (n) => n.startsWith('auxlayer.') || n.includes('selayer') }),
    ).not.toThrow();
  });

  it('works against a real fixture', () => {
    const { stateDict } = readWeights(fixture('legacy_checkpoint.pth'));
    const exp: ExpectedTensor[] = EXPECTED.order.map((name) => ({
      name,
      shape: EXPECTED.tensors[name].shape,
      dtype: EXPECTED.tensors[name].dtype === 'i64' ? 'i64' : 'f32',
    }));
    expect(() => checkStateDict(exp, stateDict)).not.toThrow();
  });
});

describe('loadWeightsFile / format sniffing', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'fcnc-weights-'));

  it('chooses the format by content, not by extension', async () => {
    // a zip checkpoint named .safetensors, a legacy checkpoint named .bin, a safetensors named .pth
    const cases: [string, string, string][] = [
      ['zip_state_dict.pth', 'weights.safetensors', 'pth-zip'],
      ['legacy_checkpoint.pth', 'weights.bin', 'pth-legacy'],
      ['expected.safetensors', 'weights.pth', 'safetensors'],
    ];
    for (const [src, dst, format] of cases) {
      const p = join(tmp, dst);
      writeFileSync(p, fixture(src));
      const r = await loadWeightsFile(p);
      expect(r.format).toBe(format);
      for (const name of EXPECTED.order)
        expectTensor(r.stateDict.get(name), EXPECTED.tensors[name], `${dst}:${name}`);
    }
    expect((await loadWeightsFile(FIXTURES + 'legacy_checkpoint.pth')).extra.epoch).toBe(3);
  });

  it('missing file → E_WEIGHTS_NOT_FOUND naming the path', async () => {
    const p = join(tmp, 'nope.pth');
    const e = await loadWeightsFile(p).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(WeightsError);
    expect((e as WeightsError).code).toBe('E_WEIGHTS_NOT_FOUND');
    expect((e as WeightsError).message).toContain(p);
  });

  it('a directory → E_WEIGHTS_IO', async () => {
    const e = await loadWeightsFile(tmp).catch((x: unknown) => x);
    expect((e as WeightsError).code).toBe('E_WEIGHTS_IO');
  });

  it.each([
    [
      'an HTML error page',
      new TextEncoder().encode('<!DOCTYPE html><html>404</html>'),
      'E_WEIGHTS_UNRECOGNIZED',
      /HTML/,
    ],
    ['an empty file', new Uint8Array(0), 'E_WEIGHTS_TRUNCATED', /empty/],
    [
      'random bytes',
      Uint8Array.from({ length: 64 }, (_, i) => (i * 37 + 11) & 255),
      'E_WEIGHTS_UNRECOGNIZED',
      /not recognised/,
    ],
  ])('%s → %s', async (_label, bytes, code, msg) => {
    const p = join(tmp, 'junk.pth');
    writeFileSync(p, bytes);
    const e = await loadWeightsFile(p).catch((x: unknown) => x);
    expect((e as WeightsError).code).toBe(code);
    expect((e as WeightsError).message).toMatch(msg);
    expect((e as WeightsError).message).toContain('junk.pth');
  });

  it('sniffWeightsFormat', () => {
    expect(sniffWeightsFormat(fixture('zip_checkpoint.pth'))).toBe('pth-zip');
    expect(sniffWeightsFormat(fixture('legacy_checkpoint.pth'))).toBe('pth-legacy');
    expect(sniffWeightsFormat(fixture('legacy_checkpoint_p4.pth'))).toBe('pth-legacy');
    expect(sniffWeightsFormat(fixture('expected.safetensors'))).toBe('safetensors');
    expect(sniffWeightsFormat(fixture('plain_values_p2.pkl'))).toBe(null);
  });
});
