// Would Winograd pay for the 3×3 convs on the adapter at hand? A lower bound, measured without building it.
//
// Winograd F(m×m, 3×3) turns a stride-1 3×3 conv over an H×W map into (m+2)² independent GEMMs of the weights,
// transformed (Cout × Cin), with the input, transformed (Cin × T tiles, T = ⌈H/m⌉·⌈W/m⌉), plus an input and an
// output transform: 2.25× fewer multiplications for m = 2, 4× for m = 4. Its time is at least that of its GEMMs.
// This bench times exactly those GEMMs with fcnc's own 1×1 GEMM kernel (the adapter's default tiles) as a 1×1
// conv of batch (m+2)² — in both orientations, channels × tiles and tiles × channels, keeping the faster — and
// sets them against the direct kernel the adapter runs the 3×3 conv with today. The GEMM stand-in shares one
// weight matrix across the batch, which only flatters it (the real one reads (m+2)² matrices), and the transforms
// are left out: so where the GEMMs alone are no faster than the direct conv, Winograd cannot pay.
// The shapes: every stride-1 non-dilated 3×3 conv of EncNet+JPU R101 at 256², and those of its dilated baseline
// EncNet R101 (its head's and aux head's 3×3 convs at 32²: a Winograd built for one network's convs serves the
// other's too; the baseline's dilated convs would need a space-to-batch split first).
// Then, where F(2×2,3×3)'s GEMMs alone win by more than 1.2×: all of it, end to end — a prototype of its four
// dispatches (bench/winograd/prototype.ts: weight and input transforms, the GEMMs as one grouped 1×1 conv with
// fcnc's kernel, the output transform), checked against the direct kernel's output and timed per dispatch; and
// likewise F(4×4,3×3) where its GEMMs alone win by more than 1.2× (bench/winograd/f43.ts; maps a multiple of 16).
// Run: npm run bench:winograd [-- ROUNDS]   (default 5) → bench/results/winograd-<gpu|software>.md
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { openDevice } from '../runtime/device.ts';
import { gpuTimer, type Problem } from '../runtime/tune.ts';
import { tuningFor } from '../runtime/tuning.ts';
import { winogradF43 } from './winograd/f43.ts';
import { stride1Conv, winogradF23, type F23Times, type WinogradPrototype } from './winograd/prototype.ts';

const ROOT = join(import.meta.dirname, '..');
const ROUNDS = Number(process.argv[2] ?? 5);
const dev = await openDevice();
console.log(dev.description);
const base = { ...tuningFor(dev) };

/** Which network has the conv: both (the stem, layer1 and layer2), only EncNet+JPU, or only its dilated baseline. */
type Where = 'both' | 'jpu' | 'dilated';
/** Where the 3×3 convs are: [what, in channels, map size, out channels, how many in the network, which network]. */
const SHAPES: [string, number, number, number, number, Where][] = [
  ['stem conv1.3', 64, 128, 64, 1, 'both'],
  ['stem conv1.6', 64, 128, 128, 1, 'both'],
  ['layer1 conv2', 64, 64, 64, 3, 'both'],
  ['layer2 conv2', 128, 32, 128, 3, 'both'],
  ['layer3 conv2', 256, 16, 256, 22, 'jpu'],
  ['layer4 conv2', 512, 8, 512, 2, 'jpu'],
  ['jpu.conv3', 512, 32, 512, 1, 'jpu'],
  ['jpu.conv4', 1024, 16, 512, 1, 'jpu'],
  ['jpu.conv5', 2048, 8, 512, 1, 'jpu'],
  ['auxlayer.conv5', 1024, 16, 256, 1, 'jpu'],
  ['head.conv5 (dilated)', 2048, 32, 512, 1, 'dilated'],
  ['auxlayer.conv5 (dilated)', 1024, 32, 256, 1, 'dilated'],
];
const NETWORK: Record<Where, string> = { both: 'both', jpu: 'JPU', dilated: 'dilated' };

