// `fcnc bench` without the device: the paper's Table 2 (reference §7.2), which variant is measured against which
// baseline, statistics over rounds, and the report of a benchmark as a text table, markdown, JSON and a bar chart.
// The measuring (compiling, sessions, rounds in alternation) is compiler/cli/commands/bench.ts. See
// docs/benchmarks.md.
import { barCharts, type BarChartOptions } from './plot.ts';

/**
 * FastFCN paper Table 2: frames per second on one Titan Xp at 512×512, batch 1, mean of 100 runs (10 rounds of 10
 * forwards after 10 warm-up forwards; reference §5.5 and §7.2). "None" in the paper is the dilated baseline.
 */
export const PAPER_TABLE2: Readonly<Record<string, number>> = {
  enc_dilated_r50: 18.77,
  enc_bilinear_r50: 45.67,
  enc_fpn_r50: 37.87,
  enc_jpu_r50: 37.56,
  aspp_dilated_r50: 15.99,
  aspp_jpu_r50: 20.67,
  psp_dilated_r50: 18.08,
  psp_jpu_r50: 28.48,
  enc_dilated_r101: 10.51,
  enc_bilinear_r101: 35.2,
  enc_fpn_r101: 32.4,
  enc_jpu_r101: 32.02,
  aspp_dilated_r101: 10.46,
  aspp_jpu_r101: 18.08,
  psp_dilated_r101: 11.36,
  psp_jpu_r101: 23.87,
};

export const PAPER_SETTING =
  'FastFCN paper Table 2: one Titan Xp, PyTorch, 512×512, batch 1, mean of 100 runs';

/** Where the paper's pairs are: the 16 variants of Table 2, in its order (R50 then R101; Encoding, ASPP, PSP). */
export const TABLE2_SPECS: readonly string[] = ['r50', 'r101'].flatMap((b) =>
  [
    'enc_dilated',
    'enc_bilinear',
    'enc_fpn',
    'enc_jpu',
    'aspp_dilated',
    'aspp_jpu',
    'psp_dilated',
    'psp_jpu',
  ].map((v) => `specs/${v}_${b}.fcn`),
);

/** A variant's name taken apart: head (enc, aspp, psp), upsampling method (dilated, jpu, …) and backbone (r50). */
export interface VariantName {
  readonly head: string;
  readonly method: string;
  readonly backbone: string;
}

/** `enc_jpu_r50` → { head: 'enc', method: 'jpu', backbone: 'r50' }; undefined for a name of another form. */
export function parseVariant(model: string): VariantName | undefined {
  const m = /^([a-z]+)_([a-z0-9]+)_(r\d+)$/.exec(model);
  return m ? { head: m[1]!, method: m[2]!, backbone: m[3]! } : undefined;
}

/** The dilated baseline of the same head and backbone (`enc_jpu_r50` → `enc_dilated_r50`); none for a baseline. */
export function baselineOf(model: string): string | undefined {
  const v = parseVariant(model);
  return v && v.method !== 'dilated' ? `${v.head}_dilated_${v.backbone}` : undefined;
}

/**
 * The speed-up a variant should reach against its baseline: the paper's ratio, or — where the paper's exceeds the
 * ratio of MACs (its GPU gained more than the arithmetic saved, which a compute-bound adapter cannot) — 0.95× the
 * MAC ratio.
 */
export function speedupTarget(paper: number, macRatio: number): number {
  return paper > macRatio ? 0.95 * macRatio : paper;
}

export interface RoundStats {
  /** Images per second of each round, in the order measured. */
  readonly rounds: readonly number[];
  readonly median: number;
  /** The fastest round. */
  readonly fastest: number;
  /** The slowest round. */
  readonly slowest: number;
  readonly mean: number;
  /** Population standard deviation over the rounds. */
  readonly std: number;
}

export function roundStats(rounds: readonly number[]): RoundStats {
  if (rounds.length === 0) throw new Error('roundStats: no rounds');
  const s = [...rounds].sort((a, b) => a - b);
  const m = s.length >> 1;
  const median = s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  const std = Math.sqrt(s.reduce((a, b) => a + (b - mean) ** 2, 0) / s.length);
  return { rounds: [...rounds], median, fastest: s[s.length - 1]!, slowest: s[0]!, mean, std };
}

