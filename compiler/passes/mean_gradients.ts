// mean_gradients: the update step of gradient accumulation (`apply_step`). From the micro-batch graph (after
// `accumulate`) to a graph of its own over the same state dict: input `hyper`, and the mean of each gradient
// accumulator (acc / hyper.micro, the number of micro-batches) as that parameter's gradient — which `sgd` then
// turns into the momentum and weight updates, exactly as in a whole-batch step.
import { GraphBuilder } from '../ir/builder.ts';
import type { StateSlot } from '../ir/types.ts';
import { HYPER_SIZE } from '../ops/train.ts';
import { accumulatorName } from './accumulate.ts';
import { count, definePass } from './pass.ts';

export const meanGradients = definePass({
  name: 'mean_gradients',
  doc: "the update step's graph: each accumulated gradient divided by the number of micro-batches",
  run(g) {
    const accumulators = (g.state ?? []).filter((s) => s.name === accumulatorName(g.params[s.of]!.name));
    if (!accumulators.length) throw new Error('internal: mean_gradients runs on a graph after accumulate');
    const b = GraphBuilder.like(g);
    const hyper = b.input('hyper', [HYPER_SIZE]);
    const state: StateSlot[] = [];
    const gradients = accumulators.map((slot) => {
      const k = state.push(slot) - 1;
      const node = b.add(
        'grad_mean',
        [b.state(k, slot), hyper],
        [],
        {},
        { name: `${g.params[slot.of]!.name}.grad` },
      );
      return { entry: slot.of, node };
    });
    const graph = b.finish({
      inputs: [{ name: 'hyper', node: hyper, stride: 1 }],
      outputs: [],
      names: [],
      losses: [],
      state,
      gradients,
    });
    return {
      graph,
      changes: [`${count(gradients.length, 'mean gradient')} of the accumulated micro-batches`],
    };
  },
});
