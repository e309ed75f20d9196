// Profiles of one entry of a Program (`fcnc profile`, bench/profile.bench.ts): how long every step takes, what
// it computes (every source node fused into its kernel, with its spec location and module), how fast it goes
// against the adapter's measured peaks, and totals by module and by op.
//
// Timing (Session.profileSteps): with the `timestamp-query` feature, GPU timestamps at the begin and end of a
// compute pass per dispatch; otherwise each dispatch submitted alone and waited for (wall time, per-submit
// overhead included). Several rounds; each step's median counts. The whole entry is timed too (the median of as
// many ordinary calls: upload, every dispatch in one submit, read back), interleaved with the rounds so both see
// the same machine, and the sum of the steps is compared with it.
//
// Costs (FLOPs and bytes per step) are the caller's (compiler/profile_cost.ts computes them from the graph); the
// runtime alone knows only the program.
import type { Session } from './execute.ts';
import type { Peak } from './peak.ts';
import type { StepNode } from './program.ts';

export type ProfileMethod = 'timestamps' | 'sync';

/** What the caller knows of a step's cost (compiler/profile_cost.ts). */
export interface StepCostInput {
  readonly flops: number;
  readonly bytes: number;
  readonly bytesFrom?: string;
}

export interface ProfileOptions {
  /** The entry to profile (default `forward`). */
  readonly entry?: string;
  /** Rounds of per-step timing, and of whole-entry timing (default 5). */
  readonly runs?: number;
  /** Use timestamp queries where the device has them (default true); false: synchronised wall time per step. */
  readonly timestamps?: boolean;
  /**
   * Synchronised timing: subtract the round trip of an empty submit (measured every round, the median) from each
   * step, so the steps add up to the work rather than to the work plus one submit each (default true).
   */
  readonly subtractSubmit?: boolean;
  /** Per step (in step order): FLOPs and bytes. Absent: zeros (no rates). */
  readonly costs?: readonly StepCostInput[];
  /** The adapter's measured peaks (runtime/peak.ts), for % of peak. */
  readonly peak?: Peak;
  /** Module of a node name (default: the first component of the name). */
  readonly moduleOf?: (name: string) => string;
  /** The adapter, for the report ("llvmpipe (LLVM 15.0.6, 256 bits) via OpenGL compatibility"). */
  readonly adapter?: string;
  /** Called before each round (progress). */
  readonly onRound?: (round: number, runs: number) => void;
  /**
   * The inputs of each call; default: the same every time. A training step takes its step number here (the
   * hyper-parameters), so each round gets fresh ones.
   */
  readonly inputsFor?: (call: number) => ReadonlyMap<string, Float32Array>;
}

export interface ProfileRow {
  /** Position in the entry (0-based). */
  readonly step: number;
  /** The kernel (`conv2d_3x3_k32`), or `copy` for a copy step. */
  readonly kernel: string;
  /** The node the step computes (the anchor of a fused kernel; `name[c0:c1]` for a channel slice). */
  readonly node: string;
  /** The anchor's op (`conv2d`, …; `copy`). */
  readonly op: string;
  /** The spec call of the anchor, `file:line:col` ('' when unknown). */
  readonly where: string;
  readonly module: string;
  /** Every source node the step computes: the anchor first, then every node fused into it. */
  readonly nodes: readonly StepNode[];
  /** Median over the rounds, ms. */
  readonly ms: number;
  /** Fastest and slowest round, ms. */
  readonly minMs: number;
  readonly maxMs: number;
  /** Share of the sum of all steps, %. */
  readonly pct: number;
  readonly flops: number;
  readonly bytes: number;
  readonly bytesFrom?: string;
  /** flops / ms (null when the step has no counted FLOPs). */
  readonly gflops: number | null;
  readonly gbps: number;
  /** gflops / peak.gflops, %; null without a peak or FLOPs. */
  readonly pctPeakFlops: number | null;
  /** gbps / peak.gbps, %; null without a peak. */
  readonly pctPeakBandwidth: number | null;
}

