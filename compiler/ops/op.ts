// The contract every op meets, and the contract of the DSL's builtin layers.
//
// An op (IR level) is one record: attributes, shape rule, parameters it owns (with their state-dict roles and
// init), cost, and — added by later stages in the same record — the float64 CPU reference, WGSL kernels and the
// backward rule. A layer (DSL level) is the user-facing call (`conv(x, 64, kernel = 3)`): typed parameters with
// defaults and ranges, and a `build` that turns checked arguments into one or more ops.
import type { Attrs, DType, ParamInit, Shape } from '../ir/types.ts';

/** Thrown by a shape rule; `inputs` lists the input indices the message is about (they get "made here" notes). */
export class ShapeError extends Error {
  constructor(
    message: string,
    readonly inputs: readonly number[] = [],
  ) {
    super(message);
  }
}

export interface ParamDecl {
  readonly role: string;
  readonly shape: Shape;
  readonly dtype?: DType;
  readonly init: ParamInit;
  /** Buffers (running statistics) are not trainable. Default true. */
  readonly trainable?: boolean;
}

/** A float64 tensor for the CPU reference: row-major data with its shape. */
export interface RefTensor {
  readonly shape: Shape;
  readonly data: Float64Array;
}

export interface OpDef<A extends Attrs = Attrs> {
  readonly name: string;
  readonly doc: string;
  /** Number of tensor inputs, or 'variadic' (concat). */
  readonly arity: number | 'variadic';
  /** Graph structure rather than computation (input, param, fused): no reference, kernel or test cases of its own. */
  readonly structural?: boolean;
  /**
   * Pointwise ops: each output element is a function of its operands' elements at the same position (an operand
   * may be broadcast: read at the element's channel, (sample, channel) or row; see `Indexing`). The fusion pass
   * matches on this, the epilogue of any kernel inlines `wgsl`, and the generic pointwise kernel runs it alone.
   */
  readonly pointwise?: Pointwise<A>;
  /**
   * Reverse-mode rule: given the gradient flowing into this node's output, the gradient of each data input and then
   * of each parameter, as nodes built with `ctx.add` from other ops (heavy ones, such as a conv's input and weight
   * gradients, are ops of their own), or null where none flows (labels, running statistics, counters). Checked
   * against central finite differences in float64 for every op (test/ops/gradients.test.ts).
   */
  backward?(ctx: BackwardCtx<A>): readonly (number | null)[];
  /**
   * Why the op has no `backward`: it only appears in a backward pass, a loss or an optimizer step (a conv's weight
   * gradient, SGD's update), or only at inference (batchnorm folding). Every other op must have `backward`.
   */
  readonly noBackward?: string;
  inferShape(inputs: readonly Shape[], attrs: A): Shape;
  /** Parameters in state-dict order. Absent: the op owns none. */
  params?(inputs: readonly Shape[], attrs: A): readonly ParamDecl[];
  /** Multiply-accumulates, counted for conv and linear only (the convention of the reference's MAC tables). */
  macs?(inputs: readonly Shape[], out: Shape, attrs: A): number;
  /** Float64 CPU reference (inference semantics): the oracle for every kernel and pass. */
  reference?(inputs: readonly RefTensor[], params: readonly RefTensor[], attrs: A, out: Shape): RefTensor;
  /**
   * WGSL kernel(s) for the forward pass (inference semantics), shapes and attributes baked in. One KernelSpec is
   * one dispatch; a KernelPlan is several (concat split by the storage-buffer limit, encoding's two passes).
   * Emitters live in compiler/codegen/wgsl/.
   */
  kernel?(ctx: KernelCtx<A>): KernelSpec | KernelPlan;
  /**
   * How to compute only output channels [c0, c1) (batch 1): the sub-op's shapes and attributes, and which
   * inputs (along axis 1) and parameters (along axis 0) are cut to the same channels. Lowering uses it to split a
   * tensor larger than maxStorageBufferBindingSize into dispatches on channel slices bound at offsets. Absent: the
   * op needs all channels at once (concat, linear, encoding, mean, groupnorm).
   */
  channelSlice?(c0: number, c1: number, ctx: KernelCtx<A>): ChannelSlice<A>;
}

