// The one way graphs are built: elaboration, every pass, `rebatch` and the tests add nodes through a
// GraphBuilder, which runs the op's shape rule and checks its parameter rule as each node is added — so a graph
// that a builder returns is well-typed by construction (the verifier re-derives the same facts independently).
import { getOp } from '../ops/index.ts';
import { ShapeError } from '../ops/op.ts';
import {
  operands,
  shapeToString,
  type Attrs,
  type FusedMember,
  type Graph,
  type Node,
  type Origin,
  type Param,
  type Shape,
} from './types.ts';
import type { Span } from '../diagnostics.ts';

export interface NodeOptions {
  /** Instance path; made unique with `#2`, `#3`, … when taken. */
  readonly name: string;
  readonly span?: Span;
  readonly origins?: readonly Origin[];
  readonly body?: readonly FusedMember[];
  /** Skip the shape rule and take this shape (fused nodes: their body was checked member by member). */
  readonly shape?: Shape;
}

type Meta = Pick<Graph, 'model' | 'file' | 'settings'>;

export class GraphBuilder {
  readonly nodes: Node[] = [];
  readonly params: Param[] = [];
  private readonly paramNames = new Map<string, number>();
  private readonly paramNodes = new Map<number, number>();
  private readonly stateNodes = new Map<number, number>();
  private readonly nodeNames = new Set<string>();

  constructor(readonly meta: Meta) {}

  /** A builder holding `g`'s state dict (same indices) and no nodes yet. */
  static like(g: Graph): GraphBuilder {
    const b = new GraphBuilder({ model: g.model, file: g.file, settings: g.settings });
    for (const p of g.params) b.entry(p);
    return b;
  }

  /** Adds a state-dict entry; returns its index. Throws on a duplicate name (the caller reports it located). */
  entry(p: Param): number {
    if (this.paramNames.has(p.name)) throw new DuplicateParamError(p.name, this.paramNames.get(p.name)!);
    this.params.push(p);
    this.paramNames.set(p.name, this.params.length - 1);
    return this.params.length - 1;
  }

  entryIndex(name: string): number | undefined {
    return this.paramNames.get(name);
  }

  /** The `param` node of state-dict entry `k` (made on first use; one node per entry). */
  param(k: number): number {
    const known = this.paramNodes.get(k);
    if (known !== undefined) return known;
    const p = this.params[k];
    if (!p) throw new Error(`internal: no state-dict entry ${k}`);
    const id = this.push({
      op: 'param',
      inputs: [],
      params: [],
      attrs: { entry: k, shape: p.shape },
      shape: p.shape,
      dtype: p.dtype,
      name: p.name,
      ...(p.span ? { span: p.span } : {}),
    });
    this.paramNodes.set(k, id);
    return id;
  }

  /** The `state` node of optimizer slot `k` of `slots` (one node per slot). */
  state(k: number, slot: { name: string; shape: Shape }): number {
    const known = this.stateNodes.get(k);
    if (known !== undefined) return known;
    const id = this.push({
      op: 'state',
      inputs: [],
      params: [],
      attrs: { slot: k, shape: slot.shape },
      shape: slot.shape,
      dtype: 'f32',
      name: slot.name,
    });
    this.stateNodes.set(k, id);
    return id;
  }

  input(name: string, shape: Shape, span?: Span): number {
    return this.push({
      op: 'input',
      inputs: [],
      params: [],
      attrs: { name, shape },
      shape,
      dtype: 'f32',
      name,
      ...(span ? { span } : {}),
    });
  }

  /**
   * Adds a node of `op` reading `inputs` (data) and `params` (parameter-valued nodes). Runs the shape rule
   * (throws ShapeError, whose `inputs` index the data inputs at fault) and checks the parameters against the
   * op's parameter rule.
   */
  add(
    op: string,
    inputs: readonly number[],
    params: readonly number[],
    attrs: Attrs,
    o: NodeOptions,
  ): number {
    const def = getOp(op);
    const shapes = inputs.map((i) => this.shapeOf(i));
    for (const k of [...inputs, ...params])
      if (!(k >= 0 && k < this.nodes.length)) throw new Error(`internal: ${o.name} reads missing node %${k}`);
    const shape = o.shape ?? def.inferShape(shapes, attrs);
    if (!o.body) {
      if (def.arity !== 'variadic' && inputs.length !== def.arity)
        throw new Error(`internal: ${op} '${o.name}' takes ${def.arity} inputs, got ${inputs.length}`);
      const decls = def.params?.(shapes, attrs) ?? [];
      if (decls.length !== params.length)
        throw new ShapeError(`${op} owns ${decls.length} parameters, ${params.length} were given`);
      decls.forEach((d, k) => {
        const have = this.shapeOf(params[k]!);
        if (have.length !== d.shape.length || have.some((x, j) => x !== d.shape[j]))
          throw new ShapeError(
            `${op}: parameter ${d.role} has shape ${shapeToString(have)}, its rule says ${shapeToString(d.shape)}`,
          );
      });
    }
    return this.push({
      op,
      inputs,
      params,
      attrs,
      shape,
      dtype: 'f32',
      name: o.name,
      ...(o.span ? { span: o.span } : {}),
      ...(o.origins ? { origins: o.origins } : {}),
      ...(o.body ? { body: o.body } : {}),
    });
  }