/**
 * A distribution-free confidence interval for the median of `xs` (independent draws of one quantity, e.g. the
 * paired speed-ups of the rounds): the k-th smallest and the k-th largest value, for the largest k whose coverage
 * 1 − 2·P(Binomial(n, ½) < k) is still at least `level` (at 95 %: 9 values give the 2nd to the 8th, 15 the 4th to
 * the 12th). Where even the whole range falls short of the level (n ≤ 5 at 95 %: 5 values give 93.75 %) it is the
 * whole range with its coverage; one value has no interval (coverage 0).
 */
export function medianInterval(
  xs: readonly number[],
  level = 0.95,
): { low: number; high: number; coverage: number } {
  if (xs.length === 0) throw new Error('medianInterval: no values');
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  // P(B ≤ j) for B ~ Binomial(n, ½), by the recurrence C(n, j) = C(n, j − 1)·(n − j + 1)/j.
  const below: number[] = []; // below[k] = P(B < k)
  let term = 2 ** -n;
  let acc = 0;
  for (let j = 0; j <= n; j++) {
    below.push(acc);
    acc += term;
    term = (term * (n - j)) / (j + 1);
  }
  const coverage = (k: number): number => Math.max(0, 1 - 2 * below[k]!);
  let k = 1;
  while (k + 1 <= Math.floor(n / 2) && coverage(k + 1) >= level) k++;
  return { low: s[k - 1]!, high: s[n - k]!, coverage: coverage(k) };
}

/** Where a speed-up's paired interval lies against its target. */
export type TargetInterval = 'above' | 'straddles' | 'below';

/** 'above' when even the interval's low end reaches the target, 'below' when even its high end misses it. */
export function targetInterval(low: number, high: number, target: number): TargetInterval {
  if (low >= target * (1 - 1e-9)) return 'above';
  if (high < target * (1 - 1e-9)) return 'below';
  return 'straddles';
}

/** The level of the paired speed-ups' interval (`medianInterval`). */
export const INTERVAL_LEVEL = 0.95;

/**
 * The least coverage an interval needs for a verdict against the target (`targetInterval`): fewer than 5 rounds
 * (4 give the whole range at 87.5 %, 3 at 75 %) show their interval but say nothing about the target.
 */
export const VERDICT_MIN_COVERAGE = 0.9;

/** What the device side measured of one variant. */
export interface MeasuredVariant {
  readonly model: string;
  readonly file: string;
  /** Dispatches of one call of the entry timed (forward or training step). */
  readonly dispatches: number;
  /** Samples one program call runs (less than the batch when the batch does not fit the device). */
  readonly chunk: number;
  readonly fps: RoundStats;
  /** Bytes on the device while the entry runs: planned activations (inputs, outputs, scratch), weights, optimizer state. */
  readonly memory: {
    readonly activationBytes: number;
    readonly paramBytes: number;
    readonly optimizerBytes: number;
    readonly totalBytes: number;
  };
  /** Trainable parameters and forward MACs, as `fcnc info` counts them. */
  readonly params: number;
  readonly macs: number;
}

