// The typed op graph (IR). Plain, immutable, JSON-printable data: every stage from elaboration on consumes and
// produces these records. Shapes are static; feature maps are NCHW with the batch first.
//
// Values are nodes. A node's data inputs (`inputs`) and its parameters (`params`) are both ids of earlier nodes:
// parameters are nodes too — `param` nodes that point into the state-dict table (`Graph.params`, the official
// checkpoint layout), or nodes computed from parameters only (derived parameters, such as a convolution weight
// with a batchnorm folded in), which run once when weights are loaded. So passes rewrite parameters like any
// other value, while checkpoints keep loading strictly under the official names.
import type { Span } from '../diagnostics.ts';

export type Shape = readonly number[];
export type DType = 'f32' | 'i64';
export type AttrValue = number | boolean | string | readonly number[];
export type Attrs = Readonly<Record<string, AttrValue>>;

/** How a parameter is initialised when no weights are given (mirrors the official code; see runtime/weights/init.ts). */
export type ParamInit =
  | { readonly kind: 'kaiming_normal_fan_out' }
  | { readonly kind: 'ones' }
  | { readonly kind: 'zeros' }
  | { readonly kind: 'uniform'; readonly low: number; readonly high: number }
  | { readonly kind: 'torch_default_conv'; readonly fanIn: number }
  | { readonly kind: 'torch_default_linear'; readonly fanIn: number };

/** One entry of the state dict: a trainable parameter or a buffer (running statistics, counters). */
export interface Param {
  /** Official state-dict key, e.g. `pretrained.layer1.0.conv1.weight`. */
  readonly name: string;
  readonly shape: Shape;
  readonly dtype: DType;
  readonly init: ParamInit;
  /** false for buffers (running_mean, running_var, num_batches_tracked). */
  readonly trainable: boolean;
  /** The role the op gives it (`weight`, `bias`, `running_mean`, `codewords`, ...). */
  readonly role: string;
  /** false for parameters of layers the forward pass never runs (`unused` in a spec, e.g. `pretrained.fc`). */
  readonly used: boolean;
  readonly span?: Span;
}

/** A node of the source graph that a rewritten node computes (kept for errors and profiles). */
export interface Origin {
  readonly name: string;
  readonly op: string;
  readonly span?: Span;
}

/**
 * One member of a fused node's body. Operands refer to the fused node's inputs (`in`), its params (`param`) or
 * earlier members (`member`).
 */
export interface FusedMember {
  readonly op: string;
  readonly inputs: readonly Ref[];
  readonly params: readonly Ref[];
  readonly attrs: Attrs;
  readonly shape: Shape;
  readonly name: string;
  readonly span?: Span;
}
export type Ref =
  | { readonly kind: 'in'; readonly index: number }
  | { readonly kind: 'param'; readonly index: number }
  | { readonly kind: 'member'; readonly index: number };

export interface Node {
  readonly id: number;
  readonly op: string;
  /** Ids of the nodes whose outputs this node reads, in the op's input order. */
  readonly inputs: readonly number[];
  /** Ids of the parameter-valued nodes this node reads, in the order the op's `params` rule declares them. */
  readonly params: readonly number[];
  readonly attrs: Attrs;
  readonly shape: Shape;
  readonly dtype: DType;
  /** Instance path of the spec call that made this node (`pretrained.layer1.0.conv1`); unique in a graph. */
  readonly name: string;
  readonly span?: Span;
  /** The source nodes a rewritten node stands for (a conv with its batchnorm folded in): names every spec line. */
  readonly origins?: readonly Origin[];
  /**
   * Fused nodes (op `fused`): the members computed by one kernel, in order; the first is the anchor whose kernel
   * runs, the rest its epilogue (applied to each output element before it is stored). The last is the result.
   */
  readonly body?: readonly FusedMember[];
}

