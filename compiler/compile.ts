// The one way from a graph to a Program: graph + device limits + kernel tuning + mode → passes (pipeline.ts) →
// lowering (codegen/lower.ts) → Program. Every command, `emit`, the benchmarks and the tests come through here.
//
// Batches larger than the device: at inference every op treats the samples of a batch independently (batchnorm
// uses running statistics), so a batch of N can run as ceil(N/c) chunks of c through one program compiled for
// batch c, with exactly the same results. `compile` picks the largest c whose buffers fit the binding limits
// (runtime/chunks.ts runs the chunks). Within one sample a tensor larger than a binding is computed in channel
// slices (lower.ts).
import type { Graph } from './ir/types.ts';
import { printGraph } from './ir/print.ts';
import {
  APPLY_STEP,
  EVAL,
  gradients,
  microStep,
  PIPELINES,
  runPipeline,
  training,
  type PassLog,
  type PipelineName,
  type TrainingOptions,
} from './pipeline.ts';
import { LoweringError, lowerEntries, lowerToProgram, type LowerOptions } from './codegen/lower.ts';
import type { DeviceLimits } from './codegen/limits.ts';
import { rebatch } from './codegen/batch.ts';
import type { Program } from '../runtime/program.ts';

export interface CompileOptions extends LowerOptions {
  /** The device's limits (default: WebGPU's guaranteed minimums). */
  readonly limits?: DeviceLimits;
  /** 'inference' (default: fused and folded) or 'none' (one kernel per op, the unoptimised baseline). */
  readonly mode?: PipelineName;
  /** Run the verifier after every pass (tests). Default: when DEBUG ≥ 2. */
  readonly verify?: boolean;
  /** Compile for a smaller batch when the whole one does not fit the device (default true). */
  readonly chunk?: boolean;
}

export interface Compiled {
  readonly program: Program;
  /** The graph after the passes, at the batch the program runs. */
  readonly graph: Graph;
  /** What each pass changed. */
  readonly log: readonly PassLog[];
  /** The batch the program runs at once: the graph's batch, or less when it does not fit the device. */
  readonly chunk: number;
}

export { LoweringError };

export interface TrainCompileOptions extends TrainingOptions {
  readonly limits?: DeviceLimits;
  readonly tuning?: Readonly<Record<string, number>>;
  readonly verify?: boolean;
  /** Only the gradients (`fcnc run --grads`): one train-mode forward and backward, no optimizer. */
  readonly gradientsOnly?: boolean;
  /**
   * Gradient accumulation: compile the step for micro-batches of this many samples (less than the graph's batch,
   * which it must divide); the program then has `grad_step` and `apply_step` instead of `train_step`.
   */
  readonly microBatch?: number;
}

export interface TrainCompiled {
  readonly program: Program;
  /** The training step's graph after its passes. */
  readonly graph: Graph;
  readonly log: readonly PassLog[];
}

/**
 * A training program: the entry `train_step` (image, labels and hyper-parameters in; the loss terms out; parameters,
 * running statistics and momentum updated on the device) and `forward` (evaluation with the running statistics),
 * over the same parameter buffers. With `gradientsOnly`, one entry `train_step` whose outputs are the losses, every
 * gradient and the new running statistics, and nothing is updated.
 */
export function compileTraining(g: Graph, opts: TrainCompileOptions = {}): TrainCompiled {
  const limits = opts.limits ?? {};
  const debug = Number(process.env.DEBUG) || 0;
  const pipelineOpts = {
    verify: opts.verify,
    ...(debug >= 2
      ? {
          onPass: (p: { name: string }, x: Graph) =>
            process.stderr.write(`[fcnc] after ${p.name}:\n${printGraph(x)}`),
        }
      : {}),
  };
  const batch = g.nodes[g.inputs[0]!.node]!.shape[0]!;
  if (opts.microBatch !== undefined && opts.microBatch < batch && !opts.gradientsOnly) {
    if (batch % opts.microBatch !== 0)
      throw new Error(`a micro-batch of ${opts.microBatch} does not divide the batch of ${batch}`);
    const micro = runPipeline(rebatch(g, opts.microBatch), microStep(opts), { limits }, pipelineOpts);
    const apply = runPipeline(micro.graph, APPLY_STEP, { limits }, pipelineOpts);
    const evalGraph = runPipeline(rebatch(g, opts.microBatch), EVAL, { limits }, pipelineOpts).graph;
    const program = lowerEntries(
      [
        { name: 'grad_step', graph: micro.graph },
        { name: 'apply_step', graph: apply.graph },
        { name: 'forward', graph: evalGraph },
      ],
      limits,
      opts,
    );
    return { program, graph: micro.graph, log: [...micro.log, ...apply.log] };
  }
  const passes = opts.gradientsOnly ? gradients(opts) : training(opts);
  const { graph, log } = runPipeline(g, passes, { limits }, pipelineOpts);
  if (opts.gradientsOnly) {
    const { updates: _u, ...rest } = graph;
    void _u;
    return { program: lowerEntries([{ name: 'train_step', graph: rest }], limits, opts), graph, log };
  }
  const evalGraph = runPipeline({ ...g, outputs: g.outputs }, EVAL, { limits }, pipelineOpts).graph;
  const program = lowerEntries(
    [
      { name: 'train_step', graph },
      { name: 'forward', graph: evalGraph },
    ],
    limits,
    opts,
  );
  return { program, graph, log };
}

export function compile(g: Graph, opts: CompileOptions = {}): Compiled {
  const limits = opts.limits ?? {};
  const passes = PIPELINES[opts.mode ?? 'inference'];
  const batch = g.inputs.length ? g.nodes[g.inputs[0]!.node]!.shape[0]! : 1;
  const once = (graph: Graph, chunk: number): Compiled => {
    const debug = Number(process.env.DEBUG) || 0;
    const { graph: out, log } = runPipeline(
      graph,
      passes,
      { limits },
      {
        verify: opts.verify,
        ...(debug >= 2
          ? { onPass: (p, g) => process.stderr.write(`[fcnc] after ${p.name}:\n${printGraph(g)}`) }
          : {}),
      },
    );
    return { program: lowerToProgram(out, limits, opts), graph: out, log, chunk };
  };
  if (opts.chunk === false) return once(g, batch);
  let firstError: unknown;
  for (let chunk = batch; chunk >= 1; chunk = chunk === 1 ? 0 : Math.ceil(chunk / 2)) {
    try {
      return once(chunk === batch ? g : rebatch(g, chunk), chunk);
    } catch (e) {
      if (!(e instanceof LoweringError) || !/maxStorageBufferBindingSize/.test(e.message)) throw e;
      firstError ??= e;
      if (chunk === 1) break;
    }
  }
  throw new LoweringError(`${(firstError as Error).message} (even at batch 1)`);
}
