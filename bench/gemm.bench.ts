// What the 1×1 GEMMs' large tiles and step order are worth on the adapter at hand, and what they cost to compile:
// every 1×1 conv problem (the GEMMs and the subsampled strided 1×1 shortcuts) of the EncNet R101 pair at 256² —
// enc_jpu_r101 and enc_dilated_r101, the pair whose Table 2 speed-up sits nearest its target — each kernel timed alone
// by the tuner's timer (runtime/tune.ts gpuTimer: warm-up, calibration, the fastest of its rounds), summed over the
// problems weighted by how many convs of each network solve them.
//
//   before            the 1×1 GEMMs as they ran before 2026-11-30: each step loads its weight and pixel vec4s,
//                     then updates every accumulator (`conv2d.gemm_order` 0); llvmpipe's large tiles (32×32 where
//                     that leaves 4 workgroups of tiles, else 16×16)
//   now               llvmpipe's defaults: the same tiles, each step by output channel (`conv2d.gemm_order` 1)
//   64×32             64×32 tiles where they leave 4 workgroups, in order 0
//   64×32 by channel  and by output channel (a tuner candidate: runtime/tune.ts)
//
// Then, on three of the problems, 64×64 tiles by output channel for the record (not a default: see the compile
// times), and the compile time of each kernel, cold: in a child process (`--cold`) with Mesa's shader cache off
// (MESA_SHADER_CACHE_DISABLE; a comment in the WGSL would not do, Tint drops it and llvmpipe caches the NIR).
//
//   npm run bench:gemm   → bench/results/gemm-<adapter>.md
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { CONV_KEYS, MIN_WG } from '../compiler/codegen/wgsl/conv.ts';
import { openDevice } from '../runtime/device.ts';
import { tuningFor } from '../runtime/tuning.ts';
import { specProblems } from './conv_problem.ts';
import { candidatePlan, gpuTimer, type Candidate, type Problem } from '../runtime/tune.ts';

const ROOT = join(import.meta.dirname, '..');
const SPECS = ['enc_jpu_r101', 'enc_dilated_r101'] as const;
const SIZE = 256;
// `--cold`: only the compile times, in a child process started with Mesa's shader cache off (see the end).
const COLD_ONLY = process.argv.includes('--cold');
const dev = await openDevice();
if (!COLD_ONLY) console.log(dev.description);
const base = tuningFor(dev);

// The 1×1 problems of both networks, with each network's count of convs.
const problems = new Map<string, { p: Problem; counts: number[] }>();
for (const [k, spec] of SPECS.entries()) {
  for (const p of specProblems(spec, SIZE, dev.limits, base)) {
    if (p.attrs.kernel !== 1 || p.attrs.groups !== 1 || p.attrs.padding !== 0) continue;
    const e = problems.get(p.key) ?? { p, counts: SPECS.map(() => 0) };
    e.counts[k]! += p.count;
    problems.set(p.key, e);
  }
}

const tiles = (p: Problem, tm: number, tn: number): number =>
  Math.ceil(p.attrs.channels / tm) * Math.ceil((p.out[2]! * p.out[3]!) / tn);
const reg = (name: string, tm: number, tn: number, order: 0 | 1): Candidate => ({
  name,
  tuning: {
    'conv2d.variant': 0,
    [CONV_KEYS.tm]: tm,
    [CONV_KEYS.tn]: tn,
    [CONV_KEYS.gemmOrder]: order,
  },
});
/** The register tile a GEMM kernel's header names ("TM×TN"). */
const tileOf = (wgsl: string): string => {
  const m = /each invocation: (\d+) output channels × (\d+) pixels/.exec(wgsl)!;
  return `${m[1]}×${m[2]}`;
};
const enough = (p: Problem, tm: number, tn: number) => tiles(p, tm, tn) >= 4 * MIN_WG;
const columns = ['before', 'now', '64×32', '64×32 by channel'] as const;
/** Whether the problem takes the large tiles on llvmpipe (`conv2d.large`: 64 channels in and out). */
const large = (p: Problem) =>
  p.x[1]! >= (base[CONV_KEYS.large] ?? 64) && p.attrs.channels >= (base[CONV_KEYS.large] ?? 64);
const candidatesOf = (p: Problem): Candidate[] => {
  const order0 = { name: 'before', tuning: { [CONV_KEYS.gemmOrder]: 0 } };
  // Narrow GEMMs (the classifiers' 59 channels) keep the emitters' 16×8: only the step order changes for them.
  if (!large(p))
    return [order0, { name: 'now', tuning: {} }, order0, { name: '64×32 by channel', tuning: {} }];
  const big = enough(p, 64, 32);
  return [
    order0,
    { name: 'now', tuning: {} },
    big ? reg('64×32', 64, 32, 0) : order0,
    big ? reg('64×32 by channel', 64, 32, 1) : { name: '64×32 by channel', tuning: {} },
  ];
};
/** For the record, on the problems of the compile table: 64×64 tiles by output channel. */
const square = (p: Problem): Candidate =>
  enough(p, 64, 64) ? reg('64×64', 64, 64, 1) : { name: '64×64', tuning: {} };