export interface ProfileTotal {
  /** The module or op. */
  readonly name: string;
  readonly steps: number;
  readonly ms: number;
  readonly pct: number;
  readonly flops: number;
  readonly bytes: number;
  readonly gflops: number | null;
}

export interface Profile {
  readonly model: string;
  readonly entry: string;
  readonly method: ProfileMethod;
  /** One line on how the steps were timed. */
  readonly methodNote: string;
  readonly adapter: string;
  readonly runs: number;
  readonly rows: readonly ProfileRow[];
  /** Sum of the steps' medians, ms. */
  readonly stepsMs: number;
  /** Synchronised timing: the round trip of an empty submit subtracted from every step, ms (0 with timestamps). */
  readonly submitOverheadMs: number;
  /** Median of the whole-entry calls, ms; and every call. */
  readonly wholeMs: number;
  readonly wholeSamples: readonly number[];
  readonly flops: number;
  readonly bytes: number;
  readonly byModule: readonly ProfileTotal[];
  readonly byOp: readonly ProfileTotal[];
  readonly peak: Peak | null;
}

const METHOD_NOTES: Record<ProfileMethod, string> = {
  timestamps:
    'GPU timestamps at the begin and end of a compute pass per dispatch (timestamp-query), all dispatches in one submit',
  sync: 'wall time per dispatch, each submitted alone and waited for (no timestamp-query)',
};

