// llvmpipe's vector width on a CPU with AVX-512: 256 bits (Mesa's default) against 512.
//
// Mesa 22.3's llvmpipe runs a compute shader 8 invocations wide (256-bit vectors) even on a CPU with AVX-512 — "until
// we're confident llvmpipe with 512 is as correct and not slower than 256" (lp_bld_init.c). LP_NATIVE_VECTOR_WIDTH=512
// makes it 16 wide, with AVX-512's 32 vector registers instead of AVX2's 16. Mesa reads the variable once, when the
// driver loads, so each width runs in a process of its own: `fcnc bench` of a JPU/dilated pair, the widths in
// alternation (256, 512, 256, 512, …). Each width gets its own Mesa shader cache folder: llvmpipe's cache key does
// not include the width, so a cache shared between widths hands one width's compiled shaders to the other (seen
// here: 512-bit processes ran at the 256-bit speed until their cache was their own). A first, untimed process per
// width fills its cache; how long that took is reported (the cold start: every kernel compiled).
//
// Run: npm run bench:vector-width [-- ROUNDS]   (default 3 processes per width; SPECS=a.fcn,b.fcn for another pair)
//      → bench/results/vector-width-software.md
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { roundStats, sig, type BenchJson } from '../runtime/bench.ts';
import { cacheDir } from '../runtime/tune.ts';

const ROOT = join(import.meta.dirname, '..');
const ROUNDS = Number(process.argv[2] ?? 3);
const SPECS = (process.env.SPECS ?? 'specs/enc_jpu_r50.fcn,specs/enc_dilated_r50.fcn').split(',');
const WIDTHS = [256, 512] as const;

const flags = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
if (!/\bavx512f\b/.test(flags)) {
  console.log(
    'this CPU has no AVX-512 (or no /proc/cpuinfo): llvmpipe has only one vector width to offer here',
  );
  process.exit(0);
}

const work = mkdtempSync(join(tmpdir(), 'fcnc-vector-width-'));
const cacheOf = (w: number): string => join(cacheDir(), `bench-mesa-llvmpipe-${w}`);

/** One `fcnc bench` process at width `w`; its JSON and wall time. */
function benchAt(w: number, name: string, runs: number): { json: BenchJson; seconds: number } {
  const out = join(work, `${name}.json`);
  const args = [
    join(ROOT, 'bin', 'fcnc.js'),
    'bench',
    ...SPECS.map((s) => join(ROOT, s)),
    '--size',
    '256',
    '--warmup',
    '1',
    '--runs',
    String(runs),
    '--forwards',
    '1',
    '--tune',
    'off',
    '--adapter',
    'software',
    '--json',
    out,
  ];
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, LP_NATIVE_VECTOR_WIDTH: String(w), MESA_SHADER_CACHE_DIR: cacheOf(w) },
  });
  if (r.status !== 0) throw new Error(`fcnc bench at ${w} bits failed (exit ${r.status ?? r.signal})`);
  return {
    json: JSON.parse(readFileSync(out, 'utf8')) as BenchJson,
    seconds: (performance.now() - t0) / 1000,
  };
}

// Fill each width's cache (untimed for the comparison).
const cold: Record<number, { seconds: number; wasCold: boolean; adapter: string }> = {};
for (const w of WIDTHS) {
  const wasCold = !existsSync(cacheOf(w));
  console.log(`${w} bits: filling the shader cache${wasCold ? ' (cold)' : ''} …`);
  const { json, seconds } = benchAt(w, `fill-${w}`, 1);
  cold[w] = { seconds, wasCold, adapter: json.adapter };
  console.log(`  ${json.adapter}: ${seconds.toFixed(0)} s`);
}

// The widths in alternation; per process, each variant's median ms per image.
const models = SPECS.map((s) => s.replace(/^.*\//, '').replace(/\.fcn$/, ''));
const ms: Record<number, Record<string, number[]>> = {};
const procRows: string[] = [];
for (let k = 0; k < ROUNDS; k++)
  for (const w of WIDTHS) {
    const { json } = benchAt(w, `run-${k}-${w}`, 3);
    for (const v of json.variants) ((ms[w] ??= {})[v.model] ??= []).push(v.msPerImage);
    const line = json.variants.map((v) => `${v.model} ${sig(v.msPerImage)} ms`).join(', ');
    console.log(`process ${k + 1} at ${w} bits: ${line}`);
    procRows.push(`| ${k + 1} | ${w} | ${json.variants.map((v) => sig(v.msPerImage)).join(' | ')} |`);
  }

const med = (w: number, m: string): number => roundStats(ms[w]![m]!).median;
const rows = models.map(
  (m) => `| ${m} | ${sig(med(256, m))} | ${sig(med(512, m))} | ${(med(256, m) / med(512, m)).toFixed(2)}× |`,
);
const [jpu, dil] = models as [string, string];
const ratio = (w: number): string => (med(w, dil) / med(w, jpu)).toFixed(2);
const md = [
  `# llvmpipe at 256 and 512 bits on a CPU with AVX-512`,
  '',
  `Date ${new Date().toISOString().slice(0, 10)}; machine: ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'} (avx512f). ` +
    'Produced by `npm run bench:vector-width` (bench/vector-width.bench.ts).',
  '',
  `- 256 bits: ${cold[256]!.adapter}`,
  `- 512 bits: ${cold[512]!.adapter}`,
  '',
  `Each width in processes of its own (Mesa reads LP_NATIVE_VECTOR_WIDTH when the driver loads), ${ROUNDS} per width in ` +
    'alternation, each `fcnc bench ' +
    SPECS.join(' ') +
    ' --size 256 --warmup 1 --runs 3 --forwards 1 --tune off`; each with its own Mesa shader cache folder, filled by ' +
    "a first untimed process. ms/img: the median over the processes of each process's median round.",
  '',
  '| variant | ms/img at 256 bits | at 512 bits | 512 vs 256 |',
  '|---|---:|---:|---:|',
  ...rows,
  '',
  `${jpu} vs ${dil}: ${ratio(256)}× at 256 bits, ${ratio(512)}× at 512 bits.`,
  '',
  'Filling the caches (one process per width: compiling what its cache lacks, one forward of each program): ' +
    WIDTHS.map(
      (w) =>
        `${w} bits ${cold[w]!.seconds.toFixed(0)} s${cold[w]!.wasCold ? ' (from an empty folder)' : ' (its folder existed: it may have held some of the kernels)'}`,
    ).join(', ') +
    '.',
  '',
  '## Every process',
  '',
  `| process | bits | ${models.join(' | ')} |`,
  `|---:|---:|${models.map(() => '---:').join('|')}|`,
  ...procRows,
  '',
].join('\n');
const out = join(ROOT, 'bench', 'results', 'vector-width-software.md');
writeFileSync(out, md);
console.log(`wrote ${out}`);
