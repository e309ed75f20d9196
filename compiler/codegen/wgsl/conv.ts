// conv2d kernels (NCHW activations). Which one runs, and with which tile shapes, is a kernel choice
// (KernelOptions.tuning, looked up per problem: see `convProblem` and limits.ts `tunedValue`):
//  - `conv2d.variant` 0 (default): implicit GEMM with register blocking: each invocation computes TM output
//    channels × TN output pixels of one sample and group, accumulating over (ky, kx, input channel) without
//    materialising im2col. Weights are uploaded as OHWI (converted once at load) so that 4 input channels of one tap
//    are one vec4 load when the group's input channels are a multiple of 4; a scalar path covers the rest. 1×1
//    stride-1 unpadded convs are the plain GEMM Y[co, p] = Σ_c W[co, c] · X[c, p], whose pixel loads are vec4 when
//    H·W is a multiple of 4. Keys `conv2d.tm`, `conv2d.tn` (a multiple of 4). What a CPU-like adapter (llvmpipe)
//    wants: every load a lane makes is reused for as many FMAs as possible, no barriers. A workgroup is a block of
//    `conv2d.cb` channel tiles × 64/cb pixel tiles (blockOf), and each step loads first, then updates every
//    accumulator once (`interleaved`); `conv2d.cb` 0 and `conv2d.interleave` 1 give the older orders, to measure.
//    `conv2d.gemm_order` 1 (llvmpipe's default) steps the plain GEMM by output channel (`byChannel`).
//  - `conv2d.variant` 1: workgroup-tiled implicit GEMM, what GPUs want: a workgroup computes a BM output channels ×
//    BN pixels tile, stepping through K = KSIZE²·CIN_G in slices of BK; each slice of the weights (BM × BK, from
//    OHWI rows) and of the implicit im2col matrix (BK × BN, gathered with the padding masked) is loaded once by the
//    whole workgroup into workgroup memory (vec4 global loads where the shape allows and `conv2d.wg_vec` is 4),
//    then every invocation accumulates its TM × TN block from there; barriers separate the slices. The 1×1
//    stride-1 unpadded case (a plain GEMM) loads its input tile as rows of the input planes (vec4 along pixels).
//    Keys `conv2d.wg_bm`, `conv2d.wg_bn`, `conv2d.wg_bk`, `conv2d.wg_tm`, `conv2d.wg_tn`, `conv2d.wg_vec`.
//  - `conv2d.variant` 2: variant 0 with the input read as vec4 rows (stride 1 or 2, kernel > 1, rows a multiple of 4):
//    each invocation computes `conv2d.row_tm` output channels × `conv2d.row_tn` adjacent pixels of one output row
//    and loads, per input channel and kernel row, the row segment all taps read as aligned vec4s, once. Other convs
//    under variant 2 run variant 0. What llvmpipe wants for 3×3 convs (fewer load instructions).
//  - `conv2d.large` = C: variants 0 (1×1 GEMMs) and 2 default to larger tiles on convs with ≥ C channels in and out
//    (isLarge; llvmpipe: 64).
//  - depthwise (groups = Cin = Cout) has its own direct kernels with stride, padding and dilation:
//    `conv2d_dw.variant` 0 (default): 4 adjacent output pixels of one row per invocation, each tap gathering its 4
//    inputs; 1: `conv2d_dw.tn` adjacent output pixels per invocation (a multiple of 4), each distinct input of a
//    kernel row loaded once into registers and shared by the taps that read it (with stride 1 and dilation d a
//    row of TN outputs reads TN + 2d inputs instead of 3·TN).
//  - `conv2d.winograd` = m (2 or 4): 3×3 stride-1 "same" convs that Winograd F(m×m, 3×3) tiles run as its four
//    passes (winograd.ts), the GEMMs on this file's kernels; other convs ignore the key (0: the direct kernel).
//    `conv2d.winograd_wide` = W: without that key, F(4×4) on output maps at least W wide (llvmpipe: 128).
// Output-channel and pixel tails are handled by clamping loads (or loading zeros) and masking stores.
import type { KernelCtx, KernelPlan, KernelSpec } from '../../ops/op.ts';
import { i, kernelSpec, linearMain, u, WG, workgroupMain, type Buf } from './common.ts';
import { KernelIo } from './io.ts';
import { tunedValue } from '../limits.ts';
import { bindingBytes, winogradPlan, winogradProblem, WINOGRAD_TILES } from './winograd.ts';

import type { ConvAttrs } from '../../ops/conv.ts';

/** Register-blocking factors of the implicit GEMM (variant 0). */
export interface ConvTiling {
  /** Output channels per invocation (upper bound; tails are balanced). */
  readonly tm: number;
  /** Output pixels per invocation, as vec4 groups: TN = 4 · vecs. */
  readonly vecs: number;
  /** Row-vectorised kernel only: adjacent output rows per invocation (default 1). */
  readonly rows?: number;
  /**
   * Row-vectorised kernel only: every kernel row of a step unrolled and each distinct input row of the tile loaded
   * once per step (`rowKernel`); default false.
   */
  readonly reuse?: boolean;
}
export const DEFAULT_TILING: ConvTiling = { tm: 8, vecs: 2 }; // fastest on llvmpipe (bench/results/conv-software.md)

/** Tile shapes of the workgroup-tiled implicit GEMM (variant 1). */
export interface ConvWgTiling {
  /** Output channels per workgroup tile (a multiple of tm). */
  readonly bm: number;
  /** Output pixels per workgroup tile (a multiple of tn). */
  readonly bn: number;
  /** K (taps × input channels) per slice staged in workgroup memory (a multiple of 4). */
  readonly bk: number;
  /** Output channels per invocation (a multiple of 4). */
  readonly tm: number;
  /** Output pixels per invocation (a multiple of 4). */
  readonly tn: number;
  /** Width of global loads into the tiles: 4 (vec4 where the shape allows) or 1 (scalar). */
  readonly vec: 1 | 4;
}
export const DEFAULT_WG_TILING: ConvWgTiling = { bm: 64, bn: 64, bk: 8, tm: 4, tn: 4, vec: 4 };

/** The tuning keys of each conv2d variant, for the tuner and the tests. */
export const CONV_KEYS = {
  variant: 'conv2d.variant',
  tm: 'conv2d.tm',
  tn: 'conv2d.tn',
  bm: 'conv2d.wg_bm',
  bn: 'conv2d.wg_bn',
  bk: 'conv2d.wg_bk',
  wtm: 'conv2d.wg_tm',
  wtn: 'conv2d.wg_tn',
  vec: 'conv2d.wg_vec',
  rtm: 'conv2d.row_tm',
  rtn: 'conv2d.row_tn',
  rrows: 'conv2d.row_rows',
  cb: 'conv2d.cb',
  large: 'conv2d.large',
  interleave: 'conv2d.interleave',
  rreuse: 'conv2d.row_reuse',
  wg: 'conv2d.wg',
  minWorkgroups: 'conv2d.min_workgroups',
  dwVariant: 'conv2d_dw.variant',
  dwTn: 'conv2d_dw.tn',
  dwVec: 'conv2d_dw.vec',
  sub: 'conv2d.sub',
  gemmOrder: 'conv2d.gemm_order',
  winograd: 'conv2d.winograd',
  winogradWide: 'conv2d.winograd_wide',
} as const;

/**
 * The problem a conv kernel solves, as the key of per-problem tuning (`conv2d.variant@<key>`): input shape, output
 * channels and the attributes that change the loop nest. Bias, fused epilogues and concat views are not part of
 * it (they change only the stores). runtime/tune.ts computes the same key from graph nodes.
 */
export function convProblem(x: readonly number[], a: ConvAttrs): string {
  return `conv2d:${x.join('x')}-${a.channels}k${a.kernel}s${a.stride}p${a.padding}d${a.dilation}g${a.groups}`;
}

export const isDepthwiseConv = (x: readonly number[], a: ConvAttrs): boolean =>
  a.groups > 1 && a.groups === x[1] && a.groups === a.channels;

/** A checked integer tuning value for this conv's problem, else `dflt`. */
function tunedInt(ctx: KernelCtx<ConvAttrs>, key: string, dflt: number, ok: (v: number) => boolean): number {
  const v = tunedValue(ctx.opts.tuning, key, convProblem(ctx.inputs[0]!, ctx.attrs)) ?? dflt;
  if (!Number.isInteger(v) || !ok(v)) throw new Error(`bad conv2d tuning: ${key} ${v}`);
  return v;
}

/**
 * `conv2d.large` = C: convs with at least C input channels (or fewer than 4: an image's) and C output channels per
 * group take the large default tiles (1×1 convs: `largeGemmTile`, 32×32 where there is enough work for it;
 * DEFAULT_ROW_TILING for row-vectorised convs; other strided register-blocked convs keep theirs) in place of the
 * global tile keys and the emitters' small defaults; keys for their problem (`…@<problem>`, what the tuner
 * records) still win. On llvmpipe the large tiles run wide layers up to 2× faster (bench/results/order-software.md)
 * but take about twice as long to compile, which narrow layers (tests, small models) never repay.
 */
export const CONV_LARGE = { tm: 32, tn: 32 };
/**
 * The large 1×1 GEMM tiles, largest first: a GEMM takes the first that leaves CONV_LARGE_MIN_WORKGROUPS workgroups
 * of tiles (parallelism first), else the last. 64×32 is not among them: on llvmpipe it takes 1.16–1.22× off the
 * R101 pair's GEMM time but 4–5× as long to compile (22–36 s a kernel cold, against 6–8 s:
 * bench/results/gemm-software.md), minutes on a network's first compile; `--tune full` may pick it (runtime/tune.ts
 * CANDIDATES).
 */
export const CONV_LARGE_TIERS: readonly { readonly tm: number; readonly tn: number }[] = [
  CONV_LARGE,
  { tm: 16, tn: 16 },
];
export const CONV_LARGE_MIN_WORKGROUPS = 4;
/**
 * The large GEMM tile of a problem: `tiles(tm, tn)` counts its tiles, `smallest` is the smallest workgroup the
 * dispatch may have.
 */
export function largeGemmTile(
  tiles: (tm: number, tn: number) => number,
  smallest: number,
): { readonly tm: number; readonly tn: number } {
  return (
    CONV_LARGE_TIERS.find((t) => tiles(t.tm, t.tn) >= CONV_LARGE_MIN_WORKGROUPS * smallest) ??
    CONV_LARGE_TIERS[CONV_LARGE_TIERS.length - 1]!
  );
}
function isLarge(ctx: KernelCtx<ConvAttrs>): boolean {
  const from = ctx.opts.tuning?.[CONV_KEYS.large];
  if (from === undefined) return false;
  const g = ctx.attrs.groups;
  const cinG = ctx.inputs[0]![1]! / g;
  // An image's few channels (the stem's RGB) count as wide: the conv is as heavy per input channel as any, and on
  // llvmpipe the deep stem's 3→64 stride-2 conv ran 1.3× faster with them (bench/results/pool-resize-software.md).
  return (cinG >= from || (g === 1 && cinG < 4)) && ctx.attrs.channels / g >= from;
}
/**
 * `conv2d.interleave` = 1: the register-blocked and row-vectorised kernels interleave their FMAs with the loads (each
 * input channel's loads, then every accumulator's FMA with it) — the order before 2026-11-29, kept to measure the
 * default against: loads first, then each accumulator once with all its terms. On llvmpipe every load is a loop of
 * per-lane branches that ends a basic block, so between two loads spilled accumulators are reloaded and re-stored;
 * grouped per accumulator they are loaded and stored once per step (bench/results/order-software.md).
 */
const interleaved = (ctx: KernelCtx<ConvAttrs>): boolean =>
  tunedInt(ctx, CONV_KEYS.interleave, 0, (v) => v === 0 || v === 1) === 1;

/**
 * `conv2d.gemm_order` = 1: each step of the register-blocked 1×1 GEMM loads its 4 input channels' pixel vec4s, then,
 * one output channel at a time, that channel's weight vec4 and the update of its accumulators; 0 loads every weight
 * of the step with the pixels first. The update of one channel's accumulators then sits between two loads — on
 * llvmpipe a load ends a basic block — so LLVM schedules TM small blocks rather than one of TM·TN/4 updates, in the
 * same compile time (bench/results/gemm-software.md). It takes precedence over `conv2d.interleave`.
 */
const byChannel = (ctx: KernelCtx<ConvAttrs>): boolean =>
  tunedInt(ctx, CONV_KEYS.gemmOrder, 0, (v) => v === 0 || v === 1) === 1;