export interface ChannelSlice<A extends Attrs = Attrs> {
  readonly ctx: KernelCtx<A>;
  readonly slicedInputs: readonly boolean[];
  readonly slicedParams: readonly boolean[];
}

/** The channel slice of an op that treats every channel on its own (elementwise, norms, pooling, resize). */
export function perChannelSlice<A extends Attrs>(c0: number, c1: number, ctx: KernelCtx<A>): ChannelSlice<A> {
  const cut = (s: Shape): Shape => [s[0]!, c1 - c0, ...s.slice(2)];
  return {
    ctx: {
      ...ctx,
      inputs: ctx.inputs.map(cut),
      out: cut(ctx.out),
      params: ctx.params.map((p) => (p.length === 1 ? [c1 - c0] : p)),
    },
    slicedInputs: ctx.inputs.map(() => true),
    slicedParams: ctx.params.map((p) => p.length === 1),
  };
}

/** What a kernel emitter knows: static shapes, attributes and the device's limits. */
export interface KernelCtx<A extends Attrs = Attrs> {
  readonly inputs: readonly Shape[];
  readonly out: Shape;
  readonly attrs: A;
  /** Shapes of the op's parameters, in the order of its `params` rule. */
  readonly params: readonly Shape[];
  readonly opts: KernelOptions;
  /** Pointwise ops fused after this op: applied to every output element before it is stored. */
  readonly epilogue?: Epilogue;
  /** Inputs (by index) and the output when they live in a channel slice of a larger tensor (concat eliminated). */
  readonly views?: { readonly inputs?: readonly (View | undefined)[]; readonly output?: View };
}

/** Options derived from the device's limits (and, later, per-adapter kernel choices). */
export interface KernelOptions {
  /** maxComputeWorkgroupsPerDimension: larger grids are split into 2-D/3-D ones. */
  readonly maxWorkgroupsPerDimension: number;
  /** maxStorageBuffersPerShaderStage: variadic kernels (concat) split into several dispatches above it. */
  readonly maxStorageBuffersPerShaderStage: number;
  /** maxComputeInvocationsPerWorkgroup. */
  readonly maxInvocationsPerWorkgroup: number;
  /** maxComputeWorkgroupStorageSize in bytes. */
  readonly maxWorkgroupStorageSize: number;
  /** The largest buffer one storage binding holds (bytes); absent: WebGPU's default, 128 MiB. */
  readonly maxBindingBytes?: number;
  /**
   * Kernel choices for the adapter at hand, by measurement (bench/): e.g. `conv2d.tm` / `conv2d.tn`, the output
   * channels × pixels each conv invocation computes. Absent: the emitter's defaults.
   */
  readonly tuning?: Readonly<Record<string, number>>;
}

/** What a backward rule sees of the node it differentiates, and how it adds the nodes of its gradients. */
export interface BackwardCtx<A extends Attrs = Attrs> {
  /** Ids (in the graph being built) of the node's data inputs and parameters, and of its forward value. */
  readonly inputs: readonly number[];
  readonly params: readonly number[];
  readonly out: number;
  /** The gradient of the loss with respect to the node's output (same shape). */
  readonly dy: number;
  readonly attrs: A;
  readonly shapes: {
    readonly inputs: readonly Shape[];
    readonly params: readonly Shape[];
    readonly out: Shape;
  };
  /** Adds a node of `op` (named `<node>.grad.<what>`, located at the node's spec call); returns its id. */
  add(op: string, inputs: readonly number[], params: readonly number[], attrs: Attrs, what: string): number;
}

