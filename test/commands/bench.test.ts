// `fcnc bench` end to end on the adapter (the software one here), at a tiny size and width: a row per variant with
// FPS > 0, memory equal to the program's plan, params and GMACs equal to `fcnc info`'s, the speed-up the ratio of
// the FPS, the paper's ratio of the pair, the JSON against compiler/schemas/bench.schema.json, the PNG chart, the
// markdown; training steps; and the errors (usage, a spec with errors, a size too large, no adapter).
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compile } from '../../compiler/compile.ts';
import { buildGraph } from '../../compiler/index.ts';
import { validateBenchJson } from '../../compiler/schemas/validate.ts';
import { compileTrainingFor } from '../../compiler/cli/commands/train.ts';
import { settleRunners } from '../../compiler/cli/commands/bench.ts';
import {
  baselineOf,
  compareVariants,
  medianInterval,
  PAPER_TABLE2,
  parseVariant,
  roundStats,
  speedupTarget,
  TABLE2_SPECS,
  targetInterval,
  type BenchJson,
  type MeasuredVariant,
} from '../../runtime/bench.ts';
import { decodeImage } from '../../runtime/image.ts';
import { tuningFor } from '../../runtime/tuning.ts';
import { gpuForTests } from '../gpu/harness.ts';
import { ROOT, runCli } from '../helpers.ts';

const gpu = await gpuForTests();
const limits = gpu.dev?.limits;
const tuning = gpu.dev ? tuningFor(gpu.dev) : {};
const adapterKind = gpu.dev?.kind;
const adapterInfo = gpu.dev?.adapterInfo;
gpu.dev?.destroy();

const JPU = join(ROOT, 'specs', 'enc_jpu_r50.fcn');
const DILATED = join(ROOT, 'specs', 'enc_dilated_r50.fcn');
const TINY = ['--set', 'width=4', '--size', '64'];
const QUICK = ['--runs', '2', '--forwards', '1', '--warmup', '1', '--tune', 'off'];

