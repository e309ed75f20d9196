// autodiff: reverse-mode differentiation of the objective (the weighted loss terms train_mode made) with respect
// to every trainable parameter. Each loss term is seeded with its weight; then, from the last node to the first,
// the gradient flowing into a node (the sum, in a fixed order, of what its readers sent it) goes through its op's
// `backward` rule, which builds the gradients of its operands from other ops (heavy ones — a conv's input and
// weight gradients — are ops of their own with kernels). Only nodes that depend on a trainable parameter are
// differentiated; gradients nobody needs are left to dce. The result is the forward graph with the backward pass
// appended and `Graph.gradients`: one node per trainable state-dict entry the objective depends on.
import { getOp } from '../ops/index.ts';
import type { BackwardCtx } from '../ops/op.ts';
import { copyNode, GraphBuilder } from '../ir/builder.ts';
import { numel, operands } from '../ir/types.ts';
import { count, definePass } from './pass.ts';

export class AutodiffError extends Error {}

export const autodiff = definePass({
  name: 'autodiff',
  doc: 'the backward pass: gradients of the weighted losses with respect to every trainable parameter',
  run(g) {
    if (!g.objective?.length) throw new Error('internal: autodiff runs after train_mode (no objective)');
    const b = GraphBuilder.like(g);
    const same = (k: number): number => k;
    for (const n of g.nodes) {
      const id = copyNode(n, b, same);
      if (id !== n.id) throw new Error('internal: autodiff expects a graph whose copy keeps its ids');
    }
    // Which nodes depend on a trainable parameter (only those need gradients).
    const requires = new Array<boolean>(g.nodes.length).fill(false);
    for (const n of g.nodes) {
      if (n.op === 'param') {
        const p = g.params[n.attrs.entry as number]!;
        requires[n.id] = p.trainable && p.used && p.dtype === 'f32';
      } else requires[n.id] = operands(n).some((k) => requires[k]);
    }
    const incoming = new Map<number, number[]>();
    const send = (to: number, grad: number): void => {
      if (!requires[to]) return;
      const list = incoming.get(to);
      if (list) list.push(grad);
      else incoming.set(to, [grad]);
    };
    for (const o of g.objective) {
      const shape = g.nodes[o.node]!.shape;
      const values = Array.from({ length: numel(shape) }, (_, k) => (k === 0 ? o.weight : 0));
      send(o.node, b.add('constant', [], [], { shape, values }, { name: `${o.name}.seed` }));
    }
    const gradients: { entry: number; node: number }[] = [];
    let rules = 0;
    for (let id = g.nodes.length - 1; id >= 0; id--) {
      const list = incoming.get(id);
      if (!list) continue;
      const n = g.nodes[id]!;
      // Several readers: their gradients summed in a fixed order (readers in reverse graph order).
      let dy = list[0]!;
      for (const more of list.slice(1))
        dy = b.add('add', [dy, more], [], {}, { name: b.uniqueName(`${n.name}.grad.sum`) });
      if (n.op === 'param') {
        gradients.push({ entry: n.attrs.entry as number, node: dy });
        continue;
      }
      if (n.op === 'input' || n.op === 'state') continue;
      const op = getOp(n.op);
      if (!op.backward)
        throw new AutodiffError(
          `'${n.name}' (${n.op}) needs a gradient but its op has no backward rule${op.noBackward ? ` (${op.noBackward})` : ''}`,
        );
      const ctx: BackwardCtx = {
        inputs: n.inputs,
        params: n.params,
        out: id,
        dy,
        attrs: n.attrs,
        shapes: {
          inputs: n.inputs.map((k) => g.nodes[k]!.shape),
          params: n.params.map((k) => g.nodes[k]!.shape),
          out: n.shape,
        },
        add: (o, ins, ps, attrs, what) =>
          b.add(o, ins, ps, attrs, { name: `${n.name}.grad.${what}`, ...(n.span ? { span: n.span } : {}) }),
      };
      const grads = op.backward(ctx);
      const ops = [...n.inputs, ...n.params];
      if (grads.length !== ops.length)
        throw new Error(
          `internal: ${n.op}'s backward gave ${grads.length} gradients for ${ops.length} operands`,
        );
      grads.forEach((gid, k) => {
        if (gid !== null) send(ops[k]!, gid);
      });
      rules++;
    }
    gradients.sort((a, c) => a.entry - c.entry);
    const graph = b.finish({
      inputs: g.inputs,
      outputs: g.outputs,
      names: g.names,
      ...(g.groups ? { groups: g.groups } : {}),
      losses: g.losses,
      ...(g.state ? { state: g.state } : {}),
      objective: g.objective,
      gradients,
      ...(g.updates ? { updates: g.updates } : {}),
    });
    return {
      graph,
      changes: [`${count(rules, 'backward rule')} applied; ${count(gradients.length, 'parameter gradient')}`],
    };
  },
});
