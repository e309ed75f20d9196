// The same weights as a PyTorch checkpoint (legacy format, as the official FastFCN checkpoints are; and zip) load to
// exactly the values of the safetensors file and give the same logits.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../compiler/cli/main.ts';
import { paramSpecs } from '../../compiler/cli/shared.ts';
import { buildGraph } from '../../compiler/index.ts';
import { loadParams } from '../../runtime/params.ts';
import { readSafetensors } from '../../runtime/weights/safetensors.ts';
import { gpuForTests } from '../gpu/harness.ts';
import { ROOT } from '../helpers.ts';

const bytes = (v: ArrayBufferView) => Buffer.from(v.buffer, v.byteOffset, v.byteLength);
const fx = (f: string) => join(ROOT, 'test', 'fixtures', 'parity', 'enc_jpu_r50', f);
const graph = () =>
  buildGraph(join(ROOT, 'specs', 'enc_jpu_r50.fcn'), {
    height: 64,
    width: 64,
    settings: { width: 4, classes: 5 },
  }).graph!;

describe('PyTorch checkpoints as weights', () => {
  it('legacy .pth.tar checkpoint dict and zip .pth load to the safetensors values, bit for bit', async () => {
    const specs = paramSpecs(graph());
    const st = await loadParams(specs, { weights: fx('weights.safetensors') });
    for (const file of ['checkpoint_legacy.pth.tar', 'state_dict_zip.pth']) {
      const p = await loadParams(specs, { weights: fx(file) });
      expect(p.source).toContain(file.includes('legacy') ? 'pth-legacy' : 'pth-zip');
      expect([...p.params.keys()]).toEqual([...st.params.keys()]);
      for (const [k, v] of st.params) expect(bytes(p.params.get(k)!).equals(bytes(v)), k).toBe(true);
    }
  });
});

describe('fcnc convert', () => {
  it('turns the legacy checkpoint into safetensors with the same tensors, checked against the spec', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fcnc-convert-'));
    const io = { out: () => {}, err: () => {}, color: false };
    const out = join(dir, 'w.safetensors');
    expect(
      await main(
        [
          'convert',
          fx('checkpoint_legacy.pth.tar'),
          '-o',
          out,
          '--spec',
          join(ROOT, 'specs', 'enc_jpu_r50.fcn'),
          '--set',
          'width=4',
          '--classes',
          '5',
        ],
        io,
      ),
    ).toBe(0);
    const got = readSafetensors(readFileSync(out));
    const want = readSafetensors(readFileSync(fx('weights.safetensors'))).tensors;
    expect([...got.tensors.keys()]).toEqual([...want.keys()]);
    for (const [k, v] of want) expect(bytes(got.tensors.get(k)!.data).equals(bytes(v.data)), k).toBe(true);
    expect(got.metadata.epoch).toBe('80');
    // Against another variant's spec it refuses, and writes nothing.
    const bad = join(dir, 'bad.safetensors');
    expect(
      await main(
        [
          'convert',
          fx('checkpoint_legacy.pth.tar'),
          '-o',
          bad,
          '--spec',
          join(ROOT, 'specs', 'psp_jpu_r50.fcn'),
          '--set',
          'width=4',
          '--classes',
          '5',
        ],
        io,
      ),
    ).toBe(1);
    expect(existsSync(bad)).toBe(false);
  });
});

const gpu = await gpuForTests();
gpu.dev?.destroy();
describe.skipIf(!gpu.dev)('PyTorch checkpoints on the GPU', () => {
  it('fcnc run with the legacy checkpoint gives the logits of the safetensors weights', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fcnc-pth-'));
    const run = async (weights: string, out: string) => {
      let err = '';
      const code = await main(
        [
          'run',
          join(ROOT, 'specs', 'enc_jpu_r50.fcn'),
          '--set',
          'width=4',
          '--classes',
          '5',
          '--weights',
          weights,
          '--input',
          fx('input.safetensors'),
          '-o',
          out,
        ],
        { out: () => {}, err: (t) => (err += t), color: false },
      );
      expect(code, err).toBe(0);
      return readSafetensors(readFileSync(out)).tensors;
    };
    const a = await run(fx('checkpoint_legacy.pth.tar'), join(dir, 'a.safetensors'));
    const b = await run(fx('weights.safetensors'), join(dir, 'b.safetensors'));
    for (const name of ['logits', 'aux', 'se'])
      expect([...(a.get(name)!.data as Float32Array)]).toEqual([...(b.get(name)!.data as Float32Array)]);
  });
});
