// Helpers shared by the commands that work on networks, weights and devices (infer, run, convert, and the
// ones to come).
import type { Graph } from '../ir/types.ts';
import { openDevice, type AdapterChoice, type OpenedDevice } from '../../runtime/device.ts';
import type { ParamSpec } from '../../runtime/params.ts';
import { tuningFor } from '../../runtime/tuning.ts';
import { adapterIdentity, gpuTimer, tuneGraph, type TuneMode } from '../../runtime/tune.ts';
import { compile, type CompileOptions, type Compiled } from '../compile.ts';
import { debugLevel, debugStage } from '../index.ts';
import { writeAtomically } from '../../runtime/infer.ts';
import { defaultIo, tuningProgress, type Io } from './options.ts';

/** A problem with what the user gave (inputs, names, files): reported as `fcnc: message`, exit 1. */
export class CommandError extends Error {}

/**
 * Writes a command's output files atomically, each failure a CommandError naming the file; `written` lists the
 * paths written, in order (for the command's closing "wrote …" line).
 */
export function outputWriter(): { write(path: string, bytes: Uint8Array | string): void; written: string[] } {
  const written: string[] = [];
  return {
    written,
    write(path, bytes) {
      try {
        writeAtomically(path, bytes);
      } catch (e) {
        throw new CommandError(`cannot write ${path}: ${(e as Error).message}`);
      }
      written.push(path);
    },
  };
}

export interface Log {
  info(line: string): void;
}

/** A graph's state dict as the parameter specs `runtime/params.ts` loads or initialises. */
export function paramSpecs(g: Graph): ParamSpec[] {
  return g.params.map((p) => ({ name: p.name, shape: p.shape, dtype: p.dtype, init: p.init }));
}

/** Opens the WebGPU device and says which adapter was chosen. */
export async function open(adapter: AdapterChoice | undefined, log: Log): Promise<OpenedDevice> {
  const dev = await openDevice({ adapter });
  log.info(dev.description);
  return dev;
}

/**
 * Compiles a graph for the opened device (its limits and `opts.tuning`, by default its adapter's fixed kernel
 * tuning). DEBUG=1 prints the time, 3 every step of the forward entry, 4 every kernel's WGSL.
 */
export function compileFor(g: Graph, dev: OpenedDevice, opts: CompileOptions = {}): Compiled {
  const t = performance.now();
  const c = compile(g, { ...opts, limits: dev.limits, tuning: opts.tuning ?? tuningFor(dev) });
  const p = c.program;
  const forward = p.entries.forward.steps;
  debugStage(1, `compile (${forward.length} dispatches, ${p.kernels.length} kernels)`, t);
  if (debugLevel() >= 3)
    for (const s of forward)
      process.stderr.write(
        `[fcnc] step ${s.kernel} grid ${s.grid.join('×')} buffers ${s.buffers.join(',')}  // ${s.nodes.map((n) => n.name).join(' + ')} ${s.where}\n`,
      );
  if (debugLevel() >= 4) for (const k of p.kernels) process.stderr.write(`// ---- ${k.name}\n${k.wgsl}\n`);
  return c;
}

/**
 * The kernels of a compiled graph (after its passes: an inference graph, or a training step's with its gradients)
 * chosen as `--tune` says (runtime/tune.ts) on top of the adapter's defaults `base`: the tuning record to compile
 * again with, or undefined when that is `base` itself (mode off, or nothing chosen). Logs one line on what was used;
 * a progress bar while timing.
 */
export async function chooseKernels(
  graph: Graph,
  dev: OpenedDevice,
  tune: TuneMode,
  base: Readonly<Record<string, number>>,
  log: Log,
  io: Io = defaultIo,
): Promise<Readonly<Record<string, number>> | undefined> {
  if (tune === 'off') return undefined;
  const bar = tuningProgress(io);
  let timer: ReturnType<typeof gpuTimer> | undefined;
  try {
    const t = performance.now();
    timer = tune === 'full' ? gpuTimer(dev, { warn: (m) => io.err(`warning: ${m}\n`) }) : undefined;
    const r = await tuneGraph(graph, {
      mode: tune,
      adapter: adapterIdentity(dev),
      limits: dev.limits,
      base,
      ...(timer ? { timer } : {}),
      onProgress: bar.update,
      warn: (m) => io.err(`warning: ${m}\n`),
    });
    bar.stop();
    log.info(r.summary);
    debugStage(1, 'tuning', t);
    return Object.keys(r.choices).length ? r.tuning : undefined;
  } finally {
    bar.stop();
    timer?.release();
  }
}

/**
 * `compileFor` with kernels chosen as `--tune` says (`chooseKernels`): compiles with the adapter's defaults, finds
 * the conv problems of the result, and unless the choices are the defaults compiles again with them.
 */
export async function compileTuned(
  g: Graph,
  dev: OpenedDevice,
  tune: TuneMode = 'cached',
  log: Log,
  opts: CompileOptions & { io?: Io } = {},
): Promise<Compiled> {
  const { io = defaultIo, ...copts } = opts;
  const base = tuningFor(dev);
  const first = compileFor(g, dev, { ...copts, tuning: base });
  const tuning = await chooseKernels(first.graph, dev, tune, base, log, io);
  return tuning ? compileFor(g, dev, { ...copts, tuning }) : first;
}