/**
 * Invocations per workgroup of the register-blocked and row-vectorised kernels, for a dispatch of `tiles` work
 * items: `conv2d.wg` (a power of 2, this problem's own key first) where given; else, with `conv2d.min_workgroups` =
 * N, the workgroup is halved (down to MIN_WG) until the dispatch has at least N workgroups; else WG. On llvmpipe a
 * workgroup is what one thread runs, so a dispatch of fewer workgroups than threads leaves cores idle — the large
 * tiles of narrow maps (layer3 and layer4 of the JPU networks run on 16×16 and 8×8 maps) have only tens of tiles
 * (bench/results/narrow-software.md).
 */
export const MIN_WG = 8;
function wgOf(ctx: KernelCtx<ConvAttrs>, tiles: number): number {
  const pow2 = (v: number) => v >= 1 && v <= 256 && (v & (v - 1)) === 0;
  const key = tunedValue(ctx.opts.tuning, CONV_KEYS.wg, convProblem(ctx.inputs[0]!, ctx.attrs));
  if (key !== undefined) return tunedInt(ctx, CONV_KEYS.wg, WG, pow2);
  const min = tunedInt(ctx, CONV_KEYS.minWorkgroups, 0, (v) => v >= 0);
  let wg = WG;
  while (wg > MIN_WG && Math.ceil(tiles / wg) < min) wg /= 2;
  return wg;
}

/** A tile key's value: this problem's own (`…@<problem>`), else `large` on a large conv, else `dflt`. */
function tileValue(ctx: KernelCtx<ConvAttrs>, key: string, large: number, dflt: number): number {
  const own = ctx.opts.tuning?.[`${key}@${convProblem(ctx.inputs[0]!, ctx.attrs)}`];
  if (own !== undefined) return own;
  return isLarge(ctx) ? large : dflt;
}

/** The register-blocked tiling (`conv2d.tm`, `conv2d.tn` a multiple of 4; `conv2d.large`), else the default. */
function tilingOf(ctx: KernelCtx<ConvAttrs>): ConvTiling {
  const a = ctx.attrs;
  const t = ctx.opts.tuning;
  const dtm = t?.[CONV_KEYS.tm] ?? DEFAULT_TILING.tm;
  const dtn = t?.[CONV_KEYS.tn] ?? 4 * DEFAULT_TILING.vecs;
  // The large tiles are for 1×1 convs (GEMMs, and the strided 1×1 downsampling convs: 1.29–1.42× faster with them
  // and sized workgroups, bench/results/tuning-software.md); other strided convs gather their inputs and ran slower.
  const gemm = a.kernel === 1 && a.padding === 0;
  const [n, , ho, wo] = ctx.out;
  const tilesOf = (tm: number, tn: number) =>
    n! * a.groups * Math.ceil(a.channels / a.groups / tm) * Math.ceil((ho! * wo!) / tn);
  // Enough tiles for CONV_LARGE_MIN_WORKGROUPS workgroups, of the smallest size `conv2d.min_workgroups` may shrink
  // them to.
  const large = largeGemmTile(tilesOf, t?.[CONV_KEYS.minWorkgroups] ? MIN_WG : WG);
  const tm = tileValue(ctx, CONV_KEYS.tm, gemm ? large.tm : dtm, dtm);
  const tn = tileValue(ctx, CONV_KEYS.tn, gemm ? large.tn : dtn, dtn);
  if (!(tm >= 1 && Number.isInteger(tm)) || !(tn >= 4 && tn % 4 === 0))
    throw new Error(`bad conv2d tuning: tm ${tm}, tn ${tn} (tn must be a multiple of 4)`);
  return { tm, vecs: tn / 4 };
}

/** The workgroup tiling asked for by the tuning (`conv2d.wg_*`), else the default; checked against the limits. */
export function wgTilingOf(ctx: KernelCtx<ConvAttrs>): ConvWgTiling {
  const d = DEFAULT_WG_TILING;
  const pos = (v: number) => v >= 1;
  const t: ConvWgTiling = {
    bm: tunedInt(ctx, CONV_KEYS.bm, d.bm, pos),
    bn: tunedInt(ctx, CONV_KEYS.bn, d.bn, pos),
    bk: tunedInt(ctx, CONV_KEYS.bk, d.bk, pos),
    tm: tunedInt(ctx, CONV_KEYS.wtm, d.tm, pos),
    tn: tunedInt(ctx, CONV_KEYS.wtn, d.tn, pos),
    vec: tunedInt(ctx, CONV_KEYS.vec, d.vec, (v) => v === 1 || v === 4) as 1 | 4,
  };
  const why = wgTilingProblem(t, ctx.opts);
  if (why) throw new Error(`bad conv2d tuning: workgroup tiling ${JSON.stringify(t)}: ${why}`);
  return t;
}

/** Why a workgroup tiling cannot run on a device with these limits (undefined: it can). */
export function wgTilingProblem(
  t: ConvWgTiling,
  limits: { maxInvocationsPerWorkgroup: number; maxWorkgroupStorageSize: number },
): string | undefined {
  if (t.tm % 4 || t.tn % 4 || t.bk % 4) return 'tm, tn and bk must be multiples of 4';
  if (t.bm % t.tm || t.bn % t.tn) return 'bm must be a multiple of tm and bn of tn';
  const wg = (t.bm / t.tm) * (t.bn / t.tn);
  if (wg % (t.bn / 4)) return `the ${wg} invocations must be a multiple of bn / 4 (${t.bn / 4})`;
  if (wg > limits.maxInvocationsPerWorkgroup)
    return `${wg} invocations per workgroup, more than the device's ${limits.maxInvocationsPerWorkgroup}`;
  const bytes = (t.bm + t.bn) * t.bk * 4;
  if (bytes > limits.maxWorkgroupStorageSize)
    return `${bytes} bytes of workgroup memory, more than the device's ${limits.maxWorkgroupStorageSize}`;
  return undefined;
}

const shapeText = (s: readonly number[]): string => `[${s.join(', ')}]`;

/**
 * The conv kernel for this problem: depthwise convs get a depthwise kernel (`conv2d_dw.*`), the rest the variant
 * `conv2d.variant` picks. `tiling` forces the register-blocked variant with that blocking (bench/conv.bench.ts).
 */
export function conv2dKernel(ctx: KernelCtx<ConvAttrs>, tiling?: ConvTiling): KernelSpec {
  const x = ctx.inputs[0]!;
  if (isDepthwiseConv(x, ctx.attrs)) {
    const variant = tunedInt(ctx, CONV_KEYS.dwVariant, 0, (v) => v === 0 || v === 1);
    if (variant === 0) return depthwiseKernel(ctx);
    return depthwiseRowsKernel(
      ctx,
      tunedInt(ctx, CONV_KEYS.dwTn, 8, (v) => v >= 4 && v % 4 === 0),
    );
  }
  if (tiling) return implicitGemmKernel(ctx, tiling);
  const variant = tunedInt(ctx, CONV_KEYS.variant, 0, (v) => v === 0 || v === 1 || v === 2);
  if (variant === 1) return tiledGemmKernel(ctx, wgTilingOf(ctx));
  if (variant === 2 && rowKernelApplies(x, ctx.attrs)) return rowKernel(ctx, rowTilingOf(ctx));
  return implicitGemmKernel(ctx, tilingOf(ctx));
}

/**
 * The conv op's kernels: `conv2dKernel`'s one dispatch; or, under `conv2d.winograd` = m (2 or 4) for a 3×3 stride-1
 * conv it applies to (winograd.ts `winogradProblem`; the others keep the direct kernel), Winograd F(m×m, 3×3) in four
 * (`winogradPlan`); or for a strided 1×1 unpadded conv under `conv2d.sub` = 1 (variants 0 and 2) two: the input
 * subsampled into a scratch buffer, then the plain GEMM on it (`subsampledGemm`).
 */
export function conv2dPlan(ctx: KernelCtx<ConvAttrs>): KernelSpec | KernelPlan {
  const a = ctx.attrs;
  const m = winogradTile(ctx);
  if (m && !winogradProblem(ctx.inputs[0]!, a, m, bindingBytes(ctx.opts)))
    return winogradPlan(ctx, m, (g) => conv2dKernel(g));
  if (
    a.kernel === 1 &&
    a.stride > 1 &&
    a.padding === 0 &&
    tunedInt(ctx, CONV_KEYS.variant, 0, (v) => v === 0 || v === 1 || v === 2) !== 1 &&
    tunedInt(ctx, CONV_KEYS.sub, 0, (v) => v === 0 || v === 1) === 1
  )
    return subsampledGemm(ctx);
  return conv2dKernel(ctx);
}

/**
 * The Winograd tile size m asked for (0: the direct kernel): `conv2d.winograd` (this problem's key first, then the
 * global one) where given; else, with `conv2d.winograd_wide` = W, F(4×4) on output maps at least W wide (where it
 * applies; elsewhere the direct kernel). On llvmpipe F(4×4) ran the stem's 3×3 convs on 128² maps 1.26–1.58× faster
 * than the row kernel and lost on 64² ones (0.64×; bench/results/winograd-forward-software.md).
 */
function winogradTile(ctx: KernelCtx<ConvAttrs>): number {
  const ok = (v: number) => v === 0 || WINOGRAD_TILES.includes(v);
  if (tunedValue(ctx.opts.tuning, CONV_KEYS.winograd, convProblem(ctx.inputs[0]!, ctx.attrs)) !== undefined)
    return tunedInt(ctx, CONV_KEYS.winograd, 0, ok);
  const wide = tunedInt(ctx, CONV_KEYS.winogradWide, 0, (v) => v >= 0);
  return wide > 0 && ctx.out[3]! >= wide ? 4 : 0;
}

/**
 * A strided 1×1 unpadded conv (ResNet's downsampling shortcuts) as two dispatches: pass 1 copies every STRIDE-th
 * row and column of the input into a dense scratch buffer [N, C, Ho, Wo] (at stride 2 on rows a multiple of 8, two
 * vec4 loads per 4 outputs); pass 2 is the register-blocked GEMM of a 1×1 stride-1 conv on it, with the tiles,
 * workgroup and per-problem keys of this conv's own problem. The GEMM reads its pixels as vec4s where the strided
 * kernel gathers one column in `stride`: on llvmpipe, bound by load instructions, 1.2–1.35× faster, the copy included
 * (bench/results/subsample-software.md).
 */
function subsampledGemm(ctx: KernelCtx<ConvAttrs>): KernelPlan {
  const [batch, cin, h, w] = ctx.inputs[0]! as number[];
  const [, , ho, wo] = ctx.out as number[];
  const s = ctx.attrs.stride;
  const sub = [batch!, cin!, ho!, wo!];
  const a1 = { ...ctx.attrs, stride: 1 };
  // This conv's per-problem keys, under the problem of the GEMM on the subsampled input.
  const k1 = `@${convProblem(ctx.inputs[0]!, ctx.attrs)}`;
  const k2 = `@${convProblem(sub, a1)}`;
  const t = ctx.opts.tuning ?? {};
  const tuning: Record<string, number> = {};
  for (const [k, v] of Object.entries(t)) if (!k.endsWith(k2)) tuning[k] = v;
  for (const [k, v] of Object.entries(t)) if (k.endsWith(k1)) tuning[k.slice(0, -k1.length) + k2] = v;
  const gctx: KernelCtx<ConvAttrs> = {
    ...ctx,
    inputs: [sub],
    attrs: a1,
    opts: { ...ctx.opts, tuning },
    ...(ctx.views?.output ? { views: { output: ctx.views.output } } : { views: {} }),
  };
  const gemm = implicitGemmKernel(gctx, tilingOf(ctx));
  const pass2: KernelSpec = {
    ...gemm,
    name: (gemm.name ?? 'conv2d_gemm_').replace('conv2d_gemm_', `conv2d_1x1_s${s}_gemm_`),
    wgsl: gemm.wgsl.replace(
      /^\/\/ conv2d 1×1 stride 1 padding 0/m,
      `// pass 2 of conv2d 1×1 stride ${s}: the GEMM on the subsampled input — conv2d 1×1 stride 1 padding 0`,
    ),
    bindings: gemm.bindings.map((b) => (b === 'input0' ? 'scratch0' : b)),
  };

  // Pass 1: 4 outputs of a row per invocation.
  const io = new KernelIo({ ...ctx, epilogue: undefined, views: { inputs: ctx.views?.inputs ?? [] } });
  const quads = Math.ceil(wo! / 4);
  const vecIn = s === 2 && w! % 8 === 0 && io.inVecOk(0);
  const vecOut = wo! % 4 === 0;
  const bufs: Buf[] = [
    { slot: 'input0', name: 'x', elem: vecIn ? 'vec4f' : 'f32' },
    { slot: 'scratch0', name: 'xs', elem: vecOut ? 'vec4f' : 'f32', write: true },
  ];
  const consts = [
    `const C = ${u(cin!)};  const H = ${u(h!)};  const W = ${u(w!)};  const STRIDE = ${u(s)};`,
    `const HO = ${u(ho!)};  const WO = ${u(wo!)};  const QUADS = ${u(quads)}; // 4 outputs of a row each`,
  ].join('\n');
  const L: string[] = [];
  L.push('  let q = gid % QUADS;');
  L.push('  let oy = (gid / QUADS) % HO;');
  L.push('  let c = (gid / (QUADS * HO)) % C;');
  L.push('  let n = gid / (QUADS * HO * C);');
  L.push(`  let row = (${io.plane(0, 'n', 'c')}) * H * W + oy * STRIDE * W; // input row oy·STRIDE`);
  if (vecIn) {
    L.push(
      '  let a = x[row / 4u + 2u * q]; // input columns 8q .. 8q + 7: outputs 4q .. 4q + 3 at .x and .z',
    );
    L.push('  let b = x[row / 4u + 2u * q + 1u];');
    L.push('  let v = vec4f(a.x, a.z, b.x, b.z);');
  } else
    L.push(
      `  let v = vec4f(${range(4)
        .map((j) => `x[row + min(4u * q + ${u(j)}, WO - 1u) * STRIDE]`)
        .join(', ')});`,
    );
  L.push('  let o = ((n * C + c) * HO + oy) * WO + 4u * q;');
  if (vecOut) L.push('  xs[o / 4u] = v;');
  else for (const j of range(4)) L.push(`  if (4u * q + ${u(j)} < WO) { xs[o + ${u(j)}] = v.${lanes[j]}; }`);
  const pass1 = kernelSpec(
    `conv2d_subsample_s${s}_c${cin}`,
    `pass 1 of conv2d 1×1 stride ${s}: every ${s}th row and column of x ${shapeText(ctx.inputs[0]!)} → [${sub.join(', ')}] (scratch)${vecIn ? ', two vec4 loads per 4 outputs' : ''}`,
    bufs,
    consts,
    linearMain(batch! * cin! * ho! * quads, WG, ctx.opts),
    L.join('\n'),
    WG,
    {},
    '', // reads through `plane` only, stores to the scratch buffer
  );
  return { scratch: [batch! * cin! * ho! * wo!], dispatches: [pass1, pass2] };
}