describe('runtime/bench (tables)', () => {
  it('knows the paper: Table 2 for all 16 variants, pairs by head and backbone', () => {
    expect(TABLE2_SPECS).toHaveLength(16);
    for (const s of TABLE2_SPECS) {
      const model = s.replace(/^specs\/|\.fcn$/g, '');
      expect(PAPER_TABLE2[model], model).toBeGreaterThan(0);
      expect(readFileSync(join(ROOT, s), 'utf8')).toContain(`model ${model}(`);
    }
    expect(parseVariant('aspp_jpu_r101')).toEqual({ head: 'aspp', method: 'jpu', backbone: 'r101' });
    expect(parseVariant('mynet')).toBeUndefined();
    expect(baselineOf('psp_jpu_r101')).toBe('psp_dilated_r101');
    expect(baselineOf('enc_fpn_r50')).toBe('enc_dilated_r50');
    expect(baselineOf('enc_dilated_r50')).toBeUndefined();
    // The paper's ratio where it is below the MAC ratio, else 0.95× the MAC ratio.
    expect(speedupTarget(2.0, 2.36)).toBe(2.0);
    expect(speedupTarget(1.58, 1.4)).toBeCloseTo(1.33, 10);
  });

  it('statistics over rounds and the comparisons', () => {
    const s = roundStats([2, 4, 3, 1]);
    expect([s.median, s.fastest, s.slowest, s.mean]).toEqual([2.5, 4, 1, 2.5]);
    expect(s.std).toBeCloseTo(Math.sqrt(1.25), 12);
    const v = (model: string, fps: number[], macs: number): MeasuredVariant => ({
      model,
      file: `${model}.fcn`,
      dispatches: 1,
      chunk: 1,
      fps: roundStats(fps),
      memory: { activationBytes: 1, paramBytes: 1, optimizerBytes: 0, totalBytes: 2 },
      params: 1,
      macs,
    });
    const [jpu, dil, other] = compareVariants(
      [v('psp_jpu_r50', [3, 4, 5], 100), v('psp_dilated_r50', [1, 2, 2.5], 150), v('mynet', [1], 1)],
      'inference',
    );
    expect(jpu!.speedup).toBe(2);
    expect(jpu!.speedupFastest).toBe(2);
    // Round by round: 3/1, 4/2, 5/2.5.
    // Its interval: 3 rounds allow only the whole range, which holds the median with probability 1 − 2/8.
    expect(jpu!.pairedSpeedup).toEqual({
      median: 2,
      slowest: 2,
      fastest: 3,
      low: 2,
      high: 3,
      coverage: 0.75,
    });
    expect(jpu!.targetInterval).toBeNull(); // 75 %: too few rounds for a verdict
    // Five rounds: the whole range at 93.75 %, enough for one.
    const five = (jpuFps: number[]) =>
      compareVariants(
        [v('enc_jpu_r50', jpuFps, 1), v('enc_dilated_r50', [1, 1, 1, 1, 1], 2.36)],
        'inference',
      )[0]!;
    expect(five([2.1, 2.2, 2.3, 2.05, 2.4]).targetInterval).toBe('above'); // target: the paper's 2.00×
    expect(five([1.9, 2.2, 2.3, 2.05, 2.4]).targetInterval).toBe('straddles');
    expect(five([1.9, 1.8, 1.7, 1.95, 1.6]).targetInterval).toBe('below');
    expect(jpu!.macRatio).toBe(1.5);
    expect(jpu!.paperSpeedup).toBeCloseTo(28.48 / 18.08, 12);
    expect(jpu!.target).toBeCloseTo(0.95 * 1.5, 12);
    expect(jpu!.meets).toBe(true);
    expect(dil!.speedup).toBeNull();
    expect(dil!.pairedSpeedup).toBeNull();
    expect(dil!.targetInterval).toBeNull();
    expect(dil!.paperFps).toBe(18.08);
    expect(other!.baseline).toBeNull();
    expect(other!.head).toBeNull();
    const [t] = compareVariants([v('psp_jpu_r50', [3], 1), v('psp_dilated_r50', [1], 2)], 'training');
    expect(t!.paperSpeedup).toBeNull();
    expect(t!.target).toBeNull();
    expect(t!.speedup).toBe(3);
  });
});

describe('the interval of a median', () => {
  it('takes the order statistics whose binomial coverage reaches the level', () => {
    // 5 values: only the whole range, coverage 1 − 2/32.
    expect(medianInterval([5, 1, 4, 2, 3])).toEqual({ low: 1, high: 5, coverage: 1 - 2 / 32 });
    // 10 values: the 2nd smallest and 2nd largest, coverage 1 − 2·(1 + 10)/1024; the 3rd would give 0.89.
    const ten = [10, 3, 7, 1, 9, 5, 2, 8, 6, 4];
    expect(medianInterval(ten)).toEqual({ low: 2, high: 9, coverage: 1 - (2 * 11) / 1024 });
    expect(medianInterval(ten, 0.89).low).toBe(3);
    // 20 values: the 6th from each end (P(B ≤ 5) = 21700 / 2^20).
    const twenty = Array.from({ length: 20 }, (_, k) => 20 - k);
    const i20 = medianInterval(twenty);
    expect([i20.low, i20.high]).toEqual([6, 15]);
    expect(i20.coverage).toBeCloseTo(1 - (2 * 21700) / 2 ** 20, 12);
    expect(i20.coverage).toBeGreaterThanOrEqual(0.95);
    // The coverage of the next narrower interval falls below the level.
    expect(medianInterval(twenty, i20.coverage + 1e-9).low).toBe(5);
    // One value: no interval.
    expect(medianInterval([2.5])).toEqual({ low: 2.5, high: 2.5, coverage: 0 });
    expect(() => medianInterval([])).toThrow(/no values/);
  });

  it('says where the interval lies against a target', () => {
    expect(targetInterval(2.6, 2.7, 2.59)).toBe('above');
    expect(targetInterval(2.59, 2.7, 2.59)).toBe('above'); // equal up to rounding reaches it
    expect(targetInterval(2.5, 2.7, 2.59)).toBe('straddles');
    expect(targetInterval(2.4, 2.58, 2.59)).toBe('below');
  });
});

