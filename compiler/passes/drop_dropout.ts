// drop_dropout: dropout is the identity at inference (PyTorch's eval mode), so every dropout node is replaced by
// its input. Sound because nothing observes a dropout's value but its readers, which now read the same values.
import { rewrite } from '../ir/builder.ts';
import { count, definePass } from './pass.ts';

export const dropDropout = definePass({
  name: 'drop_dropout',
  doc: 'dropout is the identity at inference: readers read its input',
  run(g) {
    let n = 0;
    const graph = rewrite(g, (node, _b, map) => {
      if (node.op !== 'dropout') return undefined;
      n++;
      return map(node.inputs[0]!);
    });
    return { graph, changes: n ? [`${count(n, 'dropout')} removed`] : [] };
  },
});