/**
 * Variant 2's tiling: `conv2d.row_tm` output channels × `conv2d.row_tn` pixels of a row (a multiple of 4). Without
 * keys: 32 pixels, and 12 channels — or 4 where output rows are at most 16 wide (a tile then covers a whole row,
 * mostly masked lanes, and fewer channels per invocation mean more invocations). Large convs (`conv2d.large`) take
 * DEFAULT_ROW_TILING by output row width instead: the first entry whose `maxWidth` the rows fit
 * (bench/results/order-software.md: on llvmpipe 32×32 ran the wide 3×3 convs of ResNet and the JPU at 50–60
 * GFLOP/s against 35–45 for 12×32).
 */
export const SMALL_ROW_TILING = { tm: 12, tmNarrow: 4, narrow: 16, tn: 32 };
/** Large row tiles by output row width: the first entry whose width bound (and stride, if it names one) fits. */
type RowTilingTable = readonly {
  maxWidth: number;
  stride?: number;
  tm: number;
  tn: number;
  rows?: number;
  reuse?: 0 | 1;
}[];
/**
 * Rows wider than 64 (the deep stem's 128×128 maps at a 256² input; layer1's too at 512²) take 32 channels × 32
 * pixels × 2 rows: 1.1–1.2× faster than 16 × 32 there (bench/results/pool-resize-software.md), but about 25 s to
 * compile each kernel against a few seconds (once per machine with Mesa's shader cache), so narrower rows, where
 * it gains less or loses (0.9× on layer1's 64² maps), keep 16 × 32. Stride-1 convs on rows ≤ 16 wide (layer3 and
 * layer4 of the JPU networks, the JPU's own convs) take 8 channels with every kernel row of a step unrolled
 * (`conv2d.row_reuse`): 1.04–1.18× faster than 16 channels a loop step there; reuse slowed every wider tile and
 * every strided one (bench/results/reuse-software.md).
 */
export const DEFAULT_ROW_TILING: RowTilingTable = [
  { maxWidth: 8, stride: 1, tm: 8, tn: 8, rows: 8, reuse: 1 },
  { maxWidth: 16, stride: 1, tm: 8, tn: 16, rows: 4, reuse: 1 },
  { maxWidth: 8, tm: 16, tn: 8, rows: 8 },
  { maxWidth: 16, tm: 16, tn: 16, rows: 4 },
  { maxWidth: 64, tm: 16, tn: 32, rows: 2 },
  { maxWidth: Infinity, tm: 32, tn: 32, rows: 2 },
];
/**
 * The input gradient's row kernel (conv_grad.ts, stride 1 only): 16 × 32 × 2 rows on every wide map (32 × 32 not
 * measured there); on rows ≤ 16 wide, as the forward's, 8 channels with the kernel rows of a step unrolled: 1.14× less
 * time than 16 channels a loop step over enc_jpu_r101's training step (bench/results/reuse-grad-software.md).
 */
export const GRAD_ROW_TILING: RowTilingTable = [
  { maxWidth: 8, tm: 8, tn: 8, rows: 8, reuse: 1 },
  { maxWidth: 16, tm: 8, tn: 16, rows: 4, reuse: 1 },
  { maxWidth: Infinity, tm: 16, tn: 32, rows: 2 },
];
export function rowTilingOf(
  ctx: KernelCtx<ConvAttrs>,
  table: RowTilingTable = DEFAULT_ROW_TILING,
): ConvTiling {
  const wo = ctx.out[3]!;
  const large = table.find(
    (e) => wo <= e.maxWidth && (e.stride === undefined || e.stride === ctx.attrs.stride),
  )!;
  const small = SMALL_ROW_TILING;
  const t = ctx.opts.tuning;
  const tm = tileValue(
    ctx,
    CONV_KEYS.rtm,
    large.tm,
    t?.[CONV_KEYS.rtm] ?? (wo <= small.narrow ? small.tmNarrow : small.tm),
  );
  const tn = tileValue(ctx, CONV_KEYS.rtn, large.tn, t?.[CONV_KEYS.rtn] ?? small.tn);
  const rows = tileValue(ctx, CONV_KEYS.rrows, large.rows ?? 1, t?.[CONV_KEYS.rrows] ?? 1);
  const reuse = tileValue(ctx, CONV_KEYS.rreuse, large.reuse ?? 0, t?.[CONV_KEYS.rreuse] ?? 0);
  if (
    !(tm >= 1 && Number.isInteger(tm)) ||
    !(tn >= 4 && tn % 4 === 0) ||
    !(rows >= 1 && Number.isInteger(rows)) ||
    !(reuse === 0 || reuse === 1)
  )
    throw new Error(
      `bad conv2d tuning: row_tm ${tm}, row_tn ${tn}, row_rows ${rows}, row_reuse ${reuse} (row_tn must be a multiple of 4, row_rows ≥ 1, row_reuse 0 or 1)`,
    );
  return { tm, vecs: tn / 4, rows, reuse: reuse === 1 };
}

/**
 * Whether the row-vectorised variant (2) can run this conv: stride 1 or 2, a kernel wider than 1, input rows a multiple
 * of 4 floats (so every row starts on a vec4). Input channels per group a multiple of 4 step 4 channels at a time
 * with vec4 weights; others (a stem's 3) one at a time with scalar weights. Elsewhere variant 2 falls back to the
 * register-blocked variant 0 (its own keys `conv2d.tm`, `conv2d.tn`).
 */
export function rowKernelApplies(x: readonly number[], a: ConvAttrs): boolean {
  // 1×1 convs are GEMMs (stride 1) or read one column in two (stride 2: subsampled first, `conv2dPlan`).
  return (a.stride === 1 || a.stride === 2) && a.kernel > 1 && x[3]! % 4 === 0;
}

/**
 * Variant 2: the register-blocked implicit GEMM with the input read as vec4 rows. Each invocation computes TM
 * output channels × TN adjacent output pixels of one output row. For each input channel and kernel row it loads
 * the input row segment all KSIZE taps of its TN pixels read — TN + (KSIZE−1)·d floats, as the NV aligned vec4s
 * that cover them — once, and every tap takes its pixels from those registers (the offsets are constants, so it
 * costs no loads). Per 4 input channels and kernel row: 4·NV vec4 input loads and TM·KSIZE vec4 weight loads,
 * against TN·KSIZE scalar gathers per channel for variant 0 — on llvmpipe, where the count of load instructions
 * bounds a conv (bench/results/loads-software.md), that is what pays. Columns outside the input (the padding)
 * are whole vec4s, since rows are a multiple of 4: their loads are masked to zero.
 *
 * `transposed`: the conv is the input gradient of a stride-1 conv (groups 1) whose OHWI weight W[o][u][v][c] the
 * weight binding holds — dX = conv(dy, w') with w'[c][o][u][v] = W[o][k−1−u][k−1−v][c] and padding (k−1)·d − p
 * (compiler/codegen/wgsl/conv_grad.ts). A vec4 of W runs along c, this conv's output channels: per input channel
 * (o) and tap it holds 4 output channels' weights, so a step loads TM/4 vec4s per input-channel lane and tap — TM
 * per tap for 4 input channels, as many as the forward kernel — and TM is rounded up to a multiple of 4.
 */
