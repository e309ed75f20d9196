// Helpers shared by the commands that work on networks, weights and devices (infer, run, convert, and the
// ones to come).
import type { Graph } from '../ir/types.ts';
import { openDevice, type AdapterChoice, type OpenedDevice } from '../../runtime/device.ts';
import type { ParamSpec } from '../../runtime/params.ts';

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