export interface LossTerm {
  readonly kind: 'ce' | 'se_bce';
  readonly weight: number;
  /** Node id of the output the term reads. */
  readonly node: number;
  readonly output: string;
  readonly attrs: Attrs;
  readonly span?: Span;
}

/** State a training step changes: a state-dict entry (a parameter, a running statistic) or an optimizer slot. */
export type StateRef =
  { readonly kind: 'param'; readonly entry: number } | { readonly kind: 'state'; readonly slot: number };

/** Optimizer state that is not in the state dict (a momentum buffer), one per trainable parameter. */
export interface StateSlot {
  /** `momentum.<parameter name>`. */
  readonly name: string;
  readonly shape: Shape;
  /** The state-dict entry it belongs to (its layout on the device is that parameter's). */
  readonly of: number;
}

export interface Graph {
  readonly model: string;
  readonly file: string;
  /** Values of the model's parameters after defaults and overrides (`classes`, ...) and the input size. */
  readonly settings: Readonly<Record<string, number | boolean | string | readonly number[]>>;
  /** Topologically ordered; node.id === index. Includes `input` and `param` nodes. */
  readonly nodes: readonly Node[];
  /** The state dict, in the order the official models register it. `param` nodes point here. */
  readonly params: readonly Param[];
  readonly inputs: readonly { readonly name: string; readonly node: number; readonly stride: number }[];
  readonly outputs: readonly { readonly name: string; readonly node: number }[];
  /** Every named value of the spec (bindings, seq items, block outputs) → node, for `fcnc run --outputs`. */
  readonly names: readonly { readonly name: string; readonly node: number }[];
  /** Block instances with several outputs (`head.encmodule` → `head.encmodule.y`, `head.encmodule.se`). */
  readonly groups?: readonly { readonly name: string; readonly members: readonly string[] }[];
  readonly losses: readonly LossTerm[];
  /** Training graphs: optimizer state slots (`state` nodes point here). */
  readonly state?: readonly StateSlot[];
  /** Training graphs: the loss terms as values, with their weights (what autodiff differentiates). */
  readonly objective?: readonly { readonly name: string; readonly node: number; readonly weight: number }[];
  /** Training graphs: the gradient of each trainable state-dict entry (after autodiff). */
  readonly gradients?: readonly { readonly entry: number; readonly node: number }[];
  /** Training graphs: state a step changes, and the node holding its new value (written back after the step). */
  readonly updates?: readonly { readonly target: StateRef; readonly node: number }[];
}

export const numel = (s: Shape): number => s.reduce((a, b) => a * b, 1);
export const bytesOf = (s: Shape, dtype: DType = 'f32'): number => numel(s) * (dtype === 'i64' ? 8 : 4);
export const shapeToString = (s: Shape): string => `[${s.join(', ')}]`;

/** Data inputs and parameters of a node: every node it reads. */
export const operands = (n: Node): readonly number[] =>
  n.params.length ? [...n.inputs, ...n.params] : n.inputs;

/** The state-dict index a `param` node points at. */
export const paramIndex = (n: Node): number => n.attrs.entry as number;

/** Nodes that are parameters or computed from parameters only (run once at load, not per forward). */
export function constantNodes(g: Graph): boolean[] {
  const constant = new Array<boolean>(g.nodes.length).fill(false);
  // A training graph changes its parameters every step: nothing in it is computed once at load.
  if (g.objective?.length || g.updates?.length) return constant;
  for (const n of g.nodes) {
    if (n.op === 'param') constant[n.id] = true;
    else if (n.op !== 'input' && n.op !== 'state') {
      const ops = operands(n);
      constant[n.id] = ops.length > 0 && ops.every((k) => constant[k]);
    }
  }
  return constant;
}

/** For each node, the ids of the nodes that read it (as data input or parameter), in order. */
export function consumers(g: Graph): number[][] {
  const out = g.nodes.map(() => [] as number[]);
  for (const n of g.nodes) for (const k of new Set(operands(n))) out[k]!.push(n.id);
  return out;
}
