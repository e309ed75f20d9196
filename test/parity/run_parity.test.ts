// Parity with PyTorch through the user's path: `fcnc run` (the CLI, in-process) on the PyTorch fixtures of every
// family, then `fcnc compare` against PyTorch's outputs: logits and every named intermediate within 1e-4 relative,
// on whatever adapter is available (the software adapter in CI). Skips when no WebGPU adapter can be opened.
// Each family runs at 64×64; some also at an odd size (<variant>/67x93/: the same weights, another input), which
// no output stride divides: the program is compiled for the input's size, as PyTorch runs any size.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { compareStateDicts } from '../../runtime/compare.ts';
import { readSafetensors } from '../../runtime/weights/safetensors.ts';
import { gpuForTests } from '../gpu/harness.ts';
import { ROOT, runCli } from '../helpers.ts';

/** Variant, width, and the fixture folder's size suffix ('' = the 64×64 fixture in the variant's folder). */
const FAMILIES: [string, number, string][] = [
  ['enc_jpu_r50', 4, ''],
  ['enc_dilated_r50', 4, ''],
  ['enc_bilinear_r50', 4, ''],
  ['enc_fpn_r50', 4, ''],
  ['aspp_jpu_r50', 4, ''],
  ['aspp_dilated_r50', 4, ''],
  ['psp_jpu_r50', 4, ''],
  ['psp_dilated_r50', 4, ''],
  ['enc_jpux_r50', 8, ''],
  ['enc_jpu_r50', 4, '67x93'],
  ['enc_fpn_r50', 4, '67x93'],
  ['aspp_jpu_r50', 4, '67x93'],
  ['psp_dilated_r50', 4, '67x93'],
];

const gpu = await gpuForTests();
const dir = mkdtempSync(join(tmpdir(), 'fcnc-parity-'));

const cli = runCli;

describe.skipIf(!gpu.dev)('fcnc run matches PyTorch (fixtures from test/fixtures/parity)', () => {
  beforeAll(() => gpu.dev?.destroy()); // each run opens its own device, as the CLI does
  for (const [variant, width, size] of FAMILIES) {
    const at = size ? ` at ${size.replace('x', '×')}` : '';
    it(`${variant} (width ${width})${at}: logits and every named intermediate within 1e-4`, async () => {
      const weights = join(ROOT, 'test', 'fixtures', 'parity', variant, 'weights.safetensors');
      const fx = join(ROOT, 'test', 'fixtures', 'parity', variant, size);
      const expected = readSafetensors(readFileSync(join(fx, 'outputs.safetensors'))).tensors;
      const out = join(dir, `${variant}${size ? `-${size}` : ''}.safetensors`);
      const r = await cli(
        'run',
        join(ROOT, 'specs', `${variant}.fcn`),
        '--set',
        `width=${width}`,
        '--classes',
        '5',
        '--weights',
        weights,
        '--input',
        join(fx, 'input.safetensors'),
        '--outputs',
        [...expected.keys()].join(','),
        '-o',
        out,
      );
      expect(r.code, r.err).toBe(0);
      const got = readSafetensors(readFileSync(out)).tensors;
      const c = compareStateDicts(got, expected, 1e-4);
      const worst = [...c.tensors].sort((a, b) => b.maxRel - a.maxRel)[0]!;
      expect(c.onlyInA).toEqual([]);
      expect(c.onlyInB).toEqual([]);
      expect(
        c.tensors.filter((t) => !t.ok).map((t) => `${t.name}: ${t.maxRel.toExponential(2)}`),
        `worst: ${worst.name} ${worst.maxRel}`,
      ).toEqual([]);
      for (const name of ['logits', 'aux'])
        expect(c.tensors.find((t) => t.name === name)!.argmaxAgreement).toBeGreaterThan(0.999);
      // The comparison is not vacuous: these tensors exist and were compared.
      expect(c.tensors.map((t) => t.name)).toEqual(
        expect.arrayContaining(['logits', 'aux', 'pretrained.layer4']),
      );
    });
  }
  it('fcnc compare passes the outputs and reports intermediates missing on one side (exit 1)', async () => {
    const fx = join(ROOT, 'test', 'fixtures', 'parity', 'psp_jpu_r50');
    const out = join(dir, 'cmp.safetensors');
    expect(
      (
        await cli(
          'run',
          join(ROOT, 'specs', 'psp_jpu_r50.fcn'),
          '--set',
          'width=4',
          '--classes',
          '5',
          '--weights',
          join(fx, 'weights.safetensors'),
          '--input',
          join(fx, 'input.safetensors'),
          '-o',
          out,
        )
      ).code,
    ).toBe(0);
    const c = await cli('compare', out, join(fx, 'outputs.safetensors'));
    // Only the outputs were written; the fixture has intermediates too, so compare reports them as missing on A.
    expect(c.out).toMatch(/ok\s+logits/);
    expect(c.out).toMatch(/ok\s+aux/);
    expect(c.out).toContain('only in B:');
    expect(c.code).toBe(1);
  });
});
