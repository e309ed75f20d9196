// Splitting a batch that does not fit the device. Every op of a FastFCN network at inference treats the samples of
// a batch independently (batchnorm uses running statistics), so a batch of N can run as ceil(N/c) chunks of c
// through one program compiled for batch c, with exactly the same results. lowerInChunks picks the largest c
// whose every buffer fits maxStorageBufferBindingSize / maxBufferSize. Within one sample, a tensor larger than a
// binding is computed in channel slices by lowerToProgram; only an op that needs all channels of such a tensor at
// once (concat, linear, encoding, mean, groupnorm, or a conv reading it) still fails, with a located error.
import type { Graph } from '../ir/types.ts';
import { rewrite } from '../ir/builder.ts';
import type { Program } from '../../runtime/program.ts';
import { LoweringError, lowerToProgram, type DeviceLimits, type LowerOptions } from './program.ts';

/**
 * The same graph for another batch size (pure): the inputs are made again with the new batch and every node is
 * rebuilt through the builder, so every shape follows from its op's rule. Parameters have no batch dimension.
 */
export function rebatch(g: Graph, batch: number): Graph {
  return rewrite(g, (n, b) => {
    if (n.op === 'fused') throw new Error('internal: rebatch runs before fusion');
    return n.op === 'input'
      ? b.input(n.attrs.name as string, [batch, ...n.shape.slice(1)], n.span)
      : undefined;
  });
}

export function lowerInChunks(
  g: Graph,
  limits: DeviceLimits,
  opts: LowerOptions = {},
): { program: Program; chunk: number } {
  const batch = g.nodes[g.inputs[0]!.node]!.shape[0]!;
  let firstError: unknown;
  for (let chunk = batch; chunk >= 1; chunk = chunk === 1 ? 0 : Math.ceil(chunk / 2)) {
    try {
      return { program: lowerToProgram(chunk === batch ? g : rebatch(g, chunk), limits, opts), chunk };
    } catch (e) {
      if (!(e instanceof LoweringError) || !/maxStorageBufferBindingSize/.test(e.message)) throw e;
      firstError ??= e;
      if (chunk === 1) break;
    }
  }
  throw new LoweringError(`${(firstError as Error).message} (even at batch 1)`);
}