export interface BenchVariant extends MeasuredVariant {
  readonly head: string | null;
  readonly method: string | null;
  readonly backbone: string | null;
  /** 1000 / median images per second. */
  readonly msPerImage: number;
  /** The dilated variant of the same head and backbone, when it was measured in the same run. */
  readonly baseline: string | null;
  /** Median images per second over the baseline's median. */
  readonly speedup: number | null;
  /** Fastest round over the baseline's fastest round. */
  readonly speedupFastest: number | null;
  /**
   * Round k over the baseline's round k, for every k (the variants run in alternation, so a round and its
   * baseline's are neighbours in time and a machine that slows down for a while slows both): how much the
   * speed-up itself varies. Absent from runs made before it existed.
   */
  readonly pairedSpeedup?: {
    readonly median: number;
    readonly slowest: number;
    readonly fastest: number;
    /**
     * The distribution-free interval of the median paired speed-up (`medianInterval` at `INTERVAL_LEVEL`, the
     * whole range when the rounds are too few) and its coverage. Absent from runs made before it existed.
     */
    readonly low?: number;
    readonly high?: number;
    readonly coverage?: number;
  } | null;
  /** The baseline's MACs over this variant's. */
  readonly macRatio: number | null;
  /** Table 2's FPS of this variant (inference only). */
  readonly paperFps: number | null;
  /** Table 2's FPS of this variant over its baseline's (inference only). */
  readonly paperSpeedup: number | null;
  /** speedupTarget(paperSpeedup, macRatio) (inference only, where both are known). */
  readonly target: number | null;
  /** speedup ≥ target. */
  readonly meets: boolean | null;
  /**
   * Where the paired interval lies against the target: above it (met beyond the noise of the run), below it, or
   * straddling it (the run cannot tell); null without a target or with too few rounds for a verdict
   * (`VERDICT_MIN_COVERAGE`). Absent from runs made before it existed.
   */
  readonly targetInterval?: TargetInterval | null;
}

export type BenchMode = 'inference' | 'training';

/** The JSON of `fcnc bench` (compiler/schemas/bench.schema.json). */
export interface BenchJson {
  readonly format: 'fcnc-bench';
  readonly version: 1;
  readonly mode: BenchMode;
  /** ISO date and time of the run. */
  readonly date: string;
  readonly adapter: string;
  readonly adapterKind: 'gpu' | 'software';
  readonly machine: { readonly cpus: number; readonly cpu: string; readonly platform: string };
  readonly size: { readonly height: number; readonly width: number };
  readonly batch: number;
  /** Model parameters set on the command line (--set, --classes). */
  readonly settings: Readonly<Record<string, number | boolean | string | number[]>>;
  /** How conv kernels were chosen (--tune) for the forward; training steps use the adapter's defaults. */
  readonly tune: 'off' | 'cached' | 'full';
  readonly protocol: {
    readonly warmup: number;
    readonly rounds: number;
    readonly forwards: number;
    /** The settling passes after the warm-up (fcnc bench's `settleRunners`); absent: none. */
    readonly settle?: { readonly maxPasses: number; readonly passes: number; readonly settled: boolean };
  };
  readonly paper: string;
  readonly variants: readonly BenchVariant[];
}

/** Adds names, baselines and ratios (ours, the paper's, the MACs') to what was measured. */
export function compareVariants(measured: readonly MeasuredVariant[], mode: BenchMode): BenchVariant[] {
  const byModel = new Map(measured.map((v) => [v.model, v]));
  return measured.map((v) => {
    const name = parseVariant(v.model);
    const baseName = baselineOf(v.model);
    const base = baseName !== undefined ? byModel.get(baseName) : undefined;
    const paperFps = mode === 'inference' ? (PAPER_TABLE2[v.model] ?? null) : null;
    const paperBase = mode === 'inference' && baseName ? PAPER_TABLE2[baseName] : undefined;
    const paperSpeedup = paperFps !== null && paperBase !== undefined ? paperFps / paperBase : null;
    const speedup = base ? v.fps.median / base.fps.median : null;
    const pairedRatios =
      base && base.fps.rounds.length === v.fps.rounds.length
        ? v.fps.rounds.map((r, k) => r / base.fps.rounds[k]!)
        : null;
    const paired = pairedRatios && roundStats(pairedRatios);
    const interval = pairedRatios && medianInterval(pairedRatios, INTERVAL_LEVEL);
    const macRatio = base && v.macs > 0 ? base.macs / v.macs : null;
    const target = paperSpeedup !== null && macRatio !== null ? speedupTarget(paperSpeedup, macRatio) : null;
    return {
      ...v,
      head: name?.head ?? null,
      method: name?.method ?? null,
      backbone: name?.backbone ?? null,
      msPerImage: 1000 / v.fps.median,
      baseline: base ? base.model : null,
      speedup,
      speedupFastest: base ? v.fps.fastest / base.fps.fastest : null,
      pairedSpeedup: paired &&
        interval && {
          median: paired.median,
          slowest: paired.slowest,
          fastest: paired.fastest,
          low: interval.low,
          high: interval.high,
          coverage: interval.coverage,
        },
      macRatio,
      paperFps,
      paperSpeedup,
      target,
      // A ratio equal to its target up to rounding meets it.
      meets: target !== null && speedup !== null ? speedup >= target * (1 - 1e-9) : null,
      targetInterval:
        target !== null && interval && interval.coverage >= VERDICT_MIN_COVERAGE
          ? targetInterval(interval.low, interval.high, target)
          : null,
    };
  });
}

