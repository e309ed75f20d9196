// `fcnc train SPEC --data ROOT`: trains a network on a dataset with the official protocol (reference §5): the
// spec compiled into a training program for the device at hand (gradient accumulation when a batch does not fit),
// the official augmentation in worker threads, SGD with the poly schedule, evaluation (pixAcc, mIoU) after each
// epoch, checkpoints in the official format (the last and the best), a JSONL log and curves, `--resume`.
// The generated `train.ts` of `fcnc compile` runs this same code.
import { Option, type Command } from 'commander';
import cliProgress from 'cli-progress';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { compileTraining, LoweringError, type TrainCompiled } from '../../compile.ts';
import type { Graph } from '../../ir/types.ts';
import { tuningFor } from '../../../runtime/tuning.ts';
import type { OpenedDevice, AdapterChoice } from '../../../runtime/device.ts';
import { GpuError } from '../../../runtime/execute.ts';
import type { ParamData } from '../../../runtime/params.ts';
import { openDataset, type DataFormat, DATA_FORMATS } from '../../../runtime/data/datasets.ts';
import { DataError } from '../../../runtime/data/errors.ts';
import { Loader } from '../../../runtime/data/loader.ts';
import { startWeights } from '../../../runtime/train/start.ts';
import { Trainer } from '../../../runtime/train/trainer.ts';
import { TrainLog } from '../../../runtime/train/log.ts';
import {
  readCheckpoint,
  writeCheckpoint,
  type TrainingCheckpoint,
} from '../../../runtime/weights/checkpoint.ts';
import type { HostTensor, StateDict } from '../../../runtime/weights/tensor.ts';
import {
  adapterOption,
  build,
  defaultIo,
  parsePositiveInt,
  parsePositiveNumber,
  parseNonNegativeInt,
  parseSetting,
  report,
  tuneOption,
  UsageError,
  type CommandContext,
  type Io,
  firstRunProgress,
} from '../options.ts';
import { chooseKernels, CommandError, open, paramSpecs, type Log } from '../shared.ts';
import type { TuneMode } from '../../../runtime/tune.ts';

/** Base learning rates of the official table for a batch of 16 (reference §5.2); scaled by batch/16. */
const BASE_LR: Readonly<Record<string, number>> = { pcontext: 0.001, ade20k: 0.01, folder: 0.01 };
/** Official epochs (reference §5.2). */
const EPOCHS: Readonly<Record<string, number>> = { pcontext: 80, ade20k: 120, folder: 50 };

export interface TrainOptions {
  data: string;
  format?: DataFormat;
  crop: number;
  base?: number;
  batch: number;
  epochs?: number;
  iterations?: number;
  lr?: number;
  seed: number;
  checkpointDir?: string;
  checkpointEvery?: number;
  resume?: boolean;
  evalEvery: number;
  logDir?: string;
  weights?: string;
  augment: boolean;
  /** false (`--no-shuffle`): every epoch in dataset order. */
  shuffle: boolean;
  maxBatch?: number;
  workers?: number;
  skipBad?: boolean;
  dropout: 'on' | 'off';
  /** How kernels are chosen (`--tune`; default cached): the forward convs and their gradients. */
  tune?: TuneMode;
  adapter?: AdapterChoice;
  set?: Record<string, number | boolean | string | number[]>;
  model?: string;
  /** Stop after this many iterations of this run (tests: a run interrupted on purpose). */
  stopAfter?: number;
  quiet?: boolean;
}

