// cse: common-subexpression elimination. Two nodes with the same op, attributes and operands compute the same
// value (every op is a pure function of its operands); the later one is replaced by the earlier. Inputs are never
// merged (each is its own data), parameter nodes are one per state-dict entry already.
import { copyNode, rewrite } from '../ir/builder.ts';
import { count, definePass } from './pass.ts';

export const cse = definePass({
  name: 'cse',
  doc: 'merge nodes that compute the same value',
  run(g) {
    const seen = new Map<string, number>();
    let merged = 0;
    const graph = rewrite(g, (n, b, map) => {
      if (n.op === 'input' || n.op === 'param') return undefined;
      const key = JSON.stringify([n.op, n.inputs.map(map), n.params.map(map), n.attrs, n.body ?? null]);
      const known = seen.get(key);
      if (known !== undefined) {
        merged++;
        return known;
      }
      const id = copyNode(n, b, map);
      seen.set(key, id);
      return id;
    });
    return { graph, changes: merged ? [`${count(merged, 'duplicate')} merged`] : [] };
  },
});