export function rowKernel(ctx: KernelCtx<ConvAttrs>, tiling: ConvTiling, transposed = false): KernelSpec {
  const [batch, cin, h, w] = ctx.inputs[0]! as number[];
  const [, cout, ho, wo] = ctx.out as number[];
  const { kernel: k, stride: s, padding: p, dilation: d, groups: g, bias } = ctx.attrs;
  const cinG = cin! / g;
  const coutG = cout! / g;
  if (transposed && (g !== 1 || s !== 1 || coutG % 4 !== 0 || cinG % 4 !== 0))
    throw new Error('internal: a transposed row kernel needs groups 1, stride 1 and channels in fours');
  // Input channels per step: 4 (vec4 weights along them) where they divide, else 1 (scalar weights).
  const cl = cinG % 4 === 0 ? 4 : 1;
  const coTiles = Math.ceil(coutG / tiling.tm);
  const tm = transposed ? Math.ceil(coutG / coTiles / 4) * 4 : Math.ceil(coutG / coTiles);
  const tn = 4 * tiling.vecs;
  const nq = tiling.vecs; // output vec4s per invocation and row
  const rr = tiling.rows ?? 1; // output rows per invocation
  const reuse = tiling.reuse ?? false; // every kernel row of a step unrolled (`emitReuseSteps`)
  const rowTiles = Math.ceil(wo! / tn);
  const rowGroups = Math.ceil(ho! / rr);
  const r = ((-p % 4) + 4) % 4; // offset of the first needed column in its vec4 (ox0·STRIDE is a multiple of 4)
  const nv = Math.ceil((r + s * (tn - 1) + (k - 1) * d + 1) / 4); // vec4s of the input row segment
  const io = new KernelIo(ctx);
  const vecY = wo! % 4 === 0 && io.outVecOk;
  const bufs: Buf[] = [
    { slot: 'input0', name: 'x', elem: 'vec4f' },
    { slot: 'param0', name: 'wt', elem: cl === 4 ? 'vec4f' : 'f32' },
    ...(bias ? [{ slot: 'param1', name: 'bias', elem: 'f32' } as const] : []),
    ...io.outBufs(vecY),
  ];
  const consts = [
    `const CIN = ${u(cin!)};  const H = ${u(h!)};  const W = ${u(w!)};  const PLANE = H * W;`,
    `const COUT = ${u(cout!)};  const HO = ${u(ho!)};  const WO = ${u(wo!)};  const PIXELS = HO * WO;`,
    `const KSIZE = ${u(k)};  const STRIDE = ${i(s)};  const PAD = ${i(p)};  const DILATION = ${i(d)};`,
    `const GROUPS = ${u(g)};  const CIN_G = ${u(cinG)};  const COUT_G = ${u(coutG)};`,
    `const TM = ${u(tm)}; // output channels per invocation`,
    `const TN = ${u(tn)}; // adjacent output pixels of one row per invocation`,
    `const CO_TILES = ${u(coTiles)}; // per group`,
    `const ROW_TILES = ${u(rowTiles)}; // per output row`,
    ...(rr > 1
      ? [
          `const RR = ${u(rr)}; // adjacent output rows per invocation`,
          `const ROW_GROUPS = ${u(rowGroups)}; // of RR rows, per output plane`,
        ]
      : []),
    `const NV = ${u(nv)}; // vec4s of input row segment per tap row (first needed column at lane ${r})`,
    transposed
      ? `const CQ = COUT_G / 4u; // vec4s of W per (input channel, tap): W is the forward conv's OHWI weight [CIN][KSIZE][KSIZE][COUT]`
      : cl === 4
        ? `const WROW = KSIZE * KSIZE * CIN_G / 4u; // weight vec4s per output channel (OHWI)`
        : `const WROW = KSIZE * KSIZE * CIN_G; // weight floats per output channel (OHWI): channels one at a time`,
  ].join('\n');

  const L: string[] = [];
  // Rows of the plane in groups of RR (one row: the row itself, as the single-row kernel always named it).
  const [rows, what, rowOf] =
    rr === 1
      ? ['HO', 'output row', 'let oy = (gid / ROW_TILES) % HO;']
      : ['ROW_GROUPS', 'group of RR output rows', 'let oy0 = ((gid / ROW_TILES) % ROW_GROUPS) * RR;'];
  L.push(`  // Work item → (sample, group, output-channel tile, ${what}, row tile); row tiles vary fastest.`);
  L.push('  let rt = gid % ROW_TILES;');
  L.push(`  ${rowOf}`);
  L.push(`  let ct = (gid / (ROW_TILES * ${rows})) % CO_TILES;`);
  L.push(`  let grp = (gid / (ROW_TILES * ${rows} * CO_TILES)) % GROUPS;`);
  L.push(`  let n = gid / (ROW_TILES * ${rows} * CO_TILES * GROUPS);`);
  L.push('  let co0 = ct * TM;');
  L.push('  let ox0 = rt * TN;');
  L.push(`  let xbase = (${io.plane(0, 'n', 'grp * CIN_G')}) * PLANE;`);
  if (!transposed)
    for (const m of range(tm))
      L.push(`  let w${m} = (grp * COUT_G + min(co0 + ${u(m)}, COUT_G - 1u)) * WROW;`);
  else
    for (const mq of range(tm / 4))
      L.push(
        `  let wq${mq} = min(co0 / 4u + ${u(mq)}, CQ - 1u); // output channels co0+${4 * mq}.. (tails re-read)`,
      );
  L.push(
    `  // Input columns of the row segment: c0 + 4v .. c0 + 4v + 3 (c0 = ox0·STRIDE − PAD − ${r}, a multiple of 4).`,
  );
  L.push(`  let c0 = i32(ox0) * STRIDE - PAD - ${i(r)};`);
  for (const v of range(nv)) {
    L.push(`  let cin${v} = c0 + ${i(4 * v)} >= 0i && c0 + ${i(4 * v)} < i32(W);`);
    L.push(`  let col${v} = u32(select(0i, c0 + ${i(4 * v)}, cin${v})) / 4u;`);
  }
  for (const m of range(tm))
    L.push(
      rr === 1
        ? `  var acc${m}: array<vec4f, ${nq}>; // channel co0+${m}, pixels ox0 + 4q .. ox0 + 4q + 3`
        : `  var acc${m}: array<vec4f, ${rr * nq}>; // channel co0+${m}; [t·${nq} + q]: row oy0 + t, pixels ox0 + 4q .. ox0 + 4q + 3`,
    );
  /**
   * The 4 inputs that output pixels 4q .. 4q + 3 read from element e0 on of a row segment whose vec4s are `xr(v)`:
   * one whole vec4 where they are one (stride 1, e0 on a vec4), else its lanes STRIDE apart.
   */
  const segOf = (xr: (v: number) => string, e0: number): string =>
    s === 1 && e0 % 4 === 0
      ? xr(e0 >> 2)
      : `vec4f(${range(4)
          .map((j) => `${xr((e0 + s * j) >> 2)}.${lanes[(e0 + s * j) & 3]}`)
          .join(', ')})`;
  if (reuse) emitReuseSteps();
  else emitLoopSteps();

  /**
   * One loop step per kernel row (ky) and 4 input channels (1 without vec4 weights): the input row segments each
   * output row of the tile reads at that kernel row, then each accumulator once with its KSIZE·4 terms (or the FMAs
   * interleaved with the loads, `interleaved`).
   */
  function emitLoopSteps(): void {
    L.push('  for (var ky = 0u; ky < KSIZE; ky++) {');
    // Input row of each output row of the tile at this kernel row; rows past the plane's end (tail rows) and in the
    // zero padding read row 0, masked.
    for (const t of range(rr)) {
      const o = rr > 1 ? `${t}` : '';
      L.push(`    let iy${o} = i32(${rr > 1 ? `oy0 + ${u(t)}` : 'oy'}) * STRIDE - PAD + i32(ky) * DILATION;`);
      L.push(`    let rin${o} = iy${o} >= 0i && iy${o} < i32(H)${rr > 1 ? ` && oy0 + ${u(t)} < HO` : ''};`);
      L.push(`    let roff${o} = u32(select(0i, iy${o}, rin${o})) * W / 4u;`);
      for (const v of range(nv))
        L.push(`    let mk${o}${rr > 1 ? '_' : ''}${v} = select(0.0, 1.0, rin${o} && cin${v});`);
    }
    if (transposed) {
      L.push('    let tapf = (KSIZE - 1u - ky) * KSIZE; // the flipped kernel row');
      L.push('    for (var c4 = 0u; c4 < CIN_G / 4u; c4++) {');
      for (const l of range(4))
        for (const kx of range(k))
          for (const mq of range(tm / 4))
            L.push(
              `      let wv${mq}_${kx}_${l} = wt[((c4 * 4u + ${u(l)}) * KSIZE * KSIZE + tapf + ${u(k - 1 - kx)}) * CQ + wq${mq}];`,
            );
    } else {
      const q = cl === 4 ? ' / 4u' : '';
      L.push(`    let tap0 = ky * KSIZE * (CIN_G${q});`);
      L.push(
        `    for (var c4 = 0u; c4 < CIN_G${q}; c4++) {${cl === 4 ? '' : ' // one input channel a step'}`,
      );
      for (const kx of range(k))
        for (const m of range(tm))
          L.push(`      let wv${m}_${kx} = wt[w${m} + tap0 + ${u(kx)} * (CIN_G${q}) + c4];`);
    }
    /** The weight of output channel m, input-channel lane l, tap column kx. */
    const wOf = (m: number, l: number, kx: number): string =>
      transposed
        ? `wv${m >> 2}_${kx}_${l}.${lanes[m & 3]}`
        : cl === 4
          ? `wv${m}_${kx}.${lanes[l]}`
          : `wv${m}_${kx}`;
    // Row t's names carry a `t` prefix when the tile has several rows (one row: the names of the single-row kernel).
    const tp = (t: number): string => (rr > 1 ? `${t}_` : '');
    // Elements e, e + STRIDE, … of row t's segment of input channel lane l: what 4 output pixels read.
    const seg = (t: number, l: number, e: number): string => segOf((v) => `xr${tp(t)}${l}_${v}`, e);
    // The step's row segments first, then each accumulator once with all its terms (see `interleaved`).
    for (const l of range(cl)) {
      const ch = cl === 4 ? `c4 * 4u + ${u(l)}` : 'c4';
      if (rr === 1) L.push(`      let xb${l} = (xbase + (${ch}) * PLANE) / 4u + roff;`);
      else L.push(`      let xb${l} = (xbase + (${ch}) * PLANE) / 4u;`);
      for (const t of range(rr))
        for (const v of range(nv))
          L.push(
            rr === 1
              ? `      let xr${l}_${v} = x[xb${l} + col${v}] * mk${v};`
              : `      let xr${t}_${l}_${v} = x[xb${l} + roff${t} + col${v}] * mk${t}_${v};`,
          );
      if (interleaved(ctx))
        for (const t of range(rr))
          for (const kx of range(k))
            for (const q of range(nq)) {
              const name = `s${tp(t)}${l}_${kx}_${q}`;
              L.push(`      let ${name} = ${seg(t, l, r + s * 4 * q + kx * d)};`);
              for (const m of range(tm))
                L.push(`      acc${m}[${t * nq + q}] += ${wOf(m, l, kx)} * ${name};`);
            }
    }
    if (!interleaved(ctx)) {
      for (const t of range(rr))
        for (const l of range(cl))
          for (const kx of range(k))
            for (const q of range(nq))
              L.push(`      let s${tp(t)}${l}_${kx}_${q} = ${seg(t, l, r + s * 4 * q + kx * d)};`);
      accumulate(L, '      ', tm, rr * nq, (m, tq) => {
        const t = Math.floor(tq / nq);
        const q = tq % nq;
        return range(cl).flatMap((l) => range(k).map((kx) => `${wOf(m, l, kx)} * s${tp(t)}${l}_${kx}_${q}`));
      });
    }
    L.push('    }');
    L.push('  }');
  }
  /**
   * `reuse`: one step per 4 input channels (1 without vec4 weights) with every kernel row unrolled. The tile's RR
   * output rows read input rows t·STRIDE + ky·DILATION (from the first one's top tap row) over the KSIZE kernel
   * rows: at dilation 1 and stride 1 only RR + KSIZE − 1 distinct rows, not RR·KSIZE. Each distinct row segment is
   * loaded once per step and every (output row, kernel row) pair that reads it takes its taps from registers; each
   * accumulator is then updated once per step with all its KSIZE²·4 terms. Rows outside the input are masked to
   * zero; tail output rows (past HO) compute on whatever rows they read and store nothing.
   */
  function emitReuseSteps(): void {
    const rowsRead = [...new Set(range(rr).flatMap((t) => range(k).map((ky) => t * s + ky * d)))].sort(
      (a, b) => a - b,
    );
    const oyFirst = rr === 1 ? 'oy' : 'oy0';
    L.push(
      `  // The ${rowsRead.length} distinct input rows the tile's ${rr} output row(s) read over the ${k} kernel rows (of ${rr * k}): row e is ${oyFirst}·STRIDE − PAD + e.`,
    );
    for (const e of rowsRead) {
      L.push(`  let iy_${e} = i32(${oyFirst}) * STRIDE - PAD + ${i(e)};`);
      L.push(`  let rin_${e} = iy_${e} >= 0i && iy_${e} < i32(H);`);
      L.push(`  let roff_${e} = u32(select(0i, iy_${e}, rin_${e})) * W / 4u;`);
      for (const v of range(nv)) L.push(`  let mk_${e}_${v} = select(0.0, 1.0, rin_${e} && cin${v});`);
    }
    const q4 = cl === 4 ? ' / 4u' : '';
    if (transposed) {
      L.push('  for (var c4 = 0u; c4 < CIN_G / 4u; c4++) {');
      for (const l of range(4))
        for (const ky of range(k))
          for (const kx of range(k))
            for (const mq of range(tm / 4))
              L.push(
                `    let wv${mq}_${ky}_${kx}_${l} = wt[((c4 * 4u + ${u(l)}) * KSIZE * KSIZE + ${u((k - 1 - ky) * k + (k - 1 - kx))}) * CQ + wq${mq}]; // the kernel flipped`,
              );
    } else {
      L.push(`  for (var c4 = 0u; c4 < CIN_G${q4}; c4++) {${cl === 4 ? '' : ' // one input channel a step'}`);
      for (const ky of range(k))
        for (const kx of range(k))
          for (const m of range(tm))
            L.push(`    let wv${m}_${ky}_${kx} = wt[w${m} + ${u(ky * k + kx)} * (CIN_G${q4}) + c4];`);
    }
    const wAt = (m: number, l: number, ky: number, kx: number): string =>
      transposed
        ? `wv${m >> 2}_${ky}_${kx}_${l}.${lanes[m & 3]}`
        : cl === 4
          ? `wv${m}_${ky}_${kx}.${lanes[l]}`
          : `wv${m}_${ky}_${kx}`;
    for (const l of range(cl)) {
      const ch = cl === 4 ? `c4 * 4u + ${u(l)}` : 'c4';
      L.push(`    let xb${l} = (xbase + (${ch}) * PLANE) / 4u;`);
      for (const e of rowsRead)
        for (const v of range(nv))
          L.push(`    let xr${e}_${l}_${v} = x[xb${l} + roff_${e} + col${v}] * mk_${e}_${v};`);
    }
    // The 4 inputs of output pixels 4q .. 4q + 3 at tap column kx, from row e's segment of channel lane l.
    const segName = (e: number, l: number, kx: number, q: number): string => `s${e}_${l}_${kx}_${q}`;
    const segs = new Set<string>();
    for (const t of range(rr))
      for (const ky of range(k))
        for (const l of range(cl))
          for (const kx of range(k))
            for (const q of range(nq)) {
              const e = t * s + ky * d;
              const name = segName(e, l, kx, q);
              if (segs.has(name)) continue;
              segs.add(name);
              L.push(`    let ${name} = ${segOf((v) => `xr${e}_${l}_${v}`, r + s * 4 * q + kx * d)};`);
            }
    accumulate(L, '    ', tm, rr * nq, (m, tq) => {
      const t = Math.floor(tq / nq);
      const q = tq % nq;
      return range(k).flatMap((ky) =>
        range(cl).flatMap((l) =>
          range(k).map((kx) => `${wAt(m, l, ky, kx)} * ${segName(t * s + ky * d, l, kx, q)}`),
        ),
      );
    });
    L.push('  }');
  }
  L.push('  // Store the tile (bias added), skipping tail channels and pixels past the row.');
  if (rr === 1) storeTile(L, io, { tm, tn, vec: vecY, bias }, 'oy * WO + ox0', (j) => `ox0 + ${u(j)} < WO`);
  else
    for (const t of range(rr)) {
      L.push(`  if (oy0 + ${u(t)} < HO) {`);
      storeTile(
        L,
        io,
        { tm, tn, vec: vecY, bias, acc: t * nq },
        `(oy0 + ${u(t)}) * WO + ox0`,
        (j) => `ox0 + ${u(j)} < WO`,
      );
      L.push('  }');
    }
  const items = batch! * g * coTiles * rowGroups * rowTiles;
  const kind = `${k}x${k}${s > 1 ? `_s${s}` : ''}${d > 1 ? `_d${d}` : ''}${g > 1 ? `_g${g}` : ''}_rows`;
  return kernelSpec(
    transposed ? `conv2d_grad_input_${kind}_c${cout}` : `conv2d_${kind}_k${cout}`,
    [
      transposed
        ? `conv2d_grad_input as the conv of dy with the forward weight transposed and flipped: ${k}×${k} padding ${p} dilation ${d}: dy ${shapeText(ctx.inputs[0]!)} → dx ${shapeText(ctx.out)}`
        : `conv2d ${k}×${k} stride ${s} padding ${p} dilation ${d} groups ${g}${bias ? ' bias' : ''}: x ${shapeText(ctx.inputs[0]!)} → y ${shapeText(ctx.out)}`,
      `implicit GEMM over vec4 input rows; each invocation: ${tm} output channels × ${tn} pixels of ${rr === 1 ? 'one row' : `${rr} rows`} (${nv} vec4 input loads per channel${reuse ? ', distinct input row and step, the kernel rows unrolled' : rr === 1 ? ' and kernel row' : ', kernel row and output row'})`,
      transposed
        ? 'weights: the forward OHWI weight, read as vec4s along its input channels'
        : 'weights are OHWI (converted from OIHW at load)',
    ].join('\n'),
    bufs,
    consts,
    linearMain(items, wgOf(ctx, items), ctx.opts),
    L.join('\n'),
    wgOf(ctx, items),
    { paramLayouts: { 0: [0, 2, 3, 1] } },
    io.helpers(),
  );
}

