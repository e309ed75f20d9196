// Shared by the GPU tests: open a device or say why not (the suites then skip), build one-op graphs, run a
// graph through lowerToProgram + Session, and compare with the float64 reference.
import { getOp } from '../../compiler/ops/index.ts';
import type { RefTensor } from '../../compiler/ops/op.ts';
import { lowerToProgram, type LowerOptions } from '../../compiler/codegen/lower.ts';
import { numel, type Attrs, type Graph, type Shape } from '../../compiler/ir/types.ts';
import { GraphBuilder } from '../../compiler/ir/builder.ts';
import { openDevice, type OpenedDevice } from '../../runtime/device.ts';
import { Session } from '../../runtime/execute.ts';
import type { Program } from '../../runtime/program.ts';

/**
 * Opens the test device once per test file; `reason` says why there is none (the suite skips and prints it).
 * With FCNC_TEST_ADAPTER=<regex> (test/lavapipe.sh sets it) the adapter must exist and its description match:
 * a run meant for one adapter fails rather than skips or passes on another.
 */
export async function gpuForTests(): Promise<{ dev?: OpenedDevice; reason?: string }> {
  const required = process.env.FCNC_TEST_ADAPTER;
  let dev: OpenedDevice;
  try {
    dev = await openDevice();
  } catch (e) {
    const reason = (e as Error).message;
    if (required) throw new Error(`FCNC_TEST_ADAPTER=${required}: no adapter (${reason})`);
    console.warn(`GPU tests skipped: ${reason}`);
    return { reason };
  }
  if (required && !new RegExp(required, 'i').test(dev.description))
    throw new Error(`FCNC_TEST_ADAPTER=${required}: the adapter is ${dev.description}`);
  return { dev };
}

/** Deterministic uniform numbers in [lo, hi) (mulberry32). */
export function rng(seed: number): (lo?: number, hi?: number) => number {
  let a = seed >>> 0;
  return (lo = -1, hi = 1) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return lo + (hi - lo) * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
  };
}

/** A graph of one op on fresh inputs `x0, x1, …`; its parameters are named `op.<role>`. */
export function oneOpGraph(opName: string, inputs: readonly Shape[], attrs: Attrs): Graph {
  const op = getOp(opName);
  const b = new GraphBuilder({ model: `test_${opName}`, file: '<test>', settings: {} });
  const ins = inputs.map((shape, k) => b.input(`x${k}`, shape));
  const ps = (op.params?.(inputs, attrs) ?? []).map((d) =>
    b.param(
      b.entry({
        name: `op.${d.role}`,
        shape: d.shape,
        dtype: d.dtype ?? 'f32',
        init: d.init,
        trainable: d.trainable ?? true,
        role: d.role,
        used: true,
      }),
    ),
  );
  const y = b.add(opName, ins, ps, attrs, { name: 'op' });
  return b.finish({
    inputs: ins.map((node, k) => ({ name: `x${k}`, node, stride: 1 })),
    outputs: [{ name: 'y', node: y }],
    names: [],
    losses: [],
  });
}

/** Random parameter values that keep each op in its domain (positive variances, negative smoothing factors). */
export function randomParams(g: Graph, seed: number): Map<string, Float64Array> {
  const r = rng(seed);
  const out = new Map<string, Float64Array>();
  for (const p of g.params) {
    const d = new Float64Array(numel(p.shape));
    if (p.dtype === 'i64') {
      out.set(p.name, d);
      continue;
    }
    const [lo, hi] = p.role === 'running_var' ? [0.5, 1.5] : p.role === 'scale' ? [-1, -0.1] : [-1, 1];
    for (let i = 0; i < d.length; i++) d[i] = r(lo, hi);
    out.set(p.name, d);
  }
  return out;
}

export function randomInputs(
  g: Graph,
  seed: number,
  ranges: Readonly<Record<number, readonly [number, number]>> = {},
  integers: Readonly<Record<number, readonly [number, number]>> = {},
): Map<string, Float64Array> {
  const r = rng(seed);
  return new Map(
    g.inputs.map((i, j) => {
      const d = new Float64Array(numel(g.nodes[i.node]!.shape));
      const ints = integers[j];
      const [lo, hi] = ranges[j] ?? [-1, 1];
      for (let k = 0; k < d.length; k++)
        d[k] = ints ? Math.min(ints[1], Math.floor(r(ints[0], ints[1] + 1))) : r(lo, hi);
      return [i.name, d];
    }),
  );
}

/** Values rounded to f32, as the GPU sees them: the reference runs on exactly the same numbers. */
export function roundToF32(m: Map<string, Float64Array>): Map<string, Float64Array> {
  return new Map([...m].map(([k, v]) => [k, Float64Array.from(Float32Array.from(v))]));
}

/** Lowers a graph as it is (no passes) and runs it on the GPU. */
export async function runOnGpu(
  dev: OpenedDevice,
  g: Graph,
  params: ReadonlyMap<string, Float64Array>,
  inputs: ReadonlyMap<string, Float64Array>,
  limits: Readonly<Record<string, number>> = dev.limits,
  opts: LowerOptions = {},
): Promise<Map<string, Float32Array>> {
  const program = lowerToProgram(g, limits, opts);
  const session = await Session.create(dev, program);
  try {
    await session.setParams(params);
    return await session.run(new Map([...inputs].map(([k, v]) => [k, Float32Array.from(v)])));
  } finally {
    session.destroy();
  }
}

/** max |got − want| / max |want| (per tensor); NaN when the shapes disagree. */
export function relError(got: ArrayLike<number>, want: RefTensor | ArrayLike<number>): number {
  const w = 'data' in want ? want.data : want;
  if (got.length !== w.length) return NaN;
  let scale = 0;
  let err = 0;
  for (let i = 0; i < w.length; i++) {
    scale = Math.max(scale, Math.abs(w[i]!));
    const e = Math.abs(got[i]! - w[i]!);
    if (!(e <= err)) err = e; // NaN wins
  }
  return scale === 0 ? err : err / scale;
}

/** Runs a Program on the GPU with these parameters and inputs; returns its forward outputs. */
export async function runProgram(
  dev: OpenedDevice,
  program: Program,
  params: ReadonlyMap<string, Float64Array>,
  inputs: ReadonlyMap<string, Float64Array>,
  entry = program.entries.forward ? 'forward' : 'train_step',
): Promise<Map<string, Float32Array>> {
  const session = await Session.create(dev, program);
  try {
    await session.setParams(params);
    return await session.call(entry, new Map([...inputs].map(([k, v]) => [k, Float32Array.from(v)])));
  } finally {
    session.destroy();
  }
}
