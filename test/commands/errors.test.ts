// Bad input to the commands that run networks gives a clear message, a non-zero exit and no output files.
// These checks all happen before a device is opened, so they need no GPU.
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeSafetensors } from '../../runtime/weights/safetensors.ts';
import { ROOT, runCli } from '../helpers.ts';

const cli = runCli;
const spec = (v: string) => join(ROOT, 'specs', `${v}.fcn`);
const fixture = (v: string, f: string) => join(ROOT, 'test', 'fixtures', 'parity', v, f);
const chelsea = join(ROOT, 'test', 'fixtures', 'images', 'chelsea.png');

function tensorFile(
  dir: string,
  name: string,
  shape: number[],
  dtype: 'f32' | 'i32' = 'f32',
  key = 'image',
): string {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = dtype === 'f32' ? new Float32Array(n) : new Int32Array(n);
  const path = join(dir, name);
  writeFileSync(path, writeSafetensors(new Map([[key, { dtype, shape, data } as never]])));
  return path;
}

describe('fcnc infer: bad input', () => {
  const out = () => mkdtempSync(join(tmpdir(), 'fcnc-infer-out-'));
  it('a missing image', async () => {
    const o = out();
    const r = await cli('infer', spec('enc_jpu_r50'), join(ROOT, 'nope.png'), '-o', o, '--set', 'width=4');
    expect(r.code).toBe(1);
    expect(r.err).toContain('nope.png: no such image file');
    expect(readdirSync(o)).toEqual([]);
  });
  it('a corrupt image (and a valid one before it: nothing is written)', async () => {
    const o = out();
    const bad = join(mkdtempSync(join(tmpdir(), 'fcnc-img-')), 'broken.png');
    writeFileSync(bad, readFileSync(chelsea).subarray(0, 500));
    const r = await cli('infer', spec('enc_jpu_r50'), chelsea, bad, '-o', o, '--set', 'width=4');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/broken\.png: cannot decode the image/);
    expect(readdirSync(o)).toEqual([]);
  });
  it('a file that is no image', async () => {
    const r = await cli('infer', spec('enc_jpu_r50'), spec('enc_jpu_r50'), '-o', out(), '--set', 'width=4');
    expect(r.code).toBe(1);
    expect(r.err).toContain('not a PNG or JPEG image');
  });
  it('weights of another variant: missing, unexpected and mis-shaped keys are listed', async () => {
    const o = out();
    const r = await cli(
      'infer',
      spec('enc_jpu_r50'),
      chelsea,
      '-o',
      o,
      '--set',
      'width=4',
      '--classes',
      '5',
      '--weights',
      fixture('psp_jpu_r50', 'weights.safetensors'),
    );
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/missing/i);
    expect(r.err).toContain('head.encmodule.encoding.3.codewords');
    expect(r.err).toMatch(/unexpected/i);
    expect(r.err).toContain('head.conv5.0.conv1.0.weight');
    expect(readdirSync(o)).toEqual([]);
  });
  it('a truncated safetensors file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fcnc-w-'));
    const cut = join(dir, 'cut.safetensors');
    const bytes = readFileSync(fixture('enc_jpu_r50', 'weights.safetensors'));
    writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const o = out();
    const r = await cli(
      'infer',
      spec('enc_jpu_r50'),
      chelsea,
      '-o',
      o,
      '--set',
      'width=4',
      '--classes',
      '5',
      '--weights',
      cut,
    );
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/cut\.safetensors/);
    expect(r.err).toMatch(/truncated|shorter|ends/i);
    expect(readdirSync(o)).toEqual([]);
  });
  it('an unknown spec', async () => {
    const o = out();
    const r = await cli('infer', join(ROOT, 'specs', 'enc_jpu_r42.fcn'), chelsea, '-o', o);
    expect(r.code).toBe(1);
    expect(r.err).toContain('cannot read');
    expect(readdirSync(o)).toEqual([]);
  });
  it('an output path that is a file', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'fcnc-o-')), 'taken');
    writeFileSync(file, 'x');
    const r = await cli('infer', spec('enc_jpu_r50'), chelsea, '-o', file, '--set', 'width=4');
    expect(r.code).toBe(1);
    expect(r.err).toContain('a file is there; give a folder for the outputs');
  });
  it('an empty folder', async () => {
    const r = await cli(
      'infer',
      spec('enc_jpu_r50'),
      mkdtempSync(join(tmpdir(), 'fcnc-empty-')),
      '-o',
      out(),
    );
    expect(r.code).toBe(1);
    expect(r.err).toContain('has no .png, .jpg or .jpeg images');
  });
});

