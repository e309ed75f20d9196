// What the conv kernels' work order, FMA order and tile sizes are worth on the adapter at hand: every dense conv
// problem of EncNet-JPU R50 at 256², each kernel timed alone by the tuner's timer (runtime/tune.ts gpuTimer:
// warm-up, calibration, the fastest of its rounds), summed over the problems weighted by how many convs solve each.
//
//   before     the kernels this adapter ran before 2026-11-29's changes: register-blocked 16×8 with pixel tiles
//              fastest and FMAs interleaved with the loads (`conv2d.cb` 0, `conv2d.interleave` 1); 3×3 stride-1
//              convs row-vectorised with the small tiles, FMAs interleaved
//   blocks     the same with the blocked work order (a workgroup = channel tiles × pixel tiles; rows unchanged)
//   per-acc    and loads first, then each accumulator once with all its terms
//   large      and the large tiles (`conv2d.large`: 1×1 GEMMs 32×32 or 16×16, rows 32×32 / 16×16 / 8×16 by width when
//              this bench was written; the large defaults now take several rows per invocation and sized workgroups,
//              which bench/narrow.bench.ts measures)
//
//   npm run bench:order   → bench/results/order-<adapter>.md   (env SPEC, SIZE: another network or size, printed
//   or written to OUT)
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { buildGraph } from '../compiler/index.ts';
import { compile } from '../compiler/compile.ts';
import { isDepthwiseConv, rowKernelApplies } from '../compiler/codegen/wgsl/conv.ts';
import { openDevice } from '../runtime/device.ts';
import { tuningFor } from '../runtime/tuning.ts';
import { gpuTimer, problemsOf, type Candidate } from '../runtime/tune.ts';

const ROOT = join(import.meta.dirname, '..');
const SPEC = process.env.SPEC ?? 'enc_jpu_r50';
const SIZE = Number(process.env.SIZE ?? 256);
const dev = await openDevice();
console.log(dev.description);
const r = buildGraph(join(ROOT, 'specs', `${SPEC}.fcn`), { height: SIZE, width: SIZE });
if (!r.graph) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
const problems = problemsOf(compile(r.graph, { limits: dev.limits, tuning: tuningFor(dev) }).graph).filter(
  (p) => !isDepthwiseConv(p.x, p.attrs),
);

const REG = { 'conv2d.variant': 0, 'conv2d.tm': 16, 'conv2d.tn': 8 };
const ROWS = { 'conv2d.variant': 2 };
const columns = ['before', 'blocks', 'per-acc', 'large'] as const;
/** The register-blocked kernel in each column's orders; the last column's kernel is `large`. */
const registerColumns = (large: Candidate): Candidate[] => [
  { name: 'before', tuning: { ...REG, 'conv2d.cb': 0, 'conv2d.interleave': 1 } },
  { name: 'blocks', tuning: { ...REG, 'conv2d.interleave': 1 } },
  { name: 'per-acc', tuning: REG },
  large,
];
/**
 * The kernels of each column. Row-vectorised convs have no block order, so their `blocks` is `before` (3 kernels);
 * 3×3 stride-2 convs ran register-blocked before and row-vectorised with the large tiles now.
 */
const candidatesOf = (rows: boolean, stridedRows: boolean): Candidate[] =>
  rows
    ? [
        { name: 'before', tuning: { ...ROWS, 'conv2d.interleave': 1 } },
        { name: 'per-acc', tuning: ROWS },
        { name: 'large', tuning: { ...ROWS, 'conv2d.large': 1 } },
      ]
    : registerColumns({
        name: 'large',
        tuning: stridedRows ? { ...ROWS, 'conv2d.large': 1 } : { ...REG, 'conv2d.large': 1 },
      });

