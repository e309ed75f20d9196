// The training loop's device side: a training Program (compiler/compile.ts compileTraining) in a Session, one
// optimizer step at a time, evaluation with the running statistics, and the state a checkpoint holds. It knows
// Programs only — compiling is the caller's (compiler/cli/commands/train.ts).
//
// One step of batch B: `train_step` on the whole batch, or — gradient accumulation, when the program was compiled
// for micro-batches of b = B/k — `grad_step` on each micro-batch (hyper.micro = 0, 1, …, k − 1) and `apply_step`
// (hyper.micro = k: the mean gradient). The learning rate follows the official poly schedule per iteration
// (reference §5.2): lr(T) = base · (1 − T/N)^0.9; the ×10 of the head groups is compiled into the program.
import type { OpenedDevice } from '../device.ts';
import { Session, type FirstRunHook } from '../execute.ts';
import type { ParamData } from '../params.ts';
import type { Program } from '../program.ts';
import { argmaxChannels, SegmentationMetric } from './metrics.ts';

/** The `hyper` input's layout (compiler/ops/train.ts HYPER; the runtime reads only the Program). */
const HYPER = { lr: 0, step: 1, seed: 2, micro: 3 } as const;
const HYPER_SIZE = 4;

/** The official poly schedule: base · (1 − T/N)^power. */
export function polyLr(base: number, iteration: number, total: number, power = 0.9): number {
  return base * Math.pow(1 - Math.min(iteration, total) / total, power);
}

export interface Batch {
  /** [B, 3, H, W] normalised. */
  readonly image: Float32Array;
  /** [B, H, W] class indices, −1 ignored. */
  readonly labels: Float32Array;
}

export interface StepResult {
  /** `loss` and every `loss.<term>` (the mean over the micro-batches when accumulating). */
  readonly losses: Record<string, number>;
  readonly lr: number;
}

export class Trainer {
  /** Optimizer steps done (the poly schedule's T; the dropout masks' step). */
  iteration = 0;
  private readonly counters = new Map<string, bigint>();

  private constructor(
    readonly session: Session,
    readonly program: Program,
    /** Parameters the program does not keep on the device (unused layers, i64 counters): kept as loaded. */
    private readonly host: Map<string, ParamData>,
    readonly opts: { seed: number; baseLr: number; iterations: number },
  ) {
    for (const p of program.params)
      if (p.dtype === 'i64') {
        const v = host.get(p.name);
        this.counters.set(p.name, v instanceof BigInt64Array && v.length ? v[0]! : 0n);
      }
  }

  static async create(
    dev: OpenedDevice,
    program: Program,
    params: ReadonlyMap<string, ParamData>,
    opts: { seed: number; baseLr: number; iterations: number; onFirstRun?: FirstRunHook },
  ): Promise<Trainer> {
    if (!program.entries.train_step && !(program.entries.grad_step && program.entries.apply_step))
      throw new Error('not a training program: it has no train_step (or grad_step and apply_step) entry');
    const session = await Session.create(
      dev,
      program,
      opts.onFirstRun ? { onFirstRun: opts.onFirstRun } : {},
    );
    await session.setParams(params);
    const onDevice = new Set(program.params.filter((p) => p.buffer !== null).map((p) => p.name));
    const host = new Map([...params].filter(([k]) => !onDevice.has(k)));
    return new Trainer(session, program, host, opts);
  }

  /** The learning rate of the next step (the backbone's; head groups run at 10×). */
  currentLr(): number {
    return polyLr(this.opts.baseLr, this.iteration, this.opts.iterations);
  }

  /** Samples of one step's call: the batch (train_step) or the micro-batch (grad_step). */
  get microBatch(): number {
    const e = this.program.entries.train_step ?? this.program.entries.grad_step!;
    return e.inputs[0]!.shape[0]!;
  }

  /** Samples one `forward` call evaluates. */
  get evalBatch(): number {
    return this.program.entries.forward.inputs[0]!.shape[0]!;
  }

