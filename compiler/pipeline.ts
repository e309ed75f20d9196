// The passes of each mode, in order: read top to bottom. A pass is one file in compiler/passes/ (a pure Graph →
// Graph function); adding one is that file plus one line here. The verifier runs after every pass under test and
// with DEBUG=2; `fcnc print --stage <pass>` prints the graph after any of them.
import { verifyGraph } from './ir/verify.ts';
import type { Graph } from './ir/types.ts';
import type { Pass, PassContext } from './passes/pass.ts';
import { dropDropout } from './passes/drop_dropout.ts';
import { foldBatchnorm } from './passes/fold_batchnorm.ts';
import { cse } from './passes/cse.ts';
import { dce } from './passes/dce.ts';
import { fuseEpilogues } from './passes/fuse_epilogues.ts';
import { eliminateConcat } from './passes/eliminate_concat.ts';
import { trainMode } from './passes/train_mode.ts';
import { autodiff } from './passes/autodiff.ts';
import { sgd } from './passes/sgd.ts';
import { exposeGradients } from './passes/expose_gradients.ts';
import { accumulate } from './passes/accumulate.ts';
import { meanGradients } from './passes/mean_gradients.ts';

/** Inference: the forward pass with running statistics, as fast and small as the device allows. */
export const INFERENCE: readonly Pass[] = [
  dropDropout, //      dropout is the identity at inference
  foldBatchnorm, //    batchnorm into the conv before it, else a per-channel affine map
  cse, //              merge nodes that compute the same value
  dce, //              drop what no output needs
  fuseEpilogues, //    pointwise chains into the kernel that produces their input
  eliminateConcat, //  concat inputs computed straight into their channel slices
];

/** No optimisation: one kernel per op (the baseline that benchmarks and tests compare against). */
export const NONE: readonly Pass[] = [];

/**
 * Evaluation inside a training program: as inference, but batchnorm is not folded — the parameters change every
 * step, so nothing may be computed from them once at load. (Batchnorm fuses into the conv before it instead.)
 */
export const EVAL: readonly Pass[] = [dropDropout, cse, dce, fuseEpilogues, eliminateConcat];

export interface TrainingOptions {
  /** Dropout with random masks (default), or off (comparisons with another framework). */
  readonly dropout?: boolean;
}

/** A training step: the forward in train mode, the losses, the backward pass, the optimizer. */
export function training(o: TrainingOptions = {}): readonly Pass[] {
  return [
    trainMode({ dropout: o.dropout }), // batchnorm with batch statistics, random dropout, the losses as values
    autodiff, //                          the gradients of the weighted losses (backward rules of the ops)
    sgd(), //                             SGD with momentum and weight decay, head groups at 10×
    cse,
    dce,
    fuseEpilogues,
    eliminateConcat,
  ];
}

/**
 * Gradient accumulation, the micro-batch step (`grad_step`): a train-mode forward and backward of one micro-batch,
 * its gradients added into accumulators (the batch's update is `applyStep`).
 */
export function microStep(o: TrainingOptions = {}): readonly Pass[] {
  return [trainMode({ dropout: o.dropout }), autodiff, accumulate, cse, dce, fuseEpilogues, eliminateConcat];
}

/** Gradient accumulation, the update (`apply_step`): SGD on the mean of the accumulated gradients. */
export const APPLY_STEP: readonly Pass[] = [
  meanGradients, // the update's own graph: acc / micro-batches as each parameter's gradient
  sgd(),
  cse,
  dce,
  fuseEpilogues,
];

/** One train-mode forward and backward whose outputs are the losses, every gradient and the running statistics. */
export function gradients(o: TrainingOptions = {}): readonly Pass[] {
  return [
    trainMode({ dropout: o.dropout }),
    autodiff,
    exposeGradients,
    cse,
    dce,
    fuseEpilogues,
    eliminateConcat,
  ];
}

export const PIPELINES = { inference: INFERENCE, none: NONE, eval: EVAL } as const;
export type PipelineName = keyof typeof PIPELINES;

export interface PassLog {
  readonly pass: string;
  readonly changes: readonly string[];
  readonly nodes: number;
  readonly ms: number;
}

export interface PipelineOptions {
  /** Run the verifier after every pass (tests; DEBUG ≥ 2). Default: when DEBUG ≥ 2. */
  readonly verify?: boolean;
  /** Stop after this pass (for `fcnc print --stage`). */
  readonly until?: string;
  /** Called with the graph after each pass (DEBUG printing). */
  readonly onPass?: (pass: Pass, g: Graph) => void;
}

export class PassError extends Error {}

/** Runs `passes` in order; returns the final graph and what each pass changed. */
export function runPipeline(
  g: Graph,
  passes: readonly Pass[],
  ctx: PassContext,
  opts: PipelineOptions = {},
): { graph: Graph; log: PassLog[] } {
  const verify = opts.verify ?? (Number(process.env.DEBUG) || 0) >= 2;
  if (opts.until && !passes.some((p) => p.name === opts.until))
    throw new PassError(`no pass named '${opts.until}'; passes: ${passes.map((p) => p.name).join(', ')}`);
  const log: PassLog[] = [];
  let graph = g;
  for (const pass of passes) {
    const t0 = performance.now();
    const r = pass.run(graph, ctx);
    graph = r.graph;
    log.push({ pass: pass.name, changes: r.changes, nodes: graph.nodes.length, ms: performance.now() - t0 });
    if (verify) {
      const problems = verifyGraph(graph);
      if (problems.length)
        throw new Error(`internal: the graph after ${pass.name} fails verification:\n${problems.join('\n')}`);
    }
    opts.onPass?.(pass, graph);
    if (pass.name === opts.until) break;
  }
  return { graph, log };
}
