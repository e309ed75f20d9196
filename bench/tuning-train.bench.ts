// Kernels chosen by measurement for a training step: EncNet+JPU R50 (full width, batch 2, 128×128, as
// bench/results/train-software.md) on the adapter at hand — the training step compiled with the adapter's fixed
// defaults (`fcnc train --tune off`) against the same step with every conv problem of it tuned (`--tune full`, into a
// fresh cache folder): the forward convs, and each conv's input gradient (conv2d_grad_input) and weight gradient
// (conv2d_grad_weight) — the gradient kernels' register tiles (runtime/tune.ts CANDIDATES.gradInput / gradWeight).
// Both programs are loaded and warmed up, then ROUNDS rounds run one step of each in alternation (A B A B …), so a
// neighbour's load falls on both alike. Reported: median and fastest ms per step, the speed-up (ratio of medians, of
// fastest beside it), the tuning's cost, and per problem the choice with its time against the defaults' (the tuner's
// own measurements, each kernel alone).
// Run: npm run bench:tuning-train [-- SIZE [ROUNDS]]   (defaults 128, 5) → bench/results/tuning-train-<gpu|software>.md
//   Env WIDTH=4 (narrow network) and OUT=file (where to write; a non-standard run writes only with OUT): smoke runs.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildGraph } from '../compiler/index.ts';
import { compileTraining } from '../compiler/compile.ts';
import { HYPER, HYPER_SIZE } from '../compiler/ops/train.ts';
import { openDevice } from '../runtime/device.ts';
import { Session } from '../runtime/execute.ts';
import { loadParams } from '../runtime/params.ts';
import { tuningFor } from '../runtime/tuning.ts';
import { roundStats } from '../runtime/bench.ts';
import {
  adapterIdentity,
  DEFAULT_CANDIDATE,
  gpuTimer,
  MIN_GAIN,
  tuneGraph,
  type ProblemOp,
} from '../runtime/tune.ts';

const ROOT = join(import.meta.dirname, '..');
const [sizeArg = '128', roundsArg = '5'] = process.argv.slice(2);
const size = Number(sizeArg);
const ROUNDS = Number(roundsArg);
const BATCH = 2;
const width = process.env.WIDTH ? Number(process.env.WIDTH) : undefined;
const standard = size === 128 && width === undefined;
const median = (xs: readonly number[]): number => roundStats(xs).median;

const dev = await openDevice();
console.log(dev.description);
const g = buildGraph(join(ROOT, 'specs/enc_jpu_r50.fcn'), {
  batch: BATCH,
  height: size,
  width: size,
  ...(width !== undefined ? { settings: { width } } : {}),
}).graph!;
const { params } = await loadParams(
  g.params.map((p) => ({ name: p.name, shape: p.shape, dtype: p.dtype, init: p.init })),
  { seed: 1 },
);
const base = tuningFor(dev);
const plain = compileTraining(g, { limits: dev.limits, tuning: base, dropout: true });

