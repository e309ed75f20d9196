// The small kernels every Table 2 network runs, whatever its head: the deep stem's first conv (3 → 64, 3×3, stride
// 2), its max pool (3×3, stride 2) and the bilinear resizes (the logits' final ×8 upsample, main and aux; the JPU's
// 8² and 16² → 32²). They cost the dilated and the JPU network the same milliseconds, so every one saved raises
// the JPU's speed-up a little. Each kernel choice runs as a one-op program on the adapter's fixed defaults (the
// choice on top), the choices in alternation, the fastest of its rounds per choice (synchronised wall time per
// dispatch, less an empty submit's round trip; timestamp queries where the adapter has them).
//   max pool: `maxpool2d.per` 0 (the loop kernel these replaced), 1, 2, 4 (default where rows allow) outputs of a row
//   per invocation
//   resize: `resize_bilinear.max_run` 1 (one output per invocation), 4 (the earlier default), 8, 16 (default)
//   stem convs: the row kernel's small tiles (12 × 32, one row: what the 3-channel conv had before `conv2d.large`
//   counted an image's channels as wide), 16 × 32 × 2 rows (the large tiles on every wide row until rows wider than
//   64 took 32 × 32 × 2 rows), and the default
// Run: npm run bench:pool-resize [-- ROUNDS]   (default 9) → bench/results/pool-resize-<gpu|software>.md
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { lowerToProgram } from '../compiler/codegen/lower.ts';
import { convProblem } from '../compiler/codegen/wgsl/conv.ts';
import type { Attrs, Shape } from '../compiler/ir/types.ts';
import { openDevice } from '../runtime/device.ts';
import { Session } from '../runtime/execute.ts';
import { submitRoundTrip } from '../runtime/profile.ts';
import { tuningFor } from '../runtime/tuning.ts';
import { oneOpGraph, randomInputs, randomParams } from '../test/gpu/harness.ts';

const ROOT = join(import.meta.dirname, '..');
const ROUNDS = Number(process.argv[2] ?? 9);
const dev = await openDevice();
console.log(dev.description);
const base = tuningFor(dev);

interface Choice {
  readonly name: string;
  readonly tuning: Readonly<Record<string, number>>;
}
interface Item {
  readonly what: string;
  readonly op: string;
  readonly x: Shape;
  readonly attrs: Attrs;
  readonly choices: readonly Choice[];
}

const pool = { kernel: 3, stride: 2, padding: 1, ceil_mode: false };
const perChoices = [0, 1, 2, 4].map((per) => ({
  name: per ? `${per} per invocation` : 'loop',
  tuning: { 'maxpool2d.per': per },
}));
const runChoices = [1, 4, 8, 16].map((run) => ({
  name: run > 1 ? `runs ≤ ${run}` : 'one per invocation',
  tuning: { 'resize_bilinear.max_run': run },
}));
const up = (size: number) => ({ size: [size, size], align_corners: true });
const stem = { channels: 64, kernel: 3, stride: 2, padding: 1, dilation: 1, groups: 1, bias: false };
const conv3 = (channels: number) => ({ ...stem, channels, stride: 1 });
/** Row tiles for one conv problem: tm channels × tn pixels × rows rows. */
const rowTiles = (x: Shape, a: typeof stem, tm: number, tn: number, rows: number, name: string): Choice => {
  const k = convProblem(x, a);
  return {
    name,
    tuning: { [`conv2d.row_tm@${k}`]: tm, [`conv2d.row_tn@${k}`]: tn, [`conv2d.row_rows@${k}`]: rows },
  };
};
/** The stem's convs on maps wider than 64: the small tiles (conv1.0 only), 16 × 32 × 2 rows, and the default. */
const stemItem = (what: string, x: Shape, a: typeof stem): Item => ({
  what,
  op: 'conv2d',
  x,
  attrs: a,
  choices: [
    ...(x[1] === 3 ? [rowTiles(x, a, 12, 32, 1, 'rows 12×32 (small)')] : []),
    rowTiles(x, a, 16, 32, 2, 'rows 16×32 × 2 rows'),
    { name: 'rows 32×32 × 2 rows (default on rows > 64)', tuning: {} },
  ],
});
/** An align-corners bilinear upsample of x to size × size, under each run cap. */
const resizeItem = (what: string, x: Shape, size: number): Item => ({
  what,
  op: 'resize_bilinear',
  x,
  attrs: up(size),
  choices: runChoices,
});
const ITEMS: Item[] = [
  { what: 'stem max pool at 256²', op: 'maxpool2d', x: [1, 128, 128, 128], attrs: pool, choices: perChoices },
  { what: 'stem max pool at 512²', op: 'maxpool2d', x: [1, 128, 256, 256], attrs: pool, choices: perChoices },
  resizeItem('logits ×8 at 256² (59 classes)', [1, 59, 32, 32], 256),
  resizeItem('logits ×8 at 512² (59 classes)', [1, 59, 64, 64], 512),
  resizeItem('JPU 8² → 32² (512 ch)', [1, 512, 8, 8], 32),
  resizeItem('JPU 16² → 32² (512 ch)', [1, 512, 16, 16], 32),
  ...[256, 512].map((s) => stemItem(`stem conv1.0 at ${s}²`, [1, 3, s, s], stem)),
  stemItem('stem conv1.3 at 256²', [1, 64, 128, 128], conv3(64)),
  stemItem('stem conv1.6 at 256²', [1, 64, 128, 128], conv3(128)),
];