describe('settling passes after the warm-up', () => {
  // A clock the runners advance (wall time under a loaded machine would jitter by more than the 10 % tested).
  let clock = 0;
  const now = () => clock;
  /** A runner whose k-th call takes times[k] ms (the last one after that). */
  const runner = (times: number[]) => {
    let k = 0;
    return { call: () => Promise.resolve(void (clock += times[Math.min(k++, times.length - 1)]!)) };
  };
  const quiet = { info: () => {} };
  const done = () => Promise.resolve();

  it('stops at the first pass within 10 % of the previous one for every variant', async () => {
    const lines: string[] = [];
    const log = { info: (l: string) => lines.push(l) };
    // The first variant still compiles in pass 1 and is slower in pass 2; both agree from pass 3 on.
    const got = await settleRunners([runner([240, 120, 60]), runner([60])], 6, done, log, now);
    expect(got).toEqual({ maxPasses: 6, passes: 4, settled: true });
    expect(lines).toEqual([expect.stringMatching(/^settled after 4 passes in alternation \(times within/)]);
  });
  it('gives up after its passes, and says by how much the times still move', async () => {
    const lines: string[] = [];
    const log = { info: (l: string) => lines.push(l) };
    const got = await settleRunners([runner([60]), runner([30, 90, 30, 90])], 3, done, log, now);
    expect(got).toEqual({ maxPasses: 3, passes: 3, settled: false });
    expect(lines[0]).toMatch(
      /^not settled after 3 passes in alternation \(times still moving by up to \d+ %\)/,
    );
  });
  it('none with 0 passes or no variants', async () => {
    expect(await settleRunners([runner([60])], 0, done, quiet, now)).toBeUndefined();
    expect(await settleRunners([], 5, done, quiet, now)).toBeUndefined();
  });
});

describe('fcnc bench (usage and errors)', () => {
  it('has --help', async () => {
    const r = await runCli('bench', '--help');
    expect(r.code).toBe(0);
    for (const o of ['--train', '--runs', '--forwards', '--warmup', '--json', '--md', '--png', '--tune'])
      expect(r.out).toContain(o);
  });

  it('rejects bad counts and a variant given twice (exit 2)', async () => {
    for (const args of [
      ['--runs', '0'],
      ['--forwards', 'x'],
      ['--warmup', '-1'],
      ['--tune', 'fast'],
    ]) {
      const r = await runCli('bench', JPU, ...TINY, ...args);
      expect(r.code, args.join(' ')).toBe(2);
    }
    const r = await runCli('bench', JPU, JPU, ...TINY);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/enc_jpu_r50 is given twice/);
  });

  it('a spec with errors: its diagnostics, nothing measured, exit 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fcnc-bench-'));
    const bad = join(dir, 'broken.fcn');
    writeFileSync(
      bad,
      'model broken(classes: int = 3) {\n  input image: [3, H, W] stride 1\n  out logits = no_such_layer(image)\n}\n',
    );
    const r = await runCli('bench', JPU, bad, ...TINY, ...QUICK);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/broken\.fcn:3:\d+: error/);
    expect(r.err).toMatch(/1 of 2 specs have errors; nothing was measured/);
    expect(r.out).toBe('');
  });

  it('no adapter: a clear message, exit 1', async () => {
    const old = process.env.FCNC_SOFTWARE_BACKEND;
    process.env.FCNC_SOFTWARE_BACKEND = 'metal';
    try {
      const r = await runCli('bench', JPU, ...TINY, ...QUICK, '--adapter', 'software');
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/fcnc: FCNC_SOFTWARE_BACKEND=metal is not one of opengl, vulkan/);
    } finally {
      if (old === undefined) delete process.env.FCNC_SOFTWARE_BACKEND;
      else process.env.FCNC_SOFTWARE_BACKEND = old;
    }
  });

  it.skipIf(adapterKind !== 'software')('no GPU when --adapter gpu is asked for: exit 1', async () => {
    const r = await runCli('bench', JPU, ...TINY, ...QUICK, '--adapter', 'gpu');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/fcnc: no WebGPU adapter \(gpu\)/);
  });
});