// Tuning (timed: what `--tune full` costs on this adapter for this training step).
const cache = mkdtempSync(join(tmpdir(), 'fcnc-bench-tune-train-'));
const timer = gpuTimer(dev, { warn: (m) => console.warn(m) });
let t0 = performance.now();
let lastLine = 0;
const tuned = await tuneGraph(plain.graph, {
  mode: 'full',
  adapter: adapterIdentity(dev),
  limits: dev.limits,
  base,
  timer,
  cacheDir: cache,
  onProgress: (done, total, what) => {
    if (performance.now() - lastLine > 10000 || done === total) {
      console.log(`tuning ${done}/${total} ${what} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
      lastLine = performance.now();
    }
  },
});
const tuneSeconds = (performance.now() - t0) / 1000;
timer.release();
rmSync(cache, { recursive: true, force: true });
console.log(`${tuned.summary.replace(/, choices saved in .*$/, '')} in ${tuneSeconds.toFixed(0)} s`);
const tunedTrain = compileTraining(g, { limits: dev.limits, tuning: tuned.tuning, dropout: true });

const image = new Float32Array(BATCH * 3 * size * size).map((_, k) => Math.sin(k * 0.37));
const classes = Number(g.settings.classes);
const labels = new Float32Array(BATCH * size * size).map((_, k) => ((k * 7) % (classes + 1)) - 1);
const hyper = new Float32Array(HYPER_SIZE);
hyper[HYPER.lr] = 0; // the parameters stay as initialised: both programs do the same work every round
interface Run {
  readonly label: string;
  readonly session: Session;
  readonly dispatches: number;
  readonly times: number[];
}
const runs: Run[] = [];
for (const [label, c] of [
  ["D the adapter's fixed defaults (--tune off)", plain],
  ['C tuned (--tune full)', tunedTrain],
] as const) {
  const session = await Session.create(dev, c.program);
  await session.setParams(params);
  runs.push({ label, session, dispatches: c.program.entries.train_step!.steps.length, times: [] });
}
const step = async (r: Run): Promise<number> => {
  const t = performance.now();
  await r.session.call(
    'train_step',
    new Map([
      ['image', image],
      ['labels', labels],
      ['hyper', hyper],
    ]),
    { read: ['loss'] },
  );
  return performance.now() - t;
};
for (const r of runs) await step(r); // warm-up (llvmpipe compiles shaders on first use)
for (let k = 0; k < ROUNDS; k++)
  for (const r of runs) {
    t0 = performance.now();
    r.times.push(await step(r));
    console.log(`round ${k + 1}: ${r.label} ${r.times.at(-1)!.toFixed(0)} ms`);
  }
for (const r of runs) r.session.destroy();

const [d, c] = runs as [Run, Run];
const ratio = `${(median(d.times) / median(c.times)).toFixed(2)}× (fastest ${(Math.min(...d.times) / Math.min(...c.times)).toFixed(2)}×)`;
const rows = runs.map(
  (r) =>
    `| ${r.label} | ${r.dispatches} | ${median(r.times).toFixed(0)} | ${Math.min(...r.times).toFixed(0)} | ${r.times.map((t) => t.toFixed(0)).join(', ')} |`,
);
// Per op: problems, how many changed kernel, and the tuner's own sum of times (defaults vs chosen, each × count).
const OPS: readonly ProblemOp[] = ['conv2d', 'conv2d_grad_input', 'conv2d_grad_weight'];
const opRows = OPS.map((op) => {
  const ps = tuned.problems.filter((p) => p.op === op);
  let dflt = 0;
  let chosen = 0;
  let changed = 0;
  for (const p of ps) {
    const ch = tuned.choices[p.key];
    if (!ch) continue;
    const dm = ch.times[DEFAULT_CANDIDATE.name] ?? ch.ms;
    dflt += dm * p.count;
    chosen += ch.ms * p.count;
    if (ch.name !== DEFAULT_CANDIDATE.name) changed++;
  }
  return `| ${op} | ${ps.length} | ${changed} | ${dflt.toFixed(1)} | ${chosen.toFixed(1)} | ${(dflt / chosen).toFixed(2)}× |`;
});
const choiceRows = tuned.problems.map((p) => {
  const ch = tuned.choices[p.key];
  if (!ch) return `| \`${p.key}\` | ${p.count} | ${(p.flops / 1e9).toFixed(3)} | — | — | — |`;
  const dm = ch.times[DEFAULT_CANDIDATE.name];
  return `| \`${p.key}\` | ${p.count} | ${(p.flops / 1e9).toFixed(3)} | ${ch.name} | ${ch.ms.toFixed(2)} | ${dm !== undefined ? `${dm.toFixed(2)} (${(dm / ch.ms).toFixed(2)}×)` : '—'} |`;
});

const md = [
  `# Tuned kernels for a training step, ${g.model} ${BATCH}×${size}×${size} — ${dev.description}`,
  '',
  `Date ${new Date().toISOString().slice(0, 10)}; machine: ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}${width !== undefined ? `; width=${width}` : '; full width'}, seeded weights, learning rate 0.`,
  `Produced by \`npm run bench:tuning-train\` (bench/tuning-train.bench.ts). A training step: train-mode forward, the`,
  "three loss terms, backward, SGD with momentum (the loss read back). D: compiled with the adapter's fixed defaults",
  `(\`fcnc train --tune off\`); C: every conv problem of the step tuned (\`--tune full\`: ${tuned.timed} problems,`,
  `${tuneSeconds.toFixed(0)} s of tuning on this adapter, Mesa's shader cache as it was), the forward convs and each conv's input`,
  'and weight gradient; a candidate replaces the default only when it is over',
  `${(100 * MIN_GAIN).toFixed(0)} % faster. Timed in alternation after one warm-up step each, ${ROUNDS} rounds.`,
  '',
  '| program | dispatches | median ms | fastest ms | every step (ms) |',
  '|---|---:|---:|---:|---|',
  ...rows,
  '',
  `- **C vs D (tuned vs the adapter's fixed defaults): ${ratio}**`,
  '',
  "Per kind of problem: how many, how many took another kernel than the default, and the tuner's own times summed",
  "over the step's nodes (ms, each kernel alone: defaults vs chosen).",
  '',
  '| op | problems | changed | defaults ms | chosen ms | gain |',
  '|---|---:|---:|---:|---:|---:|',
  ...opRows,
  '',
  "Per problem (key: the op, the conv's input N×C×H×W - output channels, kernel, stride, padding, dilation,",
  "groups): the chosen kernel and its time alone (ms per run, fastest of the tuner's rounds), the default's beside it.",
  '',
  '| problem | nodes | GFLOP | chosen | ms | adapter default ms |',
  '|---|---:|---:|---|---:|---:|',
  ...choiceRows,
  '',
].join('\n');
const out =
  process.env.OUT ?? (standard ? join(ROOT, 'bench', 'results', `tuning-train-${dev.kind}.md`) : undefined);
if (out) {
  writeFileSync(out, md);
  console.log(`wrote ${out}`);
} else console.log(`\n${md}\n(not written: a non-standard run; set OUT=file to write it)`);
dev.destroy();
process.exit(0);