export function register(program: Command, { io, fail }: CommandContext): void {
  program
    .command('train')
    .description(
      'train a network on a dataset (official protocol: augmentation, SGD + poly schedule, pixAcc/mIoU after each epoch, checkpoints, --resume)',
    )
    .argument('<spec>', '.fcn spec file')
    .requiredOption(
      '--data <root>',
      'dataset root (ADE20K layout, PASCAL Context, or a folder of pairs; see docs/data.md)',
    )
    .addOption(
      new Option('--format <format>', 'dataset format (default: detected)').choices([...DATA_FORMATS]),
    )
    .addOption(
      new Option('--crop <n>', 'crop size (official 480)').argParser(parsePositiveInt('--crop')).default(480),
    )
    .addOption(
      new Option('--base <n>', 'base size of the random rescale (default crop·13/12: 520 for 480)').argParser(
        parsePositiveInt('--base'),
      ),
    )
    .addOption(
      new Option('--batch <n>', 'images per optimizer step (official 16)')
        .argParser(parsePositiveInt('--batch'))
        .default(16),
    )
    .addOption(
      new Option('--epochs <n>', "epochs (default: the dataset's official count)").argParser(
        parsePositiveInt('--epochs'),
      ),
    )
    .addOption(
      new Option('--iterations <n>', 'optimizer steps in all (instead of --epochs)').argParser(
        parsePositiveInt('--iterations'),
      ),
    )
    .addOption(
      new Option(
        '--lr <x>',
        'base learning rate (default: official per dataset × batch/16); jpu, head and auxlayer get 10×',
      ).argParser(parsePositiveNumber('--lr')),
    )
    .addOption(
      new Option('--seed <n>', 'seed of the data order, augmentation, dropout and initialisation')
        .argParser(parseNonNegativeInt('--seed'))
        .default(1),
    )
    .option('--checkpoint-dir <dir>', 'where checkpoints go (default runs/<model>)')
    .addOption(
      new Option(
        '--checkpoint-every <n>',
        'also write a checkpoint every n iterations (default: each epoch)',
      ).argParser(parsePositiveInt('--checkpoint-every')),
    )
    .option(
      '--resume',
      'continue from <checkpoint-dir>/checkpoint.pth.tar (bit-identical to an uninterrupted run)',
    )
    .addOption(
      new Option('--eval-every <n>', 'evaluate on the val split every n epochs (0: never)')
        .argParser(parseNonNegativeInt('--eval-every'))
        .default(1),
    )
    .option('--log-dir <dir>', 'where log.jsonl and curves.png go (default: the checkpoint dir)')
    .option(
      '--weights <file>',
      'start from these weights: an official checkpoint, a backbone only, …; matching tensors load, the others are initialised and listed',
    )
    .option(
      '--no-augment',
      'no augmentation: the validation transform (resize, centre crop) for training too',
    )
    .option(
      '--no-shuffle',
      'every epoch in dataset order (the same batches each epoch, e.g. to compare with another framework)',
    )
    .addOption(
      new Option(
        '--max-batch <n>',
        'at most n images per device call: larger batches accumulate gradients',
      ).argParser(parsePositiveInt('--max-batch')),
    )
    .addOption(
      new Option('--workers <n>', 'data worker threads (default min(4, cpus))').argParser(
        parseNonNegativeInt('--workers'),
      ),
    )
    .option('--skip-bad', 'skip unreadable or invalid samples (counted in the log) instead of stopping')
    .addOption(
      new Option('--dropout <mode>', 'dropout as in training, or off').choices(['on', 'off']).default('on'),
    )
    .addOption(adapterOption())
    .addOption(tuneOption())
    .addOption(
      new Option('--set <name=value>', 'set a model parameter (repeatable), e.g. --set width=16').argParser(
        parseSetting,
      ),
    )
    .option('--model <name>', 'the model to build when the spec has several')
    .addOption(
      new Option('--stop-after <n>', 'stop (with a checkpoint) after n iterations of this run')
        .argParser(parsePositiveInt('--stop-after'))
        .hideHelp(),
    )
    .action(async (spec: string, o: TrainOptions) => {
      const ok = await train(spec, o, io);
      if (!ok) fail();
    });
}

