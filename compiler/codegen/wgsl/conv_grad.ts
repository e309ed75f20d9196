// Kernels of conv2d's gradients (compiler/ops/conv_grad.ts). NCHW activations; the weight is OHWI on the device
// (the forward conv asks for it at upload), and so is the weight gradient.
//
// conv2d_grad_input — dX[n,c,h,w] = Σ_{o,u,v} w[o,c,u,v] · dy[n, o, (h + p − u·d)/s, (w + p − v·d)/s]:
//  - implicit GEMM with register blocking, the forward's transpose: each invocation computes TM input channels ×
//    TN input pixels of one sample and group, accumulating over taps and output channels without materialising
//    anything. TM channels of one (output channel, tap) are contiguous in OHWI: vec4 weight loads when the
//    group's input channels are a multiple of 4. With stride s the input pixels are enumerated by phase
//    (h mod s, w mod s): all pixels of a tile share one phase, so whether a tap reaches them at all (s divides
//    h + p − u·d) is one uniform test per tap and the taps that do not are skipped, not masked; within a phase a
//    tap is a shift of the phase's sub-grid, masked at dy's borders. 1×1 stride-1 unpadded: the plain GEMM
//    dX[c, p] = Σ_o W[o, c] · dy[o, p], with vec4 dy loads when a plane is a multiple of 4 pixels.
//  - depthwise (groups = Cin = Cout): a direct kernel, 4 pixels of one row of one phase per invocation, the taps
//    that reach the row's phase in a loop.
//  - variant 2 (`conv2d_grad_input.variant` 2, stride 1, groups 1): the forward's row-vectorised kernel as the conv
//    of dy with the weight transposed and flipped, read in place (`gradInputAsRows`); for a depthwise conv at
//    stride 1 the forward's depthwise row kernel with the kernel flipped (`conv2d_grad_input.dw_tn` outputs a row).
//  - variant 1 (`conv2d_grad_input.variant` 1, stride 1, groups 1): the forward's workgroup-tiled implicit GEMM
//    (conv.ts `tiledGemmKernel`, what GPUs want) as the same transposed, flipped conv of dy (`gradInputTiled`).
//  Tuning keys: `conv2d_grad_input.tm` (input channels per invocation), `conv2d_grad_input.tn` (input pixels, a
//  multiple of 4); for variant 2 `conv2d_grad_input.row_tm`, `.row_tn`, `.row_rows`, `.row_reuse`; for variant 1
//  `conv2d_grad_input.wg_bm`, `.wg_bn`, `.wg_bk`, `.wg_tm`, `.wg_tn`, `.wg_vec` (the forward's `conv2d.wg_*`).
//
// conv2d_grad_weight — dW[o,c,u,v] = Σ_{n,oh,ow} dy[n,o,oh,ow] · x[n, g·Cg + c, oh·s − p + u·d, ow·s − p + v·d]:
//  - implicit GEMM over K = N·Ho·Wo, register-blocked: each invocation computes TM output channels × TN input
//    channels of one tap, walking the rows (n, oh) of its K range and, within a row, exactly the ow whose input
//    column is inside the image (the range is computed once per tap: no masks in the inner loop). Split-K in two
//    passes: pass 1 (one dispatch) gives each of SPLITS fixed chunks of rows its own slot of a scratch buffer;
//    pass 2 sums the slots in index order. No atomics: the result does not depend on scheduling. SPLITS is
//    chosen from the sizes alone (enough work items; at least MIN_SPLIT_PIXELS pixels per chunk; at most
//    MAX_SPLITS; scratch within SCRATCH_FLOATS); with one split pass 1 stores the result itself.
//  - variant 1 (`conv2d_grad_weight.variant` 1): a workgroup-tiled GEMM (`gradWeightTiled`, what GPUs want): a
//    workgroup computes BM output channels × BN columns (tap, input channel), staging dy's and the implicit
//    im2col's slices of BK pixels in workgroup memory; K split and summed as above. Keys `conv2d_grad_weight.wg_*`.
//  - depthwise (groups = Cin = Cout): one invocation per (split, channel, up to 16 taps), the taps' sums in
//    registers (dy read once per pixel for all taps), the same two passes: one dispatch for every channel.
//  The result is stored OHWI (outputLayout [0, 2, 3, 1]), the layout the weight has on the device.
//  Tuning keys: `conv2d_grad_weight.tm`, `conv2d_grad_weight.tn` (output × input channels per invocation),
//  `conv2d_grad_weight.splits` (force the number of K chunks; tests), `conv2d_grad_weight.large` (below).
//  Both gradient kernels: `<op>.large` = C gives convs with at least C input and output channels per group the
//  larger default tiles GRAD_*_LARGE (what llvmpipe's wide layers want; narrow ones keep the small tiles, which
//  compile faster).
//  Every key can also be given for one problem, `<op>.<key>@<problem>` (`convGradProblem`): what `--tune full`
//  chooses by timing (runtime/tune.ts, CANDIDATES.gradInput / gradWeight).
//
// conv2d_grad_bias — db[o] = Σ dy[n, o, …]: one workgroup per channel, each invocation a strided sum in a fixed
// order (vec4 when a plane is a multiple of 4), then a tree sum in workgroup memory. Deterministic.
//
// Channel and pixel tails are handled by clamped loads and masked stores; every result goes through KernelIo.
import type { KernelCtx, KernelPlan, KernelSpec } from '../../ops/op.ts';
import type { ConvAttrs } from '../../ops/conv.ts';
import type { ConvGradInputAttrs } from '../../ops/conv_grad.ts';
import { i, kernelSpec, linearMain, u, WG, workgroupMain, type Buf } from './common.ts';
import {
  convProblem,
  depthwiseRowsKernel,
  rowKernel,
  rowKernelApplies,
  rowTilingOf,
  GRAD_ROW_TILING,
  tiledGemmKernel,
  wgTilingOf,
} from './conv.ts';
import { KernelIo } from './io.ts';
import { tunedValue } from '../limits.ts';

const range = (n: number): number[] => Array.from({ length: n }, (_, k) => k);
const lanes = ['x', 'y', 'z', 'w'];
const shapeText = (s: readonly number[]): string => `[${s.join(', ')}]`;
const OHWI = [0, 2, 3, 1] as const;

/** Work items pass 1 of the weight gradient aims for before it splits K. */
export const TARGET_ITEMS = 16384;
/** Fewest output pixels a K chunk covers (pass 2 reads every slot once per weight element). */
export const MIN_SPLIT_PIXELS = 256;
export const MAX_SPLITS = 64;
/** Largest scratch buffer of partial sums (f32 elements). */
export const SCRATCH_FLOATS = 8 * 1024 * 1024;

export type ConvGradOp = 'conv2d_grad_input' | 'conv2d_grad_weight';

/**
 * The problem key of a conv's gradient kernel: the op and the forward conv it differentiates (its input x and
 * attributes, as `convProblem`), e.g. `conv2d_grad_input:2x64x32x32-64k3s1p1d1g1`. Per-problem tuning keys
 * (`conv2d_grad_input.tm@<key>`, what the tuner chooses: runtime/tune.ts) win over the global ones.
 */
export function convGradProblem(op: ConvGradOp, x: readonly number[], a: ConvAttrs): string {
  return `${op}:${convProblem(x, a).slice('conv2d:'.length)}`;
}

/** The forward conv's input shape of a gradient kernel: dX's shape (grad_input), x itself (grad_weight). */
const forwardInput = (ctx: KernelCtx, op: ConvGradOp): readonly number[] =>
  op === 'conv2d_grad_input' ? ctx.out : ctx.inputs[0]!;

/** A tuning key's value for this kernel's problem (`<op>.<key>@<problem>`, else `<op>.<key>`), if set. */
function asked(ctx: KernelCtx, op: ConvGradOp, key: string): number | undefined {
  return tunedValue(
    ctx.opts.tuning,
    `${op}.${key}`,
    convGradProblem(op, forwardInput(ctx, op), ctx.attrs as ConvAttrs),
  );
}

/** A tuning value (`<op>.<key>`, per problem or global), checked, else the default. */
function tuned(ctx: KernelCtx, op: ConvGradOp, key: string, dflt: number, mult = 1): number {
  const v = asked(ctx, op, key) ?? dflt;
  if (!(Number.isInteger(v) && v >= 1 && v % mult === 0))
    throw new Error(`bad ${op} tuning: ${key} ${v}${mult > 1 ? ` (a multiple of ${mult})` : ''}`);
  return v;
}