const range = (n: number): number[] => Array.from({ length: n }, (_, k) => k);
const lanes = ['x', 'y', 'z', 'w'];

/**
 * Every accumulator of a register tile updated once with all its terms of a step (`acc<m>[<q>] += t0 + t1 + …`): the
 * order the kernels use after their loads (see `interleaved`).
 */
function accumulate(
  L: string[],
  ind: string,
  tm: number,
  nq: number,
  terms: (m: number, q: number) => string[],
): void {
  for (const m of range(tm))
    for (const q of range(nq)) L.push(`${ind}acc${m}[${q}] += ${terms(m, q).join(' + ')};`);
}

/**
 * The store of a register tile (`acc<m>[q]`: output channel co0+m, pixels first+4q .. first+4q+3 of its plane) of
 * the register-blocked kernels, with the bias added: tail channels are skipped, and each pixel j of the tile (each
 * vec4 when `vec`, j = 4q) only where `inRange(j)` holds. `first` (a multiple of 4 when `vec`) is the tile's first
 * pixel within the output plane.
 */
function storeTile(
  L: string[],
  io: KernelIo,
  t: { tm: number; tn: number; vec: boolean; bias: boolean; acc?: number },
  first: string,
  inRange: (j: number) => string,
): void {
  const b = t.bias ? ' + bias[co]' : '';
  const a0 = t.acc ?? 0; // the tile's first vec4 in each accumulator array
  for (const m of range(t.tm)) {
    L.push(`  if (co0 + ${u(m)} < COUT_G) {`);
    L.push(`    let co = grp * COUT_G + co0 + ${u(m)};`);
    L.push(`    let ybase = (n * COUT + co) * PIXELS + ${first};`);
    if (t.vec)
      for (const q of range(t.tn / 4))
        L.push(
          `    if (${inRange(4 * q)}) { ${io.store4(`ybase / 4u + ${u(q)}`, `acc${m}[${a0 + q}]${b}`)} }`,
        );
    else
      for (const j of range(t.tn))
        L.push(
          `    if (${inRange(j)}) { ${io.store(`ybase + ${u(j)}`, `acc${m}[${a0 + (j >> 2)}].${lanes[j & 3]}${b}`)} }`,
        );
    L.push('  }');
  }
}

/**
 * The order of the register-blocked kernel's work items (`conv2d.cb`, a power of 2 dividing the workgroup size):
 * a workgroup computes a block of CB output-channel tiles × WG/CB pixel tiles, channel tiles varying fastest within
 * it, and consecutive workgroups take consecutive channel blocks of the same pixel block. A block's input pixels
 * and weight rows are then read by many lanes while they are in cache; with pixel tiles fastest over the whole
 * plane (CB = 1 would be close to that), every channel tile streams the whole input again — on llvmpipe the large
 * 1×1 convs of the JPU ran 2× slower that way (bench/results/order-software.md). Tails (channel or pixel tiles past
 * the end of a block) run on clamped loads and store nothing.
 */
export const DEFAULT_CHANNEL_BLOCK = 8;
/** The register-blocked kernel's workgroup size: `wgOf` over all its tiles. */
const blockWg = (ctx: KernelCtx<ConvAttrs>, coTiles: number, pixTiles: number): number =>
  wgOf(ctx, ctx.out[0]! * ctx.attrs.groups * coTiles * pixTiles);
function blockOf(ctx: KernelCtx<ConvAttrs>, coTiles: number, pixTiles: number): number {
  const asked = tunedValue(ctx.opts.tuning, CONV_KEYS.cb, convProblem(ctx.inputs[0]!, ctx.attrs));
  if (asked !== undefined) {
    // 0: pixel tiles fastest over the whole plane (the order before blocks; kept to measure against).
    // Else as asked, but no wider than the power of two that covers the channel tiles there are.
    const wg = blockWg(ctx, coTiles, pixTiles);
    const cb = tunedInt(ctx, CONV_KEYS.cb, 1, (v) => v === 0 || (v >= 1 && wg % v === 0));
    if (cb === 0) return 0;
    let cover = 1;
    while (cover < coTiles && cover < wg) cover *= 2;
    return Math.min(cb, cover);
  }
  // Without a key: the block shape that pads the grid least (small problems have few tiles of one kind),
  // the one nearest DEFAULT_CHANNEL_BLOCK among equals.
  const wg = blockWg(ctx, coTiles, pixTiles);
  const padded = (cb: number) => Math.ceil(coTiles / cb) * cb * Math.ceil(pixTiles / (wg / cb)) * (wg / cb);
  const far = (cb: number) => Math.abs(Math.log2(cb / DEFAULT_CHANNEL_BLOCK));
  let best = Math.min(DEFAULT_CHANNEL_BLOCK, wg);
  for (let cb = 1; cb <= wg; cb *= 2)
    if (padded(cb) < padded(best) || (padded(cb) === padded(best) && far(cb) < far(best))) best = cb;
  return best;
}
function blockConsts(ctx: KernelCtx<ConvAttrs>, coTiles: number, pixTiles: number): string[] {
  const cb = blockOf(ctx, coTiles, pixTiles);
  if (cb === 0) return [];
  const pb = blockWg(ctx, coTiles, pixTiles) / cb;
  return [
    `const CB = ${u(cb)}; // output-channel tiles per workgroup block`,
    `const PB = ${u(pb)}; // pixel tiles per workgroup block`,
    `const NCB = ${u(Math.ceil(coTiles / cb))}; // channel blocks per group`,
    `const NPB = ${u(Math.ceil(pixTiles / pb))}; // pixel blocks per sample`,
  ];
}
function blockOrder(
  ctx: KernelCtx<ConvAttrs>,
  coTiles: number,
  pixTiles: number,
): { lines: string[]; itemsPerGroup: number } {
  const cb = blockOf(ctx, coTiles, pixTiles);
  if (cb === 0)
    return {
      lines: [
        '  // Work item → (sample, group, output-channel tile, pixel tile); pixel tiles vary fastest.',
        '  let pt = gid % PIX_TILES;',
        '  let ct = (gid / PIX_TILES) % CO_TILES;',
        '  let grp = (gid / (PIX_TILES * CO_TILES)) % GROUPS;',
        '  let n = gid / (PIX_TILES * CO_TILES * GROUPS);',
      ],
      itemsPerGroup: coTiles * pixTiles,
    };
  const pb = blockWg(ctx, coTiles, pixTiles) / cb;
  return {
    lines: [
      '  // Work item → (sample, group, pixel block, channel block, lane): a workgroup is one block of CB channel',
      '  // tiles × PB pixel tiles, channel tiles fastest; consecutive workgroups take consecutive channel blocks.',
      '  let lane = gid % WORKGROUP;',
      '  let blk = gid / WORKGROUP;',
      '  let ct = (blk % NCB) * CB + lane % CB;',
      '  let pt = ((blk / NCB) % NPB) * PB + lane / CB;',
      '  let grp = (blk / (NCB * NPB)) % GROUPS;',
      '  let n = blk / (NCB * NPB * GROUPS);',
    ],
    itemsPerGroup: Math.ceil(coTiles / cb) * cb * Math.ceil(pixTiles / pb) * pb,
  };
}

