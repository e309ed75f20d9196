// dce: removes nodes no output, loss or declared input depends on. Sound because such nodes have no observer.
// Parameters of removed nodes stay in the state dict (checkpoints still load strictly); only their nodes go.
import { reachable, rewrite } from '../ir/builder.ts';
import { count, definePass, keptNodes } from './pass.ts';

export const dce = definePass({
  name: 'dce',
  doc: 'remove nodes that no output or loss depends on',
  run(g) {
    const live = reachable(g, [...keptNodes(g), ...g.inputs.map((i) => i.node)]);
    const dead = live.filter((l) => !l).length;
    if (dead === 0) return { graph: g, changes: [] };
    const graph = rewrite(g, (n) => (live[n.id] ? undefined : -1));
    return { graph, changes: [`${count(dead, 'dead node')} removed`] };
  },
});
