// `fcnc bench`: the paper's Table 2 on the adapter at hand. Each spec is compiled for the device (fused, kernels as
// --tune says; or its training step with --train), its session created and warmed up; then rounds of forwards (or
// training steps) run with the variants in alternation, A B C … A B C …, so that whatever else loads the machine
// falls on all alike. Per variant: images per second of each round (median, fastest, spread), the memory of its
// program, parameters and MACs as `fcnc info` counts them, and the speed-up against the dilated baseline of the same
// head and backbone beside the paper's ratio and the ratio of MACs. Text on stdout; markdown, JSON (schema:
// compiler/schemas/bench.schema.json) and a PNG bar chart on request. See docs/benchmarks.md.
import { Option, type Command } from 'commander';
import { cpus, platform } from 'node:os';
import { join } from 'node:path';
import { LoweringError } from '../../codegen/lower.ts';
import { numel, type Graph } from '../../ir/types.ts';
import { makeReport } from '../../report.ts';
import { validateBenchJson } from '../../schemas/validate.ts';
import {
  benchChart,
  benchMarkdown,
  compareVariants,
  formatBench,
  PAPER_SETTING,
  roundStats,
  SETTLE_TOLERANCE,
  sig,
  type BenchJson,
  type MeasuredVariant,
} from '../../../runtime/bench.ts';
import { openDevice, type AdapterChoice, type OpenedDevice } from '../../../runtime/device.ts';
import { GpuError, Session } from '../../../runtime/execute.ts';
import { loadParams } from '../../../runtime/params.ts';
import type { Program } from '../../../runtime/program.ts';
import { Trainer } from '../../../runtime/train/trainer.ts';
import type { TuneMode } from '../../../runtime/tune.ts';
import {
  adapterOption,
  build,
  graphOptions,
  parseNonNegativeInt,
  parsePositiveInt,
  report,
  seedOption,
  tuneOption,
  UsageError,
  type CommandContext,
  type GraphOptions,
  firstRunProgress,
  defaultIo,
} from '../options.ts';
import { CommandError, compileTuned, outputWriter, paramSpecs, type Log } from '../shared.ts';
import { compileTrainingTuned } from './train.ts';

export interface BenchOptions {
  /** Train steps instead of forwards. */
  readonly train?: boolean;
  /** Warm-up calls per variant before the rounds (default 10, as the paper). */
  readonly warmup?: number;
  /** Rounds (default 10). */
  readonly rounds?: number;
  /** Forwards (or steps) per round (default 10). */
  readonly forwards?: number;
  /**
   * After the warm-up, at most this many passes of one call per variant in alternation, until every variant's
   * time is within SETTLE_TOLERANCE of its previous pass (default 5; 0: none, and none without a warm-up).
   */
  readonly settle?: number;
  readonly adapter?: AdapterChoice;
  readonly tune?: TuneMode;
  readonly seed?: number;
  /** Model parameters set on the command line, for the record. */
  readonly settings?: BenchJson['settings'];
}

