// Training on the adapter at hand: time of a training step (train-mode forward, losses, backward, SGD update) of
// enc_jpu_r50 narrow and at full width, beside the inference forward of the same network and batch, timed in
// alternation (A B A B …) so that a shared machine's load falls on both alike; and the memory of a training step
// as fcnc plans it beside PyTorch's for the same model, batch and crop (bench/torch/train_memory.py, PyTorch on
// the CPU: the tensors autograd saves, parameters, gradients, momentum, and the process's peak memory growth).
// Run: npm run bench:train   → bench/results/train-<gpu|software>.md (+ .json)
// Env: RUNS (default 5), MEMORY=0 to skip the PyTorch memory runs, QUICK=1 for a smoke run (narrow, tiny, no file).
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { buildGraph } from '../compiler/index.ts';
import { compile, compileTraining } from '../compiler/compile.ts';
import { HYPER, HYPER_SIZE } from '../compiler/ops/train.ts';
import { openDevice } from '../runtime/device.ts';
import { Session } from '../runtime/execute.ts';
import { loadParams } from '../runtime/params.ts';
import { tuningFor } from '../runtime/tuning.ts';

const ROOT = join(import.meta.dirname, '..');
const QUICK = process.env.QUICK === '1';
const RUNS = Number(process.env.RUNS ?? (QUICK ? 2 : 5));
const dev = await openDevice();
console.log(dev.description);
const tuning = tuningFor(dev);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mib = (b: number): string => (b / 2 ** 20).toFixed(1);

interface Config {
  name: string;
  width?: number;
  batch: number;
  size: number;
}
const CONFIGS: Config[] = QUICK
  ? [{ name: 'narrow (width 4)', width: 4, batch: 2, size: 32 }]
  : [
      { name: 'narrow (width 16)', width: 16, batch: 4, size: 128 },
      { name: 'full width', batch: 2, size: 128 },
    ];

