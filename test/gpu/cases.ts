// The op kernel test cases, per op: shapes chosen to hit every kernel path (odd sizes, stride 2 on odd inputs,
// dilation 1/2/4/8 with padding, channel counts not divisible by 4, depthwise, 1×1, grouped, concat of five
// inputs, resize up and down in both align modes) and grids forced into 2-D/3-D. Used by the GPU op tests and
// by the kernel well-formedness tests that need no GPU.
import type { Attrs, Shape } from '../../compiler/ir/types.ts';
import { windowOut } from '../../compiler/ops/op.ts';
import { rowKernelApplies } from '../../compiler/codegen/wgsl/conv.ts';
import { WINOGRAD_TILES, winogradProblem } from '../../compiler/codegen/wgsl/winograd.ts';
import type { ConvAttrs } from '../../compiler/ops/conv.ts';
import { CANDIDATES, DEFAULT_CANDIDATE } from '../../runtime/tune.ts';
import { LLVMPIPE_TUNING } from '../../runtime/tuning.ts';

export interface Case {
  readonly inputs: readonly Shape[];
  readonly attrs: Attrs;
  /** Limit overrides: force grid splitting or concat splitting. */
  readonly limits?: Readonly<Record<string, number>>;
  /** Kernel choices (KernelOptions.tuning): the variants a per-adapter choice may pick must all be right. */
  readonly tuning?: Readonly<Record<string, number>>;
  /** Value ranges of some inputs (by index), e.g. a positive variance; the rest are uniform in [−1, 1). */
  readonly ranges?: Readonly<Record<number, readonly [number, number]>>;
  /** Inputs (by index) of whole numbers uniform in [lo, hi] (labels: class indices, −1 ignored). */
  readonly integers?: Readonly<Record<number, readonly [number, number]>>;
}

/** Forces 2-D/3-D grids even for tiny tensors. */
export const SPLIT = { maxComputeWorkgroupsPerDimension: 4 };

const conv = (
  channels: number,
  kernel: number,
  o: Partial<Record<'stride' | 'padding' | 'dilation' | 'groups', number>> & { bias?: boolean } = {},
): Attrs => ({
  channels,
  kernel,
  stride: o.stride ?? 1,
  padding: o.padding ?? 0,
  dilation: o.dilation ?? 1,
  groups: o.groups ?? 1,
  bias: o.bias ?? false,
});
const pool = (
  kernel: number,
  stride: number,
  padding = 0,
  ceil_mode = false,
  count_include_pad = true,
): Attrs => ({ kernel, stride, padding, ceil_mode, count_include_pad });

/** A case of an Encoding gradient op: x [N, D, H, W] and dE [N, K, D]. */
const encGrad = (x: Shape, k: number, extra: Partial<Case> = {}): Case => ({
  inputs: [x, [x[0]!, k, x[1]!]],
  attrs: { codewords: k },
  ...extra,
});
/** A case of a group norm gradient op reading dy and x of one shape. */
const gnGrad = (x: Shape, groups: number, eps = 1e-5): Case => ({ inputs: [x, x], attrs: { groups, eps } });

/** The output shape of a pool (`pool` attributes) of x: the incoming gradient of its gradient ops. */
const pooled = (x: Shape, a: Attrs): Shape => {
  const o = (n: number) =>
    windowOut(n, a.kernel as number, a.stride as number, a.padding as number, 1, a.ceil_mode as boolean);
  return [x[0]!, x[1]!, o(x[2]!), o(x[3]!)];
};
/** Cases of the pooling and resize gradient ops for a forward input x: dy (and x for max), forward attrs + in_size. */
const maxGrad = (x: Shape, a: Attrs, extra: Partial<Case> = {}): Case => ({
  inputs: [pooled(x, a), x],
  attrs: a,
  ...extra,
});
const avgGrad = (x: Shape, a: Attrs, extra: Partial<Case> = {}): Case => ({
  inputs: [pooled(x, a)],
  attrs: { ...a, in_size: [x[2]!, x[3]!] },
  ...extra,
});
const adaptiveGrad = (x: Shape, bins: readonly [number, number], extra: Partial<Case> = {}): Case => ({
  inputs: [[x[0]!, x[1]!, ...bins]],
  attrs: { bins, in_size: [x[2]!, x[3]!] },
  ...extra,
});
const resizeGrad = (
  x: Shape,
  size: readonly [number, number],
  align_corners: boolean,
  scale?: number,
  extra: Partial<Case> = {},
): Case => ({
  inputs: [[x[0]!, x[1]!, ...size]],
  attrs: { size, align_corners, ...(scale !== undefined ? { scale } : {}), in_size: [x[2]!, x[3]!] },
  ...extra,
});

/** The incoming gradient dy of a conv (`conv` attributes) of x: the forward's output shape. */
const convOut = (x: Shape, a: Attrs): Shape => {
  const k = a.kernel as number,
    st = a.stride as number,
    p = a.padding as number,
    d = a.dilation as number;
  const o = (n: number) => Math.floor((n + 2 * p - d * (k - 1) - 1) / st) + 1;
  return [x[0]!, a.channels as number, o(x[2]!), o(x[3]!)];
};
/** conv2d_grad_input for a conv of x: dy, the conv's attributes and x's channels and size. */
const convGradInput = (x: Shape, a: Attrs, extra: Partial<Case> = {}): Case => ({
  inputs: [convOut(x, a)],
  attrs: { ...a, in_c: x[1]!, in_h: x[2]!, in_w: x[3]! },
  ...extra,
});
/** conv2d_grad_weight for a conv of x: x and dy. */
const convGradWeight = (x: Shape, a: Attrs, extra: Partial<Case> = {}): Case => ({
  inputs: [x, convOut(x, a)],
  attrs: a,
  ...extra,
});
/** Forward convs whose input gradient the row kernel (conv2d_grad_input.variant 2) can compute. */
const GRAD_ROWS: readonly (readonly [Shape, Attrs])[] = [
  [[1, 8, 8, 12], conv(12, 3, { padding: 1 })],
  [[2, 12, 6, 8], conv(8, 3, { padding: 2, dilation: 2 })],
  [[1, 4, 9, 18], conv(4, 3)], // no padding: the transposed conv pads by 2
  [[1, 8, 5, 8], conv(8, 5, { padding: 2, bias: true })],
  [[1, 20, 7, 16], conv(36, 3, { padding: 1 })], // channel tails past one tile
  [[1, 4, 20, 32], conv(4, 3, { padding: 8, dilation: 8, groups: 4 })], // depthwise: the flipped depthwise rows
  [[2, 8, 12, 16], conv(8, 3, { padding: 1, groups: 8 })],
];
const gradRowsApplies = (c: Case): boolean =>
  c.attrs.stride === 1 &&
  c.attrs.groups === 1 &&
  (c.attrs.kernel as number) > 1 &&
  c.inputs[0]![3]! % 4 === 0 &&
  c.inputs[0]![1]! % 4 === 0 &&
  (c.attrs.in_c as number) % 4 === 0;
/** Depthwise at stride 1: variant 2 is the forward's depthwise row kernel with the kernel flipped. */
const gradRowsDw = (c: Case): boolean => c.attrs.stride === 1 && isDepthwise(c);
/** The workgroup-tiled input gradient (conv2d_grad_input.variant 1: stride 1, groups 1, input channels in fours). */
const gradTiledApplies = (c: Case): boolean =>
  c.attrs.stride === 1 &&
  c.attrs.groups === 1 &&
  (c.attrs.in_c as number) % 4 === 0 &&
  (c.attrs.padding as number) <= ((c.attrs.kernel as number) - 1) * (c.attrs.dilation as number);
const gradTiled = (
  op: 'conv2d_grad_input' | 'conv2d_grad_weight',
  bm: number,
  bn: number,
  bk: number,
  tm: number,
  tn: number,
  vec: 1 | 4,
): Variant => ({
  name: `tiled ${bm}×${bn} k${bk} ${tm}×${tn} vec${vec}`,
  tuning: {
    [`${op}.variant`]: 1,
    [`${op}.wg_bm`]: bm,
    [`${op}.wg_bn`]: bn,
    [`${op}.wg_bk`]: bk,
    [`${op}.wg_tm`]: tm,
    [`${op}.wg_tn`]: tn,
    [`${op}.wg_vec`]: vec,
  },
  // Small tiles make too many workgroups for the tiny grid limit of the grid-splitting cases.
  applies: (c) =>
    (op === 'conv2d_grad_input' ? gradTiledApplies(c) : !isDepthwise(c)) && (bm * bn >= 1024 || !c.limits),
});
const gradRows = (name: string, tuning: Record<string, number>): Variant => ({
  name: `rows ${name}`,
  tuning: { 'conv2d_grad_input.variant': 2, ...tuning },
  applies: gradRowsApplies,
});

