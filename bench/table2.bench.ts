// The paper's Table 2 on the adapter at hand: `fcnc bench` on its 16 variants (EncNet with the dilated backbone,
// bilinear, FPN and JPU upsampling; DeepLabV3/ASPP and PSP dilated and with JPU; ResNet-50 and -101) at 256×256,
// batch 1, full width, seeded weights, the variants measured in alternation. Writes
// bench/results/table2-<gpu|software>.md, .json and .png, and prints the JPU-vs-dilated speed-ups beside the paper's.
//
// Protocol: on a GPU the paper's (10 warm-up forwards, 10 rounds of 10 forwards, reference §5.5); on the software
// adapter, where one forward of a dilated R101 takes seconds, 1 warm-up forward and 15 rounds of 1 forward (about
// 20 minutes on an idle 2-core machine; the 16 programs hold 4.3 GiB, every session is kept for the alternation).
// 15 rounds give each speed-up a 96.5 % distribution-free interval from the 4th to the 12th of its paired rounds
// (5 rounds allow only their whole range, at 93.75 %).
// Env WARMUP, RUNS, FORWARDS override the protocol; SIZE (default 256) the input size.
//
// Run: npm run bench:table2 [-- extra fcnc bench options]
// Extra options (e.g. `-- --set width=4` for a smoke run) or a SIZE other than 256 make a non-standard run: its
// files go to $OUT (a folder) if set, else to a temporary folder, never to bench/results.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acceptance, TABLE2_SPECS, type BenchJson } from '../runtime/bench.ts';
import { openDevice } from '../runtime/device.ts';

const ROOT = join(import.meta.dirname, '..');
const extra = process.argv.slice(2);
const size = process.env.SIZE ?? '256';

// Which adapter `fcnc bench` will get (the same choice, FCNC_ADAPTER included): it names the files and the protocol.
const dev = await openDevice();
const kind = dev.kind;
console.log(dev.description);
dev.destroy();

const gpu = kind === 'gpu';
const warmup = process.env.WARMUP ?? (gpu ? '10' : '1');
const runs = process.env.RUNS ?? (gpu ? '10' : '15');
const forwards = process.env.FORWARDS ?? (gpu ? '10' : '1');
const standard = extra.length === 0 && size === '256';
const dir = standard
  ? join(ROOT, 'bench', 'results')
  : (process.env.OUT ?? mkdtempSync(join(tmpdir(), 'fcnc-table2-')));
const base = join(dir, `table2-${kind}`);

const args = [
  join(ROOT, 'bin', 'fcnc.js'),
  'bench',
  ...TABLE2_SPECS.map((s) => join(ROOT, s)),
  '--size',
  size,
  '--batch',
  '1',
  '--warmup',
  warmup,
  '--runs',
  runs,
  '--forwards',
  forwards,
  '--md',
  `${base}.md`,
  '--json',
  `${base}.json`,
  '--png',
  `${base}.png`,
  ...extra,
];
console.log(`fcnc ${args.slice(1).join(' ')}`);
const r = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: ROOT, env: process.env });
if (r.status !== 0) {
  console.error(`fcnc bench failed (exit ${r.status ?? r.signal})`);
  process.exit(r.status ?? 1);
}

const b = JSON.parse(readFileSync(`${base}.json`, 'utf8')) as BenchJson;
const { pairs, met, above } = acceptance(b);
console.log(`\nJPU vs dilated on ${b.adapter}:`);
for (const v of pairs) {
  const p = v.pairedSpeedup;
  const interval =
    p?.low !== undefined
      ? `  paired ${p.low.toFixed(2)}–${p.high!.toFixed(2)} (${(100 * p.coverage!).toFixed(0)} %)`
      : '';
  console.log(
    `  ${v.model.padEnd(14)} ${v.speedup!.toFixed(2)}×  paper ${v.paperSpeedup!.toFixed(2)}×  MACs ${v.macRatio!.toFixed(2)}×  target ${v.target!.toFixed(2)}×  ${v.meets ? 'met' : 'NOT met'}${interval}${v.targetInterval ? ` (${v.targetInterval})` : ''}`,
  );
}
console.log(`${met} of ${pairs.length} pairs reach their target, ${above} with the paired interval above it`);
console.log(`wrote ${base}.md, .json, .png${standard ? '' : ' (a non-standard run)'}`);
