// The IR verifier: invariants every graph must hold after elaboration and after every pass.
// Returns a list of problems (empty = valid); tests (and DEBUG=2) run it after every pass.
import { getOp, OPS } from '../ops/index.ts';
import { ShapeError } from '../ops/op.ts';
import { shapeToString, type Graph, type Node, type Shape } from './types.ts';

const sameShape = (a: Shape, b: Shape): boolean => a.length === b.length && a.every((d, k) => d === b[k]);

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
  const paramNodeOf = new Map<number, number>();
  // Which nodes hold parameter values: param nodes and nodes computed from parameters only.
  const constant = new Array<boolean>(g.nodes.length).fill(false);
  g.nodes.forEach((n, i) => {
    const where = `node %${i} (${n.op} '${n.name}')`;
    if (n.id !== i) problems.push(`${where}: id ${n.id} differs from its position`);
    if (!OPS.has(n.op)) {
      problems.push(`${where}: unknown op`);
      return;
    }
    if (names.has(n.name)) problems.push(`${where}: duplicate node name`);
    names.add(n.name);
    const bad = [...n.inputs, ...n.params].filter((k) => !(Number.isInteger(k) && k >= 0 && k < i));
    for (const k of bad) problems.push(`${where}: reads %${k}, which is not an earlier node`);
    if (bad.length) return;
    for (const k of n.params)
      if (!constant[k]) problems.push(`${where}: parameter operand %${k} is not a parameter value`);
    if (n.body && n.op !== 'fused') problems.push(`${where}: only a fused node has a body`);
    if ((n.op === 'param' || n.op === 'input' || n.op === 'state') && (n.inputs.length || n.params.length))
      problems.push(
        `${where}: a ${n.op} node reads nothing, but this one reads ${[...n.inputs, ...n.params].map((k) => `%${k}`).join(', ')}`,
      );
    if (n.op !== 'param' && n.dtype !== 'f32')
      problems.push(`${where}: dtype ${n.dtype}; only parameters may be ${n.dtype}`);
    if (n.op === 'param') {
      const k = n.attrs.entry;
      const p = typeof k === 'number' ? g.params[k] : undefined;
      if (!p) problems.push(`${where}: points at state-dict entry ${String(k)}, which does not exist`);
      else {
        if (!sameShape(p.shape, n.shape))
          problems.push(
            `${where}: shape ${shapeToString(n.shape)} differs from its entry's ${shapeToString(p.shape)}`,
          );
        if (p.name !== n.name) problems.push(`${where}: named differently from its entry '${p.name}'`);
        if (p.dtype !== n.dtype)
          problems.push(`${where}: dtype ${n.dtype} differs from its entry's ${p.dtype}`);
        if (paramNodeOf.has(k as number)) problems.push(`${where}: a second node for entry '${p.name}'`);
        paramNodeOf.set(k as number, i);
      }
      constant[i] = true;
      return;
    }
    if (n.op === 'state') {
      const k = n.attrs.slot;
      const slot = typeof k === 'number' ? g.state?.[k] : undefined;
      if (!slot) problems.push(`${where}: points at optimizer slot ${String(k)}, which does not exist`);
      else if (!sameShape(slot.shape, n.shape) || slot.name !== n.name)
        problems.push(`${where}: differs from its slot '${slot.name}' ${shapeToString(slot.shape)}`);
      return;
    }
    if (n.op !== 'input') {
      const ops = [...n.inputs, ...n.params];
      constant[i] = ops.length > 0 && ops.every((k) => constant[k]);
    }
    if (n.op === 'fused') {
      problems.push(...verifyBody(g, n, where));
      return;
    }
    problems.push(
      ...checkRule(
        n.op,
        n.inputs.map((k) => g.nodes[k]!.shape),
        n.params.map((k) => g.nodes[k]!.shape),
        n.attrs,
        n.shape,
        where,
      ),
    );
  });
  const inRange = (k: number): boolean => Number.isInteger(k) && k >= 0 && k < g.nodes.length;
  for (const o of [...g.outputs, ...g.inputs, ...g.names])
    if (!inRange(o.node)) problems.push(`'${o.name}' refers to a missing node %${o.node}`);
  const listed = new Set<number>();
  for (const i of g.inputs) {
    if (inRange(i.node) && g.nodes[i.node]!.op !== 'input')
      problems.push(`input '${i.name}' refers to %${i.node}, a ${g.nodes[i.node]!.op} node`);
    if (listed.has(i.node)) problems.push(`input '${i.name}' is listed twice`);
    listed.add(i.node);
  }
  g.nodes.forEach((n, i) => {
    if (n.op === 'input' && !listed.has(i))
      problems.push(`node %${i} (input '${n.name}') is not listed among the graph's inputs`);
  });
  const outNames = new Set<string>();
  for (const o of g.outputs) {
    if (outNames.has(o.name)) problems.push(`output '${o.name}' is declared twice`);
    outNames.add(o.name);
  }
  for (const l of g.losses)
    if (!inRange(l.node)) problems.push(`loss on '${l.output}' refers to a missing node`);
  for (const o of g.objective ?? [])
    if (!inRange(o.node)) problems.push(`loss term '${o.name}' refers to a missing node`);
  for (const x of g.gradients ?? []) {
    const p = g.params[x.entry];
    if (!p) problems.push(`a gradient of missing state-dict entry ${x.entry}`);
    else if (!inRange(x.node) || !sameShape(g.nodes[x.node]!.shape, p.shape))
      problems.push(`the gradient of '${p.name}' is not a node of its shape`);
  }
  for (const u of g.updates ?? []) {
    const target = u.target.kind === 'param' ? g.params[u.target.entry] : g.state?.[u.target.slot];
    if (!target) problems.push(`an update of missing ${u.target.kind} ${JSON.stringify(u.target)}`);
    else if (!inRange(u.node) || !sameShape(g.nodes[u.node]!.shape, target.shape))
      problems.push(`the update of '${target.name}' is not a node of its shape`);
  }
  return problems;
}

