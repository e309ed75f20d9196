// The same graph for another batch size: how compile.ts runs a batch that does not fit the device in chunks.
import type { Graph } from '../ir/types.ts';
import { rewrite } from '../ir/builder.ts';

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
