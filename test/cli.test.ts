// The fcnc command line: exit codes, --help on every command, info's table and schema-valid JSON.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSetting, parseSize } from '../compiler/cli/options.ts';
import { validateInfoJson } from '../compiler/schemas/validate.ts';
import { ROOT, runCli } from './helpers.ts';

const run = runCli;
const spec = (name: string) => join(ROOT, 'specs', `${name}.fcn`);
const errCase = (name: string) => join(ROOT, 'test', 'cases', 'errors', `${name}.fcn`);

describe('fcnc', () => {
  it('--help on every command', async () => {
    for (const cmd of [
      [],
      ['check'],
      ['info'],
      ['print'],
      ['compile'],
      ['infer'],
      ['run'],
      ['compare'],
      ['convert'],
    ]) {
      const r = await run(...cmd, '--help');
      expect(r.code).toBe(0);
      expect(r.out).toContain('Usage: fcnc');
    }
  });

  it('info reports the flagship exactly', async () => {
    const r = await run('info', spec('enc_jpu_r50'), '--size', '512', '--classes', '59');
    expect(r.code).toBe(0);
    expect(r.out).toContain('pretrained.layer1.0.conv1');
    expect(r.out).toMatch(/total\s+49,443,769\s+66\.38/);
    expect(r.out).toMatch(/pretrained\s+25,680,808\s+28\.43/);
    expect(r.out).toMatch(/jpu\s+19,735,552\s+30\.02/);
  });

  it('info --json validates against the shipped schema', async () => {
    const r = await run(
      'info',
      spec('psp_dilated_r50'),
      '--json',
      '--size',
      '480x640',
      '--batch',
      '2',
      '--classes',
      '150',
    );
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(validateInfoJson(j)).toBeUndefined();
    expect(j.input[0].shape).toEqual([2, 3, 480, 640]);
    expect(j.settings.classes).toBe(150);
    expect(j.totals.peakActivationBytes).toBeGreaterThan(0);
    expect(j.totals.peakActivationBytes).toBeLessThan(j.totals.activationBytes);
    expect(validateInfoJson({ ...j, totals: { ...j.totals, macs: -1 } })).toMatch(/macs/);
  });

  it('check: 0 on good specs, 1 with located errors', async () => {
    const ok = await run('check', spec('enc_jpu_r50'), spec('aspp_jpu_r101'));
    expect(ok.code).toBe(0);
    const bad = await run('check', errCase('unknown_layer'));
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(
      /unknown_layer\.fcn:3:7: error\[E_UNKNOWN_LAYER\]: unknown layer or block 'convv'/,
    );
    expect(bad.err).toContain("hint: did you mean 'conv'?");
    expect(bad.err).toContain('1 error, 0 warnings');
  });

  it('any size PyTorch accepts, not only multiples of the output stride', async () => {
    const r = await run('info', spec('enc_jpu_r50'), '--size', '500');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('input image [1, 3, 500, 500]  →  logits [1, 59, 500, 500]');
    expect(r.out).toMatch(/jpu\s+concat\s+\[1, 2048, 63, 63\]/); // c2 of 500: ⌈500 / 8⌉
  });

  it('usage errors exit 2', async () => {
    expect((await run('info', spec('enc_jpu_r50'), '--size', 'big')).code).toBe(2);
    expect((await run('info', spec('enc_jpu_r50'), '--batch', '0')).code).toBe(2);
    expect((await run('frobnicate')).code).toBe(2);
    expect((await run('info')).code).toBe(2);
    expect((await run('print', '--stage', 'wgsl', spec('enc_jpu_r50'))).code).toBe(2);
    expect((await run('infer', spec('enc_jpu_r50'), 'x.png', '-o', 'out', '--batch', '2')).code).toBe(2);
    expect(
      (
        await run(
          'run',
          spec('enc_jpu_r50'),
          '--input',
          'x.safetensors',
          '-o',
          'y.safetensors',
          '--size',
          '64',
        )
      ).code,
    ).toBe(2);
  });

  it('unknown spec file and unknown --set are spec errors', async () => {
    const r = await run('check', join(ROOT, 'specs', 'nope.fcn'));
    expect(r.code).toBe(1);
    expect(r.err).toContain('cannot read');
    const s = await run('info', spec('enc_jpu_r50'), '--set', 'depth=18');
    expect(s.code).toBe(1);
    expect(s.err).toContain("model 'enc_jpu_r50' has no parameter 'depth'");
  });

  it('print --stage ir and ast', async () => {
    const ir = await run('print', '--stage', 'ir', spec('enc_jpu_r50'), '--set', 'width=4', '--size', '64');
    expect(ir.code).toBe(0);
    expect(ir.out).toMatch(/^graph enc_jpu_r50/);
    expect(ir.out).toContain(
      'param pretrained.layer1.0.conv1.weight : f32[4, 8, 1, 1] init(kaiming_normal_fan_out)',
    );
    const ast = await run('print', '--stage', 'ast', spec('enc_jpu_r50'));
    expect(ast.code).toBe(0);
    expect(JSON.parse(ast.out)[0].decls[0].name).toBe('enc_jpu_r50');
  });

  it('parses sizes and settings', () => {
    expect(parseSize('480x640')).toEqual({ height: 480, width: 640 });
    expect(parseSize('512')).toEqual({ height: 512, width: 512 });
    expect(() => parseSize('0')).toThrow();
    expect(parseSetting('width=4')).toEqual({ width: 4 });
    expect(parseSetting('eps=1e-3', { a: 1 })).toEqual({ a: 1, eps: 0.001 });
    expect(parseSetting('d=[1,2,4,8]')).toEqual({ d: [1, 2, 4, 8] });
    expect(parseSetting('flag=true')).toEqual({ flag: true });
    expect(() => parseSetting('novalue')).toThrow(/name=value/);
  });
});
