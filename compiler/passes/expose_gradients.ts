// expose_gradients: makes a training step's results outputs (for `fcnc run --grads`, which compares them with
// another framework): every parameter's gradient under the parameter's official name, and the new value of every
// running statistic under its name, beside the loss terms.
import { definePass } from './pass.ts';

export const exposeGradients = definePass({
  name: 'expose_gradients',
  doc: "outputs: each parameter's gradient and each running statistic's new value, under the official names",
  run(g) {
    const taken = new Set(g.outputs.map((o) => o.name));
    const outputs = [...g.outputs];
    for (const x of g.gradients ?? []) outputs.push({ name: g.params[x.entry]!.name, node: x.node });
    for (const u of g.updates ?? [])
      if (u.target.kind === 'param') outputs.push({ name: g.params[u.target.entry]!.name, node: u.node });
    for (const o of outputs.slice(g.outputs.length))
      if (taken.has(o.name)) throw new Error(`internal: two outputs named '${o.name}'`);
      else taken.add(o.name);
    return {
      graph: { ...g, outputs },
      changes: [
        `${g.gradients?.length ?? 0} gradients and ${g.updates?.length ?? 0} running statistics as outputs`,
      ],
    };
  },
});