/** The forward convs whose gradients are tested: every path of the gradient kernels. */
const CONV_GRAD: readonly (readonly [Shape, Attrs])[] = [
  [[1, 3, 9, 11], conv(5, 3, { padding: 1 })], // Cin 3: scalar weights, channel tails
  [[2, 8, 9, 7], conv(12, 3, { stride: 2, padding: 1 })], // stride 2 on odd sizes, batch 2, vec4 weights
  [[1, 8, 13, 13], conv(8, 3, { padding: 2, dilation: 2 })],
  [[1, 8, 13, 13], conv(8, 3, { padding: 4, dilation: 4 })],
  [[1, 4, 19, 17], conv(6, 3, { padding: 8, dilation: 8, bias: true })],
  [[1, 5, 11, 9], conv(7, 3, { padding: 2, dilation: 2, stride: 2 })], // stride and dilation: phases no tap reaches
  [[1, 4, 7, 7], conv(4, 3)], // no padding
  [[1, 3, 15, 15], conv(4, 7, { stride: 2, padding: 3, bias: true })],
  [[1, 8, 8, 8], conv(6, 3, { padding: 1 })], // vec4 dx stores
  [[1, 6, 10, 10], conv(10, 1)], // 1×1 GEMM: vec4 dy, scalar weights
  [[1, 8, 5, 5], conv(4, 1, { bias: true })], // 1×1 GEMM: scalar dy (25 pixels), vec4 weights
  [[2, 16, 8, 8], conv(20, 1)], // 1×1 GEMM: vec4 both; vec4 dw stores
  [[1, 8, 9, 9], conv(8, 1, { stride: 2 })], // strided 1×1: pixels no tap reaches
  [[1, 8, 11, 9], conv(8, 3, { padding: 1, groups: 8 })], // depthwise
  [[1, 8, 11, 9], conv(8, 3, { padding: 2, dilation: 2, groups: 8 })],
  [[1, 6, 17, 15], conv(6, 3, { padding: 4, dilation: 4, groups: 6, bias: true })],
  [[2, 5, 19, 19], conv(5, 3, { padding: 8, dilation: 8, groups: 5 })],
  [[1, 4, 9, 11], conv(4, 3, { stride: 2, padding: 1, groups: 4 })], // depthwise, stride 2 on odd sizes
  [[1, 4, 6, 8], conv(4, 3, { padding: 1, groups: 4 })], // depthwise, vec4 dx rows
  [[1, 8, 7, 7], conv(6, 3, { padding: 1, groups: 2 })], // grouped
  [[1, 16, 6, 5], conv(8, 3, { padding: 1, groups: 4 })], // grouped, 4 input channels per group
  [[1, 12, 9, 9], conv(24, 1, { groups: 3, bias: true })], // grouped 1×1
  [[2, 4, 33, 31], conv(4, 3, { padding: 1 })], // dw: K split in 7 chunks
  [[2, 8, 16, 16], conv(8, 1)], // dw of a 1×1 (vec4 GEMM over K): K split in 2 chunks
];

/**
 * Kernel variants of an op (tuning records selecting another kernel or tile shape): the GPU op test runs every case
 * of the op that has no tuning of its own under each variant that applies to it, against the same reference. Every
 * variant a tuner may pick (runtime/tune.ts candidates) must be here.
 */
export interface Variant {
  readonly name: string;
  readonly tuning: Readonly<Record<string, number>>;
  /** Which of the op's cases it changes (default: all). */
  readonly applies?: (c: Case) => boolean;
}

const isDepthwise = (c: Case): boolean =>
  (c.attrs.groups as number) > 1 && c.attrs.groups === c.inputs[0]![1] && c.attrs.groups === c.attrs.channels;
/** The workgroup-tiled conv (conv2d.variant 1) with tile bm×bn, slice bk, block tm×tn, load width vec. */
const wgConv = (bm: number, bn: number, bk: number, tm: number, tn: number, vec: 1 | 4): Variant => ({
  name: `tiled ${bm}×${bn} k${bk} ${tm}×${tn} vec${vec}`,
  tuning: {
    'conv2d.variant': 1,
    'conv2d.wg_bm': bm,
    'conv2d.wg_bn': bn,
    'conv2d.wg_bk': bk,
    'conv2d.wg_tm': tm,
    'conv2d.wg_tn': tn,
    'conv2d.wg_vec': vec,
  },
  // Small tiles make too many workgroups for the tiny grid limit of the grid-splitting cases.
  applies: (c) => !isDepthwise(c) && (bm * bn >= 1024 || !c.limits),
});
/**
 * The register-blocked conv (conv2d.variant 0) with tm×tn tiles; `cb` output-channel tiles per workgroup block
 * (default: the emitter's choice).
 */
const regConv = (tm: number, tn: number, cb?: number, wg?: number): Variant => ({
  name: `register ${tm}×${tn}${cb ? ` cb${cb}` : ''}${wg ? ` wg${wg}` : ''}`,
  tuning: {
    'conv2d.variant': 0,
    'conv2d.tm': tm,
    'conv2d.tn': tn,
    ...(cb ? { 'conv2d.cb': cb } : {}),
    ...(wg ? { 'conv2d.wg': wg } : {}),
  },
  applies: (c) => !isDepthwise(c),
});
const byChannelConv = (tm: number, tn: number): Variant => ({
  name: `register ${tm}×${tn} by channel`,
  tuning: { 'conv2d.variant': 0, 'conv2d.tm': tm, 'conv2d.tn': tn, 'conv2d.gemm_order': 1 },
  // The order is the GEMM path's (1×1 unpadded convs, strided ones subsampled first); other convs ignore the key.
  applies: (c) => !isDepthwise(c) && c.attrs.kernel === 1 && c.attrs.padding === 0,
});
const dwRows = (tn: number): Variant => ({
  name: `depthwise rows ${tn}`,
  tuning: { 'conv2d_dw.variant': 1, 'conv2d_dw.tn': tn },
  applies: isDepthwise,
});

/**
 * The row-vectorised conv (conv2d.variant 2) with tm output channels × tn pixels of a row, of `rows` adjacent rows,
 * in workgroups of `wg`; `reuse`: the kernel rows of a step unrolled, each distinct input row loaded once.
 */
const rowsConv = (tm: number, tn: number, rows = 1, wg?: number, reuse = false): Variant => ({
  name: `rows ${tm}×${tn}${rows > 1 ? `×${rows} rows` : ''}${wg ? ` wg${wg}` : ''}${reuse ? ' reuse' : ''}`,
  tuning: {
    'conv2d.variant': 2,
    'conv2d.row_tm': tm,
    'conv2d.row_tn': tn,
    ...(rows > 1 ? { 'conv2d.row_rows': rows } : {}),
    ...(wg ? { 'conv2d.wg': wg } : {}),
    ...(reuse ? { 'conv2d.row_reuse': 1 } : {}),
  },
  applies: (c) => rowKernelApplies(c.inputs[0]!, c.attrs as unknown as ConvAttrs),
});

/**
 * The conv cases the tuner's candidates on top of llvmpipe's fixed defaults run on (what `--tune full` times and
 * picks there: the candidates' tiles with llvmpipe's workgroup sizing): one of each kernel path — scalar weights with
 * a channel tail, stride 2 on odd sizes with batch 2, 1×1 GEMMs with scalar and vec4 loads, a strided 1×1, groups,
 * rows a multiple of 4 at stride 1 and 2.
 */
const LLVMPIPE_SAMPLE = new Set([
  '1,3,9,11',
  '2,8,9,7',
  '1,6,10,10',
  '2,16,8,8',
  '1,8,9,9',
  '1,8,7,7',
  '1,8,12,12',
  '1,8,12,16',
]);
const onLlvmpipe = (
  v: { name: string; tuning: Readonly<Record<string, number>> },
  applies?: (c: Case) => boolean,
): Variant => ({
  name: `${v.name} on llvmpipe defaults`,
  tuning: { ...LLVMPIPE_TUNING, ...v.tuning },
  applies: (c) => LLVMPIPE_SAMPLE.has(c.inputs[0]!.join(',')) && (applies?.(c) ?? true),
});

/**
 * The gradient cases the tuner's gradient candidates on top of llvmpipe's defaults run on, by the forward conv's
 * input: scalar weights with channel tails, stride 2 on odd sizes with batch 2, stride with dilation, 1×1 GEMMs with
 * scalar and vec4 loads, a strided 1×1, groups, K split across samples.
 */
const LLVMPIPE_GRAD_SAMPLE = new Set([
  '1,3,9,11',
  '2,8,9,7',
  '1,5,11,9',
  '1,6,10,10',
  '2,16,8,8',
  '1,8,9,9',
  '1,8,7,7',
  '2,8,16,16',
  '1,8,8,12', // the input gradient's row kernel applies
]);
/** The forward conv's input of a gradient case: dX's shape (grad_input), x (grad_weight). */
const forwardX = (c: Case): Shape =>
  c.attrs.in_c === undefined
    ? c.inputs[0]!
    : [c.inputs[0]![0]!, c.attrs.in_c as number, c.attrs.in_h as number, c.attrs.in_w as number];
const gradOnLlvmpipe = (v: { name: string; tuning: Readonly<Record<string, number>> }): Variant => ({
  name: `${v.name} on llvmpipe defaults`,
  tuning: { ...LLVMPIPE_TUNING, ...v.tuning },
  applies: (c) => LLVMPIPE_GRAD_SAMPLE.has(forwardX(c).join(',')),
});

