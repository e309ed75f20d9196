// What each step of a compiled entry costs, for profiles (`fcnc profile`, runtime/profile.ts): floating-point
// operations and bytes moved, from the graph the entry was lowered from.
//
// FLOPs = 2 · MACs of the step's anchor op (the op whose kernel runs; the pointwise ops fused after it are not
// counted, the convention of the reference's MAC tables, where only conv and linear count). MACs come from the
// op's `macs` rule (conv2d, linear) and, for the gradient ops of training steps, from the rules below (a conv's
// input and weight gradients cost as many MACs as the conv; the same for linear).
//
// Bytes = compulsory traffic: every tensor the step binds read once and its output written once. For a step that
// is the only dispatch of its node, these are the node's operands (its inputs, parameters and the operands of its
// fused epilogue, each distinct tensor once) and its output, at their exact sizes. For the dispatches of a node
// that runs as several (a KernelPlan with scratch buffers, channel slices of a tensor larger than one binding,
// argmax post-processing), the sizes of the bound ranges or buffers (a planned buffer can be larger than the value
// in it: an overestimate). A copy step reads and writes its bytes. Re-reads that caches serve or miss are not
// counted: real traffic is at least this.
import { getOp } from './ops/index.ts';
import { bytesOf, numel, type Attrs, type Graph, type Node, type Shape } from './ir/types.ts';
import { MODEL_LEVEL, moduleOf } from './report.ts';
import type { Program, ProgramStep } from '../runtime/program.ts';

export interface StepCost {
  /** 2 · MACs of the anchor op (0 for ops without a MAC rule). */
  readonly flops: number;
  /** Compulsory bytes read + written. */
  readonly bytes: number;
  /** How `bytes` was counted: the node's tensors (exact), the bound ranges/buffers (an upper bound), a copy. */
  readonly bytesFrom: 'tensors' | 'bindings' | 'copy';
}

type MacRule = (inputs: readonly Shape[], out: Shape, attrs: Attrs) => number;

/** MACs of the gradient ops, which have no `macs` rule of their own (those count forward ops only). */
const GRADIENT_MACS: Readonly<Record<string, MacRule>> = {
  // dX = a transposed conv of dy with the weight: per dy element, Cin/groups · k² taps.
  conv2d_grad_input: ([dy], out, a) => numel(dy!) * (out[1]! / Number(a.groups)) * Number(a.kernel) ** 2,
  // dW = Σ over N·Ho·Wo of x-patch · dy: per dy element, Cin/groups · k² products.
  conv2d_grad_weight: ([x, dy], _out, a) => numel(dy!) * (x![1]! / Number(a.groups)) * Number(a.kernel) ** 2,
  linear_grad_input: ([dy], out) => numel(dy!) * out[1]!,
  linear_grad_weight: ([x, dy]) => x![0]! * x![1]! * dy![1]!,
};

/** MACs of a graph node: its op's (a fused node: its anchor's), 0 where no rule counts them. */
export function nodeMacs(graph: Graph, node: Node): number {
  let op = node.op;
  let inputs: Shape[];
  let out = node.shape;
  let attrs = node.attrs;
  if (node.op === 'fused' && node.body?.length) {
    const anchor = node.body[0]!;
    op = anchor.op;
    out = anchor.shape;
    attrs = anchor.attrs;
    inputs = anchor.inputs.map((r) => {
      if (r.kind === 'in') return graph.nodes[node.inputs[r.index]!]!.shape;
      if (r.kind === 'param') return graph.nodes[node.params[r.index]!]!.shape;
      return node.body![r.index]!.shape;
    });
  } else inputs = node.inputs.map((i) => graph.nodes[i]!.shape);
  const rule: MacRule | undefined = getOp(op).macs ?? GRADIENT_MACS[op];
  return rule ? rule(inputs, out, attrs) : 0;
}

/** The bytes a step binds: each binding's range, else its whole buffer. */
export function bindingBytes(program: Program, step: ProgramStep): number {
  return step.buffers.reduce((a, b, i) => a + (step.ranges?.[i]?.[1] ?? program.buffers[b]!.bytes), 0);
}

/** Compulsory bytes of a node computed in one dispatch: each distinct operand once, plus its output. */
function nodeBytes(graph: Graph, node: Node): number {
  const operands = new Set([...node.inputs, ...node.params]);
  let bytes = bytesOf(node.shape, node.dtype);
  for (const id of operands) bytes += bytesOf(graph.nodes[id]!.shape, graph.nodes[id]!.dtype);
  return bytes;
}

/** The cost of every step of `entry` (in step order); `graph` is the graph that entry was lowered from. */
export function stepCosts(graph: Graph, program: Program, entry = 'forward'): StepCost[] {
  const e = program.entries[entry];
  if (!e) throw new Error(`the program has no entry '${entry}'`);
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const dispatches = new Map<string, number>();
  for (const s of e.steps) dispatches.set(s.node, (dispatches.get(s.node) ?? 0) + 1);
  const charged = new Set<string>();
  return e.steps.map((s): StepCost => {
    if (s.copy) return { flops: 0, bytes: 2 * s.copy.bytes, bytesFrom: 'copy' };
    // A channel slice `name[c0:c1]` of a node too large for one binding: its share of the node's MACs.
    const slice = /^(.*)\[(\d+):(\d+)\]$/.exec(s.node);
    const node = byName.get(slice ? slice[1]! : s.node);
    if (!node) return { flops: 0, bytes: bindingBytes(program, s), bytesFrom: 'bindings' };
    const macs = nodeMacs(graph, node);
    if (slice) {
      const share = (Number(slice[3]) - Number(slice[2])) / node.shape[1]!;
      return { flops: 2 * macs * share, bytes: bindingBytes(program, s), bytesFrom: 'bindings' };
    }
    if (dispatches.get(s.node) === 1)
      return { flops: 2 * macs, bytes: nodeBytes(graph, node), bytesFrom: 'tensors' };
    // Several dispatches of one node (a plan: encoding's assign and aggregate passes, a split-K GEMM's two
    // passes): the first carries the node's MACs — but a strided 1×1 conv's subsampling copy (pass 1 of
    // conv.ts `subsampledGemm`, kernel `conv2d_subsample_…`) and the transforms of a Winograd conv (winograd.ts,
    // `conv2d_winograd<m>_weights_…`, `…_input_…`, `…_output_…`) leave them to its GEMM.
    if (/^conv2d_(subsample_|winograd\d+_(weights|input|output)_)/.test(s.kernel))
      return { flops: 0, bytes: bindingBytes(program, s), bytesFrom: 'bindings' };
    const first = !charged.has(s.node);
    charged.add(s.node);
    return { flops: first ? 2 * macs : 0, bytes: bindingBytes(program, s), bytesFrom: 'bindings' };
  });
}

/**
 * The module a node belongs to, as `fcnc info` groups them: the first component of its instance name when that
 * is a top-level instance with parameters (`pretrained` = the backbone, `jpu`, `head`, `auxlayer`, …), otherwise
 * `(model)` (the input, the final resizes, the losses of a training step).
 */
export function moduleNamer(graph: Graph): (name: string) => string {
  const modules = new Set(graph.params.filter((p) => p.trainable).map((p) => moduleOf(p.name)));
  return (name) => {
    const m = moduleOf(name);
    return modules.has(m) ? m : MODEL_LEVEL;
  };
}