/** Balanced tiles of at most `t` over `n` (12 over 8 → 2 tiles of 6); `align` rounds the tile size up. */
function tiles(n: number, t: number, align = 1): { size: number; count: number } {
  let size = Math.ceil(n / Math.ceil(n / t));
  size = Math.ceil(size / align) * align;
  return { size, count: Math.ceil(n / size) };
}

const isDepthwise = (a: ConvAttrs, cin: number): boolean =>
  a.groups > 1 && a.groups === cin && a.groups === a.channels;

const kindOf = (a: ConvAttrs): string =>
  `${a.kernel}x${a.kernel}${a.stride > 1 ? `_s${a.stride}` : ''}${a.dilation > 1 ? `_d${a.dilation}` : ''}${a.groups > 1 ? `_g${a.groups}` : ''}`;

const describe = (a: ConvAttrs): string =>
  `${a.kernel}×${a.kernel} stride ${a.stride} padding ${a.padding} dilation ${a.dilation} groups ${a.groups}`;

// ---------------------------------------------------------------------------------------------------------------
// conv2d_grad_input

export const GRAD_INPUT_DEFAULT = { tm: 16, tn: 8 };
/** The larger tiles `<op>.large` = C switches to for convs with at least C input and output channels per group. */
export const GRAD_INPUT_LARGE = { tm: 32, tn: 16 };
export const GRAD_WEIGHT_LARGE = { tm: 16, tn: 32 };

/**
 * The default tiling of a gradient kernel: `large` when the tuning sets `<op>.large` to a channel count the conv
 * reaches (input and output channels per group), else `small`. On llvmpipe large tiles pay on wide layers
 * (bench/results/backward-software.md) but cost shader compile time, which narrow layers do not repay.
 */
function gradDefault(
  ctx: KernelCtx,
  op: ConvGradOp,
  cinG: number,
  coutG: number,
  small: { tm: number; tn: number },
  large: { tm: number; tn: number },
): { tm: number; tn: number } {
  const from = asked(ctx, op, 'large');
  return from !== undefined && cinG >= from && coutG >= from ? large : small;
}

export function conv2dGradInputKernel(ctx: KernelCtx<ConvGradInputAttrs>): KernelSpec {
  const variant = asked(ctx, 'conv2d_grad_input', 'variant') ?? 0;
  if (variant !== 0 && variant !== 1 && variant !== 2)
    throw new Error(`bad conv2d_grad_input tuning: variant ${variant}`);
  if (isDepthwise(ctx.attrs, ctx.out[1]!)) {
    const a = ctx.attrs;
    const padding = (a.kernel - 1) * a.dilation - a.padding;
    // Variant 2 at stride 1: the forward's depthwise row kernel on dy with the kernel flipped (vec4 rows where dy's
    // rows are a multiple of 4 wide), `conv2d_grad_input.dw_tn` outputs a row (else the forward's `conv2d_dw.tn`).
    if (variant === 2 && a.stride === 1 && padding >= 0)
      return depthwiseRowsKernel(
        { ...ctx, attrs: { ...a, padding, stride: 1, bias: false } },
        tuned(ctx, 'conv2d_grad_input', 'dw_tn', ctx.opts.tuning?.['conv2d_dw.tn'] ?? 8, 4),
        true,
      );
    return gradInputDepthwise(ctx);
  }
  if (variant === 2) {
    const rows = gradInputAsRows(ctx);
    if (rows) return rows;
  }
  if (variant === 1) {
    const tiled = gradInputTiled(ctx);
    if (tiled) return tiled;
  }
  const cinG = ctx.out[1]! / ctx.attrs.groups;
  const dflt = gradDefault(
    ctx,
    'conv2d_grad_input',
    cinG,
    ctx.inputs[0]![1]! / ctx.attrs.groups,
    GRAD_INPUT_DEFAULT,
    GRAD_INPUT_LARGE,
  );
  const tm = tuned(ctx, 'conv2d_grad_input', 'tm', dflt.tm);
  let tn = tuned(ctx, 'conv2d_grad_input', 'tn', dflt.tn, 4);
  // Few input channels per group (a stem's 3): twice the pixels per invocation, unless tn was asked for.
  if (asked(ctx, 'conv2d_grad_input', 'tn') === undefined && 2 * cinG <= tm) tn = Math.min(2 * tn, 16);
  return gradInputGemm(ctx, tm, tn);
}

/** The conv of dy that gives a stride-1 groups-1 conv's input gradient (of input shape x), if there is one. */
function transposedConv(x: readonly number[], a: ConvAttrs): ConvAttrs | undefined {
  const padding = (a.kernel - 1) * a.dilation - a.padding;
  if (a.stride !== 1 || a.groups !== 1 || padding < 0 || x[1]! % 4 !== 0) return undefined;
  return {
    channels: x[1]!,
    kernel: a.kernel,
    stride: 1,
    padding,
    dilation: a.dilation,
    groups: 1,
    bias: false,
  };
}

/** Whether variant 2 of the input gradient applies to the conv of x with attributes a (else variant 0 runs). */
export function gradInputRowsApply(x: readonly number[], a: ConvAttrs): boolean {
  const t = transposedConv(x, a);
  if (!t) return false;
  const ho = x[2]! + 2 * a.padding - a.dilation * (a.kernel - 1);
  const wo = x[3]! + 2 * a.padding - a.dilation * (a.kernel - 1);
  // dy's channels step 4 at a time through the transposed weight: they must come in fours too.
  return a.channels % 4 === 0 && rowKernelApplies([x[0]!, a.channels, ho, wo], t);
}

/**
 * Variant 2 of the input gradient, where it applies (stride 1, groups 1, a kernel wider than 1, dy rows and both
 * channel counts multiples of 4, padding at most (k−1)·d): the forward's row-vectorised kernel
 * (conv.ts `rowKernel`) run as the conv of dy with the weight transposed and flipped, padding (k−1)·d − p — read
 * in place from the forward's OHWI weight. Its tiles come from this problem's own keys (`conv2d_grad_input.row_tm`,
 * `.row_tn`, `.row_rows`, `.row_reuse`; `conv2d_grad_input.large` for the large row tiles by width), never from a forward conv's
 * choices, though the transposed conv may have a forward conv's shape.
 */
function gradInputAsRows(ctx: KernelCtx<ConvGradInputAttrs>): KernelSpec | undefined {
  const dy = ctx.inputs[0]!;
  const attrs = transposedConv(ctx.out, ctx.attrs);
  if (!attrs || dy[1]! % 4 !== 0 || !rowKernelApplies(dy, attrs)) return undefined;
  const key = convProblem(dy, attrs);
  const t = ctx.opts.tuning ?? {};
  const tuning: Record<string, number> = {};
  const large = asked(ctx, 'conv2d_grad_input', 'large');
  if (large !== undefined) tuning['conv2d.large'] = large;
  if (t['conv2d.min_workgroups'] !== undefined) tuning['conv2d.min_workgroups'] = t['conv2d.min_workgroups'];
  for (const k of ['row_tm', 'row_tn', 'row_rows', 'row_reuse']) {
    const v = asked(ctx, 'conv2d_grad_input', k);
    if (v !== undefined) tuning[`conv2d.${k}@${key}`] = v;
  }
  const rctx = { ...ctx, attrs, opts: { ...ctx.opts, tuning } };
  return rowKernel(rctx, rowTilingOf(rctx, GRAD_ROW_TILING), true);
}

/** Whether variant 1 of the input gradient (workgroup-tiled) applies to the conv of x with attributes a. */
export function gradInputTiledApplies(x: readonly number[], a: ConvAttrs): boolean {
  return transposedConv(x, a) !== undefined;
}

/** The tuning keys of the workgroup tiles, shared by the forward conv and its gradients (`<op>.wg_bm`, …). */
const WG_TILE_KEYS = ['wg_bm', 'wg_bn', 'wg_bk', 'wg_tm', 'wg_tn', 'wg_vec'] as const;

/** A gradient kernel's workgroup tiles asked for (`<op>.wg_*`, its problem's or global) as the forward's keys. */
function wgTuning(ctx: KernelCtx, op: ConvGradOp): Record<string, number> {
  const tuning: Record<string, number> = {};
  for (const k of WG_TILE_KEYS) {
    const v = asked(ctx, op, k);
    if (v !== undefined) tuning[`conv2d.${k}`] = v;
  }
  return tuning;
}

/**
 * Variant 1 of the input gradient, where it applies (stride 1, groups 1, input channels a multiple of 4, padding at
 * most (k−1)·d): the forward's workgroup-tiled implicit GEMM (conv.ts `tiledGemmKernel`, what GPUs want) run as the
 * conv of dy with the weight transposed and flipped, read in place; its tiles from this problem's
 * `conv2d_grad_input.wg_*` keys, else the forward kernel's defaults.
 */
