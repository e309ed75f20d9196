// What unrolling the kernel rows of a step (`conv2d_grad_input.row_reuse`) is worth to the input gradients of a
// training step's 3×3 convs on narrow maps, on the adapter at hand: every input-gradient problem of EncNet-JPU R101's
// training step (batch 2, 256²) that the row kernel runs on rows ≤ 16 wide, each kernel timed alone by the tuner's
// timer (runtime/tune.ts gpuTimer), summed over the problems weighted by how many convs solve each.
//
//   before      the gradient's large row tiles: 16×8 × 8 rows (rows ≤ 8 wide), 16×16 × 4 rows (≤ 16)
//   reuse, 8 ch 8 channels a tile (8×8 × 8, 8×16 × 4 rows), each distinct row of dy loaded once a step
//   reuse       the 16-channel tiles, likewise
//
//   npm run bench:reuse-grad   → bench/results/reuse-grad-<adapter>.md
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { buildGraph } from '../compiler/index.ts';
import { compileTraining } from '../compiler/compile.ts';
import { gradInputRowsApply } from '../compiler/codegen/wgsl/conv_grad.ts';
import { openDevice } from '../runtime/device.ts';
import { tuningFor } from '../runtime/tuning.ts';
import { gpuTimer, problemsOf, type Candidate } from '../runtime/tune.ts';

const ROOT = join(import.meta.dirname, '..');
const SPEC = 'enc_jpu_r101';
const dev = await openDevice();
console.log(dev.description);
const base = tuningFor(dev);
const r = buildGraph(join(ROOT, 'specs', `${SPEC}.fcn`), { batch: 2, height: 256, width: 256 });
if (!r.graph) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
const problems = problemsOf(
  compileTraining(r.graph, { limits: dev.limits, tuning: base, dropout: true }).graph,
).filter((p) => p.op === 'conv2d_grad_input' && gradInputRowsApply(p.x, p.attrs) && p.x[3]! <= 16);

const cand = (name: string, tm: number, tn: number, rows: number, reuse: 0 | 1): Candidate => ({
  name,
  tuning: {
    ...base,
    'conv2d_grad_input.variant': 2,
    'conv2d_grad_input.row_tm': tm,
    'conv2d_grad_input.row_tn': tn,
    'conv2d_grad_input.row_rows': rows,
    'conv2d_grad_input.row_reuse': reuse,
  },
});
const columns = ['before', 'reuse, 8 ch', 'reuse'] as const;
const timer = gpuTimer(dev, { warn: (m) => console.warn(m), giveUp: 10, rounds: 3, budgetMs: 600 });
const totals = columns.map(() => 0);
const lines: string[] = [];
for (const p of problems) {
  const [tn, rows] = p.x[3]! <= 8 ? [8, 8] : [16, 4];
  const ms = await timer(p, [
    cand('before', 16, tn, rows, 0),
    cand('reuse, 8 ch', 8, tn, rows, 1),
    cand('reuse', 16, tn, rows, 1),
  ]);
  ms.forEach((v, k) => (totals[k]! += v * p.count));
  const best = Math.min(...ms);
  lines.push(
    `| \`${p.key}\` | ${p.x[2]}×${p.x[3]} | ${p.count} | ${ms.map((v) => (v === best ? `**${v.toFixed(1)}**` : v.toFixed(1))).join(' | ')} | ${(ms[0]! / ms[1]!).toFixed(2)}× |`,
  );
  console.log(p.key, p.count, ms.map((v) => v.toFixed(2)).join(' '));
}
timer.release();
const x = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
const adapter = dev.kind === 'software' ? 'software' : 'gpu';
const cpu = cpus()[0]?.model.replace(/\s+/g, ' ').trim() ?? 'unknown CPU';
const md = `# Input gradients of 3×3 convs on narrow maps: each row of dy loaded once a step — ${dev.description}

Date ${new Date().toISOString().slice(0, 10)}; machine: ${cpus().length} × ${cpu}. \`npm run bench:reuse-grad\` (bench/reuse-grad.bench.ts).
Every input-gradient problem of ${SPEC}'s training step (batch 2, 256²) that the row kernel (the conv of dy with the
weight transposed and flipped) runs on rows at most 16 wide, each kernel timed alone in one run (ms per dispatch, the
fastest of the tuner's rounds), totals weighted by the convs that solve each problem.

- **before**: the gradient's large row tiles, one loop step per kernel row: 16×8 × 8 rows on rows ≤ 8 wide,
  16×16 × 4 rows on rows ≤ 16;
- **reuse, 8 ch**: 8 channels a tile (8×8 × 8 rows, 8×16 × 4 rows) with the kernel rows of a step unrolled
  (\`conv2d_grad_input.row_reuse\` 1): each distinct row of dy the tile reads loaded once a step — what the forward
  convs of these maps run with (bench/results/reuse-software.md);
- **reuse**: the 16-channel tiles, unrolled likewise.

Totals: before ${totals[0]!.toFixed(0)} ms, reuse with 8 channels ${totals[1]!.toFixed(0)} (${x(totals[0]!, totals[1]!)}), reuse with 16 ${totals[2]!.toFixed(0)} (${x(totals[0]!, totals[2]!)}).

| problem | dx rows | convs | ${columns.join(' | ')} | before / reuse, 8 ch |
|---|---|---:|${columns.map(() => '---:').join('|')}|---:|
${lines.join('\n')}
`;
const out = join(ROOT, 'bench', 'results', `reuse-grad-${adapter}.md`);
writeFileSync(out, md);
console.log(`wrote ${out}`);
process.exit(0);
