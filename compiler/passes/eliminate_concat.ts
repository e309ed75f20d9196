// eliminate_concat: a concat along channels costs a full read and write of every input. Instead, each input is
// computed straight into its channel slice of the concatenated tensor (its kernel stores through a view) and
// readers of an input read it there — the concat itself does no work (`inplace: true`, no kernel). Sound because a
// value has one storage location and every kernel addresses its inputs and output through views (codegen/wgsl/io.ts).
// A concat inside a concat is placed too: it lives in the outer one's buffer, its inputs at the combined offsets.
// An input that cannot be placed — a model input, a parameter, an output (read back whole), a value already placed
// in another concat, the same value twice, or a tensor too large for one binding — is copied into its slice by a
// `copy` node instead.
import { rewrite } from '../ir/builder.ts';
import { bytesOf, constantNodes } from '../ir/types.ts';
import { maxBinding } from '../codegen/limits.ts';
import { count, definePass, keptNodes } from './pass.ts';

export const eliminateConcat = definePass({
  name: 'eliminate_concat',
  doc: 'compute concat inputs straight into their channel slices; the concat does no work',
  run(g, ctx) {
    const kept = keptNodes(g);
    const constant = constantNodes(g);
    const placed = new Set<number>();
    const copies = new Map<number, number[]>(); // concat id → input positions that need a copy
    const concats: number[] = [];
    const limit = maxBinding(ctx.limits);
    for (const n of g.nodes) {
      if (n.op !== 'concat' || n.attrs.axis !== 1 || n.attrs.inplace === true) continue;
      if (bytesOf(n.shape) > limit) continue; // bound in channel slices: the concat kernel handles it
      const needCopy: number[] = [];
      n.inputs.forEach((x, k) => {
        const src = g.nodes[x]!;
        const ok =
          src.op !== 'input' && !constant[x] && !kept.has(x) && !placed.has(x) && n.inputs.indexOf(x) === k;
        if (ok) placed.add(x);
        else needCopy.push(k);
      });
      concats.push(n.id);
      if (needCopy.length) copies.set(n.id, needCopy);
    }
    if (concats.length === 0) return { graph: g, changes: [] };
    const set = new Set(concats);
    let copied = 0;
    const graph = rewrite(g, (n, b, map) => {
      if (!set.has(n.id)) return undefined;
      const need = copies.get(n.id) ?? [];
      const ins = n.inputs.map((x, k) => {
        if (!need.includes(k)) return map(x);
        copied++;
        return b.add('copy', [map(x)], [], {}, { name: `${n.name}.copy${k}`, span: n.span });
      });
      return b.add(
        'concat',
        ins,
        [],
        { ...n.attrs, inplace: true },
        {
          name: n.name,
          ...(n.span ? { span: n.span } : {}),
          ...(n.origins ? { origins: n.origins } : {}),
        },
      );
    });
    const changes = [`${count(concats.length, 'concat')} eliminated (inputs computed into their slices)`];
    if (copied) changes.push(`${count(copied, 'input')} copied into a slice`);
    return { graph, changes };
  },
});