export const median = (xs: readonly number[]): number => {
  if (!xs.length) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Wall time of submitting an empty compute pass and waiting for it, ms (median of `n`). */
export async function submitRoundTrip(device: GPUDevice, n = 15): Promise<number> {
  const xs: number[] = [];
  for (let k = 0; k < n; k++) {
    const t = performance.now();
    const enc = device.createCommandEncoder();
    enc.beginComputePass().end();
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    xs.push(performance.now() - t);
  }
  return median(xs);
}

const firstComponent = (name: string): string => name.split(/[.<[]/)[0] || name;

/** Profiles one entry of the session's program: `runs` rounds of per-step timing and of whole calls. */
export async function profileSession(
  session: Session,
  inputs: ReadonlyMap<string, Float32Array>,
  opts: ProfileOptions = {},
): Promise<Profile> {
  const entry = opts.entry ?? 'forward';
  const runs = Math.max(1, opts.runs ?? 5);
  const program = session.program;
  const e = program.entries[entry];
  if (!e || entry === 'load')
    throw new Error(
      `the program has no entry '${entry}' to profile; entries: ${Object.keys(program.entries)
        .filter((k) => k !== 'load')
        .join(', ')}`,
    );
  if (opts.costs && opts.costs.length !== e.steps.length)
    throw new Error(`${opts.costs.length} step costs for the ${e.steps.length} steps of '${entry}'`);
  const moduleOf = opts.moduleOf ?? firstComponent;
  const inputsFor = opts.inputsFor ?? (() => inputs);

  let call = 0;
  await session.call(entry, inputsFor(call++), { read: [] }); // warm-up: shader JIT, first-touch allocations
  const samples: number[][] = e.steps.map(() => []);
  const whole: number[] = [];
  const overheads: number[] = [];
  let method: ProfileMethod = 'sync';
  for (let r = 0; r < runs; r++) {
    opts.onRound?.(r, runs);
    const got = await session.profileSteps(inputsFor(call++), entry, { timestamps: opts.timestamps ?? true });
    method = got.method;
    const overhead =
      method === 'sync' && opts.subtractSubmit !== false ? await submitRoundTrip(session.device) : 0;
    overheads.push(overhead);
    got.ms.forEach((ms, k) => samples[k]!.push(Math.max(0, ms - overhead)));
    const t = performance.now();
    await session.call(entry, inputsFor(call++));
    whole.push(performance.now() - t);
  }

  const peak = opts.peak ?? null;
  const medians = samples.map(median);
  const stepsMs = medians.reduce((a, b) => a + b, 0);
  const pct = (ms: number): number => (stepsMs > 0 ? (100 * ms) / stepsMs : 0);
  const rate = (amount: number, ms: number): number => (ms > 0 ? amount / ms / 1e6 : 0);
  const rows: ProfileRow[] = e.steps.map((s, k) => {
    const cost = opts.costs?.[k] ?? { flops: 0, bytes: 0 };
    const ms = medians[k]!;
    const gflops = cost.flops > 0 && ms > 0 ? rate(cost.flops, ms) : null;
    const gbps = rate(cost.bytes, ms);
    const anchor = s.nodes[0];
    return {
      step: k,
      kernel: s.copy ? 'copy' : s.kernel,
      node: s.node,
      op: s.copy ? 'copy' : (anchor?.op ?? s.kernel),
      where: s.where,
      module: moduleOf(anchor?.name ?? s.node),
      nodes: s.nodes,
      ms,
      minMs: Math.min(...samples[k]!),
      maxMs: Math.max(...samples[k]!),
      pct: pct(ms),
      flops: cost.flops,
      bytes: cost.bytes,
      ...(cost.bytesFrom ? { bytesFrom: cost.bytesFrom } : {}),
      gflops,
      gbps,
      pctPeakFlops: peak && gflops !== null ? (100 * gflops) / peak.gflops : null,
      pctPeakBandwidth: peak && ms > 0 ? (100 * gbps) / peak.gbps : null,
    };
  });
  const totals = (key: (r: ProfileRow) => string): ProfileTotal[] => {
    const m = new Map<string, { steps: number; ms: number; flops: number; bytes: number }>();
    for (const r of rows) {
      const t = m.get(key(r)) ?? { steps: 0, ms: 0, flops: 0, bytes: 0 };
      m.set(key(r), {
        steps: t.steps + 1,
        ms: t.ms + r.ms,
        flops: t.flops + r.flops,
        bytes: t.bytes + r.bytes,
      });
    }
    return [...m]
      .map(([name, t]) => ({ name, ...t, pct: pct(t.ms), gflops: t.flops > 0 ? rate(t.flops, t.ms) : null }))
      .sort((a, b) => b.ms - a.ms || a.name.localeCompare(b.name));
  };
  return {
    model: program.model,
    entry,
    method,
    methodNote: METHOD_NOTES[method],
    adapter: opts.adapter ?? '',
    runs,
    rows,
    stepsMs,
    submitOverheadMs: median(overheads),
    wholeMs: median(whole),
    wholeSamples: whole,
    flops: rows.reduce((a, r) => a + r.flops, 0),
    bytes: rows.reduce((a, r) => a + r.bytes, 0),
    byModule: totals((r) => r.module),
    byOp: totals((r) => r.op),
    peak,
  };
}

// ---- text form

const f1 = (x: number): string => x.toFixed(1);
const fms = (x: number): string => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const opt = (x: number | null, f: (x: number) => string = f1): string => (x === null ? '—' : f(x));

/** The spec location as `file:line` with the folder dropped (`jpu.fcn:5`). */
export function shortWhere(where: string): string {
  const m = /^(.*):(\d+):(\d+)$/.exec(where);
  if (!m) return where;
  return `${m[1]!.split('/').pop()}:${m[2]}`;
}

function table(head: readonly string[], rows: readonly string[][], right: readonly boolean[]): string[] {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: readonly string[]): string =>
    r
      .map((c, i) => (right[i] ? c.padStart(w[i]!) : c.padEnd(w[i]!)))
      .join('  ')
      .trimEnd();
  return [fmt(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(fmt)];
}

/** The steps sorted by time, slowest first. */
export function topRows(p: Profile, n = Infinity): ProfileRow[] {
  return [...p.rows].sort((a, b) => b.ms - a.ms || a.step - b.step).slice(0, n);
}

/** The report `fcnc profile` prints: top-N kernels, their nodes, totals by module and by op, the check. */
export function formatProfile(p: Profile, opts: { top?: number } = {}): string {
  const top = topRows(p, opts.top ?? 20);
  const lines: string[] = [];
  lines.push(`${p.model} — entry '${p.entry}', ${p.rows.length} steps, median of ${p.runs} round(s)`);
  lines.push(`adapter: ${p.adapter || 'unknown'}`);
  lines.push(
    `method: ${p.method} — ${p.methodNote}` +
      (p.submitOverheadMs > 0
        ? `, minus the round trip of an empty submit (${p.submitOverheadMs.toFixed(3)} ms) each`
        : ''),
  );
  if (p.peak)
    lines.push(
      `peak: ${f1(p.peak.gflops)} GFLOP/s (register-only vec4 FMA), ${p.peak.gbps.toFixed(2)} GB/s (storage-buffer reads), probed in ${(p.peak.probeMs / 1000).toFixed(1)} s`,
    );
  lines.push('');
  lines.push(`top ${top.length} of ${p.rows.length} steps by time:`);
  const rows = top.map((r, i) => [
    String(i + 1),
    String(r.step),
    r.kernel,
    r.nodes.length > 1 ? `${r.node} +${r.nodes.length - 1}` : r.node,
    shortWhere(r.where),
    r.module,
    fms(r.ms),
    f1(r.pct),
    opt(r.gflops),
    opt(r.pctPeakFlops),
    r.gbps.toFixed(2),
    opt(r.pctPeakBandwidth),
  ]);
  lines.push(
    ...table(
      [
        '#',
        'step',
        'kernel',
        'node (+fused)',
        'spec',
        'module',
        'ms',
        '%',
        'GFLOP/s',
        '% peak',
        'GB/s',
        '% BW',
      ],
      rows,
      [true, true, false, false, false, false, true, true, true, true, true, true],
    ),
  );
  lines.push('', 'nodes computed by each of these kernels (anchor first, then every node fused into it):');
  top.forEach((r, i) => {
    const nodes = r.nodes.length
      ? r.nodes.map((n) => `${n.name} (${n.op}${n.where ? `, ${n.where}` : ''})`).join(' + ')
      : r.kernel === 'copy'
        ? `copy into ${r.node}`
        : r.node;
    lines.push(`${String(i + 1).padStart(3)}  ${nodes}`);
  });
  const totalRows = (ts: readonly ProfileTotal[]): string[][] =>
    ts.map((t) => [t.name, String(t.steps), fms(t.ms), f1(t.pct), opt(t.gflops)]);
  const sum = [
    'total',
    String(p.rows.length),
    fms(p.stepsMs),
    '100.0',
    opt(p.flops > 0 ? p.flops / p.stepsMs / 1e6 : null),
  ];
  lines.push('');
  lines.push(
    ...table(
      ['module', 'steps', 'ms', '%', 'GFLOP/s'],
      [...totalRows(p.byModule), sum],
      [false, true, true, true, true],
    ),
  );
  lines.push('');
  lines.push(
    ...table(
      ['op', 'steps', 'ms', '%', 'GFLOP/s'],
      [...totalRows(p.byOp), sum],
      [false, true, true, true, true],
    ),
  );
  lines.push('');
  const ratio = p.wholeMs > 0 ? (100 * p.stepsMs) / p.wholeMs : 0;
  lines.push(
    `sum of steps ${fms(p.stepsMs)} ms vs whole '${p.entry}' ${fms(p.wholeMs)} ms (median of ${p.wholeSamples.length} calls: upload, one submit, read back): ${f1(ratio)}%`,
  );
  lines.push(
    `FLOPs counted: ${(p.flops / 1e9).toFixed(3)} G (2 · MACs of conv and linear, and of their gradients); bytes: ${(p.bytes / 2 ** 20).toFixed(1)} MiB compulsory (each bound tensor once)`,
  );
  return lines.join('\n') + '\n';
}
