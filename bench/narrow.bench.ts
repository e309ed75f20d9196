// What several output rows per invocation and workgroups sized to the work are worth on the adapter at hand, on the
// narrow maps of the JPU networks and the wide ones of their dilated baselines: every dense conv problem of
// EncNet-JPU R101 and EncNet-dilated R101 at 256², each kernel timed alone by the tuner's timer (runtime/tune.ts
// gpuTimer: warm-up, calibration, the fastest of its rounds), summed over the problems weighted by how many convs
// solve each.
//
//   one row    the large defaults before 2026-11-29 evening: row-vectorised 32×32 / 16×16 / 8×16 by row width (one
//              output row per invocation), 1×1 GEMMs 32×32 where that leaves 4 workgroups of 64, else 16×16;
//              64 invocations per workgroup
//   rows       several output rows per invocation: 16×32 × 2 rows / 16×16 × 4 rows / 16×8 × 8 rows (GEMMs as
//              before); 64 invocations per workgroup
//   now        and workgroups halved (down to 8 invocations) until a dispatch has 4 (`conv2d.min_workgroups`),
//              which also lets the GEMMs of 16×16 and 8×8 maps take 32×32 tiles: what llvmpipe runs now
//
//   npm run bench:narrow   → bench/results/narrow-<adapter>.md   (env SPECS=a,b SIZE: other networks or size,
//   printed or written to OUT)
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import {
  CONV_KEYS,
  CONV_LARGE,
  CONV_LARGE_MIN_WORKGROUPS,
  isDepthwiseConv,
  rowKernelApplies,
} from '../compiler/codegen/wgsl/conv.ts';
import { WG } from '../compiler/codegen/wgsl/common.ts';
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
const { [CONV_KEYS.minWorkgroups]: _, ...noMin } = base;
const LARGE = base[CONV_KEYS.large] ?? 64;

/** The tiles the large defaults gave before (one row per invocation; 1×1 GEMMs 16×16 with few 32×32 tiles). */
function oneRow(p: Problem): Candidate {
  const at = (k: string) => `${k}@${p.key}`;
  const wo = p.out[3]!;
  if (rowKernelApplies(p.x, p.attrs)) {
    const [tm, tn] = wo <= 8 ? [8, 16] : wo <= 16 ? [16, 16] : [32, 32];
    return {
      name: 'one row',
      tuning: { ...noMin, [at(CONV_KEYS.rtm)]: tm, [at(CONV_KEYS.rtn)]: tn, [at(CONV_KEYS.rrows)]: 1 },
    };
  }
  const gemm = p.attrs.kernel === 1 && p.attrs.stride === 1 && p.attrs.padding === 0;
  if (!gemm) return { name: 'one row', tuning: noMin };
  const tiles = Math.ceil(p.attrs.channels / CONV_LARGE.tm) * Math.ceil((p.out[2]! * wo) / CONV_LARGE.tn);
  const t = tiles >= CONV_LARGE_MIN_WORKGROUPS * WG ? CONV_LARGE.tm : 16;
  return { name: 'one row', tuning: { ...noMin, [at(CONV_KEYS.tm)]: t, [at(CONV_KEYS.tn)]: t } };
}