// Cold compiles: three problems (a deep reduction at 32², the dilated network's 32² expansion, a 16² one), with
// 64×64 beside the columns below.
const COLD = [
  'conv2d:1x1536x32x32-512k1s1p0d1g1',
  'conv2d:1x256x32x32-1024k1s1p0d1g1',
  'conv2d:1x1024x16x16-256k1s1p0d1g1',
];
const COLD_COMPILED = COLD.slice(0, 2); // compiled cold: 64×64 takes minutes each
if (COLD_ONLY) {
  const rows: string[][] = [];
  for (const key of COLD_COMPILED) {
    const e = problems.get(key);
    if (!e) continue;
    const cells: string[] = [key];
    // Order 0's 64×32 compiles like order 1's (within a few seconds in earlier runs): left out to keep this short.
    for (const c of [...candidatesOf(e.p).filter((c) => c.name !== '64×32'), square(e.p)]) {
      const k = candidatePlan(e.p, c, dev.limits, base).dispatches.at(-1)!;
      // llvmpipe compiles a kernel at its first dispatch: create the pipeline, bind and dispatch once.
      const t0 = performance.now();
      const pipe = await dev.device.createComputePipelineAsync({
        layout: 'auto',
        compute: { module: dev.device.createShaderModule({ code: k.wgsl }), entryPoint: k.entryPoint },
      });
      const floats = (sh: readonly number[]) => sh.reduce((a, b) => a * b, 1);
      const sizes: Record<string, number> = {
        input0: floats(e.p.x),
        param0: floats(e.p.params[0]!),
        output: floats(e.p.out),
      };
      const bufs = k.bindings.map((slot) =>
        dev.device.createBuffer({
          size: 4 * Math.max(4, sizes[slot] ?? floats(e.p.out)),
          usage: GPUBufferUsage.STORAGE,
        }),
      );
      const enc = dev.device.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(pipe);
      pass.setBindGroup(
        0,
        dev.device.createBindGroup({
          layout: pipe.getBindGroupLayout(0),
          entries: bufs.map((buffer, binding) => ({ binding, resource: { buffer } })),
        }),
      );
      pass.dispatchWorkgroups(...(k.grid as [number, number, number]));
      pass.end();
      dev.device.queue.submit([enc.finish()]);
      await dev.device.queue.onSubmittedWorkDone();
      for (const b of bufs) b.destroy();
      cells.push(`${((performance.now() - t0) / 1000).toFixed(1)} s (${tileOf(k.wgsl)})`);
    }
    rows.push(cells);
  }
  console.log(JSON.stringify(rows));
  dev.destroy();
  process.exit(0);
}

const timer = gpuTimer(dev, { warn: (m) => console.warn(m), giveUp: 10, rounds: 5, budgetMs: 800 });
const totals = SPECS.map(() => columns.map(() => 0));
const lines: string[] = [];
const flops = SPECS.map(() => 0);
for (const { p, counts } of problems.values()) {
  const ms = await timer(p, candidatesOf(p), base);
  ms.forEach((v, j) => counts.forEach((n, k) => (totals[k]![j]! += v * n)));
  counts.forEach((n, k) => (flops[k]! += p.flops * n));
  // The GEMM's dispatch (a strided 1×1 conv subsamples its input first).
  const kernel = candidatePlan(p, { name: 'now', tuning: {} }, dev.limits, base).dispatches.at(-1)!;
  lines.push(
    `| \`${p.key}\` | ${counts.join(' / ')} | ${(p.flops / 1e9).toFixed(3)} | ${ms.map((v) => `${v.toFixed(2)} (${(p.flops / v / 1e6).toFixed(0)})`).join(' | ')} | ${tileOf(kernel.wgsl)} | ${(ms[0]! / ms[1]!).toFixed(2)}× | ${(ms[0]! / ms[3]!).toFixed(2)}× |`,
  );
  console.log(p.key, counts.join('/'), ms.map((v) => v.toFixed(2)).join(' '));
}
timer.release();

