// A prototype of Winograd F(2×2, 3×3) for bench/winograd.bench.ts — not part of the compiler: the four
// dispatches it would take (weight transform, input transform, the 16 GEMMs as one grouped 1×1 conv with fcnc's own
// GEMM kernel, output transform), written for stride 1, padding 1, no bias or epilogue, batch 1, maps whose side is
// a multiple of 8 and channels in fours. It runs them next to the adapter's direct kernel on the same random input
// and weights, checks that both agree, and times each dispatch alone (fastest of `rounds`).
import { maxBinding } from '../../compiler/codegen/limits.ts';
import type { OpenedDevice } from '../../runtime/device.ts';
import type { KernelSpec } from '../../compiler/ops/op.ts';
import { candidateKernel, type Problem } from '../../runtime/tune.ts';
import { convProblemOf } from '../conv_problem.ts';

/** A stride-1 conv problem for the tuner's timer and kernels: k×k, "same" padding, no bias. */
export const stride1Conv = (x: number[], cout: number, k: number, flops = 0, groups = 1): Problem =>
  convProblemOf(x, cout, k, { flops, groups });

/**
 * Throws "does not fit …" when one of the transformed tensors (floats by name) is larger than one storage binding of
 * the device holds: a real kernel would split the GEMMs into several dispatches, which these prototypes do not.
 */
export function checkFits(dev: Pick<OpenedDevice, 'limits'>, floats: Record<string, number>): void {
  const max = maxBinding(dev.limits);
  for (const [name, n] of Object.entries(floats))
    if (n * 4 > max)
      throw new Error(
        `does not fit: ${name} takes ${((n * 4) / 2 ** 20).toFixed(0)} MiB, one binding holds ${(max / 2 ** 20).toFixed(0)} MiB`,
      );
}

export interface F23Times {
  /** The adapter's direct kernel, ms. */
  readonly direct: number;
  /** The four passes of F(2×2, 3×3), ms. */
  readonly weights: number;
  readonly input: number;
  readonly gemm: number;
  readonly output: number;
  /** max |winograd − direct| / max |direct| over the output. */
  readonly relError: number;
}

/** The shapes a prototype's transforms are generated for: m×m output tiles over an H×W map (H = W = size). */
export interface WinogradShape {
  readonly cin: number;
  readonly cout: number;
  readonly H: number;
  readonly W: number;
  /** Tile rows and columns (H / m, W / m) and tiles. */
  readonly TH: number;
  readonly TW: number;
  readonly T: number;
  /** Invocations per workgroup, and the WGSL line that computes `gid` from a 2-D grid of them. */
  readonly WG: number;
  readonly idx: string;
  /**
   * The WGSL both transforms of the input and of the output open with: bindings, constants, the zero-padded vec4
   * load `ld(c, r, q)` (input), and `main` up to the invocation's 4 adjacent tiles (`q4`, `ty`, `t4`) of its channel
   * (`c`, `co`); the transform's body and the closing brace follow.
   */
  readonly inputHead: string;
  readonly outputHead: string;
  /** Likewise for the weight transform: `main` up to the invocation's output channel `co` and input channels `c4`. */
  readonly weightsHead: string;
}

/**
 * The WGSL of a prototype's three transforms, each bound (input, output) and run as `items` invocations:
 * weights (OHWI `w` → `u`), input (`x` → `v`) and output (`m` → `y`).
 */
export interface WinogradTransforms {
  readonly weights: { readonly code: string; readonly items: number };
  readonly input: { readonly code: string; readonly items: number };
  readonly output: { readonly code: string; readonly items: number };
}

/**
 * Runs a Winograd F(m×m, 3×3) prototype next to the adapter's direct kernel: random input and OHWI weights, the
 * transforms from `transforms`, the (m+2)² GEMMs as one grouped 1×1 conv with fcnc's own GEMM kernel; checks that
 * both agree and times each dispatch alone (the fastest of `rounds`). Stride 1, padding 1, no bias, batch 1.
 */