const timer = gpuTimer(dev, { rounds: ROUNDS, giveUp: 100, budgetMs: 30000 });
const time = async (p: Problem): Promise<number> =>
  (await timer(p, [{ name: 'default', tuning: {} }], base))[0]!;
const rows: string[] = [];
const candidates: (typeof SHAPES)[number][] = [];
const candidates4: (typeof SHAPES)[number][] = [];
const total = { direct: 0, f2: 0, f4: 0 };
for (const [what, cin, size, cout, count, where] of SHAPES) {
  const flops = 2 * cin * cout * size * size * 9;
  const direct = await time(stride1Conv([1, cin, size, size], cout, 3, flops));
  const gemms: Record<number, number> = {};
  for (const m of [2, 4]) {
    const batch = (m + 2) ** 2;
    const tiles = Math.ceil(size / m) ** 2;
    const gflops = 2 * batch * cin * cout * tiles;
    // Channels × tiles: out channels = Cout over a plane of T tiles; tiles × channels: out channels = T over Cout.
    const a = await time(stride1Conv([batch, cin, 1, tiles], cout, 1, gflops));
    const b = await time(stride1Conv([batch, cin, 1, cout], tiles, 1, gflops));
    gemms[m] = Math.min(a, b);
  }
  if (where !== 'dilated') {
    total.direct += count * direct;
    total.f2 += count * gemms[2]!;
    total.f4 += count * gemms[4]!;
  }
  const gf = (ms: number) => (flops / ms / 1e6).toFixed(1);
  const row =
    `| ${what} | ${cin}→${cout} at ${size}² | ${count} × ${NETWORK[where]} | ${direct.toFixed(2)} | ${gf(direct)} | ` +
    `${gemms[2]!.toFixed(2)} | ${(direct / gemms[2]!).toFixed(2)}× | ${gemms[4]!.toFixed(2)} | ${(direct / gemms[4]!).toFixed(2)}× |`;
  console.log(row);
  rows.push(row);
  if (direct / gemms[2]! > 1.2) candidates.push([what, cin, size, cout, count, where]);
  if (direct / gemms[4]! > 1.2 && size % 16 === 0) candidates4.push([what, cin, size, cout, count, where]);
}
timer.release();

