// The IR verifier: invariants every graph must hold after elaboration and after every pass.
// Returns a list of problems (empty = valid); tests assert it stays empty.
import { getOp, OPS } from '../ops/index.ts';
import { ShapeError } from '../ops/op.ts';
import type { Graph } from './types.ts';

export function verifyGraph(g: Graph): string[] {
  const problems: string[] = [];
  const names = new Set<string>();
  const paramNames = new Set<string>();
  g.params.forEach((p, i) => {
    if (paramNames.has(p.name)) problems.push(`param ${i} '${p.name}' is a duplicate name`);
    paramNames.add(p.name);
    if (p.shape.some((d) => !Number.isInteger(d) || d < 1))
      problems.push(`param '${p.name}' has a bad shape [${p.shape.join(', ')}]`);
  });
  g.nodes.forEach((n, i) => {
    const where = `node %${i} (${n.op} '${n.name}')`;
    if (n.id !== i) problems.push(`${where}: id ${n.id} differs from its position`);
    if (!OPS.has(n.op)) {
      problems.push(`${where}: unknown op`);
      return;
    }
    if (names.has(n.name)) problems.push(`${where}: duplicate node name`);
    names.add(n.name);
    for (const inp of n.inputs)
      if (!(inp >= 0 && inp < i)) problems.push(`${where}: input %${inp} is not an earlier node`);
    for (const p of n.params)
      if (!(p >= 0 && p < g.params.length)) problems.push(`${where}: param index ${p} out of range`);
    const op = getOp(n.op);
    if (op.arity !== 'variadic' && n.inputs.length !== op.arity)
      problems.push(`${where}: has ${n.inputs.length} inputs, the op takes ${op.arity}`);
    try {
      const inShapes = n.inputs.map((k) => g.nodes[k]?.shape ?? []);
      const shape = op.inferShape(inShapes, n.attrs);
      if (shape.length !== n.shape.length || shape.some((d, k) => d !== n.shape[k]))
        problems.push(
          `${where}: shape [${n.shape.join(', ')}] differs from its rule's [${shape.join(', ')}]`,
        );
      const decls = op.params?.(inShapes, n.attrs) ?? [];
      if (decls.length !== n.params.length)
        problems.push(`${where}: owns ${n.params.length} params, its rule declares ${decls.length}`);
      decls.forEach((d, k) => {
        const p = g.params[n.params[k]!];
        if (p && (p.shape.length !== d.shape.length || p.shape.some((x, j) => x !== d.shape[j])))
          problems.push(
            `${where}: param '${p.name}' has shape [${p.shape.join(', ')}], its rule says [${d.shape.join(', ')}]`,
          );
      });
    } catch (e) {
      if (!(e instanceof ShapeError)) throw e;
      problems.push(`${where}: shape rule fails: ${e.message}`);
    }
  });
  for (const o of [...g.outputs, ...g.inputs, ...g.names])
    if (!(o.node >= 0 && o.node < g.nodes.length))
      problems.push(`'${o.name}' refers to a missing node %${o.node}`);
  for (const l of g.losses)
    if (!(l.node >= 0 && l.node < g.nodes.length))
      problems.push(`loss on '${l.output}' refers to a missing node`);
  return problems;
}
