// `fcnc profile` end to end on the adapter (the software one here): the table, the JSON (checked against
// compiler/schemas/profile.schema.json), the PNG chart, -o, a training step, and usage errors.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateProfileJson } from '../../compiler/schemas/validate.ts';
import { decodeImage } from '../../runtime/image.ts';
import type { ProfileJson } from '../../compiler/cli/commands/profile.ts';
import { gpuForTests } from '../gpu/harness.ts';
import { ROOT, runCli } from '../helpers.ts';

const gpu = await gpuForTests();
const timestamps = gpu.dev?.features.includes('timestamp-query') ?? false;
gpu.dev?.destroy();

const SPEC = join(ROOT, 'specs', 'enc_jpu_r50.fcn');
const TINY = ['--set', 'width=4', '--size', '64'];

describe('fcnc profile (usage)', () => {
  it('rejects a bad entry, run count or method before doing anything', async () => {
    for (const args of [
      ['--entry', 'backward'],
      ['--runs', '0'],
      ['--top', 'x'],
      ['--method', 'fast'],
    ]) {
      const r = await runCli('profile', SPEC, ...TINY, ...args);
      expect(r.code, args.join(' ')).toBe(2);
    }
  });

  it('has --help', async () => {
    const r = await runCli('profile', '--help');
    expect(r.code).toBe(0);
    expect(r.out).toContain('--entry');
    expect(r.out).toContain('--json');
    expect(r.out).toContain('--png');
  });
});