// End to end where the GEMMs alone promised more than 1.2×: F(2×2,3×3), then F(4×4,3×3). `best` keeps, per conv,
// the direct kernel's time in the first run and the largest speed-up of a prototype over the direct kernel timed
// beside it (a ratio within one run: the direct time itself moves between runs).
const best = new Map<string, { direct: number; speedup: number; count: number; where: Where }>();
async function endToEnd(proto: WinogradPrototype, list: (typeof SHAPES)[number][]): Promise<string[]> {
  const out: string[] = [];
  for (const [what, cin, size, cout, count, where] of list) {
    let t: F23Times;
    try {
      t = await proto(dev, base, cin, size, cout, ROUNDS);
    } catch (e) {
      if (!/^does not fit/.test((e as Error).message)) throw e;
      const row = `| ${what} | ${cin}→${cout} at ${size}² | ${(e as Error).message} | | | | | | | |`;
      console.log(row);
      out.push(row);
      continue;
    }
    const wino = t.weights + t.input + t.gemm + t.output;
    const b = best.get(what) ?? { direct: t.direct, speedup: 1, count, where };
    best.set(what, { ...b, speedup: Math.max(b.speedup, t.direct / wino) });
    const row =
      `| ${what} | ${cin}→${cout} at ${size}² | ${t.direct.toFixed(2)} | ${t.weights.toFixed(2)} | ${t.input.toFixed(2)} | ` +
      `${t.gemm.toFixed(2)} | ${t.output.toFixed(2)} | ${wino.toFixed(2)} | ${(t.direct / wino).toFixed(2)}× | ${t.relError.toExponential(1)} |`;
    console.log(row);
    out.push(row);
  }
  return out;
}
const protoRows = await endToEnd(winogradF23, candidates);
const proto4Rows = await endToEnd(winogradF43, candidates4);
// ms less per part of the networks, each conv on the fastest of its direct kernel and the prototypes run on it.
const saved: Record<Where, number> = { both: 0, jpu: 0, dilated: 0 };
for (const v of best.values()) saved[v.where] += v.count * v.direct * (1 - 1 / v.speedup);
const md = [
  `# Would Winograd pay for the 3×3 convs? — ${dev.description}`,
  '',
  `Date ${new Date().toISOString().slice(0, 10)}; machine: ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}. Produced by`,
  "`npm run bench:winograd` (bench/winograd.bench.ts). Batch 1, the adapter's fixed kernel choices; each dispatch",
  `alone, the fastest of its ${ROUNDS} rounds (the tuner's timer).`,
  '',
  "Direct: the kernel the adapter runs the 3×3 conv with today (GFLOP/s of the conv's own FLOPs). F(2×2,3×3) and",
  "F(4×4,3×3): the time of Winograd's batched GEMMs alone — 16 or 36 GEMMs of the transformed weights with the",
  'transformed input, run by the 1×1 GEMM kernel as a conv of that batch in the faster of its two orientations — and',
  'the speed-up over the direct conv that this lower bound allows (the input and output transforms, and reading',
  'a distinct weight matrix per GEMM, would only add to it).',
  '',
  '| conv | shape | in the network | direct ms | GFLOP/s | F(2,3) GEMMs ms | at most | F(4,3) GEMMs ms | at most |',
  '|---|---|---:|---:|---:|---:|---:|---:|---:|',
  ...rows,
  '',
  '"In the network": how many convs of the shape, and in which network (both, or only EncNet+JPU R101, or only its',
  'dilated baseline EncNet R101).',
  '',
  `Over the stride-1 non-dilated 3×3 convs of EncNet+JPU R101 at 256² (weighted by how many there are): direct ` +
    `${total.direct.toFixed(1)} ms; F(2,3) GEMMs alone ${total.f2.toFixed(1)} ms (at most ${(total.direct / total.f2).toFixed(2)}×), ` +
    `F(4,3) GEMMs alone ${total.f4.toFixed(1)} ms (at most ${(total.direct / total.f4).toFixed(2)}×).`,
  '',
  '## F(2×2,3×3) end to end, where its GEMMs alone promised more than 1.2×',
  '',
  'A prototype of the four dispatches (bench/winograd/prototype.ts; stride 1, padding 1, no epilogue): the weight',
  'transform (per forward, so that training would see the raw weights), the input transform, the 16 GEMMs as one',
  "grouped 1×1 conv with fcnc's GEMM kernel and the adapter's tiles, and the output transform; error = max |Winograd −",
  "direct| / max |direct| over the conv's output (random input and weights).",
  '',
  '| conv | shape | direct ms | weights | input | GEMMs | output | Winograd ms | speed-up | error |',
  '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...protoRows,
  '',
  '## F(4×4,3×3) end to end, where its GEMMs alone promised more than 1.2×',
  '',
  "The same four dispatches for F(4×4,3×3) (bench/winograd/f43.ts: 6×6 input tiles, Lavin and Gray's B, G and A,",
  'the transforms generated from them, four horizontally adjacent tiles per invocation in the vec4 lanes; maps a',
  'multiple of 16); the direct kernel timed again beside it.',
  '',
  '| conv | shape | direct ms | weights | input | GEMMs | output | Winograd ms | speed-up | error |',
  '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...proto4Rows,
  '',
  `Each conv on the fastest of its direct kernel, F(2,3) and F(4,3), at 256²: ${saved.both.toFixed(1)} ms less in ` +
    `the convs both networks have (the stem, layer1), ${saved.jpu.toFixed(1)} ms less in EncNet+JPU R101's own and ` +
    `${saved.dilated.toFixed(1)} ms less in the dilated baseline's own (its head's 3×3 conv at 32², which the JPU ` +
    "network's head replaces with a 1×1).",
  '',
].join('\n');
const out = join(ROOT, 'bench', 'results', `winograd-${dev.kind}.md`);
writeFileSync(out, md);
console.log(`wrote ${out}`);
dev.destroy();
process.exit(0);