/**
 * The JPU-vs-dilated pairs with a target, how many meet it (median speed-up), and how many do so beyond the noise
 * of the run (their paired interval above the target).
 */
export function acceptance(b: BenchJson): { pairs: BenchVariant[]; met: number; above: number } {
  const pairs = b.variants.filter((v) => v.method === 'jpu' && v.meets !== null);
  return {
    pairs,
    met: pairs.filter((v) => v.meets).length,
    above: pairs.filter((v) => v.targetInterval === 'above').length,
  };
}

/** The paired interval as the tables show it: "2.50–2.67 (94 %)". */
function intervalText(p: BenchVariant['pairedSpeedup']): string {
  if (!p || p.low === undefined || p.high === undefined || p.coverage === undefined) return '';
  return `${p.low.toFixed(2)}–${p.high.toFixed(2)} (${(100 * p.coverage).toFixed(0)} %)`;
}

/** Three significant digits (no exponent), for rates that range from 0.01 to 1000s. */
export function sig(x: number): string {
  if (!Number.isFinite(x)) return '—';
  if (Math.abs(x) >= 100) return x.toFixed(0);
  return x.toPrecision(3);
}
const ratio = (x: number | null): string => (x === null ? '—' : `${x.toFixed(2)}×`);
const mib = (b: number): string => (b / 2 ** 20).toFixed(1);
const int = (n: number): string => n.toLocaleString('en-US');
/** GMACs as `fcnc info` prints them; three significant digits below 1 (narrow test networks). */
const gmacs = (n: number): string => (n >= 1e9 ? (n / 1e9).toFixed(2) : sig(n / 1e9));

function table(head: readonly string[], rows: readonly string[][], right: readonly boolean[]): string[] {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: readonly string[]): string =>
    r
      .map((c, i) => (right[i] ? c.padStart(w[i]!) : c.padEnd(w[i]!)))
      .join('  ')
      .trimEnd();
  return [fmt(head), fmt(w.map((n) => '-'.repeat(n))), ...rows.map(fmt)];
}

const unit = (b: BenchJson): string => (b.mode === 'training' ? 'img/s' : 'FPS');

/** The columns of the table, shared by the text and markdown forms. */
function columns(b: BenchJson): { head: string[]; right: boolean[]; rows: string[][] } {
  const u = unit(b);
  const training = b.mode === 'training';
  const head = [
    'variant',
    `${u} (median)`,
    'fastest',
    'min–max',
    'std',
    'ms/img',
    training ? 'train memory MiB' : 'memory MiB',
    'params',
    'GMACs',
    'vs dilated',
    '(fastest)',
    'paired rounds',
    'interval',
    ...(training ? [] : ['paper', 'paper FPS']),
    'MAC ratio',
    ...(training ? [] : ['target']),
  ];
  const rows = b.variants.map((v) => [
    v.model,
    sig(v.fps.median),
    sig(v.fps.fastest),
    `${sig(v.fps.slowest)}–${sig(v.fps.fastest)}`,
    sig(v.fps.std),
    sig(v.msPerImage),
    mib(v.memory.totalBytes),
    int(v.params),
    gmacs(v.macs),
    v.method === 'dilated' ? 'baseline' : ratio(v.speedup),
    v.method === 'dilated' ? '' : ratio(v.speedupFastest),
    v.pairedSpeedup
      ? `${ratio(v.pairedSpeedup.median)} (${v.pairedSpeedup.slowest.toFixed(2)}–${v.pairedSpeedup.fastest.toFixed(2)})`
      : '',
    intervalText(v.pairedSpeedup),
    ...(training
      ? []
      : [
          v.method === 'dilated' ? '' : ratio(v.paperSpeedup),
          v.paperFps === null ? '—' : v.paperFps.toFixed(2),
        ]),
    v.method === 'dilated' ? '' : ratio(v.macRatio),
    ...(training
      ? []
      : [
          v.target === null
            ? ''
            : `${ratio(v.target)} ${v.meets ? 'met' : 'NOT met'}${v.targetInterval ? ` (${INTERVAL_WORDS[v.targetInterval]})` : ''}`,
        ]),
  ]);
  const right = head.map((_, i) => i > 0);
  return { head, right, rows };
}

