// Front-end speed: lex + parse + AST (load), static checks, elaboration with shape inference, for every spec.
// Run: npm run bench:frontend   (writes bench/results/frontend.md; commit it)
import { readdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { checkModules } from '../compiler/frontend/check.ts';
import { loadSpec } from '../compiler/frontend/load.ts';
import { elaborate } from '../compiler/elaborate/index.ts';

const ROOT = join(import.meta.dirname, '..');
const specs = readdirSync(join(ROOT, 'specs'))
  .filter((f) => f.endsWith('.fcn'))
  .sort();
const REPEATS = Number(process.env.REPEATS ?? 20);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const rows: string[] = [];
let totals = [0, 0, 0];
// Warm up the JIT once over everything.
for (const s of specs) elaborate(loadSpec(join(ROOT, 'specs', s)).modules);

for (const s of specs) {
  const t: number[][] = [[], [], []];
  let nodes = 0;
  for (let i = 0; i < REPEATS; i++) {
    const t0 = performance.now();
    const loaded = loadSpec(join(ROOT, 'specs', s));
    const t1 = performance.now();
    const ds = checkModules(loaded.modules);
    const t2 = performance.now();
    const { graph } = elaborate(loaded.modules, {});
    const t3 = performance.now();
    if (!graph || ds.some((d) => d.severity === 'error')) throw new Error(`${s} failed to build`);
    nodes = graph.nodes.length;
    t[0]!.push(t1 - t0);
    t[1]!.push(t2 - t1);
    t[2]!.push(t3 - t2);
  }
  const m = t.map(median);
  totals = totals.map((x, i) => x + m[i]!);
  rows.push(
    `| ${s} | ${nodes} | ${m[0]!.toFixed(2)} | ${m[1]!.toFixed(2)} | ${m[2]!.toFixed(2)} | ${(m[0]! + m[1]! + m[2]!).toFixed(2)} |`,
  );
}

const out = [
  '# Front-end speed',
  '',
  `Median of ${REPEATS} runs per spec (after one warm-up pass), milliseconds. Load = read + lex + parse + AST of the spec and its`,
  'imports; check = static checks; elaborate = building the op graph with shape inference (default settings, 512×512).',
  '',
  `Machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, Node ${process.version}. Date: ${new Date().toISOString().slice(0, 10)}.`,
  '',
  '| spec | ops | load | check | elaborate | total |',
  '|---|---:|---:|---:|---:|---:|',
  ...rows,
  `| **all ${specs.length} specs** | | ${totals[0]!.toFixed(1)} | ${totals[1]!.toFixed(1)} | ${totals[2]!.toFixed(1)} | ${(totals[0]! + totals[1]! + totals[2]!).toFixed(1)} |`,
  '',
].join('\n');
writeFileSync(join(ROOT, 'bench', 'results', 'frontend.md'), out);
console.log(out);