function implicitGemmKernel(ctx: KernelCtx<ConvAttrs>, tiling: ConvTiling): KernelSpec {
  const [batch, cin, h, w] = ctx.inputs[0]! as number[];
  const [, cout, ho, wo] = ctx.out as number[];
  const { kernel: k, stride: s, padding: p, dilation: d, groups: g, bias } = ctx.attrs;
  const cinG = cin! / g;
  const coutG = cout! / g;
  const pixels = ho! * wo!;
  const plane = h! * w!;
  // Balanced output-channel tiles: 12 channels → 2 tiles of 6 rather than 8 + 4.
  const coTiles = Math.ceil(coutG / tiling.tm);
  const tm = Math.ceil(coutG / coTiles);
  const nv = tiling.vecs;
  const tn = 4 * nv;
  const pixTiles = Math.ceil(pixels / tn);
  const gemm = k === 1 && s === 1 && p === 0; // then input pixel = output pixel
  const vecW = cinG % 4 === 0;
  const vecX = gemm && plane % 4 === 0;
  const padded = p > 0;

  const io = new KernelIo(ctx);
  // vec4 stores of 4 adjacent pixels when a channel's plane is a multiple of 4 (each group of 4 is then either all
  // inside the plane or all past its end); fewer store instructions, and vec4 reads of a fused residual.
  const vecY = pixels % 4 === 0 && io.outVecOk;
  const bufs: Buf[] = [
    { slot: 'input0', name: 'x', elem: vecX ? 'vec4f' : 'f32' },
    { slot: 'param0', name: 'wt', elem: vecW ? 'vec4f' : 'f32' },
    ...(bias ? [{ slot: 'param1', name: 'bias', elem: 'f32' } as const] : []),
    ...io.outBufs(vecY),
  ];
  const consts = [
    `const CIN = ${u(cin!)};  const H = ${u(h!)};  const W = ${u(w!)};  const PLANE = H * W;`,
    `const COUT = ${u(cout!)};  const HO = ${u(ho!)};  const WO = ${u(wo!)};  const PIXELS = HO * WO;`,
    `const KSIZE = ${u(k)};  const STRIDE = ${i(s)};  const PAD = ${i(p)};  const DILATION = ${i(d)};`,
    `const GROUPS = ${u(g)};  const CIN_G = ${u(cinG)};  const COUT_G = ${u(coutG)};`,
    `const TM = ${u(tm)}; // output channels per invocation`,
    `const TN = ${u(tn)}; // output pixels per invocation`,
    `const CO_TILES = ${u(coTiles)}; // per group`,
    `const PIX_TILES = ${u(pixTiles)}; // per sample`,
    `const WROW = KSIZE * KSIZE * CIN_G${vecW ? ' / 4u' : ''}; // weight ${vecW ? 'vec4s' : 'floats'} per output channel (OHWI)`,
    ...blockConsts(ctx, coTiles, pixTiles),
  ].join('\n');

  const L: string[] = [];
  const blk = blockOrder(ctx, coTiles, pixTiles);
  L.push(...blk.lines);
  L.push('  let co0 = ct * TM; // first output channel of the tile, within the group');
  L.push('  let p0 = pt * TN; // first output pixel of the tile');
  L.push(`  let xbase = (${io.plane(0, 'n', 'grp * CIN_G')}) * PLANE;`);
  L.push(
    "  // Weight row of each output channel (tail channels re-read the group's last row; their results are dropped).",
  );
  for (const m of range(tm)) L.push(`  let w${m} = (grp * COUT_G + min(co0 + ${u(m)}, COUT_G - 1u)) * WROW;`);
  if (!gemm) {
    L.push("  // Top-left input coordinate of each pixel's window (tail pixels clamp to the last pixel).");
    for (const j of range(tn)) {
      L.push(`  let q${j} = min(p0 + ${u(j)}, PIXELS - 1u);`);
      L.push(`  let iy${j} = i32(q${j} / WO) * STRIDE - PAD;  let ix${j} = i32(q${j} % WO) * STRIDE - PAD;`);
    }
  }
  for (const m of range(tm))
    L.push(`  var acc${m}: array<vec4f, ${nv}>; // channel co0+${m}, pixels p0 + 4v .. p0 + 4v + 3`);

  const fma = (wExpr: (m: number) => string, xv: (v: number) => string, ind: string): void => {
    for (const m of range(tm)) {
      const wv = wExpr(m);
      for (const v of range(nv)) L.push(`${ind}acc${m}[${v}] += ${wv} * ${xv(v)};`);
    }
  };

  if (gemm) {
    // Plain GEMM over input channels; pixel p of the input plane is output pixel p.
    if (vecX) L.push('  let pv0 = min(p0 / 4u, PLANE / 4u - 1u); // first pixel vec4 (tail tiles clamp)');
    const xload = (c: string, v: number): string =>
      vecX
        ? `x[(xbase + (${c}) * PLANE) / 4u + min(pv0 + ${u(v)}, PLANE / 4u - 1u)]`
        : `vec4f(${range(4)
            .map((l) => `x[xbase + (${c}) * PLANE + min(p0 + ${u(4 * v + l)}, PLANE - 1u)]`)
            .join(', ')})`;
    if (vecW && byChannel(ctx)) {
      // The step's pixel vec4s first; then per output channel its weight vec4 and its accumulators (`byChannel`).
      L.push('  for (var c4 = 0u; c4 < CIN_G / 4u; c4++) {');
      for (const l of range(4))
        for (const v of range(nv)) L.push(`    let x${l}_${v} = ${xload(`c4 * 4u + ${u(l)}`, v)};`);
      for (const m of range(tm)) {
        L.push(`    let wv${m} = wt[w${m} + c4]; // 4 input channels of output channel co0+${m}`);
        for (const v of range(nv))
          L.push(
            `    acc${m}[${v}] += ${range(4)
              .map((l) => `wv${m}.${lanes[l]} * x${l}_${v}`)
              .join(' + ')};`,
          );
      }
      L.push('  }');
    } else if (vecW) {
      L.push('  for (var c4 = 0u; c4 < CIN_G / 4u; c4++) {');
      for (const m of range(tm))
        L.push(`    let wv${m} = wt[w${m} + c4]; // 4 input channels of output channel co0+${m}`);
      // All loads of the step first, then each accumulator once with all its terms, unless interleaved.
      for (const l of range(4)) {
        for (const v of range(nv)) L.push(`    let x${l}_${v} = ${xload(`c4 * 4u + ${u(l)}`, v)};`);
        if (interleaved(ctx))
          fma(
            (m) => `wv${m}.${lanes[l]}`,
            (v) => `x${l}_${v}`,
            '    ',
          );
      }
      if (!interleaved(ctx))
        accumulate(L, '    ', tm, nv, (m, v) => range(4).map((l) => `wv${m}.${lanes[l]} * x${l}_${v}`));
      L.push('  }');
    } else {
      L.push('  for (var c = 0u; c < CIN_G; c++) {');
      for (const v of range(nv)) L.push(`    let xv${v} = ${xload('c', v)};`);
      fma(
        (m) => `wt[w${m} + c]`,
        (v) => `xv${v}`,
        '    ',
      );
      L.push('  }');
    }
  } else {
    L.push('  for (var ky = 0u; ky < KSIZE; ky++) {');
    L.push('    for (var kx = 0u; kx < KSIZE; kx++) {');
    L.push(
      '      // Input offset of this tap for each pixel' +
        (padded ? '; taps in the zero padding read offset 0 and are masked.' : '.'),
    );
    for (const j of range(tn)) {
      L.push(`      let ty${j} = iy${j} + i32(ky) * DILATION;  let tx${j} = ix${j} + i32(kx) * DILATION;`);
      if (padded) {
        L.push(`      let in${j} = ty${j} >= 0i && ty${j} < i32(H) && tx${j} >= 0i && tx${j} < i32(W);`);
        L.push(`      let o${j} = select(0u, u32(ty${j}) * W + u32(tx${j}), in${j});`);
      } else L.push(`      let o${j} = u32(ty${j}) * W + u32(tx${j});`);
    }
    if (padded)
      for (const v of range(nv))
        L.push(
          `      let mask${v} = vec4f(${range(4)
            .map((l) => `select(0.0, 1.0, in${4 * v + l})`)
            .join(', ')});`,
        );
    const gather = (c: string, v: number): string => {
      const g4 = `vec4f(${range(4)
        .map((l) => `x[${c} + o${4 * v + l}]`)
        .join(', ')})`;
      return padded ? `${g4} * mask${v}` : g4;
    };
    if (vecW) {
      L.push('      let tap = (ky * KSIZE + kx) * (CIN_G / 4u);');
      L.push('      for (var c4 = 0u; c4 < CIN_G / 4u; c4++) {');
      for (const m of range(tm))
        L.push(`        let wv${m} = wt[w${m} + tap + c4]; // input channels 4·c4 .. 4·c4+3 of this tap`);
      // Loads first, then each accumulator once (as in the GEMM path above), unless interleaved.
      for (const l of range(4)) {
        L.push(`        let xc${l} = xbase + (c4 * 4u + ${u(l)}) * PLANE;`);
        for (const v of range(nv)) L.push(`        let x${l}_${v} = ${gather(`xc${l}`, v)};`);
        if (interleaved(ctx))
          fma(
            (m) => `wv${m}.${lanes[l]}`,
            (v) => `x${l}_${v}`,
            '        ',
          );
      }
      if (!interleaved(ctx))
        accumulate(L, '        ', tm, nv, (m, v) => range(4).map((l) => `wv${m}.${lanes[l]} * x${l}_${v}`));
      L.push('      }');
    } else {
      L.push('      let tap = (ky * KSIZE + kx) * CIN_G;');
      L.push('      for (var c = 0u; c < CIN_G; c++) {');
      L.push('        let xc = xbase + c * PLANE;');
      for (const v of range(nv)) L.push(`        let xv${v} = ${gather('xc', v)};`);
      fma(
        (m) => `wt[w${m} + tap + c]`,
        (v) => `xv${v}`,
        '        ',
      );
      L.push('      }');
    }
    L.push('    }');
    L.push('  }');
  }
  L.push('  // Store the tile (bias added), skipping tail channels and pixels.');
  storeTile(L, io, { tm, tn, vec: vecY, bias }, 'p0', (j) => `p0 + ${u(j)} < PIXELS`);

  const items = batch! * g * blk.itemsPerGroup;
  const kind = gemm
    ? 'gemm'
    : `${k}x${k}${s > 1 ? `_s${s}` : ''}${d > 1 ? `_d${d}` : ''}${g > 1 ? `_g${g}` : ''}`;
  return kernelSpec(
    `conv2d_${kind}_k${cout}`,
    [
      `conv2d ${k}×${k} stride ${s} padding ${p} dilation ${d} groups ${g}${bias ? ' bias' : ''}: x ${shapeText(ctx.inputs[0]!)} → y ${shapeText(ctx.out)}`,
      gemm
        ? `1×1 conv as a GEMM; each invocation: ${tm} output channels × ${tn} pixels (${vecX ? 'vec4' : 'scalar'} pixel loads, ${vecW ? 'vec4' : 'scalar'} weight loads)`
        : `implicit GEMM; each invocation: ${tm} output channels × ${tn} pixels (${vecW ? 'vec4' : 'scalar'} weight loads over input channels)`,
      'weights are OHWI (converted from OIHW at load)',
    ].join('\n'),
    bufs,
    consts,
    linearMain(items, blockWg(ctx, coTiles, pixTiles), ctx.opts),
    L.join('\n'),
    blockWg(ctx, coTiles, pixTiles),
    { paramLayouts: { 0: [0, 2, 3, 1] } },
    io.helpers(),
  );
}

/** Depthwise conv (groups = Cin = Cout): each invocation computes 4 adjacent output pixels of one row of one channel. */
function depthwiseKernel(ctx: KernelCtx<ConvAttrs>): KernelSpec {
  const [batch, ch, h, w] = ctx.inputs[0]! as number[];
  const [, , ho, wo] = ctx.out as number[];
  const { kernel: k, stride: s, padding: p, dilation: d, bias } = ctx.attrs;
  const tn = 4;
  const rowTiles = Math.ceil(wo! / tn);
  const io = new KernelIo(ctx);
  const vecY = wo! % 4 === 0 && io.outVecOk; // a row's 4 pixels are one aligned vec4
  const bufs: Buf[] = [
    { slot: 'input0', name: 'x', elem: 'f32' },
    { slot: 'param0', name: 'wt', elem: 'f32' },
    ...(bias ? [{ slot: 'param1', name: 'bias', elem: 'f32' } as const] : []),
    ...io.outBufs(vecY),
  ];
  const consts = [
    `const CHANNELS = ${u(ch!)};  const H = ${u(h!)};  const W = ${u(w!)};`,
    `const HO = ${u(ho!)};  const WO = ${u(wo!)};`,
    `const KSIZE = ${u(k)};  const STRIDE = ${i(s)};  const PAD = ${i(p)};  const DILATION = ${i(d)};`,
    `const TN = ${u(tn)}; // adjacent output pixels of one row per invocation`,
    `const ROW_TILES = ${u(rowTiles)};`,
  ].join('\n');
  const L: string[] = [];
  L.push('  let tile = gid % ROW_TILES;');
  L.push('  let oy = (gid / ROW_TILES) % HO;');
  L.push('  let c = (gid / (ROW_TILES * HO)) % CHANNELS;');
  L.push('  let n = gid / (ROW_TILES * HO * CHANNELS);');
  L.push('  let ox0 = tile * TN;');
  L.push(`  let xbase = (${io.plane(0, 'n', 'c')}) * H * W;`);
  L.push('  let wbase = c * KSIZE * KSIZE;');
  L.push('  let iy0 = i32(oy) * STRIDE - PAD;');
  for (const j of range(tn)) L.push(`  let ix${j} = i32(ox0 + ${u(j)}) * STRIDE - PAD;`);
  L.push('  var acc = vec4f(0.0);');
  L.push('  for (var ky = 0u; ky < KSIZE; ky++) {');
  L.push('    let iy = iy0 + i32(ky) * DILATION;');
  L.push('    if (iy < 0i || iy >= i32(H)) { continue; } // the whole row is zero padding');
  L.push('    let row = xbase + u32(iy) * W;');
  L.push('    for (var kx = 0u; kx < KSIZE; kx++) {');
  L.push('      let wk = wt[wbase + ky * KSIZE + kx];');
  for (const j of range(tn)) {
    L.push(`      let tx${j} = ix${j} + i32(kx) * DILATION;`);
    L.push(`      let in${j} = tx${j} >= 0i && tx${j} < i32(W);`);
  }
  L.push(
    `      let xv = vec4f(${range(tn)
      .map((j) => `x[row + select(0u, u32(tx${j}), in${j})]`)
      .join(', ')}) * vec4f(${range(tn)
      .map((j) => `select(0.0, 1.0, in${j})`)
      .join(', ')});`,
  );
  L.push('      acc += wk * xv;');
  L.push('    }');
  L.push('  }');
  L.push('  let ybase = ((n * CHANNELS + c) * HO + oy) * WO;');
  const b = bias ? ' + bias[c]' : '';
  if (vecY) L.push(`  ${io.store4('(ybase + ox0) / 4u', `acc${b}`)}`);
  else
    for (const j of range(tn))
      L.push(`  if (ox0 + ${u(j)} < WO) { ${io.store(`ybase + ox0 + ${u(j)}`, `acc.${lanes[j]}${b}`)} }`);
  const items = batch! * ch! * ho! * rowTiles;
  return kernelSpec(
    `conv2d_dw${k}x${k}${s > 1 ? `_s${s}` : ''}${d > 1 ? `_d${d}` : ''}_c${ch}`,
    `depthwise conv2d ${k}×${k} stride ${s} padding ${p} dilation ${d}${bias ? ' bias' : ''}: x ${shapeText(ctx.inputs[0]!)} → y ${shapeText(ctx.out)}\neach invocation: ${tn} adjacent output pixels of one row`,
    bufs,
    consts,
    linearMain(items, WG, ctx.opts),
    L.join('\n'),
    WG,
    {},
    io.helpers(),
  );
}

