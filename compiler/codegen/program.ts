// Lowering a Graph to a Program (runtime/program.ts): one kernel dispatch (or a few) per node from the op's
// `kernel` emitter, kernels deduplicated by WGSL text, buffers for inputs, parameters, activations and scratch.
//
// Memory planning (`planBuffers`): whole buffers are reused across values whose live ranges do not overlap
// (interval colouring), which also keeps WebGPU's rule that one dispatch may not bind a buffer both read-only
// and writable. A tensor larger than maxStorageBufferBindingSize lives in one buffer
// (up to maxBufferSize) and is bound in channel slices: its node runs as several dispatches on output-channel
// slices (op.channelSlice). Batches are split before that by lowerInChunks (batch.ts).
import { formatLocation } from '../diagnostics.ts';
import { getOp } from '../ops/index.ts';
import type { KernelBinding, KernelCtx, KernelOptions, KernelPlan, KernelSpec } from '../ops/op.ts';
import { bytesOf, paramIndex, type Graph, type Node } from '../ir/types.ts';
import { argmaxKernel } from './wgsl/argmax.ts';
import {
  PROGRAM_FORMAT,
  PROGRAM_VERSION,
  type BufferKind,
  type Program,
  type ProgramBuffer,
  type ProgramKernel,
  type ProgramParam,
  type ProgramStep,
  type ProgramTensor,
  type MemoryReport,
} from '../../runtime/program.ts';

/** The device limits lowering reads (any GPUSupportedLimits-like record; missing fields take WebGPU's defaults). */
export type DeviceLimits = Readonly<Record<string, number>>;

const DEFAULT_LIMITS = {
  maxComputeWorkgroupsPerDimension: 65535,
  maxStorageBuffersPerShaderStage: 8,
  maxComputeInvocationsPerWorkgroup: 256,
  maxComputeWorkgroupStorageSize: 16384,
  maxStorageBufferBindingSize: 134217728,
  maxBufferSize: 268435456,
} as const;

export interface LowerOptions {
  /**
   * Add `<output>.argmax` outputs ([N, H, W] class indices as f32) computed on the GPU: true for every 4-D
   * output, or a list of output names.
   */
  readonly argmax?: boolean | readonly string[];
  /** Kernel choices for the adapter (see KernelOptions.tuning); the Program records them. */
  readonly tuning?: Readonly<Record<string, number>>;
  /** Run dropout's copy kernel instead of aliasing its input (kernel tests). Default false. */
  readonly copyIdentity?: boolean;
}

/** Thrown when a graph cannot be lowered for these limits; names the node and its spec location. */
export class LoweringError extends Error {}

export function kernelOptions(
  limits: DeviceLimits,
  tuning?: Readonly<Record<string, number>>,
): KernelOptions {
  const get = (k: keyof typeof DEFAULT_LIMITS): number => limits[k] ?? DEFAULT_LIMITS[k];
  return {
    maxWorkgroupsPerDimension: get('maxComputeWorkgroupsPerDimension'),
    maxStorageBuffersPerShaderStage: get('maxStorageBuffersPerShaderStage'),
    maxInvocationsPerWorkgroup: get('maxComputeInvocationsPerWorkgroup'),
    maxWorkgroupStorageSize: get('maxComputeWorkgroupStorageSize'),
    ...(tuning ? { tuning } : {}),
  };
}

/** A tensor that needs storage: a node's value, a parameter or a kernel's scratch. */
interface Value {
  readonly kind: BufferKind;
  readonly bytes: number;
  readonly label: string;
  /** Where it is made and last read, in step order (for the planner to come). */
  readonly first: number;
  last: number;
}

/** Bytes of the buffer a value needs (WebGPU sizes are multiples of 4; we keep 16 for vec4 access). */
const bufferBytes = (bytes: number): number => Math.max(16, Math.ceil(bytes / 16) * 16);

/**
 * Memory planning: maps every value to a physical buffer, reusing whole buffers across values whose live
 * ranges [first step, last step] (inclusive) do not overlap — interval colouring, best fit by size. Inclusive
 * ranges mean that the inputs, output and scratch of one dispatch are all live at that step and so never share
 * a buffer, which keeps WebGPU's rule that a buffer is not bound read-only and writable in one dispatch.
 * Inputs, parameters and outputs keep buffers of their own for the whole run (they are uploaded or read back
 * outside the steps). A buffer that holds values bound whole never grows beyond `maxBinding`; values larger than
 * one binding (computed in channel slices) get buffers of their own.
 */