const timeRows: string[] = [];
const json: Record<string, unknown>[] = [];
for (const c of CONFIGS) {
  const g = buildGraph(join(ROOT, 'specs/enc_jpu_r50.fcn'), {
    batch: c.batch,
    height: c.size,
    width: c.size,
    settings: c.width ? { width: c.width } : {},
  }).graph!;
  const { params } = await loadParams(
    g.params.map((p) => ({ name: p.name, shape: p.shape, dtype: p.dtype, init: p.init })),
    { seed: 1 },
  );
  const image = new Float32Array(c.batch * 3 * c.size * c.size).map((_, k) => Math.sin(k * 0.37));
  const classes = Number(g.settings.classes);
  const labels = new Float32Array(c.batch * c.size * c.size).map((_, k) => ((k * 7) % (classes + 1)) - 1);
  const t0 = performance.now();
  const train = compileTraining(g, { limits: dev.limits, tuning });
  const compileMs = performance.now() - t0;
  const infer = compile(g, { limits: dev.limits, tuning });
  const ts = await Session.create(dev, train.program);
  const is = await Session.create(dev, infer.program);
  await ts.setParams(params);
  await is.setParams(params);
  const hyper = new Float32Array(HYPER_SIZE);
  hyper[HYPER.lr] = 1e-4;
  const step = async (): Promise<number> => {
    const t = performance.now();
    await ts.call(
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
  const forward = async (): Promise<number> => {
    const t = performance.now();
    await is.call('forward', new Map([['image', image]]), { read: [] });
    return performance.now() - t;
  };
  await step(); // warm-up (pipelines, first use of buffers)
  await forward();
  const st: number[] = [];
  const ft: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    st.push(await step());
    ft.push(await forward());
  }
  ts.destroy();
  is.destroy();
  const s = median(st);
  const f = median(ft);
  const steps = train.program.entries.train_step!.steps;
  console.log(
    `${c.name}: train step ${s.toFixed(0)} ms, forward ${f.toFixed(0)} ms, ratio ${(s / f).toFixed(2)}`,
  );
  timeRows.push(
    `| ${c.name} | ${c.batch}×${c.size}² | ${steps.filter((x) => !x.copy).length} | ${s.toFixed(0)} | ${Math.min(...st).toFixed(0)} | ${((c.batch * 1000) / s).toFixed(2)} | ${f.toFixed(0)} | ${(s / f).toFixed(2)} | ${compileMs.toFixed(0)} |`,
  );
  json.push({ config: c, trainStepMs: st, forwardMs: ft, compileMs, dispatches: steps.length });
}

// ---- memory: fcnc's plan beside PyTorch's
interface TorchMemory {
  saved: number;
  params: number;
  grads: number;
  momentum: number;
  peak_rss: number;
  torch: string;
}
const MEMORY: Config[] =
  QUICK || process.env.MEMORY === '0' ? [] : [{ name: 'full width', batch: 4, size: 480 }];
const memRows: string[] = [];
for (const c of MEMORY) {
  const g = buildGraph(join(ROOT, 'specs/enc_jpu_r50.fcn'), {
    batch: c.batch,
    height: c.size,
    width: c.size,
  }).graph!;
  const big = { maxStorageBufferBindingSize: 2 ** 52, maxBufferSize: 2 ** 52 };
  const m = compileTraining(g, { limits: big }).program.memory;
  const t = m.training!;
  let torch: TorchMemory | undefined;
  try {
    const out = execFileSync(
      '/usr/bin/python3',
      [join(ROOT, 'bench/torch/train_memory.py'), '--batch', String(c.batch), '--size', String(c.size)],
      { encoding: 'utf8', maxBuffer: 1 << 20 },
    );
    torch = JSON.parse(out.trim().split('\n').pop()!) as TorchMemory;
  } catch (e) {
    console.warn(`PyTorch memory run failed (${(e as Error).message.split('\n')[0]}); fcnc's side only`);
  }
  const fcncTotal = m.plannedBytes + m.paramBytes + t.optimizerBytes;
  const row = (what: string, ours: number, theirs: number | undefined): string =>
    `| ${what} | ${mib(ours)} | ${theirs === undefined ? '—' : mib(theirs)} |`;
  memRows.push(
    `### enc_jpu_r50, batch ${c.batch}, ${c.size}×${c.size}, 59 classes${torch ? ` (PyTorch ${torch.torch}, CPU)` : ''}`,
    '',
    '| MiB | fcnc (planned) | PyTorch |',
    '|---|---:|---:|',
    row('saved for the backward', t.savedBytes, torch?.saved),
    row('parameters and buffers', m.paramBytes, torch?.params),
    row('gradients stored', t.gradientBytes, torch?.grads),
    row('momentum', t.optimizerBytes, torch?.momentum),
    row('activations at the peak (planned; PyTorch: —)', m.plannedBytes, undefined),
    row('total (fcnc: everything on the device; PyTorch: peak process growth)', fcncTotal, torch?.peak_rss),
    '',
  );
  json.push({ memory: c, fcnc: m, torch });
}

const adapter = dev.description.replace(/^using /, '');
const kind = /software|llvmpipe|swiftshader|lavapipe/i.test(adapter) ? 'software' : 'gpu';
const text = [
  '# Training steps and training memory',
  '',
  `Adapter: ${adapter}.`,
  `Date ${new Date().toISOString().slice(0, 10)}; machine: ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}. Produced by \`npm run bench:train\` (bench/train.bench.ts).`,
  '',
  '## Time of a training step',
  '',
  `enc_jpu_r50, seeded weights, 59 classes. A training step (train-mode forward, the three loss terms, backward, SGD with momentum) against the inference forward of the same batch (batchnorm folded), ${RUNS} alternating runs each, median ms (and the fastest step).`,
  '',
  '| network | batch | dispatches | train step ms | fastest | img/s | forward ms | step / forward | compile ms |',
  '|---|---|---:|---:|---:|---:|---:|---:|---:|',
  ...timeRows,
  '',
  "A training step does about three times the forward's arithmetic (the forward, then the input and weight gradients of every conv), in train mode (batch statistics: two extra reductions per batchnorm) and without batchnorm folding.",
  '',
  ...(memRows.length ? ['## Memory of a training step', '', ...memRows] : []),
  'fcnc plans every buffer ahead (no allocator slack), computes each gradient straight into its momentum update (most gradients are never stored), and frees each activation after its last reader in the backward; PyTorch keeps every `.grad` until the optimizer step.',
  '',
].join('\n');
if (!QUICK) {
  writeFileSync(join(ROOT, 'bench', 'results', `train-${kind}.md`), text);
  writeFileSync(join(ROOT, 'bench', 'results', `train-${kind}.json`), JSON.stringify(json, null, 1));
}
console.log(text);
process.exit(0);