/**
 * Workgroup-tiled implicit GEMM (variant 1). GEMM view per (sample, group): Y[co, p] = Σ_kk A[co, kk] · B[kk, p]
 * with A the OHWI weight rows (kk = (ky·KSIZE + kx)·CIN_G + ci, contiguous) and B the implicit im2col matrix.
 * One workgroup per BM × BN tile of Y; for each BK slice of K the workgroup stores A's BM × BK block (transposed:
 * kk-major, 4 channels per vec4) and B's BK × BN block (4 pixels per vec4) in workgroup memory, zeros past the
 * ends of K, of the channels and of the pixels and in the padding; then each invocation adds its TM × TN block.
 */
export function tiledGemmKernel(ctx: KernelCtx<ConvAttrs>, t: ConvWgTiling, transposed = false): KernelSpec {
  const [batch, cin, h, w] = ctx.inputs[0]! as number[];
  const [, cout, ho, wo] = ctx.out as number[];
  const { kernel: k, stride: s, padding: p, dilation: d, groups: g, bias } = ctx.attrs;
  if (transposed && (g !== 1 || s !== 1))
    throw new Error('internal: a transposed tiled conv needs groups 1 and stride 1');
  const cinG = cin! / g;
  const coutG = cout! / g;
  const pixels = ho! * wo!;
  const plane = h! * w!;
  const ktot = k * k * cinG;
  const wgSize = (t.bm / t.tm) * (t.bn / t.tn);
  const gemm = k === 1 && s === 1 && p === 0;
  // Transposed (the input gradient of a stride-1 conv, its OHWI weight W[o][u][v][c] read in place): A[c][(tap, o)]
  // = W[o][flipped tap][c] runs along A's channels, so a vec4 holds 4 channels of one kk (no transpose).
  const vecW = transposed ? t.vec === 4 && coutG % 4 === 0 : t.vec === 4 && cinG % 4 === 0; // then K is a multiple of 4 and every OHWI row starts aligned
  const vecX = t.vec === 4 && gemm && plane % 4 === 0;
  const coTiles = Math.ceil(coutG / t.bm);
  const pixTiles = Math.ceil(pixels / t.bn);
  const io = new KernelIo(ctx);
  const vecY = pixels % 4 === 0 && io.outVecOk;
  const bufs: Buf[] = [
    { slot: 'input0', name: 'x', elem: vecX ? 'vec4f' : 'f32' },
    { slot: 'param0', name: 'wt', elem: vecW ? 'vec4f' : 'f32' },
    ...(bias ? [{ slot: 'param1', name: 'bias', elem: 'f32' } as const] : []),
    ...io.outBufs(vecY),
  ];
  // Work items of the tile loads: A as (BM/4 channel quads) × (BK/4 kk quads) with vec4 weight loads (a 4×4
  // transpose in registers) or × BK single kk; B as (BN/4 pixel quads) × BK rows, BN/4 dividing the workgroup
  // so that each invocation keeps one pixel quad (its coordinates computed once) and walks rows.
  const aCount = (t.bm / 4) * (vecW && !transposed ? t.bk / 4 : t.bk);
  const aIters = Math.ceil(aCount / wgSize);
  const bRows = wgSize / (t.bn / 4);
  const bIters = Math.ceil(t.bk / bRows);
  const consts = [
    `const CIN = ${u(cin!)};  const H = ${u(h!)};  const W = ${u(w!)};  const PLANE = H * W;`,
    `const COUT = ${u(cout!)};  const HO = ${u(ho!)};  const WO = ${u(wo!)};  const PIXELS = HO * WO;`,
    `const KSIZE = ${u(k)};  const STRIDE = ${i(s)};  const PAD = ${i(p)};  const DILATION = ${i(d)};`,
    `const GROUPS = ${u(g)};  const CIN_G = ${u(cinG)};  const COUT_G = ${u(coutG)};`,
    `const KTOT = ${u(ktot)}; // GEMM depth: taps × input channels of a group`,
    `const BM = ${u(t.bm)};  const BN = ${u(t.bn)};  const BK = ${u(t.bk)}; // workgroup tile and K slice`,
    `const TM = ${u(t.tm)};  const TN = ${u(t.tn)}; // per invocation`,
    `const CO_TILES = ${u(coTiles)}; // per group`,
    `const PIX_TILES = ${u(pixTiles)}; // per sample`,
    ...(vecW && !transposed ? ['const WROW4 = KTOT / 4u; // weight vec4s per output channel (OHWI)'] : []),
    ...(transposed
      ? [
          `const TAPS = KSIZE * KSIZE; // the weight is the forward conv's OHWI [CIN][KSIZE][KSIZE][COUT]${vecW ? ', read as vec4s along COUT' : ''}`,
        ]
      : []),
    `const A_COUNT = ${u(aCount)}; // work items of one A-tile load`,
    `const B_ROWS = ${u(bRows)}; // B-tile rows loaded per pass of the workgroup`,
    '// A slice, kk-major: As[kk · BM/4 + m/4] holds channels m..m+3 of row kk; B slice: Bs[kk · BN/4 + p/4].',
    `var<workgroup> As: array<vec4f, ${u((t.bk * t.bm) / 4)}>;`,
    `var<workgroup> Bs: array<vec4f, ${u((t.bk * t.bn) / 4)}>;`,
  ].join('\n');

  const L: string[] = [];
  L.push('  // Workgroup → (sample, group, output-channel tile, pixel tile); pixel tiles vary fastest.');
  L.push('  let pt = item % PIX_TILES;');
  L.push('  let ct = (item / PIX_TILES) % CO_TILES;');
  L.push('  let grp = (item / (PIX_TILES * CO_TILES)) % GROUPS;');
  L.push('  let n = item / (PIX_TILES * CO_TILES * GROUPS);');
  L.push('  let co0 = ct * BM; // first output channel of the tile, within the group');
  L.push('  let p0 = pt * BN; // first output pixel of the tile');
  L.push(`  let xbase = (${io.plane(0, 'n', 'grp * CIN_G')}) * PLANE;`);
  L.push("  let wrow0 = grp * COUT_G; // weight row of the group's first output channel");
  L.push("  // This invocation's block of the tile: channels ty·TM.., pixels tx·TN..");
  L.push('  let tx = lid % (BN / TN);');
  L.push('  let ty = lid / (BN / TN);');
  L.push('  // Its column quad of the B tile (fixed) and first row.');
  L.push('  let bq = lid % (BN / 4u);');
  L.push('  let br0 = lid / (BN / 4u);');
  if (!gemm)
    for (const l of range(4)) {
      L.push(`  let bp${l} = p0 + bq * 4u + ${u(l)};  let bok${l} = bp${l} < PIXELS;`);
      L.push(
        `  let biy${l} = i32(bp${l} / WO) * STRIDE - PAD;  let bix${l} = i32(bp${l} % WO) * STRIDE - PAD;`,
      );
    }
  for (const m of range(t.tm))
    for (const v of range(t.tn / 4))
      L.push(`  var acc${m}_${v} = vec4f(0.0); // channel ty·TM+${m}, pixels tx·TN+${4 * v}..`);
  L.push('  for (var k0 = 0u; k0 < KTOT; k0 += BK) {');
  // ---- A tile
  L.push("    // Weights of the slice into As (zero past K and past the group's channels).");
  for (const r of range(aIters)) {
    const guard = aCount % wgSize !== 0 && r === aIters - 1;
    const ind = guard ? '        ' : '      ';
    L.push(`    {`);
    L.push(`      let ta = lid + ${u(r * wgSize)};`);
    if (guard) L.push('      if (ta < A_COUNT) {');
    L.push(`${ind}let am = (ta % (BM / 4u)) * 4u; // first of 4 channels`);
    if (transposed) {
      // Row kk = (tap, o) of the transposed, flipped weight: W[o][TAPS − 1 − tap][co0 + am ..].
      L.push(`${ind}let ak = ta / (BM / 4u);`);
      L.push(`${ind}let kk = k0 + ak;`);
      L.push(`${ind}let kin = kk < KTOT;`);
      L.push(`${ind}let kc = min(kk, KTOT - 1u);`);
      L.push(`${ind}let wr = (kc % CIN_G) * TAPS + TAPS - 1u - kc / CIN_G; // (o, flipped tap)`);
      if (vecW)
        L.push(
          `${ind}As[ak * (BM / 4u) + am / 4u] = select(vec4f(0.0), wt[wr * (COUT_G / 4u) + min(co0 + am, COUT_G - 4u) / 4u], kin && co0 + am < COUT_G);`,
        );
      else {
        for (const j of range(4)) {
          L.push(`${ind}let ac${j} = co0 + am + ${u(j)};`);
          L.push(
            `${ind}let a${j} = select(0.0, wt[wr * COUT_G + min(ac${j}, COUT_G - 1u)], kin && ac${j} < COUT_G);`,
          );
        }
        L.push(`${ind}As[ak * (BM / 4u) + am / 4u] = vec4f(a0, a1, a2, a3);`);
      }
    } else if (vecW) {
      L.push(`${ind}let ak = (ta / (BM / 4u)) * 4u; // first of 4 kk`);
      L.push(`${ind}let kq = (k0 + ak) / 4u;`);
      L.push(`${ind}let kin = k0 + ak < KTOT;`);
      for (const j of range(4)) {
        L.push(`${ind}let ac${j} = co0 + am + ${u(j)};`);
        L.push(
          `${ind}let a${j} = select(vec4f(0.0), wt[(wrow0 + min(ac${j}, COUT_G - 1u)) * WROW4 + min(kq, WROW4 - 1u)], kin && ac${j} < COUT_G);`,
        );
      }
      for (const l of range(4))
        L.push(
          `${ind}As[(ak + ${u(l)}) * (BM / 4u) + am / 4u] = vec4f(a0.${lanes[l]}, a1.${lanes[l]}, a2.${lanes[l]}, a3.${lanes[l]});`,
        );
    } else {
      L.push(`${ind}let ak = ta / (BM / 4u);`);
      L.push(`${ind}let kk = k0 + ak;`);
      L.push(`${ind}let kin = kk < KTOT;`);
      for (const j of range(4)) {
        L.push(`${ind}let ac${j} = co0 + am + ${u(j)};`);
        L.push(
          `${ind}let a${j} = select(0.0, wt[(wrow0 + min(ac${j}, COUT_G - 1u)) * KTOT + min(kk, KTOT - 1u)], kin && ac${j} < COUT_G);`,
        );
      }
      L.push(`${ind}As[ak * (BM / 4u) + am / 4u] = vec4f(a0, a1, a2, a3);`);
    }
    if (guard) L.push('      }');
    L.push('    }');
  }
  // ---- B tile
  L.push('    // The implicit im2col slice into Bs (zero past K, past the pixels and in the padding).');
  for (const r of range(bIters)) {
    const guard = t.bk % bRows !== 0 && r === bIters - 1;
    const ind = guard ? '        ' : '      ';
    L.push('    {');
    L.push(`      let br = br0 + ${u(r * bRows)};`);
    if (guard) L.push('      if (br < BK) {');
    L.push(`${ind}let kk = k0 + br;`);
    L.push(`${ind}let kin = kk < KTOT;`);
    if (gemm) {
      L.push(`${ind}let xc = xbase + min(kk, CIN_G - 1u) * PLANE; // input channel kk`);
      if (vecX) {
        L.push(`${ind}let pq = p0 / 4u + bq;`);
        L.push(
          `${ind}Bs[br * (BN / 4u) + bq] = select(vec4f(0.0), x[xc / 4u + min(pq, PLANE / 4u - 1u)], kin && pq * 4u < PIXELS);`,
        );
      } else {
        for (const l of range(4)) {
          L.push(`${ind}let q${l} = p0 + bq * 4u + ${u(l)};`);
          L.push(`${ind}let b${l} = select(0.0, x[xc + min(q${l}, PLANE - 1u)], kin && q${l} < PIXELS);`);
        }
        L.push(`${ind}Bs[br * (BN / 4u) + bq] = vec4f(b0, b1, b2, b3);`);
      }
    } else {
      L.push(`${ind}let tap = kk / CIN_G;`);
      L.push(`${ind}let xc = xbase + (kk % CIN_G) * PLANE;`);
      L.push(`${ind}let oy = i32(tap / KSIZE) * DILATION;  let ox = i32(tap % KSIZE) * DILATION;`);
      for (const l of range(4)) {
        L.push(`${ind}let ty${l} = biy${l} + oy;  let tx${l} = bix${l} + ox;`);
        L.push(
          `${ind}let in${l} = kin && bok${l} && ty${l} >= 0i && ty${l} < i32(H) && tx${l} >= 0i && tx${l} < i32(W);`,
        );
        L.push(
          `${ind}let b${l} = select(0.0, x[xc + select(0u, u32(ty${l}) * W + u32(tx${l}), in${l})], in${l});`,
        );
      }
      L.push(`${ind}Bs[br * (BN / 4u) + bq] = vec4f(b0, b1, b2, b3);`);
    }
    if (guard) L.push('      }');
    L.push('    }');
  }
  L.push('    workgroupBarrier();');
  L.push('    for (var kk = 0u; kk < BK; kk++) {');
  for (const j of range(t.tm / 4)) L.push(`      let a${j} = As[kk * (BM / 4u) + ty * (TM / 4u) + ${u(j)}];`);
  for (const v of range(t.tn / 4)) L.push(`      let b${v} = Bs[kk * (BN / 4u) + tx * (TN / 4u) + ${u(v)}];`);
  for (const m of range(t.tm))
    for (const v of range(t.tn / 4)) L.push(`      acc${m}_${v} += a${m >> 2}.${lanes[m & 3]} * b${v};`);
  L.push('    }');
  L.push('    workgroupBarrier();');
  L.push('  }');
  L.push('  // Store the block (bias added), skipping tail channels and pixels.');
  L.push('  let pb = p0 + tx * TN;');
  for (const m of range(t.tm)) {
    L.push(`  if (co0 + ty * TM + ${u(m)} < COUT_G) {`);
    L.push(`    let co = grp * COUT_G + co0 + ty * TM + ${u(m)};`);
    L.push(`    let ybase = (n * COUT + co) * PIXELS;`);
    const b = bias ? ' + bias[co]' : '';
    for (const v of range(t.tn / 4)) {
      if (vecY)
        L.push(
          `    if (pb + ${u(4 * v)} < PIXELS) { ${io.store4(`(ybase + pb) / 4u + ${u(v)}`, `acc${m}_${v}${b}`)} }`,
        );
      else
        for (const l of range(4))
          L.push(
            `    if (pb + ${u(4 * v + l)} < PIXELS) { ${io.store(`ybase + pb + ${u(4 * v + l)}`, `acc${m}_${v}.${lanes[l]}${b}`)} }`,
          );
    }
    L.push('  }');
  }

  const items = batch! * g * coTiles * pixTiles;
  const kind = gemm
    ? 'gemm'
    : `${k}x${k}${s > 1 ? `_s${s}` : ''}${d > 1 ? `_d${d}` : ''}${g > 1 ? `_g${g}` : ''}`;
  return kernelSpec(
    transposed
      ? `conv2d_grad_input_${kind}_c${cout}_wg${t.bm}x${t.bn}`
      : `conv2d_${kind}_k${cout}_wg${t.bm}x${t.bn}`,
    [
      transposed
        ? `conv2d_grad_input as the conv of dy with the forward weight transposed and flipped: ${k}×${k} padding ${p} dilation ${d}: dy ${shapeText(ctx.inputs[0]!)} → dx ${shapeText(ctx.out)}`
        : `conv2d ${k}×${k} stride ${s} padding ${p} dilation ${d} groups ${g}${bias ? ' bias' : ''}: x ${shapeText(ctx.inputs[0]!)} → y ${shapeText(ctx.out)}`,
      `workgroup-tiled implicit GEMM${gemm ? ' (1×1: a plain GEMM)' : ''}: ${t.bm} output channels × ${t.bn} pixels per workgroup of ${wgSize}, K slices of ${t.bk} in workgroup memory; each invocation: ${t.tm} channels × ${t.tn} pixels (${vecW ? 'vec4' : 'scalar'} weight loads, ${vecX ? 'vec4' : 'scalar'} input loads)`,
      transposed
        ? 'weights: the forward OHWI weight, read in place'
        : 'weights are OHWI (converted from OIHW at load)',
    ].join('\n'),
    bufs,
    consts,
    workgroupMain(items, wgSize, ctx.opts),
    L.join('\n'),
    wgSize,
    { paramLayouts: { 0: [0, 2, 3, 1] } },
    io.helpers(),
  );
}

