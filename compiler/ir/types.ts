// The typed op graph (IR). Plain, immutable, JSON-printable data: every stage from elaboration on consumes and
// produces these records. Shapes are static; feature maps are NCHW with the batch first.
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

export interface Node {
  readonly id: number;
  readonly op: string;
  /** Ids of the nodes whose outputs this node reads, in the op's input order. */
  readonly inputs: readonly number[];
  /** Indices into Graph.params, in the order the op's `params` rule declares them. */
  readonly params: readonly number[];
  readonly attrs: Attrs;
  readonly shape: Shape;
  readonly dtype: DType;
  /** Instance path of the spec call that made this node (`pretrained.layer1.0.conv1`); unique in a graph. */
  readonly name: string;
  readonly span?: Span;
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

export interface Graph {
  readonly model: string;
  readonly file: string;
  /** Values of the model's parameters after defaults and overrides (`classes`, ...) and the input size. */
  readonly settings: Readonly<Record<string, number | boolean | string | readonly number[]>>;
  /** Topologically ordered; node.id === index. */
  readonly nodes: readonly Node[];
  readonly params: readonly Param[];
  readonly inputs: readonly { readonly name: string; readonly node: number; readonly stride: number }[];
  readonly outputs: readonly { readonly name: string; readonly node: number }[];
  /** Every named value of the spec (bindings, seq items, block outputs) → node, for `fcnc run --outputs`. */
  readonly names: readonly { readonly name: string; readonly node: number }[];
  /** Block instances with several outputs (`head.encmodule` → `head.encmodule.y`, `head.encmodule.se`). */
  readonly groups?: readonly { readonly name: string; readonly members: readonly string[] }[];
  readonly losses: readonly LossTerm[];
}

export const numel = (s: Shape): number => s.reduce((a, b) => a * b, 1);
export const bytesOf = (s: Shape, dtype: DType = 'f32'): number => numel(s) * (dtype === 'i64' ? 8 : 4);
export const shapeToString = (s: Shape): string => `[${s.join(', ')}]`;
