// Memory planning: maps every value of a program to a physical GPU buffer.
//
// Transient values (activations, scratch) reuse whole buffers across values whose live ranges [first step, last
// step] (inclusive) do not overlap — interval colouring, best fit by size. The order values are placed in decides
// how well they pack; no one order wins on every network (largest first, most bytes × steps first, longest-lived
// first, program order), so the planner colours in each and keeps the smallest plan (milliseconds). Inclusive ranges mean that the inputs, output and scratch of one dispatch are
// all live at that step and never share a buffer, which keeps WebGPU's rule that a buffer is not bound read-only
// and writable in one dispatch (Dawn refuses it even for disjoint ranges). Inputs, outputs, parameters, derived
// parameters and anything else persistent keep buffers of their own (they are uploaded, read back or kept between
// calls). A buffer never grows beyond one binding; values larger than one binding (computed in channel slices) get
// buffers of their own.
import type { BufferKind, MemoryReport, ProgramBuffer } from '../../runtime/program.ts';

/** A tensor that needs storage: a node's value, a parameter or a kernel's scratch. */
export interface Value {
  readonly kind: BufferKind;
  readonly bytes: number;
  readonly label: string;
  /** Where it is made and last read, in step order; last = Infinity keeps it to the end (outputs). */
  readonly first: number;
  last: number;
  /** Read only by the `load` entry. */
  loadOnly?: boolean;
}

/** Kinds whose buffers are never shared: data in and out, and state that outlives one call. */
const OWN: ReadonlySet<BufferKind> = new Set([
  'input',
  'output',
  'param',
  'derived',
  'optimizer',
  'gradient',
  'uniform',
]);
const PERSISTENT: ReadonlySet<BufferKind> = new Set(['param', 'derived', 'optimizer', 'gradient', 'uniform']);
const isParam = (k: BufferKind): boolean => k === 'param' || k === 'derived';

/** Bytes of the buffer a value needs (WebGPU sizes are multiples of 4; we keep 16 for vec4 access). */
export const bufferBytes = (bytes: number): number => Math.max(16, Math.ceil(bytes / 16) * 16);

export function planBuffers(
  values: readonly Value[],
  maxBinding = Infinity,
): { bufferOf: number[]; buffers: ProgramBuffer[]; memory: MemoryReport } {
  const size = (k: number): number => bufferBytes(values[k]!.bytes);
  const span = (k: number): number => Math.min(values[k]!.last, 1e9) - values[k]!.first + 1;
  const idx = values.map((_, k) => k);
  const orders = [
    (a: number, b: number) => size(b) - size(a), // largest first
    (a: number, b: number) => size(b) * span(b) - size(a) * span(a), // most bytes × steps first
    (a: number, b: number) => span(b) - span(a), // longest-lived first
    (a: number, b: number) => values[a]!.first - values[b]!.first, // program order
  ].map((by) => [...idx].sort((a, b) => by(a, b) || values[a]!.first - values[b]!.first || a - b));
  const total = (p: { buffers: PlannedBuffer[] }): number => p.buffers.reduce((a, b) => a + b.bytes, 0);
  let best: ReturnType<typeof colour> | undefined;
  for (const order of orders) {
    const plan = colour(values, order, maxBinding);
    if (!best || total(plan) < total(best)) best = plan;
  }
  const { bufferOf, buffers } = best!;

  // The lower bound: the most bytes of non-parameter values live at any one step (buffers kept to the end count
  // throughout).
  const data = values.filter((v) => !isParam(v.kind) && !PERSISTENT.has(v.kind));
  const steps = Math.max(0, ...data.map((v) => (Number.isFinite(v.last) ? v.last : v.first))) + 1;
  const delta = new Array<number>(steps + 1).fill(0);
  let always = 0;
  for (const v of data) {
    const b = bufferBytes(v.bytes);
    if (OWN.has(v.kind) || v.last === Infinity) always += b;
    else {
      delta[v.first]! += b;
      delta[Math.min(v.last, steps - 1) + 1]! -= b;
    }
  }
  let live = 0;
  let peak = 0;
  for (let s = 0; s < steps; s++) peak = Math.max(peak, (live += delta[s]!));

  const dataBuffers = buffers.filter((b) => !isParam(b.kind) && !PERSISTENT.has(b.kind));
  const paramValues = values.filter((v) => isParam(v.kind));
  return {
    bufferOf,
    buffers: buffers.map((b, id) => ({
      id,
      bytes: b.bytes,
      kind: b.kind,
      persistent: PERSISTENT.has(b.kind),
      ...(b.loadOnly ? { loadOnly: true } : {}),
      label: b.labels.length > 1 ? `${b.labels[0]} (+${b.labels.length - 1} more)` : b.labels[0]!,
    })),
    memory: {
      naiveBytes: data.reduce((a, v) => a + bufferBytes(v.bytes), 0),
      plannedBytes: dataBuffers.reduce((a, b) => a + b.bytes, 0),
      lowerBoundBytes: always + peak,
      rawParamBytes: paramValues
        .filter((v) => v.kind === 'param')
        .reduce((a, v) => a + bufferBytes(v.bytes), 0),
      paramBytes: paramValues.filter((v) => !v.loadOnly).reduce((a, v) => a + bufferBytes(v.bytes), 0),
    },
  };
}

interface PlannedBuffer {
  bytes: number;
  kind: BufferKind;
  labels: string[];
  busy: [number, number][];
  shared: boolean;
  loadOnly: boolean;
}

const own = (v: Value): boolean => OWN.has(v.kind) || v.last === Infinity;

/** Interval colouring in one order: each value goes to the free buffer it fits best (growing one if need be). */
function colour(
  values: readonly Value[],
  order: readonly number[],
  maxBinding: number,
): { bufferOf: number[]; buffers: PlannedBuffer[] } {
  const bufferOf = new Array<number>(values.length).fill(-1);
  const buffers: PlannedBuffer[] = [];
  for (const k of order) {
    const v = values[k]!;
    const need = bufferBytes(v.bytes);
    const reusable = !own(v) && need <= maxBinding;
    let best = -1;
    if (reusable) {
      let bestCost = Infinity;
      buffers.forEach((b, id) => {
        if (!b.shared || b.busy.some(([f, l]) => !(l < v.first || v.last < f))) return;
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
      buffers.push({
        bytes: need,
        kind: v.kind,
        labels: [v.label],
        busy: [[v.first, v.last]],
        shared: reusable,
        loadOnly: v.loadOnly === true,
      });
      bufferOf[k] = buffers.length - 1;
      continue;
    }
    const b = buffers[best]!;
    b.bytes = Math.max(b.bytes, need);
    b.busy.push([v.first, v.last]);
    b.labels.push(v.label);
    if (b.kind !== v.kind) b.kind = 'activation';
    bufferOf[k] = best;
  }
  return { bufferOf, buffers };
}
