// `fcnc profile`: compile a spec (fused, for the adapter at hand), run one entry (`forward` or a training step)
// several times and report every kernel: its time, the source nodes fused into it with their spec lines and
// module, FLOPs and bytes, GFLOP/s and GB/s against the adapter's measured peaks; totals by module and by op; the
// sum of the kernels against a whole measured call. Text on stdout, JSON (schema:
// compiler/schemas/profile.schema.json) and a PNG bar chart on request. See docs/profiling.md.
import { Option, type Command } from 'commander';
import { join } from 'node:path';
import { compileTraining } from '../../compile.ts';
import type { Graph } from '../../ir/types.ts';
import { HYPER, HYPER_SIZE } from '../../ops/train.ts';
import { moduleNamer, stepCosts } from '../../profile_cost.ts';
import { validateProfileJson } from '../../schemas/validate.ts';
import { openDevice, type AdapterChoice } from '../../../runtime/device.ts';
import { Session } from '../../../runtime/execute.ts';
import { loadParams } from '../../../runtime/params.ts';
import { measurePeak } from '../../../runtime/peak.ts';
import { formatProfile, profileSession, type Profile } from '../../../runtime/profile.ts';
import { profileChart } from '../../../runtime/profile_chart.ts';
import { tuningFor } from '../../../runtime/tuning.ts';
import {
  adapterOption,
  build,
  graphOptions,
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
import { chooseKernels, CommandError, compileTuned, outputWriter, paramSpecs, type Log } from '../shared.ts';
import type { TuneMode } from '../../../runtime/tune.ts';

/** Dawn rounds timestamps to ~65 µs unless this toggle is given (per-kernel times need better). */
export const TIMESTAMP_TOGGLE = 'disable-dawn-features=timestamp_quantization';

export type ProfileEntry = 'forward' | 'train_step';

export interface ProfileSpecOptions {
  readonly entry?: ProfileEntry;
  readonly runs?: number;
  readonly weights?: string;
  readonly seed?: number;
  readonly adapter?: AdapterChoice;
  /** How conv kernels are chosen for the forward (runtime/tune.ts; default 'cached'). */
  readonly tune?: TuneMode;
  /** 'auto' (default): timestamps where the adapter has them; 'timestamps': required; 'sync': wall time. */
  readonly method?: 'auto' | 'timestamps' | 'sync';
  /** Probe the adapter's peaks (default true). */
  readonly peak?: boolean;
}

/** The JSON form of a profile (compiler/schemas/profile.schema.json). */
export interface ProfileJson extends Profile {
  readonly format: 'fcnc-profile';
  readonly version: 1;
  readonly file: string;
  readonly settings: Graph['settings'];
  readonly inputs: readonly { readonly name: string; readonly shape: readonly number[] }[];
  /** The batch the program runs at once (less than the graph's when it does not fit the device). */
  readonly chunk: number;
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

/**
 * Compiles `g` for the adapter, profiles the entry and returns the profile with what it was measured on. A
 * training step runs on random labels (about 5% ignored) with learning rate 0, so the parameters stay as loaded
 * while every kernel of the step (momentum and updates included) still runs.
 */
export async function profileGraph(g: Graph, o: ProfileSpecOptions, log: Log): Promise<ProfileJson> {
  const entry = o.entry ?? 'forward';
  const { params, source } = await loadParams(paramSpecs(g), { weights: o.weights, seed: o.seed });
  log.info(source);
  const dev = await openDevice({ adapter: o.adapter, dawnFlags: [TIMESTAMP_TOGGLE] });
  log.info(dev.description);
  try {
    const hasTimestamps = dev.features.includes('timestamp-query');
    if (o.method === 'timestamps' && !hasTimestamps)
      throw new CommandError(
        `the adapter (${dev.description.replace(/^using /, '')}) has no timestamp-query feature; use --method sync or auto ` +
          '(a software adapter with timestamps: Mesa lavapipe ≥ 25 with FCNC_SOFTWARE_BACKEND=vulkan, see docs/profiling.md)',
      );
    let program;
    let graph: Graph;
    let chunk = g.nodes[g.inputs[0]!.node]!.shape[0]!;
    if (entry === 'train_step') {
      // Kernels as --tune says, for the step's forward convs and their gradients.
      const base = tuningFor(dev);
      let t = compileTraining(g, { limits: dev.limits, tuning: base });
      const tuning = await chooseKernels(t.graph, dev, o.tune ?? 'cached', base, log);
      if (tuning) t = compileTraining(g, { limits: dev.limits, tuning });
      ({ program, graph } = t);
    } else {
      const c = await compileTuned(g, dev, o.tune, log);
      ({ program, graph } = c);
      if (c.chunk < chunk)
        log.info(
          `batch ${chunk} does not fit the device's buffer limits: profiling one chunk of ${c.chunk} (as fcnc run runs it)`,
        );
      chunk = c.chunk;
    }
    const costs = stepCosts(graph, program, entry);
    const session = await Session.create(dev, program, { onFirstRun: firstRunProgress(defaultIo) });
    await session.setParams(params);

    const e = program.entries[entry]!;
    const rand = uniform((o.seed ?? 0) + 1);
    const classes =
      typeof g.settings.classes === 'number'
        ? g.settings.classes
        : (g.nodes[g.outputs[0]!.node]!.shape[1] ?? 1);
    const base = new Map<string, Float32Array>();
    for (const i of e.inputs) {
      const n = i.shape.reduce((a, b) => a * b, 1);
      const data = new Float32Array(n);
      if (i.name === 'labels')
        for (let k = 0; k < n; k++) data[k] = rand() < 0.05 ? -1 : Math.floor(rand() * classes);
      else if (i.name !== 'hyper') for (let k = 0; k < n; k++) data[k] = 2 * rand() - 1;
      base.set(i.name, data);
    }
    const inputsFor = (call: number): ReadonlyMap<string, Float32Array> => {
      if (!base.has('hyper')) return base;
      const hyper = new Float32Array(HYPER_SIZE);
      hyper[HYPER.lr] = 0;
      hyper[HYPER.step] = call + 1;
      hyper[HYPER.seed] = o.seed ?? 0;
      return new Map([...base, ['hyper', hyper]]);
    };

    let peak;
    if (o.peak !== false) {
      peak = await measurePeak(dev.device);
      log.info(
        `peak: ${peak.gflops.toFixed(1)} GFLOP/s, ${peak.gbps.toFixed(2)} GB/s (probed in ${(peak.probeMs / 1000).toFixed(1)} s)`,
      );
    }
    const runs = o.runs ?? 5;
    const profile = await profileSession(session, inputsFor(0), {
      entry,
      runs,
      timestamps: o.method !== 'sync',
      costs,
      ...(peak ? { peak } : {}),
      moduleOf: moduleNamer(g),
      adapter: dev.description.replace(/^using /, '').replace(/ — .*$/, ''),
      inputsFor,
      onRound: (r) => log.info(`profiling '${entry}': round ${r + 1}/${runs}`),
    });
    session.destroy();
    return {
      format: 'fcnc-profile',
      version: 1,
      ...profile,
      file: g.file,
      settings: g.settings,
      inputs: e.inputs.map((i) => ({ name: i.name, shape: [...i.shape] })),
      chunk,
    };
  } finally {
    dev.destroy();
  }
}

export function register(program: Command, { io, fail }: CommandContext): void {
  graphOptions(
    program
      .command('profile')
      .description(
        'time every kernel of a compiled spec on the adapter: nodes and spec lines, FLOPs, bytes, % of peak, totals by module and op',
      )
      .argument('<spec>', '.fcn spec file')
      .option('--weights <file>', 'safetensors or PyTorch .pth/.pth.tar (default: seeded init)')
      .addOption(seedOption())
      .addOption(adapterOption())
      .addOption(tuneOption())
      .addOption(
        new Option('--entry <entry>', 'what to profile: the forward pass or one training step')
          .choices(['forward', 'train_step'])
          .default('forward'),
      )
      .addOption(
        new Option('--runs <R>', 'rounds; each step and the whole call are the median of R')
          .default(5)
          .argParser(parsePositiveInt('--runs')),
      )
      .addOption(
        new Option('--top <N>', 'rows of the kernel table').default(20).argParser(parsePositiveInt('--top')),
      )
      .addOption(
        new Option(
          '--method <m>',
          'auto: GPU timestamps where the adapter has timestamp-query, else synchronised wall time per dispatch',
        )
          .choices(['auto', 'timestamps', 'sync'])
          .default('auto'),
      )
      .option('--no-peak', 'skip the peak probe (no % of peak)')
      .option('--json <file>', 'write the profile as JSON (schema: compiler/schemas/profile.schema.json)')
      .option('--png <file>', 'write a bar chart of the slowest kernels and the time per module')
      .option('-o, --out <dir>', 'write profile.txt, profile.json and profile.png into this folder'),
  ).action(
    async (
      spec: string,
      o: GraphOptions & {
        weights?: string;
        seed: number;
        adapter?: AdapterChoice;
        tune: TuneMode;
        entry: ProfileEntry;
        runs: number;
        top: number;
        method: 'auto' | 'timestamps' | 'sync';
        peak: boolean;
        json?: string;
        png?: string;
        out?: string;
      },
    ) => {
      const r = build(spec, o);
      report(io, r);
      if (!r.graph) {
        fail();
        return;
      }
      if (o.entry === 'train_step' && !r.graph.losses.length)
        throw new UsageError(`${r.graph.model} declares no loss, so it has no training step to profile`);
      const log: Log = { info: (l) => io.err(l + '\n') };
      const p = await profileGraph(
        r.graph,
        {
          entry: o.entry,
          runs: o.runs,
          weights: o.weights,
          seed: o.seed,
          adapter: o.adapter,
          tune: o.tune,
          method: o.method,
          peak: o.peak,
        },
        log,
      );
      const problems = validateProfileJson(p);
      if (problems) throw new Error(`internal: profile JSON does not match its schema: ${problems}`);
      const text = formatProfile(p, { top: o.top });
      io.out(text);
      const json = JSON.stringify(p, null, 2) + '\n';
      const { write, written } = outputWriter();
      if (o.json) write(o.json, json);
      if (o.png) write(o.png, await profileChart(p, { top: Math.min(o.top, 40) }));
      if (o.out) {
        write(join(o.out, 'profile.txt'), text);
        write(join(o.out, 'profile.json'), json);
        write(join(o.out, 'profile.png'), await profileChart(p, { top: Math.min(o.top, 40) }));
      }
      if (written.length) io.err(`wrote ${written.join(', ')}\n`);
    },
  );
}