function gradInputTiled(ctx: KernelCtx<ConvGradInputAttrs>): KernelSpec | undefined {
  const attrs = transposedConv(ctx.out, ctx.attrs);
  if (!attrs) return undefined;
  const rctx = { ...ctx, attrs, opts: { ...ctx.opts, tuning: wgTuning(ctx, 'conv2d_grad_input') } };
  return tiledGemmKernel(rctx, wgTilingOf(rctx), true);
}

function gradInputGemm(ctx: KernelCtx<ConvGradInputAttrs>, tmMax: number, tn: number): KernelSpec {
  const [batch, cout, ho, wo] = ctx.inputs[0]! as number[];
  const [, cin, h, w] = ctx.out as number[];
  const a = ctx.attrs;
  const { kernel: k, stride: s, padding: p, dilation: d, groups: g } = a;
  const cinG = cin! / g;
  const coutG = cout! / g;
  const vecW = cinG % 4 === 0;
  const ct = tiles(cinG, tmMax, vecW ? 4 : 1);
  const tm = ct.size;
  const nv = tn / 4;
  const sh = Math.ceil(h! / s);
  const sw = Math.ceil(w! / s);
  const sub = sh * sw; // pixels of a phase's sub-grid (the largest phase; smaller ones mask their tail)
  const phases = s * s;
  const pixTiles = Math.ceil(sub / tn);
  const plane = h! * w!;
  const oplane = ho! * wo!;
  const gemm = k === 1 && s === 1 && p === 0; // then input pixel = output pixel
  const io = new KernelIo(ctx);
  const vecDy = gemm && oplane % 4 === 0 && io.inVecOk(0);
  const vecY = s === 1 && plane % 4 === 0 && io.outVecOk;
  const bufs: Buf[] = [
    { slot: 'input0', name: 'dy', elem: vecDy ? 'vec4f' : 'f32' },
    { slot: 'param0', name: 'wt', elem: vecW ? 'vec4f' : 'f32' },
    ...io.outBufs(vecY),
  ];
  const consts = [
    `const CIN = ${u(cin!)};  const H = ${u(h!)};  const W = ${u(w!)};  const PLANE = H * W;`,
    `const COUT = ${u(cout!)};  const HO = ${u(ho!)};  const WO = ${u(wo!)};  const OPLANE = HO * WO;`,
    `const KSIZE = ${u(k)};  const STRIDE = ${i(s)};  const PAD = ${i(p)};  const DILATION = ${i(d)};`,
    `const GROUPS = ${u(g)};  const CIN_G = ${u(cinG)};  const COUT_G = ${u(coutG)};`,
    `const TM = ${u(tm)}; // input channels per invocation`,
    `const TN = ${u(tn)}; // input pixels per invocation (of one phase)`,
    `const CI_TILES = ${u(ct.count)}; // per group`,
    `const PHASES = ${u(phases)}; // (h mod STRIDE, w mod STRIDE)`,
    `const SW = ${u(sw)}; // width of a phase's sub-grid`,
    `const SUB = ${u(sub)}; // pixels of a phase's sub-grid`,
    `const PIX_TILES = ${u(pixTiles)}; // per phase`,
    `const WROW = KSIZE * KSIZE * CIN_G; // weight floats per output channel (OHWI)`,
  ].join('\n');

  const L: string[] = [];
  L.push(
    '  // Work item → (sample, group, input-channel tile, phase, pixel tile); pixel tiles vary fastest.',
  );
  L.push('  let pt = gid % PIX_TILES;');
  L.push('  let ph = (gid / PIX_TILES) % PHASES;');
  L.push('  let ct = (gid / (PIX_TILES * PHASES)) % CI_TILES;');
  L.push('  let grp = (gid / (PIX_TILES * PHASES * CI_TILES)) % GROUPS;');
  L.push('  let n = gid / (PIX_TILES * PHASES * CI_TILES * GROUPS);');
  L.push('  let c0 = ct * TM; // first input channel of the tile, within the group');
  L.push("  let p0 = pt * TN; // first pixel of the tile in the phase's sub-grid");
  L.push(`  let dybase = (${io.plane(0, 'n', 'grp * COUT_G')}) * OPLANE;`);
  if (s > 1) L.push('  let ry = i32(ph / u32(STRIDE));  let rx = i32(ph % u32(STRIDE));');
  else L.push('  _ = ph;');
  L.push(
    "  // Channels of the tile (tail channels re-read the group's last channel; their results are dropped).",
  );
  if (vecW) for (const q of range(tm / 4)) L.push(`  let cq${q} = min(c0 / 4u + ${u(q)}, CIN_G / 4u - 1u);`);
  else for (const m of range(tm)) L.push(`  let cm${m} = min(c0 + ${u(m)}, CIN_G - 1u);`);
  if (!gemm) {
    L.push("  // Each pixel's place in the phase's sub-grid (tail pixels clamp to the last one).");
    for (const j of range(tn)) {
      L.push(`  let q${j} = min(p0 + ${u(j)}, SUB - 1u);`);
      L.push(`  let sy${j} = i32(q${j} / SW);  let sx${j} = i32(q${j} % SW);`);
    }
  }
  for (const m of range(tm))
    L.push(`  var acc${m}: array<vec4f, ${nv}>; // channel c0+${m}, pixels p0 + 4v .. p0 + 4v + 3`);

  // Output channels in steps of U (4 when they divide): each step loads its U rows of dy and weights first, then
  // updates every accumulator once with all U terms — on llvmpipe loads end basic blocks, so one FMA per accumulator
  // between loads re-spills them (the forward kernels' order, compiler/codegen/wgsl/conv.ts `interleaved`).
  const U = coutG % 4 === 0 ? 4 : 1;
  const weights = (ind: string, uu: number): string[] =>
    vecW
      ? range(tm / 4).map(
          (q) =>
            `${ind}let wv${uu}_${q} = wt[wrow${uu} / 4u + cq${q}]; // channels c0+${4 * q}..c0+${4 * q + 3}`,
        )
      : range(tm).map((m) => `${ind}let w${uu}_${m} = wt[wrow${uu} + cm${m}];`);
  const wOf = (uu: number, m: number): string =>
    vecW ? `wv${uu}_${Math.floor(m / 4)}.${lanes[m % 4]}` : `w${uu}_${m}`;
  const fma = (ind: string): void => {
    for (const m of range(tm))
      for (const v of range(nv))
        L.push(
          `${ind}acc${m}[${v}] += ${range(U)
            .map((uu) => `${wOf(uu, m)} * d${uu}_${v}`)
            .join(' + ')};`,
        );
  };

  if (gemm) {
    if (vecDy) L.push('  let pv0 = p0 / 4u; // first pixel vec4');
    L.push(`  for (var o = 0u; o < COUT_G; o += ${u(U)}) {`);
    for (const uu of range(U)) {
      L.push(`    let dyc${uu} = dybase + (o + ${u(uu)}) * OPLANE;`);
      L.push(`    let wrow${uu} = (grp * COUT_G + o + ${u(uu)}) * WROW;`);
      for (const v of range(nv))
        L.push(
          vecDy
            ? `    let d${uu}_${v} = dy[dyc${uu} / 4u + min(pv0 + ${u(v)}, OPLANE / 4u - 1u)];`
            : `    let d${uu}_${v} = vec4f(${range(4)
                .map((l) => `dy[dyc${uu} + min(p0 + ${u(4 * v + l)}, OPLANE - 1u)]`)
                .join(', ')});`,
        );
      L.push(...weights('    ', uu));
    }
    fma('    ');
    L.push('  }');
  } else {
    L.push('  for (var ky = 0u; ky < KSIZE; ky++) {');
    if (s > 1) {
      L.push('    let ty = ry + PAD - i32(ky) * DILATION;');
      L.push("    if (ty % STRIDE != 0i) { continue; } // this tap never reaches the tile's phase");
      L.push('    let oy = ty / STRIDE; // exact');
    } else L.push('    let oy = PAD - i32(ky) * DILATION;');
    L.push('    for (var kx = 0u; kx < KSIZE; kx++) {');
    if (s > 1) {
      L.push('      let tx = rx + PAD - i32(kx) * DILATION;');
      L.push('      if (tx % STRIDE != 0i) { continue; }');
      L.push('      let ox = tx / STRIDE;');
    } else L.push('      let ox = PAD - i32(kx) * DILATION;');
    L.push(
      '      // The dy pixel each input pixel reads through this tap; outside dy it reads offset 0, masked.',
    );
    for (const j of range(tn)) {
      L.push(`      let ty${j} = sy${j} + oy;  let tx${j} = sx${j} + ox;`);
      L.push(`      let in${j} = ty${j} >= 0i && ty${j} < i32(HO) && tx${j} >= 0i && tx${j} < i32(WO);`);
      L.push(`      let o${j} = select(0u, u32(ty${j}) * WO + u32(tx${j}), in${j});`);
    }
    for (const v of range(nv))
      L.push(
        `      let mask${v} = vec4f(${range(4)
          .map((l) => `select(0.0, 1.0, in${4 * v + l})`)
          .join(', ')});`,
      );
    L.push('      let tap = (ky * KSIZE + kx) * CIN_G;');
    L.push(`      for (var o = 0u; o < COUT_G; o += ${u(U)}) {`);
    for (const uu of range(U)) {
      L.push(`        let dyc${uu} = dybase + (o + ${u(uu)}) * OPLANE;`);
      L.push(`        let wrow${uu} = (grp * COUT_G + o + ${u(uu)}) * WROW + tap;`);
      for (const v of range(nv))
        L.push(
          `        let d${uu}_${v} = vec4f(${range(4)
            .map((l) => `dy[dyc${uu} + o${4 * v + l}]`)
            .join(', ')}) * mask${v};`,
        );
      L.push(...weights('        ', uu));
    }
    fma('        ');
    L.push('      }');
    L.push('    }');
    L.push('  }');
  }

  L.push('  // Store the tile, skipping tail channels and pixels outside the image.');
  if (s > 1)
    for (const j of range(tn)) {
      L.push(
        `  let hy${j} = u32(ry) + u32(STRIDE) * u32(sy${j});  let hx${j} = u32(rx) + u32(STRIDE) * u32(sx${j});`,
      );
      L.push(`  let ok${j} = p0 + ${u(j)} < SUB && hy${j} < H && hx${j} < W;`);
    }
  for (const m of range(tm)) {
    L.push(`  if (c0 + ${u(m)} < CIN_G) {`);
    L.push(`    let ybase = (n * CIN + grp * CIN_G + c0 + ${u(m)}) * PLANE;`);
    if (vecY)
      for (const v of range(nv))
        L.push(
          `    if (p0 + ${u(4 * v)} < PLANE) { ${io.store4(`(ybase + p0) / 4u + ${u(v)}`, `acc${m}[${v}]`)} }`,
        );
    else
      for (const j of range(tn)) {
        const val = `acc${m}[${Math.floor(j / 4)}].${lanes[j % 4]}`;
        L.push(
          s > 1
            ? `    if (ok${j}) { ${io.store(`ybase + hy${j} * W + hx${j}`, val)} }`
            : `    if (p0 + ${u(j)} < PLANE) { ${io.store(`ybase + p0 + ${u(j)}`, val)} }`,
        );
      }
    L.push('  }');
  }

  const items = batch! * g * ct.count * phases * pixTiles;
  return kernelSpec(
    `conv2d_grad_input_${gemm ? 'gemm' : kindOf(a)}_c${cin}`,
    [
      `conv2d_grad_input, conv ${describe(a)}: dy ${shapeText(ctx.inputs[0]!)} → dx ${shapeText(ctx.out)}`,
      gemm
        ? `1×1 conv's transpose as a GEMM; each invocation: ${tm} input channels × ${tn} pixels (${vecDy ? 'vec4' : 'scalar'} dy loads, ${vecW ? 'vec4' : 'scalar'} weight loads)`
        : `implicit GEMM over (tap, output channel); each invocation: ${tm} input channels × ${tn} pixels of one stride phase (${vecW ? 'vec4' : 'scalar'} weight loads)`,
      'weights are OHWI (converted from OIHW at load)',
    ].join('\n'),
    bufs,
    consts,
    linearMain(items, WG, ctx.opts),
    L.join('\n'),
    WG,
    { paramLayouts: { 0: [...OHWI] } },
    io.helpers(),
  );
}

