// Helpers shared by the commands that work on networks, weights and devices (infer, run, convert, and the
// ones to come).
import type { Graph } from '../ir/types.ts';
import { openDevice, type AdapterChoice, type OpenedDevice } from '../../runtime/device.ts';
import type { ParamSpec } from '../../runtime/params.ts';
import { tuningFor } from '../../runtime/tuning.ts';
import { compile, type CompileOptions, type Compiled } from '../compile.ts';
import { debugLevel, debugStage } from '../index.ts';

/** A problem with what the user gave (inputs, names, files): reported as `fcnc: message`, exit 1. */
export class CommandError extends Error {}

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
 * Compiles a graph for the opened device (its limits and its adapter's kernel tuning). DEBUG=1 prints the time,
 * 3 every step of the forward entry, 4 every kernel's WGSL.
 */
export function compileFor(g: Graph, dev: OpenedDevice, opts: CompileOptions = {}): Compiled {
  const t = performance.now();
  const c = compile(g, { ...opts, limits: dev.limits, tuning: tuningFor(dev) });
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
