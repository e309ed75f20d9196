// ResNet's strided 1×1 downsampling convs (the shortcut of each stage's first block) on the adapter at hand: the
// register-blocked kernel that gathers every other input column (`conv2d.sub` 0) against two dispatches — the input
// subsampled into a dense scratch copy, then the plain GEMM with vec4 pixel loads (`conv2d.sub` 1) — both on top of
// the adapter's fixed defaults (the same tiles and workgroups), timed by the tuner's timer (each plan alone, every
// dispatch of it, fastest of its rounds). The shapes of layer2/3/4 of a ResNet at 256² and 512² inputs: the JPU
// networks have all three strided (the dilated ones only layer2's). And the deep stem's first conv (3 → 64, 3×3,
// stride 2), whose 3 input channels kept it off the row-vectorised kernel until it learnt to step one channel at a
// time with scalar weights: the register-blocked kernel (`conv2d.variant` 0) against the row kernel (2).
// Run: npm run bench:subsample [-- ROUNDS]   (default 6) → bench/results/subsample-<gpu|software>.md
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { openDevice } from '../runtime/device.ts';
import { gpuTimer, type Candidate, type Problem } from '../runtime/tune.ts';
import { tuningFor } from '../runtime/tuning.ts';
import { convProblemOf } from './conv_problem.ts';

const ROOT = join(import.meta.dirname, '..');
const ROUNDS = Number(process.argv[2] ?? 6);
const dev = await openDevice();
console.log(dev.description);
const base = { ...tuningFor(dev) };
delete (base as Record<string, number>)['conv2d.sub'];

const problem = (cin: number, size: number, cout: number, k = 1): Problem =>
  convProblemOf([1, cin, size, size], cout, k, {
    stride: 2,
    flops: 2 * cin * cout * (size / 2) ** 2 * k * k,
  });
const PROBLEMS: { what: string; p: Problem }[] = [
  { what: 'layer2.0 at 256²', p: problem(256, 64, 512) },
  { what: 'layer3.0 at 256²', p: problem(512, 32, 1024) },
  { what: 'layer4.0 at 256²', p: problem(1024, 16, 2048) },
  { what: 'layer2.0 at 512²', p: problem(256, 128, 512) },
  { what: 'layer3.0 at 512²', p: problem(512, 64, 1024) },
  { what: 'layer4.0 at 512²', p: problem(1024, 32, 2048) },
];
const CANDS: Candidate[] = [
  { name: 'strided kernel', tuning: { 'conv2d.sub': 0 } },
  { name: 'subsampled + GEMM', tuning: { 'conv2d.sub': 1 } },
];
const STEMS: { what: string; p: Problem }[] = [
  { what: 'stem conv1.0 at 256²', p: problem(3, 256, 64, 3) },
  { what: 'stem conv1.0 at 512²', p: problem(3, 512, 64, 3) },
];
const STEM_CANDS: Candidate[] = [
  { name: 'register-blocked', tuning: { 'conv2d.variant': 0 } },
  { name: 'row kernel, one channel a step', tuning: { 'conv2d.variant': 2 } },
];
const timer = gpuTimer(dev, { rounds: ROUNDS, giveUp: 100, budgetMs: 20000 });
const rows: string[] = [];
let before = 0;
let after = 0;
for (const { what, p } of PROBLEMS) {
  const [a, b] = await timer(p, CANDS, base);
  const gf = (ms: number) => (p.flops / ms / 1e6).toFixed(1);
  if (what.endsWith('256²')) {
    before += a!;
    after += b!;
  }
  const row = `| ${what} | ${p.x.join('×')} → ${p.attrs.channels} | ${a!.toFixed(2)} | ${gf(a!)} | ${b!.toFixed(2)} | ${gf(b!)} | ${(a! / b!).toFixed(2)}× |`;
  console.log(row);
  rows.push(row);
}
const stemRows: string[] = [];
for (const { what, p } of STEMS) {
  const [a, b] = await timer(p, STEM_CANDS, base);
  const gf = (ms: number) => (p.flops / ms / 1e6).toFixed(1);
  const row = `| ${what} | ${p.x.join('×')} → ${p.attrs.channels} | ${a!.toFixed(2)} | ${gf(a!)} | ${b!.toFixed(2)} | ${gf(b!)} | ${(a! / b!).toFixed(2)}× |`;
  console.log(row);
  stemRows.push(row);
}
timer.release();
const md = [
  `# Strided convs of ResNet: 1×1 gathered vs subsampled first, and the stem — ${dev.description}`,
  '',
  `Date ${new Date().toISOString().slice(0, 10)}; machine: ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}. Produced by`,
  "`npm run bench:subsample` (bench/subsample.bench.ts). Batch 1, on top of the adapter's fixed defaults (the same",
  'tiles and workgroups for both); each plan alone (both dispatches of the subsampled one, scratch included), the',
  `fastest of its ${ROUNDS} rounds (the tuner's timer); GFLOP/s count the conv's FLOPs only.`,
  '',
  '| conv | x → out channels | strided ms | GFLOP/s | subsampled ms | GFLOP/s | speed-up |',
  '|---|---|---:|---:|---:|---:|---:|',
  ...rows,
  '',
  `The three at 256² (a JPU network's downsampling convs): ${before.toFixed(1)} → ${after.toFixed(1)} ms.`,
  '',
  "## The stem's first conv (3 input channels): register-blocked vs the row kernel",
  '',
  'Both with their default tiles on this adapter (the layer is too narrow for the large ones).',
  '',
  '| conv | x → out channels | register ms | GFLOP/s | rows ms | GFLOP/s | speed-up |',
  '|---|---|---:|---:|---:|---:|---:|',
  ...stemRows,
  '',
].join('\n');
const out = join(ROOT, 'bench', 'results', `subsample-${dev.kind}.md`);
writeFileSync(out, md);
console.log(`wrote ${out}`);
dev.destroy();
process.exit(0);