const rows: string[] = [];
for (const it of ITEMS) {
  const g = oneOpGraph(it.op, [it.x], it.attrs);
  const params = randomParams(g, 1);
  const inputs = new Map([...randomInputs(g, 2)].map(([k, v]) => [k, Float32Array.from(v)]));
  const sessions: { c: Choice; s: Session; kernel: string; best: number }[] = [];
  for (const c of it.choices) {
    const program = lowerToProgram(g, dev.limits, { tuning: { ...base, ...c.tuning } });
    const s = await Session.create(dev, program);
    await s.setParams(params);
    await s.call('forward', inputs, { read: [] }); // compile and first touch
    const kernel = program.entries.forward!.steps.map((st) => st.kernel).join(' + ');
    sessions.push({ c, s, kernel, best: Infinity });
  }
  for (let r = 0; r < ROUNDS; r++)
    for (const e of sessions) {
      const got = await e.s.profileSteps(inputs);
      const overhead = got.method === 'sync' ? await submitRoundTrip(dev.device) : 0;
      e.best = Math.min(
        e.best,
        got.ms.reduce((a, b) => a + Math.max(0, b - overhead), 0),
      );
    }
  const first = sessions[0]!.best;
  for (const e of sessions) {
    const row = `| ${it.what} | ${it.x.join('×')} | ${e.c.name} | \`${e.kernel}\` | ${e.best.toFixed(2)} | ${(first / e.best).toFixed(2)}× |`;
    console.log(row);
    rows.push(row);
    e.s.destroy();
  }
}
const md = [
  `# Kernels every network runs: the stem's convs, max pool, bilinear resize — ${dev.description}`,
  '',
  `Date ${new Date().toISOString().slice(0, 10)}; machine: ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}. Produced by`,
  '`npm run bench:pool-resize` (bench/pool-resize.bench.ts). Batch 1; each choice a one-op program on the',
  "adapter's fixed defaults, the choices in alternation, the fastest of " +
    `${ROUNDS} rounds each (synchronised`,
  "wall time per dispatch less an empty submit's round trip, or timestamp queries); speed-up against the first",
  'choice of each kernel (the earlier kernel where there was one).',
  '',
  '| kernel | input | choice | dispatches | ms | vs first |',
  '|---|---|---|---|---:|---:|',
  ...rows,
  '',
  'Defaults: max pool 4 outputs of a row per invocation (2 on rows not a multiple of 4), resize runs of up to 16, the',
  "stem's convs (128 wide at 256²) 32 × 32 × 2 rows.",
  '',
].join('\n');
const out = join(ROOT, 'bench', 'results', `pool-resize-${dev.kind}.md`);
writeFileSync(out, md);
console.log(`wrote ${out}`);
dev.destroy();
process.exit(0);