describe.skipIf(!gpu.dev)('fcnc profile', () => {
  it('prints the top kernels and writes JSON and a PNG chart', async () => {
    const out = mkdtempSync(join(tmpdir(), 'fcnc-profile-'));
    const json = join(out, 'p.json');
    const png = join(out, 'p.png');
    const r = await runCli(
      'profile',
      SPEC,
      ...TINY,
      '--runs',
      '2',
      '--top',
      '5',
      '--json',
      json,
      '--png',
      png,
    );
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/using (software adapter|GPU)/);
    expect(r.err).toMatch(/peak: [\d.]+ GFLOP\/s, [\d.]+ GB\/s/);
    // 82 kernels; on llvmpipe the three strided 1×1 convs are two dispatches each (conv2d.sub: subsampled, then a GEMM).
    const steps = /llvmpipe/i.test(gpu.dev!.description) ? 85 : 82;
    expect(r.out).toContain(`top 5 of ${steps} steps by time:`);
    expect(r.out).toMatch(/^method: (sync|timestamps) — /m);
    expect(r.out).toMatch(/^adapter: /m);
    expect(r.out).toMatch(/sum of steps [\d.]+ ms vs whole 'forward' [\d.]+ ms \(median of 2 calls/);
    // Header, rule and five rows of the kernel table; then each row's nodes.
    const head = r.out.split('\n').findIndex((l) => /^\s*#\s+step\s+kernel/.test(l));
    expect(head).toBeGreaterThan(0);
    const table = r.out.split('\n').slice(head + 2, head + 7);
    expect(table.every((l) => /^\s*\d+\s+\d+\s+\S+/.test(l))).toBe(true);
    for (const m of ['pretrained', 'jpu', 'head', 'auxlayer', '(model)']) expect(r.out).toContain(m);

    const p = JSON.parse(readFileSync(json, 'utf8')) as ProfileJson;
    expect(validateProfileJson(p)).toBeUndefined();
    expect(p.format).toBe('fcnc-profile');
    expect(p.model).toBe('enc_jpu_r50');
    expect(p.entry).toBe('forward');
    expect(p.runs).toBe(2);
    expect(p.rows).toHaveLength(steps);
    expect(p.inputs).toEqual([{ name: 'image', shape: [1, 3, 64, 64] }]);
    expect(p.method).toBe(timestamps ? 'timestamps' : 'sync');
    expect(p.peak!.gflops).toBeGreaterThan(0);
    const stem = p.rows.find((x) => x.node === 'pretrained.conv1.0')!;
    expect(stem.flops).toBe(2 * 4 * 32 * 32 * 27);
    expect(stem.nodes.map((n) => n.name)).toEqual([
      'pretrained.conv1.0',
      'pretrained.conv1.1',
      'pretrained.conv1.2',
    ]);
    expect(p.byModule.reduce((a, m) => a + m.ms, 0)).toBeCloseTo(p.stepsMs, 6);

    const img = decodeImage(readFileSync(png));
    expect(img.width).toBeGreaterThan(600);
    expect(img.height).toBeGreaterThan(200);
    // Not blank: the bars are coloured.
    let coloured = 0;
    for (let k = 0; k < img.width * img.height; k++) {
      const [R, G, B] = [img.data[k * 3]!, img.data[k * 3 + 1]!, img.data[k * 3 + 2]!];
      if (Math.max(R, G, B) - Math.min(R, G, B) > 60) coloured++;
    }
    expect(coloured).toBeGreaterThan(1000);
  });

  it('writes profile.txt, profile.json and profile.png with -o; a schema-valid JSON without the peak', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'fcnc-profile-')), 'o');
    const r = await runCli('profile', SPEC, ...TINY, '--runs', '1', '--no-peak', '-o', out);
    expect(r.code, r.err).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['profile.json', 'profile.png', 'profile.txt']);
    const p = JSON.parse(readFileSync(join(out, 'profile.json'), 'utf8')) as ProfileJson;
    expect(validateProfileJson(p)).toBeUndefined();
    expect(p.peak).toBeNull();
    expect(p.rows.every((x) => x.pctPeakFlops === null && x.pctPeakBandwidth === null)).toBe(true);
    expect(readFileSync(join(out, 'profile.txt'), 'utf8')).toBe(r.out);
    // bench/device/charts.ts draws the chart from the JSON alone (a device run packed without the renderer): the
    // same bytes.
    const back = join(out, '..', 'device');
    mkdirSync(join(back, 'profile'), { recursive: true });
    copyFileSync(join(out, 'profile.json'), join(back, 'profile', 'profile.json'));
    execFileSync(process.execPath, [
      join(ROOT, 'bin', 'run-ts.js'),
      join(ROOT, 'bench', 'device', 'charts.ts'),
      back,
    ]);
    expect(
      readFileSync(join(back, 'profile', 'profile.png')).equals(readFileSync(join(out, 'profile.png'))),
    ).toBe(true);
  });

  it.skipIf(timestamps)('says so when timestamps are required and the adapter has none', async () => {
    const r = await runCli('profile', SPEC, ...TINY, '--runs', '1', '--no-peak', '--method', 'timestamps');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/has no timestamp-query feature; use --method sync or auto/);
  });

  it('profiles a training step', { timeout: 600_000 }, async () => {
    const out = mkdtempSync(join(tmpdir(), 'fcnc-profile-'));
    const json = join(out, 'train.json');
    const r = await runCli(
      'profile',
      SPEC,
      '--set',
      'width=4',
      '--size',
      '32',
      '--entry',
      'train_step',
      '--runs',
      '1',
      '--no-peak',
      '--top',
      '5',
      '--json',
      json,
    );
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/entry 'train_step'/);
    const p = JSON.parse(readFileSync(json, 'utf8')) as ProfileJson;
    expect(validateProfileJson(p)).toBeUndefined();
    expect(p.entry).toBe('train_step');
    expect(p.inputs.map((i) => i.name)).toEqual(['image', 'labels', 'hyper']);
    const ops = new Set(p.rows.map((x) => x.op));
    for (const op of ['conv2d', 'conv2d_grad_input', 'conv2d_grad_weight', 'ce_loss', 'sgd_update', 'copy'])
      expect(ops, op).toContain(op);
    // The stem's weight gradient costs as much as the stem conv.
    const grad = p.rows.filter((x) => x.node === 'pretrained.conv1.0.grad.weight');
    expect(grad.reduce((a, x) => a + x.flops, 0)).toBe(2 * 4 * 16 * 16 * 27);
    expect(p.byModule.reduce((a, m) => a + m.steps, 0)).toBe(p.rows.length);
  });
});
