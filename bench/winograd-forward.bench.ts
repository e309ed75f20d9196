// What Winograd (compiler/codegen/wgsl/winograd.ts) gives a whole forward on the adapter at hand. For every 3×3 conv
// problem of a network that F(2×2) or F(4×4) tiles, the tuner's timer runs the direct kernel (the adapter's defaults
// without Winograd) and each Winograd plan (weights transform included), and `choose` keeps Winograd where it is
// more than MIN_GAIN faster — what `--tune full` would do for Winograd alone. Then each network's forward runs in
// alternation (A B C …, A B C …) compiled three ways: with the direct kernels only, with the adapter's fixed defaults
// (on llvmpipe F(4×4) on maps at least 128 wide, `conv2d.winograd_wide`), and with Winograd where it timed faster;
// the table gives every program's paired speed-up over the direct one with its distribution-free interval, the
// memory the scratch buffers add, and the JPU-vs-dilated speed-up of Table 2 under each.
// Run: npm run bench:winograd-forward [-- NET… ]  (default enc_jpu_r101 enc_dilated_r101; env SIZE=256, ROUNDS=15)
//      → bench/results/winograd-forward-<gpu|software>.md and .json (winograd-forward-<SIZE>-… at another size)
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { buildGraph } from '../compiler/index.ts';
import { compileFor, paramSpecs } from '../compiler/cli/shared.ts';
import { maxBinding } from '../compiler/codegen/limits.ts';
import { WINOGRAD_TILES, winogradProblem } from '../compiler/codegen/wgsl/winograd.ts';
import { numel, type Graph } from '../compiler/ir/types.ts';
import { openDevice } from '../runtime/device.ts';
import { Session } from '../runtime/execute.ts';
import { loadParams } from '../runtime/params.ts';
import { tuningFor } from '../runtime/tuning.ts';
import { medianInterval } from '../runtime/bench.ts';
import {
  CANDIDATES,
  choose,
  DEFAULT_CANDIDATE,
  gpuTimer,
  problemsOf,
  tuningRecord,
  type CacheEntry,
  type Candidate,
} from '../runtime/tune.ts';

const ROOT = join(import.meta.dirname, '..');
const nets = process.argv.slice(2).length ? process.argv.slice(2) : ['enc_jpu_r101', 'enc_dilated_r101'];
const SIZE = Number(process.env.SIZE ?? 256);
const ROUNDS = Number(process.env.ROUNDS ?? 15);

const dev = await openDevice();
const kind = dev.kind === 'software' ? 'software' : 'gpu';
console.log(dev.description);
const base = tuningFor(dev);
// The adapter's defaults with the direct kernels only.
const direct = { ...base, 'conv2d.winograd_wide': 0 };
const winograd = CANDIDATES.conv.filter((c) => c.tuning['conv2d.winograd']);
const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const f2 = (x: number) => x.toFixed(2);

interface ProblemRow {
  net: string;
  key: string;
  convs: number;
  times: Record<string, number>;
  choice: string;
}
const problemRows: ProblemRow[] = [];
interface Net {
  name: string;
  graph: Graph;
  variants: { label: string; session: Session; memoryBytes: number; dispatches: number; ms: number[] }[];
}
const netsRun: Net[] = [];
const timer = gpuTimer(dev, { rounds: 5 });
try {
  for (const name of nets) {
    const g = buildGraph(join(ROOT, 'specs', `${name}.fcn`), { height: SIZE, width: SIZE }).graph!;
    const plain = compileFor(g, dev, { tuning: direct });
    // The 3×3 problems Winograd applies to.
    const problems = problemsOf(plain.graph).filter(
      (p) =>
        p.op === 'conv2d' &&
        WINOGRAD_TILES.some((m) => !winogradProblem(p.x, p.attrs, m, maxBinding(dev.limits))),
    );
    const choices: Record<string, CacheEntry> = {};
    for (const p of problems) {
      const cands: Candidate[] = [
        DEFAULT_CANDIDATE,
        ...winograd.filter(
          (c) => !winogradProblem(p.x, p.attrs, c.tuning['conv2d.winograd']!, maxBinding(dev.limits)),
        ),
      ];
      console.log(`${name}: timing ${p.key} (${cands.map((c) => c.name).join(', ')})`);
      const ms = await timer(p, cands, direct);
      const times: Record<string, number> = {};
      cands.forEach((c, k) => (times[c.name] = ms[k]!));
      const pick = choose(cands, ms);
      if (pick && pick[0] !== DEFAULT_CANDIDATE)
        choices[p.key] = {
          name: pick[0].name,
          tuning: pick[0].tuning,
          ms: pick[1],
          times,
          date: new Date().toISOString(),
        };
      problemRows.push({
        net: name,
        key: p.key,
        convs: p.count,
        times,
        choice: pick?.[0] === DEFAULT_CANDIDATE ? 'direct' : (pick?.[0].name ?? 'direct'),
      });
    }
    const dflt = compileFor(g, dev, { tuning: base });
    const withW = compileFor(g, dev, { tuning: tuningRecord(direct, choices) });
    const { params } = await loadParams(paramSpecs(g), { seed: 1 });
    const net: Net = { name, graph: g, variants: [] };
    for (const [label, c] of [
      ['direct kernels', plain],
      ["the adapter's defaults", dflt],
      ['Winograd where faster', withW],
    ] as const) {
      const session = await Session.create(dev, c.program);
      await session.setParams(params);
      net.variants.push({
        label,
        session,
        memoryBytes: c.program.memory.plannedBytes + c.program.memory.paramBytes,
        dispatches: c.program.entries.forward.steps.length,
        ms: [],
      });
    }
    netsRun.push(net);
  }
} finally {
  timer.release();
}

