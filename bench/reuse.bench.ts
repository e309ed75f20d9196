// What loading each input row of a step once is worth to the row-vectorised 3×3 convs on the adapter at hand:
// every row-kernel conv problem of EncNet-JPU R101 and EncNet-dilated R101 at 256², each kernel timed alone by the
// tuner's timer (runtime/tune.ts gpuTimer: warm-up, calibration, the fastest of its rounds), summed over the
// problems weighted by how many convs solve each.
//
//   before         the large row tiles by output row width, kernel rows one loop step each: 16×8 × 8 rows
//                  (rows ≤ 8 wide), 16×16 × 4 rows (≤ 16), 16×32 × 2 rows (≤ 64), 32×32 × 2 rows (wider)
//   reuse          the same tiles with every kernel row of a step unrolled (`conv2d.row_reuse` 1): each distinct
//                  input row of the tile loaded once per step, each accumulator updated once per step
//   8 ch           on rows ≤ 16 wide: 8 output channels a tile (8×8 × 8 rows, 8×16 × 4 rows)
//   reuse, 8 ch    and reuse
//
//   npm run bench:reuse   → bench/results/reuse-<adapter>.md   (env SPECS=a,b SIZE: other networks or size,
//   printed or written to OUT)
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { isDepthwiseConv, rowKernelApplies } from '../compiler/codegen/wgsl/conv.ts';
import { openDevice } from '../runtime/device.ts';
import { tuningFor } from '../runtime/tuning.ts';
import { specProblems } from './conv_problem.ts';
import { gpuTimer, type Candidate, type Problem } from '../runtime/tune.ts';

const ROOT = join(import.meta.dirname, '..');
const SPECS = (process.env.SPECS ?? 'enc_jpu_r101,enc_dilated_r101').split(',');
const SIZE = Number(process.env.SIZE ?? 256);
const dev = await openDevice();
console.log(dev.description);
const base = tuningFor(dev);

/** The large row tile before this change, by output row width: [channels, pixels, rows]. */
const tileOf = (wo: number): [number, number, number] =>
  wo <= 8 ? [16, 8, 8] : wo <= 16 ? [16, 16, 4] : wo <= 64 ? [16, 32, 2] : [32, 32, 2];
const cand = (name: string, [tm, tn, rows]: [number, number, number], reuse: 0 | 1): Candidate => ({
  name,
  tuning: {
    ...base,
    'conv2d.variant': 2,
    'conv2d.row_tm': tm,
    'conv2d.row_tn': tn,
    'conv2d.row_rows': rows,
    'conv2d.row_reuse': reuse,
  },
});
function candidates(p: Problem): Candidate[] {
  const wo = p.out[3]!;
  const t = tileOf(wo);
  // 32×32 × 2 rows (the stem's wide rows): before only, to keep the run short — unrolled, its step updates 512 vec4
  // accumulators with 36 terms each, twice the 16×32 × 2 tile's.
  if (t[0] === 32) return [cand('before', t, 0)];
  return [
    cand('before', t, 0),
    cand('reuse', t, 1),
    ...(wo <= 16 ? [cand('8 ch', [8, t[1], t[2]], 0), cand('reuse, 8 ch', [8, t[1], t[2]], 1)] : []),
  ];
}

