// Why a JPU network's speed-up over its dilated baseline is what it is on the adapter at hand: `fcnc profile` of
// both networks of a Table 2 pair (one process each, in turn), their kernel time split by kind of kernel — 1×1
// stride-1 convs (GEMMs), stride-1 convs with a kernel wider than 1 (the row-vectorised 3×3s), the other convs
// (strided, depthwise, the stem) and everything else — with each kind's FLOPs and GFLOP/s, and what the pair's
// ratio would be if one kind ran faster. The speed-up can only reach the MAC ratio if every FLOP costs the same in
// both networks; where the kinds run at different rates, the mix of kinds decides it.
// Run: npm run bench:pair [-- JPU DILATED SIZE RUNS]  (default enc_jpu_r101 enc_dilated_r101 256 5)
//      → bench/results/pair-<gpu|software>.md and .json (pair-<SIZE>-<gpu|software>.* at another size than 256)
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const [jpu = 'enc_jpu_r101', dilated = 'enc_dilated_r101', size = '256', runs = '5'] = process.argv.slice(2);

interface Row {
  kernel: string;
  ms: number;
  flops: number | null;
}
interface Profile {
  adapter: { description?: string; name?: string } | string;
  rows: Row[];
  wholeMs: number;
}

const KINDS = ['1×1 GEMMs', 'wide stride-1 convs', 'other convs', 'not convs'] as const;
type Kind = (typeof KINDS)[number];
/** The kind of a kernel, from the name the conv emitters give it (compiler/codegen/wgsl/conv.ts). */
function kindOf(kernel: string): Kind {
  if (/^conv2d_gemm_/.test(kernel)) return '1×1 GEMMs';
  if (/^conv2d_\d+x\d+(_d\d+)?_rows_/.test(kernel) || /^conv2d_\d+x\d+(_d\d+)?_k/.test(kernel))
    return 'wide stride-1 convs';
  if (/^conv2d_/.test(kernel)) return 'other convs';
  return 'not convs';
}