describe.skipIf(!gpu.dev)('fcnc bench', () => {
  it('a size too large for the device: which variant, and what to do', async () => {
    // An image whose 3 channels exceed one binding: the stem conv reads it whole. Two classes keep every kernel's
    // work items within a u32 on adapters with large bindings.
    const size = Math.floor(Math.sqrt(limits!.maxStorageBufferBindingSize! / 12)) + 64;
    const r = await runCli(
      'bench',
      DILATED,
      '--set',
      'width=4',
      '--classes',
      '2',
      '--size',
      String(size),
      ...QUICK,
    );
    expect(r.code, r.err).toBe(1);
    expect(r.err).toContain(`fcnc: enc_dilated_r50 at ${size}×${size}, batch 1 does not fit the device (`);
    expect(r.err).toMatch(/maxStorageBufferBindingSize.*; try a smaller --size\n$/);
  });

  it('measures two variants: table, JSON, markdown and PNG agree with the programs and fcnc info', async () => {
    const out = mkdtempSync(join(tmpdir(), 'fcnc-bench-'));
    const [json, md, png] = ['b.json', 'b.md', 'b.png'].map((f) => join(out, f)) as [string, string, string];
    const r = await runCli(
      'bench',
      JPU,
      DILATED,
      ...TINY,
      ...QUICK,
      '--json',
      json,
      '--md',
      md,
      '--png',
      png,
    );
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/using (software adapter|GPU)/);
    expect(r.err).toMatch(/round 2\/2: enc_jpu_r50 [\d.]+, enc_dilated_r50 [\d.]+ FPS/);

    const b = JSON.parse(readFileSync(json, 'utf8')) as BenchJson;
    expect(validateBenchJson(b)).toBeUndefined();
    expect(b.format).toBe('fcnc-bench');
    expect(b.mode).toBe('inference');
    expect(b.adapterKind).toBe(adapterKind);
    expect(b.size).toEqual({ height: 64, width: 64 });
    expect(b.batch).toBe(1);
    expect(b.settings).toEqual({ width: 4 });
    // The settling passes: at least 2, at most the default 5.
    const { settle, ...counts } = b.protocol;
    expect(counts).toEqual({ warmup: 1, rounds: 2, forwards: 1 });
    expect(settle!.maxPasses).toBe(5);
    expect(settle!.passes).toBeGreaterThanOrEqual(2);
    expect(settle!.passes).toBeLessThanOrEqual(5);
    expect(settle!.settled || settle!.passes === 5).toBe(true);
    expect(r.err).toMatch(/(settled after \d passes|not settled after 5 passes) in alternation/);
    expect(b.variants.map((v) => v.model)).toEqual(['enc_jpu_r50', 'enc_dilated_r50']);

    for (const [v, spec] of [
      [b.variants[0]!, JPU],
      [b.variants[1]!, DILATED],
    ] as const) {
      expect(v.fps.rounds).toHaveLength(2);
      expect(v.fps.median).toBeGreaterThan(0);
      expect(v.fps.fastest).toBe(Math.max(...v.fps.rounds));
      expect(v.msPerImage).toBeCloseTo(1000 / v.fps.median, 9);
      // Memory: the plan of the program this adapter compiles (--tune off: its fixed kernel choices).
      const g = buildGraph(spec, { height: 64, width: 64, settings: { width: 4 } }).graph!;
      const { program } = compile(g, { limits, tuning });
      expect(v.memory.activationBytes).toBe(program.memory.plannedBytes);
      expect(v.memory.paramBytes).toBe(program.memory.paramBytes);
      expect(v.memory.totalBytes).toBe(program.memory.plannedBytes + program.memory.paramBytes);
      expect(v.dispatches).toBe(program.entries.forward.steps.length);
      // Params and MACs: fcnc info's.
      const info = await runCli('info', spec, ...TINY, '--json');
      const totals = (JSON.parse(info.out) as { totals: { params: number; macs: number } }).totals;
      expect(v.params).toBe(totals.params);
      expect(v.macs).toBe(totals.macs);
    }

    const [jpu, dil] = b.variants as [BenchJson['variants'][0], BenchJson['variants'][0]];
    expect(jpu.baseline).toBe('enc_dilated_r50');
    expect(jpu.speedup).toBeCloseTo(jpu.fps.median / dil.fps.median, 12);
    expect(jpu.speedupFastest).toBeCloseTo(jpu.fps.fastest / dil.fps.fastest, 12);
    const paired = jpu.fps.rounds.map((f, k) => f / dil.fps.rounds[k]!).sort((a, b) => a - b);
    expect(jpu.pairedSpeedup!.slowest).toBeCloseTo(paired[0]!, 12);
    expect(jpu.pairedSpeedup!.fastest).toBeCloseTo(paired[paired.length - 1]!, 12);
    expect(jpu.pairedSpeedup!.median).toBeCloseTo(roundStats(paired).median, 12);
    const interval = medianInterval(paired);
    expect(jpu.pairedSpeedup!.low).toBeCloseTo(interval.low, 12);
    expect(jpu.pairedSpeedup!.high).toBeCloseTo(interval.high, 12);
    expect(jpu.pairedSpeedup!.coverage).toBe(interval.coverage);
    expect(jpu.paperSpeedup).toBeCloseTo(37.56 / 18.77, 12);
    expect(jpu.paperFps).toBe(37.56);
    expect(jpu.macRatio).toBeCloseTo(dil.macs / jpu.macs, 12);
    expect(jpu.target).toBeCloseTo(speedupTarget(37.56 / 18.77, dil.macs / jpu.macs), 12);
    expect(jpu.meets).toBe(jpu.speedup! >= jpu.target! * (1 - 1e-9));
    expect(dil.baseline).toBeNull();
    expect(dil.speedup).toBeNull();
    expect(dil.paperFps).toBe(18.77);

    // The text table: a row per variant with the numbers of the JSON.
    const lines = r.out.split('\n');
    const head = lines.findIndex((l) => /^variant\s+FPS \(median\)/.test(l));
    expect(head).toBeGreaterThan(0);
    const jpuRow = lines.find((l) => l.startsWith('enc_jpu_r50 '))!;
    const dilRow = lines.find((l) => l.startsWith('enc_dilated_r50 '))!;
    expect(jpuRow).toContain(`${jpu.speedup!.toFixed(2)}×`);
    expect(jpuRow).toContain('2.00×'); // the paper's 37.56 / 18.77
    expect(jpuRow).toContain(
      `${jpu.pairedSpeedup!.median.toFixed(2)}× (${jpu.pairedSpeedup!.slowest.toFixed(2)}–${jpu.pairedSpeedup!.fastest.toFixed(2)})`,
    );
    expect(jpuRow).toContain(
      `${interval.low.toFixed(2)}–${interval.high.toFixed(2)} (${(100 * interval.coverage).toFixed(0)} %)`,
    );
    // Two rounds (QUICK): an interval at 50 %, no verdict.
    expect(interval.coverage).toBe(0.5);
    expect(jpu.targetInterval).toBeNull();
    expect(jpuRow).toContain(jpu.params.toLocaleString('en-US'));
    expect(jpuRow).toContain((jpu.memory.totalBytes / 2 ** 20).toFixed(1));
    expect(dilRow).toContain('baseline');
    expect(r.out).toMatch(/JPU vs dilated: [01] of 1 pair\(s\) reach the target/);

    const text = readFileSync(md, 'utf8');
    expect(text).toMatch(/^# FastFCN Table 2 \(FPS\) on /);
    expect(text).toMatch(/^\| enc_jpu_r50 \| /m);
    expect(text).toMatch(/^\| enc_dilated_r50 \| /m);

    const img = decodeImage(readFileSync(png));
    expect(img.width).toBeGreaterThan(400);
    expect(img.height).toBeGreaterThan(400);
    let coloured = 0;
    for (let k = 0; k < img.width * img.height; k++) {
      const [R, G, B] = [img.data[k * 3]!, img.data[k * 3 + 1]!, img.data[k * 3 + 2]!];
      if (Math.max(R, G, B) - Math.min(R, G, B) > 60) coloured++;
    }
    expect(coloured).toBeGreaterThan(1000);

    // A device run packed without the chart renderer brings back JSON only (bench/device.sh): its charts are drawn
    // here from that JSON, the same PNG bytes as `--png` wrote.
    const back = join(out, 'device');
    mkdirSync(join(back, 'table2'), { recursive: true });
    copyFileSync(json, join(back, 'table2', 'bench.json'));
    execFileSync(process.execPath, [
      join(ROOT, 'bin', 'run-ts.js'),
      join(ROOT, 'bench', 'device', 'charts.ts'),
      back,
    ]);
    expect(readFileSync(join(back, 'table2', 'bench.png')).equals(readFileSync(png))).toBe(true);
  });

  it(
    '--train: training steps in img/s with the training memory; -o writes every file',
    { timeout: 600_000 },
    async () => {
      const out = join(mkdtempSync(join(tmpdir(), 'fcnc-bench-')), 'o');
      const r = await runCli(
        'bench',
        JPU,
        DILATED,
        '--set',
        'width=4',
        '--size',
        '32',
        '--train',
        '--runs',
        '1',
        '--forwards',
        '1',
        '--warmup',
        '1',
        '-o',
        out,
      );
      expect(r.code, r.err).toBe(0);
      expect(readdirSync(out).sort()).toEqual(['bench.json', 'bench.md', 'bench.png', 'bench.txt']);
      expect(readFileSync(join(out, 'bench.txt'), 'utf8')).toBe(r.out);
      expect(r.out).toMatch(/^variant\s+img\/s \(median\)/m);
      expect(r.out).toContain('training steps');
      const b = JSON.parse(readFileSync(join(out, 'bench.json'), 'utf8')) as BenchJson;
      expect(validateBenchJson(b)).toBeUndefined();
      expect(b.mode).toBe('training');
      expect(b.batch).toBe(2); // --train's default
      const [jpu, dil] = b.variants as [BenchJson['variants'][0], BenchJson['variants'][0]];
      expect(jpu.fps.median).toBeGreaterThan(0);
      expect(jpu.speedup).toBeCloseTo(jpu.fps.median / dil.fps.median, 12);
      expect(jpu.paperSpeedup).toBeNull();
      expect(jpu.meets).toBeNull();
      // The training program's memory: planned activations, weights and momentum.
      const g = buildGraph(JPU, { height: 32, width: 32, batch: 2, settings: { width: 4 } }).graph!;
      const { compiled, micro } = compileTrainingFor(
        g,
        { limits: limits!, adapterInfo: adapterInfo! },
        { dropout: true },
      );
      const m = compiled.program.memory;
      expect(jpu.chunk).toBe(micro);
      expect(jpu.memory.optimizerBytes).toBe(m.training!.optimizerBytes);
      expect(jpu.memory.optimizerBytes).toBeGreaterThan(0);
      expect(jpu.memory.totalBytes).toBe(m.plannedBytes + m.paramBytes + m.training!.optimizerBytes);
      expect(jpu.dispatches).toBe(compiled.program.entries.train_step!.steps.length);
    },
  );
});