export async function runWinograd(
  dev: OpenedDevice,
  base: Readonly<Record<string, number>>,
  o: { cin: number; size: number; cout: number; m: number; rounds: number },
  transforms: (shape: WinogradShape) => WinogradTransforms,
): Promise<F23Times> {
  const { cin, size, cout, m, rounds } = o;
  if (size % (4 * m) || cin % 4)
    throw new Error(`prototype: size ${size} must be a multiple of ${4 * m}, channels of 4`);
  const d = dev.device;
  const U = GPUBufferUsage;
  const mkbuf = (n: number, data?: Float32Array) => {
    const b = d.createBuffer({ size: Math.max(16, n * 4), usage: U.STORAGE | U.COPY_DST | U.COPY_SRC });
    if (data) d.queue.writeBuffer(b, 0, data);
    return b;
  };
  async function read(b: GPUBuffer, n: number): Promise<Float32Array> {
    const r = d.createBuffer({ size: n * 4, usage: U.MAP_READ | U.COPY_DST });
    const e = d.createCommandEncoder();
    e.copyBufferToBuffer(b, 0, r, 0, n * 4);
    d.queue.submit([e.finish()]);
    await r.mapAsync(GPUMapMode.READ);
    const out = new Float32Array(r.getMappedRange().slice(0));
    r.unmap();
    return out;
  }
  type Disp = () => Promise<number>;
  async function prep(
    code: string,
    entry: string,
    grid: readonly [number, number, number],
    bufs: GPUBuffer[],
  ): Promise<Disp> {
    const pipe = await d.createComputePipelineAsync({
      layout: 'auto',
      compute: { module: d.createShaderModule({ code }), entryPoint: entry },
    });
    const group = d.createBindGroup({
      layout: pipe.getBindGroupLayout(0),
      entries: bufs.map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
    return async () => {
      const t0 = performance.now();
      const e = d.createCommandEncoder();
      const ps = e.beginComputePass();
      ps.setPipeline(pipe);
      ps.setBindGroup(0, group);
      ps.dispatchWorkgroups(...grid);
      ps.end();
      d.queue.submit([e.finish()]);
      await d.queue.onSubmittedWorkDone();
      return performance.now() - t0;
    };
  }
  async function prepSpec(spec: KernelSpec, byslot: Record<string, GPUBuffer>): Promise<Disp> {
    return prep(
      spec.wgsl,
      spec.entryPoint,
      spec.grid,
      spec.bindings.map((s: string) => byslot[s]!),
    );
  }
  const WG = 64;
  const grid1 = (n: number): [number, number, number] => {
    const w = Math.ceil(n / WG);
    return w <= 65535 ? [w, 1, 1] : [65535, Math.ceil(w / 65535), 1];
  };
  const idx = `let gid = id.x + id.y * 65535u * ${WG}u;`;
  const H = size,
    W = size,
    TH = H / m,
    TW = W / m,
    T = TH * TW,
    XI = (m + 2) ** 2;
  checkFits(dev, { U: XI * cout * cin, V: XI * cin * T, M: XI * cout * T });
  let seed = 12345;
  const rnd = (n: number) =>
    new Float32Array(n).map(() => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32 - 0.5);
  const x = mkbuf(cin * H * W, rnd(cin * H * W));
  const w = mkbuf(cout * 9 * cin, rnd(cout * 9 * cin));
  const yDirect = mkbuf(cout * H * W);
  const Ub = mkbuf(XI * cout * cin),
    Vb = mkbuf(XI * cin * T),
    Mb = mkbuf(XI * cout * T),
    yW = mkbuf(cout * H * W);

  // The direct conv (the adapter's default kernel).
  const direct = await prepSpec(
    candidateKernel(stride1Conv([1, cin, H, W], cout, 3), { name: 'd', tuning: {} }, dev.limits, base),
    { input0: x, param0: w, output: yDirect },
  );
  const weightsHead = `@group(0) @binding(0) var<storage, read> w: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> u: array<vec4f>;
const CIN4 = ${cin / 4}u; const COUT = ${cout}u;
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) id: vec3u) {
  ${idx}
  if (gid >= COUT * CIN4) { return; }
  let c4 = gid % CIN4; let co = gid / CIN4;`;
  const inputHead = `@group(0) @binding(0) var<storage, read> x: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> v: array<vec4f>;
const CIN = ${cin}u; const H = ${H}i; const W4 = ${W / 4}i; const TH = ${TH}u; const TW4 = ${TW / 4}u; const T4 = ${T / 4}u;
fn ld(c: u32, r: i32, q: i32) -> vec4f {
  if (r < 0i || r >= H || q < 0i || q >= W4) { return vec4f(0.0); }
  return x[(c * u32(H) + u32(r)) * u32(W4) + u32(q)];
}
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) id: vec3u) {
  ${idx}
  if (gid >= CIN * TH * TW4) { return; }
  let q4 = gid % TW4; let ty = (gid / TW4) % TH; let c = gid / (TW4 * TH);
  let t4 = ty * TW4 + q4;`;
  const outputHead = `@group(0) @binding(0) var<storage, read> m: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> y: array<vec4f>;
const COUT = ${cout}u; const TH = ${TH}u; const TW4 = ${TW / 4}u; const T4 = ${T / 4}u; const W4 = ${W / 4}u; const H = ${H}u;
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) id: vec3u) {
  ${idx}
  if (gid >= COUT * TH * TW4) { return; }
  let q4 = gid % TW4; let ty = (gid / TW4) % TH; let co = gid / (TW4 * TH);
  let t4 = ty * TW4 + q4;`;
  const t = transforms({ cin, cout, H, W, TH, TW, T, WG, idx, inputHead, outputHead, weightsHead });
  const wtD = await prep(t.weights.code, 'main', grid1(t.weights.items), [w, Ub]);
  const itD = await prep(t.input.code, 'main', grid1(t.input.items), [x, Vb]);
  // The (m+2)² GEMMs as one grouped 1×1 conv: [Cout × Cin] × [Cin × T] per group.
  const gemmP = stride1Conv([1, XI * cin, 1, T], XI * cout, 1, 0, XI);
  const gemmD = await prepSpec(candidateKernel(gemmP, { name: 'g', tuning: {} }, dev.limits, base), {
    input0: Vb,
    param0: Ub,
    output: Mb,
  });
  const otD = await prep(t.output.code, 'main', grid1(t.output.items), [Mb, yW]);

  // Correctness: both ways on the same input and weights.
  await direct();
  await wtD();
  await itD();
  await gemmD();
  await otD();
  const [a, b] = [await read(yDirect, cout * H * W), await read(yW, cout * H * W)];
  let err = 0;
  let mx = 0;
  for (let k = 0; k < a.length; k++) {
    err = Math.max(err, Math.abs(a[k]! - b[k]!));
    mx = Math.max(mx, Math.abs(a[k]!));
  }
  const passes: Disp[] = [direct, wtD, itD, gemmD, otD];
  const best = passes.map(() => Infinity);
  for (let r = 0; r < rounds; r++)
    for (const [k, f] of passes.entries()) best[k] = Math.min(best[k]!, await f());
  for (const buf of [x, w, yDirect, Ub, Vb, Mb, yW]) buf.destroy();
  const [tDirect, tWeights, tInput, tGemm, tOutput] = best as [number, number, number, number, number];
  return {
    direct: tDirect,
    weights: tWeights,
    input: tInput,
    gemm: tGemm,
    output: tOutput,
    relError: err / mx,
  };
}

/** A prototype as the bench calls it: the direct kernel and the four passes of one conv, timed. */
export type WinogradPrototype = (
  dev: OpenedDevice,
  base: Readonly<Record<string, number>>,
  cin: number,
  size: number,
  cout: number,
  rounds: number,
) => Promise<F23Times>;

/** The prototype of F(m×m, 3×3) with these transforms. */
export const winogradPrototype =
  (m: number, transforms: (shape: WinogradShape) => WinogradTransforms): WinogradPrototype =>
  (dev, base, cin, size, cout, rounds) =>
    runWinograd(dev, base, { cin, size, cout, m, rounds }, transforms);

/** F(2×2, 3×3): maps a multiple of 8. */
export const winogradF23: WinogradPrototype = winogradPrototype(
  2,
  ({ cin, cout, TH, TW, inputHead, outputHead, weightsHead }) => {
    // 1. Weight transform: U[xi][co][ci] = (G g G^T)[i][j], one invocation per (co, 4 input channels).
    const wt = `${weightsHead}
  var g: array<vec4f, 9>;
  for (var t = 0u; t < 9u; t++) { g[t] = w[(co * 9u + t) * CIN4 + c4]; }
  // Rows: Gg (4 x 3)
  var a: array<vec4f, 12>;
  for (var c = 0u; c < 3u; c++) {
    let g0 = g[c]; let g1 = g[3u + c]; let g2 = g[6u + c];
    a[c] = g0; a[3u + c] = 0.5 * (g0 + g1 + g2); a[6u + c] = 0.5 * (g0 - g1 + g2); a[9u + c] = g2;
  }
  for (var r = 0u; r < 4u; r++) {
    let g0 = a[r * 3u]; let g1 = a[r * 3u + 1u]; let g2 = a[r * 3u + 2u];
    let o = r * 4u;
    u[((o + 0u) * COUT + co) * CIN4 + c4] = g0;
    u[((o + 1u) * COUT + co) * CIN4 + c4] = 0.5 * (g0 + g1 + g2);
    u[((o + 2u) * COUT + co) * CIN4 + c4] = 0.5 * (g0 - g1 + g2);
    u[((o + 3u) * COUT + co) * CIN4 + c4] = g2;
  }
}`;
    // 2. Input transform: V[xi][ci][t], one invocation per (ci, tile row, 4 tiles of it).
    const it = `${inputHead}
  // Tiles tx0..tx0+3 (tx0 = 4 q4): input columns 2 tx0 - 1 .. 2 tx0 + 8, i.e. vec4s 2 q4 - 1 .. 2 q4 + 2.
  var dd: array<vec4f, 16>; // dd[i*4+cc]: row i, column 2k+cc of tile k, over k
  for (var i = 0u; i < 4u; i++) {
    let r = i32(2u * ty + i) - 1i;
    let a = ld(c, r, 2i * i32(q4) - 1i); let b = ld(c, r, 2i * i32(q4)); let e = ld(c, r, 2i * i32(q4) + 1i); let f = ld(c, r, 2i * i32(q4) + 2i);
    // window col j (0..9) = col 2tx0-1+j: j=0 a.w; j=1..4 b; j=5..8 e; j=9 f.x
    dd[i * 4u + 0u] = vec4f(a.w, b.y, b.w, e.y);
    dd[i * 4u + 1u] = vec4f(b.x, b.z, e.x, e.z);
    dd[i * 4u + 2u] = vec4f(b.y, b.w, e.y, e.w);
    dd[i * 4u + 3u] = vec4f(b.z, e.x, e.z, f.x);
  }
  var bt: array<vec4f, 16>;
  for (var cc = 0u; cc < 4u; cc++) {
    let d0 = dd[cc]; let d1 = dd[4u + cc]; let d2 = dd[8u + cc]; let d3 = dd[12u + cc];
    bt[cc] = d0 - d2; bt[4u + cc] = d1 + d2; bt[8u + cc] = d2 - d1; bt[12u + cc] = d1 - d3;
  }
  for (var i = 0u; i < 4u; i++) {
    let d0 = bt[i * 4u]; let d1 = bt[i * 4u + 1u]; let d2 = bt[i * 4u + 2u]; let d3 = bt[i * 4u + 3u];
    v[((i * 4u + 0u) * CIN + c) * T4 + t4] = d0 - d2;
    v[((i * 4u + 1u) * CIN + c) * T4 + t4] = d1 + d2;
    v[((i * 4u + 2u) * CIN + c) * T4 + t4] = d2 - d1;
    v[((i * 4u + 3u) * CIN + c) * T4 + t4] = d1 - d3;
  }
}`;
    // 4. Output transform: y = A^T m A, one invocation per (co, tile row, 4 tiles).
    const ot = `${outputHead}
  var mm: array<vec4f, 16>;
  for (var k = 0u; k < 16u; k++) { mm[k] = m[(k * COUT + co) * T4 + t4]; }
  var r: array<vec4f, 8>; // rows of A^T m: r[a*4+j]
  for (var j = 0u; j < 4u; j++) {
    r[j] = mm[j] + mm[4u + j] + mm[8u + j];
    r[4u + j] = mm[4u + j] - mm[8u + j] - mm[12u + j];
  }
  for (var a = 0u; a < 2u; a++) {
    let y0 = r[a * 4u] + r[a * 4u + 1u] + r[a * 4u + 2u];
    let y1 = r[a * 4u + 1u] - r[a * 4u + 2u] - r[a * 4u + 3u];
    let row = (co * H + 2u * ty + a) * W4 + 2u * q4;
    y[row] = vec4f(y0.x, y1.x, y0.y, y1.y);
    y[row + 1u] = vec4f(y0.z, y1.z, y0.w, y1.w);
  }
}`;
    return {
      weights: { code: wt, items: (cout * cin) / 4 },
      input: { code: it, items: (cin * TH * TW) / 4 },
      output: { code: ot, items: (cout * TH * TW) / 4 },
    };
  },
);