/** Deterministic numbers in [0, 1) (mulberry32). */
function uniform(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One variant ready to run: `call` runs one forward (or training step) of the whole batch without waiting for it. */
interface Runner {
  readonly graph: Graph;
  readonly program: Program;
  readonly chunk: number;
  call(): Promise<void>;
  destroy(): void;
}

const batchOf = (g: Graph): number => g.nodes[g.inputs[0]!.node]!.shape[0]!;
const sizeText = (g: Graph): string => {
  const s = g.nodes[g.inputs[0]!.node]!.shape;
  return `${s[2]}×${s[3]}, batch ${s[0]}`;
};

/** Compiles, loads and prepares one variant; a program or a session too large for the device is a CommandError. */
async function prepare(
  g: Graph,
  dev: OpenedDevice,
  o: BenchOptions,
  log: Log,
  random: () => number,
): Promise<Runner> {
  const batch = batchOf(g);
  const tooLarge = (e: Error): CommandError =>
    new CommandError(
      `${g.model} at ${sizeText(g)} does not fit the device (${dev.description.replace(/^using /, '')}): ${e.message}; try a smaller --size${o.train ? ' or --batch' : ''}`,
    );
  const { params } = await loadParams(paramSpecs(g), { seed: o.seed ?? 0 });
  if (o.train) {
    let compiled;
    try {
      compiled = await compileTrainingTuned(g, dev, { dropout: true, tune: o.tune ?? 'cached' }, log);
    } catch (e) {
      // compileTrainingFor's advice names `fcnc train`'s options; say it in bench's terms.
      if (e instanceof CommandError || e instanceof LoweringError)
        throw tooLarge(
          new Error(e.message.replace(/ — even one image per step .*$/, ' (even one image per step)')),
        );
      throw e;
    }
    const { program } = compiled.compiled;
    let trainer: Trainer;
    try {
      // Learning rate 0: the parameters stay as initialised while every kernel of the step (momentum and updates
      // included) runs, so no variant drifts into NaNs over the rounds.
      trainer = await Trainer.create(dev, program, params, {
        seed: o.seed ?? 0,
        baseLr: 0,
        iterations: 1_000_000,
        onFirstRun: firstRunProgress(defaultIo),
      });
    } catch (e) {
      if (e instanceof GpuError && /memory/i.test(e.message)) throw tooLarge(e);
      throw e;
    }
    const image = program.entries.forward.inputs[0]!;
    const perImage = numel(image.shape) / image.shape[0]!;
    const classes =
      typeof g.settings.classes === 'number'
        ? g.settings.classes
        : (g.nodes[g.outputs[0]!.node]!.shape[1] ?? 1);
    const data = {
      image: new Float32Array(batch * perImage).map(() => 2 * random() - 1),
      // Class ids, about 5% ignored (−1).
      labels: new Float32Array((batch * perImage) / image.shape[1]!).map(() =>
        random() < 0.05 ? -1 : Math.floor(random() * classes),
      ),
    };
    return {
      graph: g,
      program,
      chunk: compiled.micro,
      call: async () => void (await trainer.step(data)),
      destroy: () => trainer.destroy(),
    };
  }
  let compiled;
  try {
    compiled = await compileTuned(g, dev, o.tune ?? 'cached', log);
  } catch (e) {
    if (e instanceof LoweringError) throw tooLarge(e);
    throw e;
  }
  const { program, chunk } = compiled;
  let session: Session;
  try {
    session = await Session.create(dev, program, { onFirstRun: firstRunProgress(defaultIo) });
    await session.setParams(params);
  } catch (e) {
    if (e instanceof GpuError && /memory/i.test(e.message)) throw tooLarge(e);
    throw e;
  }
  const input = program.entries.forward.inputs[0]!;
  const image = new Float32Array(numel(input.shape)).map(() => 2 * random() - 1);
  const inputs = new Map([[input.name, image]]);
  const calls = Math.ceil(batch / chunk);
  return {
    graph: g,
    program,
    chunk,
    // As the paper's protocol: the image already prepared, nothing read back. A batch larger than the program's runs
    // as several calls (the last one padded, as runtime/chunks.ts does).
    call: async () => {
      for (let k = 0; k < calls; k++) await session.call('forward', inputs, { read: [] });
    },
    destroy: () => session.destroy(),
  };
}

/**
 * Passes of one call per variant in alternation, as the rounds will run them, until every variant's time is within
 * SETTLE_TOLERANCE of its previous pass (at least 2 passes, at most `maxPasses`). A warm-up of each variant alone
 * is not always enough: with a cold shader cache, llvmpipe was seen to compile again once the variants alternate
 * (a first round of 276–341 s against ~2 s), and that landed in the first timed round.
 */
export async function settleRunners(
  runners: readonly { call: () => Promise<unknown> }[],
  maxPasses: number,
  done: () => Promise<unknown>,
  log: Log,
  now: () => number = () => performance.now(),
): Promise<BenchJson['protocol']['settle']> {
  if (maxPasses <= 0 || !runners.length) return undefined;
  let prev: number[] | undefined;
  let spread = Infinity;
  for (let pass = 1; pass <= maxPasses; pass++) {
    const t: number[] = [];
    for (const r of runners) {
      const t0 = now();
      await r.call();
      await done();
      t.push(now() - t0);
    }
    if (prev) {
      const p = prev;
      spread = Math.max(...t.map((x, k) => Math.abs(x - p[k]!) / Math.min(x, p[k]!)));
      if (spread <= SETTLE_TOLERANCE) {
        log.info(
          `settled after ${pass} passes in alternation (times within ${pct(spread)} of the previous pass)`,
        );
        return { maxPasses, passes: pass, settled: true };
      }
    }
    prev = t;
  }
  log.info(
    `not settled after ${maxPasses} pass${maxPasses === 1 ? '' : 'es'} in alternation${Number.isFinite(spread) ? ` (times still moving by up to ${pct(spread)})` : ''}; measuring anyway`,
  );
  return { maxPasses, passes: maxPasses, settled: false };
}
const pct = (x: number): string => `${(100 * x).toFixed(x < 0.1 ? 1 : 0)} %`;

/**
 * Measures every graph on the adapter: compile and load all, warm each up, then rounds in alternation. The graphs
 * must share input size and batch.
 */
export async function benchGraphs(graphs: readonly Graph[], o: BenchOptions, log: Log): Promise<BenchJson> {
  const warmup = o.warmup ?? 10;
  const rounds = o.rounds ?? 10;
  const forwards = o.forwards ?? 10;
  const mode = o.train ? 'training' : 'inference';
  const first = graphs[0]!.nodes[graphs[0]!.inputs[0]!.node]!.shape;
  const dev = await openDevice({ adapter: o.adapter });
  log.info(dev.description);
  const runners: Runner[] = [];
  try {
    const random = uniform((o.seed ?? 0) + 1);
    for (const [k, g] of graphs.entries()) {
      log.info(
        `${o.train ? 'compiling the training step of' : 'compiling'} ${g.model} (${k + 1}/${graphs.length})`,
      );
      runners.push(await prepare(g, dev, o, log, random));
    }
    const done = (): Promise<undefined> => dev.device.queue.onSubmittedWorkDone();
    for (const r of runners) {
      log.info(
        `warming up ${r.graph.model}: ${warmup} ${o.train ? 'step' : 'forward'}${warmup === 1 ? '' : 's'}`,
      );
      for (let k = 0; k < warmup; k++) await r.call();
      await done();
    }
    const settle = await settleRunners(runners, warmup > 0 ? (o.settle ?? 5) : 0, done, log);
    const fps: number[][] = runners.map(() => []);
    const batch = first[0]!;
    for (let round = 0; round < rounds; round++) {
      for (const [k, r] of runners.entries()) {
        const t0 = performance.now();
        for (let f = 0; f < forwards; f++) await r.call();
        await done();
        const s = (performance.now() - t0) / 1000;
        fps[k]!.push((forwards * batch) / s);
      }
      log.info(
        `round ${round + 1}/${rounds}: ${runners.map((r, k) => `${r.graph.model} ${sig(fps[k]![round]!)}`).join(', ')} ${o.train ? 'img/s' : 'FPS'}`,
      );
    }
    const lost = dev.lostReason();
    if (lost) throw new GpuError(lost);
    const measured: MeasuredVariant[] = runners.map((r, k) => {
      const rep = makeReport(r.graph);
      const m = r.program.memory;
      const optimizerBytes = m.training?.optimizerBytes ?? 0;
      return {
        model: r.graph.model,
        file: r.graph.file,
        dispatches:
          r.program.entries[
            o.train ? (r.program.entries.train_step ? 'train_step' : 'grad_step') : 'forward'
          ]!.steps.length,
        chunk: r.chunk,
        fps: roundStats(fps[k]!),
        memory: {
          activationBytes: m.plannedBytes,
          paramBytes: m.paramBytes,
          optimizerBytes,
          totalBytes: m.plannedBytes + m.paramBytes + optimizerBytes,
        },
        params: rep.totals.params,
        macs: rep.totals.macs,
      };
    });
    const cpu = cpus();
    return {
      format: 'fcnc-bench',
      version: 1,
      mode,
      date: new Date().toISOString(),
      adapter: dev.description.replace(/^using /, ''),
      adapterKind: dev.kind,
      machine: {
        cpus: cpu.length,
        cpu: cpu[0]?.model.trim() ?? 'unknown',
        platform: `${platform()} ${process.arch}`,
      },
      size: { height: first[2]!, width: first[3]! },
      batch,
      settings: o.settings ?? {},
      tune: o.tune ?? 'cached',
      protocol: { warmup, rounds, forwards, ...(settle ? { settle } : {}) },
      paper: PAPER_SETTING,
      variants: compareVariants(measured, mode),
    };
  } finally {
    for (const r of runners) r.destroy();
    dev.destroy();
  }
}

export function register(program: Command, { io, fail }: CommandContext): void {
  graphOptions(
    program
      .command('bench')
      .description(
        "the paper's Table 2 on this adapter: FPS (or training img/s), memory, params and GMACs of each variant, measured in alternation; speed-ups against the dilated baseline, with a distribution-free interval of their paired rounds, beside the paper's and the MAC ratio",
      )
      .argument('<specs...>', '.fcn spec files (e.g. specs/enc_jpu_r50.fcn specs/enc_dilated_r50.fcn)')
      .option('--train', 'measure training steps (forward, losses, backward, SGD) instead of forwards')
      .addOption(
        new Option('--warmup <W>', 'warm-up forwards (or steps) per variant before the rounds')
          .default(10)
          .argParser(parseNonNegativeInt('--warmup')),
      )
      .addOption(
        new Option(
          '--runs <R>',
          'rounds; each variant runs once per round, in alternation (at least 5 for a verdict of the speed-up against its target)',
        )
          .default(10)
          .argParser(parsePositiveInt('--runs')),
      )
      .addOption(
        new Option(
          '--forwards <F>',
          'forwards (or training steps) per round; a round gives images / its time',
        )
          .default(10)
          .argParser(parsePositiveInt('--forwards')),
      )
      .addOption(
        new Option(
          '--settle <P>',
          "after the warm-up, at most P passes of one forward (or step) per variant in alternation, until every variant's time is within 10 % of its previous pass (0: none)",
        )
          .default(5)
          .argParser(parseNonNegativeInt('--settle')),
      )
      .addOption(adapterOption())
      .addOption(tuneOption())
      .addOption(seedOption())
      .option('--json <file>', 'write the results as JSON (schema: compiler/schemas/bench.schema.json)')
      .option('--md <file>', 'write the results as markdown')
      .option('--png <file>', 'write a bar chart: FPS per variant, speed-ups against the paper and the MACs')
      .option('-o, --out <dir>', 'write bench.txt, bench.md, bench.json and bench.png into this folder'),
  ).action(
    async (
      specs: string[],
      o: GraphOptions & {
        train?: boolean;
        warmup: number;
        runs: number;
        forwards: number;
        settle: number;
        adapter?: AdapterChoice;
        tune: TuneMode;
        seed: number;
        json?: string;
        md?: string;
        png?: string;
        out?: string;
      },
    ) => {
      // Training at batch 1 is degenerate (a batchnorm over one value per channel: the SE branch's BatchNorm1d
      // refuses it in PyTorch), so --train defaults to batch 2.
      const batch = o.batch ?? (o.train ? 2 : 1);
      const graphs: Graph[] = [];
      let failed = 0;
      for (const spec of specs) {
        const r = build(spec, { ...o, batch });
        report(io, r);
        if (r.graph) graphs.push(r.graph);
        else failed++;
      }
      if (failed) {
        io.err(
          `fcnc: ${failed} of ${specs.length} spec${specs.length === 1 ? ' has' : 's have'} errors; nothing was measured\n`,
        );
        fail();
        return;
      }
      const seen = new Map<string, string>();
      for (const g of graphs) {
        const prev = seen.get(g.model);
        if (prev !== undefined)
          throw new UsageError(`${g.model} is given twice (${prev} and ${g.file}); list each variant once`);
        seen.set(g.model, g.file);
        if (o.train && !g.losses.length)
          throw new UsageError(`${g.model} declares no loss, so it has no training step to measure`);
      }
      const log: Log = { info: (l) => io.err(l + '\n') };
      const settings = { ...(o.set ?? {}), ...(o.classes !== undefined ? { classes: o.classes } : {}) };
      const b = await benchGraphs(
        graphs,
        {
          train: o.train,
          warmup: o.warmup,
          rounds: o.runs,
          forwards: o.forwards,
          settle: o.settle,
          adapter: o.adapter,
          tune: o.tune,
          seed: o.seed,
          settings,
        },
        log,
      );
      const problems = validateBenchJson(b);
      if (problems) throw new Error(`internal: bench JSON does not match its schema: ${problems}`);
      const text = formatBench(b);
      io.out(text);
      const json = JSON.stringify(b, null, 2) + '\n';
      const { write, written } = outputWriter();
      const png = o.png || o.out ? await benchChart(b) : undefined;
      if (o.json) write(o.json, json);
      if (o.md) write(o.md, benchMarkdown(b));
      if (o.png) write(o.png, png!);
      if (o.out) {
        write(join(o.out, 'bench.txt'), text);
        write(join(o.out, 'bench.md'), benchMarkdown(b));
        write(join(o.out, 'bench.json'), json);
        write(join(o.out, 'bench.png'), png!);
      }
      if (written.length) io.err(`wrote ${written.join(', ')}\n`);
    },
  );
}
