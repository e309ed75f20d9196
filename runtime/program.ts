// The Program: everything the runtime needs to run a compiled model, as plain JSON. The compiler produces it
// (compiler/codegen/program.ts) and imports these types from here; the runtime never imports the compiler.
//
// Shapes are static: a Program is for one (batch, height, width).

export const PROGRAM_FORMAT = 'fcnc-program';
export const PROGRAM_VERSION = 1;

export type BufferKind = 'input' | 'param' | 'activation' | 'scratch';

/** One GPU storage buffer. */
export interface ProgramBuffer {
  readonly id: number;
  /** Allocation size in bytes (a multiple of 16, at least 16). */
  readonly bytes: number;
  readonly kind: BufferKind;
  /** What lives in it, for messages: a node name, a parameter name, `<node>.scratch0`. */
  readonly label: string;
}

/** One entry of the state dict. */
export interface ProgramParam {
  /** Official state-dict key. */
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: 'f32' | 'i64';
  /** The buffer it is uploaded to; null when it is not uploaded (i64 counters, parameters of unused layers). */
  readonly buffer: number | null;
  /** Axis permutation applied on upload (e.g. conv weights OIHW → OHWI: [0, 2, 3, 1]); absent: as stored. */
  readonly permute?: readonly number[];
  /**
   * Further buffers holding a contiguous part of it (after the permutation): the channel slices of a node that runs
   * in slices (a tensor larger than one binding). `start` and `length` count elements.
   */
  readonly slices?: readonly { readonly buffer: number; readonly start: number; readonly length: number }[];
}

/** A data input or an output (f32, row-major, NCHW). */
export interface ProgramTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly buffer: number;
}

/** A compute shader; `bindings` storage buffers at group 0, bindings 0..n−1. */
export interface ProgramKernel {
  /** Unique, deterministic (`conv2d_3x3_s2_k64`, `relu_vec4_2`). */
  readonly name: string;
  readonly wgsl: string;
  readonly entryPoint: 'main';
  readonly workgroupSize: readonly [number, number, number];
  readonly bindings: number;
  /** Binding indices declared `read_write` (the rest are read-only storage). */
  readonly writable: readonly number[];
}

/** One dispatch, in execution order. */
export interface ProgramStep {
  readonly kernel: string;
  /** Buffer ids, in binding order. */
  readonly buffers: readonly number[];
  /**
   * Per binding, [byte offset, byte size] when only a slice of the buffer is bound (a tensor larger than one
   * binding, computed in channel slices); null or absent: the whole buffer.
   */
  readonly ranges?: readonly (readonly [number, number] | null)[];
  readonly grid: readonly [number, number, number];
  /** The graph node it computes (`head.encmodule.encoding`), or `<output>.argmax` for post-processing. */
  readonly node: string;
  /** The spec call that made the node, `file:line:col` ('' when unknown). */
  readonly where: string;
}

/** What memory planning achieved, in bytes (all buffers: parameters, inputs, activations, scratch). */
export interface MemoryReport {
  /** One buffer per value. */
  readonly naiveBytes: number;
  /** The buffers of this program. */
  readonly plannedBytes: number;
  /** The most bytes live at any one step: no plan can use less. */
  readonly lowerBoundBytes: number;
}

export interface Program {
  readonly format: typeof PROGRAM_FORMAT;
  readonly version: typeof PROGRAM_VERSION;
  readonly model: string;
  readonly file: string;
  /** The device limits the kernels were generated for (grid splitting, bindings per dispatch). */
  readonly limits: Readonly<Record<string, number>>;
  /** The per-adapter kernel choices the kernels were generated with (empty: defaults). */
  readonly tuning: Readonly<Record<string, number>>;
  readonly buffers: readonly ProgramBuffer[];
  readonly params: readonly ProgramParam[];
  readonly inputs: readonly ProgramTensor[];
  readonly outputs: readonly ProgramTensor[];
  readonly kernels: readonly ProgramKernel[];
  readonly steps: readonly ProgramStep[];
  readonly memory: MemoryReport;
}