/**
 * `flipped`: the conv is the input gradient of a stride-1 depthwise conv, the conv of dy with the kernel flipped
 * and padding (k−1)·d − p (compiler/codegen/wgsl/conv_grad.ts).
 *
 * Depthwise conv, variant 1: TN adjacent output pixels of one row of one channel per invocation (`conv2d_dw.tn`, at
 * most the row's width rounded up to 4). For each kernel
 * row the distinct input columns the taps need ({j·STRIDE + kx·DILATION}) are loaded once (zero outside the
 * image) and every tap reads them from registers. At stride 1 on rows a multiple of 4 wide they are loaded as the
 * aligned vec4s that cover them (each wholly inside the row or wholly padding): the first column's offset from
 * its vec4 is −PAD mod 4 for every tile, so which lane holds which tap is known when the kernel is generated. A
 * dilated conv's taps are far apart (8 columns at dilation 8), which makes wide tiles pay: 16 outputs at dilation
 * 8 need 8 vec4 loads per kernel row where 4 outputs need 3.
 */
export function depthwiseRowsKernel(ctx: KernelCtx<ConvAttrs>, tnMax: number, flipped = false): KernelSpec {
  const [batch, ch, h, w] = ctx.inputs[0]! as number[];
  const [, , ho, wo] = ctx.out as number[];
  const tn = Math.min(tnMax, Math.ceil(wo! / 4) * 4); // no wider than the row
  const { kernel: k, stride: s, padding: p, dilation: d, bias } = ctx.attrs;
  const nv = tn / 4;
  const rowTiles = Math.ceil(wo! / tn);
  const io = new KernelIo(ctx);
  const vecY = wo! % 4 === 0 && io.outVecOk;
  // `conv2d_dw.vec` 0: scalar loads everywhere (the kernel before vec4 rows, for bench/depthwise.bench.ts).
  const vecX =
    s === 1 &&
    w! % 4 === 0 &&
    io.inVecOk(0) &&
    tunedInt(ctx, CONV_KEYS.dwVec, 1, (v) => v === 0 || v === 1) === 1;
  const bufs: Buf[] = [
    { slot: 'input0', name: 'x', elem: vecX ? 'vec4f' : 'f32' },
    { slot: 'param0', name: 'wt', elem: 'f32' },
    ...(bias ? [{ slot: 'param1', name: 'bias', elem: 'f32' } as const] : []),
    ...io.outBufs(vecY),
  ];
  const offsets = [...new Set(range(tn).flatMap((j) => range(k).map((kx) => j * s + kx * d)))].sort(
    (a, b) => a - b,
  );
  const consts = [
    `const CHANNELS = ${u(ch!)};  const H = ${u(h!)};  const W = ${u(w!)};`,
    `const HO = ${u(ho!)};  const WO = ${u(wo!)};`,
    `const KSIZE = ${u(k)};  const STRIDE = ${i(s)};  const PAD = ${i(p)};  const DILATION = ${i(d)};`,
    `const TN = ${u(tn)}; // adjacent output pixels of one row per invocation`,
    `const ROW_TILES = ${u(rowTiles)};`,
  ].join('\n');
  // vec4 loads: the first tap column ix0 = ox0 − PAD lies `lead` columns into the vec4 q0 = ⌊ix0 / 4⌋; offset o is
  // lane (lead + o) mod 4 of vec4 q0 + ⌊(lead + o) / 4⌋.
  const lead = ((-p % 4) + 4) % 4;
  const quads = vecX
    ? [...new Set(offsets.map((o) => Math.floor((lead + o) / 4)))].sort((a, b) => a - b)
    : [];
  const tap = (o: number): string =>
    vecX ? `v${Math.floor((lead + o) / 4)}.${lanes[(lead + o) % 4]}` : `r${o}`;
  /** The 4 inputs of output pixels 4v..4v+3 at tap column offset `kx·DILATION`. */
  const four = (v: number, kx: number): string => {
    const os = range(4).map((l) => (4 * v + l) * s + kx * d);
    if (vecX && (lead + os[0]!) % 4 === 0) return `v${(lead + os[0]!) / 4}`; // one whole vec4
    return `vec4f(${os.map(tap).join(', ')})`;
  };
  const L: string[] = [];
  L.push('  let tile = gid % ROW_TILES;');
  L.push('  let oy = (gid / ROW_TILES) % HO;');
  L.push('  let c = (gid / (ROW_TILES * HO)) % CHANNELS;');
  L.push('  let n = gid / (ROW_TILES * HO * CHANNELS);');
  L.push('  let ox0 = tile * TN;');
  L.push(`  let xbase = (${io.plane(0, 'n', 'c')}) * H * W;`);
  L.push('  let wbase = c * KSIZE * KSIZE;');
  L.push('  let iy0 = i32(oy) * STRIDE - PAD;');
  L.push("  let ix0 = i32(ox0) * STRIDE - PAD; // input column of the first pixel's first tap");
  const kp = Math.ceil(p / 4) + 1;
  if (vecX) L.push(`  let q0 = (ix0 + ${i(4 * kp)}) / 4i - ${i(kp)}; // its vec4 (⌊ix0 / 4⌋)`);
  for (const v of range(nv)) L.push(`  var acc${v} = vec4f(0.0); // pixels ox0 + ${4 * v} ..`);
  L.push('  for (var ky = 0u; ky < KSIZE; ky++) {');
  L.push('    let iy = iy0 + i32(ky) * DILATION;');
  L.push('    if (iy < 0i || iy >= i32(H)) { continue; } // the whole row is zero padding');
  L.push('    let row = xbase + u32(iy) * W;');
  if (vecX) {
    L.push(
      `    // The ${quads.length} vec4s holding the ${offsets.length} distinct input columns of this row's taps, zero outside the image.`,
    );
    for (const q of quads) {
      L.push(`    let c${q} = q0 + ${i(q)};  let in${q} = c${q} >= 0i && c${q} < i32(W / 4u);`);
      L.push(`    let v${q} = select(vec4f(0.0), x[row / 4u + select(0u, u32(c${q}), in${q})], in${q});`);
    }
  } else {
    L.push(
      `    // The ${offsets.length} distinct input columns of this row's taps (ix0 + offset), zero outside the image.`,
    );
    for (const o of offsets) {
      L.push(`    let t${o} = ix0 + ${i(o)};`);
      L.push(
        `    let r${o} = select(0.0, x[row + select(0u, u32(t${o}), t${o} >= 0i && t${o} < i32(W))], t${o} >= 0i && t${o} < i32(W));`,
      );
    }
  }
  for (const kx of range(k)) {
    L.push(
      flipped
        ? `    let w${kx} = wt[wbase + (KSIZE - 1u - ky) * KSIZE + ${u(k - 1 - kx)}]; // the kernel flipped`
        : `    let w${kx} = wt[wbase + ky * KSIZE + ${u(kx)}];`,
    );
    for (const v of range(nv)) L.push(`    acc${v} += w${kx} * ${four(v, kx)};`);
  }
  L.push('  }');
  L.push('  let ybase = ((n * CHANNELS + c) * HO + oy) * WO;');
  const b = bias ? ' + bias[c]' : '';
  for (const v of range(nv)) {
    if (vecY)
      L.push(`  if (ox0 + ${u(4 * v)} < WO) { ${io.store4(`(ybase + ox0) / 4u + ${u(v)}`, `acc${v}${b}`)} }`);
    else
      for (const l of range(4))
        L.push(
          `  if (ox0 + ${u(4 * v + l)} < WO) { ${io.store(`ybase + ox0 + ${u(4 * v + l)}`, `acc${v}.${lanes[l]}${b}`)} }`,
        );
  }
  const items = batch! * ch! * ho! * rowTiles;
  return kernelSpec(
    `${flipped ? 'conv2d_grad_input_dw' : 'conv2d_dw'}${k}x${k}${s > 1 ? `_s${s}` : ''}${d > 1 ? `_d${d}` : ''}_c${ch}_r${tn}`,
    `${flipped ? 'conv2d_grad_input of a depthwise conv, as the depthwise conv of dy with the kernel flipped: ' : ''}depthwise conv2d ${k}×${k} stride ${s} padding ${p} dilation ${d}${bias ? ' bias' : ''}: x ${shapeText(ctx.inputs[0]!)} → y ${shapeText(ctx.out)}\neach invocation: ${tn} adjacent output pixels of one row; each kernel row's ${offsets.length} distinct inputs loaded once${vecX ? ` (as ${quads.length} vec4s)` : ''}`,
    bufs,
    consts,
    linearMain(items, WG, ctx.opts),
    L.join('\n'),
    WG,
    {},
    io.helpers(),
  );
}
