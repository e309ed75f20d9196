// The reference interpreter: runs a Graph node by node in float64 with each op's `reference` (inference
// semantics). It is the oracle every GPU kernel and every pass is compared with, so it stays plain: no fusion,
// no layout tricks, just the ops in graph order. Intermediate values are dropped after their last use unless
// every node's value is asked for.
import { getOp } from '../ops/index.ts';
import type { RefTensor } from '../ops/op.ts';
import { numel, operands, shapeToString, type Attrs, type Graph, type Ref, type Shape } from './types.ts';

export type { RefTensor } from '../ops/op.ts';
export { refTensor } from '../ops/ref.ts';

/** Host data accepted for parameters and inputs (converted to float64 once). i64 buffers may come as BigInt64Array. */
export type HostData = Float64Array | Float32Array | BigInt64Array;

export interface InterpretOptions {
  /** 'outputs' (default): only the graph outputs are returned; 'all': also every node's value by node name. */
  readonly keep?: 'outputs' | 'all';
}

function toF64(data: HostData): Float64Array {
  if (data instanceof Float64Array) return data;
  if (data instanceof BigInt64Array) return Float64Array.from(data, (v) => Number(v));
  return Float64Array.from(data);
}

function checked(kind: 'param' | 'input', name: string, shape: Shape, data: HostData | undefined): RefTensor {
  if (data === undefined)
    throw new Error(`interpret: missing ${kind} '${name}' (expected shape ${shapeToString(shape)})`);
  if (data.length !== numel(shape))
    throw new Error(
      `interpret: ${kind} '${name}' has ${data.length} values, expected shape ${shapeToString(shape)} = ${numel(shape)} values`,
    );
  return { shape, data: toF64(data) };
}

/**
 * Runs `graph` on the given parameters (by state-dict name) and inputs (by input name). Returns the graph outputs by
 * output name; with `keep: 'all'` also every node's value by node name (an output name wins over a node name).
 * A missing `num_batches_tracked` buffer is taken as 0: it has no effect on inference.
 */
export function interpret(
  graph: Graph,
  params: ReadonlyMap<string, HostData>,
  inputs: ReadonlyMap<string, HostData>,
  opts: InterpretOptions = {},
): Map<string, RefTensor> {
  const keepAll = opts.keep === 'all';
  const nodes = graph.nodes;

  // Last reader of every node; outputs live to the end.
  const lastUse = nodes.map((n) => n.id);
  for (const n of nodes) for (const i of operands(n)) lastUse[i] = Math.max(lastUse[i]!, n.id);
  for (const o of graph.outputs) lastUse[o.node] = Infinity;

  const inputOf = new Map(graph.inputs.map((i) => [i.node, i.name]));
  const values: (RefTensor | undefined)[] = new Array(nodes.length);
  const result = new Map<string, RefTensor>();

  for (const node of nodes) {
    let value: RefTensor;
    const read = (i: number): RefTensor => {
      const v = values[i];
      if (!v)
        throw new Error(
          `internal: interpret: node '${node.name}' reads %${i}, which was freed or never computed`,
        );
      return v;
    };
    if (node.op === 'input') {
      const name = inputOf.get(node.id) ?? node.name;
      value = checked('input', name, node.shape, inputs.get(name));
    } else if (node.op === 'state') {
      // Optimizer state (momentum): given by name, else zero (the state at the first step).
      const data = params.get(node.name) ?? new Float64Array(numel(node.shape));
      value = checked('param', node.name, node.shape, data);
    } else if (node.op === 'param') {
      const p = graph.params[node.attrs.entry as number]!;
      const data =
        params.get(p.name) ??
        (p.role === 'num_batches_tracked' ? new Float64Array(numel(p.shape)) : undefined);
      value = checked('param', p.name, p.shape, data);
    } else if (node.op === 'fused') {
      // The members one by one, each with its op's reference: fusion must not change what is computed.
      const done: RefTensor[] = [];
      for (const m of node.body!) {
        const get = (r: Ref): RefTensor =>
          r.kind === 'in'
            ? read(node.inputs[r.index]!)
            : r.kind === 'param'
              ? read(node.params[r.index]!)
              : done[r.index]!;
        done.push(apply(m.op, m.name, m.inputs.map(get), m.params.map(get), m.attrs, m.shape));
      }
      value = done[done.length - 1]!;
    } else {
      value = apply(node.op, node.name, node.inputs.map(read), node.params.map(read), node.attrs, node.shape);
    }
    values[node.id] = value;
    if (keepAll) result.set(node.name, value);
    if (!keepAll) for (const i of new Set(operands(node))) if (lastUse[i] === node.id) values[i] = undefined;
  }
  for (const o of graph.outputs) result.set(o.name, values[o.node]!);
  return result;
}

/** One op's reference, with its result checked against the shape the graph says. */
function apply(
  opName: string,
  name: string,
  args: readonly RefTensor[],
  ps: readonly RefTensor[],
  attrs: Attrs,
  shape: Shape,
): RefTensor {
  const op = getOp(opName);
  if (!op.reference) throw new Error(`interpret: op '${opName}' (node '${name}') has no CPU reference`);
  const value = op.reference(args, ps, attrs, shape);
  if (
    value.shape.length !== shape.length ||
    value.shape.some((d, k) => d !== shape[k]) ||
    value.data.length !== numel(shape)
  )
    throw new Error(
      `internal: interpret: the reference of '${opName}' (node '${name}') made shape ${shapeToString(value.shape)} with ` +
        `${value.data.length} values; the graph says ${shapeToString(shape)}`,
    );
  return value;
}

/** A deterministic stand-in for real data: element i is a smooth pseudo-random function of (seed, i) in [−1, 1]. */
export function seededFill(n: number, seed: number): Float64Array {
  const d = new Float64Array(n);
  for (let i = 0; i < n; i++) d[i] = Math.sin(seed * 12.9898 + i * 78.233 + 0.5 * Math.sin(i * 0.37 + seed));
  return d;
}

/**
 * Deterministic parameters for every param of `graph`, scaled so activations stay O(1) through a deep network:
 * weights ~ ±√(3/fan_in), norm scales 1 ± 0.1, biases and running means ±0.1, running variances in [0.5, 1.5],
 * Encoding smoothing factors negative (as initialised) and codewords ±0.5. For tests, not for training.
 */
export function seededParams(graph: Graph, seed = 1): Map<string, Float64Array> {
  const out = new Map<string, Float64Array>();
  graph.params.forEach((p, k) => {
    const n = numel(p.shape);
    const f = seededFill(n, seed * 1000.5 + k * 3.1);
    const map = (g: (v: number) => number) => f.map(g);
    let d: Float64Array;
    if (p.role === 'weight' && p.shape.length >= 2) {
      const bound = Math.sqrt(3 / (n / p.shape[0]!));
      d = map((v) => v * bound);
    } else if (p.role === 'weight') d = map((v) => 1 + 0.1 * v);
    else if (p.role === 'running_var') d = map((v) => 1 + 0.5 * v);
    else if (p.role === 'scale') d = map((v) => -0.75 + 0.25 * v);
    else if (p.role === 'codewords') d = map((v) => 0.5 * v);
    else if (p.role === 'num_batches_tracked') d = new Float64Array(n);
    else d = map((v) => 0.1 * v); // bias, running_mean, anything else
    out.set(p.name, d);
  });
  return out;
}
