// Lowering: a Graph (after the pipeline's passes) → a Program (runtime/program.ts).
//
// Every computing node is one kernel (or a few dispatches, KernelPlan): a `fused` node is its anchor's kernel
// with the rest of its body as the epilogue (codegen/wgsl/io.ts); an in-place concat is no kernel at all — its
// inputs are stored into their channel slices (views). Nodes computed from parameters only (batchnorm folding)
// run in the `load` entry, once after the weights are uploaded; the rest in `forward`. Kernels are deduplicated
// by WGSL text under deterministic names; each step lists every source node it computes and where the spec made
// it. Buffers are then planned (schedule/memory.ts).
//
// A tensor larger than maxStorageBufferBindingSize (but within maxBufferSize) lives in one buffer and is bound in
// channel slices: its node runs as several dispatches over slices of its output channels (op.channelSlice), at
// batch 1. The passes leave such nodes unfused, so this path sees plain ops on state-dict parameters only.
import { formatLocation } from '../diagnostics.ts';
import { getOp } from '../ops/index.ts';
import type {
  ElementIndex,
  Epilogue,
  EpilogueOperand,
  KernelBinding,
  KernelCtx,
  KernelPlan,
  KernelSpec,
  View,
} from '../ops/op.ts';
import { originsOf } from '../ir/builder.ts';
import {
  bytesOf,
  constantNodes,
  paramIndex,
  type FusedMember,
  type Graph,
  type Node,
  type Ref,
  type Shape,
  type StateSlot,
} from '../ir/types.ts';
import { argmaxKernel } from './wgsl/argmax.ts';
import { defaultIndexing } from './wgsl/io.ts';
import {
  DEFAULT_LIMITS,
  kernelOptions,
  limit,
  maxBinding as maxBindingOf,
  type DeviceLimits,
} from './limits.ts';
import { bufferBytes, planBuffers, type Value } from '../schedule/memory.ts';
import {
  PROGRAM_FORMAT,
  PROGRAM_VERSION,
  type BufferKind,
  type Program,
  type ProgramEntry,
  type ProgramKernel,
  type ProgramParam,
  type ProgramStep,
  type ProgramTensor,
  type StepNode,
  type TrainingMemory,
} from '../../runtime/program.ts';

export type { DeviceLimits } from './limits.ts';

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
import { LoweringError } from './errors.ts';
export { LoweringError };

const where = (n: { span?: Node['span'] }): string => (n.span ? formatLocation(n.span) : '');

type OutputRaw = { name: string; shape: Shape; value: number; permute?: readonly number[] };
const isIdentity = (p?: readonly number[]): boolean => !p || p.every((a, i) => a === i);

interface RawStep {
  entry: string;
  kernel: string;
  values: number[];
  /** The values this step writes. */
  outputs?: number[];
  ranges?: (readonly [number, number] | null)[];
  grid: readonly [number, number, number];
  node: string;
  where: string;
  nodes: StepNode[];
}

/** One dispatch's bindings, resolved to graph nodes: each slot's node id, or a scratch index. */
interface Slots {
  input(k: number): number;
  param(k: number): number;
  epi(k: number): number;
}

export function lowerToProgram(graph: Graph, limits: DeviceLimits = {}, opts: LowerOptions = {}): Program {
  return lowerEntries([{ name: 'forward', graph }], limits, opts);
}

/**
 * Several graphs as the entry points of one Program over shared parameter and optimizer-state buffers (a training
 * program: `train_step` and `forward`). The graphs share one state dict. Transient buffers are planned over all
 * entries at once (entries run one at a time, so they share them too).
 */