describe('fcnc run: the input must fit the model', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fcnc-run-'));
  const run = (input: string, ...extra: string[]) =>
    cli(
      'run',
      spec('enc_jpu_r50'),
      '--set',
      'width=4',
      '--input',
      input,
      '-o',
      join(dir, 'out.safetensors'),
      ...extra,
    );
  it('wrong channel count names the expected shape', async () => {
    const r = await run(tensorFile(dir, 'c4.safetensors', [1, 4, 64, 64]));
    expect(r.code).toBe(1);
    expect(r.err).toContain("'image' has shape [1, 4, 64, 64] but enc_jpu_r50 expects [1, 3, 64, 64]");
  });
  it('wrong dtype and rank, missing tensor', async () => {
    expect((await run(tensorFile(dir, 'i.safetensors', [1, 3, 64, 64], 'i32'))).err).toContain(
      "'image' is i32; expected f32 [N, 3, H, W]",
    );
    expect((await run(tensorFile(dir, 'r.safetensors', [3, 64, 64]))).err).toContain(
      'expected 4-D f32 [N, 3, H, W]',
    );
    expect((await run(tensorFile(dir, 'k.safetensors', [1, 3, 64, 64], 'f32', 'img'))).err).toContain(
      "no tensor named 'image' (found: img)",
    );
  });
  it('an unknown output name suggests the closest', async () => {
    const r = await run(tensorFile(dir, 'ok.safetensors', [1, 3, 64, 64]), '--outputs', 'pretrained.layer5');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /'pretrained\.layer5' names no output or value of enc_jpu_r50; did you mean 'pretrained\.layer\d'/,
    );
    expect(existsSync(join(dir, 'out.safetensors'))).toBe(false);
  });
});

describe('fcnc run --grads: the labels must fit the image and the classes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fcnc-grads-'));
  const image = tensorFile(dir, 'image.safetensors', [2, 3, 32, 32]);
  const grads = (...extra: string[]) =>
    cli(
      'run',
      spec('enc_jpu_r50'),
      '--set',
      'width=4',
      '--classes',
      '5',
      '--input',
      image,
      '--grads',
      '-o',
      join(dir, 'out.safetensors'),
      ...extra,
    );
  function labelsFile(name: string, shape: number[], fill: (i: number) => number, key = 'labels'): string {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = BigInt64Array.from({ length: n }, (_, i) => BigInt(fill(i)));
    const path = join(dir, name);
    writeFileSync(path, writeSafetensors(new Map([[key, { dtype: 'i64', shape, data } as never]])));
    return path;
  }
  it('--grads without --labels, --labels without --grads', async () => {
    const r = await grads();
    expect(r.code).toBe(2);
    expect(r.err).toContain('--grads needs --labels <file>');
    const s = await cli(
      'run',
      spec('enc_jpu_r50'),
      '--input',
      image,
      '--labels',
      image,
      '-o',
      join(dir, 'x.safetensors'),
    );
    expect(s.code).toBe(2);
    expect(s.err).toContain('--labels goes with --grads');
  });
  it('a label outside the classes is located', async () => {
    const r = await grads(
      '--labels',
      labelsFile('big.safetensors', [2, 32, 32], (i) => (i === 1024 + 33 ? 5 : 0)),
    );
    expect(r.code).toBe(1);
    expect(r.err).toContain('labels[1, 1, 1] = 5; labels must be −1 (ignored) or a class in 0..4');
    expect(existsSync(join(dir, 'out.safetensors'))).toBe(false);
  });
  it('labels of the wrong shape or name, or floats', async () => {
    expect(
      (
        await grads(
          '--labels',
          labelsFile('s.safetensors', [2, 32, 31], () => 0),
        )
      ).err,
    ).toContain("'labels' has shape [2, 32, 31] but the image needs [2, 32, 32] (N, H, W)");
    expect(
      (
        await grads(
          '--labels',
          labelsFile('k.safetensors', [2, 32, 32], () => 0, 'target'),
        )
      ).err,
    ).toContain("no tensor named 'labels' (found: target)");
    const f = tensorFile(dir, 'f.safetensors', [2, 32, 32], 'f32', 'labels');
    const data = new Float32Array(2 * 32 * 32).fill(0.5);
    writeFileSync(f, writeSafetensors(new Map([['labels', { dtype: 'f32', shape: [2, 32, 32], data }]])));
    expect((await grads('--labels', f)).err).toContain('labels[0, 0, 0] = 0.5');
  });
});

describe('fcnc run: output names', () => {
  it('a block instance with several outputs stands for all of them', async () => {
    const { withOutputs } = await import('../../compiler/cli/commands/run.ts');
    const { buildGraph } = await import('../../compiler/index.ts');
    const g = buildGraph(spec('enc_jpu_r50'), { height: 64, width: 64, settings: { width: 4 } }).graph!;
    const h = withOutputs({ ...g, outputs: [] }, ['head.encmodule', 'jpu']);
    expect(h.outputs.map((o) => o.name)).toEqual(['head.encmodule.y', 'head.encmodule.se', 'jpu']);
    expect(h.outputs.map((o) => h.nodes[o.node]!.shape)).toEqual([
      [1, 32, 8, 8],
      [1, 59],
      [1, 128, 8, 8],
    ]);
  });
});