// Forwards in alternation: a warm-up each (pipelines compiled), then ROUNDS rounds.
const inputs = (s: Session) => {
  const i = s.program.entries.forward.inputs[0]!;
  return new Map([[i.name, new Float32Array(numel(i.shape)).map((_, k) => Math.sin(k))]]);
};
const all = netsRun.flatMap((n) => n.variants);
const ins = all.map((v) => inputs(v.session));
for (const [k, v] of all.entries()) {
  console.log(`warming up ${v.label}…`);
  await v.session.call('forward', ins[k]!, { read: [] });
  await dev.device.queue.onSubmittedWorkDone();
}
for (let r = 0; r <= ROUNDS; r++) {
  for (const [k, v] of all.entries()) {
    const t0 = performance.now();
    await v.session.call('forward', ins[k]!, { read: [] });
    await dev.device.queue.onSubmittedWorkDone();
    if (r > 0) v.ms.push(performance.now() - t0); // round 0: one more pass in alternation, untimed
  }
  if (r > 0) console.log(`round ${r}/${ROUNDS}: ${all.map((v) => v.ms.at(-1)!.toFixed(0)).join(' ')} ms`);
}

// Report.
const L: string[] = [];
L.push(
  `# Winograd in the compiler: whole forwards at ${SIZE}², with Winograd where the tuner's timer finds it faster — ${dev.description}`,
);
L.push('');
L.push(
  `Date ${new Date().toISOString().slice(0, 10)}; machine: ${cpus().length} × ${cpus()[0]?.model.split(' ').slice(0, 2).join(' ') ?? '?'}. Produced by \`npm run bench:winograd-forward\` (bench/winograd-forward.bench.ts), batch 1, ${ROUNDS} rounds of one forward per program in alternation after a warm-up and an untimed pass; seeded weights.`,
);
L.push('');
L.push('## The choices');
L.push('');
L.push(
  "Each 3×3 conv problem Winograd tiles, timed alone by the tuner's timer (ms, fastest of its rounds; the Winograd plans with their weight transform): the adapter's direct kernel, F(2×2, 3×3) and F(4×4, 3×3) where they apply; the choice is `choose`'s (Winograd only where more than 3 % faster).",
);
L.push('');
L.push('| network | problem | convs | direct | F(2×2) | F(4×4) | choice |');
L.push('|---|---|---:|---:|---:|---:|---|');
for (const r of problemRows) {
  const t = (n: string) => (r.times[n] !== undefined && Number.isFinite(r.times[n]) ? f2(r.times[n]!) : '—');
  L.push(
    `| ${r.net} | \`${r.key}\` | ${r.convs} | ${t(DEFAULT_CANDIDATE.name)} | ${t('Winograd F(2×2, 3×3)')} | ${t('Winograd F(4×4, 3×3)')} | ${r.choice} |`,
  );
}
L.push('');
L.push('## Whole forwards');
L.push('');
L.push(
  '| network | program | dispatches | memory MiB | ms (median) | min–max | vs direct (paired) | interval |',
);
L.push('|---|---|---:|---:|---:|---:|---:|---:|');
const json: Record<string, unknown>[] = [];
for (const n of netsRun) {
  const a = n.variants[0]!;
  const speedups = n.variants.map((v) => {
    const paired = a.ms.map((x, k) => x / v.ms[k]!);
    return { median: median(paired), ...medianInterval(paired) };
  });
  for (const [k, v] of n.variants.entries()) {
    const sp = speedups[k]!;
    L.push(
      `| ${n.name} | ${v.label} | ${v.dispatches} | ${(v.memoryBytes / 2 ** 20).toFixed(1)} | ${median(v.ms).toFixed(0)} | ${Math.min(...v.ms).toFixed(0)}–${Math.max(...v.ms).toFixed(0)} | ${k ? `${f2(sp.median)}×` : ''} | ${k ? `${f2(sp.low)}–${f2(sp.high)} (${(100 * sp.coverage).toFixed(0)} %)` : ''} |`,
    );
  }
  json.push({
    net: n.name,
    variants: n.variants.map((v, k) => ({
      label: v.label,
      dispatches: v.dispatches,
      memoryBytes: v.memoryBytes,
      ms: v.ms,
      pairedSpeedup: k ? speedups[k] : null,
    })),
  });
}
L.push('');
const jpu = netsRun.find((n) => n.name.includes('_jpu'));
const dil = netsRun.find((n) => n.name.includes('_dilated'));
if (jpu && dil) {
  const ratio = (k: number) => {
    const xs = dil.variants[k]!.ms.map((d, r) => d / jpu.variants[k]!.ms[r]!);
    const iv = medianInterval(xs);
    return `${f2(median(xs))}× (${f2(iv.low)}–${f2(iv.high)}, ${(100 * iv.coverage).toFixed(0)} %)`;
  };
  L.push(
    `${jpu.name} over ${dil.name}, paired by round: ${jpu.variants.map((v, k) => `${ratio(k)} with ${v.label}`).join('; ')}.`,
  );
  L.push('');
}
L.push(
  "Memory: what the program holds on the device (planned activations with inputs, outputs and every node's scratch, and the weights); the Winograd plans' scratch — transformed weights, input and products — is planned like any other.",
);
const out = join(ROOT, 'bench', 'results', `winograd-forward-${SIZE === 256 ? '' : `${SIZE}-`}${kind}`);
writeFileSync(`${out}.md`, L.join('\n') + '\n');
writeFileSync(
  `${out}.json`,
  JSON.stringify(
    { adapter: dev.description, size: SIZE, rounds: ROUNDS, problems: problemRows, nets: json },
    null,
    2,
  ) + '\n',
);
console.log(L.join('\n'));
for (const v of all) v.session.destroy();
process.exit(0);