/** Depthwise dX: each invocation computes 4 pixels of one row of one stride phase of one channel. */
function gradInputDepthwise(ctx: KernelCtx<ConvGradInputAttrs>): KernelSpec {
  const [batch, ch, ho, wo] = ctx.inputs[0]! as number[];
  const [, , h, w] = ctx.out as number[];
  const a = ctx.attrs;
  const { kernel: k, stride: s, padding: p, dilation: d } = a;
  const sh = Math.ceil(h! / s);
  const sw = Math.ceil(w! / s);
  const rowTiles = Math.ceil(sw / 4);
  const phases = s * s;
  const io = new KernelIo(ctx);
  const vecY = s === 1 && w! % 4 === 0 && io.outVecOk; // a row's 4 pixels are one aligned vec4
  const bufs: Buf[] = [
    { slot: 'input0', name: 'dy', elem: 'f32' },
    { slot: 'param0', name: 'wt', elem: 'f32' },
    ...io.outBufs(vecY),
  ];
  const consts = [
    `const CHANNELS = ${u(ch!)};  const H = ${u(h!)};  const W = ${u(w!)};`,
    `const HO = ${u(ho!)};  const WO = ${u(wo!)};`,
    `const KSIZE = ${u(k)};  const STRIDE = ${i(s)};  const PAD = ${i(p)};  const DILATION = ${i(d)};`,
    `const PHASES = ${u(phases)};  const SH = ${u(sh)};  const SW = ${u(sw)}; // stride phases and their sub-grid`,
    `const ROW_TILES = ${u(rowTiles)}; // 4 pixels of a sub-grid row each`,
  ].join('\n');
  const L: string[] = [];
  L.push('  let tile = gid % ROW_TILES;');
  L.push('  let sy = (gid / ROW_TILES) % SH;');
  L.push('  let ph = (gid / (ROW_TILES * SH)) % PHASES;');
  L.push('  let c = (gid / (ROW_TILES * SH * PHASES)) % CHANNELS;');
  L.push('  let n = gid / (ROW_TILES * SH * PHASES * CHANNELS);');
  if (s > 1) L.push('  let ry = i32(ph / u32(STRIDE));  let rx = i32(ph % u32(STRIDE));');
  else L.push('  _ = ph;  let ry = 0i;  let rx = 0i;');
  L.push('  let hy = u32(ry) + u32(STRIDE) * sy; // the input row');
  L.push('  if (hy >= H) { return; } // a short phase');
  L.push('  let sx0 = tile * 4u;');
  L.push(`  let dybase = (${io.plane(0, 'n', 'c')}) * HO * WO;`);
  L.push('  let wbase = c * KSIZE * KSIZE;');
  L.push('  var acc = vec4f(0.0);');
  L.push('  for (var ky = 0u; ky < KSIZE; ky++) {');
  L.push('    let ty = ry + PAD - i32(ky) * DILATION;');
  if (s > 1) L.push("    if (ty % STRIDE != 0i) { continue; } // never reaches this row's phase");
  L.push('    let oy = i32(sy) + ty / STRIDE;');
  L.push('    if (oy < 0i || oy >= i32(HO)) { continue; }');
  L.push('    let row = dybase + u32(oy) * WO;');
  L.push('    for (var kx = 0u; kx < KSIZE; kx++) {');
  L.push('      let tx = rx + PAD - i32(kx) * DILATION;');
  if (s > 1) L.push('      if (tx % STRIDE != 0i) { continue; }');
  L.push('      let ox = tx / STRIDE;');
  for (const j of range(4)) {
    L.push(`      let t${j} = i32(sx0 + ${u(j)}) + ox;`);
    L.push(`      let in${j} = t${j} >= 0i && t${j} < i32(WO);`);
  }
  L.push(
    `      let dv = vec4f(${range(4)
      .map((j) => `dy[row + select(0u, u32(t${j}), in${j})]`)
      .join(', ')}) * vec4f(${range(4)
      .map((j) => `select(0.0, 1.0, in${j})`)
      .join(', ')});`,
  );
  L.push('      acc += wt[wbase + ky * KSIZE + kx] * dv;');
  L.push('    }');
  L.push('  }');
  L.push('  let ybase = ((n * CHANNELS + c) * H + hy) * W;');
  if (vecY) L.push(`  ${io.store4('(ybase + sx0) / 4u', 'acc')}`);
  else
    for (const j of range(4)) {
      L.push(`  let hx${j} = u32(rx) + u32(STRIDE) * (sx0 + ${u(j)});`);
      L.push(`  if (sx0 + ${u(j)} < SW && hx${j} < W) { ${io.store(`ybase + hx${j}`, `acc.${lanes[j]}`)} }`);
    }
  const items = batch! * ch! * phases * sh * rowTiles;
  return kernelSpec(
    `conv2d_grad_input_dw${kindOf({ ...a, groups: 1 })}_c${ch}`,
    `conv2d_grad_input, depthwise conv ${describe(a)}: dy ${shapeText(ctx.inputs[0]!)} → dx ${shapeText(ctx.out)}\neach invocation: 4 pixels of one row of one stride phase`,
    bufs,
    consts,
    linearMain(items, WG, ctx.opts),
    L.join('\n'),
    WG,
    {},
    io.helpers(),
  );
}