export const VARIANTS: Readonly<Record<string, readonly Variant[]>> = {
  // Max pooling: the loop kernel, and the unrolled one with 1, 2 or 4 outputs of a row per invocation (the default:
  // 4 or 2 where the row allows).
  maxpool2d: [0, 1, 2, 4].map((per) => ({
    name: per ? `unrolled, ${per} per invocation` : 'loop',
    tuning: { 'maxpool2d.per': per },
  })),
  // Bilinear resize: runs capped at 8 or 4 outputs, or one output per invocation (16: the default).
  resize_bilinear: [1, 4, 8].map((run) => ({
    name: run > 1 ? `runs of at most ${run}` : 'one output per invocation',
    tuning: { 'resize_bilinear.max_run': run },
    applies: (c: Case) => !c.limits, // more workgroups than the grid-splitting cases' tiny limit holds
  })),
  // The tuner's gradient candidates as it times them on llvmpipe, the defaults first (runtime/tune.ts).
  conv2d_grad_input: [
    ...[DEFAULT_CANDIDATE, ...CANDIDATES.gradInput].map(gradOnLlvmpipe),
    gradTiled('conv2d_grad_input', 64, 64, 8, 4, 4, 4), // the forward's default tiling
    gradTiled('conv2d_grad_input', 32, 32, 8, 4, 4, 4),
    gradTiled('conv2d_grad_input', 16, 16, 12, 4, 8, 4), // partial passes of both tile loads
    gradTiled('conv2d_grad_input', 64, 32, 4, 8, 4, 1), // scalar weight loads
    gradRows('default', {}), // 12 channels × 32 pixels (4 on rows ≤ 16 wide)
    gradRows('large', { 'conv2d_grad_input.large': 1 }), // the large row tiles by width
    gradRows('4×32', { 'conv2d_grad_input.row_tm': 4, 'conv2d_grad_input.row_tn': 32 }),
    gradRows('16×16 × 4 rows', {
      'conv2d_grad_input.row_tm': 16,
      'conv2d_grad_input.row_tn': 16,
      'conv2d_grad_input.row_rows': 4,
    }),
    {
      name: 'depthwise rows (flipped kernel)',
      tuning: { 'conv2d_grad_input.variant': 2 },
      applies: gradRowsDw,
    },
    {
      name: 'depthwise rows 4, scalar loads',
      tuning: { 'conv2d_grad_input.variant': 2, 'conv2d_grad_input.dw_tn': 4, 'conv2d_dw.vec': 0 },
      applies: gradRowsDw,
    },
    {
      name: 'depthwise rows 32',
      tuning: { 'conv2d_grad_input.variant': 2, 'conv2d_grad_input.dw_tn': 32 },
      applies: gradRowsDw,
    },
    // Every kernel row of a step unrolled, each distinct row of dy loaded once (rows past the plane's end too).
    gradRows('8×8 × 3 rows reuse, 8 invocations', {
      'conv2d_grad_input.row_tm': 8,
      'conv2d_grad_input.row_tn': 8,
      'conv2d_grad_input.row_rows': 3,
      'conv2d_grad_input.row_reuse': 1,
      'conv2d.min_workgroups': 64,
    }),
    gradRows('8×8 × 3 rows, 8 invocations', {
      'conv2d_grad_input.row_tm': 8,
      'conv2d_grad_input.row_tn': 8,
      'conv2d_grad_input.row_rows': 3,
      'conv2d.min_workgroups': 64,
    }),
  ],
  conv2d_grad_weight: [
    ...[DEFAULT_CANDIDATE, ...CANDIDATES.gradWeight].map(gradOnLlvmpipe),
    gradTiled('conv2d_grad_weight', 64, 64, 8, 4, 4, 4), // the forward's default tiling
    gradTiled('conv2d_grad_weight', 32, 32, 8, 4, 4, 4),
    gradTiled('conv2d_grad_weight', 16, 16, 12, 4, 8, 4), // partial passes of both tile loads
    gradTiled('conv2d_grad_weight', 64, 32, 4, 8, 4, 1), // scalar stores
    {
      name: 'tiled 32×32, K in 3 chunks',
      tuning: {
        'conv2d_grad_weight.variant': 1,
        'conv2d_grad_weight.wg_bm': 32,
        'conv2d_grad_weight.wg_bn': 32,
        'conv2d_grad_weight.splits': 3,
      },
      applies: (c) => !isDepthwise(c) && !c.limits,
    },
  ],
  conv2d: [
    // The tuner's candidates as it times them on llvmpipe (on top of the adapter's defaults), the defaults first.
    onLlvmpipe(DEFAULT_CANDIDATE),
    ...CANDIDATES.conv.map((c) =>
      onLlvmpipe(
        c,
        c.tuning['conv2d.variant'] === 2
          ? (k) => rowKernelApplies(k.inputs[0]!, k.attrs as unknown as ConvAttrs)
          : (k) => !isDepthwise(k),
      ),
    ),
    {
      // The small default tiling (12 channels × 32 pixels; 4 channels where rows are at most 16 wide).
      name: 'rows default',
      tuning: { 'conv2d.variant': 2 },
      applies: (c) => rowKernelApplies(c.inputs[0]!, c.attrs as unknown as ConvAttrs),
    },
    {
      // The large defaults as llvmpipe runs them (conv2d.large: every conv is large here): rows 16×32 × 2 rows /
      // 16×16 × 4 rows / 16×8 × 8 rows by row width where the row-vectorised kernel applies, register 32×32 (16×16 with
      // few tiles) elsewhere; workgroups shrunk (down to 8 invocations) until a dispatch has at least 4.
      name: 'large defaults, 4 workgroups',
      tuning: { 'conv2d.variant': 2, 'conv2d.large': 1, 'conv2d.min_workgroups': 4 },
      applies: (c) => !isDepthwise(c),
    },
    rowsConv(4, 32), // the tuner's candidates
    rowsConv(8, 16),
    rowsConv(16, 16),
    rowsConv(16, 32),
    rowsConv(32, 32),
    rowsConv(3, 4), // one vec4 per row, odd channel count
    rowsConv(16, 8, 8), // several output rows per invocation (the large defaults)
    rowsConv(16, 16, 4),
    rowsConv(16, 32, 2),
    rowsConv(32, 32, 2),
    rowsConv(4, 8, 3, 8), // 3 rows (tails where the plane's rows are not a multiple), 8 invocations a workgroup
    // Every kernel row of a step unrolled, each distinct input row loaded once: one row, odd channels; rows shared
    // by several output rows (stride 1 and 2) and rows past the plane's end; several output rows at dilation > 1.
    rowsConv(3, 4, 1, undefined, true),
    rowsConv(16, 32, 2, undefined, true),
    rowsConv(4, 8, 3, 8, true),
    rowsConv(8, 8, 8, undefined, true), // the tuner's reuse candidates (llvmpipe's defaults on narrow rows)
    rowsConv(8, 16, 4, undefined, true),
    // The register-blocked variant 0: the tuner's tiles (in its default work order), then other work orders:
    // channel blocks of 1 (a workgroup is 64 pixel tiles) and of 64 (more than most cases have channel tiles).
    regConv(16, 8),
    regConv(16, 16),
    regConv(32, 16),
    regConv(32, 32),
    regConv(4, 4, 1),
    regConv(4, 4, 64),
    regConv(16, 8, 2),
    regConv(32, 32, undefined, 8),
    regConv(64, 32),
    // 1×1 GEMM steps by output channel (`conv2d.gemm_order` 1, llvmpipe's default): balanced channel tails, and
    // the tuner's 64×32 as llvmpipe runs it.
    byChannelConv(12, 8),
    byChannelConv(64, 32),
    {
      // llvmpipe's fixed defaults with every conv large: the GEMM tiers (64×32, 32×32, 16×16 by the workgroups
      // they leave), steps by output channel, the row tiles by row width.
      name: 'llvmpipe defaults, every conv large',
      tuning: { ...LLVMPIPE_TUNING, 'conv2d.large': 1 },
      applies: (c) => !isDepthwise(c),
    },
    {
      // The kernels as they were before the blocked order and the per-accumulator FMA order (bench/order.bench.ts
      // measures against them): pixel tiles fastest, FMAs interleaved with the loads.
      name: 'register 16×8 legacy order',
      tuning: {
        'conv2d.variant': 0,
        'conv2d.tm': 16,
        'conv2d.tn': 8,
        'conv2d.cb': 0,
        'conv2d.interleave': 1,
      },
      applies: (c) => !isDepthwise(c),
    },
    {
      name: 'rows 12×32 interleaved',
      tuning: { 'conv2d.variant': 2, 'conv2d.row_tm': 12, 'conv2d.row_tn': 32, 'conv2d.interleave': 1 },
      applies: (c) => rowKernelApplies(c.inputs[0]!, c.attrs as unknown as ConvAttrs),
    },
    {
      name: 'subsampled, then the GEMM',
      tuning: { 'conv2d.sub': 1 },
      applies: (c) => c.attrs.kernel === 1 && (c.attrs.stride as number) > 1 && c.attrs.padding === 0,
    },
    {
      name: 'subsampled, then the GEMM 32×32 on llvmpipe defaults',
      tuning: { ...LLVMPIPE_TUNING, 'conv2d.sub': 1, 'conv2d.tm': 32, 'conv2d.tn': 32 },
      applies: (c) => c.attrs.kernel === 1 && (c.attrs.stride as number) > 1 && c.attrs.padding === 0,
    },
    wgConv(64, 64, 8, 4, 4, 4), // the default tiling: 256 invocations
    wgConv(32, 32, 8, 4, 4, 4), // 64 invocations, B tile in one pass
    wgConv(64, 64, 16, 8, 8, 4), // 8×8 blocks
    wgConv(64, 32, 4, 8, 4, 1), // scalar loads; more B rows per pass than the slice has
    wgConv(16, 16, 12, 4, 8, 4), // 8 invocations, a slice of 12: partial passes of both tile loads
    dwRows(4),
    dwRows(8),
    dwRows(12),
    dwRows(16),
    dwRows(32),
  ],
};

