// accumulate: the micro-batch step of gradient accumulation (`grad_step`). A batch that does not fit the device
// runs as k micro-batches: each one's train-mode forward and backward (batch statistics of the micro-batch, its
// running-statistic update, as PyTorch does when it accumulates gradients), its gradients added into per-parameter
// accumulators (optimizer state `gradient.<name>`; the first micro-batch, hyper.micro = 0, overwrites them). The
// update then uses their mean (sgd_apply): the loss of the batch is the mean of its micro-batches' losses, as the
// official DataParallelCriterion averages the per-GPU losses. The gradients are consumed here.
import { copyNode, rewrite } from '../ir/builder.ts';
import type { Graph, StateSlot } from '../ir/types.ts';
import { count, definePass } from './pass.ts';

/** The name of a parameter's gradient accumulator. */
export const accumulatorName = (param: string): string => `gradient.${param}`;

export const accumulate = definePass({
  name: 'accumulate',
  doc: "each parameter's gradient added into its accumulator (the first micro-batch of a batch overwrites it)",
  run(g) {
    if (!g.gradients) throw new Error('internal: accumulate runs after autodiff');
    const hyper = g.inputs.find((i) => i.name === 'hyper')?.node;
    if (hyper === undefined) throw new Error('internal: accumulate needs the hyper input of train_mode');
    const slots: StateSlot[] = [...(g.state ?? [])];
    const updates: NonNullable<Graph['updates']>[number][] = [...(g.updates ?? [])];
    const byGradient = new Map<number, number[]>();
    for (const { entry, node } of g.gradients) byGradient.set(node, [...(byGradient.get(node) ?? []), entry]);
    const graph = rewrite(g, (n, b, map) => {
      const entries = byGradient.get(n.id);
      if (!entries) return undefined;
      const grad = copyNode(n, b, map);
      for (const entry of entries) {
        const p = g.params[entry]!;
        const slot = slots.push({ name: accumulatorName(p.name), shape: p.shape, of: entry }) - 1;
        const acc = b.add(
          'grad_accumulate',
          [b.state(slot, slots[slot]!), grad, map(hyper)],
          [],
          {},
          {
            name: `${p.name}.gradient.sum`,
          },
        );
        updates.push({ target: { kind: 'state', slot }, node: acc });
      }
      return grad;
    });
    return {
      graph: { ...graph, gradients: undefined, state: slots, updates },
      changes: [`${count(g.gradients.length, 'gradient')} accumulated`],
    };
  },
});