// ---------------------------------------------------------------------------------------------------------------
// conv2d_grad_weight

export const GRAD_WEIGHT_DEFAULT = { tm: 16, tn: 8 };

/**
 * The number of K chunks for pass 1 with `items` work items, K being `units` (rows of dy, or vec4s of pixels) of
 * `unitPixels` pixels each, and the units per chunk; deterministic in the sizes.
 */
export function splitsFor(
  items: number,
  units: number,
  unitPixels: number,
  weights: number,
  forced?: number,
): { splits: number; chunk: number } {
  let want = forced ?? Math.ceil(TARGET_ITEMS / items);
  if (forced === undefined)
    want = Math.min(
      want,
      MAX_SPLITS,
      Math.floor((units * unitPixels) / MIN_SPLIT_PIXELS),
      Math.floor(SCRATCH_FLOATS / weights),
    );
  want = Math.max(1, Math.min(want, units));
  const chunk = Math.ceil(units / want);
  return { splits: Math.ceil(units / chunk), chunk };
}

export function conv2dGradWeightKernel(ctx: KernelCtx<ConvAttrs>): KernelSpec | KernelPlan {
  if (isDepthwise(ctx.attrs, ctx.inputs[0]![1]!)) return gradWeightDepthwise(ctx);
  const variant = asked(ctx, 'conv2d_grad_weight', 'variant') ?? 0;
  if (variant !== 0 && variant !== 1) throw new Error(`bad conv2d_grad_weight tuning: variant ${variant}`);
  return variant === 1 ? gradWeightTiled(ctx) : gradWeightGemm(ctx);
}

/** The shapes and attributes both weight-gradient kernels start from: x's, dy's, and the channels per group. */
function gradWeightShape(ctx: KernelCtx<ConvAttrs>) {
  const [batch, cin, h, w] = ctx.inputs[0]! as [number, number, number, number];
  const [, cout, ho, wo] = ctx.inputs[1]! as [number, number, number, number];
  const a = ctx.attrs;
  const { kernel: k, stride: s, padding: p, dilation: d, groups: g } = a;
  return { batch, cin, h, w, cout, ho, wo, a, k, s, p, d, g, cinG: cin / g, coutG: cout / g };
}

/**
 * Variant 1 of the weight gradient: a workgroup-tiled GEMM (what GPUs want), dW[o][kk] = Σ_q dy[o][q] · X[kk][q]
 * with kk = (tap, c) — the OHWI order of the result — and q the N·Ho·Wo output pixels. One workgroup per BM output
 * channels × BN columns kk; for each BK pixels of its K range it stores dy's BM × BK block and the implicit im2col
 * block X (BN × BK, gathered with the padding masked) in workgroup memory, then each invocation adds its TM × TN
 * block. K is split as variant 0 splits it (`splitsFor`: enough invocations, the same scratch and pass 2). Tiles:
 * `conv2d_grad_weight.wg_bm`, `.wg_bn`, `.wg_bk`, `.wg_tm`, `.wg_tn` (per problem or global), else the forward's
 * defaults; `.wg_vec` 4 stores vec4s where the result allows.
 */
