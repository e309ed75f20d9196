// The account of a compiled program (`fcnc compile` prints it and writes report.md; `fcnc info --plan`): what
// each pass changed, kernels and dispatches before and after the optimisations, the memory plan (activation bytes
// with one buffer per value, planned, and the lower bound), and the weight bytes before and after folding.
import type { Compiled } from './compile.ts';
import type { Program } from '../runtime/program.ts';

export interface PlanReport {
  readonly model: string;
  readonly input: readonly number[];
  readonly passes: readonly { readonly pass: string; readonly changes: readonly string[] }[];
  readonly unfused: { readonly kernels: number; readonly dispatches: number };
  readonly fused: { readonly kernels: number; readonly dispatches: number; readonly loadDispatches: number };
  /** Dispatches per anchor op of the optimised forward (conv2d 71, resize_bilinear 4, …). */
  readonly byOp: Readonly<Record<string, number>>;
  readonly memory: Program['memory'];
  readonly chunk: number;
}

export function planReport(compiled: Compiled, unfused: Compiled): PlanReport {
  const p = compiled.program;
  const byOp: Record<string, number> = {};
  for (const s of p.entries.forward.steps) byOp[s.nodes[0]!.op] = (byOp[s.nodes[0]!.op] ?? 0) + 1;
  return {
    model: p.model,
    input: p.entries.forward.inputs[0]?.shape ?? [],
    passes: compiled.log.map((l) => ({ pass: l.pass, changes: l.changes })),
    unfused: {
      kernels: unfused.program.kernels.length,
      dispatches: unfused.program.entries.forward.steps.length,
    },
    fused: {
      kernels: p.kernels.length,
      dispatches: p.entries.forward.steps.length,
      loadDispatches: p.entries.load.steps.length,
    },
    byOp: Object.fromEntries(Object.entries(byOp).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))),
    memory: p.memory,
    chunk: compiled.chunk,
  };
}

const mib = (n: number): string => `${(n / 2 ** 20).toFixed(1)} MiB`;

/** The report as Markdown (also readable as plain text on a terminal). */
export function formatPlanReport(r: PlanReport): string {
  const m = r.memory;
  const lines = [
    `## Compiled program: ${r.model}, input [${r.input.join(', ')}]${r.chunk < (r.input[0] ?? 1) ? ` (runs in batches of ${r.chunk})` : ''}`,
    '',
    '| | kernels | dispatches per forward |',
    '|---|---:|---:|',
    `| one kernel per op | ${r.unfused.kernels} | ${r.unfused.dispatches} |`,
    `| optimised | ${r.fused.kernels} | ${r.fused.dispatches} (+ ${r.fused.loadDispatches} once, when weights load) |`,
    '',
    `Dispatches by op: ${Object.entries(r.byOp)
      .map(([op, n]) => `${op} ${n}`)
      .join(', ')}.`,
    '',
    'Passes:',
    ...r.passes.map((p) => `- ${p.pass}: ${p.changes.length ? p.changes.join('; ') : 'nothing to do'}`),
    '',
    '| memory | bytes |',
    '|---|---:|',
    `| activations, one buffer per value | ${mib(m.naiveBytes)} |`,
    `| activations, planned | ${mib(m.plannedBytes)} |`,
    `| activations, lower bound (most bytes live at once) | ${mib(m.lowerBoundBytes)} |`,
    `| weights as loaded (state dict, f32 read by a kernel) | ${mib(m.rawParamBytes)} |`,
    `| weights resident after folding | ${mib(m.paramBytes)} |`,
    '',
    `Planned / lower bound: ${(m.plannedBytes / m.lowerBoundBytes).toFixed(3)}. Activations include the input and the outputs.`,
  ];
  return lines.join('\n') + '\n';
}

/** The account of a training program (`fcnc compile --train`, train/report.md). */
export function formatTrainingReport(
  c: { program: Program; log: readonly { pass: string; changes: readonly string[] }[] },
  opts: { lr?: string } = {},
): string {
  const p = c.program;
  const m = p.memory;
  const t = m.training;
  const step = p.entries.train_step!;
  const image = step.inputs[0]!;
  const byOp: Record<string, number> = {};
  for (const s of step.steps) if (!s.copy) byOp[s.nodes[0]!.op] = (byOp[s.nodes[0]!.op] ?? 0) + 1;
  const copies = step.steps.filter((s) => s.copy).length;
  const total = m.plannedBytes + m.paramBytes + (t?.optimizerBytes ?? 0);
  const lines = [
    `## Training program: ${p.model}, ${image.name} [${image.shape.join(', ')}]`,
    '',
    `Entries: \`train_step\` (${step.steps.length - copies} dispatches and ${copies} buffer copies: forward in train mode, losses, backward, SGD update) and \`forward\` (${p.entries.forward.steps.length} dispatches, evaluation with the running statistics); ${p.kernels.length} kernels.`,
    '',
    `Dispatches of a training step by op: ${Object.entries(byOp)
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .map(([op, n]) => `${op} ${n}`)
      .join(', ')}.`,
    '',
    'Passes:',
    ...c.log.map((l) => `- ${l.pass}: ${l.changes.length ? l.changes.join('; ') : 'nothing to do'}`),
    '',
    '| memory | bytes |',
    '|---|---:|',
    `| parameters (and running statistics) | ${mib(m.paramBytes)} |`,
    ...(t ? [`| optimizer state (momentum) | ${mib(t.optimizerBytes)} |`] : []),
    `| activations, one buffer per value | ${mib(m.naiveBytes)} |`,
    `| activations, planned | ${mib(m.plannedBytes)} |`,
    `| activations, lower bound (most bytes live at once) | ${mib(m.lowerBoundBytes)} |`,
    ...(t
      ? [
          `| of which saved for the backward (live when the losses are computed) | ${mib(t.savedBytes)} |`,
          `| parameter gradients stored (others fused into their update) | ${mib(t.gradientBytes)} of ${mib(t.allGradientBytes)} |`,
          `| parameter gradients live at once, at most | ${mib(t.peakGradientBytes)} |`,
        ]
      : []),
    `| **total on the device** | **${mib(total)}** |`,
    '',
    `Planned / lower bound: ${(m.plannedBytes / m.lowerBoundBytes).toFixed(3)}. Activations include the inputs, the outputs and kernels' scratch. Each gradient is consumed by its parameter's update as soon as it is complete, so gradients never all live at once (a framework that keeps \`.grad\` for every parameter holds ${t ? mib(t.allGradientBytes) : '—'} more).`,
    ...(opts.lr ? ['', opts.lr] : []),
  ];
  return lines.join('\n') + '\n';
}