/**
 * A binding of a dispatch: the anchor op's inputs and parameters, a scratch buffer of its plan, an operand of its
 * fused epilogue, or its output.
 */
export type KernelBinding =
  `input${number}` | `param${number}` | `scratch${number}` | `epi${number}` | 'output';

/**
 * How a pointwise operand is read for output element (n, c, …) of an [N, C, …] result: at the same element, at its
 * channel c (an operand [C]; for a 1-D result [C], the element itself), at its (sample, channel) (an operand [N, C]
 * or [N, C, 1, 1]), at its row (axis 0; an operand [O] scaling the rows of an [O, …] parameter), or not at all:
 * `whole` binds the operand as an array the expression indexes itself (a few hyper-parameters: learning rate,
 * step, seed).
 */
export type Indexing = 'same' | 'channel' | 'sample_channel' | 'row' | 'whole';

/** Where a pointwise expression is evaluated, for ops that need it (dropout's random mask). */
export interface ElementIndex {
  /** The dense flat index of the element (u32), or of the four elements (vec4<u32>) in a vec4 chain. */
  readonly flat: string;
  /** sample · C + channel (u32; the same for the four elements of a vec4 chain). */
  readonly sampleChannel: string;
}

export interface Pointwise<A extends Attrs = Attrs> {
  /** Data inputs that may carry the value flowing through a fused chain (every input of a commutative op). */
  readonly primary: readonly number[];
  /** The parameters the expression reads (default: all), e.g. not batchnorm's num_batches_tracked. */
  readonly params?: readonly number[];
  /** How each operand (data inputs, then the read parameters) is indexed; default: derived from its shape. */
  index?(operands: readonly Shape[], out: Shape): readonly Indexing[];
  /** The expression needs the element's index (`wgsl`'s `ix`); then a vec4 chain needs channels of 4k elements. */
  readonly usesIndex?: boolean;
  /** WGSL functions the expression calls (emitted once per module). */
  readonly helpers?: string;
  /**
   * The result as a WGSL expression of `args` (the operands' values at this element: data inputs, then the read
   * parameters), all of type `elem` (a `whole` operand is its array's name); constants come from the attributes.
   */
  wgsl(args: readonly string[], attrs: A, elem: 'f32' | 'vec4f', ix: ElementIndex): string;
}

/** Where a tensor lives when it is not a buffer of its own: channels [offset, offset + C) of a tensor with `channels`. */
export interface View {
  readonly channels: number;
  readonly offset: number;
}

/** An operand of a fused epilogue: its shape, how it is indexed from the output element, where it lives. */
export interface EpilogueOperand {
  readonly shape: Shape;
  readonly index: Indexing;
  readonly view?: View;
}

/** One pointwise op of an epilogue; each argument is the running value ('v') or an epilogue operand index. */
export interface EpilogueStep {
  readonly op: string;
  readonly args: readonly ('v' | number)[];
  /** The op's `pointwise.wgsl` with its attributes bound. */
  wgsl(args: readonly string[], elem: 'f32' | 'vec4f', ix: ElementIndex): string;
  readonly usesIndex?: boolean;
  readonly helpers?: string;
}

/** Pointwise ops applied to every output element before it is stored (bound as `epi0`, `epi1`, …). */
export interface Epilogue {
  readonly operands: readonly EpilogueOperand[];
  readonly steps: readonly EpilogueStep[];
}