function describeRun(b: BenchJson): string[] {
  const calls = (n: number): string => `${b.mode === 'training' ? 'step' : 'forward'}${n === 1 ? '' : 's'}`;
  const what =
    b.mode === 'training'
      ? 'training steps (train-mode forward, losses, backward, SGD update)'
      : 'forwards (aux head and SE branch included, as the paper times them)';
  const settings = Object.entries(b.settings)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? `[${v.join(',')}]` : v}`)
    .join(' ');
  return [
    `${b.variants.length} variant(s), ${b.size.height}×${b.size.width}, batch ${b.batch}${settings ? `, ${settings}` : ''}: ${what}`,
    `adapter: ${b.adapter}`,
    `machine: ${b.machine.cpus} × ${b.machine.cpu} (${b.machine.platform}), ${b.date.slice(0, 10)}`,
    `protocol: ${b.protocol.warmup} warm-up ${calls(b.protocol.warmup)} each, ${settleText(b.protocol.settle)}then ${b.protocol.rounds} round${b.protocol.rounds === 1 ? '' : 's'} of ${b.protocol.forwards} ${calls(b.protocol.forwards)} per variant, ` +
      `the variants in alternation (A B C … A B C …); ${unit(b)} of a round = images / its time; median and fastest of the rounds` +
      (b.mode === 'inference' ? `; kernels: --tune ${b.tune}` : "; kernels: the adapter's defaults"),
  ];
}

/** A settling pass has settled when every variant's call took within this fraction of its previous pass's. */
export const SETTLE_TOLERANCE = 0.1;

function settleText(s: BenchJson['protocol']['settle']): string {
  if (!s) return '';
  const tol = `${100 * SETTLE_TOLERANCE} %`;
  return s.settled
    ? `${s.passes} passes of 1 call each in alternation until settled (within ${tol}), `
    : `${s.passes} passes of 1 call each in alternation (not settled: still moving by more than ${tol}), `;
}

/** How the target column and the summary word where the paired interval lies. */
const INTERVAL_WORDS: Record<TargetInterval, string> = {
  above: 'interval above it',
  straddles: 'within the noise',
  below: 'interval below it',
};

function summary(b: BenchJson): string[] {
  if (b.mode === 'training') return [];
  const { pairs, met, above } = acceptance(b);
  if (!pairs.length) return [];
  const withInterval = pairs.filter((v) => v.targetInterval);
  return [
    `JPU vs dilated: ${met} of ${pairs.length} pair(s) reach the target (the paper's speed-up, or 0.95× the MAC ratio where the paper's exceeds it)` +
      (withInterval.length
        ? `, ${above} of them beyond the noise of the run (paired interval above the target)`
        : '') +
      ': ' +
      pairs
        .map(
          (v) =>
            `${v.model} ${ratio(v.speedup)} (target ${ratio(v.target)}${v.targetInterval ? `; paired ${intervalText(v.pairedSpeedup)}: ${INTERVAL_WORDS[v.targetInterval]}` : ''})`,
        )
        .join(', '),
  ];
}

/** The report `fcnc bench` prints. */
export function formatBench(b: BenchJson): string {
  const { head, right, rows } = columns(b);
  const lines = [...describeRun(b), '', ...table(head, rows, right)];
  if (b.mode === 'inference') lines.push('', ...summary(b), `paper: ${PAPER_SETTING}`);
  return lines.join('\n') + '\n';
}

/** The markdown of a benchmark: what was run, the table, the acceptance, every round. */
export function benchMarkdown(b: BenchJson): string {
  const { head, right, rows } = columns(b);
  const esc = (c: string): string => c.replace(/\|/g, '\\|');
  const u = unit(b);
  const lines = [
    `# ${b.mode === 'training' ? 'Training steps' : 'FastFCN Table 2 (FPS)'} on ${b.adapter}`,
    '',
    ...describeRun(b).map((l) => `- ${l}`),
    '',
    `| ${head.map(esc).join(' | ')} |`,
    `|${right.map((r) => (r ? '---:' : '---')).join('|')}|`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
    '',
    ...summary(b),
    '',
    'Columns: median and fastest round and their spread (min–max, standard deviation) in images per second; ' +
      'ms/img = 1000 / median; memory = what the program holds on the device while it runs (planned activations ' +
      `with inputs, outputs and scratch, weights${b.mode === 'training' ? ', optimizer state' : ''}); params and GMACs as \`fcnc info\` counts them ` +
      '(trainable parameters; conv and linear MACs of one forward of one image batch); vs dilated = median over the ' +
      "dilated baseline's median (fastest over fastest beside it); paired rounds = the median and range of each round's " +
      "images per second over the baseline's in the same round of the alternation (how much the speed-up itself varies); " +
      'interval = a distribution-free confidence interval of the median paired speed-up (order statistics of the rounds, ' +
      `at ${100 * INTERVAL_LEVEL} % where the rounds allow, else their whole range; its coverage in parentheses)` +
      (b.mode === 'inference'
        ? "; paper = Table 2's ratio of the same pair; paper FPS = Table 2's own number (a Titan Xp at 512², for scale, not comparable); " +
          "MAC ratio = the baseline's MACs over the variant's; target = the paper's ratio, or 0.95× the MAC ratio where the paper's exceeds it."
        : "; MAC ratio = the baseline's forward MACs over the variant's."),
    '',
    `${b.mode === 'inference' ? PAPER_SETTING + '. ' : ''}Compare ratios within one run: absolute ${u} depend on the adapter and on whatever else the machine runs.`,
    '',
    `## ${u} of every round`,
    '',
    '| variant | dispatches | chunk | rounds |',
    '|---|---:|---:|---|',
    ...b.variants.map(
      (v) => `| ${v.model} | ${v.dispatches} | ${v.chunk} | ${v.fps.rounds.map(sig).join(', ')} |`,
    ),
    '',
  ];
  return lines.join('\n');
}

