// Which tiling the row-vectorised conv (conv2d.variant 2) should default to on the adapter at hand, and what it
// gains over the register-blocked 16×8 default it replaces: every 3×3 stride-1 dense conv problem of
// EncNet-dilated R50, PSP-dilated R50, EncNet-JPU R50 and R101 at 256² (the shapes the Table 2 pairs are made
// of), each candidate timed alone by the tuner's timer (runtime/tune.ts gpuTimer: warm-up, calibration, the
// fastest of its rounds), summed over the problems weighted by how many convs of the four networks solve each.
//
//   npm run bench:rows   → bench/results/rows-<adapter>.md
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { rowKernelApplies } from '../compiler/codegen/wgsl/conv.ts';
import { openDevice } from '../runtime/device.ts';
import { tuningFor } from '../runtime/tuning.ts';
import { specProblems } from './conv_problem.ts';
import { gpuTimer, type Candidate, type Problem } from '../runtime/tune.ts';

const ROOT = join(import.meta.dirname, '..');
const SPECS = ['enc_dilated_r50', 'psp_dilated_r50', 'enc_jpu_r50', 'enc_jpu_r101'];
const dev = await openDevice();
console.log(dev.description);
const all = new Map<string, Problem>();
for (const spec of SPECS) {
  for (const p of specProblems(spec, 256, dev.limits, tuningFor(dev)))
    if (rowKernelApplies(p.x, p.attrs) && p.attrs.groups !== p.x[1]) {
      const prev = all.get(p.key);
      all.set(p.key, prev ? { ...prev, count: prev.count + p.count } : p);
    }
}
const reg: Candidate = {
  name: 'register 16×8',
  tuning: { 'conv2d.variant': 0, 'conv2d.tm': 16, 'conv2d.tn': 8 },
};
const rows = (tm: number, tn: number): Candidate => ({
  name: `rows ${tm}×${tn}`,
  tuning: { 'conv2d.variant': 2, 'conv2d.row_tm': tm, 'conv2d.row_tn': tn },
});
const rowsDefault: Candidate = { name: 'rows default', tuning: { 'conv2d.variant': 2 } };
const cands = [reg, rowsDefault, rows(4, 32), rows(8, 32), rows(12, 32), rows(16, 16), rows(8, 64)];
const timer = gpuTimer(dev, { warn: (m) => console.warn(m), giveUp: 5, rounds: 2, budgetMs: 400 });
const totals = cands.map(() => 0);
const rowsMd: string[] = [];
for (const p of [...all.values()].sort((a, b) => b.flops * b.count - a.flops * a.count)) {
  const t = await timer(p, cands);
  t.forEach((ms, k) => (totals[k]! += ms * p.count));
  const best = Math.min(...t);
  rowsMd.push(
    `| \`${p.key}\` | ${p.count} | ${t.map((ms) => (ms === best ? `**${ms.toFixed(1)}**` : ms.toFixed(1))).join(' | ')} |`,
  );
  console.log(p.key, p.count, t.map((ms) => ms.toFixed(1)).join(' '));
}
timer.release();
const bestK = totals.indexOf(Math.min(...totals.slice(2)));
const adapter = dev.kind === 'software' ? 'software' : 'gpu';
const cpu = cpus()[0]?.model.replace(/\s+/g, ' ').trim() ?? 'unknown CPU';
const md = `# Row-vectorised 3×3 convs: the default tiling — ${dev.description}

Date ${new Date().toISOString().slice(0, 10)}; machine: ${cpus().length} × ${cpu}. \`npm run bench:rows\` (bench/rows.bench.ts).
Every 3×3 stride-1 dense conv problem of ${SPECS.join(', ')} at 256² (${all.size} problems), each candidate timed
alone (ms per dispatch, the fastest of the tuner's rounds; bold: the fastest of the row). \`register 16×8\` is the
register-blocked kernel (variant 0) that was this adapter's default; \`rows TM×TN\` the row-vectorised kernel
(variant 2, compiler/codegen/wgsl/conv.ts) with TM output channels × TN pixels of one row per invocation.

| problem | convs | ${cands.map((c) => c.name).join(' | ')} |
|---|---:|${cands.map(() => '---:').join('|')}|
${rowsMd.join('\n')}
| **weighted total** (ms, × convs) | | ${totals.map((ms) => ms.toFixed(0)).join(' | ')} |

\`rows default\` is what variant 2 runs without tiling keys (compiler/codegen/wgsl/conv.ts \`SMALL_ROW_TILING\`, the tiles of narrow layers since \`conv2d.large\`):
12 channels × 32 pixels, and 4 channels × 32 pixels where the output rows are at most 16 wide. Over these problems
it takes **${(totals[0]! / totals[1]!).toFixed(2)}×** less time than register 16×8; the best single fixed tiling,
${cands[bestK]!.name}, ${(totals[0]! / totals[bestK]!).toFixed(2)}×. It is this adapter's default for such convs
(runtime/tuning.ts; other convs keep register 16×8); \`--tune full\` picks per problem.
`;
const file = join(ROOT, 'bench', 'results', `rows-${adapter}.md`);
writeFileSync(file, md);
console.log(`wrote ${file}`);
dev.destroy();