function gradWeightTiled(ctx: KernelCtx<ConvAttrs>): KernelSpec | KernelPlan {
  const { batch, cin, h, w, cout, ho, wo, a, k, s, p, d, g, cinG, coutG } = gradWeightShape(ctx);
  const ktot = k * k * cinG;
  const nw = cout! * ktot;
  const t = wgTilingOf({ ...ctx, opts: { ...ctx.opts, tuning: wgTuning(ctx, 'conv2d_grad_weight') } });
  const wgSize = (t.bm / t.tm) * (t.bn / t.tn);
  const kpix = batch! * ho! * wo!;
  const mTiles = Math.ceil(coutG / t.bm);
  const nTiles = Math.ceil(ktot / t.bn);
  const slices = Math.ceil(kpix / t.bk);
  const forced = asked(ctx, 'conv2d_grad_weight', 'splits');
  const { splits, chunk } = splitsFor(g * mTiles * nTiles * wgSize, slices, t.bk, nw, forced);
  const direct = splits === 1;
  const io = new KernelIo(ctx);
  const vecOut = direct && t.vec === 4 && ktot % 4 === 0 && io.outVecOk;
  const name = `conv2d_grad_weight_${kindOf(a)}_c${cin}_k${cout}_wg${t.bm}x${t.bn}`;
  const bufs: Buf[] = [
    { slot: 'input0', name: 'x', elem: 'f32' },
    { slot: 'input1', name: 'dy', elem: 'f32' },
    ...(direct
      ? io.outBufs(vecOut)
      : [{ slot: 'scratch0', name: 'part', elem: 'f32', write: true } as const]),
  ];
  const aCount = (t.bm / 4) * t.bk;
  const bCount = (t.bn / 4) * t.bk;
  const consts = [
    `const CIN = ${u(cin!)};  const H = ${u(h!)};  const W = ${u(w!)};  const PLANE = H * W;`,
    `const COUT = ${u(cout!)};  const HO = ${u(ho!)};  const WO = ${u(wo!)};  const OPLANE = HO * WO;`,
    `const KSIZE = ${u(k)};  const STRIDE = ${i(s)};  const PAD = ${i(p)};  const DILATION = ${i(d)};`,
    `const GROUPS = ${u(g)};  const CIN_G = ${u(cinG)};  const COUT_G = ${u(coutG)};`,
    `const KTOT = ${u(ktot)}; // columns of dW per output channel: taps × input channels (OHWI)`,
    `const KPIX = ${u(kpix)}; // the GEMM's depth: N · HO · WO pixels`,
    `const BM = ${u(t.bm)};  const BN = ${u(t.bn)};  const BK = ${u(t.bk)}; // workgroup tile and K slice`,
    `const TM = ${u(t.tm)};  const TN = ${u(t.tn)}; // per invocation`,
    `const M_TILES = ${u(mTiles)};  const N_TILES = ${u(nTiles)}; // per group`,
    `const SLICES = ${u(slices)};  const CHUNK = ${u(chunk)}; // K slices, and per split`,
    ...(direct ? [] : [`const NW = ${u(nw)}; // weights: one slot of the scratch buffer`]),
    '// Slices, pixel-major: As[q · BM/4 + m/4] holds output channels m..m+3 of pixel q, Bs[q · BN/4 + j/4] columns j..j+3.',
    `var<workgroup> As: array<vec4f, ${u(aCount)}>;`,
    `var<workgroup> Bs: array<vec4f, ${u(bCount)}>;`,
  ].join('\n');
  /** Loads of a tile slice: `count` work items over the workgroup, `body` given the item `ti`. */
  const passes = (L: string[], count: number, body: (ind: string) => void): void => {
    for (const r of range(Math.ceil(count / wgSize))) {
      const guard = count % wgSize !== 0 && r === Math.ceil(count / wgSize) - 1;
      L.push('    {');
      L.push(`      let ti = lid + ${u(r * wgSize)};`);
      if (guard) L.push(`      if (ti < ${u(count)}) {`);
      body(guard ? '        ' : '      ');
      if (guard) L.push('      }');
      L.push('    }');
    }
  };
  const L: string[] = [];
  L.push('  // Workgroup → (split, group, output-channel tile, column tile); column tiles vary fastest.');
  L.push('  let nt = item % N_TILES;');
  L.push('  let mt = (item / N_TILES) % M_TILES;');
  L.push('  let grp = (item / (N_TILES * M_TILES)) % GROUPS;');
  L.push('  let sp = item / (N_TILES * M_TILES * GROUPS);');
  L.push('  let o0 = mt * BM;  let kk0 = nt * BN;');
  L.push('  let tx = lid % (BN / TN);  let ty = lid / (BN / TN);');
  for (const m of range(t.tm))
    for (const v of range(t.tn / 4))
      L.push(`  var acc${m}_${v} = vec4f(0.0); // output channel ty·TM+${m}, columns tx·TN+${4 * v}..`);
  L.push('  let s1 = min(sp * CHUNK + CHUNK, SLICES);');
  L.push('  for (var sl = sp * CHUNK; sl < s1; sl++) {');
  L.push('    let q0 = sl * BK;');
  L.push("    // dy's slice into As (zero past the pixels and the group's channels).");
  passes(L, aCount, (ind) => {
    L.push(`${ind}let am = (ti % (BM / 4u)) * 4u;  let aq = ti / (BM / 4u);`);
    L.push(`${ind}let q = q0 + aq;  let qin = q < KPIX;  let qc = min(q, KPIX - 1u);`);
    L.push(`${ind}let n = qc / OPLANE;  let op = qc % OPLANE;`);
    for (const j of range(4)) {
      L.push(`${ind}let oc${j} = o0 + am + ${u(j)};`);
      L.push(
        `${ind}let a${j} = select(0.0, dy[(${io.plane(1, 'n', `grp * COUT_G + min(oc${j}, COUT_G - 1u)`)}) * OPLANE + op], qin && oc${j} < COUT_G);`,
      );
    }
    L.push(`${ind}As[aq * (BM / 4u) + am / 4u] = vec4f(a0, a1, a2, a3);`);
  });
  L.push('    // The implicit im2col slice into Bs (zero past the pixels, past KTOT and in the padding).');
  passes(L, bCount, (ind) => {
    L.push(`${ind}let bj = (ti % (BN / 4u)) * 4u;  let bq = ti / (BN / 4u);`);
    L.push(`${ind}let q = q0 + bq;  let qin = q < KPIX;  let qc = min(q, KPIX - 1u);`);
    L.push(`${ind}let n = qc / OPLANE;  let op = qc % OPLANE;`);
    L.push(`${ind}let py = i32(op / WO) * STRIDE - PAD;  let px = i32(op % WO) * STRIDE - PAD;`);
    for (const j of range(4)) {
      L.push(`${ind}let col${j} = kk0 + bj + ${u(j)};  let kc${j} = min(col${j}, KTOT - 1u);`);
      L.push(`${ind}let tap${j} = kc${j} / CIN_G;  let c${j} = kc${j} % CIN_G;`);
      L.push(
        `${ind}let iy${j} = py + i32(tap${j} / KSIZE) * DILATION;  let ix${j} = px + i32(tap${j} % KSIZE) * DILATION;`,
      );
      L.push(
        `${ind}let in${j} = qin && col${j} < KTOT && iy${j} >= 0i && iy${j} < i32(H) && ix${j} >= 0i && ix${j} < i32(W);`,
      );
      L.push(
        `${ind}let b${j} = select(0.0, x[(${io.plane(0, 'n', `grp * CIN_G + c${j}`)}) * PLANE + select(0u, u32(iy${j}) * W + u32(ix${j}), in${j})], in${j});`,
      );
    }
    L.push(`${ind}Bs[bq * (BN / 4u) + bj / 4u] = vec4f(b0, b1, b2, b3);`);
  });
  L.push('    workgroupBarrier();');
  L.push('    for (var q = 0u; q < BK; q++) {');
  for (const j of range(t.tm / 4)) L.push(`      let a${j} = As[q * (BM / 4u) + ty * (TM / 4u) + ${u(j)}];`);
  for (const v of range(t.tn / 4)) L.push(`      let b${v} = Bs[q * (BN / 4u) + tx * (TN / 4u) + ${u(v)}];`);
  for (const m of range(t.tm))
    for (const v of range(t.tn / 4)) L.push(`      acc${m}_${v} += a${m >> 2}.${lanes[m & 3]} * b${v};`);
  L.push('    }');
  L.push('    workgroupBarrier();');
  L.push('  }');
  L.push(
    '  // Store the block (OHWI: row o, column kk = tap · CIN_G + c), skipping tail channels and columns.',
  );
  L.push('  let kb = kk0 + tx * TN;');
  for (const m of range(t.tm)) {
    L.push(`  if (o0 + ty * TM + ${u(m)} < COUT_G) {`);
    L.push(`    let wb = (grp * COUT_G + o0 + ty * TM + ${u(m)}) * KTOT + kb;`);
    for (const v of range(t.tn / 4)) {
      if (vecOut)
        L.push(`    if (kb + ${u(4 * v)} < KTOT) { ${io.store4(`wb / 4u + ${u(v)}`, `acc${m}_${v}`)} }`);
      else
        for (const l of range(4)) {
          const at = `wb + ${u(4 * v + l)}`;
          const val = `acc${m}_${v}.${lanes[l]}`;
          L.push(
            `    if (kb + ${u(4 * v + l)} < KTOT) { ${direct ? io.store(at, val) : `part[sp * NW + ${at}] = ${val};`} }`,
          );
        }
    }
    L.push('  }');
  }
  const pass1 = kernelSpec(
    direct ? name : `${name}_part${splits}`,
    [
      `conv2d_grad_weight, conv ${describe(a)}: x ${shapeText(ctx.inputs[0]!)}, dy ${shapeText(ctx.inputs[1]!)} → dw ${shapeText(ctx.out)} stored OHWI`,
      `workgroup-tiled GEMM over K = N·Ho·Wo: ${t.bm} output channels × ${t.bn} columns (tap, input channel) per workgroup of ${wgSize}, K slices of ${t.bk} pixels in workgroup memory; each invocation: ${t.tm} × ${t.tn}`,
      direct
        ? 'one K chunk: the result is stored directly'
        : `split-K, pass 1: ${splits} chunks of ${chunk} slices, each into its own slot of the scratch buffer`,
    ].join('\n'),
    bufs,
    consts,
    workgroupMain(splits * g * mTiles * nTiles, wgSize, ctx.opts),
    L.join('\n'),
    wgSize,
    {},
    direct ? io.helpers() : '',
  );
  if (direct) return { ...pass1, outputLayout: [...OHWI] };
  return { scratch: [splits * nw], dispatches: [pass1, sumSplits(ctx, name, nw, splits)] };
}

/**
 * Pass 2 of split-K: out[i] = Σ_{s < SPLITS} part[s·NW + i] in index order (vec4 when the output allows),
 * stored through KernelIo. The result keeps the storage order pass 1 wrote (OHWI).
 */
function sumSplits(ctx: KernelCtx<ConvAttrs>, name: string, nw: number, splits: number): KernelSpec {
  const io = new KernelIo(ctx);
  const vec = nw % 4 === 0 && io.outVecOk;
  const q = vec ? 4 : 1;
  const bufs: Buf[] = [{ slot: 'scratch0', name: 'part', elem: vec ? 'vec4f' : 'f32' }, ...io.outBufs(vec)];
  const consts = [
    `const NW = ${u(nw / q)}; // ${vec ? 'vec4s' : 'floats'} per slot`,
    `const SPLITS = ${u(splits)};`,
  ].join('\n');
  const body = [
    '  var v = part[gid];',
    '  for (var s = 1u; s < SPLITS; s++) { v += part[s * NW + gid]; } // fixed order',
    `  ${vec ? io.store4('gid', 'v') : io.store('gid', 'v')}`,
  ].join('\n');
  return {
    ...kernelSpec(
      `${name}_sum${splits}`,
      `conv2d_grad_weight, pass 2: the sum of ${splits} partial results of ${nw} weights, in slot order${vec ? ' (vec4)' : ''}`,
      bufs,
      consts,
      linearMain(nw / q, WG, ctx.opts),
      body,
      WG,
      {},
      io.helpers(),
    ),
    outputLayout: [...OHWI],
  };
}