const columns = ['before', 'reuse', '8 ch', 'reuse, 8 ch'] as const;
const timer = gpuTimer(dev, { warn: (m) => console.warn(m), giveUp: 10, rounds: 3, budgetMs: 600 });
const sections: string[] = [];
const summary: string[] = [];
for (const spec of SPECS) {
  const problems = specProblems(spec, SIZE, dev.limits, base).filter(
    (p) => !isDepthwiseConv(p.x, p.attrs) && rowKernelApplies(p.x, p.attrs),
  );
  // Totals over every problem of the columns "before" and "reuse", and the best of all per problem.
  let before = 0;
  let reuse = 0;
  let best = 0;
  let flops = 0;
  const lines: string[] = [];
  for (const p of problems) {
    const cands = candidates(p);
    const t0 = performance.now();
    const ms = await timer(p, cands);
    before += ms[0]! * p.count;
    reuse += (ms[1] ?? ms[0]!) * p.count;
    best += Math.min(...ms) * p.count;
    flops += p.flops * p.count;
    const a = p.attrs;
    const kind = `${a.kernel}×${a.kernel}${a.stride > 1 ? ` s${a.stride}` : ''}${a.dilation > 1 ? ` d${a.dilation}` : ''}`;
    const cell = (k: number) =>
      ms[k] === undefined ? '' : `${ms[k]!.toFixed(1)} (${(p.flops / ms[k]! / 1e6).toFixed(0)})`;
    lines.push(
      `| \`${p.key}\` | ${kind} | ${p.out[2]}×${p.out[3]} | ${p.count} | ${(p.flops / 1e9).toFixed(3)} | ${columns.map((_, k) => cell(k)).join(' | ')} | ${ms[1] ? `${(ms[0]! / ms[1]).toFixed(2)}×` : ''} |`,
    );
    const s = ((performance.now() - t0) / 1000).toFixed(0);
    console.log(spec, p.key, p.count, ms.map((v) => v.toFixed(2)).join(' '), `(${s} s)`);
  }
  const x = (u: number, v: number) => `${(u / v).toFixed(2)}×`;
  sections.push(`## ${spec}

| problem | kind | output | convs | GFLOP | ${columns.join(' | ')} | before / reuse |
|---|---|---|---:|---:|${columns.map(() => '---:').join('|')}|---:|
${lines.join('\n')}
| **weighted total** (ms) | | | | ${(flops / 1e9).toFixed(2)} | ${before.toFixed(0)} | ${reuse.toFixed(0)} | | best per problem: ${best.toFixed(0)} | ${x(before, reuse)} |
`);
  summary.push(
    `- ${spec}: ${before.toFixed(0)} ms of row-kernel conv time before, ${reuse.toFixed(0)} with reuse (${x(before, reuse)}), ${best.toFixed(0)} with the best column per problem (${x(before, best)})`,
  );
}
timer.release();
const adapter = dev.kind === 'software' ? 'software' : 'gpu';
const cpu = cpus()[0]?.model.replace(/\s+/g, ' ').trim() ?? 'unknown CPU';
const md = `# Row-vectorised convs: each input row of a step loaded once — ${dev.description}

Date ${new Date().toISOString().slice(0, 10)}; machine: ${cpus().length} × ${cpu}. \`npm run bench:reuse\` (bench/reuse.bench.ts).
Every row-kernel conv problem (3×3, stride 1 or 2) of ${SPECS.join(' and ')} at ${SIZE}², each kernel timed alone
in one run (ms per dispatch, the fastest of the tuner's rounds; GFLOP/s in parentheses), totals weighted by the
convs that solve each problem.

- **before**: the large row tiles by output row width, one loop step per kernel row — 16×8 × 8 rows on rows ≤ 8
  wide, 16×16 × 4 rows on rows ≤ 16, 16×32 × 2 rows on rows ≤ 64, 32×32 × 2 rows on wider ones. Each step loads
  the input rows its output rows read at that kernel row: RR of them, so over the 3 kernel rows 3·RR row segments;
- **reuse**: the same tiles with the 3 kernel rows of a step unrolled (\`conv2d.row_reuse\` 1): the distinct input
  rows of the tile are loaded once per step — RR + 2 at dilation 1, stride 1 (4 of 6 for 2 rows, 6 of 12 for 4, 10
  of 24 for 8); at dilation 2 and more, 2 rows share none — and each accumulator is updated once per step with its
  36 terms rather than 3 times with 12;
  Rows wider than 64 (the stem's, 32×32 × 2 rows) are timed before only, to keep the run short: unrolled, that
  tile's step updates 512 vec4 accumulators with 36 terms each, twice the 16×32 × 2 tile's;
- **8 ch**, **reuse, 8 ch**: on rows ≤ 16 wide, tiles of 8 output channels (8×8 × 8 rows, 8×16 × 4 rows), without
  and with reuse — the unrolled step of a 16-channel tile with 4 or 8 rows is 3 times as long as a loop step.

${summary.join('\n')}

${sections.join('\n')}`;
// Only the standard run writes bench/results; other runs print, or write to OUT.
const standard = !process.env.SPECS && !process.env.SIZE;
const out = process.env.OUT ?? (standard ? join(ROOT, 'bench', 'results', `reuse-${adapter}.md`) : undefined);
if (out) {
  writeFileSync(out, md);
  console.log(`wrote ${out}`);
} else console.log(md);
process.exit(0);