export function planBuffers(
  values: readonly Value[],
  maxBinding = Infinity,
): { bufferOf: number[]; buffers: ProgramBuffer[]; memory: MemoryReport } {
  const bufferOf = new Array<number>(values.length).fill(-1);
  const buffers: { bytes: number; kind: BufferKind; labels: string[]; last: number; shared: boolean }[] = [];
  const permanent = (v: Value): boolean => v.kind === 'input' || v.kind === 'param' || v.last === Infinity;
  const order = values.map((_, k) => k).sort((a, b) => values[a]!.first - values[b]!.first || a - b);
  for (const k of order) {
    const v = values[k]!;
    const need = bufferBytes(v.bytes);
    const reusable = !permanent(v) && need <= maxBinding;
    let best = -1;
    if (reusable) {
      // Free buffers: shared ones whose last value was last read before this value is made.
      let bestCost = Infinity;
      buffers.forEach((b, id) => {
        if (!b.shared || b.last >= v.first) return;
        const grown = Math.max(b.bytes, need);
        if (grown > maxBinding) return;
        // Prefer a buffer that fits without growing (least waste), else the one that grows least.
        const cost = b.bytes >= need ? b.bytes - need : (grown - b.bytes) * 4;
        if (cost < bestCost) {
          bestCost = cost;
          best = id;
        }
      });
    }
    if (best < 0) {
      buffers.push({ bytes: need, kind: v.kind, labels: [v.label], last: v.last, shared: reusable });
      bufferOf[k] = buffers.length - 1;
      continue;
    }
    const b = buffers[best]!;
    b.bytes = Math.max(b.bytes, need);
    b.last = v.last;
    b.labels.push(v.label);
    if (b.kind !== v.kind) b.kind = 'activation';
    bufferOf[k] = best;
  }

  // The lower bound: the most bytes live at any one step (permanent values are live throughout).
  const steps = Math.max(0, ...values.map((v) => (Number.isFinite(v.last) ? v.last : v.first))) + 1;
  const delta = new Array<number>(steps + 1).fill(0);
  let always = 0;
  for (const v of values) {
    const b = bufferBytes(v.bytes);
    if (permanent(v)) always += b;
    else {
      delta[v.first]! += b;
      delta[Math.min(v.last, steps - 1) + 1]! -= b;
    }
  }
  let live = 0;
  let peak = 0;
  for (let s = 0; s < steps; s++) peak = Math.max(peak, (live += delta[s]!));

  return {
    bufferOf,
    buffers: buffers.map((b, id) => ({
      id,
      bytes: b.bytes,
      kind: b.kind,
      label: b.labels.length > 1 ? `${b.labels[0]} (+${b.labels.length - 1} more)` : b.labels[0]!,
    })),
    memory: {
      naiveBytes: values.reduce((a, v) => a + bufferBytes(v.bytes), 0),
      plannedBytes: buffers.reduce((a, b) => a + b.bytes, 0),
      lowerBoundBytes: always + peak,
    },
  };
}

const where = (n: Node): string => (n.span ? formatLocation(n.span) : '');