function gradWeightGemm(ctx: KernelCtx<ConvAttrs>): KernelSpec | KernelPlan {
  const { batch, cin, h, w, cout, ho, wo, a, k, s, p, d, g, cinG, coutG } = gradWeightShape(ctx);
  const dflt = gradDefault(ctx, 'conv2d_grad_weight', cinG, coutG, GRAD_WEIGHT_DEFAULT, GRAD_WEIGHT_LARGE);
  const tnMax = tuned(ctx, 'conv2d_grad_weight', 'tn', dflt.tn);
  let tmMax = tuned(ctx, 'conv2d_grad_weight', 'tm', dflt.tm);
  // Few input channels per group (a stem's 3): twice the output channels per invocation, unless tm was asked for.
  if (asked(ctx, 'conv2d_grad_weight', 'tm') === undefined && 2 * cinG <= tnMax)
    tmMax = Math.min(2 * tmMax, 32);
  const co = tiles(coutG, tmMax);
  const ci = tiles(cinG, tnMax);
  const tm = co.size;
  const tn = ci.size;
  const taps = k * k;
  const nw = cout! * taps * cinG;
  const io = new KernelIo(ctx);
  // 1×1 stride-1 unpadded with planes of whole vec4s: dW[o, c] = Σ_p dy[o, p] · x[c, p], vec4 loads along p.
  const gemm = k === 1 && s === 1 && p === 0 && (h! * w!) % 4 === 0 && io.inVecOk(0) && io.inVecOk(1);
  const rows = batch! * ho!;
  const p4 = (ho! * wo!) / 4;
  const items1 = g * co.count * taps * ci.count;
  const forced = asked(ctx, 'conv2d_grad_weight', 'splits');
  const { splits, chunk } = gemm
    ? splitsFor(items1, batch! * p4, 4, nw, forced)
    : splitsFor(items1, rows, wo!, nw, forced);
  const name = `conv2d_grad_weight_${gemm ? 'gemm' : kindOf(a)}_c${cin}_k${cout}`;
  const direct = splits === 1;
  const vecOut = direct && tn % 4 === 0 && cinG % 4 === 0 && io.outVecOk;
  const bufs: Buf[] = [
    { slot: 'input0', name: 'x', elem: gemm ? 'vec4f' : 'f32' },
    { slot: 'input1', name: 'dy', elem: gemm ? 'vec4f' : 'f32' },
    ...(direct
      ? io.outBufs(vecOut)
      : [{ slot: 'scratch0', name: 'part', elem: 'f32', write: true } as const]),
  ];
  const consts = [
    `const CIN = ${u(cin!)};  const H = ${u(h!)};  const W = ${u(w!)};  const PLANE = H * W;`,
    `const COUT = ${u(cout!)};  const HO = ${u(ho!)};  const WO = ${u(wo!)};  const OPLANE = HO * WO;`,
    `const KSIZE = ${u(k)};  const STRIDE = ${i(s)};  const PAD = ${i(p)};  const DILATION = ${i(d)};`,
    `const GROUPS = ${u(g)};  const CIN_G = ${u(cinG)};  const COUT_G = ${u(coutG)};`,
    `const TM = ${u(tm)}; // output channels per invocation`,
    `const TN = ${u(tn)}; // input channels per invocation (one tap)`,
    `const CO_TILES = ${u(co.count)};  const CI_TILES = ${u(ci.count)}; // per group`,
    `const TAPS = KSIZE * KSIZE;`,
    `const WROW = TAPS * CIN_G; // weights per output channel (OHWI)`,
    ...(gemm
      ? [
          `const P4 = ${u(p4)}; // vec4s of pixels per plane`,
          `const K4 = ${u(batch! * p4)}; // K = 4 · K4 pixels`,
          `const CHUNK = ${u(chunk)}; // vec4s of K per split`,
        ]
      : [
          `const ROWS = ${u(rows)}; // K = ROWS · WO: rows (n, oh) of dy`,
          `const CHUNK = ${u(chunk)}; // rows per split`,
        ]),
    ...(direct ? [] : [`const NW = ${u(nw)}; // weights: one slot of the scratch buffer`]),
  ].join('\n');

  const L: string[] = [];
  L.push(
    '  // Work item → (split, group, output-channel tile, tap, input-channel tile); input tiles vary fastest.',
  );
  L.push('  let ct = gid % CI_TILES;');
  L.push('  let tap = (gid / CI_TILES) % TAPS;');
  L.push('  let ot = (gid / (CI_TILES * TAPS)) % CO_TILES;');
  L.push('  let grp = (gid / (CI_TILES * TAPS * CO_TILES)) % GROUPS;');
  L.push('  let sp = gid / (CI_TILES * TAPS * CO_TILES * GROUPS);');
  L.push('  let c0 = ct * TN;  let co0 = ot * TM;');
  if (!gemm) {
    L.push('  let offy = i32(tap / KSIZE) * DILATION - PAD;  let offx = i32(tap % KSIZE) * DILATION - PAD;');
    L.push(
      '  // The output columns whose input column ow·STRIDE + offx is inside the image: [ow_lo, ow_hi).',
    );
    L.push('  let ow_lo = select(0u, u32((STRIDE - 1i - offx) / STRIDE), offx < 0i);');
    L.push('  let lim = i32(W) - 1i - offx;');
    L.push('  let ow_hi = select(0u, min(WO, u32(lim / STRIDE) + 1u), lim >= 0i);');
  }
  L.push("  // Channels of the tile (tails re-read the group's last channel; their results are dropped).");
  for (const m of range(tm)) L.push(`  let cm${m} = grp * COUT_G + min(co0 + ${u(m)}, COUT_G - 1u);`);
  for (const j of range(tn)) L.push(`  let cj${j} = grp * CIN_G + min(c0 + ${u(j)}, CIN_G - 1u);`);
  for (const m of range(tm))
    L.push(`  var a${m}: array<f32, ${tn}>; // output channel co0+${m} × input channels c0..`);
  if (gemm) {
    L.push('  // This split: vec4s [t0, t1) of K, walked sample by sample.');
    L.push('  let t0 = sp * CHUNK;  let t1 = min(t0 + CHUNK, K4);');
    L.push('  for (var n = t0 / P4; n * P4 < t1; n++) {');
    L.push('    let lo = max(t0, n * P4) - n * P4;  let hi = min(t1, n * P4 + P4) - n * P4;');
    for (const j of range(tn)) L.push(`    let xr${j} = (${io.plane(0, 'n', `cj${j}`)}) * P4;`);
    for (const m of range(tm)) L.push(`    let dr${m} = (${io.plane(1, 'n', `cm${m}`)}) * P4;`);
    L.push('    for (var q = lo; q < hi; q++) {');
    for (const m of range(tm)) L.push(`      let d${m} = dy[dr${m} + q];`);
    for (const j of range(tn)) L.push(`      let x${j} = x[xr${j} + q];`);
    for (const m of range(tm)) for (const j of range(tn)) L.push(`      a${m}[${j}] += dot(d${m}, x${j});`);
    L.push('    }');
    L.push('  }');
  } else {
    L.push('  let r1 = min(sp * CHUNK + CHUNK, ROWS);');
    L.push('  for (var r = sp * CHUNK; r < r1; r++) {');
    L.push('    let n = r / HO;  let oy = r % HO;');
    L.push('    let iy = i32(oy) * STRIDE + offy;');
    L.push('    if (iy < 0i || iy >= i32(H)) { continue; } // the whole row reads zero padding');
    for (const j of range(tn))
      L.push(`    let xr${j} = (${io.plane(0, 'n', `cj${j}`)}) * PLANE + u32(iy) * W;`);
    for (const m of range(tm)) L.push(`    let dr${m} = (${io.plane(1, 'n', `cm${m}`)}) * OPLANE + oy * WO;`);
    L.push('    for (var ow = ow_lo; ow < ow_hi; ow++) {');
    L.push('      let ix = u32(i32(ow) * STRIDE + offx);');
    for (const m of range(tm)) L.push(`      let d${m} = dy[dr${m} + ow];`);
    for (const j of range(tn)) L.push(`      let x${j} = x[xr${j} + ix];`);
    for (const m of range(tm)) for (const j of range(tn)) L.push(`      a${m}[${j}] += d${m} * x${j};`);
    L.push('    }');
    L.push('  }');
  }
  L.push('  // Store (OHWI: [o][tap][c]), skipping tail channels.');
  for (const m of range(tm)) {
    L.push(`  if (co0 + ${u(m)} < COUT_G) {`);
    L.push(`    let wb = (grp * COUT_G + co0 + ${u(m)}) * WROW + tap * CIN_G + c0;`);
    if (vecOut)
      for (const q of range(tn / 4))
        L.push(
          `    if (c0 + ${u(4 * q)} < CIN_G) { ${io.store4(
            `wb / 4u + ${u(q)}`,
            `vec4f(${range(4)
              .map((l) => `a${m}[${4 * q + l}]`)
              .join(', ')})`,
          )} }`,
        );
    else
      for (const j of range(tn)) {
        const at = `wb + ${u(j)}`;
        L.push(
          `    if (c0 + ${u(j)} < CIN_G) { ${direct ? io.store(at, `a${m}[${j}]`) : `part[sp * NW + ${at}] = a${m}[${j}];`} }`,
        );
      }
    L.push('  }');
  }
  const pass1 = kernelSpec(
    direct ? name : `${name}_part${splits}`,
    [
      `conv2d_grad_weight, conv ${describe(a)}: x ${shapeText(ctx.inputs[0]!)}, dy ${shapeText(ctx.inputs[1]!)} → dw ${shapeText(ctx.out)} stored OHWI`,
      gemm
        ? `1×1 conv's weight gradient as a GEMM over K = N·H·W (vec4 loads along K); each invocation: ${tm} output × ${tn} input channels`
        : `implicit GEMM over K = N·Ho·Wo; each invocation: ${tm} output channels × ${tn} input channels of one tap`,
      direct
        ? 'one K chunk: the result is stored directly'
        : `split-K, pass 1: ${splits} chunks of ${chunk} ${gemm ? 'pixel vec4s' : 'rows of dy'}, each into its own slot of the scratch buffer`,
    ].join('\n'),
    bufs,
    consts,
    linearMain(splits * items1, WG, ctx.opts),
    L.join('\n'),
    WG,
    {},
    direct ? io.helpers() : '',
  );
  if (direct) return { ...pass1, outputLayout: [...OHWI] };
  return { scratch: [splits * nw], dispatches: [pass1, sumSplits(ctx, name, nw, splits)] };
}