const timer = gpuTimer(dev, { warn: (m) => console.warn(m), giveUp: 10, rounds: 3, budgetMs: 600 });
const totals = columns.map(() => 0);
const kindTotals: Record<string, number[]> = {};
const lines: string[] = [];
let flops = 0;
for (const p of problems) {
  const stridedRows = rowKernelApplies(p.x, p.attrs) && p.attrs.stride > 1;
  const rows = rowKernelApplies(p.x, p.attrs) && !stridedRows;
  const kind = rows
    ? '3×3 stride 1 (rows)'
    : stridedRows
      ? '3×3 stride 2 (rows now)'
      : p.attrs.kernel === 1 && p.attrs.stride === 1
        ? '1×1 GEMM'
        : 'strided';
  const t = await timer(p, candidatesOf(rows, stridedRows));
  const ms = rows ? [t[0]!, t[0]!, t[1]!, t[2]!] : t;
  const kt = (kindTotals[kind] ??= columns.map(() => 0));
  ms.forEach((v, k) => {
    totals[k]! += v * p.count;
    kt[k]! += v * p.count;
  });
  flops += p.flops * p.count;
  const cell = (v: number, k: number) =>
    rows && k === 1 ? '〃' : `${v.toFixed(1)} (${(p.flops / v / 1e6).toFixed(0)})`;
  lines.push(
    `| \`${p.key}\` | ${kind} | ${p.count} | ${(p.flops / 1e9).toFixed(3)} | ${ms.map(cell).join(' | ')} | ${(ms[0]! / ms[3]!).toFixed(2)}× |`,
  );
  console.log(p.key, p.count, ms.map((v) => v.toFixed(1)).join(' '));
}
timer.release();
const adapter = dev.kind === 'software' ? 'software' : 'gpu';
const cpu = cpus()[0]?.model.replace(/\s+/g, ' ').trim() ?? 'unknown CPU';
const x = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
const md = `# Conv kernels: work order, FMA order and tile size — ${dev.description}

Date ${new Date().toISOString().slice(0, 10)}; machine: ${cpus().length} × ${cpu}. \`npm run bench:order\` (bench/order.bench.ts).
Every dense conv problem of ${SPEC} at ${SIZE}² (${problems.length} problems), each kernel timed alone in one run
(ms per dispatch, the fastest of the tuner's rounds; GFLOP/s in parentheses), totals weighted by the convs that
solve each problem:

- **before**: the kernels this adapter ran before 2026-11-29 — register-blocked 16×8 with pixel tiles fastest over
  the plane and FMAs interleaved with the loads (\`conv2d.cb\` 0, \`conv2d.interleave\` 1); 3×3 stride-1 convs
  row-vectorised with the small tiles (12×32; 4×32 on rows ≤ 16 wide), FMAs interleaved;
- **blocks**: the blocked work order — a workgroup is 8 output-channel tiles × 8 pixel tiles (\`conv2d.cb\`), so the
  input pixels and weight rows a block reads stay in cache while its lanes use them (row-vectorised kernels keep
  their order: 〃);
- **per-acc**: and the loads of a step first, then each accumulator once with all its terms — on llvmpipe every
  storage load is a loop of per-lane branches that ends a basic block, so FMAs interleaved with loads reload and
  re-store their spilled accumulators each time;
- **large**: and the large tiles of \`conv2d.large\` (1×1 GEMMs 32×32 where that leaves 4 workgroups of tiles, else
  16×16; rows 32×32, 16×16 or 8×16 by row width), what
  llvmpipe now runs for layers with ≥ 64 channels in and out (runtime/tuning.ts); 3×3 stride-2 convs are
  row-vectorised here (reading every other column of the row segment), other strided convs keep 16×8.

| problem | kind | convs | GFLOP | ${columns.join(' | ')} | before / large |
|---|---|---:|---:|${columns.map(() => '---:').join('|')}|---:|
${lines.join('\n')}
| **weighted total** (ms) | | | ${(flops / 1e9).toFixed(2)} | ${totals.map((v) => v.toFixed(0)).join(' | ')} | ${x(totals[0]!, totals[3]!)} |
${Object.entries(kindTotals)
  .map(([k, v]) => `| total: ${k} | | | | ${v.map((ms) => ms.toFixed(0)).join(' | ')} | ${x(v[0]!, v[3]!)} |`)
  .join('\n')}

Over these convs: blocks ${x(totals[0]!, totals[1]!)}, then per-accumulator FMAs ${x(totals[1]!, totals[2]!)}, then
large tiles ${x(totals[2]!, totals[3]!)} — **${x(totals[0]!, totals[3]!)} less time** than before
(${(flops / totals[0]! / 1e6).toFixed(1)} → ${(flops / totals[3]! / 1e6).toFixed(1)} GFLOP/s averaged). \`--tune full\` picks per problem among the
candidates of runtime/tune.ts (register and rows up to 32×32).
`;
// Only the standard run (enc_jpu_r50 at 256²) writes bench/results; other runs print, or write to OUT.
const standard = SPEC === 'enc_jpu_r50' && SIZE === 256;
const file = standard ? join(ROOT, 'bench', 'results', `order-${adapter}.md`) : process.env.OUT;
if (file) {
  writeFileSync(file, md);
  console.log(`wrote ${file}`);
} else console.log(md);
dev.destroy();
