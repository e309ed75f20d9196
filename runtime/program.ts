// The Program: everything the runtime needs to run a compiled model, as plain JSON. The compiler produces it
// (compiler/codegen/lower.ts) and imports these types from here; the runtime never imports the compiler.
//
// Shapes are static: a Program is for one (batch, height, width). It has named entry points over one set of
// buffers: `load` (run once after the weights are uploaded: derived parameters such as batchnorm-folded conv
// weights), `forward` (inference), and — for training programs — `train_step`. Persistent buffers (parameters,
// derived parameters, optimizer state) keep their contents between calls; the others are scratch space of the
// entry that runs.

export const PROGRAM_FORMAT = 'fcnc-program';
/** Version 2: entry points, buffer kinds with a persistent flag, steps that name every node they compute. */
export const PROGRAM_VERSION = 2;

export type BufferKind =
  'input' | 'output' | 'param' | 'derived' | 'activation' | 'scratch' | 'gradient' | 'optimizer' | 'uniform';

/** One GPU storage buffer. */
export interface ProgramBuffer {
  readonly id: number;
  /** Allocation size in bytes (a multiple of 16, at least 16). */
  readonly bytes: number;
  readonly kind: BufferKind;
  /** Contents survive between calls (parameters, derived parameters, optimizer state). */
  readonly persistent: boolean;
  /**
   * Read only by the `load` entry (a raw parameter that a derived one replaces, e.g. a conv weight before batchnorm
   * folding): the runtime creates it to load weights and frees it afterwards.
   */
  readonly loadOnly?: boolean;
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

/** A data input or an output of an entry (f32, row-major, NCHW). */
export interface ProgramTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly buffer: number;
  /**
   * The axis permutation the buffer holds the tensor in (a conv weight gradient stored OHWI like its weight):
   * the runtime permutes it back to `shape` when reading it. Absent: row-major `shape`.
   */
  readonly permute?: readonly number[];
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

/** A source node a step computes: its instance name, op and spec location. */
export interface StepNode {
  readonly name: string;
  readonly op: string;
  /** `file:line:col` of the spec call ('' when unknown). */
  readonly where: string;
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
  /** The node it computes (its anchor, for a fused kernel), or `<output>.argmax` for post-processing. */
  readonly node: string;
  /** The spec call that made that node, `file:line:col` ('' when unknown). */
  readonly where: string;
  /** Every source node computed by this dispatch (a fused kernel: the anchor and its epilogue). */
  readonly nodes: readonly StepNode[];
  /**
   * A copy instead of a dispatch: `bytes` from buffers[0] to buffers[1] (a training step writing a parameter's new
   * value over the old one once nothing reads the old one); `kernel` is empty.
   */
  readonly copy?: { readonly bytes: number };
}

/** An optimizer state buffer (momentum): persistent, zero when the session starts, saved in checkpoints. */
export interface ProgramState {
  /** `momentum.<parameter name>`. */
  readonly name: string;
  readonly shape: readonly number[];
  /** The parameter it belongs to. */
  readonly of: string;
  readonly buffer: number;
  /** The axis order it is stored in (its parameter's upload permutation); absent: row-major. */
  readonly permute?: readonly number[];
}

/** What memory planning achieved for one entry, in bytes. */
export interface MemoryReport {
  /** Activations, inputs, outputs and scratch with one buffer per value. */
  readonly naiveBytes: number;
  /** The same values in the planned buffers. */
  readonly plannedBytes: number;
  /** The most bytes live at any one step: no plan can use less. */
  readonly lowerBoundBytes: number;
  /** Parameters as uploaded (the state dict's f32 entries that some kernel reads, before any folding). */
  readonly rawParamBytes: number;
  /** Parameters resident while the entry runs (after folding: derived ones, raw ones still read). */
  readonly paramBytes: number;
  /** Training programs: where the bytes of a training step go. */
  readonly training?: TrainingMemory;
}

/** The parts of a training step's memory (MemoryReport.training). */
export interface TrainingMemory {
  /** Non-parameter values live when the losses are computed: what the forward keeps for the backward. */
  readonly savedBytes: number;
  /** Every parameter gradient that is stored (a gradient fused into its optimizer update is never stored). */
  readonly gradientBytes: number;
  /** Parameter gradients stored, of every parameter (a framework that keeps `.grad` holds this much). */
  readonly allGradientBytes: number;
  /** The most bytes of parameter gradients live at once. */
  readonly peakGradientBytes: number;
  /** Optimizer state (momentum). */
  readonly optimizerBytes: number;
}

export interface ProgramEntry {
  readonly inputs: readonly ProgramTensor[];
  readonly outputs: readonly ProgramTensor[];
  readonly steps: readonly ProgramStep[];
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
  /** Optimizer state of a training program. */
  readonly state?: readonly ProgramState[];
  readonly kernels: readonly ProgramKernel[];
  /** `load`, and `forward` (inference, evaluation) and/or `train_step` (training). */
  readonly entries: { readonly load: ProgramEntry; readonly forward: ProgramEntry } & Readonly<
    Record<string, ProgramEntry>
  >;
  /** Memory of the program: every entry's values (entries run one at a time and share transient buffers). */
  readonly memory: MemoryReport;
}

/** Thrown when a program.json is not a Program this runtime can run. */
export class ProgramFormatError extends Error {}

/** Checks the format and version of a parsed program.json; says what to do when it is from another version. */
export function checkProgram(p: unknown, source = 'program.json'): Program {
  const o = p as Partial<Program> | null;
  if (!o || typeof o !== 'object' || o.format !== PROGRAM_FORMAT)
    throw new ProgramFormatError(`${source} is not an fcnc program (no "format": "${PROGRAM_FORMAT}")`);
  if (o.version !== PROGRAM_VERSION)
    throw new ProgramFormatError(
      `${source} is an fcnc program of version ${String(o.version)}, but this runtime runs version ${PROGRAM_VERSION}; ` +
        'compile the spec again with this fcnc (`fcnc compile SPEC`)',
    );
  if (!o.entries?.load || Object.keys(o.entries).length < 2)
    throw new ProgramFormatError(
      `${source} has no entry points ('load' and at least one of 'forward', 'train_step')`,
    );
  return o as Program;
}