const tmp = mkdtempSync(join(tmpdir(), 'fcnc-pair-'));
function profile(name: string): Profile {
  const out = join(tmp, `${name}.json`);
  console.log(`profiling ${name} at ${size}² (${runs} rounds)…`);
  execFileSync(
    process.execPath,
    [
      join(ROOT, 'bin/fcnc.js'),
      'profile',
      join(ROOT, 'specs', `${name}.fcn`),
      '--size',
      size,
      '--runs',
      runs,
      '--tune',
      'off',
      '--no-peak',
      '--top',
      '1',
      '--json',
      out,
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  return JSON.parse(readFileSync(out, 'utf8')) as Profile;
}

interface Split {
  ms: Record<Kind, number>;
  gflop: Record<Kind, number>;
  sum: number;
  whole: number;
}
function split(p: Profile): Split {
  const ms = Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<Kind, number>;
  const gflop = Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<Kind, number>;
  for (const r of p.rows) {
    const k = kindOf(r.kernel);
    ms[k] += r.ms;
    gflop[k] += (r.flops ?? 0) / 1e9;
  }
  return { ms, gflop, sum: KINDS.reduce((a, k) => a + ms[k], 0), whole: p.wholeMs };
}

const pj = profile(jpu);
const pd = profile(dilated);
const sj = split(pj);
const sd = split(pd);
const rate = (s: Split, k: Kind): number => (s.ms[k] > 0 ? s.gflop[k] / (s.ms[k] / 1000) : NaN);
const convFlops = (s: Split): number => KINDS.slice(0, 3).reduce((a, k) => a + s.gflop[k], 0);
/** The pair's ratio of summed kernel times if the kinds in `faster` ran at `gflops` (others as measured). */
function whatIf(faster: readonly Kind[], gflops: (k: Kind) => number): number {
  const t = (s: Split): number =>
    KINDS.reduce((a, k) => a + (faster.includes(k) ? (s.gflop[k] / gflops(k)) * 1000 : s.ms[k]), 0);
  return t(sd) / t(sj);
}
const wide =
  (rate(sj, 'wide stride-1 convs') * sj.ms['wide stride-1 convs'] +
    rate(sd, 'wide stride-1 convs') * sd.ms['wide stride-1 convs']) /
  (sj.ms['wide stride-1 convs'] + sd.ms['wide stride-1 convs']);
const adapterText = (a: Profile['adapter']): string =>
  typeof a === 'string' ? a : (a.description ?? a.name ?? JSON.stringify(a));

const f = (v: number, d = 1): string => v.toFixed(d);
const lines: string[] = [];
lines.push(`# Where the JPU's speed-up goes: ${jpu} vs ${dilated} at ${size}²`);
lines.push('');
lines.push(`- adapter: ${adapterText(pj.adapter)}`);
lines.push(
  `- machine: ${cpus().length} × ${cpus()[0]?.model.trim()} (${process.platform} ${process.arch}), ${new Date().toISOString().slice(0, 10)}`,
);
lines.push(
  `- \`fcnc profile --tune off --size ${size} --runs ${runs}\` of each network (synchronised wall time per kernel, median of the rounds); \`npm run bench:pair\``,
);
lines.push('');
lines.push(
  `Whole forward (median): ${jpu} ${f(sj.whole, 0)} ms, ${dilated} ${f(sd.whole, 0)} ms — **${f(sd.whole / sj.whole, 2)}×**; summed kernel times ${f(sj.sum, 0)} and ${f(sd.sum, 0)} ms (${f(sd.sum / sj.sum, 2)}×). Conv FLOPs: ${f(convFlops(sj), 2)} and ${f(convFlops(sd), 2)} GFLOP — the MAC ratio **${f(convFlops(sd) / convFlops(sj), 2)}×**.`,
);
lines.push('');
lines.push(
  `| kind of kernel | ${jpu} ms | GFLOP | share of conv FLOPs | GFLOP/s | ${dilated} ms | GFLOP | share of conv FLOPs | GFLOP/s |`,
);
lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const k of KINDS) {
  const cell = (s: Split): string =>
    `${f(s.ms[k])} | ${f(s.gflop[k], 2)} | ${k === 'not convs' ? '' : `${f((100 * s.gflop[k]) / convFlops(s))} %`} | ${k === 'not convs' ? '' : f(rate(s, k))}`;
  lines.push(`| ${k} | ${cell(sj)} | ${cell(sd)} |`);
}
lines.push('');
lines.push("What the pair's ratio (of summed kernel times) would be if:");
lines.push('');
lines.push(`| | ratio |`);
lines.push('|---|---:|');
lines.push(`| as measured | ${f(sd.sum / sj.sum, 2)}× |`);
lines.push(
  `| 1×1 GEMMs ran as fast as the wide convs (${f(wide)} GFLOP/s, both networks) | ${f(
    whatIf(['1×1 GEMMs'], () => wide),
    2,
  )}× |`,
);
lines.push(
  `| the other convs (strided, depthwise, the stem) ran as fast as the wide convs | ${f(
    whatIf(['other convs'], () => wide),
    2,
  )}× |`,
);
lines.push(
  `| both: the 1×1 GEMMs and the other convs | ${f(
    whatIf(['1×1 GEMMs', 'other convs'], () => wide),
    2,
  )}× |`,
);
lines.push(
  `| 1×1 GEMMs took no time at all | ${f(
    whatIf(['1×1 GEMMs'], () => Infinity),
    2,
  )}× |`,
);
lines.push('');
lines.push(
  "A network whose FLOPs are more 1×1 than the other's gains less from its fewer MACs where 1×1 convs run slower per FLOP: the ratio reaches the MAC ratio only when every kind runs at the same rate in both networks.",
);
const md = lines.join('\n') + '\n';
const kind = /software|llvmpipe|swiftshader|lavapipe/i.test(adapterText(pj.adapter)) ? 'software' : 'gpu';
const stem = `bench/results/pair-${size === '256' ? '' : `${size}-`}${kind}`;
writeFileSync(join(ROOT, `${stem}.md`), md);
writeFileSync(
  join(ROOT, `${stem}.json`),
  JSON.stringify(
    { jpu, dilated, size: Number(size), runs: Number(runs), split: { [jpu]: sj, [dilated]: sd } },
    null,
    1,
  ) + '\n',
);
console.log(md);