/** Two bar charts in one PNG: images per second of every variant, and the speed-ups against the dilated baselines. */
export async function benchChart(b: BenchJson): Promise<Uint8Array> {
  const u = unit(b);
  const models = b.variants.map((v) => v.model);
  const fps: BarChartOptions = {
    title: `${b.mode === 'training' ? 'Training' : 'Inference'}: ${u} per variant, ${b.size.height}×${b.size.width}, batch ${b.batch}`,
    subtitle: `${b.adapter} · ${b.protocol.rounds} rounds of ${b.protocol.forwards} in alternation`,
    categories: models,
    series: [
      { name: 'median round', values: b.variants.map((v) => v.fps.median), color: '#4c78a8' },
      { name: 'fastest round', values: b.variants.map((v) => v.fps.fastest), color: '#9ecae9' },
    ],
    y: { label: u },
    valueLabels: true,
  };
  const paired = b.variants.filter((v) => v.speedup !== null);
  const charts = [fps];
  if (paired.length)
    charts.push({
      title: 'Speed-up against the dilated baseline of the same head and backbone',
      subtitle: b.mode === 'inference' ? PAPER_SETTING : undefined,
      categories: paired.map((v) => v.model),
      series: [
        { name: 'fcnc (median)', values: paired.map((v) => v.speedup ?? NaN), color: '#4c78a8' },
        ...(b.mode === 'inference'
          ? [{ name: 'paper', values: paired.map((v) => v.paperSpeedup ?? NaN), color: '#f58518' }]
          : []),
        { name: 'MAC ratio', values: paired.map((v) => v.macRatio ?? NaN), color: '#bab0ac' },
      ],
      y: { label: 'speed-up (×)' },
      valueLabels: true,
    });
  return barCharts(charts);
}
