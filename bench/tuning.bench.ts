// Kernels chosen by measurement vs the fixed choice: EncNet+JPU R50 forward (full width, batch 1) on the adapter at
// hand, three programs timed in alternation —
//   A0 unfused (one kernel per op), the fixed conv tiling (register-blocked 16×8) with the kernels as they were when
//      the benchmark issue was filed: pixel tiles fastest, FMAs interleaved with the loads (`conv2d.cb` 0,
//      `conv2d.interleave` 1 — byte-identical WGSL),
//   A  the same with today's register-blocked kernel (blocked work order, per-accumulator FMAs),
//   B  fused (the inference pipeline), the same fixed tiling,
//   C  fused, kernels tuned by measurement (runtime/tune.ts, mode full, into a fresh cache folder),
//   D  fused, the adapter's fixed defaults (`--tune off`: what C's tuner starts from and must not lose to).
// Each program is compiled, loaded and warmed up; then ROUNDS rounds each run every program once (A B C A B C …), so a
// neighbour's load falls on all alike. Reported per program: median and fastest ms/forward (upload, every dispatch,
// readback); speed-ups are ratios of medians (and of fastest runs beside them); and the tuner's choice per conv problem
// with its time against the fixed tiling's time on the same problem (from the tuner's own measurements).
// Run: npm run bench:tuning [-- SIZE [ROUNDS [spec]]]   (defaults 256, 7, specs/enc_jpu_r50.fcn)
//   → bench/results/tuning-<gpu|software>.md for the standard run (256², full width). Env WIDTH=4 (narrow network)
//   and OUT=file (where to write; a non-standard run writes only with OUT) are for smoke runs.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildGraph } from '../compiler/index.ts';
import { compile } from '../compiler/compile.ts';
import { numel } from '../compiler/ir/types.ts';
import type { Program } from '../runtime/program.ts';
import { openDevice } from '../runtime/device.ts';
import { Session } from '../runtime/execute.ts';
import { loadParams } from '../runtime/params.ts';
import { tuningFor } from '../runtime/tuning.ts';
import { adapterIdentity, DEFAULT_CANDIDATE, gpuTimer, MIN_GAIN, tuneGraph } from '../runtime/tune.ts';

const ROOT = join(import.meta.dirname, '..');
const [sizeArg = '256', roundsArg = '7', spec = 'specs/enc_jpu_r50.fcn'] = process.argv.slice(2);
const size = Number(sizeArg);
const ROUNDS = Number(roundsArg);
const width = process.env.WIDTH ? Number(process.env.WIDTH) : undefined;
const standard = size === 256 && width === undefined && spec === 'specs/enc_jpu_r50.fcn';
/** The fixed tiling on llvmpipe before per-problem tuning (runtime/tuning.ts then): the baseline. */
const FIXED = { 'conv2d.tm': 16, 'conv2d.tn': 8 };
/** The same with the kernels' orders of that day. */
const FIXED_THEN = { ...FIXED, 'conv2d.cb': 0, 'conv2d.interleave': 1 };

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const dev = await openDevice();
console.log(dev.description);
const r = buildGraph(join(ROOT, spec), {
  height: size,
  width: size,
  ...(width !== undefined ? { settings: { width } } : {}),
});
if (!r.graph) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
const g = r.graph;
const { params } = await loadParams(
  g.params.map((p) => ({ name: p.name, shape: p.shape, dtype: p.dtype, init: p.init })),
  { seed: 1 },
);

// Tuning (timed: what `--tune full` costs on this adapter for this program).
const fused = compile(g, { limits: dev.limits, tuning: tuningFor(dev) });
const cache = mkdtempSync(join(tmpdir(), 'fcnc-bench-tune-'));
const timer = gpuTimer(dev, { warn: (m) => console.warn(m) });
let t0 = performance.now();
let lastLine = 0;
const tuned = await tuneGraph(fused.graph, {
  mode: 'full',
  adapter: adapterIdentity(dev),
  limits: dev.limits,
  base: tuningFor(dev),
  timer,
  cacheDir: cache,
  onProgress: (done, total, what) => {
    if (performance.now() - lastLine > 5000 || done === total) {
      console.log(`tuning ${done}/${total} ${what}`);
      lastLine = performance.now();
    }
  },
});
const tuneSeconds = (performance.now() - t0) / 1000;
timer.release();
rmSync(cache, { recursive: true, force: true });
console.log(`${tuned.summary.replace(/, choices saved in .*$/, '')} in ${tuneSeconds.toFixed(0)} s`);

interface Run {
  readonly label: string;
  readonly program: Program;
  readonly session: Session;
  readonly input: Map<string, Float32Array>;
  readonly times: number[];
}
const programs: [string, Program][] = [
  [
    'A0 unfused, fixed 16×8, kernels of the issue',
    compile(g, { limits: dev.limits, tuning: FIXED_THEN, mode: 'none' }).program,
  ],
  ['A unfused, fixed 16×8', compile(g, { limits: dev.limits, tuning: FIXED, mode: 'none' }).program],
  ['B fused, fixed 16×8', compile(g, { limits: dev.limits, tuning: FIXED }).program],
  ['C fused, tuned', compile(g, { limits: dev.limits, tuning: tuned.tuning }).program],
  ['D fused, adapter defaults (--tune off)', fused.program],
];
const runs: Run[] = [];
for (const [label, program] of programs) {
  const session = await Session.create(dev, program);
  await session.setParams(params);
  const input = new Map(
    program.entries.forward.inputs.map((i) => [
      i.name,
      new Float32Array(numel(i.shape)).map((_, k) => Math.sin(k)),
    ]),
  );
  await session.run(input); // warm-up (llvmpipe compiles shaders on first use)
  runs.push({ label, program, session, input, times: [] });
}
for (let k = 0; k < ROUNDS; k++)
  for (const run of runs) {
    t0 = performance.now();
    await run.session.run(run.input);
    run.times.push(performance.now() - t0);
  }