/** Runs a training; false when the spec had errors (reported). Errors in data, weights or the device throw. */
export async function train(spec: string, o: TrainOptions, io: Io = defaultIo): Promise<boolean> {
  if (o.epochs && o.iterations) throw new UsageError('give --epochs or --iterations, not both');
  if (o.resume && o.weights)
    throw new UsageError(
      '--resume continues from the checkpoint; --weights starts a new run: give one of them',
    );
  const trainSet = openDataset(o.data, { format: o.format, split: 'train' });
  const valSet = o.evalEvery > 0 ? openDataset(o.data, { format: trainSet.format, split: 'val' }) : undefined;
  const classes = trainSet.classes.length;
  const r = build(spec, {
    set: { ...(o.set ?? {}), classes },
    size: { height: o.crop, width: o.crop },
    batch: o.batch,
    model: o.model,
  });
  report(io, r);
  if (!r.graph) return false;
  const g = r.graph;
  const ckptDir = resolve(o.checkpointDir ?? join('runs', g.model));
  const logDir = resolve(o.logDir ?? ckptDir);
  mkdirSync(ckptDir, { recursive: true });
  const lastPath = join(ckptDir, 'checkpoint.pth.tar');
  const bestPath = join(ckptDir, 'model_best.pth.tar');
  if (o.resume && !existsSync(lastPath))
    throw new CommandError(
      `--resume: no checkpoint at ${lastPath} (run without --resume to start, or give --checkpoint-dir)`,
    );
  if (!o.resume && existsSync(lastPath))
    throw new CommandError(
      `${lastPath} exists: pass --resume to continue that run, or another --checkpoint-dir to start a new one`,
    );

  const loader = new Loader(trainSet, {
    batch: o.batch,
    crop: o.crop,
    base: o.base,
    seed: o.seed,
    augment: o.augment,
    shuffle: o.shuffle,
    workers: o.workers,
    skipBad: o.skipBad,
  });
  const itersPerEpoch = loader.itersPerEpoch;
  const total = o.iterations ?? (o.epochs ?? EPOCHS[trainSet.format] ?? 50) * itersPerEpoch;
  const epochs = Math.ceil(total / itersPerEpoch);
  const baseLr = o.lr ?? ((BASE_LR[trainSet.format] ?? 0.01) * o.batch) / 16;
  const say = (line: string): void => {
    if (!o.quiet) io.err(line + '\n');
  };

  const log = new TrainLog(logDir, { resume: !!o.resume });
  const dev = await open(o.adapter, { info: say });
  let trainer: Trainer | undefined;
  let valLoader: Loader | undefined;
  try {
    // Weights: a checkpoint to resume, given weights, or the seeded initialisation.
    let ckpt: TrainingCheckpoint | undefined;
    let params: Map<string, ParamData>;
    if (o.resume) {
      ckpt = await readCheckpoint(lastPath);
      checkResumable(
        ckpt,
        {
          spec: g.file,
          model: g.model,
          batch: o.batch,
          crop: o.crop,
          seed: o.seed,
          total,
          baseLr,
          classes,
          augment: o.augment,
          shuffle: o.shuffle,
        },
        lastPath,
      );
      params = new Map<string, ParamData>();
      for (const [k, t] of ckpt.stateDict)
        params.set(
          k,
          t.dtype === 'i64' ? (t.data as BigInt64Array) : Float32Array.from(t.data as ArrayLike<number>),
        );
      say(
        `resuming ${lastPath} at iteration ${ckpt.iteration} of ${total} (epoch ${Math.floor(ckpt.iteration / itersPerEpoch) + 1})`,
      );
    } else {
      const w = await startWeights(paramSpecs(g), { weights: o.weights, seed: o.seed });
      params = w.params;
      say(w.source);
      if (o.weights && w.initialised.length)
        say(`  initialised (not in the file or another shape): ${list(w.initialised)}`);
      if (w.ignored.length) say(`  ignored (not in this model): ${list(w.ignored)}`);
      log.note({
        event: 'start',
        weights: o.weights ?? null,
        loaded: w.loaded.length,
        initialised: w.initialised,
        ignored: w.ignored,
      });
    }

    // Kernels: on --resume exactly those the run started with (recorded in its checkpoints), so that it continues
    // bit for bit whatever the tuning cache learnt meanwhile; else as --tune says.
    const started = ckpt ? kernelsOf(ckpt) : undefined;
    if (started) say(`kernels: as the run started (${tunedProblems(started)} tuned problems)`);
    const { compiled, micro } = started
      ? compileTrainingFor(g, dev, { maxBatch: o.maxBatch, dropout: o.dropout === 'on', tuning: started })
      : await compileTrainingTuned(
          g,
          dev,
          { maxBatch: o.maxBatch, dropout: o.dropout === 'on', tune: o.tune ?? 'cached' },
          { info: say },
          io,
        );
    say(
      `${g.model}: ${classes} classes (${trainSet.format}, ${trainSet.samples.length} training images${valSet ? `, ${valSet.samples.length} val` : ''}), ` +
        `batch ${o.batch}${micro < o.batch ? ` as ${o.batch / micro} micro-batches of ${micro} (gradient accumulation)` : ''}, crop ${o.crop}, ` +
        `${total} iterations (${epochs} epochs of ${itersPerEpoch}), lr ${baseLr} (×10 for jpu/head/auxlayer), poly 0.9`,
    );
    trainer = await createTrainer(dev, compiled, params, { seed: o.seed, baseLr, iterations: total });
    let best = { pred: -1, mIoU: -1, pixAcc: -1 };
    if (ckpt) {
      const m = new Map<string, Float32Array>();
      for (const [k, t] of ckpt.momentum) m.set(k, Float32Array.from(t.data as ArrayLike<number>));
      await trainer.restore(m, ckpt.iteration);
      best = {
        pred: ckpt.bestPred,
        mIoU: num(ckpt.extra.best_miou, -1),
        pixAcc: num(ckpt.extra.best_pixacc, -1),
      };
      log.truncateAfter(ckpt.iteration);
      log.note({ event: 'resumed', iteration: ckpt.iteration });
    } else
      log.note({
        event: 'config',
        spec: g.file,
        model: g.model,
        settings: g.settings,
        batch: o.batch,
        micro,
        crop: o.crop,
        base: loader.base,
        lr: baseLr,
        iterations: total,
        epochs,
        seed: o.seed,
        augment: o.augment,
        shuffle: o.shuffle,
        adapter: dev.description,
      });

    const checkpoint = async (path: string, epochsDone: number): Promise<void> => {
      const t = await toCheckpoint(trainer!, g, {
        epoch: epochsDone,
        bestPred: best.pred,
        lr: baseLr,
        extra: {
          spec: g.file,
          model: g.model,
          batch: o.batch,
          crop: o.crop,
          seed: o.seed,
          iterations: total,
          base_lr: baseLr,
          classes,
          augment: o.augment,
          shuffle: o.shuffle,
          best_miou: best.mIoU,
          best_pixacc: best.pixAcc,
          skipped: loader.skipped.length,
          // The kernel choices of the program (its tuning record): what --resume compiles with.
          kernels: JSON.stringify(compiled.program.tuning),
        },
      });
      await writeCheckpoint(path, t);
    };

    // Ctrl-C: finish the step, write a checkpoint, exit. A second one stops at once.
    let stop = false;
    const onSignal = (): void => {
      if (stop) process.exit(130);
      stop = true;
      say('\nstopping after this step (Ctrl-C again to quit at once)…');
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const bar = progress(io, total, !!o.quiet);
    let doneThisRun = 0;
    let stoppedEarly = false;
    try {
      const start = trainer.iteration;
      bar.start(start);
      let lastTime = performance.now();
      for (
        let epoch = Math.floor(start / itersPerEpoch);
        epoch < epochs && trainer.iteration < total;
        epoch++
      ) {
        const from = trainer.iteration - epoch * itersPerEpoch;
        for await (const batch of loader.batches(epoch, from)) {
          const { losses, lr } = await trainer.step(batch);
          const now = performance.now();
          const ips = (o.batch * 1000) / (now - lastTime);
          lastTime = now;
          doneThisRun++;
          const it = trainer.iteration;
          if (!Number.isFinite(losses.loss!))
            throw new CommandError(
              `the loss became ${losses.loss} at iteration ${it}: the learning rate ${lr.toPrecision(3)} is too high for this run (lower --lr), or the weights are broken`,
            );
          log.step({
            iteration: it,
            epoch: epoch + 1,
            lr,
            losses,
            imagesPerSecond: ips,
            time: Date.now() / 1000,
          });
          bar.update(it, losses, lr, ips);
          const stopHere = stop || (o.stopAfter !== undefined && doneThisRun >= o.stopAfter);
          if (stopHere || (o.checkpointEvery && it % o.checkpointEvery === 0))
            await checkpoint(lastPath, Math.floor(it / itersPerEpoch));
          if (stopHere) {
            stoppedEarly = true;
            break;
          }
          if (it >= total) break;
        }
        if (stoppedEarly) break;
        const epochsDone = epoch + 1;
        const last = trainer.iteration >= total;
        if (valSet && o.evalEvery > 0 && (epochsDone % o.evalEvery === 0 || last)) {
          bar.pause();
          valLoader ??= new Loader(valSet, {
            batch: trainer.evalBatch,
            crop: o.crop,
            augment: false,
            shuffle: false,
            dropLast: false,
            workers: o.workers,
            skipBad: o.skipBad,
          });
          const m = await trainer.evaluate(valLoader.batches(0), classes);
          const pred = (m.pixAcc + m.mIoU) / 2;
          const isBest = pred > best.pred;
          if (isBest) best = { pred, mIoU: m.mIoU, pixAcc: m.pixAcc };
          log.eval({
            iteration: trainer.iteration,
            epoch: epochsDone,
            pixAcc: m.pixAcc,
            mIoU: m.mIoU,
            perClassIoU: m.iou,
          });
          say(
            `epoch ${epochsDone}: pixAcc ${(100 * m.pixAcc).toFixed(2)} %, mIoU ${(100 * m.mIoU).toFixed(2)} %${isBest ? ' (best)' : ''}`,
          );
          await checkpoint(lastPath, epochsDone);
          if (isBest) await checkpoint(bestPath, epochsDone);
          bar.resume();
        } else await checkpoint(lastPath, epochsDone);
        lastTime = performance.now(); // img/s counts training, not the evaluation and checkpoints between epochs
      }
    } finally {
      bar.stop();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    if (loader.skipped.length) log.note({ event: 'skipped', samples: loader.skipped });
    const png = await log.plot();
    const s = loader.stats();
    log.note({
      event: stoppedEarly ? 'stopped' : 'finished',
      iteration: trainer.iteration,
      loaderWaitMs: s.waitMs,
      elapsedMs: s.elapsedMs,
    });
    say(
      `${stoppedEarly ? 'stopped' : 'finished'} at iteration ${trainer.iteration} of ${total}; checkpoint ${lastPath}${best.pred >= 0 ? `, best ${bestPath} (mIoU ${(100 * best.mIoU).toFixed(2)} %)` : ''}; curves ${png}` +
        (loader.skipped.length ? `; ${loader.skipped.length} bad samples skipped (see the log)` : ''),
    );
    return true;
  } catch (e) {
    if (e instanceof DataError)
      throw new CommandError(
        `${e.message}${existsSync(lastPath) ? `\nthe last checkpoint (${lastPath}) is intact` : ''} (or pass --skip-bad to skip bad samples)`,
      );
    throw e;
  } finally {
    trainer?.destroy();
    await loader.close();
    await valLoader?.close();
    log.close();
    dev.destroy();
  }
}

const list = (xs: readonly string[]): string =>
  xs.length > 8 ? `${xs.slice(0, 8).join(', ')}, … (${xs.length} in all)` : xs.join(', ');
const num = (v: unknown, d: number): number => (typeof v === 'number' ? v : d);

/**
 * The training program for this device: the whole batch in one step when it fits, else micro-batches (the largest
 * divisor of the batch that fits, or at most --max-batch) with gradient accumulation. Kernels: `o.tuning`, else the
 * adapter's fixed defaults.
 */
export function compileTrainingFor(
  g: Graph,
  dev: Pick<OpenedDevice, 'limits' | 'adapterInfo'>,
  o: { maxBatch?: number; dropout: boolean; tuning?: Readonly<Record<string, number>> },
): { compiled: TrainCompiled; micro: number } {
  const batch = g.nodes[g.inputs[0]!.node]!.shape[0]!;
  const divisors = [...Array(batch).keys()]
    .map((k) => batch - k)
    .filter((d) => batch % d === 0 && d <= (o.maxBatch ?? batch));
  let firstError: unknown;
  for (const micro of divisors) {
    try {
      const compiled = compileTraining(g, {
        limits: dev.limits,
        tuning: o.tuning ?? tuningFor(dev),
        dropout: o.dropout,
        ...(micro < batch ? { microBatch: micro } : {}),
      });
      return { compiled, micro };
    } catch (e) {
      if (!(e instanceof LoweringError) || !/maxStorageBufferBindingSize|maxBufferSize/.test(e.message))
        throw e;
      firstError ??= e;
    }
  }
  throw new CommandError(
    `${(firstError as Error).message} — even one image per step does not fit this device: use a smaller --crop`,
  );
}

/**
 * `compileTrainingFor` with kernels chosen as `--tune` says (`chooseKernels` on the training step's graph: its
 * forward convs and their input and weight gradients): compiled with the adapter's defaults, then, unless the
 * choices are the defaults, again with them at the micro-batch the first found.
 */
export async function compileTrainingTuned(
  g: Graph,
  dev: OpenedDevice,
  o: { maxBatch?: number; dropout: boolean; tune: TuneMode },
  log: Log,
  io: Io = defaultIo,
): Promise<{ compiled: TrainCompiled; micro: number }> {
  const base = tuningFor(dev);
  const first = compileTrainingFor(g, dev, { ...o, tuning: base });
  const tuning = await chooseKernels(first.compiled.graph, dev, o.tune, base, log, io);
  return tuning ? compileTrainingFor(g, dev, { ...o, maxBatch: first.micro, tuning }) : first;
}

async function createTrainer(
  dev: OpenedDevice,
  c: { compiled: TrainCompiled } | TrainCompiled,
  params: ReadonlyMap<string, ParamData>,
  opts: { seed: number; baseLr: number; iterations: number },
): Promise<Trainer> {
  const compiled = 'compiled' in c ? c.compiled : c;
  try {
    return await Trainer.create(dev, compiled.program, params, {
      ...opts,
      onFirstRun: firstRunProgress(defaultIo),
    });
  } catch (e) {
    if (e instanceof GpuError && /memory/i.test(e.message))
      throw new CommandError(
        `${e.message}: the training step does not fit the device's memory; try --max-batch with a smaller value, or a smaller --crop`,
      );
    throw e;
  }
}

/** The checkpoint of the trainer's current state, in the official format with fcnc's extra entries. */
async function toCheckpoint(
  t: Trainer,
  g: Graph,
  o: { epoch: number; bestPred: number; lr: number; extra: TrainingCheckpoint['extra'] },
): Promise<TrainingCheckpoint> {
  const params = await t.stateDict();
  const stateDict: StateDict = new Map();
  for (const p of g.params) {
    const v = params.get(p.name);
    if (!v) continue;
    stateDict.set(
      p.name,
      (v instanceof BigInt64Array
        ? { dtype: 'i64', shape: [...p.shape], data: v }
        : { dtype: 'f32', shape: [...p.shape], data: v }) as HostTensor,
    );
  }
  const momentum = new Map<string, HostTensor>();
  for (const [name, m] of await t.momentum()) {
    const p = g.params.find((q) => q.name === name)!;
    momentum.set(name, { dtype: 'f32', shape: [...p.shape], data: m });
  }
  // The official parameter groups: the backbone at the learning rate, jpu, head and auxlayer at 10×.
  const trainable = g.params.filter((p) => p.trainable && p.dtype === 'f32').map((p) => p.name);
  const groups = ['pretrained', 'jpu', 'head', 'auxlayer']
    .map((prefix) => ({ prefix, params: trainable.filter((n) => n.startsWith(`${prefix}.`)) }))
    .filter((x) => x.params.length);
  const other = trainable.filter((n) => !groups.some((x) => n.startsWith(`${x.prefix}.`)));
  const lrNow = t.currentLr();
  return {
    epoch: o.epoch,
    iteration: t.iteration,
    stateDict,
    momentum,
    paramGroups: [
      ...groups.map((x) => ({ lr: x.prefix === 'pretrained' ? lrNow : 10 * lrNow, params: x.params })),
      ...(other.length ? [{ lr: lrNow, params: other }] : []),
    ],
    bestPred: o.bestPred,
    extra: o.extra,
  };
}

/** The kernel choices a run's checkpoint records (`kernels`), if it records any that parse. */
function kernelsOf(c: TrainingCheckpoint): Readonly<Record<string, number>> | undefined {
  if (typeof c.extra.kernels !== 'string') return undefined;
  try {
    const t: unknown = JSON.parse(c.extra.kernels);
    if (
      typeof t === 'object' &&
      t !== null &&
      !Array.isArray(t) &&
      Object.values(t).every((v) => typeof v === 'number' && Number.isFinite(v))
    )
      return t as Record<string, number>;
  } catch {
    // Not JSON: chosen again as --tune says.
  }
  return undefined;
}

const tunedProblems = (t: Readonly<Record<string, number>>): number =>
  new Set(Object.keys(t).flatMap((k) => (k.includes('@') ? [k.slice(k.indexOf('@') + 1)] : []))).size;

/** A checkpoint must continue the same run: same spec, batch, crop, seed, schedule and classes. */
function checkResumable(
  c: TrainingCheckpoint,
  want: {
    spec: string;
    model: string;
    batch: number;
    crop: number;
    seed: number;
    total: number;
    baseLr: number;
    classes: number;
    augment: boolean;
    shuffle: boolean;
  },
  path: string,
): void {
  if (c.origin !== 'fcnc')
    throw new CommandError(
      `${path} was not written by fcnc train (no run state in it): start from it with --weights instead of --resume`,
    );
  const have: Record<string, unknown> = {
    model: c.extra.model,
    batch: c.extra.batch,
    crop: c.extra.crop,
    seed: c.extra.seed,
    iterations: c.extra.iterations,
    'base lr': c.extra.base_lr,
    classes: c.extra.classes,
    // Absent in checkpoints written before these options were recorded: the defaults then.
    augment: c.extra.augment ?? true,
    shuffle: c.extra.shuffle ?? true,
  };
  const wanted: Record<string, unknown> = {
    model: want.model,
    batch: want.batch,
    crop: want.crop,
    seed: want.seed,
    iterations: want.total,
    'base lr': want.baseLr,
    classes: want.classes,
    augment: want.augment,
    shuffle: want.shuffle,
  };
  const diff = Object.keys(wanted).filter((k) => have[k] !== wanted[k]);
  if (diff.length)
    throw new CommandError(
      `${path} belongs to another run: ${diff.map((k) => `${k} ${String(have[k])} there, ${String(wanted[k])} now`).join('; ')} — resume with the same options, or start a new run in another --checkpoint-dir`,
    );
}

/** The progress bar of a training run: iteration, loss terms, learning rate, img/s, ETA. Plain lines when not a terminal. */
function progress(io: Io, total: number, quiet: boolean) {
  const tty = process.stderr.isTTY && io === defaultIo && !quiet;
  let bar: cliProgress.SingleBar | undefined;
  let last = 0;
  let at = 0;
  let payload: Record<string, string> = { losses: '', lr: '', ips: '' };
  return {
    start(from: number): void {
      at = from;
      if (!tty) return;
      bar = new cliProgress.SingleBar(
        {
          format: 'train [{bar}] {value}/{total} | {losses} | lr {lr} | {ips} img/s | eta {eta_formatted}',
          hideCursor: true,
          etaBuffer: 50,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(total, from, payload);
    },
    update(it: number, losses: Record<string, number>, lr: number, ips: number): void {
      at = it;
      payload = {
        losses: Object.entries(losses)
          .map(([k, v]) => `${k} ${v.toFixed(4)}`)
          .join(' '),
        lr: lr.toExponential(2),
        ips: ips.toFixed(2),
      };
      if (bar) bar.update(it, payload);
      else if (!quiet && (it - last >= Math.max(1, Math.floor(total / 20)) || it === total)) {
        io.err(`train ${it}/${total} | ${payload.losses} | lr ${payload.lr} | ${payload.ips} img/s\n`);
        last = it;
      }
    },
    pause(): void {
      bar?.stop();
    },
    resume(): void {
      if (bar) bar.start(total, at, payload);
    },
    stop(): void {
      bar?.stop();
    },
  };
}