export function lowerEntries(
  entries: readonly { readonly name: string; readonly graph: Graph }[],
  limits: DeviceLimits = {},
  opts: LowerOptions = {},
): Program {
  const first = entries[0]!.graph;
  for (const e of entries)
    if (
      e.graph.params.length !== first.params.length ||
      e.graph.params.some((p, k) => p.name !== first.params[k]!.name)
    )
      throw new Error(`internal: the entries of one program must share a state dict ('${e.name}' differs)`);
  const kopts = kernelOptions(limits, opts.tuning);
  const maxBinding = maxBindingOf(limits);
  const maxBuffer = limit(limits, 'maxBufferSize');
  const align = limit(limits, 'minStorageBufferOffsetAlignment');
  const steps: RawStep[] = [];
  const values: Value[] = [];
  /** Liveness counts steps in graph order, load and forward alike (load steps only touch persistent buffers). */
  const at = (_entry: string): number => steps.length;
  /** Which entries read each value (as an input of a step): parameters read only at load are freed after it. */
  const readers = new Map<number, Set<string>>();

  const newValue = (kind: BufferKind, bytes: number, label: string, first: number, node?: Node): number => {
    // A value may be larger than one binding (it is then bound in channel slices), not larger than a buffer.
    if (bytes > Math.max(maxBinding, maxBuffer))
      throw new LoweringError(
        `${node && where(node) ? where(node) + ': ' : ''}${label} needs ${bytes} bytes, more than maxBufferSize (${maxBuffer}) ` +
          `and maxStorageBufferBindingSize (${maxBinding}); use a smaller batch or input size`,
      );
    values.push({ kind, bytes, label, first, last: first });
    return values.length - 1;
  };

  // ---- kernels, deduplicated by text
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

  const paramValue = new Map<number, number>(); // state-dict entry → value
  const paramSlices: { param: number; value: number; start: number; length: number }[] = [];
  const permutes = new Map<number, readonly number[]>(); // state-dict entry → upload permutation
  // Optimizer state is shared by the entries by slot name (each graph numbers its slots its own way).
  const stateValue = new Map<string, number>(); // optimizer slot → value
  const stateLayout = new Map<string, readonly number[]>(); // optimizer slot → layout (its parameter's)
  const slots = new Map<string, StateSlot>();
  const entryIO = new Map<string, { inputs: ProgramTensor[]; outputs: OutputRaw[] }>();
  /** The training step's values: its losses and its parameter gradients (for MemoryReport.training). */
  let trainValues: { losses: number[]; gradients: number[]; allGradientBytes: number } | undefined;

  const lowerGraph = (graph: Graph, main: string): void => {
    const constant = constantNodes(graph);
    // ---- where values live: in-place concats give their inputs views into the concat's buffer. A concat inside a
    // concat lives in the outer one's buffer, and its inputs at their combined offsets (outermost first).
    const viewOf = new Map<number, { root: number; view: View }>();
    for (const n of [...graph.nodes].reverse()) {
      if (n.op !== 'concat' || n.attrs.inplace !== true) continue;
      const self = viewOf.get(n.id);
      const root = self?.root ?? n.id;
      const channels = self?.view.channels ?? n.shape[1]!;
      let offset = self?.view.offset ?? 0;
      for (const x of n.inputs) {
        const src = graph.nodes[x]!;
        if (viewOf.has(x) || src.op === 'input' || constant[x])
          throw new Error(
            `internal: '${src.name}' cannot be stored in the slice of '${n.name}' (eliminate_concat copies it)`,
          );
        viewOf.set(x, { root, view: { channels, offset } });
        offset += src.shape[1]!;
      }
    }

    const valueOfNode: number[] = new Array(graph.nodes.length).fill(-1);
    /** Nodes whose kernel stores them in another axis order (KernelSpec.outputLayout, or inherited pointwise). */
    const layoutOf = new Map<number, readonly number[]>();

    /** The value holding node `id` (a parameter's buffer is made when first bound). */
    const valueOf = (id: number, _entry: string): number => {
      const n = graph.nodes[id]!;
      if (n.op === 'state') {
        const slot = graph.state![n.attrs.slot as number]!;
        let v = stateValue.get(slot.name);
        if (v === undefined) {
          v = newValue('optimizer', bytesOf(n.shape), n.name, 0, n);
          stateValue.set(slot.name, v);
          slots.set(slot.name, slot);
        } else if (bytesOf(slots.get(slot.name)!.shape) !== bytesOf(slot.shape))
          throw new Error(`internal: the entries disagree on the shape of optimizer state '${slot.name}'`);
        return v;
      }
      if (n.op === 'param') {
        const k = paramIndex(n);
        const p = graph.params[k]!;
        if (p.dtype !== 'f32') throw new Error(`internal: a kernel binds the ${p.dtype} parameter ${p.name}`);
        let v = paramValue.get(k);
        if (v === undefined) {
          v = newValue('param', bytesOf(p.shape), p.name, 0, n);
          paramValue.set(k, v);
        }
        return v;
      }
      const v = valueOfNode[id]!;
      if (v < 0) throw new Error(`internal: node '${n.name}' is read before it is computed`);
      return v;
    };

    /** The value a node's result is stored in: its own, or its concat's buffer (made by the first input stored). */
    const outputValue = (n: Node, entry: string, kind: BufferKind): number => {
      const v = viewOf.get(n.id);
      if (!v) return newValue(kind, bytesOf(n.shape), n.name, at(entry), n);
      if (valueOfNode[v.root]! < 0) {
        const root = graph.nodes[v.root]!;
        valueOfNode[v.root] = newValue('activation', bytesOf(root.shape), root.name, at(entry), root);
      }
      return valueOfNode[v.root]!;
    };

    /** A parameter wanted in a layout: recorded on the state-dict entry it comes from (through load-time maps). */
    const requestLayout = (id: number, perm: readonly number[], by: Node): void => {
      const n = graph.nodes[id]!;
      if (perm.every((a, i) => a === i)) return;
      if (n.op === 'param') {
        const k = paramIndex(n);
        const prev = permutes.get(k);
        if (prev && prev.join() !== perm.join())
          throw new LoweringError(`internal: parameter ${graph.params[k]!.name} is wanted in two layouts`);
        permutes.set(k, perm);
        return;
      }
      // A derived parameter made by a pointwise map keeps its operands' element order: the operands read at the same
      // element take the same layout (a row-indexed vector is unaffected as long as axis 0 stays first).
      const pw = getOp(n.op).pointwise;
      if (!pw || perm[0] !== 0)
        throw new LoweringError(
          `internal: '${by.name}' wants '${n.name}' permuted, which cannot be done at upload`,
        );
      const shapes = [...n.inputs, ...n.params].map((k) => graph.nodes[k]!.shape);
      const index = pw.index?.(shapes, n.shape) ?? shapes.map((s) => defaultIndexing(s, n.shape));
      [...n.inputs, ...n.params].forEach((k, j) => {
        if (index[j] === 'same') requestLayout(k, perm, by);
      });
    };

    // ---- one node at a time
    for (const node of graph.nodes) {
      if (node.op === 'input') {
        valueOfNode[node.id] = newValue('input', bytesOf(node.shape), node.name, 0, node);
        continue;
      }
      if (node.op === 'param' || node.op === 'state') continue; // a buffer when some kernel binds it
      if (node.op === 'concat' && node.attrs.inplace === true) {
        // No work: its inputs were stored into its slices (of its own buffer, or of the concat it lives in).
        const root = viewOf.get(node.id)?.root ?? node.id;
        if (valueOfNode[root]! < 0) {
          const r = graph.nodes[root]!;
          valueOfNode[root] = newValue('activation', bytesOf(r.shape), r.name, at(main), r);
        }
        valueOfNode[node.id] = valueOfNode[root]!;
        continue;
      }
      if (node.op === 'dropout' && !opts.copyIdentity && !viewOf.has(node.id)) {
        // Identity at inference: an alias of its input, no dispatch (the unoptimised path; drop_dropout removes it).
        valueOfNode[node.id] = valueOfNode[node.inputs[0]!]!;
        continue;
      }
      lowerNode(node, constant[node.id] ? 'load' : main);
    }

    /**
     * Pointwise kernels are blind to axis order, so their operands read at the same element must share one layout
     * — the optimizer over a conv weight (stored OHWI), its gradient (computed OHWI) and its momentum (given the
     * same) — and their result has it too. A parameter or optimizer slot that has none yet takes it.
     */
    function propagateLayout(node: Node): void {
      const members =
        node.op === 'fused'
          ? node.body!
          : [{ op: node.op, inputs: [], params: [], attrs: node.attrs, shape: node.shape, name: node.name }];
      if (!getOp(members[0]!.op).pointwise) return;
      const same: number[] = [];
      /** Operands (undefined: the member before, in a fused chain) with their shapes; keeps the 'same' ones. */
      const collect = (
        op: string,
        ins: readonly (number | undefined)[],
        ps: readonly (number | undefined)[],
        shape: Shape,
        chainShape: Shape,
      ): void => {
        const pw = getOp(op).pointwise!;
        const read = [...ins, ...(pw.params ?? ps.map((_, k) => k)).map((k) => ps[k])];
        const shapes = read.map((id) => (id === undefined ? chainShape : graph.nodes[id]!.shape));
        const index = pw.index?.(shapes, shape) ?? shapes.map((sh) => defaultIndexing(sh, shape));
        read.forEach((id, k) => {
          if (id !== undefined && index[k] === 'same') same.push(id);
        });
      };
      if (node.op === 'fused') {
        const ref = (r: Ref): number | undefined =>
          r.kind === 'in' ? node.inputs[r.index] : r.kind === 'param' ? node.params[r.index] : undefined;
        node.body!.forEach((m, j) => {
          collect(
            m.op,
            m.inputs.map(ref),
            m.params.map(ref),
            m.shape,
            j > 0 ? node.body![j - 1]!.shape : m.shape,
          );
        });
      } else collect(node.op, node.inputs, node.params, node.shape, node.shape);
      const layoutOfOperand = (id: number): readonly number[] | undefined => {
        const n = graph.nodes[id]!;
        if (n.op === 'param') return permutes.get(paramIndex(n));
        if (n.op === 'state') return stateLayout.get(graph.state![n.attrs.slot as number]!.name);
        return layoutOf.get(id);
      };
      const known = same.map(layoutOfOperand).filter((l): l is readonly number[] => !!l && !isIdentity(l));
      if (known.length === 0) return;
      const L = known[0]!;
      for (const l of known)
        if (l.join() !== L.join())
          throw new Error(`internal: '${node.name}' reads operands stored in different axis orders`);
      for (const id of same) {
        const n = graph.nodes[id]!;
        if (layoutOfOperand(id)) continue;
        if (n.op === 'param') requestLayout(id, L, node);
        else if (n.op === 'state') stateLayout.set(graph.state![n.attrs.slot as number]!.name, L);
        else
          throw new Error(
            `internal: '${node.name}' reads '${n.name}' in row-major order and others permuted`,
          );
      }
      layoutOf.set(node.id, L);
    }

    function lowerNode(node: Node, entry: string): void {
      propagateLayout(node);
      const { op, ctx, slots, nodes } = kernelContext(node);
      if (!op.kernel)
        throw new LoweringError(`${where(node)}: op '${node.op}' (node '${node.name}') has no WGSL kernel`);
      const made = op.kernel(ctx);
      const plan: KernelPlan = 'wgsl' in made ? { scratch: [], dispatches: [made] } : made;
      const out = outputValue(node, entry, entry === 'load' ? 'derived' : 'activation');
      valueOfNode[node.id] = out;
      const scratch = plan.scratch.map((n, k) =>
        newValue('scratch', n * 4, `${node.name}.scratch${k}`, at(entry), node),
      );
      const readIds = [...node.inputs];
      const tooLarge = [out, ...scratch, ...readIds.map((i) => valueOf(i, entry))]
        .map((v) => values[v]!)
        .find((v) => v.bytes > maxBinding);
      if (tooLarge) {
        if (node.op === 'fused' || viewOf.has(node.id) || entry === 'load')
          throw new LoweringError(
            `${where(node) ? where(node) + ': ' : ''}'${node.name}' binds ${tooLarge.bytes} bytes, more than maxStorageBufferBindingSize (${maxBinding}), and is fused or stored in a concat`,
          );
        sliceByChannels(node, ctx, tooLarge.bytes, out);
        return;
      }
      for (const spec of plan.dispatches) {
        if (spec.outputLayout && !spec.outputLayout.every((a, i) => a === i)) {
          if (viewOf.has(node.id))
            throw new Error(`internal: '${node.name}' is stored permuted and in a concat's slice`);
          layoutOf.set(node.id, spec.outputLayout);
        }
        if (spec.bindings.length > kopts.maxStorageBuffersPerShaderStage)
          throw new LoweringError(
            `${where(node)}: kernel for '${node.name}' binds ${spec.bindings.length} storage buffers, more than the device's ${kopts.maxStorageBuffersPerShaderStage}`,
          );
        for (const [k, perm] of Object.entries(spec.paramLayouts ?? {}))
          requestLayout(slots.param(Number(k)), perm, node);
        const vals = spec.bindings.map((b) => bindingValue(b, node, slots, out, scratch, entry));
        record(entry, spec, vals, node, nodes);
      }
    }

    function record(
      entry: string,
      spec: KernelSpec,
      vals: number[],
      node: Node,
      nodes: StepNode[],
      ranges?: (readonly [number, number] | null)[],
      label?: string,
    ): void {
      const step = at(entry);
      vals.forEach((v, i) => {
        values[v]!.last = Math.max(values[v]!.last, step);
        if (spec.bindings[i] === 'output') return;
        let e = readers.get(v);
        if (!e) readers.set(v, (e = new Set()));
        e.add(entry);
      });
      steps.push({
        entry,
        kernel: addKernel(spec, `k${kernels.length}_${node.op}`),
        values: vals,
        outputs: vals.filter((_, i) => spec.bindings[i] === 'output'),
        ...(ranges ? { ranges } : {}),
        grid: spec.grid,
        node: label ?? node.name,
        where: where(node),
        nodes,
      });
    }

    function bindingValue(
      b: KernelBinding,
      n: Node,
      slots: Slots,
      out: number,
      scratch: readonly number[],
      entry: string,
    ): number {
      if (b === 'output') return out;
      const m = /^(input|param|scratch|epi)(\d+)$/.exec(b);
      if (!m) throw new Error(`internal: bad kernel binding '${b}'`);
      const k = Number(m[2]);
      if (m[1] === 'scratch') {
        const s = scratch[k];
        if (s === undefined)
          throw new Error(`internal: kernel of '${n.name}' binds scratch${k}, which does not exist`);
        return s;
      }
      const id = m[1] === 'input' ? slots.input(k) : m[1] === 'param' ? slots.param(k) : slots.epi(k);
      if (id === undefined)
        throw new Error(`internal: kernel of '${n.name}' binds ${b}, which does not exist`);
      return valueOf(id, entry);
    }

    /** The kernel context of a node: its op (a fused node's anchor), shapes, epilogue, views and binding slots. */
    function kernelContext(node: Node): {
      op: ReturnType<typeof getOp>;
      ctx: KernelCtx;
      slots: Slots;
      nodes: StepNode[];
    } {
      const nodes = originsOf(node).map((o) => ({
        name: o.name,
        op: o.op,
        where: o.span ? formatLocation(o.span) : '',
      }));
      const viewIn = (id: number): View | undefined => viewOf.get(id)?.view;
      const permutedFor = (reader: string, ids: readonly number[]): void => {
        for (const id of ids)
          if (layoutOf.has(id) && !getOp(reader).pointwise)
            throw new Error(
              `internal: '${node.name}' (${reader}) reads '${graph.nodes[id]!.name}', which is stored permuted; only pointwise ops may`,
            );
      };
      permutedFor(node.op === 'fused' ? node.body![0]!.op : node.op, node.op === 'fused' ? [] : node.inputs);
      const outView = viewOf.get(node.id)?.view;
      if (node.op !== 'fused') {
        const views = {
          ...(node.inputs.some((i) => viewIn(i)) ? { inputs: node.inputs.map(viewIn) } : {}),
          ...(outView ? { output: outView } : {}),
        };
        return {
          op: getOp(node.op),
          ctx: {
            inputs: node.inputs.map((i) => graph.nodes[i]!.shape),
            out: node.shape,
            attrs: node.attrs,
            params: node.params.map((i) => graph.nodes[i]!.shape),
            opts: kopts,
            ...(Object.keys(views).length ? { views } : {}),
          },
          slots: {
            input: (k) => node.inputs[k]!,
            param: (k) => node.params[k]!,
            epi: () => {
              throw new Error('internal: an unfused kernel binds an epilogue operand');
            },
          },
          nodes,
        };
      }
      const body = node.body!;
      const anchor = body[0]!;
      const resolve = (r: Ref): number => {
        if (r.kind === 'in') return node.inputs[r.index]!;
        if (r.kind === 'param') return node.params[r.index]!;
        throw new Error(`internal: fused '${node.name}': the anchor reads a member`);
      };
      const anchorIns = anchor.inputs.map(resolve);
      const anchorPs = anchor.params.map(resolve);
      const { epilogue, operandNodes } = epilogueOf(node, body);
      const views = {
        ...(anchorIns.some((i) => viewIn(i)) ? { inputs: anchorIns.map(viewIn) } : {}),
        ...(outView ? { output: outView } : {}),
      };
      return {
        op: getOp(anchor.op),
        ctx: {
          inputs: anchorIns.map((i) => graph.nodes[i]!.shape),
          out: anchor.shape,
          attrs: anchor.attrs,
          params: anchorPs.map((i) => graph.nodes[i]!.shape),
          opts: kopts,
          epilogue,
          ...(Object.keys(views).length ? { views } : {}),
        },
        slots: { input: (k) => anchorIns[k]!, param: (k) => anchorPs[k]!, epi: (k) => operandNodes[k]! },
        nodes,
      };
    }

    /** The epilogue of a fused node: its members after the anchor, their outside operands deduplicated. */
    function epilogueOf(
      node: Node,
      body: readonly FusedMember[],
    ): { epilogue: Epilogue; operandNodes: number[] } {
      const operands: EpilogueOperand[] = [];
      const operandNodes: number[] = [];
      const steps = body.slice(1).map((m, j) => {
        const def = getOp(m.op);
        const pw = def.pointwise;
        if (!pw) throw new Error(`internal: fused '${node.name}': ${m.op} is not pointwise`);
        const refs = [...m.inputs, ...(pw.params ?? m.params.map((_, k) => k)).map((k) => m.params[k]!)];
        const shapes = refs.map((r) =>
          r.kind === 'member'
            ? body[r.index]!.shape
            : graph.nodes[r.kind === 'in' ? node.inputs[r.index]! : node.params[r.index]!]!.shape,
        );
        const index = pw.index?.(shapes, m.shape) ?? shapes.map((s) => defaultIndexing(s, m.shape));
        const args = refs.map((r, a): 'v' | number => {
          if (r.kind === 'member') {
            if (r.index !== j) throw new Error(`internal: fused '${node.name}': the epilogue is not a chain`);
            return 'v';
          }
          const id = r.kind === 'in' ? node.inputs[r.index]! : node.params[r.index]!;
          let k = operandNodes.indexOf(id);
          if (k < 0) {
            const view = viewOf.get(id)?.view;
            operands.push({ shape: graph.nodes[id]!.shape, index: index[a]!, ...(view ? { view } : {}) });
            k = operandNodes.push(id) - 1;
          }
          return k;
        });
        return {
          op: m.op,
          args,
          wgsl: (xs: readonly string[], elem: 'f32' | 'vec4f', ix: ElementIndex) =>
            pw.wgsl(xs, m.attrs, elem, ix),
          ...(pw.usesIndex ? { usesIndex: true } : {}),
          ...(pw.helpers ? { helpers: pw.helpers } : {}),
        };
      });
      return { epilogue: { operands, steps }, operandNodes };
    }

    /**
     * A node with a tensor larger than one binding: dispatches on slices of its output channels, each binding its
     * inputs, output and parameters at the offsets of those channels (op.channelSlice says which are cut). Batch 1
     * only (a channel slice of an NCHW tensor is contiguous then); larger batches are split first (compile.ts).
     */
    function sliceByChannels(n: Node, full: KernelCtx, bytes: number, out: number): void {
      const op = getOp(n.op);
      const fail = (why: string): never => {
        throw new LoweringError(
          `${where(n) ? where(n) + ': ' : ''}'${n.name}' binds ${bytes} bytes, more than maxStorageBufferBindingSize (${maxBinding}); ${why}`,
        );
      };
      if (n.shape[0] !== 1) fail(`it is split by channels at batch 1 only (batch ${n.shape[0]})`);
      if (!op.channelSlice || n.shape.length < 2)
        fail(`${n.op} needs all channels at once and cannot be split by channels`);
      if (n.params.some((id) => graph.nodes[id]!.op !== 'param'))
        fail('its parameters are derived at load and cannot be cut into slices');
      const C = n.shape[1]!;
      const probe = op.channelSlice!(0, 1, full);
      const perChannel = (shape: Shape, axis: number): number => bytesOf(shape) / shape[axis]!;
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
      const nodes = originsOf(n).map((o) => ({
        name: o.name,
        op: o.op,
        where: o.span ? formatLocation(o.span) : '',
      }));
      for (let c0 = 0; c0 < C; c0 += cs) {
        const c1 = Math.min(C, c0 + cs);
        const sub = op.channelSlice!(c0, c1, full);
        const made = op.kernel!(sub.ctx);
        if (!('wgsl' in made)) fail(`${n.op}'s kernel has several passes and cannot be split by channels`);
        const spec = made as KernelSpec;
        for (const [k, perm] of Object.entries(spec.paramLayouts ?? {}))
          requestLayout(n.params[Number(k)]!, perm, n);
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
          if (b === 'output') return out;
          if (!m || parPer[Number(m[1])] === 0)
            return valueOf(
              b.startsWith('input') ? n.inputs[Number(b.slice(5))]! : n.params[Number(b.slice(5))]!,
              main,
            );
          // A sliced parameter: its own buffer with just these channels, filled at upload (ProgramParam.slices).
          const k = Number(m[1]);
          const pi = paramIndex(graph.nodes[n.params[k]!]!);
          const v = newValue('param', (c1 - c0) * parPer[k]!, `${graph.params[pi]!.name}[${c0}:${c1}]`, 0, n);
          paramSlices.push({
            param: pi,
            value: v,
            start: (c0 * parPer[k]!) / 4,
            length: ((c1 - c0) * parPer[k]!) / 4,
          });
          return v;
        });
        const unranged = ranges.map((r, i) => (/^param\d+$/.test(spec.bindings[i]!) ? null : r));
        record(main, spec, vals, n, nodes, unranged, `${n.name}[${c0}:${c1}]`);
      }
    }

    // ---- outputs (and argmax post-processing)
    const outputs: OutputRaw[] = [];
    for (const o of graph.outputs) {
      const node = graph.nodes[o.node]!;
      if (viewOf.has(o.node))
        throw new Error(
          `internal: output '${o.name}' lives in a concat's slice (eliminate_concat keeps outputs whole)`,
        );
      if (constant[o.node])
        throw new LoweringError(`output '${o.name}' is a parameter, not a value the model computes`);
      const permute = layoutOf.get(o.node);
      outputs.push({
        name: o.name,
        shape: node.shape,
        value: valueOfNode[o.node]!,
        ...(permute ? { permute } : {}),
      });
    }
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
      const v = newValue('output', bytesOf(shape), label, at(main), node);
      const argmaxStep = { name: label, op: 'argmax', where: where(node) };
      record(
        main,
        { ...spec, bindings: ['input0', 'output'] },
        [valueOfNode[o.node]!, v],
        node,
        [argmaxStep],
        undefined,
        label,
      );
      outputs.push({ name: label, shape, value: v });
    }
    for (const o of outputs) {
      const v = values[o.value]!;
      v.last = Infinity;
      if (v.kind === 'activation') (v as { kind: BufferKind }).kind = 'output';
    }
    // State a training step changes: its new value is copied over the old one once nothing reads the old one any
    // more (right after the last step that reads it or makes the new value). Until then both live.
    for (const u of graph.updates ?? []) {
      const from = valueOfNode[u.node]!;
      const node = graph.nodes[u.node]!;
      const to =
        u.target.kind === 'param'
          ? valueOf(
              graph.nodes.find(
                (n) => n.op === 'param' && n.attrs.entry === (u.target as { entry: number }).entry,
              )?.id ?? -1,
              main,
            )
          : valueOf(
              graph.nodes.find(
                (n) => n.op === 'state' && n.attrs.slot === (u.target as { slot: number }).slot,
              )!.id,
              main,
            );
      if (u.target.kind === 'param') {
        const want = permutes.get(u.target.entry);
        const have = layoutOf.get(u.node);
        if ((want ?? []).join() !== (have ?? []).join() && !(isIdentity(want) && isIdentity(have)))
          throw new Error(`internal: the update of '${node.name}' is not in its parameter's layout`);
      } else if (layoutOf.has(u.node))
        stateLayout.set(graph.state![u.target.slot]!.name, layoutOf.get(u.node)!);
      const lastRead = steps.reduce((a, s, k) => (s.values.includes(to) ? k : a), -1);
      const position = Math.max(
        lastRead,
        steps.findIndex((s) => s.values.includes(from) && s.outputs?.includes(from)),
      );
      copies.push({ after: position, from, to, bytes: bytesOf(node.shape), node, entry: main });
      values[from]!.last = Math.max(values[from]!.last, position);
    }
    if (graph.objective?.length) {
      // The parameter gradients: each is read by its momentum update (sgd_momentum: m, g, w), stored only when
      // that update is a kernel of its own; a gradient the update was fused into is never stored.
      const gradients: number[] = [];
      let allGradientBytes = 0;
      for (const n of graph.nodes) {
        const member =
          n.op === 'sgd_momentum'
            ? n
            : n.op === 'fused'
              ? n.body!.find((m) => m.op === 'sgd_momentum')
              : undefined;
        if (!member) continue;
        allGradientBytes += bufferBytes(bytesOf(member.shape));
        if (n.op === 'sgd_momentum' && valueOfNode[n.inputs[1]!]! >= 0)
          gradients.push(valueOfNode[n.inputs[1]!]!);
      }
      for (const x of graph.gradients ?? []) {
        allGradientBytes += bufferBytes(bytesOf(graph.nodes[x.node]!.shape));
        if (valueOfNode[x.node]! >= 0) gradients.push(valueOfNode[x.node]!);
      }
      trainValues = {
        losses: graph.objective.map((o) => valueOfNode[o.node]!).filter((v) => v >= 0),
        gradients: [...new Set(gradients)],
        allGradientBytes,
      };
    }
    entryIO.set(main, {
      inputs: graph.inputs.map((i) => ({
        name: i.name,
        shape: graph.nodes[i.node]!.shape,
        buffer: valueOfNode[i.node]!,
      })),
      outputs,
    });
  };

  const copies: { after: number; from: number; to: number; bytes: number; node: Node; entry: string }[] = [];
  for (const e of entries) lowerGraph(e.graph, e.name);
  const graph = first;
  values.forEach((v, k) => {
    if (
      (v.kind === 'param' || v.kind === 'derived') &&
      ![...(readers.get(k) ?? [])].some((e) => e !== 'load')
    )
      v.loadOnly = true;
  });

  const planned = planBuffers(values, maxBinding);
  const { bufferOf, buffers } = planned;
  const memory = trainValues
    ? { ...planned.memory, training: trainingMemory(values, trainValues) }
    : planned.memory;

  const readBy = new Set(paramValue.keys());
  const params: ProgramParam[] = graph.params.map((p, k) => {
    const v = readBy.has(k) ? paramValue.get(k) : undefined;
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
  const stepOf = (s: RawStep): ProgramStep => ({
    kernel: s.kernel,
    buffers: s.values.map((v) => bufferOf[v]!),
    ...(s.ranges ? { ranges: s.ranges } : {}),
    grid: s.grid,
    node: s.node,
    where: s.where,
    nodes: s.nodes,
  });
  const entryOf = (name: string): ProgramEntry => {
    const io = entryIO.get(name);
    const list: ProgramStep[] = [];
    steps.forEach((s, k) => {
      if (s.entry === name) list.push(stepOf(s));
      for (const c of copies)
        if (c.after === k && c.entry === name)
          list.push({
            kernel: '',
            buffers: [bufferOf[c.from]!, bufferOf[c.to]!],
            grid: [0, 0, 0],
            node: c.node.name,
            where: where(c.node),
            nodes: originsOf(c.node).map((o) => ({
              name: o.name,
              op: o.op,
              where: o.span ? formatLocation(o.span) : '',
            })),
            copy: { bytes: c.bytes },
          });
    });
    return {
      inputs: (io?.inputs ?? []).map((i) => ({ ...i, buffer: bufferOf[i.buffer]! })),
      outputs: (io?.outputs ?? []).map((o) => ({
        name: o.name,
        shape: o.shape,
        buffer: bufferOf[o.value]!,
        ...(o.permute ? { permute: o.permute } : {}),
      })),
      steps: list,
    };
  };
  const state = [...slots]
    .sort(([, a], [, b]) => a.of - b.of || a.name.localeCompare(b.name))
    .map(([k, slot]) => {
      const perm = stateLayout.get(k) ?? permutes.get(slot.of);
      return {
        name: slot.name,
        shape: slot.shape,
        of: graph.params[slot.of]!.name,
        buffer: bufferOf[stateValue.get(k)!]!,
        ...(perm && !isIdentity(perm) && !movesNothing(slot.shape, perm) ? { permute: perm } : {}),
      };
    });
  return {
    format: PROGRAM_FORMAT,
    version: PROGRAM_VERSION,
    model: graph.model,
    file: graph.file,
    limits: { ...DEFAULT_LIMITS, ...limits },
    tuning: { ...opts.tuning },
    buffers,
    params,
    ...(state.length ? { state } : {}),
    kernels,
    entries: Object.fromEntries([
      ['load', entryOf('load')],
      ...entries.map((e) => [e.name, entryOf(e.name)] as const),
    ]) as Program['entries'],
    memory,
  };
}

/** Where a training step's bytes go: saved activations, gradients, optimizer state. */
function trainingMemory(
  values: readonly Value[],
  t: { losses: number[]; gradients: number[]; allGradientBytes: number },
): TrainingMemory {
  const lossStep = Math.max(...t.losses.map((v) => values[v]!.first));
  const transient = (k: BufferKind): boolean => !['param', 'derived', 'optimizer', 'uniform'].includes(k);
  const losses = new Set(t.losses);
  const savedBytes = values.reduce(
    (a, v, k) =>
      transient(v.kind) && !losses.has(k) && v.first <= lossStep && v.last > lossStep
        ? a + bufferBytes(v.bytes)
        : a,
    0,
  );
  const events: [number, number][] = [];
  for (const k of t.gradients) {
    const v = values[k]!;
    events.push([v.first, bufferBytes(v.bytes)], [Math.min(v.last, 1e9) + 1, -bufferBytes(v.bytes)]);
  }
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let live = 0;
  let peakGradientBytes = 0;
  for (const [, d] of events) peakGradientBytes = Math.max(peakGradientBytes, (live += d));
  return {
    savedBytes,
    gradientBytes: t.gradients.reduce((a, k) => a + bufferBytes(values[k]!.bytes), 0),
    allGradientBytes: t.allGradientBytes,
    peakGradientBytes,
    optimizerBytes: values.reduce((a, v) => (v.kind === 'optimizer' ? a + bufferBytes(v.bytes) : a), 0),
  };
}

/** A permutation that only moves axes of size 1 leaves the data in place (1×1 conv weights OIHW → OHWI). */
function movesNothing(shape: readonly number[], perm: readonly number[]): boolean {
  const kept = (axes: readonly number[]): number[] => axes.filter((a) => shape[a] !== 1);
  const before = kept(shape.map((_, i) => i));
  const after = kept(perm);
  return before.every((a, i) => a === after[i]);
}