for (const run of runs) run.session.destroy();

const [a0, a, b, c, d] = runs as [Run, Run, Run, Run, Run];
const ratio = (x: Run, y: Run): string =>
  `${(median(x.times) / median(y.times)).toFixed(2)}× (fastest ${(Math.min(...x.times) / Math.min(...y.times)).toFixed(2)}×)`;
const rows = runs.map(
  (run) =>
    `| ${run.label} | ${run.program.entries.forward.steps.length} | ${median(run.times).toFixed(0)} | ${Math.min(...run.times).toFixed(0)} | ${run.times.map((t) => t.toFixed(0)).join(', ')} |`,
);
for (const row of rows) console.log(row);
const fixedName = 'register 16×8';
const vs = (t: number | undefined, ms: number): string =>
  t !== undefined ? `${t.toFixed(2)} (${(t / ms).toFixed(2)}×)` : '—';
const choiceRows = tuned.problems.map((p) => {
  const ch = tuned.choices[p.key];
  if (!ch) return `| \`${p.key}\` | ${p.count} | ${(p.flops / 1e9).toFixed(3)} | — | — | — | — |`;
  return `| \`${p.key}\` | ${p.count} | ${(p.flops / 1e9).toFixed(3)} | ${ch.name} | ${ch.ms.toFixed(2)} | ${vs(ch.times[DEFAULT_CANDIDATE.name], ch.ms)} | ${vs(ch.times[fixedName], ch.ms)} |`;
});
const variants = new Map<string, number>();
for (const ch of Object.values(tuned.choices)) variants.set(ch.name, (variants.get(ch.name) ?? 0) + 1);

const md = [
  `# Tuned kernels vs the fixed tiling, ${g.model} ${size}×${size}, batch 1 — ${dev.description}`,
  '',
  `Date ${new Date().toISOString().slice(0, 10)}; machine: ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}${width !== undefined ? `; width=${width}` : '; full width'}, seeded weights.`,
  `Programs timed in alternation after one warm-up each, ${ROUNDS} rounds; a forward = upload the image, every dispatch,`,
  'read back every output. A0: one kernel per op with the fixed register-blocked 16×8 conv tiling (the only choice before',
  'per-problem tuning) and that kernel as it was when the benchmark issue was filed (pixel tiles fastest, FMAs',
  'interleaved with the loads: `conv2d.cb` 0, `conv2d.interleave` 1, byte-identical WGSL); A: the same tiling with',
  "today's register-blocked kernel (blocked work order, per-accumulator FMAs: bench/results/order-software.md); B: the",
  'inference pipeline (fused) with the tiling of A; C: fused, each conv problem running the',
  `kernel the tuner measured fastest (\`--tune full\`, ${tuned.timed} problems, ${tuneSeconds.toFixed(0)} s of tuning on this adapter;`,
  `candidates timed on top of the adapter's defaults, which stay unless a candidate is over ${(100 * MIN_GAIN).toFixed(0)} % faster);`,
  "D: fused with the adapter's fixed defaults (`--tune off`).",
  '',
  '| program | dispatches | median ms | fastest ms | every run (ms) |',
  '|---|---:|---:|---:|---|',
  ...rows,
  '',
  `- C vs A0 (tuned + fused vs unfused fixed 16×8, the kernels of the issue): **${ratio(a0, c)}**`,
  `- C vs A (tuned + fused vs unfused fixed 16×8, today's kernel): **${ratio(a, c)}**`,
  `- A0 vs A (the 16×8 kernel's new orders alone, unfused): ${ratio(a0, a)}`,
  `- C vs B (tuning alone, against the fixed 16×8): ${ratio(b, c)}`,
  `- C vs D (tuned vs the adapter's fixed defaults): ${ratio(d, c)}`,
  `- D vs A0 (the adapter's fixed defaults + fused vs unfused fixed 16×8, the kernels of the issue): ${ratio(a0, d)}`,
  `- B vs A (fusion alone): ${ratio(a, b)}`,
  '',
  `Choices: ${[...variants].map(([n, k]) => `${n} ×${k}`).join(', ')}.`,
  '',
  `Per conv problem (key: input N×C×H×W - output channels, kernel, stride, padding, dilation, groups): the chosen`,
  `kernel and its time alone (ms per dispatch, fastest of the tuner's rounds), the adapter default's and the register`,
  "16×8 tiling's times on the same problem (speed-up in parentheses; — where that kernel is the default itself, or for",
  'depthwise problems, which have their own candidates; a candidate over 2× slower than the best in the calibration',
  'runs is not timed further, so its time is the better of two single runs).',
  '',
  '| problem | convs | GFLOP | chosen | ms | adapter default ms | register 16×8 ms |',
  '|---|---:|---:|---|---:|---:|---:|',
  ...choiceRows,
  '',
].join('\n');
const out =
  process.env.OUT ?? (standard ? join(ROOT, 'bench', 'results', `tuning-${dev.kind}.md`) : undefined);
if (out) {
  writeFileSync(out, md);
  console.log(`wrote ${out}`);
} else console.log(`\n${md}\n(not written: a non-standard run; set OUT=file to write it)`);
dev.destroy();
process.exit(0);
