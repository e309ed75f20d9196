// sgd: the optimizer step of reference §5.2 as kernels — torch.optim.SGD with momentum 0.9 and weight decay 1e-4
// on every parameter (batchnorm and biases included), no dampening, no Nesterov:
//   m ← 0.9·m + (g + 1e-4·w),  w ← w − lr·m,
// the learning rate ×10 for the `jpu`, `head` and `auxlayer` groups. The base rate (the poly schedule is the
// host's: lr = base·(1 − t/T)^0.9) comes in the `hyper` input each step, so a new step is new numbers, not a new
// program. Momentum buffers are optimizer state slots (zero at the start, as PyTorch's first step is m = d_p).
// The gradients are consumed here: the graph that leaves has updates and no `gradients`.
import { copyNode, rewrite } from '../ir/builder.ts';
import type { Graph, StateSlot } from '../ir/types.ts';
import { count, definePass, type Pass } from './pass.ts';

export interface SgdOptions {
  readonly momentum?: number;
  readonly weightDecay?: number;
  /** Instance prefixes whose learning rate is multiplied by headScale. */
  readonly headGroups?: readonly string[];
  readonly headScale?: number;
}

export const HEAD_GROUPS = ['jpu', 'head', 'auxlayer'] as const;

export function sgd(o: SgdOptions = {}): Pass {
  const momentum = o.momentum ?? 0.9;
  const weightDecay = o.weightDecay ?? 1e-4;
  const groups = o.headGroups ?? HEAD_GROUPS;
  const headScale = o.headScale ?? 10;
  return definePass({
    name: 'sgd',
    doc: 'SGD with momentum and weight decay as kernels; head groups at 10× the learning rate',
    run(g) {
      if (!g.gradients) throw new Error('internal: sgd runs after autodiff');
      const hyper = g.inputs.find((i) => i.name === 'hyper')?.node;
      if (hyper === undefined) throw new Error('internal: sgd needs the hyper input of train_mode');
      const slots: StateSlot[] = [...(g.state ?? [])];
      const updates: NonNullable<Graph['updates']>[number][] = [...(g.updates ?? [])];
      const byGradient = new Map<number, number[]>();
      for (const { entry, node } of g.gradients)
        byGradient.set(node, [...(byGradient.get(node) ?? []), entry]);
      let heads = 0;
      // Each update right after its gradient is complete: the gradient dies at once (or is never stored, when
      // fuse_epilogues folds the momentum update into the kernel that makes it).
      const graph = rewrite(g, (n, b, map) => {
        const entries = byGradient.get(n.id);
        if (!entries) return undefined;
        const grad = copyNode(n, b, map);
        for (const entry of entries) {
          const p = g.params[entry]!;
          const slot = slots.push({ name: `momentum.${p.name}`, shape: p.shape, of: entry }) - 1;
          const m = b.state(slot, slots[slot]!);
          const w = b.param(entry);
          const newM = b.add(
            'sgd_momentum',
            [m, grad, w],
            [],
            { momentum, weight_decay: weightDecay },
            { name: `${p.name}.momentum.new` },
          );
          const head = groups.some((x) => p.name.startsWith(`${x}.`));
          if (head) heads++;
          const newW = b.add(
            'sgd_update',
            [w, newM, map(hyper)],
            [],
            { lr_scale: head ? headScale : 1 },
            { name: `${p.name}.new` },
          );
          updates.push({ target: { kind: 'state', slot }, node: newM });
          updates.push({ target: { kind: 'param', entry }, node: newW });
        }
        return grad;
      });
      return {
        graph: { ...graph, gradients: undefined, state: slots, updates },
        changes: [
          `${count(g.gradients.length, 'parameter')} updated (${heads} at ${headScale}× the learning rate); momentum ${momentum}, weight decay ${weightDecay}`,
        ],
      };
    },
  });
}