export const CASES: Record<string, readonly Case[]> = {
  conv2d: [
    { inputs: [[1, 3, 9, 11]], attrs: conv(5, 3, { padding: 1 }) }, // Cin 3, Cout 5: scalar weights, channel tail
    { inputs: [[2, 8, 9, 7]], attrs: conv(12, 3, { stride: 2, padding: 1 }) }, // stride 2 on odd sizes, batch 2, vec4 weights
    { inputs: [[1, 8, 13, 13]], attrs: conv(8, 3, { padding: 2, dilation: 2 }) },
    { inputs: [[1, 8, 13, 13]], attrs: conv(8, 3, { padding: 4, dilation: 4 }) },
    { inputs: [[1, 4, 19, 17]], attrs: conv(6, 3, { padding: 8, dilation: 8, bias: true }) },
    { inputs: [[1, 5, 11, 9]], attrs: conv(7, 3, { padding: 2, dilation: 2, stride: 2 }) },
    { inputs: [[1, 4, 7, 7]], attrs: conv(4, 3) }, // no padding
    { inputs: [[1, 3, 15, 15]], attrs: conv(4, 7, { stride: 2, padding: 3, bias: true }) },
    { inputs: [[1, 6, 10, 10]], attrs: conv(10, 1) }, // 1×1 GEMM: vec4 pixels, scalar weights
    { inputs: [[1, 8, 5, 5]], attrs: conv(4, 1, { bias: true }) }, // 1×1 GEMM: scalar pixels (25), vec4 weights
    { inputs: [[2, 16, 8, 8]], attrs: conv(20, 1) }, // 1×1 GEMM: vec4 both
    { inputs: [[1, 8, 9, 9]], attrs: conv(8, 1, { stride: 2 }) }, // strided 1×1 (downsample)
    // Rows a multiple of 4 wide with input channels not in fours: the row kernel steps one channel at a time with
    // scalar weights (a stem's 3 channels at stride 2, 6 channels with a bias, 2 channels per group).
    { inputs: [[1, 3, 16, 16]], attrs: conv(8, 3, { stride: 2, padding: 1, bias: true }) },
    { inputs: [[2, 6, 8, 12]], attrs: conv(10, 3, { padding: 1 }) },
    { inputs: [[1, 4, 6, 8]], attrs: conv(6, 3, { padding: 1, groups: 2 }) },
    // Strided 1×1 convs subsampled into a dense copy first (conv2d.sub): vec4 loads and stores (rows of 16 → 8),
    // scalar loads of stride 3, rows of 8 at batch 2 with a channel tail past one tile.
    { inputs: [[1, 8, 16, 16]], attrs: conv(12, 1, { stride: 2, bias: true }) },
    { inputs: [[1, 4, 12, 14]], attrs: conv(8, 1, { stride: 3 }) },
    { inputs: [[2, 20, 8, 8]], attrs: conv(36, 1, { stride: 2 }) },
    { inputs: [[1, 8, 11, 9]], attrs: conv(8, 3, { padding: 1, groups: 8 }) }, // depthwise
    { inputs: [[1, 8, 11, 9]], attrs: conv(8, 3, { padding: 2, dilation: 2, groups: 8 }) },
    { inputs: [[1, 6, 17, 15]], attrs: conv(6, 3, { padding: 4, dilation: 4, groups: 6, bias: true }) },
    { inputs: [[2, 5, 19, 19]], attrs: conv(5, 3, { padding: 8, dilation: 8, groups: 5 }) },
    // Depthwise on rows a multiple of 4 wide at stride 1: vec4 row loads, the first tap 3, 2, 1 or 0 columns
    // into its vec4 (padding 1, 2, 3 or 4/8), taps reaching past both ends of the row, tiles wider than the row.
    { inputs: [[1, 8, 12, 16]], attrs: conv(8, 3, { padding: 1, groups: 8 }) },
    { inputs: [[1, 6, 10, 12]], attrs: conv(6, 3, { padding: 2, dilation: 2, groups: 6, bias: true }) },
    { inputs: [[2, 5, 9, 8]], attrs: conv(5, 3, { padding: 4, dilation: 4, groups: 5 }) },
    { inputs: [[1, 4, 20, 32]], attrs: conv(4, 3, { padding: 8, dilation: 8, groups: 4 }) },
    { inputs: [[1, 3, 8, 4]], attrs: conv(3, 7, { padding: 3, groups: 3 }) },
    { inputs: [[1, 4, 7, 12]], attrs: conv(4, 5, { padding: 1, groups: 4 }) }, // no "same" padding: 10 outputs a row
    { inputs: [[1, 4, 9, 11]], attrs: conv(4, 3, { stride: 2, padding: 1, groups: 4 }) },
    { inputs: [[1, 8, 7, 7]], attrs: conv(6, 3, { padding: 1, groups: 2 }) }, // grouped
    { inputs: [[1, 16, 6, 5]], attrs: conv(8, 3, { padding: 1, groups: 4 }) }, // grouped, 4 input channels per group
    { inputs: [[1, 12, 9, 9]], attrs: conv(24, 1, { groups: 3, bias: true }) }, // grouped 1×1
    { inputs: [[2, 8, 23, 23]], attrs: conv(12, 3, { padding: 1 }), limits: SPLIT },
    { inputs: [[1, 8, 11, 9]], attrs: conv(8, 3, { padding: 1, groups: 8 }), limits: SPLIT },
    // Larger than one workgroup tile of the tiled variant in channels, pixels and K, with tails of each.
    { inputs: [[1, 37, 13, 11]], attrs: conv(70, 3, { padding: 1 }) }, // K = 333, 2 channel tiles
    { inputs: [[2, 20, 17, 9]], attrs: conv(66, 1) }, // 1×1 GEMM, 153 pixels: scalar pixel loads
    { inputs: [[1, 24, 12, 12]], attrs: conv(40, 1, { bias: true }) }, // 1×1 GEMM, vec4 both
    { inputs: [[1, 6, 15, 13]], attrs: conv(130, 3, { stride: 2, padding: 2, dilation: 2, groups: 2 }) },
    { inputs: [[1, 16, 35, 33]], attrs: conv(12, 3, { padding: 1, bias: true }) }, // 1155 pixels
    // Rows a multiple of 4 wide (what the row-vectorised variant 2 runs): every padding, dilation, a channel tail,
    // rows not a multiple of the tile (tails), no padding, a 5×5 kernel, groups, bias.
    { inputs: [[1, 8, 12, 12]], attrs: conv(10, 3, { padding: 1 }) },
    { inputs: [[2, 4, 9, 20]], attrs: conv(6, 3, { padding: 2, dilation: 2, bias: true }) },
    { inputs: [[1, 8, 10, 8]], attrs: conv(8, 3, { padding: 4, dilation: 4 }) },
    { inputs: [[1, 4, 19, 16]], attrs: conv(5, 3, { padding: 8, dilation: 8 }) },
    { inputs: [[1, 8, 8, 12]], attrs: conv(7, 3) }, // 10 output columns: scalar stores
    { inputs: [[1, 16, 6, 8]], attrs: conv(8, 3, { padding: 1, groups: 2 }) },
    { inputs: [[1, 8, 9, 36]], attrs: conv(12, 5, { padding: 2, bias: true }) },
    { inputs: [[1, 12, 7, 4]], attrs: conv(9, 3, { padding: 3, dilation: 3 }) }, // padding not a multiple of 4
    // Stride 2 on rows a multiple of 4 (the row-vectorised kernel reads every other column): ResNet's 3×3 and 1×1
    // downsampling shapes, odd output sizes, no padding, dilation, bias, batch 2, a 40-wide row (two row tiles).
    { inputs: [[1, 8, 12, 16]], attrs: conv(12, 3, { stride: 2, padding: 1 }) },
    { inputs: [[2, 8, 10, 8]], attrs: conv(8, 1, { stride: 2, bias: true }) },
    { inputs: [[1, 4, 9, 20]], attrs: conv(6, 3, { stride: 2, padding: 2, dilation: 2, bias: true }) },
    { inputs: [[1, 8, 11, 12]], attrs: conv(5, 3, { stride: 2 }) },
    { inputs: [[1, 4, 6, 80]], attrs: conv(4, 3, { stride: 2, padding: 1 }) },
    // Winograd F(2×2, 3×3) and F(4×4, 3×3) (`conv2d.winograd`, compiler/codegen/wgsl/winograd.ts), each where it
    // applies, with the emitters' GEMM, llvmpipe's and the workgroup-tiled one: batch 2 with a bias; an output-channel
    // tail (5) on a map only F(2,3) tiles; 64 input channels (F(4,3) rounds more).
    ...(
      [
        [[2, 8, 8, 16], conv(12, 3, { padding: 1, bias: true })],
        [[1, 4, 6, 24], conv(5, 3, { padding: 1 })],
        [[1, 64, 4, 16], conv(8, 3, { padding: 1 })],
      ] as const
    ).flatMap(([x, a]) =>
      WINOGRAD_TILES.filter((m) => !winogradProblem(x, a as unknown as ConvAttrs, m)).flatMap((m) =>
        [{}, LLVMPIPE_TUNING, { 'conv2d.variant': 1 }].map((t): Case => ({
          inputs: [[...x]],
          attrs: a,
          tuning: { ...t, 'conv2d.winograd': m },
        })),
      ),
    ),
    // llvmpipe's defaults on a map 128 wide: F(4×4) without a key (`conv2d.winograd_wide`), with a bias.
    { inputs: [[1, 8, 4, 128]], attrs: conv(12, 3, { padding: 1, bias: true }), tuning: LLVMPIPE_TUNING },
    // Register-blocking variants of the implicit GEMM and the 1×1 GEMM.
    ...[
      [4, 4],
      [3, 4],
      [16, 4],
      [8, 16],
      [16, 8],
    ].flatMap(([tm, tn]) => [
      {
        inputs: [[1, 8, 9, 7]],
        attrs: conv(12, 3, { stride: 2, padding: 1 }),
        tuning: { 'conv2d.tm': tm!, 'conv2d.tn': tn! },
      },
      {
        inputs: [[1, 5, 11, 9]],
        attrs: conv(7, 3, { padding: 2, dilation: 2 }),
        tuning: { 'conv2d.tm': tm!, 'conv2d.tn': tn! },
      },
      {
        inputs: [[1, 8, 6, 6]],
        attrs: conv(20, 1, { bias: true }),
        tuning: { 'conv2d.tm': tm!, 'conv2d.tn': tn! },
      },
    ]),
  ],
  conv2d_grad_input: [
    ...CONV_GRAD.map(([x, a]) => convGradInput(x, a)),
    // Where variant 2 (the row kernel on the transposed weight) applies: stride 1, groups 1, dy rows and both
    // channel counts multiples of 4 — "same" and valid padding, dilation, a 5×5 kernel, channel tails, batch 2.
    ...GRAD_ROWS.map(([x, a]) => convGradInput(x, a)),
    convGradInput([2, 32, 23, 23], conv(12, 3, { padding: 1 }), { limits: SPLIT }),
    convGradInput([1, 8, 11, 9], conv(8, 3, { padding: 1, groups: 8 }), { limits: SPLIT }),
    // Register-blocking variants (input channels × pixels per invocation).
    ...[
      [4, 4],
      [3, 4],
      [16, 4],
      [8, 16],
      [16, 8],
    ].flatMap(([tm, tn]) =>
      (
        [
          [[1, 8, 9, 7], conv(12, 3, { stride: 2, padding: 1 })],
          [[1, 5, 11, 9], conv(7, 3, { padding: 2, dilation: 2 })],
          [[1, 20, 6, 6], conv(8, 1)],
        ] as const
      ).map(([x, a]) =>
        convGradInput(x, a, { tuning: { 'conv2d_grad_input.tm': tm!, 'conv2d_grad_input.tn': tn! } }),
      ),
    ),
    // llvmpipe's switch to the large tiles from 64 channels (input and output).
    convGradInput([1, 64, 7, 9], conv(64, 3, { padding: 1 }), { tuning: { 'conv2d_grad_input.large': 64 } }),
    // The large tiles llvmpipe defaults to, on channels and pixels beyond one tile (with tails).
    ...[
      [16, 16],
      [16, 32],
    ].flatMap(([tm, tn]) =>
      (
        [
          [[1, 40, 9, 10], conv(12, 3, { padding: 1 })],
          [[1, 36, 8, 9], conv(20, 1)],
        ] as const
      ).map(([x, a]) =>
        convGradInput(x, a, { tuning: { 'conv2d_grad_input.tm': tm!, 'conv2d_grad_input.tn': tn! } }),
      ),
    ),
  ],
  conv2d_grad_weight: [
    ...CONV_GRAD.map(([x, a]) => convGradWeight(x, a)),
    convGradWeight([2, 16, 23, 23], conv(32, 3, { padding: 1 }), { limits: SPLIT }), // both passes split
    convGradWeight([2, 8, 16, 16], conv(12, 1), { tuning: { 'conv2d_grad_weight.splits': 3 } }), // chunks across samples
    convGradWeight([1, 64, 9, 9], conv(64, 3, { padding: 1, groups: 64 }), {
      limits: SPLIT,
      tuning: { 'conv2d_grad_weight.splits': 5 },
    }),
    // Register-blocking variants (output × input channels per invocation) and forced K splits.
    ...[
      [4, 4, 1],
      [3, 5, 2],
      [16, 8, 3],
      [8, 16, 1],
      [8, 8, 9],
      [16, 32, 1], // the large tiles llvmpipe defaults to
      [16, 32, 3],
    ].flatMap(([tm, tn, splits]) =>
      (
        [
          [[1, 8, 9, 7], conv(12, 3, { stride: 2, padding: 1 })],
          [[1, 5, 11, 9], conv(7, 3, { padding: 2, dilation: 2 })],
          [[1, 20, 6, 6], conv(8, 1)],
          [[2, 6, 9, 9], conv(6, 5, { padding: 4, dilation: 2, groups: 6 })], // depthwise, 25 taps: 2 tap tiles
        ] as const
      ).map(([x, a]) =>
        convGradWeight(x, a, {
          tuning: {
            'conv2d_grad_weight.tm': tm!,
            'conv2d_grad_weight.tn': tn!,
            'conv2d_grad_weight.splits': splits!,
          },
        }),
      ),
    ),
    // llvmpipe's switch to the large tiles from 64 channels: above it, and below it (small tiles).
    convGradWeight([1, 64, 6, 8], conv(72, 3, { padding: 1 }), {
      tuning: { 'conv2d_grad_weight.large': 64 },
    }),
    convGradWeight([1, 40, 6, 8], conv(72, 3, { padding: 1 }), {
      tuning: { 'conv2d_grad_weight.large': 64 },
    }),
    // 16×32 on channels beyond one tile (with tails), 3×3 and 1×1.
    ...(
      [
        [[1, 40, 9, 8], conv(36, 3, { padding: 1 })],
        [[1, 70, 6, 8], conv(20, 1)],
      ] as const
    ).map(([x, a]) =>
      convGradWeight(x, a, { tuning: { 'conv2d_grad_weight.tm': 16, 'conv2d_grad_weight.tn': 32 } }),
    ),
  ],
  conv2d_grad_bias: [
    { inputs: [[2, 5, 7, 9]], attrs: {} }, // scalar loads
    { inputs: [[1, 12, 4, 4]], attrs: {} }, // vec4 loads
    { inputs: [[2, 3, 33, 31]], attrs: {} }, // many values per invocation
    { inputs: [[2, 12, 5, 5]], attrs: {}, limits: SPLIT },
  ],
  linear: [
    { inputs: [[2, 7]], attrs: { features: 5, bias: true } },
    { inputs: [[3, 8]], attrs: { features: 4, bias: false } },
    { inputs: [[1, 64]], attrs: { features: 33, bias: true } },
  ],
  batchnorm: [
    { inputs: [[2, 5, 3, 3]], attrs: { eps: 1e-5, momentum: 0.1 } },
    { inputs: [[2, 4, 4, 4]], attrs: { eps: 1e-5, momentum: 0.1 } },
    { inputs: [[3, 6]], attrs: { eps: 1e-3, momentum: 0.1 } }, // BatchNorm1d on [N, C]
    { inputs: [[2, 4, 5]], attrs: { eps: 1e-5, momentum: 0.1 } }, // BatchNorm1d on [N, C, L]
    { inputs: [[2, 6, 7, 5]], attrs: { eps: 1e-5, momentum: 0.1 }, limits: SPLIT },
  ],
  groupnorm: [
    { inputs: [[2, 8, 5, 5]], attrs: { groups: 4, eps: 1e-5 } },
    { inputs: [[1, 6, 4, 4]], attrs: { groups: 2, eps: 1e-5 } },
    { inputs: [[1, 32, 3, 3]], attrs: { groups: 32, eps: 1e-5 } },
    { inputs: [[1, 4, 33, 31]], attrs: { groups: 1, eps: 1e-5 } }, // more values than the workgroup
    { inputs: [[2, 8, 3, 3]], attrs: { groups: 4, eps: 1e-5 }, limits: SPLIT },
  ],
  relu: [
    { inputs: [[2, 3, 5, 7]], attrs: {} },
    { inputs: [[1, 4, 4, 4]], attrs: {} },
    { inputs: [[2, 3, 9, 9]], attrs: {}, limits: SPLIT },
  ],
  sigmoid: [
    { inputs: [[2, 3, 5, 7]], attrs: {} },
    { inputs: [[1, 4, 4, 4]], attrs: {} },
    { inputs: [[3, 5]], attrs: {} },
  ],
  add: [
    {
      inputs: [
        [2, 3, 5, 7],
        [2, 3, 5, 7],
      ],
      attrs: {},
    },
    {
      inputs: [
        [1, 4, 4, 4],
        [1, 4, 4, 4],
      ],
      attrs: {},
    },
  ],
  mul: [
    {
      inputs: [
        [2, 3, 5, 7],
        [2, 3, 5, 7],
      ],
      attrs: {},
    },
    {
      inputs: [
        [2, 3, 5, 5],
        [2, 3],
      ],
      attrs: {},
    }, // per-channel factor [N, C]
    {
      inputs: [
        [2, 4, 4, 4],
        [2, 4, 1, 1],
      ],
      attrs: {},
    }, // per-channel factor [N, C, 1, 1], vec4
    {
      inputs: [
        [2, 5, 9, 7],
        [2, 5],
      ],
      attrs: {},
      limits: SPLIT,
    },
  ],
  maxpool2d: [
    { inputs: [[1, 3, 9, 9]], attrs: pool(3, 2, 1) },
    { inputs: [[2, 2, 10, 7]], attrs: pool(3, 2, 1) },
    { inputs: [[1, 2, 8, 8]], attrs: pool(3, 2, 0, true) }, // ceil_mode: partial last window
    { inputs: [[1, 2, 7, 7]], attrs: pool(2, 2, 0, true) },
    { inputs: [[1, 3, 6, 6]], attrs: pool(2, 2) },
    { inputs: [[1, 3, 7, 9]], attrs: pool(3, 1, 1) }, // stride 1: overlapping windows
    { inputs: [[1, 2, 6, 10]], attrs: pool(3, 1, 1) }, // stride 1, 2 outputs per invocation
    { inputs: [[2, 3, 9, 14]], attrs: pool(4, 2, 2) }, // even kernel, padding 2: clamped taps on both sides
    { inputs: [[1, 2, 11, 11]], attrs: pool(5, 2, 2) }, // a window too large to unroll: the loop
  ],
  avgpool2d: [
    { inputs: [[1, 3, 9, 9]], attrs: pool(3, 2, 1, false, true) },
    { inputs: [[1, 3, 9, 9]], attrs: pool(3, 2, 1, false, false) },
    { inputs: [[1, 2, 8, 8]], attrs: pool(3, 2, 1, true, true) }, // ceil_mode with padding
    { inputs: [[1, 2, 8, 8]], attrs: pool(3, 2, 0, true, true) },
    { inputs: [[2, 2, 7, 6]], attrs: pool(2, 2) },
    { inputs: [[1, 2, 8, 8]], attrs: pool(3, 2, 1, true, false) }, // ceil_mode, padding not counted
  ],
  adaptive_avgpool2d: [
    { inputs: [[1, 3, 10, 13]], attrs: { bins: [1, 1] } },
    { inputs: [[1, 3, 10, 13]], attrs: { bins: [2, 2] } },
    { inputs: [[1, 3, 10, 13]], attrs: { bins: [3, 3] } },
    { inputs: [[2, 2, 10, 13]], attrs: { bins: [6, 6] } },
    { inputs: [[1, 2, 5, 4]], attrs: { bins: [6, 6] } }, // more bins than pixels: overlapping bins
    { inputs: [[1, 2, 7, 7]], attrs: { bins: [3, 3] } }, // 7 → 3: overlapping bins
  ],
  resize_bilinear: [
    { inputs: [[1, 2, 5, 7]], attrs: { size: [11, 13], align_corners: true } },
    { inputs: [[1, 2, 5, 7]], attrs: { size: [11, 13], align_corners: false } },
    { inputs: [[2, 3, 13, 11]], attrs: { size: [4, 5], align_corners: true } },
    { inputs: [[2, 3, 13, 11]], attrs: { size: [4, 5], align_corners: false } },
    { inputs: [[1, 2, 5, 5]], attrs: { size: [10, 10], align_corners: false, scale: 2 } },
    { inputs: [[1, 2, 9, 9]], attrs: { size: [4, 4], align_corners: false, scale: 0.5 } },
    { inputs: [[1, 2, 6, 6]], attrs: { size: [15, 15], align_corners: true, scale: 2.5 } },
    { inputs: [[1, 2, 4, 6]], attrs: { size: [1, 1], align_corners: true } },
    { inputs: [[1, 2, 3, 4]], attrs: { size: [24, 32], align_corners: false } }, // ×8 up
    { inputs: [[1, 2, 3, 4]], attrs: { size: [24, 32], align_corners: true } },
    { inputs: [[2, 3, 8, 8]], attrs: { size: [32, 64], align_corners: true }, limits: SPLIT },
    // Rows a multiple of 4, upsampling: runs of 16, 8 or 4 outputs per invocation from at most 8 loaded columns
    // (resizeRun), scales up to the bound, and past it (one output per invocation again).
    { inputs: [[1, 3, 7, 9]], attrs: { size: [13, 20], align_corners: true } },
    { inputs: [[1, 3, 7, 9]], attrs: { size: [13, 20], align_corners: false } },
    { inputs: [[2, 2, 16, 16]], attrs: { size: [32, 32], align_corners: false, scale: 2 } },
    { inputs: [[1, 1, 5, 7]], attrs: { size: [8, 12], align_corners: true } },
    { inputs: [[1, 1, 5, 7]], attrs: { size: [8, 12], align_corners: false } },
    { inputs: [[1, 2, 6, 11]], attrs: { size: [9, 16], align_corners: false } }, // scale 0.6875: runs of 8, 7 columns
    { inputs: [[1, 2, 5, 6]], attrs: { size: [10, 24], align_corners: true } }, // 24 wide: runs of 8
    { inputs: [[1, 2, 7, 9]], attrs: { size: [11, 12], align_corners: false } }, // scale 0.75: one per invocation
    { inputs: [[1, 2, 13, 17]], attrs: { size: [6, 8], align_corners: false } }, // downsampling: one per invocation
    { inputs: [[2, 3, 3, 4]], attrs: { size: [24, 32], align_corners: true }, limits: SPLIT },
  ],
  concat: [
    {
      inputs: [
        [1, 3, 5, 5],
        [1, 1, 5, 5],
        [1, 4, 5, 5],
        [1, 2, 5, 5],
        [1, 5, 5, 5],
      ],
      attrs: { axis: 1 },
    }, // five inputs
    {
      inputs: [
        [1, 3, 5, 5],
        [1, 1, 5, 5],
        [1, 4, 5, 5],
        [1, 2, 5, 5],
        [1, 5, 5, 5],
      ],
      attrs: { axis: 1 },
      limits: { maxStorageBuffersPerShaderStage: 3 },
    }, // split in three dispatches
    {
      inputs: [
        [2, 4, 4, 4],
        [2, 8, 4, 4],
      ],
      attrs: { axis: 1 },
    }, // vec4
    {
      inputs: [
        [2, 3, 2, 5],
        [2, 3, 4, 5],
      ],
      attrs: { axis: 2 },
    },
    {
      inputs: [
        [2, 3, 9, 9],
        [2, 5, 9, 9],
        [2, 1, 9, 9],
      ],
      attrs: { axis: 1 },
      limits: SPLIT,
    },
    {
      inputs: [
        [2, 3],
        [2, 5],
        [2, 1],
      ],
      attrs: { axis: 1 },
    },
  ],
  mean: [
    { inputs: [[2, 5, 7]], attrs: { axis: 1 } },
    { inputs: [[2, 3, 8]], attrs: { axis: 1 } }, // vec4 rows
    { inputs: [[3, 4, 5]], attrs: { axis: 0 } },
    { inputs: [[2, 3, 5]], attrs: { axis: 2 } },
  ],
  dropout: [
    { inputs: [[1, 3, 5, 5]], attrs: { p: 0.1, channelwise: true } },
    { inputs: [[2, 4, 4, 4]], attrs: { p: 0.5, channelwise: false } },
  ],
  channel_mean: [
    { inputs: [[2, 5, 3, 3]], attrs: {} },
    { inputs: [[3, 6]], attrs: {} },
    { inputs: [[2, 4, 5]], attrs: {} },
    { inputs: [[2, 6, 7, 5]], attrs: {}, limits: SPLIT },
  ],
  channel_var: [
    { inputs: [[2, 5, 3, 3]], attrs: {} },
    { inputs: [[3, 6]], attrs: {} },
    { inputs: [[1, 3, 33, 31]], attrs: {} }, // more elements per channel than the workgroup
    { inputs: [[2, 6, 7, 5]], attrs: {}, limits: SPLIT },
  ],
  channel_broadcast: [
    { inputs: [[5]], attrs: { shape: [2, 5, 3, 3], scale: 0.25 } },
    { inputs: [[8]], attrs: { shape: [2, 8, 4, 4], scale: 1 / 32 } }, // vec4
  ],
  var_grad: [
    { inputs: [[2, 5, 3, 3], [5], [5]], attrs: { count: 18 } },
    { inputs: [[2, 4, 4, 4], [4], [4]], attrs: { count: 32 } },
  ],
  bn_norm: [
    { inputs: [[2, 5, 3, 3], [5], [5]], attrs: { eps: 1e-5 }, ranges: { 2: [0.1, 2] } },
    { inputs: [[2, 4, 4, 4], [4], [4]], attrs: { eps: 1e-5 }, ranges: { 2: [0.1, 2] } },
    { inputs: [[3, 6], [6], [6]], attrs: { eps: 1e-3 }, ranges: { 2: [0.1, 2] } },
  ],
  bn_norm_grad_sums: [
    { inputs: [[2, 5, 3, 3], [2, 5, 3, 3], [5], [5]], attrs: { eps: 1e-5 }, ranges: { 3: [0.1, 2] } },
    { inputs: [[1, 3, 33, 31], [1, 3, 33, 31], [3], [3]], attrs: { eps: 1e-5 }, ranges: { 3: [0.1, 2] } },
    {
      inputs: [[2, 6, 3, 3], [2, 6, 3, 3], [6], [6]],
      attrs: { eps: 1e-5 },
      ranges: { 3: [0.1, 2] },
      limits: SPLIT,
    },
  ],
  take_row: [
    { inputs: [[2, 7]], attrs: { row: 1 } },
    { inputs: [[3, 5]], attrs: { row: 0 } },
  ],
  bn_norm_grad_x: [
    { inputs: [[2, 5, 3, 3], [5]], attrs: { eps: 1e-5 }, ranges: { 1: [0.1, 2] } },
    { inputs: [[2, 4, 4, 4], [4]], attrs: { eps: 1e-5 }, ranges: { 1: [0.1, 2] } },
  ],
  bn_grad_mean: [{ inputs: [[7], [7]], attrs: { eps: 1e-5 }, ranges: { 1: [0.1, 2] } }],
  bn_grad_var: [{ inputs: [[7], [7]], attrs: { eps: 1e-5 }, ranges: { 1: [0.1, 2] } }],
  running_stat: [{ inputs: [[7], [7]], attrs: { momentum: 0.1, correction: 1.5 } }],
  dropout_train: [
    { inputs: [[2, 3, 5, 7], [4]], attrs: { p: 0.3, channelwise: false, key: 7 }, integers: { 1: [0, 99] } },
    { inputs: [[2, 4, 4, 4], [4]], attrs: { p: 0.5, channelwise: true, key: 3 }, integers: { 1: [0, 99] } },
    { inputs: [[2, 4, 4, 4], [4]], attrs: { p: 0.1, channelwise: false, key: 11 }, integers: { 1: [0, 99] } }, // vec4 lanes
  ],
  ce_loss: [
    {
      inputs: [
        [2, 5, 3, 4],
        [2, 3, 4],
      ],
      attrs: { ignore: -1 },
      integers: { 1: [-1, 4] },
    },
    {
      inputs: [
        [1, 3, 17, 19],
        [1, 17, 19],
      ],
      attrs: { ignore: -1 },
      integers: { 1: [-1, 2] },
    }, // several blocks
  ],
  ce_grad: [
    {
      inputs: [[2, 5, 3, 4], [2, 3, 4], [2], [2]],
      attrs: { ignore: -1 },
      integers: { 1: [-1, 4], 2: [1, 9] },
    },
  ],
  class_presence: [
    { inputs: [[2, 3, 4]], attrs: { classes: 5, ignore: -1 }, integers: { 0: [-1, 4] } },
    { inputs: [[2, 9, 9]], attrs: { classes: 40, ignore: -1 }, integers: { 0: [-1, 39] } }, // two words of bits
  ],
  bce_loss: [
    {
      inputs: [
        [2, 5],
        [2, 5],
      ],
      attrs: {},
      integers: { 1: [0, 1] },
    },
  ],
  bce_grad: [{ inputs: [[2, 5], [2, 5], [1]], attrs: { count: 10 }, integers: { 1: [0, 1] } }],
  constant: [{ inputs: [], attrs: { shape: [2], values: [0.2, 0] } }],
  weighted_sum: [{ inputs: [[2], [2], [1]], attrs: { weights: [1, 0.2, 0.2] } }],
  sgd_momentum: [
    { inputs: [[7], [7], [7]], attrs: { momentum: 0.9, weight_decay: 1e-4 } },
    {
      inputs: [
        [4, 3, 3, 3],
        [4, 3, 3, 3],
        [4, 3, 3, 3],
      ],
      attrs: { momentum: 0.9, weight_decay: 1e-4 },
    },
  ],
  sgd_update: [{ inputs: [[7], [7], [4]], attrs: { lr_scale: 10 } }],
  grad_accumulate: [
    { inputs: [[4, 3, 3, 3], [4, 3, 3, 3], [4]], attrs: {}, integers: { 2: [0, 0] } }, // the first micro-batch
    { inputs: [[7], [7], [4]], attrs: {}, integers: { 2: [1, 3] } },
  ],
  grad_mean: [{ inputs: [[4, 3, 3, 3], [4]], attrs: {}, integers: { 1: [1, 4] } }],
  relu_grad: [
    {
      inputs: [
        [2, 3, 5, 7],
        [2, 3, 5, 7],
      ],
      attrs: {},
    },
    {
      inputs: [
        [1, 4, 4, 4],
        [1, 4, 4, 4],
      ],
      attrs: {},
    },
  ],
  sigmoid_grad: [
    {
      inputs: [
        [2, 3, 5, 7],
        [2, 3, 5, 7],
      ],
      attrs: {},
    },
    {
      inputs: [
        [1, 4, 4, 4],
        [1, 4, 4, 4],
      ],
      attrs: {},
      ranges: { 1: [0, 1] },
    },
  ],
  affine: [
    { inputs: [[2, 5, 3, 3]], attrs: {} },
    { inputs: [[2, 4, 4, 4]], attrs: {} }, // vec4
    { inputs: [[3, 6]], attrs: {} },
    { inputs: [[2, 6, 7, 5]], attrs: {}, limits: SPLIT },
  ],
  copy: [
    { inputs: [[1, 3, 5, 5]], attrs: {} },
    { inputs: [[2, 4, 4, 4]], attrs: {} },
  ],
  bn_scale: [
    { inputs: [[7], [7]], attrs: { eps: 1e-5 }, ranges: { 1: [0.1, 2] } },
    { inputs: [[16], [16]], attrs: { eps: 1e-3 }, ranges: { 1: [0.1, 2] } },
  ],
  bn_shift: [
    { inputs: [[7], [7], [7]], attrs: {} },
    { inputs: [[8], [8], [8], [8]], attrs: {} }, // with a conv bias
  ],
  scale_rows: [
    { inputs: [[5, 3, 3, 3], [5]], attrs: {} },
    { inputs: [[8, 4, 1, 1], [8]], attrs: {} }, // vec4 rows
    { inputs: [[7, 5, 3, 3], [7]], attrs: {}, limits: SPLIT },
  ],
  encoding: [
    { inputs: [[1, 8, 5, 5]], attrs: { codewords: 4 } },
    { inputs: [[2, 6, 3, 5]], attrs: { codewords: 3 } },
    { inputs: [[1, 32, 4, 4]], attrs: { codewords: 32 } },
    { inputs: [[2, 8, 13, 13]], attrs: { codewords: 5 }, limits: SPLIT },
    // Codewords in registers (K ≤ 32, D a multiple of 4: the cases above with D = 8, 32) or in a loop (D = 6; K = 33).
    { inputs: [[1, 4, 3, 5]], attrs: { codewords: 33 } },
    // The aggregate pass 4 codewords × 4 channels per invocation (K and D multiples of 4: [1, 8, 5, 5] with scalar
    // rows, [1, 32, 4, 4] with vec4 rows above), with two samples on a split grid; one output each otherwise.
    { inputs: [[2, 144, 3, 4]], attrs: { codewords: 16 }, limits: SPLIT },
  ],
  // Encoding's gradients: x [N, D, H, W] and dE [N, K, D]. One chunk in all (the reductions store directly), two
  // samples (partial sums, then their sum), HW not a multiple of 4, K and D odd, many chunks with a short last one
  // (encoding_grad.chunk), split grids.
  ...Object.fromEntries(
    ['encoding_grad_input', 'encoding_grad_codewords', 'encoding_grad_scale'].map((name) => [
      name,
      [
        encGrad([1, 8, 5, 5], 4),
        encGrad([2, 6, 3, 5], 3),
        encGrad([1, 32, 4, 4], 32),
        encGrad([2, 7, 13, 13], 5, { tuning: { 'encoding_grad.chunk': 16 } }),
        encGrad([2, 8, 13, 13], 5, { limits: SPLIT }),
        encGrad([1, 5, 19, 17], 6, { limits: SPLIT, tuning: { 'encoding_grad.chunk': 8 } }),
      ],
    ]),
  ),
  // Group norm's gradients: dy and x [N, C, H, W]; groups 1, 2, some and C; more values than the workgroup.
  ...Object.fromEntries(
    ['groupnorm_grad_input', 'groupnorm_grad_weight'].map((name) => [
      name,
      [
        gnGrad([2, 8, 5, 5], 4),
        gnGrad([1, 6, 4, 4], 2),
        gnGrad([1, 32, 3, 3], 32),
        gnGrad([1, 4, 33, 31], 1),
        gnGrad([2, 6, 7, 5], 3, 1e-3),
        { ...gnGrad([2, 8, 3, 3], 4), limits: SPLIT },
      ],
    ]),
  ),
  groupnorm_grad_bias: [
    { inputs: [[2, 8, 5, 5]], attrs: {} },
    { inputs: [[1, 4, 33, 31]], attrs: {} }, // more values than the workgroup
    { inputs: [[1, 5, 7, 9]], attrs: {} },
    { inputs: [[2, 6, 3, 3]], attrs: {}, limits: SPLIT },
  ],
  // Pooling gradients: odd sizes, stride 2 on odd inputs, stride 1 (overlapping windows), ceil_mode with and
  // without padding, count_include_pad false, ties (every element equal: the first in window order wins; all
  // negative with padding: padding never wins), batch 2, channel counts not divisible by 4, split grids.
  maxpool2d_grad: [
    maxGrad([1, 3, 9, 9], pool(3, 2, 1)),
    maxGrad([2, 2, 10, 7], pool(3, 2, 1)),
    maxGrad([1, 2, 8, 8], pool(3, 2, 0, true)), // ceil_mode: partial last window
    maxGrad([1, 2, 8, 8], pool(3, 2, 1, true)), // ceil_mode with padding
    maxGrad([1, 2, 7, 7], pool(2, 2, 0, true)),
    maxGrad([1, 5, 11, 13], pool(3, 1, 1)), // stride 1: every pixel in up to 9 windows
    maxGrad([1, 3, 6, 6], pool(2, 2)),
    maxGrad([1, 2, 9, 9], pool(3, 2, 1), { ranges: { 1: [0, 0] } }), // all ties: the first element wins
    maxGrad([1, 2, 9, 9], pool(3, 2, 1), { ranges: { 1: [-0.5, -0.5] } }), // ties below the padding's 0
    maxGrad([2, 3, 9, 9], pool(3, 2, 1), { limits: SPLIT }),
  ],
  avgpool2d_grad: [
    avgGrad([1, 3, 9, 9], pool(3, 2, 1, false, true)),
    avgGrad([1, 3, 9, 9], pool(3, 2, 1, false, false)),
    avgGrad([1, 2, 8, 8], pool(3, 2, 1, true, true)), // ceil_mode with padding: a window past the padding
    avgGrad([1, 2, 8, 8], pool(3, 2, 1, true, false)),
    avgGrad([1, 2, 8, 8], pool(3, 2, 0, true, true)),
    avgGrad([2, 2, 7, 6], pool(2, 2)),
    avgGrad([1, 5, 7, 7], pool(3, 1, 1, false, false)), // stride 1
    avgGrad([2, 5, 11, 9], pool(3, 2, 1, false, false), { limits: SPLIT }),
  ],
  adaptive_avgpool2d_grad: [
    adaptiveGrad([1, 3, 10, 13], [1, 1]), // global average pooling
    adaptiveGrad([1, 3, 7, 7], [3, 3]), // 7 → 3: overlapping bins
    adaptiveGrad([2, 3, 13, 13], [6, 6]), // 13 → 6
    adaptiveGrad([1, 2, 5, 4], [6, 6]), // more bins than pixels
    adaptiveGrad([1, 5, 10, 13], [2, 3]),
    adaptiveGrad([2, 3, 13, 13], [6, 6], { limits: SPLIT }),
  ],
  // Resize gradients: up and down (by non-integer ratios: input rows no output taps), both align modes, a scale
  // given (integer and not), ×8 up, one output pixel (scale 0), one input row (every tap clamped), split grids.
  resize_bilinear_grad: [
    resizeGrad([1, 2, 5, 7], [11, 13], true),
    resizeGrad([1, 2, 5, 7], [11, 13], false),
    resizeGrad([2, 3, 13, 11], [4, 5], true),
    resizeGrad([2, 3, 13, 11], [4, 5], false),
    resizeGrad([1, 3, 17, 15], [5, 4], false),
    resizeGrad([1, 3, 17, 15], [5, 4], true),
    resizeGrad([1, 2, 5, 5], [10, 10], false, 2),
    resizeGrad([1, 2, 9, 9], [4, 4], false, 0.5),
    resizeGrad([1, 2, 7, 7], [10, 10], false, 1.5),
    resizeGrad([1, 2, 6, 6], [15, 15], true, 2.5),
    resizeGrad([1, 2, 4, 6], [1, 1], true),
    resizeGrad([1, 3, 4, 5], [32, 40], true), // ×8 up
    resizeGrad([1, 3, 4, 5], [32, 40], false),
    resizeGrad([2, 5, 3, 3], [24, 24], false, 8),
    resizeGrad([1, 2, 1, 3], [4, 7], false), // one input row
    resizeGrad([1, 2, 1, 3], [4, 7], true), // align_corners from one row: scale 0 along H
    resizeGrad([2, 3, 8, 8], [32, 32], true, undefined, { limits: SPLIT }),
  ],
  // Linear gradients: features not multiples of 4, batch 1 to 6, split grids.
  linear_grad_input: [
    { inputs: [[2, 5]], attrs: { in_features: 7 } },
    { inputs: [[3, 4]], attrs: { in_features: 8 } },
    { inputs: [[1, 33]], attrs: { in_features: 64 } },
    { inputs: [[6, 9]], attrs: { in_features: 50 }, limits: SPLIT },
  ],
  linear_grad_weight: [
    {
      inputs: [
        [2, 7],
        [2, 5],
      ],
      attrs: {},
    },
    {
      inputs: [
        [3, 8],
        [3, 4],
      ],
      attrs: {},
    },
    {
      inputs: [
        [1, 64],
        [1, 33],
      ],
      attrs: {},
    },
    {
      inputs: [
        [3, 50],
        [3, 9],
      ],
      attrs: {},
      limits: SPLIT,
    },
  ],
  linear_grad_bias: [
    { inputs: [[2, 5]], attrs: {} },
    { inputs: [[3, 4]], attrs: {} },
    { inputs: [[5, 33]], attrs: {} },
    { inputs: [[2, 300]], attrs: {}, limits: SPLIT },
  ],
  mean_grad: [
    { inputs: [[2, 7]], attrs: { axis: 1, size: 5 } },
    { inputs: [[2, 8]], attrs: { axis: 1, size: 3 } }, // vec4 rows
    { inputs: [[4, 5]], attrs: { axis: 0, size: 3 } },
    { inputs: [[2, 3]], attrs: { axis: 2, size: 5 } },
    { inputs: [[2, 37]], attrs: { axis: 1, size: 9 }, limits: SPLIT },
  ],
  // Concat's gradient: channel slices (first, middle, last, vec4), other axes, split grids.
  slice: [
    { inputs: [[1, 15, 5, 5]], attrs: { axis: 1, offset: 3, size: 4 } },
    { inputs: [[1, 15, 5, 5]], attrs: { axis: 1, offset: 14, size: 1 } },
    { inputs: [[2, 12, 4, 4]], attrs: { axis: 1, offset: 4, size: 8 } }, // vec4
    { inputs: [[2, 3, 6, 5]], attrs: { axis: 2, offset: 2, size: 4 } },
    { inputs: [[2, 9]], attrs: { axis: 1, offset: 3, size: 5 } },
    { inputs: [[3, 4, 5]], attrs: { axis: 0, offset: 1, size: 2 } },
    { inputs: [[2, 9, 9, 9]], attrs: { axis: 1, offset: 3, size: 5 }, limits: SPLIT },
  ],
  // The gradient of mul's per-channel factor: [N, C] and [N, C, 1, 1], planes larger than the workgroup.
  mul_grad_factor: [
    {
      inputs: [
        [2, 3, 5, 5],
        [2, 3, 5, 5],
      ],
      attrs: { keepdims: false },
    },
    {
      inputs: [
        [2, 4, 4, 4],
        [2, 4, 4, 4],
      ],
      attrs: { keepdims: true },
    },
    {
      inputs: [
        [1, 5, 33, 31],
        [1, 5, 33, 31],
      ],
      attrs: { keepdims: false },
    },
    {
      inputs: [
        [2, 5, 9, 7],
        [2, 5, 9, 7],
      ],
      attrs: { keepdims: false },
      limits: SPLIT,
    },
  ],
};