export function lowerToProgram(graph: Graph, limits: DeviceLimits = {}, opts: LowerOptions = {}): Program {
  const kopts = kernelOptions(limits, opts.tuning);
  const maxBinding = Math.min(
    limits.maxStorageBufferBindingSize ?? DEFAULT_LIMITS.maxStorageBufferBindingSize,
    limits.maxBufferSize ?? Infinity,
  );
  // Steps refer to values until buffers are planned.
  const stepsRaw: {
    kernel: string;
    values: number[];
    /** Per binding: [byte offset, byte size] of a channel slice, or null for the whole buffer. */
    ranges?: (readonly [number, number] | null)[];
    grid: readonly [number, number, number];
    node: string;
    where: string;
  }[] = [];
  const values: Value[] = [];
  const maxBuffer = limits.maxBufferSize ?? DEFAULT_LIMITS.maxBufferSize;
  const align = limits.minStorageBufferOffsetAlignment ?? 256;
  const newValue = (kind: BufferKind, bytes: number, label: string, node?: Node): number => {
    // A value may be larger than one binding (it is then bound in channel slices), not larger than a buffer.
    if (bytes > Math.max(maxBinding, maxBuffer))
      throw new LoweringError(
        `${node && where(node) ? where(node) + ': ' : ''}${label} needs ${bytes} bytes, more than maxBufferSize (${maxBuffer}) ` +
          `and maxStorageBufferBindingSize (${maxBinding}); use a smaller batch or input size`,
      );
    values.push({ kind, bytes, label, first: stepsRaw.length, last: stepsRaw.length });
    return values.length - 1;
  };

  const kernels: ProgramKernel[] = [];
  const kernelByText = new Map<string, string>();
  const kernelNames = new Set<string>();
  const addKernel = (spec: KernelSpec, fallback: string): string => {
    const known = kernelByText.get(spec.wgsl);
    if (known) return known;
    const base = (spec.name ?? fallback).replace(/[^A-Za-z0-9_]/g, '_');
    let name = base;
    for (let k = 2; kernelNames.has(name); k++) name = `${base}_${k}`;
    kernelNames.add(name);
    kernelByText.set(spec.wgsl, name);
    const writable = [...spec.wgsl.matchAll(/@binding\((\d+)\)\s*var<storage,\s*read_write>/g)].map((m) =>
      Number(m[1]),
    );
    kernels.push({
      name,
      wgsl: spec.wgsl,
      entryPoint: spec.entryPoint,
      workgroupSize: spec.workgroupSize,
      bindings: spec.bindings.length,
      writable,
    });
    return name;
  };

  // Parameters: a buffer for each f32 parameter some node reads; i64 counters and unused layers get none.
  const paramValue = new Map<number, number>();
  const paramSlices: { param: number; value: number; start: number; length: number }[] = [];
  const permutes = new Map<number, readonly number[]>();
  const entries = (n: Node): number[] => n.params.map((k) => paramIndex(graph.nodes[k]!));
  const readBy = new Set(graph.nodes.flatMap(entries));

  const valueOfNode: number[] = new Array(graph.nodes.length).fill(-1);
  for (const node of graph.nodes) {
    if (node.op === 'input') {
      valueOfNode[node.id] = newValue('input', bytesOf(node.shape), node.name, node);
      continue;
    }
    if (node.op === 'param') continue;
    if (node.op === 'dropout' && !opts.copyIdentity) {
      // Identity at inference: an alias of its input, no dispatch.
      valueOfNode[node.id] = valueOfNode[node.inputs[0]!]!;
      continue;
    }
    const op = getOp(node.op);
    if (!op.kernel)
      throw new LoweringError(`${where(node)}: op '${node.op}' (node '${node.name}') has no WGSL kernel`);
    const ctx = {
      inputs: node.inputs.map((i) => graph.nodes[i]!.shape),
      out: node.shape,
      attrs: node.attrs,
      params: node.params.map((k) => graph.nodes[k]!.shape),
      opts: kopts,
    };
    const made = op.kernel(ctx);
    const plan: KernelPlan = 'wgsl' in made ? { scratch: [], dispatches: [made] } : made;
    const out = newValue('activation', bytesOf(node.shape), node.name, node);
    valueOfNode[node.id] = out;
    const scratch = plan.scratch.map((n, k) => newValue('scratch', n * 4, `${node.name}.scratch${k}`, node));
    const tooLarge = [out, ...scratch, ...node.inputs.map((i) => valueOfNode[i]!)]
      .map((v) => values[v]!)
      .find((v) => v.bytes > maxBinding);
    if (tooLarge) {
      sliceByChannels(node, ctx, tooLarge.bytes);
      continue;
    }
    for (const spec of plan.dispatches) {
      if (spec.bindings.length > kopts.maxStorageBuffersPerShaderStage)
        throw new LoweringError(
          `${where(node)}: kernel for '${node.name}' binds ${spec.bindings.length} storage buffers, more than the device's ${kopts.maxStorageBuffersPerShaderStage}`,
        );
      for (const [k, perm] of Object.entries(spec.paramLayouts ?? {})) {
        const pi = entries(node)[Number(k)]!;
        const prev = permutes.get(pi);
        if (prev && prev.join() !== perm.join())
          throw new LoweringError(`internal: parameter ${graph.params[pi]!.name} is wanted in two layouts`);
        permutes.set(pi, perm);
      }
      const vals = spec.bindings.map((b) => bindingValue(b, node));
      const step = stepsRaw.length;
      for (const v of vals) values[v]!.last = step;
      stepsRaw.push({
        kernel: addKernel(spec, `k${kernels.length}_${node.op}`),
        values: vals,
        grid: spec.grid,
        node: node.name,
        where: where(node),
      });
    }

    /**
     * A node with a tensor larger than one binding: dispatches on slices of its output channels, each binding
     * its inputs, output and parameters at the offsets of those channels (op.channelSlice says which are cut).
     * Batch 1 only (a channel slice of an NCHW tensor is contiguous then); larger batches are split first by
     * lowerInChunks.
     */
    function sliceByChannels(n: Node, full: KernelCtx, bytes: number): void {
      const op = getOp(n.op);
      const fail = (why: string): never => {
        throw new LoweringError(
          `${where(n) ? where(n) + ': ' : ''}'${n.name}' binds ${bytes} bytes, more than maxStorageBufferBindingSize (${maxBinding}); ${why}`,
        );
      };
      if (n.shape[0] !== 1) fail(`it is split by channels at batch 1 only (batch ${n.shape[0]})`);
      if (!op.channelSlice || n.shape.length < 2)
        fail(`${n.op} needs all channels at once and cannot be split by channels`);
      const C = n.shape[1]!;
      const probe = op.channelSlice!(0, 1, full);
      const perChannel = (shape: readonly number[], axis: number): number => bytesOf(shape) / shape[axis]!;
      const outPer = perChannel(n.shape, 1);
      const inPer = full.inputs.map((sh, k) => (probe.slicedInputs[k] ? perChannel(sh, 1) : 0));
      const parPer = full.params.map((sh, k) => (probe.slicedParams[k] ? perChannel(sh, 0) : 0));
      full.inputs.forEach((sh, k) => {
        if (!probe.slicedInputs[k] && bytesOf(sh) > maxBinding)
          fail(`its input ${k} (${bytesOf(sh)} bytes) is read whole`);
      });
      // Offsets must be multiples of minStorageBufferOffsetAlignment for every sliced binding.
      const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
      // (Sliced parameters get buffers of their own per slice, so only activations constrain the offsets.)
      const q = [outPer, ...inPer]
        .filter((x) => x > 0)
        .reduce((acc, per) => {
          const need = align / gcd(align, per);
          return (acc * need) / gcd(acc, need);
        }, 1);
      const worst = Math.max(outPer, ...inPer, ...parPer);
      const cs = Math.floor(Math.floor(maxBinding / worst) / q) * q;
      if (cs < 1) fail(`even ${q} channel(s) (the offset alignment) do not fit one binding`);
      for (let c0 = 0; c0 < C; c0 += cs) {
        const c1 = Math.min(C, c0 + cs);
        const sub = op.channelSlice!(c0, c1, full);
        const made = op.kernel!(sub.ctx);
        if (!('wgsl' in made)) fail(`${n.op}'s kernel has several passes and cannot be split by channels`);
        const spec = made as KernelSpec;
        for (const [k, perm] of Object.entries(spec.paramLayouts ?? {}))
          permutes.set(entries(n)[Number(k)]!, perm);
        const range = (per: number): readonly [number, number] => [c0 * per, (c1 - c0) * per];
        const ranges = spec.bindings.map((b): readonly [number, number] | null => {
          if (b === 'output') return range(outPer);
          const m = /^(input|param)(\d+)$/.exec(b);
          if (!m) return fail(`its kernel binds ${b}`);
          const k = Number(m[2]);
          const per = m[1] === 'input' ? inPer[k]! : parPer[k]!;
          return per > 0 ? range(per) : null;
        });
        const vals = spec.bindings.map((b) => {
          const m = /^param(\d+)$/.exec(b);
          if (!m || parPer[Number(m[1])] === 0) return bindingValue(b, n);
          // A sliced parameter: its own buffer with just these channels, filled at upload (ProgramParam.slices).
          const k = Number(m[1]);
          const pi = entries(n)[k]!;
          const v = newValue('param', (c1 - c0) * parPer[k]!, `${graph.params[pi]!.name}[${c0}:${c1}]`, n);
          paramSlices.push({
            param: pi,
            value: v,
            start: (c0 * parPer[k]!) / 4,
            length: ((c1 - c0) * parPer[k]!) / 4,
          });
          return v;
        });
        const unranged = ranges.map((r, i) => (/^param\d+$/.test(spec.bindings[i]!) ? null : r));
        const step = stepsRaw.length;
        for (const v of vals) values[v]!.last = step;
        stepsRaw.push({
          kernel: addKernel(spec, `k${kernels.length}_${n.op}`),
          values: vals,
          ranges: unranged,
          grid: spec.grid,
          node: `${n.name}[${c0}:${c1}]`,
          where: where(n),
        });
      }
    }

    function bindingValue(b: KernelBinding, n: Node): number {
      if (b === 'output') return out;
      const m = /^(input|param|scratch)(\d+)$/.exec(b);
      if (!m) throw new Error(`internal: bad kernel binding '${b}'`);
      const k = Number(m[2]);
      if (m[1] === 'input') {
        const src = n.inputs[k];
        if (src === undefined)
          throw new Error(`internal: kernel of '${n.name}' binds input${k}, which does not exist`);
        return valueOfNode[src]!;
      }
      if (m[1] === 'scratch') {
        const s = scratch[k];
        if (s === undefined)
          throw new Error(`internal: kernel of '${n.name}' binds scratch${k}, which does not exist`);
        return s;
      }
      const pi = entries(n)[k];
      if (pi === undefined)
        throw new Error(`internal: kernel of '${n.name}' binds param${k}, which does not exist`);
      const p = graph.params[pi]!;
      if (p.dtype !== 'f32')
        throw new Error(`internal: kernel of '${n.name}' binds the ${p.dtype} parameter ${p.name}`);
      let v = paramValue.get(pi);
      if (v === undefined) {
        v = newValue('param', bytesOf(p.shape), p.name, n);
        paramValue.set(pi, v);
      }
      return v;
    }
  }

  const outputs: { name: string; shape: readonly number[]; value: number }[] = graph.outputs.map((o) => ({
    name: o.name,
    shape: graph.nodes[o.node]!.shape,
    value: valueOfNode[o.node]!,
  }));

  // Post-processing: argmax over channels of segmentation outputs.
  const wanted = opts.argmax === true ? graph.outputs.map((o) => o.name) : opts.argmax || [];
  for (const o of graph.outputs) {
    if (!wanted.includes(o.name)) continue;
    const node = graph.nodes[o.node]!;
    if (node.shape.length !== 4) {
      if (opts.argmax === true) continue;
      throw new LoweringError(
        `argmax needs a 4-D [N, C, H, W] output; '${o.name}' is [${node.shape.join(', ')}]`,
      );
    }
    const spec = argmaxKernel(node.shape, kopts);
    const [n, , h, w] = node.shape as number[];
    const shape = [n!, h!, w!];
    const label = `${o.name}.argmax`;
    const v = newValue('activation', bytesOf(shape), label, node);
    const src = valueOfNode[o.node]!;
    const step = stepsRaw.length;
    values[src]!.last = step;
    values[v]!.last = step;
    stepsRaw.push({
      kernel: addKernel(spec, 'argmax'),
      values: [src, v],
      grid: spec.grid,
      node: label,
      where: where(node),
    });
    outputs.push({ name: label, shape, value: v });
  }
  for (const o of outputs) values[o.value]!.last = Infinity;

  const { bufferOf, buffers, memory } = planBuffers(values, maxBinding);

  const params: ProgramParam[] = graph.params.map((p, k) => {
    const v = readBy.has(k) && p.dtype === 'f32' ? paramValue.get(k) : undefined;
    const perm = permutes.get(k);
    const isIdentity = !perm || perm.every((a, i) => a === i) || movesNothing(p.shape, perm);
    const slices = paramSlices
      .filter((x) => x.param === k)
      .map((x) => ({ buffer: bufferOf[x.value]!, start: x.start, length: x.length }));
    const uploaded = v !== undefined || slices.length > 0;
    return {
      name: p.name,
      shape: p.shape,
      dtype: p.dtype,
      buffer: v === undefined ? null : bufferOf[v]!,
      ...(uploaded && !isIdentity ? { permute: perm } : {}),
      ...(slices.length > 0 ? { slices } : {}),
    };
  });
  const inputs: ProgramTensor[] = graph.inputs.map((i) => ({
    name: i.name,
    shape: graph.nodes[i.node]!.shape,
    buffer: bufferOf[valueOfNode[i.node]!]!,
  }));
  const steps: ProgramStep[] = stepsRaw.map((s) => ({
    kernel: s.kernel,
    buffers: s.values.map((v) => bufferOf[v]!),
    ...(s.ranges ? { ranges: s.ranges } : {}),
    grid: s.grid,
    node: s.node,
    where: s.where,
  }));
  return {
    format: PROGRAM_FORMAT,
    version: PROGRAM_VERSION,
    model: graph.model,
    file: graph.file,
    limits: { ...DEFAULT_LIMITS, ...limits },
    tuning: { ...opts.tuning },
    buffers,
    params,
    inputs,
    outputs: outputs.map((o) => ({ name: o.name, shape: o.shape, buffer: bufferOf[o.value]! })),
    kernels,
    steps,
    memory,
  };
}

/** A permutation that only moves axes of size 1 leaves the data in place (1×1 conv weights OIHW → OHWI). */
function movesNothing(shape: readonly number[], perm: readonly number[]): boolean {
  const kept = (axes: readonly number[]): number[] => axes.filter((a) => shape[a] !== 1);
  const before = kept(shape.map((_, i) => i));
  const after = kept(perm);
  return before.every((a, i) => a === after[i]);
}