/** Checks one op application against its shape and parameter rules. */
function checkRule(
  op: string,
  inShapes: readonly Shape[],
  paramShapes: readonly Shape[],
  attrs: Graph['nodes'][number]['attrs'],
  shape: Shape,
  where: string,
): string[] {
  const problems: string[] = [];
  const def = getOp(op);
  if (def.arity !== 'variadic' && inShapes.length !== def.arity)
    problems.push(`${where}: has ${inShapes.length} inputs, the op takes ${def.arity}`);
  try {
    const want = def.inferShape(inShapes, attrs);
    if (!sameShape(want, shape))
      problems.push(`${where}: shape ${shapeToString(shape)} differs from its rule's ${shapeToString(want)}`);
    const decls = def.params?.(inShapes, attrs) ?? [];
    if (decls.length !== paramShapes.length)
      problems.push(`${where}: reads ${paramShapes.length} params, its rule declares ${decls.length}`);
    decls.forEach((d, k) => {
      const have = paramShapes[k];
      if (have && !sameShape(have, d.shape))
        problems.push(
          `${where}: param ${k} (${d.role}) has shape ${shapeToString(have)}, its rule says ${shapeToString(d.shape)}`,
        );
    });
  } catch (e) {
    if (!(e instanceof ShapeError)) throw e;
    problems.push(`${where}: shape rule fails: ${e.message}`);
  }
  return problems;
}

/** A fused node's members: operands in range, each member's rule, the last member's shape is the node's. */
function verifyBody(g: Graph, n: Node, where: string): string[] {
  const body = n.body ?? [];
  if (body.length === 0) return [`${where}: a fused node without a body`];
  const problems: string[] = [];
  const shapes: Shape[] = [];
  body.forEach((m, j) => {
    const at = `${where} member ${j} (${m.op} '${m.name}')`;
    if (!OPS.has(m.op) || getOp(m.op).structural) {
      problems.push(`${at}: not a computing op`);
      shapes.push(m.shape);
      return;
    }
    const resolve = (r: (typeof m.inputs)[number]): Shape | undefined =>
      r.kind === 'in'
        ? g.nodes[n.inputs[r.index]!]?.shape
        : r.kind === 'param'
          ? g.nodes[n.params[r.index]!]?.shape
          : r.index < j
            ? shapes[r.index]
            : undefined;
    const ins = m.inputs.map(resolve);
    const ps = m.params.map(resolve);
    if (ins.some((s) => !s) || ps.some((s) => !s)) {
      problems.push(`${at}: an operand refers to nothing (or to a later member)`);
      shapes.push(m.shape);
      return;
    }
    if (m.params.some((r) => r.kind !== 'param')) problems.push(`${at}: a parameter operand is not a param`);
    problems.push(...checkRule(m.op, ins as Shape[], ps as Shape[], m.attrs, m.shape, at));
    shapes.push(m.shape);
  });
  if (!sameShape(body[body.length - 1]!.shape, n.shape))
    problems.push(`${where}: shape ${shapeToString(n.shape)} differs from its last member's`);
  const refs = body.flatMap((m) => [...m.inputs, ...m.params]);
  const used = (kind: 'in' | 'param', k: number): boolean =>
    refs.some((r) => r.kind === kind && r.index === k);
  n.inputs.forEach((_, k) => {
    if (!used('in', k)) problems.push(`${where}: input ${k} is read by no member`);
  });
  n.params.forEach((_, k) => {
    if (!used('param', k)) problems.push(`${where}: param ${k} is read by no member`);
  });
  // An anchor and an epilogue chain: every member after the first is pointwise and reads the one before it.
  body.forEach((m, j) => {
    if (j === 0) return;
    const at = `${where} member ${j} (${m.op} '${m.name}')`;
    if (OPS.has(m.op) && !getOp(m.op).pointwise) problems.push(`${at}: an epilogue member must be pointwise`);
    if (!m.inputs.some((r) => r.kind === 'member' && r.index === j - 1))
      problems.push(`${at}: does not read the member before it (the epilogue is a chain)`);
  });
  return problems;
}