// 64×64 tiles on the three problems of the compile table, timed here; their compile times from a child process
// with Mesa's shader cache off, so that every kernel compiles cold.
const compileLines: string[] = [];
const squareLines: string[] = [];
const squareTimer = gpuTimer(dev, { warn: (m) => console.warn(m), giveUp: 10, rounds: 5, budgetMs: 800 });
for (const key of COLD) {
  const e = problems.get(key);
  if (!e) continue;
  const ms = await squareTimer(e.p, [...candidatesOf(e.p), square(e.p)], base);
  squareLines.push(
    `| \`${key}\` | ${ms.map((v) => `${v.toFixed(2)} (${(e.p.flops / v / 1e6).toFixed(0)})`).join(' | ')} | ${(ms[0]! / ms[4]!).toFixed(2)}× |`,
  );
}
const child = spawnSync(process.execPath, [join(ROOT, 'bin', 'run-ts.js'), import.meta.filename, '--cold'], {
  env: { ...process.env, MESA_SHADER_CACHE_DISABLE: 'true' },
  encoding: 'utf8',
});
const coldRows = JSON.parse(child.stdout.trim().split('\n').at(-1) ?? '[]') as string[][];
for (const [key, ...cells] of coldRows) compileLines.push(`| \`${key}\` | ${cells.join(' | ')} |`);
squareTimer.release();
const all = [...columns, '64×64'];
const cold = all.filter((c) => c !== '64×32');

const adapter = dev.kind === 'software' ? 'software' : 'gpu';
const cpu = cpus()[0]?.model.replace(/\s+/g, ' ').trim() ?? 'unknown CPU';
const x = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
const md = `# 1×1 GEMMs: large tiles and step order — ${dev.description}

Date ${new Date().toISOString().slice(0, 10)}; machine: ${cpus().length} × ${cpu}. \`npm run bench:gemm\` (bench/gemm.bench.ts).
Every 1×1 conv problem of ${SPECS.join(' and ')} at ${SIZE}² (${problems.size} problems), each kernel timed alone in
one run (ms per dispatch, the fastest of the tuner's rounds; GFLOP/s in parentheses), totals weighted by the convs of
each network that solve each problem:

- **before**: the 1×1 GEMMs as they ran before 2026-11-30 — llvmpipe's large tiles (32×32 where that leaves 4
  workgroups of tiles, else 16×16), each step loading its weight and pixel vec4s, then updating every accumulator
  (\`conv2d.gemm_order\` 0);
- **now**: llvmpipe's defaults (runtime/tuning.ts) — the same tiles, each step by output channel: the step's pixel
  vec4s, then per output channel its weight vec4 and its accumulators (\`conv2d.gemm_order\` 1);
- **64×32**: 64 output channels × 32 pixels per invocation where that leaves 4 workgroups, in order 0;
- **64×32 by channel**: and by output channel (a candidate of \`--tune full\`, not a default: see the compile times).

GEMMs with fewer than 64 channels in or out (the classifiers) keep the emitters' 16×8 tiles in every column; only
their step order changes.

| problem | convs (jpu / dilated) | GFLOP | ${columns.join(' | ')} | tile now | before / now | before / 64×32 by channel |
|---|---:|---:|${columns.map(() => '---:').join('|')}|---:|---:|---:|
${lines.join('\n')}
${SPECS.map((s, k) => `| **${s}** (ms, weighted) | | ${(flops[k]! / 1e9).toFixed(2)} | ${totals[k]!.map((v) => v.toFixed(0)).join(' | ')} | | ${x(totals[k]![0]!, totals[k]![1]!)} | ${x(totals[k]![0]!, totals[k]![3]!)} |`).join('\n')}

Over these GEMMs, the order by output channel: ${SPECS.map((s, k) => `${s} ${x(totals[k]![0]!, totals[k]![1]!)} less time (${(flops[k]! / totals[k]![0]! / 1e6).toFixed(1)} → ${(flops[k]! / totals[k]![1]! / 1e6).toFixed(1)} GFLOP/s)`).join(', ')}; with 64×32 tiles as well, ${SPECS.map((s, k) => `${s} ${x(totals[k]![0]!, totals[k]![3]!)}`).join(', ')}.

## 64×64 tiles, and the compile times

Three of the problems again, with **64×64** tiles by output channel beside the columns above (ms, GFLOP/s):

| problem | ${all.join(' | ')} | before / 64×64 |
|---|${all.map(() => '---:').join('|')}|---:|
${squareLines.join('\n')}

Compile time of each of these kernels, cold (seconds to create the pipeline and run it once: llvmpipe compiles at
the first dispatch; the tile in parentheses):

| problem | ${cold.join(' | ')} |
|---|${cold.map(() => '---:').join('|')}|
${compileLines.join('\n')}

A kernel is compiled once per machine (Mesa's shader cache keeps it), but a network has tens of distinct GEMM
kernels (their fused epilogues differ): at these compile times 64×32 tiles would add ten minutes and more to a
network's first compile on llvmpipe, 64×64 far more, so the defaults keep 32×32; \`--tune full\` times 64×32 where
a user asks for it (its results are cached per adapter).
`;
const file = join(ROOT, 'bench', 'results', `gemm-${adapter}.md`);
writeFileSync(file, md);
console.log(`wrote ${file}`);
dev.destroy();