  /** One optimizer step on a batch of k·microBatch samples. */
  async step(batch: Batch): Promise<StepResult> {
    const b = this.microBatch;
    const image = this.program.entries.forward.inputs[0]!;
    const perImage = image.shape.slice(1).reduce((a, c) => a * c, 1);
    const perLabel = perImage / image.shape[1]!;
    const samples = batch.image.length / perImage;
    if (!Number.isInteger(samples) || samples % b !== 0 || batch.labels.length !== samples * perLabel)
      throw new Error(
        `a batch of ${batch.image.length} image values and ${batch.labels.length} labels does not fit a step of micro-batches of ${b} × [${image.shape.slice(1).join(', ')}]`,
      );
    const k = samples / b;
    const lr = polyLr(this.opts.baseLr, this.iteration, this.opts.iterations);
    const hyper = (micro: number): Float32Array => {
      const h = new Float32Array(HYPER_SIZE);
      h[HYPER.lr] = lr;
      h[HYPER.step] = this.iteration;
      h[HYPER.seed] = this.opts.seed;
      h[HYPER.micro] = micro;
      return h;
    };
    const imageName = image.name;
    const sums: Record<string, number> = {};
    const lossNames = (this.program.entries.train_step ?? this.program.entries.grad_step!).outputs
      .map((o) => o.name)
      .filter((n) => n === 'loss' || n.startsWith('loss.'));
    const run = async (entry: string, j: number, micro: number): Promise<void> => {
      const out = await this.session.call(
        entry,
        new Map([
          [imageName, batch.image.subarray(j * b * perImage, (j + 1) * b * perImage)],
          ['labels', batch.labels.subarray(j * b * perLabel, (j + 1) * b * perLabel)],
          ['hyper', hyper(micro)],
        ]),
        { read: lossNames },
      );
      for (const n of lossNames) sums[n] = (sums[n] ?? 0) + out.get(n)![0]! / k;
    };
    if (this.program.entries.train_step && k === 1) await run('train_step', 0, 0);
    else {
      if (!this.program.entries.grad_step)
        throw new Error(
          `this program steps on batches of ${b}; ${samples} samples need one compiled for micro-batches`,
        );
      for (let j = 0; j < k; j++) await run('grad_step', j, j);
      await this.session.call('apply_step', new Map([['hyper', hyper(k)]]), { read: [] });
    }
    // Each forward in train mode counts one batch in every batchnorm (PyTorch's num_batches_tracked).
    for (const [name, v] of this.counters) this.counters.set(name, v + BigInt(k));
    this.iteration++;
    return { losses: sums, lr };
  }

  /**
   * Evaluates batches with the running statistics: accumulates pixAcc and mIoU over all of them. Each batch holds
   * up to evalBatch samples (a short last batch is padded; its padding is not scored).
   */
  async evaluate(
    batches: AsyncIterable<Batch> | Iterable<Batch>,
    classes: number,
  ): Promise<ReturnType<SegmentationMetric['get']>> {
    const metric = new SegmentationMetric(classes);
    const fwd = this.program.entries.forward;
    const image = fwd.inputs[0]!;
    const logits = fwd.outputs[0]!;
    const perImage = image.shape.slice(1).reduce((a, c) => a * c, 1);
    const [, , h, w] = image.shape as [number, number, number, number];
    for await (const batch of batches) {
      const n = batch.image.length / perImage;
      const padded = new Float32Array(this.evalBatch * perImage);
      padded.set(batch.image);
      const out = await this.session.call('forward', new Map([[image.name, padded]]), {
        read: [logits.name],
      });
      const pred = argmaxChannels(out.get(logits.name)!, logits.shape);
      metric.update(pred.subarray(0, n * h * w), batch.labels);
    }
    return metric.get();
  }

  /** The full state dict as the host sees it now: device parameters, host ones, counters. */
  async stateDict(): Promise<Map<string, ParamData>> {
    const onDevice = await this.session.readParams();
    const out = new Map<string, ParamData>();
    for (const p of this.program.params) {
      if (p.dtype === 'i64') out.set(p.name, BigInt64Array.of(this.counters.get(p.name) ?? 0n));
      else {
        const v = onDevice.get(p.name) ?? this.host.get(p.name);
        if (v) out.set(p.name, v);
      }
    }
    return out;
  }

  /** Momentum buffers by parameter name. */
  async momentum(): Promise<Map<string, Float32Array>> {
    const state = await this.session.readState();
    const out = new Map<string, Float32Array>();
    for (const s of this.program.state ?? [])
      if (s.name.startsWith('momentum.')) out.set(s.of, state.get(s.name)!);
    return out;
  }

  /** Restores a checkpoint's momentum (by parameter name) and iteration; the weights go through Trainer.create. */
  async restore(momentum: ReadonlyMap<string, Float32Array>, iteration: number): Promise<void> {
    const slots = new Map<string, Float32Array>();
    for (const s of this.program.state ?? [])
      if (s.name.startsWith('momentum.') && momentum.has(s.of)) slots.set(s.name, momentum.get(s.of)!);
    await this.session.setState(slots);
    this.iteration = iteration;
  }

  destroy(): void {
    this.session.destroy();
  }
}
