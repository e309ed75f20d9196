// Per-kernel profile of EncNet+JPU R50 (full width, 256×256, batch 1, seeded weights) on the adapter at hand —
// `fcnc profile` as a benchmark: which kernels the forward pass spends its time in, at what fraction of the
// adapter's measured FMA peak and read bandwidth, by module and by op, and whether the per-kernel times add up to
// a measured whole forward (within 10%).
//
// Run on an otherwise idle machine (timings taken while other processes use the CPU are meaningless on the
// software adapter): npm run bench:profile [-- SIZE [RUNS [WIDTH]]]
//   → bench/results/profile-<gpu|software>.md, .json, .png (PROFILE_OUT=dir writes elsewhere; WIDTH < 64 gives
//     a narrow network for a smoke run).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildGraph } from '../compiler/index.ts';
import { profileGraph } from '../compiler/cli/commands/profile.ts';
import { validateProfileJson } from '../compiler/schemas/validate.ts';
import { shortWhere, topRows, formatProfile } from '../runtime/profile.ts';
import { profileChart } from '../runtime/profile_chart.ts';

const ROOT = join(import.meta.dirname, '..');
const [sizeArg = '256', runsArg = '5', widthArg = '64'] = process.argv.slice(2);
const size = Number(sizeArg);
const runs = Number(runsArg);
const width = Number(widthArg);
const SPEC = 'specs/enc_jpu_r50.fcn';
const TOP = 25;
const TOLERANCE = 0.1;

const built = buildGraph(join(ROOT, SPEC), { height: size, width: size, settings: { width } });
if (!built.graph) throw new Error(`${SPEC} did not build`);
const p = await profileGraph(built.graph, { runs, seed: 1 }, { info: (l) => console.error(l) });
const problems = validateProfileJson(p);
if (problems) throw new Error(`profile JSON does not match its schema: ${problems}`);
console.log(formatProfile(p, { top: TOP }));

const kind = /^GPU/i.test(p.adapter) ? 'gpu' : /via Vulkan/.test(p.adapter) ? 'software-vulkan' : 'software';
const outDir = process.env.PROFILE_OUT ?? join(ROOT, 'bench', 'results');
const base = join(outDir, `profile-${kind}`);
const ratio = p.stepsMs / p.wholeMs;
const within = Math.abs(ratio - 1) <= TOLERANCE;

const f = (x: number | null, d = 1): string => (x === null ? '—' : x.toFixed(d));
const ms = (x: number): string => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const cell = (s: string): string => s.replace(/\|/g, '\\|');
const md: string[] = [
  `# Per-kernel profile: ${p.model}, ${size}×${size}, batch 1${width === 64 ? '' : `, width ${width}`} — ${p.adapter}`,
  '',
  `Date ${new Date().toISOString().slice(0, 10)}. \`npm run bench:profile\` (= \`fcnc profile ${SPEC} --size ${size}` +
    `${width === 64 ? '' : ` --set width=${width}`} --runs ${runs} --seed 1\`): compiled with the inference pipeline` +
    ' (batchnorm folded, epilogues fused, concats eliminated), seeded weights, a random image.',
  `Method: **${p.method}** — ${p.methodNote}` +
    (p.submitOverheadMs > 0
      ? `, minus the round trip of an empty submit (${p.submitOverheadMs.toFixed(3)} ms, measured each round)`
      : '') +
    `. Every step is the median of ${p.runs} rounds.`,
  p.peak
    ? `Peaks measured in the same process: **${p.peak.gflops.toFixed(1)} GFLOP/s** (register-only vec4 FMA) and ` +
      `**${p.peak.gbps.toFixed(2)} GB/s** (storage-buffer reads).`
    : 'No peak probe.',
  'FLOPs = 2 · MACs of conv and linear (the fused pointwise ops are not counted); GB/s = compulsory bytes (each bound',
  'tensor read once, the output written once) per second — real traffic is higher, so small tensors that stay in cache',
  'can show more than 100% of the streaming bandwidth. See docs/profiling.md.',
  '',
  `## Check: per-kernel times against a whole forward`,
  '',
  `Sum of the ${p.rows.length} steps: **${ms(p.stepsMs)} ms**; whole forward (median of ${p.wholeSamples.length}: upload,` +
    ` one submit, read back): **${ms(p.wholeMs)} ms** → ${(100 * ratio).toFixed(1)}% ` +
    (within
      ? `(within ${100 * TOLERANCE}%).`
      : `(**not** within ${100 * TOLERANCE}%: was the machine busy?).`),
  '',
  `## The ${TOP} slowest kernels`,
  '',
  '| # | kernel | nodes (anchor first) | spec | module | ms | % | GFLOP/s | % peak | GB/s | % BW |',
  '|---:|---|---|---|---|---:|---:|---:|---:|---:|---:|',
  ...topRows(p, TOP).map(
    (r, i) =>
      `| ${i + 1} | \`${r.kernel}\` | ${cell(r.nodes.map((n) => n.name).join(' + ') || r.node)} | ${shortWhere(r.where)} | ` +
      `${cell(r.module)} | ${ms(r.ms)} | ${r.pct.toFixed(1)} | ${f(r.gflops)} | ${f(r.pctPeakFlops)} | ` +
      `${r.gbps.toFixed(2)} | ${f(r.pctPeakBandwidth)} |`,
  ),
  '',
  '## By module',
  '',
  '| module | steps | ms | % | GFLOP/s |',
  '|---|---:|---:|---:|---:|',
  ...p.byModule.map((m) => `| ${m.name} | ${m.steps} | ${ms(m.ms)} | ${m.pct.toFixed(1)} | ${f(m.gflops)} |`),
  '',
  '## By op (of the anchor)',
  '',
  '| op | steps | ms | % | GFLOP/s |',
  '|---|---:|---:|---:|---:|',
  ...p.byOp.map((o) => `| ${o.name} | ${o.steps} | ${ms(o.ms)} | ${o.pct.toFixed(1)} | ${f(o.gflops)} |`),
  '',
  `![slowest kernels and time per module](profile-${kind}.png)`,
  '',
  `Every step, with all its nodes and their spec locations: [profile-${kind}.json](profile-${kind}.json).`,
  '',
];
mkdirSync(outDir, { recursive: true });
writeFileSync(`${base}.md`, md.join('\n'));
writeFileSync(`${base}.json`, JSON.stringify(p, null, 2) + '\n');
writeFileSync(`${base}.png`, await profileChart(p, { top: TOP }));
console.log(`wrote ${base}.md, .json, .png`);
console.log(
  `sum of kernels ${ms(p.stepsMs)} ms vs whole forward ${ms(p.wholeMs)} ms: ${(100 * ratio).toFixed(1)}%` +
    (within ? '' : ` — NOT within ${100 * TOLERANCE}%`),
);
process.exit(0);
