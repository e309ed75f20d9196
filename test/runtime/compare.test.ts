// `fcnc compare`: errors relative to B's scale, argmax agreement, missing tensors, exit codes.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compareStateDicts } from '../../runtime/compare.ts';
import { writeSafetensors } from '../../runtime/weights/safetensors.ts';
import type { HostTensor } from '../../runtime/weights/tensor.ts';
import { runCli } from '../helpers.ts';

const t = (shape: number[], values: number[]): HostTensor => ({
  dtype: 'f32',
  shape,
  data: Float32Array.from(values),
});

describe('compare', () => {
  it('relative error is max|a−b| over max|b|; argmax agreement over classes', () => {
    // logits [1, 2, 1, 2]: pixel 0 agrees (class 1 in both), pixel 1 flips.
    const a = new Map([['logits', t([1, 2, 1, 2], [0, 0.5, 1, 0.4])]]);
    const b = new Map([['logits', t([1, 2, 1, 2], [0, 0.5, 1, 0.6])]]);
    const c = compareStateDicts(a, b, 0.1);
    expect(c.tensors[0]!.maxAbs).toBeCloseTo(0.2, 6);
    expect(c.tensors[0]!.maxRel).toBeCloseTo(0.2, 6);
    expect(c.tensors[0]!.argmaxAgreement).toBe(0.5);
    expect(c.ok).toBe(false);
    expect(compareStateDicts(a, b, 0.25).ok).toBe(true);
  });
  it('shape mismatches, NaN and missing tensors fail', () => {
    expect(
      compareStateDicts(new Map([['x', t([2], [1, 2])]]), new Map([['x', t([1, 2], [1, 2])]]), 1).ok,
    ).toBe(false);
    expect(
      compareStateDicts(new Map([['x', t([2], [NaN, 2])]]), new Map([['x', t([2], [1, 2])]]), 1).ok,
    ).toBe(false);
    const c = compareStateDicts(
      new Map([
        ['x', t([1], [1])],
        ['y', t([1], [1])],
      ]),
      new Map([['x', t([1], [1])]]),
      1,
    );
    expect(c.onlyInA).toEqual(['y']);
    expect(c.ok).toBe(false);
  });
  it('the CLI exits 1 past the tolerance and 0 within it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fcnc-compare-'));
    writeFileSync(join(dir, 'a.safetensors'), writeSafetensors(new Map([['se', t([1, 3], [1, 2, 3])]])));
    writeFileSync(join(dir, 'b.safetensors'), writeSafetensors(new Map([['se', t([1, 3], [1, 2, 3.003])]])));
    const run = runCli;
    const strict = await run('compare', join(dir, 'a.safetensors'), join(dir, 'b.safetensors'));
    expect(strict.code).toBe(1);
    expect(strict.out).toMatch(/FAIL\s+se\s+\[1, 3\]\s+3\.\d+e-3/);
    const loose = await run(
      'compare',
      join(dir, 'a.safetensors'),
      join(dir, 'b.safetensors'),
      '--tolerance',
      '1e-3',
    );
    expect(loose.code).toBe(0);
    const missing = await run('compare', join(dir, 'a.safetensors'), join(dir, 'nope.safetensors'));
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('no such file');
    expect(
      (await run('compare', join(dir, 'a.safetensors'), join(dir, 'b.safetensors'), '--tolerance', '-1'))
        .code,
    ).toBe(2);
  });
});