  shapeOf(id: number): Shape {
    const n = this.nodes[id];
    if (!n) throw new Error(`internal: no node %${id}`);
    return n.shape;
  }

  /** A name not taken yet: `name`, else `name#2`, `name#3`, … */
  uniqueName(name: string): string {
    let unique = name;
    for (let k = 2; this.nodeNames.has(unique); k++) unique = `${name}#${k}`;
    return unique;
  }

  private push(n: Omit<Node, 'id'>): number {
    const id = this.nodes.length;
    const name = this.uniqueName(n.name);
    this.nodeNames.add(name);
    this.nodes.push({ ...n, id, name });
    return id;
  }

  finish(rest: Omit<Graph, 'model' | 'file' | 'settings' | 'nodes' | 'params'>): Graph {
    return { ...this.meta, nodes: this.nodes, params: this.params, ...rest };
  }
}

export class DuplicateParamError extends Error {
  constructor(
    readonly param: string,
    readonly first: number,
  ) {
    super(`parameter '${param}' is created twice`);
  }
}

/**
 * What a rewrite does with one node: `undefined` keeps a copy; an id ≥ 0 is the node of the new graph that stands
 * for it (the visitor may have added nodes to the builder); -1 removes it (nothing may read it any more).
 */
export type Visit = (n: Node, b: GraphBuilder, map: (oldId: number) => number) => number | undefined;

/**
 * Copies `g` node by node into a new graph, letting `visit` replace or remove nodes (see Visit). Inputs, outputs,
 * names and losses are remapped; names of nodes that no longer exist are dropped. The state dict is kept as it
 * was (same indices).
 */
export function rewrite(g: Graph, visit?: Visit): Graph {
  const b = GraphBuilder.like(g);
  const map = new Array<number>(g.nodes.length).fill(-1);
  const get = (old: number): number => {
    const m = map[old];
    if (m === undefined || m < 0)
      throw new Error(
        `internal: rewrite: node %${old} ('${g.nodes[old]?.name}') was removed but is still read`,
      );
    return m;
  };
  for (const n of g.nodes) {
    const r = visit?.(n, b, get);
    if (r !== undefined) {
      map[n.id] = r;
      continue;
    }
    map[n.id] = copyNode(n, b, get);
  }
  const keep = (k: number): boolean => map[k] !== undefined && map[k]! >= 0;
  return b.finish({
    inputs: g.inputs.map((i) => ({ ...i, node: get(i.node) })),
    outputs: g.outputs.map((o) => ({ ...o, node: get(o.node) })),
    names: g.names.filter((x) => keep(x.node)).map((x) => ({ ...x, node: map[x.node]! })),
    ...(g.groups ? { groups: g.groups } : {}),
    losses: g.losses.filter((l) => keep(l.node)).map((l) => ({ ...l, node: map[l.node]! })),
    ...(g.state ? { state: g.state } : {}),
    ...(g.objective ? { objective: g.objective.map((o) => ({ ...o, node: get(o.node) })) } : {}),
    ...(g.gradients ? { gradients: g.gradients.map((x) => ({ ...x, node: get(x.node) })) } : {}),
    ...(g.updates ? { updates: g.updates.map((x) => ({ ...x, node: get(x.node) })) } : {}),
  });
}

/** Adds a copy of `n` (operands remapped) to `b`. */
export function copyNode(n: Node, b: GraphBuilder, map: (old: number) => number): number {
  if (n.op === 'param') return b.param(n.attrs.entry as number);
  if (n.op === 'state') return b.state(n.attrs.slot as number, { name: n.name, shape: n.shape });
  if (n.op === 'input') return b.input(n.attrs.name as string, n.shape, n.span);
  return b.add(n.op, n.inputs.map(map), n.params.map(map), n.attrs, {
    name: n.name,
    ...(n.span ? { span: n.span } : {}),
    ...(n.origins ? { origins: n.origins } : {}),
    ...(n.body ? { body: n.body, shape: n.shape } : {}),
  });
}

/** The origins of a node: what it says it stands for, else itself. */
export function originsOf(n: Node): readonly Origin[] {
  return n.origins ?? [{ name: n.name, op: n.op, ...(n.span ? { span: n.span } : {}) }];
}

/** Every node id that `roots` depend on (inclusive), as a boolean mask. */
export function reachable(g: Graph, roots: readonly number[]): boolean[] {
  const live = new Array<boolean>(g.nodes.length).fill(false);
  const stack = [...roots];
  while (stack.length) {
    const k = stack.pop()!;
    if (live[k]) continue;
    live[k] = true;
    stack.push(...operands(g.nodes[k]!));
  }
  return live;
}