const columns = ['one row', 'rows', 'now'] as const;
const timer = gpuTimer(dev, { warn: (m) => console.warn(m), giveUp: 10, rounds: 3, budgetMs: 600 });
const sections: string[] = [];
const summary: string[] = [];
for (const spec of SPECS) {
  const problems = specProblems(spec, SIZE, dev.limits, base).filter((p) => !isDepthwiseConv(p.x, p.attrs));
  const totals = columns.map(() => 0);
  const byWidth = new Map<string, number[]>();
  const lines: string[] = [];
  let flops = 0;
  for (const p of problems) {
    const large = p.x[1]! / p.attrs.groups >= LARGE && p.attrs.channels / p.attrs.groups >= LARGE;
    const kind = rowKernelApplies(p.x, p.attrs)
      ? `${p.attrs.kernel}×${p.attrs.kernel}${p.attrs.stride > 1 ? ' s2' : ''} rows`
      : p.attrs.kernel === 1 && p.attrs.stride === 1
        ? '1×1 GEMM'
        : 'register';
    const ms = await timer(p, [oneRow(p), { name: 'rows', tuning: noMin }, { name: 'now', tuning: base }]);
    const w = `${p.out[3]}-wide${large ? '' : ' (< 64 channels)'}`;
    const bw = byWidth.get(w) ?? columns.map(() => 0);
    byWidth.set(w, bw);
    ms.forEach((v, k) => {
      totals[k]! += v * p.count;
      bw[k]! += v * p.count;
    });
    flops += p.flops * p.count;
    const cell = (v: number) => `${v.toFixed(1)} (${(p.flops / v / 1e6).toFixed(0)})`;
    lines.push(
      `| \`${p.key}\` | ${kind} | ${p.out[2]}×${p.out[3]} | ${p.count} | ${(p.flops / 1e9).toFixed(3)} | ${ms.map(cell).join(' | ')} | ${(ms[0]! / ms[2]!).toFixed(2)}× |`,
    );
    console.log(spec, p.key, p.count, ms.map((v) => v.toFixed(1)).join(' '));
  }
  const x = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
  sections.push(`## ${spec}

| problem | kind | output | convs | GFLOP | ${columns.join(' | ')} | one row / now |
|---|---|---|---:|---:|${columns.map(() => '---:').join('|')}|---:|
${lines.join('\n')}
| **weighted total** (ms) | | | | ${(flops / 1e9).toFixed(2)} | ${totals.map((v) => v.toFixed(0)).join(' | ')} | ${x(totals[0]!, totals[2]!)} |
${[...byWidth.entries()]
  .sort((a, b) => parseInt(a[0]) - parseInt(b[0]))
  .map(
    ([k, v]) =>
      `| total: outputs ${k} | | | | | ${v.map((t) => t.toFixed(0)).join(' | ')} | ${x(v[0]!, v[2]!)} |`,
  )
  .join('\n')}
`);
  summary.push(
    `- ${spec}: ${totals.map((v) => v.toFixed(0)).join(' → ')} ms of conv time (${x(totals[0]!, totals[2]!)} less; ${(flops / totals[0]! / 1e6).toFixed(1)} → ${(flops / totals[2]! / 1e6).toFixed(1)} GFLOP/s averaged)`,
  );
}
timer.release();
const adapter = dev.kind === 'software' ? 'software' : 'gpu';
const cpu = cpus()[0]?.model.replace(/\s+/g, ' ').trim() ?? 'unknown CPU';
const md = `# Conv kernels on narrow maps: several rows per invocation, workgroups sized to the work — ${dev.description}

Date ${new Date().toISOString().slice(0, 10)}; machine: ${cpus().length} × ${cpu}. \`npm run bench:narrow\` (bench/narrow.bench.ts).
Every dense conv problem of ${SPECS.join(' and ')} at ${SIZE}², each kernel timed alone in one run (ms per
dispatch, the fastest of the tuner's rounds; GFLOP/s in parentheses), totals weighted by the convs that solve each
problem. The JPU networks run layer3 and layer4 on 16×16 and 8×8 maps (at 256²), their dilated baselines on 32×32.

- **one row**: the large defaults before this change — row-vectorised 32×32, 16×16 or 8×16 (channels × pixels) by
  output row width, one output row per invocation; 1×1 GEMMs 32×32 where that leaves 4 workgroups of 64, else
  16×16; 64 invocations per workgroup;
- **rows**: several output rows per invocation (\`conv2d.row_rows\`): 16×32 × 2 rows, 16×16 × 4 rows on rows ≤ 16
  wide, 16×8 × 8 rows on rows ≤ 8 wide — a weight vec4 now serves 2–8 rows of FMAs, and on 8-wide rows no lanes
  are spent on pixels past the row;
- **now**: and workgroups halved (down to 8 invocations) until a dispatch has at least 4
  (\`conv2d.min_workgroups\`): llvmpipe runs a workgroup on one thread, and the large tiles of a narrow map are
  only tens of work items — one workgroup of 64 left the other core idle. The 1×1 GEMMs of 16×16 and 8×8 maps then
  take 32×32 tiles too. What llvmpipe runs now (runtime/tuning.ts).

${summary.join('\n')}

${sections.join('\n')}`;
// Only the standard run writes bench/results; other runs print, or write to OUT.
const standard = process.env.SPECS === undefined && SIZE === 256;
const file = standard ? join(ROOT, 'bench', 'results', `narrow-${adapter}.md`) : process.env.OUT;
if (file) {
  writeFileSync(file, md);
  console.log(`wrote ${file}`);
} else console.log(md);
dev.destroy();