/** Depthwise dW: one invocation per (split, channel, tile of up to 16 taps), the taps' sums in registers. */
function gradWeightDepthwise(ctx: KernelCtx<ConvAttrs>): KernelSpec | KernelPlan {
  const [batch, ch, h, w] = ctx.inputs[0]! as number[];
  const [, , ho, wo] = ctx.inputs[1]! as number[];
  const a = ctx.attrs;
  const { kernel: k, stride: s, padding: p, dilation: d } = a;
  const taps = k * k;
  const tt = tiles(taps, 16);
  const nw = ch! * taps;
  const rows = batch! * ho!;
  const items1 = ch! * tt.count;
  const forced = asked(ctx, 'conv2d_grad_weight', 'splits');
  const { splits, chunk } = splitsFor(items1, rows, wo!, nw, forced);
  const name = `conv2d_grad_weight_dw${kindOf({ ...a, groups: 1 })}_c${ch}`;
  const io = new KernelIo(ctx);
  const direct = splits === 1;
  const bufs: Buf[] = [
    { slot: 'input0', name: 'x', elem: 'f32' },
    { slot: 'input1', name: 'dy', elem: 'f32' },
    ...(direct ? io.outBufs() : [{ slot: 'scratch0', name: 'part', elem: 'f32', write: true } as const]),
  ];
  const consts = [
    `const CHANNELS = ${u(ch!)};  const H = ${u(h!)};  const W = ${u(w!)};  const PLANE = H * W;`,
    `const HO = ${u(ho!)};  const WO = ${u(wo!)};  const OPLANE = HO * WO;`,
    `const KSIZE = ${u(k)};  const STRIDE = ${i(s)};  const PAD = ${i(p)};  const DILATION = ${i(d)};`,
    `const TAPS = KSIZE * KSIZE;  const TT = ${u(tt.size)};  const TAP_TILES = ${u(tt.count)}; // taps per invocation`,
    `const ROWS = ${u(rows)}; // rows (n, oh) of dy`,
    `const CHUNK = ${u(chunk)}; // rows per split`,
    ...(direct ? [] : [`const NW = ${u(nw)}; // weights: one slot of the scratch buffer`]),
  ].join('\n');
  const L: string[] = [];
  L.push('  let tt = gid % TAP_TILES;');
  L.push('  let c = (gid / TAP_TILES) % CHANNELS;');
  L.push('  let sp = gid / (TAP_TILES * CHANNELS);');
  L.push("  // Each tap's offset (tail taps repeat the last one; their results are dropped).");
  for (const j of range(tt.size)) {
    L.push(`  let t${j} = min(tt * TT + ${u(j)}, TAPS - 1u);`);
    L.push(
      `  let oy${j} = i32(t${j} / KSIZE) * DILATION - PAD;  let ox${j} = i32(t${j} % KSIZE) * DILATION - PAD;`,
    );
    L.push(`  var a${j} = 0.0;`);
  }
  L.push('  let r1 = min(sp * CHUNK + CHUNK, ROWS);');
  L.push('  for (var r = sp * CHUNK; r < r1; r++) {');
  L.push('    let n = r / HO;  let oh = r % HO;');
  L.push(`    let xb = (${io.plane(0, 'n', 'c')}) * PLANE;`);
  L.push(`    let dyrow = (${io.plane(1, 'n', 'c')}) * OPLANE + oh * WO;`);
  for (const j of range(tt.size)) {
    L.push(`    let iy${j} = i32(oh) * STRIDE + oy${j};`);
    L.push(`    let rok${j} = iy${j} >= 0i && iy${j} < i32(H);`);
    L.push(`    let xr${j} = xb + select(0u, u32(iy${j}) * W, rok${j});`);
  }
  L.push('    for (var ow = 0u; ow < WO; ow++) {');
  L.push('      let g = dy[dyrow + ow];');
  for (const j of range(tt.size)) {
    L.push(`      let ix${j} = i32(ow) * STRIDE + ox${j};`);
    L.push(`      let in${j} = rok${j} && ix${j} >= 0i && ix${j} < i32(W);`);
    L.push(`      a${j} += g * select(0.0, x[xr${j} + select(0u, u32(ix${j}), in${j})], in${j});`);
  }
  L.push('    }');
  L.push('  }');
  L.push('  let wb = c * TAPS + tt * TT; // [c][tap] (OHWI = OIHW for one input channel)');
  for (const j of range(tt.size))
    L.push(
      `  if (tt * TT + ${u(j)} < TAPS) { ${direct ? io.store(`wb + ${u(j)}`, `a${j}`) : `part[sp * NW + wb + ${u(j)}] = a${j};`} }`,
    );
  const pass1 = kernelSpec(
    direct ? name : `${name}_part${splits}`,
    [
      `conv2d_grad_weight, depthwise conv ${describe(a)}: x ${shapeText(ctx.inputs[0]!)}, dy ${shapeText(ctx.inputs[1]!)} → dw ${shapeText(ctx.out)}`,
      `each invocation: ${tt.size} taps of one channel over a chunk of K = N·Ho·Wo`,
      direct
        ? 'one K chunk: the result is stored directly'
        : `split-K, pass 1: ${splits} chunks of ${chunk} rows of dy, each into its own slot of the scratch buffer`,
    ].join('\n'),
    bufs,
    consts,
    linearMain(splits * items1, WG, ctx.opts),
    L.join('\n'),
    WG,
    {},
    direct ? io.helpers() : '',
  );
  if (direct) return { ...pass1, outputLayout: [...OHWI] };
  return { scratch: [splits * nw], dispatches: [pass1, sumSplits(ctx, name, nw, splits)] };
}

// ---------------------------------------------------------------------------------------------------------------
// conv2d_grad_bias

export function conv2dGradBiasKernel(ctx: KernelCtx): KernelSpec {
  const [batch, ch, h, w] = ctx.inputs[0]! as number[];
  const plane = h! * w!;
  const wg = Math.min(64, ctx.opts.maxInvocationsPerWorkgroup);
  if ((wg & (wg - 1)) !== 0)
    throw new Error('internal: conv2d_grad_bias workgroup size must be a power of two');
  const io = new KernelIo(ctx);
  const vec = plane % 4 === 0 && io.inVecOk(0);
  const q = vec ? 4 : 1;
  const bufs: Buf[] = [{ slot: 'input0', name: 'dy', elem: vec ? 'vec4f' : 'f32' }, ...io.outBufs()];
  const consts = [
    `const N = ${u(batch!)};  const CHANNELS = ${u(ch!)};`,
    `const PLANE = ${u(plane / q)}; // ${vec ? 'vec4s' : 'floats'} per plane`,
    `var<workgroup> partial: array<f32, ${wg}>;`,
  ].join('\n');
  const body = [
    '  let o = item;',
    `  var s = ${vec ? 'vec4f' : 'f32'}(0.0);`,
    '  for (var n = 0u; n < N; n++) {',
    `    let base = (${io.plane(0, 'n', 'o')}) * PLANE;`,
    '    for (var k = lid; k < PLANE; k += WORKGROUP) { s += dy[base + k]; } // fixed order per invocation',
    '  }',
    `  partial[lid] = ${vec ? '(s.x + s.y) + (s.z + s.w)' : 's'};`,
    '  workgroupBarrier();',
    '  for (var half = WORKGROUP / 2u; half > 0u; half /= 2u) { // tree sum, fixed order',
    '    if (lid < half) { partial[lid] += partial[lid + half]; }',
    '    workgroupBarrier();',
    '  }',
    `  if (lid == 0u) { ${io.store('o', 'partial[0]')} }`,
  ].join('\n');
  return kernelSpec(
    `conv2d_grad_bias_c${ch}`,
    `conv2d_grad_bias: dy ${shapeText(ctx.inputs[0]!)} → db [${ch}]; one workgroup of ${wg} per channel${vec ? ' (vec4 loads)' : ''}`,
    bufs,
    consts,
    workgroupMain(ch!, wg, ctx.opts),
    body,
    wg,
    {},
    io.helpers(),
  );
}