/** One dispatch: a WGSL compute shader whose bindings (group 0) are in binding-index order. */
export interface KernelSpec {
  readonly wgsl: string;
  readonly entryPoint: 'main';
  readonly workgroupSize: readonly [number, number, number];
  /** Workgroups to dispatch (x, y, z), each at most maxWorkgroupsPerDimension. */
  readonly grid: readonly [number, number, number];
  /** Inputs, params and scratch read-only `var<storage, read>` unless written; the output `read_write`. */
  readonly bindings: readonly KernelBinding[];
  /** A readable, deterministic name for the kernel (`conv2d_3x3_s2_k64`); the Program makes it unique. */
  readonly name?: string;
  /**
   * Per parameter index: the axis permutation to apply when uploading it (e.g. OIHW → OHWI as [0, 2, 3, 1]).
   * All dispatches of one node must agree.
   */
  readonly paramLayouts?: Readonly<Record<number, readonly number[]>>;
  /**
   * The axis permutation the output is stored in, when not its logical row-major order (a conv weight gradient
   * stored OHWI like the weights it updates). Readers that are not pointwise must not read it; outputs read back
   * are permuted back by the runtime.
   */
  readonly outputLayout?: readonly number[];
}

/** Several dispatches run in order, with scratch buffers (f32 element counts) private to the node. */
export interface KernelPlan {
  readonly scratch: readonly number[];
  readonly dispatches: readonly KernelSpec[];
}

export type ValueType = 'tensor' | 'int' | 'float' | 'bool' | 'string' | '[tensor]' | '[int]' | '[float]';

export interface LayerParam {
  readonly name: string;
  readonly type: ValueType;
  /** undefined → required (unless `optional`). */
  readonly default?: number | boolean | string | readonly number[];
  /** May be left out; the layer decides what absence means (e.g. `resize` takes one of size/scale/like). */
  readonly optional?: boolean;
  readonly min?: number;
  readonly max?: number;
  /** min/max exclusive? */
  readonly exclusiveMax?: boolean;
  readonly oneOf?: readonly (number | string)[];
  readonly doc: string;
}

/** A tensor value during elaboration. */
export interface TensorArg {
  readonly node: number;
  readonly shape: Shape;
}

export type ArgValue = number | boolean | string | readonly number[] | TensorArg | readonly TensorArg[];

export interface LayerCtx {
  /** Instance path of this call (`pretrained.layer1.0.conv1`). */
  readonly path: string;
  /** Adds an op node; its parameters are named `<path>.<role>`. Shape errors become located diagnostics. */
  op(op: string, inputs: readonly TensorArg[], attrs: Attrs): TensorArg;
  /** Reports an error about one argument (by parameter name) and abandons the call. */
  fail(argName: string | undefined, message: string, hint?: string, inputs?: readonly TensorArg[]): never;
  /** Whether the argument was given explicitly. */
  given(argName: string): boolean;
}

export interface LayerDef {
  readonly name: string;
  readonly doc: string;
  readonly params: readonly LayerParam[];
  build(ctx: LayerCtx, args: Readonly<Record<string, ArgValue | undefined>>): TensorArg;
  /**
   * For `unused name = layer(...)`: the parameters the layer would own, from explicit sizes (`in_channels`,
   * `in_features`) instead of an input tensor. Absent: the layer cannot be declared unused.
   */
  declare?(args: Readonly<Record<string, ArgValue | undefined>>): {
    op: string;
    inputs: Shape[];
    attrs: Attrs;
  };
}

export function defineOp<A extends Attrs>(def: OpDef<A>): OpDef<A> {
  return def;
}
export function defineLayer(def: LayerDef): LayerDef {
  return def;
}

// Helpers for shape rules.
export function expectRank(s: Shape, ranks: readonly number[], what: string, input = 0): void {
  if (!ranks.includes(s.length))
    throw new ShapeError(
      `${what} expects a ${ranks.map((r) => `${r}-D`).join(' or ')} tensor, got [${s.join(', ')}]`,
      [input],
    );
}

/** Output size of a sliding window (conv, pooling), PyTorch's formula. */
export function windowOut(n: number, k: number, s: number, p: number, d: number, ceil = false): number {
  const span = n + 2 * p - d * (k - 1) - 1;
  let out = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  // PyTorch: with ceil_mode the last window must start inside the input or left padding.
  if (ceil && (out - 1) * s >= n + p) out--;
  return out;
}
