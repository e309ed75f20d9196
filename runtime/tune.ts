// Kernel choices by measurement. For a compiled graph (after the passes), the distinct problems of its heavy kernels
// — every conv2d, plain or the anchor of a fused kernel, keyed by `convProblem` (input shape, output channels,
// kernel, stride, padding, dilation, groups), and in a training program every conv's input and weight gradient
// (conv2d_grad_input / conv2d_grad_weight, keyed by `convGradProblem`: the op and the conv it differentiates) — are
// timed on the adapter at hand under each candidate configuration (kernel variant and tile shapes, `CANDIDATES`),
// each candidate's kernel (all its dispatches) alone in a small harness, and the fastest
// becomes the problem's choice: per-problem tuning keys `<key>@<problem>` (compiler/codegen/limits.ts `tunedValue`)
// on top of the adapter's fixed defaults (runtime/tuning.ts `tuningFor`).
// Candidates are generated and timed on top of those defaults (so what is timed is what the program then runs:
// e.g. llvmpipe's workgroup sizing applies to every candidate), and the defaults' own kernel for the problem is
// always a candidate (`DEFAULT_CANDIDATE`, timed first; candidates generating the same WGSL are timed once). Another
// candidate replaces it only when it is faster by more than `MIN_GAIN`: timing a kernel alone is noisy, and a choice
// within the noise is no gain, so a tuned program is never slower than the defaults by what the tuner can see.
//
// Choices are cached per adapter (vendor, architecture, device, description, driver when Dawn reports one) in
// `$FCNC_CACHE_DIR`, else `$XDG_CACHE_HOME/fcnc`, else `~/.cache/fcnc`, one JSON file per adapter. The file records
// a checksum of the kernel set (the candidates and the WGSL each generates for a few probe problems): when the
// emitters or the candidates change, its choices are dropped. A file that cannot be read or parsed is ignored with a
// warning. Writes merge with what is on disk and replace the file atomically (a unique temporary file renamed over
// it), so concurrent writers never leave a torn file (the last writer's view of a problem wins).
//
// Modes (`--tune`):
//  - off:    the adapter's fixed defaults; the cache is neither read nor written. Deterministic.
//  - cached: the cache's choices for the problems it has; for a problem it lacks, the choice of the same conv at the
//            nearest other batch and size if it has one (a program compiled at another size), else the fixed
//            defaults; nothing is timed (the default of the commands: fast, and deterministic for a given cache).
//  - full:   every problem of the program is timed now (cached choices are ignored) and the cache updated.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Graph, Shape } from '../compiler/ir/types.ts';
import type { KernelOptions, KernelPlan, KernelSpec } from '../compiler/ops/op.ts';
import type { ConvAttrs } from '../compiler/ops/conv.ts';
import {
  conv2dGradInputKernel,
  conv2dGradWeightKernel,
  convGradProblem,
  gradInputRowsApply,
  gradInputTiledApplies,
  type ConvGradOp,
} from '../compiler/codegen/wgsl/conv_grad.ts';
import { kernelOptions, type DeviceLimits } from '../compiler/codegen/limits.ts';
import {
  conv2dPlan,
  convProblem,
  isDepthwiseConv,
  rowKernelApplies,
  wgTilingProblem,
  type ConvWgTiling,
} from '../compiler/codegen/wgsl/conv.ts';
import type { OpenedDevice } from './device.ts';

export type Tuning = Readonly<Record<string, number>>;
export type TuneMode = 'off' | 'cached' | 'full';
export const TUNE_MODES: readonly TuneMode[] = ['off', 'cached', 'full'];

/** Bump when the meaning of a cached choice changes in a way the kernel checksum does not see. */
export const CACHE_VERSION = 1;
const CACHE_FORMAT = 'fcnc-tuning-cache';

export type ProblemOp = 'conv2d' | ConvGradOp;

/**
 * One kernel problem of a program: what a candidate is timed on. A conv's forward, or one of its gradients: `x`,
 * `attrs`, `out` and `params` are always the forward conv's (the gradient kernels' shapes follow from them).
 */
export interface Problem {
  /** `convProblem(x, attrs)` (`convGradProblem(op, x, attrs)`): the suffix of its per-problem tuning keys. */
  readonly key: string;
  readonly op: ProblemOp;
  /** The conv's input (a gradient's dX has its shape). */
  readonly x: Shape;
  readonly attrs: ConvAttrs;
  /** The conv's output (a gradient's dy has its shape). */
  readonly out: Shape;
  /** The conv's parameter shapes: the weight (OIHW), and the bias when there is one. */
  readonly params: readonly Shape[];
  /** Floating-point operations of one run (2 per multiply-add). */
  readonly flops: number;
  /** How many nodes of the program solve it. */
  readonly count: number;
}

/** A configuration of a problem's kernel: complete tuning keys of one variant (global keys, no `@problem`). */
export interface Candidate {
  readonly name: string;
  readonly tuning: Tuning;
}

// A direct conv candidate says so (`conv2d.winograd` 0): where the defaults run Winograd (llvmpipe's wide maps), it
// would otherwise be the defaults' plan again.
const rb = (tm: number, tn: number): Candidate => ({
  name: `register ${tm}×${tn}`,
  tuning: { 'conv2d.variant': 0, 'conv2d.tm': tm, 'conv2d.tn': tn, 'conv2d.winograd': 0 },
});
// Every key of a tiling is given (rows too, when 1): on top of the adapter's defaults a missing key would take the
// default's value (llvmpipe's large row tiling has several rows), and the candidate would not be what it is named.
const rows = (tm: number, tn: number, n = 1, reuse: 0 | 1 = 0): Candidate => ({
  name: `rows ${tm}×${tn}${n > 1 ? `×${n} rows` : ''}${reuse ? ' reuse' : ''}`,
  tuning: {
    'conv2d.variant': 2,
    'conv2d.row_tm': tm,
    'conv2d.row_tn': tn,
    'conv2d.row_rows': n,
    'conv2d.row_reuse': reuse,
    'conv2d.winograd': 0,
  },
});
/** The workgroup-tiled kernel (variant 1) of a conv or of a conv's gradient, with tiling t. */
const wg = (t: ConvWgTiling, op: 'conv2d' | ConvGradOp = 'conv2d'): Candidate => ({
  name: `tiled ${t.bm}×${t.bn} k${t.bk} ${t.tm}×${t.tn}${t.vec === 1 ? ' scalar' : ''}`,
  tuning: {
    [`${op}.variant`]: 1,
    [`${op}.wg_bm`]: t.bm,
    [`${op}.wg_bn`]: t.bn,
    [`${op}.wg_bk`]: t.bk,
    [`${op}.wg_tm`]: t.tm,
    [`${op}.wg_tn`]: t.tn,
    [`${op}.wg_vec`]: t.vec,
    ...(op === 'conv2d' ? { 'conv2d.winograd': 0 } : {}),
  },
});

/** Winograd F(m×m, 3×3) with the adapter's GEMM kernel and tiles. */
const winograd = (m: number): Candidate => ({
  name: `Winograd F(${m}×${m}, 3×3)`,
  tuning: { 'conv2d.winograd': m },
});

const grad = (op: ConvGradOp, tm: number, tn: number): Candidate => ({
  name: `register ${tm}×${tn}`,
  tuning: {
    [`${op}.variant`]: 0,
    [`${op}.tm`]: tm,
    [`${op}.tn`]: tn,
  },
});
/** The input gradient as the row-vectorised conv of dy (conv_grad.ts `gradInputAsRows`; stride 1, groups 1). */
const gradRows = (tm: number, tn: number, rows: number, reuse: 0 | 1 = 0): Candidate => ({
  name: `rows ${tm}×${tn}${rows > 1 ? `×${rows} rows` : ''}${reuse ? ' reuse' : ''}`,
  tuning: {
    'conv2d_grad_input.variant': 2,
    'conv2d_grad_input.row_tm': tm,
    'conv2d_grad_input.row_tn': tn,
    'conv2d_grad_input.row_rows': rows,
    'conv2d_grad_input.row_reuse': reuse,
  },
});

/**
 * The candidates of each problem kind. Every one must be exercised by the GPU op tests (test/gpu/cases.ts, its
 * cases and VARIANTS; test/runtime/tune.test.ts checks that it is).
 */
export const CANDIDATES: {
  readonly conv: readonly Candidate[];
  readonly depthwise: readonly Candidate[];
  readonly gradInput: readonly Candidate[];
  readonly gradWeight: readonly Candidate[];
} = {
  conv: [
    // Register-blocked: what llvmpipe runs 1×1 GEMMs and strided convs with (32×32 the fastest on most GEMMs of
    // enc_jpu_r50, bench/results/tuning-software.md). 64×32 runs the large GEMMs 1.1–1.2× faster but compiles 4–5×
    // as long (bench/results/gemm-software.md): a candidate, not a default; 64×64, over 2 minutes a kernel, neither.
    rb(16, 8),
    rb(16, 16),
    rb(32, 16),
    rb(32, 32),
    rb(64, 32),
    // Row-vectorised (stride 1 or 2, kernel > 1, rows a multiple of 4 only): llvmpipe's fastest 3×3 convs; one
    // output row per invocation, or several (the large defaults by row width: bench/results/narrow-software.md).
    rows(4, 32),
    rows(16, 32),
    rows(32, 32),
    rows(16, 8, 8),
    rows(16, 16, 4),
    rows(16, 32, 2),
    // Every kernel row of a step unrolled (`conv2d.row_reuse`): llvmpipe's defaults on stride-1 rows ≤ 16 wide
    // (bench/results/reuse-software.md).
    rows(8, 8, 8, 1),
    rows(8, 16, 4, 1),
    // The fastest 3×3 kernel on most problems of enc_jpu_r50 in one run (bench/results/tuning-software.md), but
    // 2048 accumulators per invocation: tens of seconds of compile each on llvmpipe, so not a default.
    rows(32, 32, 2),
    wg({ bm: 64, bn: 64, bk: 8, tm: 4, tn: 4, vec: 4 }),
    wg({ bm: 32, bn: 32, bk: 8, tm: 4, tn: 4, vec: 4 }),
    wg({ bm: 64, bn: 64, bk: 16, tm: 8, tn: 8, vec: 4 }),
    // Winograd F(2×2, 3×3) and F(4×4, 3×3) (compiler/codegen/wgsl/winograd.ts; 3×3 stride-1 convs on maps it tiles,
    // elsewhere the default kernel, which the list then drops): 2.25× and 4× fewer multiply-adds in GEMMs run by the
    // adapter's GEMM kernel, plus three transform passes. On llvmpipe up to 1.9× faster on wide maps, far slower on
    // narrow ones (bench/results/winograd-software.md): only a measurement can tell.
    winograd(2),
    winograd(4),
  ],
  depthwise: [
    { name: 'depthwise taps 4', tuning: { 'conv2d_dw.variant': 0 } },
    { name: 'depthwise rows 4', tuning: { 'conv2d_dw.variant': 1, 'conv2d_dw.tn': 4 } },
    { name: 'depthwise rows 8', tuning: { 'conv2d_dw.variant': 1, 'conv2d_dw.tn': 8 } },
    { name: 'depthwise rows 16', tuning: { 'conv2d_dw.variant': 1, 'conv2d_dw.tn': 16 } },
    { name: 'depthwise rows 32', tuning: { 'conv2d_dw.variant': 1, 'conv2d_dw.tn': 32 } },
  ],
  // The gradients' kernels (compiler/codegen/wgsl/conv_grad.ts; depthwise gradients are not tuned): register tiles
  // of input channels × input pixels per invocation for dX, output × input channels for dW (its K split follows from
  // the tile count) — small tiles for GPUs (more invocations), the emitters' 16×8 and large 32×16 / 16×32 and their
  // neighbours — and for dX the row kernel on the transposed weight (variant 2, llvmpipe's default where it applies).
  gradInput: [
    grad('conv2d_grad_input', 4, 4),
    grad('conv2d_grad_input', 8, 8),
    grad('conv2d_grad_input', 16, 8),
    grad('conv2d_grad_input', 16, 16),
    grad('conv2d_grad_input', 32, 8),
    grad('conv2d_grad_input', 32, 16),
    // Row-vectorised (where it applies): llvmpipe's defaults by row width (and before them on narrow rows), and
    // 32×32 × 2 rows.
    gradRows(16, 8, 8),
    gradRows(16, 16, 4),
    gradRows(8, 8, 8, 1), // the kernel rows unrolled: llvmpipe's defaults on rows ≤ 16 wide
    gradRows(8, 16, 4, 1),
    gradRows(16, 32, 2),
    gradRows(32, 32, 2),
    // Workgroup-tiled (stride 1, groups 1): what GPUs want, the forward's tiles.
    wg({ bm: 32, bn: 32, bk: 8, tm: 4, tn: 4, vec: 4 }, 'conv2d_grad_input'),
    wg({ bm: 64, bn: 64, bk: 16, tm: 8, tn: 8, vec: 4 }, 'conv2d_grad_input'),
  ],
  gradWeight: [
    grad('conv2d_grad_weight', 4, 4),
    grad('conv2d_grad_weight', 8, 8),
    grad('conv2d_grad_weight', 16, 8),
    grad('conv2d_grad_weight', 16, 16),
    grad('conv2d_grad_weight', 32, 16),
    grad('conv2d_grad_weight', 16, 32),
    wg({ bm: 32, bn: 32, bk: 8, tm: 4, tn: 4, vec: 4 }, 'conv2d_grad_weight'),
    wg({ bm: 64, bn: 64, bk: 16, tm: 8, tn: 8, vec: 4 }, 'conv2d_grad_weight'),
  ],
};

/** Problems below this many FLOPs keep the defaults: timing them costs more than they can save. */
export const MIN_TUNED_FLOPS = 1e6;

/** The adapter's fixed defaults for the problem (the base tuning, nothing on top): what `--tune off` runs. */
export const DEFAULT_CANDIDATE: Candidate = { name: 'adapter default', tuning: {} };

/** Another candidate is chosen over the defaults only when it is faster by more than this fraction. */
export const MIN_GAIN = 0.03;

/**
 * The candidates of a problem the device can run (workgroup size and memory within its limits), on top of `base`
 * (the adapter's fixed defaults): `DEFAULT_CANDIDATE` first, then those of `CANDIDATES` that generate a kernel
 * other than an earlier one's (on top of the base, a candidate can be the default kernel itself).
 */
export function candidatesFor(p: Problem, limits: DeviceLimits, base: Tuning = {}): Candidate[] {
  const seen = new Set<string>();
  const out: Candidate[] = [];
  for (const c of [DEFAULT_CANDIDATE, ...runnable(p, kernelOptions(limits, base))]) {
    const wgsl = planWgsl(candidatePlan(p, c, limits, base));
    if (seen.has(wgsl)) continue;
    seen.add(wgsl);
    out.push(c);
  }
  return out;
}

/** The candidates of a problem's kind (none: a depthwise conv's gradients, one kernel each). */
export function candidatesOfKind(p: Pick<Problem, 'op' | 'x' | 'attrs'>): readonly Candidate[] {
  const dw = isDepthwiseConv(p.x, p.attrs);
  if (p.op === 'conv2d_grad_input') return dw ? [] : CANDIDATES.gradInput;
  if (p.op === 'conv2d_grad_weight') return dw ? [] : CANDIDATES.gradWeight;
  return dw ? CANDIDATES.depthwise : CANDIDATES.conv;
}

function runnable(p: Problem, opts: KernelOptions): readonly Candidate[] {
  /** Whether a workgroup-tiled candidate's tiles fit the device. */
  const fits = (c: Candidate, op: string): boolean => {
    const t = c.tuning;
    return !wgTilingProblem(
      {
        bm: t[`${op}.wg_bm`]!,
        bn: t[`${op}.wg_bn`]!,
        bk: t[`${op}.wg_bk`]!,
        tm: t[`${op}.wg_tm`]!,
        tn: t[`${op}.wg_tn`]!,
        vec: t[`${op}.wg_vec`] as 1 | 4,
      },
      opts,
    );
  };
  // The kind's candidates (none for depthwise gradients), less the variants that do not apply to this problem.
  return candidatesOfKind(p).filter((c) => {
    const v = c.tuning[`${p.op}.variant`];
    if (v === 1) {
      if (p.op === 'conv2d_grad_input' && !gradInputTiledApplies(p.x, p.attrs)) return false;
      return fits(c, p.op);
    }
    if (v === 2)
      return p.op === 'conv2d_grad_input' ? gradInputRowsApply(p.x, p.attrs) : rowKernelApplies(p.x, p.attrs);
    return true;
  });
}

const PROBLEM_OPS: readonly string[] = ['conv2d', 'conv2d_grad_input', 'conv2d_grad_weight'];

/**
 * The conv problems of a graph after its passes (conv2d, conv2d_grad_input and conv2d_grad_weight nodes, plain or
 * the anchor of a fused node), largest first.
 */
export function problemsOf(g: Graph): Problem[] {
  const found = new Map<string, Problem>();
  for (const node of g.nodes) {
    // The op, its attributes, its input shapes and its own shape (the anchor's, for a fused node).
    let op: string, a: ConvAttrs, ins: Shape[], shape: Shape;
    if (PROBLEM_OPS.includes(node.op)) {
      op = node.op;
      a = node.attrs as ConvAttrs;
      ins = node.inputs.map((i) => g.nodes[i]!.shape);
      shape = node.shape;
    } else if (node.op === 'fused' && PROBLEM_OPS.includes(node.body?.[0]?.op ?? '')) {
      const anchor = node.body![0]!;
      if (anchor.inputs.some((r) => r.kind !== 'in')) continue;
      op = anchor.op;
      a = anchor.attrs as ConvAttrs;
      ins = anchor.inputs.map((r) => g.nodes[node.inputs[(r as { index: number }).index]!]!.shape);
      shape = anchor.shape;
    } else continue;
    // The forward conv's attributes, input and output.
    const attrs: ConvAttrs = {
      channels: a.channels,
      kernel: a.kernel,
      stride: a.stride,
      padding: a.padding,
      dilation: a.dilation,
      groups: a.groups,
      bias: a.bias,
    };
    const [x, out] =
      op === 'conv2d' ? [ins[0]!, shape] : op === 'conv2d_grad_input' ? [shape, ins[0]!] : [ins[0]!, ins[1]!];
    const key = op === 'conv2d' ? convProblem(x, attrs) : convGradProblem(op as ConvGradOp, x, attrs);
    const prev = found.get(key);
    if (prev) {
      found.set(key, { ...prev, count: prev.count + 1 });
      continue;
    }
    const cinG = x[1]! / attrs.groups;
    const flops = 2 * out.reduce((a, b) => a * b, 1) * cinG * attrs.kernel * attrs.kernel;
    const params: Shape[] = [[attrs.channels, cinG, attrs.kernel, attrs.kernel]];
    if (attrs.bias) params.push([attrs.channels]);
    found.set(key, { key, op: op as ProblemOp, x, attrs, out, params, flops, count: 1 });
  }
  return [...found.values()].sort(
    (a, b) => b.flops * b.count - a.flops * a.count || (a.key < b.key ? -1 : 1),
  );
}

/** A problem's kernel's operands: input, parameter and output shapes (its dispatches bind these and scratch). */
export function problemOperands(p: Problem): { inputs: Shape[]; params: Shape[]; out: Shape } {
  if (p.op === 'conv2d_grad_input') return { inputs: [p.out], params: [p.params[0]!], out: p.x };
  if (p.op === 'conv2d_grad_weight') return { inputs: [p.x, p.out], params: [], out: p.params[0]! };
  return { inputs: [p.x], params: [...p.params], out: p.out };
}

/**
 * The kernel of a problem under a candidate on top of `base`, its keys given for the problem as the program gets
 * them (`tuningRecord`: per-problem keys win over `conv2d.large`'s tiles): no epilogue, no views; what the harness
 * times. One dispatch, or several with scratch (a weight gradient split along K).
 */
export function candidatePlan(p: Problem, c: Candidate, limits: DeviceLimits, base: Tuning = {}): KernelPlan {
  const { inputs, params, out } = problemOperands(p);
  const opts = kernelOptions(limits, tuningRecord(base, { [p.key]: c }));
  const made =
    p.op === 'conv2d_grad_input'
      ? conv2dGradInputKernel({
          inputs,
          out,
          params,
          attrs: { ...p.attrs, in_c: p.x[1]!, in_h: p.x[2]!, in_w: p.x[3]! },
          opts,
        })
      : p.op === 'conv2d_grad_weight'
        ? conv2dGradWeightKernel({ inputs, out, params, attrs: p.attrs, opts })
        : conv2dPlan({ inputs, out, attrs: p.attrs, params, opts });
  return 'wgsl' in made ? { scratch: [], dispatches: [made] } : made;
}

/** The WGSL of every dispatch of a plan, in order. */
export const planWgsl = (plan: KernelPlan): string => plan.dispatches.map((d) => d.wgsl).join('\n');

/** `candidatePlan` of a problem whose kernel is one dispatch (a forward conv but a subsampled strided 1×1). */
export function candidateKernel(
  p: Problem,
  c: Candidate,
  limits: DeviceLimits,
  base: Tuning = {},
): KernelSpec {
  const plan = candidatePlan(p, c, limits, base);
  if (plan.dispatches.length !== 1)
    throw new Error(`internal: ${p.key} has ${plan.dispatches.length} dispatches`);
  return plan.dispatches[0]!;
}

// ---------------------------------------------------------------------------------------------------------------
// Checksum of the kernel set

/** Problems whose candidate WGSL the checksum covers: every path of the emitters (3×3, strided, 1×1, depthwise, stem). */
const PROBE: readonly { x: Shape; a: ConvAttrs }[] = [
  { x: [1, 64, 33, 31], a: conv(64, 3, 1, 1, 1, 1, false) },
  { x: [1, 30, 17, 17], a: conv(40, 3, 2, 2, 2, 2, true) },
  { x: [1, 64, 16, 16], a: conv(96, 1, 1, 0, 1, 1, false) },
  { x: [1, 64, 15, 15], a: conv(96, 1, 2, 0, 1, 1, true) },
  { x: [1, 32, 20, 20], a: conv(32, 3, 1, 4, 4, 32, false) },
  { x: [1, 16, 12, 16], a: conv(24, 3, 1, 1, 1, 1, true) },
  { x: [1, 16, 12, 16], a: conv(24, 3, 1, 4, 4, 1, false) },
  { x: [1, 3, 16, 16], a: conv(64, 3, 2, 1, 1, 1, false) }, // an image's channels (the stem: large tiles)
  { x: [1, 64, 4, 72], a: conv(64, 3, 1, 1, 1, 1, false) }, // rows wider than 64 (their own row tiles)
  { x: [1, 16, 8, 16], a: conv(24, 3, 1, 1, 1, 1, true) }, // Winograd F(2×2) and F(4×4) tile it
];
function conv(ch: number, k: number, s: number, p: number, d: number, g: number, bias: boolean): ConvAttrs {
  return { channels: ch, kernel: k, stride: s, padding: p, dilation: d, groups: g, bias };
}
const PROBE_LIMITS: DeviceLimits = {
  maxComputeInvocationsPerWorkgroup: 1024,
  maxComputeWorkgroupStorageSize: 32768,
};

const checksumMemo = new Map<string, string>();
/**
 * A hash of the candidates and of the WGSL they generate on the probe problems on top of `base` (the adapter's
 * fixed defaults): changes when the kernels or the defaults do.
 */
export function kernelSetChecksum(base: Tuning = {}): string {
  const memoKey = JSON.stringify(Object.entries(base).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const memo = checksumMemo.get(memoKey);
  if (memo) return memo;
  const h = createHash('sha256');
  h.update(`${CACHE_FORMAT} ${CACHE_VERSION}\n${JSON.stringify(CANDIDATES)}\n${memoKey}\n`);
  for (const { x, a } of PROBE) {
    const out = [
      x[0]!,
      a.channels,
      Math.floor((x[2]! + 2 * a.padding - a.dilation * (a.kernel - 1) - 1) / a.stride) + 1,
      Math.floor((x[3]! + 2 * a.padding - a.dilation * (a.kernel - 1) - 1) / a.stride) + 1,
    ];
    for (const op of PROBLEM_OPS as readonly ProblemOp[]) {
      const p: Problem = {
        key: op === 'conv2d' ? convProblem(x, a) : convGradProblem(op, x, a),
        op,
        x,
        attrs: a,
        out,
        params: [[a.channels, x[1]! / a.groups, a.kernel, a.kernel], ...(a.bias ? [[a.channels]] : [])],
        flops: 0,
        count: 1,
      };
      for (const c of [DEFAULT_CANDIDATE, ...candidatesOfKind(p)])
        h.update(planWgsl(candidatePlan(p, c, PROBE_LIMITS, base)));
    }
  }
  const sum = h.digest('hex').slice(0, 32);
  checksumMemo.set(memoKey, sum);
  return sum;
}

// ---------------------------------------------------------------------------------------------------------------
// The cache

/** What identifies an adapter for the cache. */
export interface AdapterIdentity {
  readonly kind: string;
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
  readonly driver?: string;
}

export function adapterIdentity(dev: Pick<OpenedDevice, 'adapterInfo' | 'kind'>): AdapterIdentity {
  const i = dev.adapterInfo as GPUAdapterInfo & { driver?: unknown };
  return {
    kind: dev.kind,
    vendor: i.vendor ?? '',
    architecture: i.architecture ?? '',
    device: i.device ?? '',
    description: i.description ?? '',
    ...(typeof i.driver === 'string' && i.driver ? { driver: i.driver } : {}),
  };
}

/** The cache folder: FCNC_CACHE_DIR, else $XDG_CACHE_HOME/fcnc, else ~/.cache/fcnc. */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.FCNC_CACHE_DIR) return env.FCNC_CACHE_DIR;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, 'fcnc');
  return join(homedir(), '.cache', 'fcnc');
}

/** The cache file of an adapter in a cache folder. */
export function cacheFile(dir: string, adapter: AdapterIdentity): string {
  const id = createHash('sha256').update(JSON.stringify(adapter)).digest('hex').slice(0, 16);
  return join(dir, `tuning-${id}.json`);
}

/** A problem's measured choice. */
export interface CacheEntry {
  /** The chosen candidate's name and its tuning keys. */
  readonly name: string;
  readonly tuning: Tuning;
  /** Its time, ms per run. */
  readonly ms: number;
  /** Every timed candidate's time, ms per run (one given up as clearly slower: its better calibration run). */
  readonly times: Readonly<Record<string, number>>;
  readonly date: string;
}

export interface CacheFile {
  readonly format: typeof CACHE_FORMAT;
  readonly version: number;
  readonly adapter: AdapterIdentity;
  readonly checksum: string;
  readonly problems: Readonly<Record<string, CacheEntry>>;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function checkEntry(e: unknown): e is CacheEntry {
  return (
    isRecord(e) &&
    typeof e.name === 'string' &&
    typeof e.ms === 'number' &&
    isRecord(e.tuning) &&
    Object.values(e.tuning).every((v) => typeof v === 'number' && Number.isFinite(v)) &&
    isRecord(e.times)
  );
}

/**
 * The valid entries of a cache file for this adapter and kernel set. Missing file: none. Unreadable, unparsable or
 * malformed: none, with a warning. Another kernel set or adapter: none (`stale` says so).
 */
export function readCache(
  file: string,
  adapter: AdapterIdentity,
  checksum: string,
  warn: (msg: string) => void,
): { problems: Record<string, CacheEntry>; stale: boolean } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
      warn(`ignoring the tuning cache ${file}: ${(e as Error).message}`);
    return { problems: {}, stale: false };
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    warn(`ignoring the tuning cache ${file}: not JSON (${(e as Error).message}); it will be rewritten`);
    return { problems: {}, stale: false };
  }
  if (
    !isRecord(data) ||
    data.format !== CACHE_FORMAT ||
    !isRecord(data.problems) ||
    !isRecord(data.adapter)
  ) {
    warn(`ignoring the tuning cache ${file}: not an fcnc tuning cache; it will be rewritten`);
    return { problems: {}, stale: false };
  }
  if (
    data.version !== CACHE_VERSION ||
    data.checksum !== checksum ||
    JSON.stringify(data.adapter) !== JSON.stringify(adapter)
  )
    return { problems: {}, stale: true };
  const problems: Record<string, CacheEntry> = {};
  let bad = 0;
  for (const [k, e] of Object.entries(data.problems)) {
    if (checkEntry(e)) problems[k] = e;
    else bad++;
  }
  if (bad) warn(`ignoring ${bad} malformed entr${bad === 1 ? 'y' : 'ies'} of the tuning cache ${file}`);
  return { problems, stale: false };
}

/**
 * Adds entries to an adapter's cache file: merged with the valid entries on disk (same adapter and kernel set; ours
 * win), written to a unique temporary file and renamed over the old one, so readers and concurrent writers only ever
 * see a whole file.
 */
export function writeCache(
  file: string,
  adapter: AdapterIdentity,
  checksum: string,
  entries: Readonly<Record<string, CacheEntry>>,
  warn: (msg: string) => void = () => {},
): void {
  const onDisk = readCache(file, adapter, checksum, () => {}).problems;
  const data: CacheFile = {
    format: CACHE_FORMAT,
    version: CACHE_VERSION,
    adapter,
    checksum,
    problems: Object.fromEntries(
      Object.entries({ ...onDisk, ...entries }).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    ),
  };
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(tmp, JSON.stringify(data, null, 1) + '\n');
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    warn(`could not write the tuning cache ${file}: ${(e as Error).message}`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Timing

/**
 * Times the candidates of one problem: ms per run of each, in the order given (Infinity for a candidate that failed
 * to compile; for one given up as clearly slower, its better calibration run).
 */
export type Timer = (p: Problem, cands: readonly Candidate[], base?: Tuning) => Promise<number[]>;

export interface GpuTimerOptions {
  /** Rounds over the candidates after the calibration round. Default 4. */
  readonly rounds?: number;
  /** Each measurement runs enough dispatches in one submit to last about this long (ms), at most 64. Default 4. */
  readonly targetMs?: number;
  /** A candidate whose calibration runs take more than `giveUp` × the best one's is not timed further. Default 2. */
  readonly giveUp?: number;
  /** Rounds stop early so that a candidate's measurements take about this long in all (at least one round). Default 1000. */
  readonly budgetMs?: number;
  /** Told about a candidate that failed to compile (it is skipped). */
  readonly warn?: (msg: string) => void;
}

/**
 * A timer running each candidate's kernel alone on the device (every dispatch of its plan, with scratch buffers of
 * its own), on buffers of the problem's shapes (random values):
 * every candidate's pipeline is created and warmed up, two calibration runs each fix how many dispatches one
 * measurement submits (so that it lasts about `targetMs`: a GPU dispatch can be far shorter than a queue round trip)
 * and drops the clearly slower ones, then up to `rounds` rounds (fewer when runs are long) measure every remaining
 * candidate once each, in turn (a neighbour's load falls on all alike). A measurement is one submit and a queue sync; a candidate's time is its
 * fastest measurement per run (load on a shared machine only ever adds time).
 */
export function gpuTimer(
  dev: Pick<OpenedDevice, 'device' | 'limits'>,
  o: GpuTimerOptions = {},
): Timer & { release(): void } {
  const device = dev.device;
  const rounds = o.rounds ?? 4;
  const targetMs = o.targetMs ?? 4;
  const giveUp = o.giveUp ?? 2;
  const budgetMs = o.budgetMs ?? 1000;
  let bufs: { key: string; list: GPUBuffer[] } | undefined;
  const release = () => {
    for (const b of bufs?.list ?? []) b.destroy();
    bufs = undefined;
  };
  const buffer = (floats: number): GPUBuffer => {
    const n = Math.max(4, Math.ceil(floats / 4) * 4);
    const b = device.createBuffer({ size: n * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    let s = 12345;
    const d = new Float32Array(n).map(() => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32 - 0.5) * 0.1);
    device.queue.writeBuffer(b, 0, d);
    return b;
  };
  const numel = (s: Shape) => s.reduce((a, b) => a * b, 1);

  /**
   * The pipelines of one candidate's dispatches, bound to the problem's buffers (and scratch of its own, added to
   * `list` to be released with them); undefined (and a warning) if one fails.
   */
  async function prepare(p: Problem, c: Candidate, list: GPUBuffer[], base: Tuning) {
    const plan = candidatePlan(p, c, dev.limits, base);
    const { inputs, params } = problemOperands(p);
    const byslot: Record<string, GPUBuffer> = { output: list.at(-1)! };
    inputs.forEach((_, k) => (byslot[`input${k}`] = list[k]!));
    params.forEach((_, k) => (byslot[`param${k}`] = list[inputs.length + k]!));
    plan.scratch.forEach((n, k) => list.push((byslot[`scratch${k}`] = buffer(n))));
    device.pushErrorScope('validation');
    let failure: string | undefined;
    const made: { pipe: GPUComputePipeline; group: GPUBindGroup; grid: readonly [number, number, number] }[] =
      [];
    try {
      for (const spec of plan.dispatches) {
        const pipe = await device.createComputePipelineAsync({
          layout: 'auto',
          compute: { module: device.createShaderModule({ code: spec.wgsl }), entryPoint: spec.entryPoint },
        });
        const group = device.createBindGroup({
          layout: pipe.getBindGroupLayout(0),
          entries: spec.bindings.map((slot, binding) => ({ binding, resource: { buffer: byslot[slot]! } })),
        });
        made.push({ pipe, group, grid: spec.grid });
      }
    } catch (e) {
      failure = (e as Error).message;
    }
    const err = await device.popErrorScope();
    if (err || failure || made.length !== plan.dispatches.length) {
      o.warn?.(`kernel tuning: ${c.name} failed on ${p.key} and is skipped: ${err?.message ?? failure}`);
      return undefined;
    }
    return made;
  }

  const timer = async (p: Problem, cands: readonly Candidate[], base: Tuning = {}): Promise<number[]> => {
    if (bufs?.key !== p.key) {
      release();
      const { inputs, params, out } = problemOperands(p);
      bufs = { key: p.key, list: [...inputs, ...params, out].map((s) => buffer(numel(s))) };
    }
    const list = bufs.list;
    const runs = await Promise.all(cands.map((c) => prepare(p, c, list, base)));
    /** ms per run (all its dispatches) of one submit of n runs of candidate k. */
    const measure = async (k: number, n: number): Promise<number> => {
      const r = runs[k]!;
      const t0 = performance.now();
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      for (let j = 0; j < n; j++)
        for (const d of r) {
          pass.setPipeline(d.pipe);
          pass.setBindGroup(0, d.group);
          pass.dispatchWorkgroups(...d.grid);
        }
      pass.end();
      device.queue.submit([enc.finish()]);
      await device.queue.onSubmittedWorkDone();
      return (performance.now() - t0) / n;
    };
    const best = cands.map(() => Infinity);
    const reps = cands.map(() => 1);
    for (let k = 0; k < cands.length; k++) if (runs[k]) await measure(k, 1); // first use: compile, warm up
    // Calibration: the better of two single runs (one run can be hit by a pause of a loaded machine).
    // A candidate over 2·giveUp × the best after one run is hopeless: no second run.
    for (let c = 0; c < 2; c++) {
      const cut = c === 0 ? Infinity : 2 * giveUp * Math.min(...best);
      for (let k = 0; k < cands.length; k++)
        if (runs[k] && best[k]! <= cut) best[k] = Math.min(best[k]!, await measure(k, 1));
    }
    for (let k = 0; k < cands.length; k++)
      reps[k] = Math.max(1, Math.min(64, Math.round(targetMs / Math.max(best[k]!, 1e-3))));
    const fastest = Math.min(...best);
    const active = cands.map((_, k) => runs[k] !== undefined && best[k]! <= giveUp * fastest);
    // Fewer rounds where one run is long (large problems on a slow adapter): about `budgetMs` per candidate.
    const nRounds = Math.max(1, Math.min(rounds, Math.floor(budgetMs / fastest)));
    for (let r = 0; r < nRounds; r++)
      for (let k = 0; k < cands.length; k++)
        if (active[k]) best[k] = Math.min(best[k]!, await measure(k, reps[k]!));
    return best;
  };
  return Object.assign(timer, { release });
}

// ---------------------------------------------------------------------------------------------------------------
// Tuning a program

export interface TuneOptions {
  readonly mode: TuneMode;
  readonly adapter: AdapterIdentity;
  readonly limits: DeviceLimits;
  /** The adapter's fixed defaults (runtime/tuning.ts); the per-problem choices go on top. */
  readonly base?: Tuning;
  /** Needed in mode 'full'. */
  readonly timer?: Timer;
  /** Default: cacheDir(). */
  readonly cacheDir?: string;
  /** Called before each timing (done of total) and once at the end (total of total). */
  readonly onProgress?: (done: number, total: number, what: string) => void;
  readonly warn?: (msg: string) => void;
}

export interface TuneResult {
  /** The tuning record to compile with: `base` plus `<key>@<problem>` for every problem with a choice. */
  readonly tuning: Tuning;
  /** The problems of the program that are tuned (at least MIN_TUNED_FLOPS). */
  readonly problems: readonly Problem[];
  /** Their choices (a problem without one runs with `base`). */
  readonly choices: Readonly<Record<string, CacheEntry>>;
  readonly fromCache: number;
  readonly timed: number;
  /** The cache file read or written (undefined in mode 'off'). */
  readonly file?: string;
  /** One line for logs. */
  readonly summary: string;
}

/** A problem key's class (the op and conv without its batch and spatial size) and its pixel count N·H·W. */
export function problemClass(key: string): { cls: string; pixels: number } | undefined {
  const m = /^(conv2d(?:_grad_input|_grad_weight)?):(\d+)x(\d+)x(\d+)x(\d+)-(.+)$/.exec(key);
  if (!m) return undefined;
  return { cls: `${m[1]}:${m[3]}-${m[6]}`, pixels: Number(m[2]) * Number(m[4]) * Number(m[5]) };
}

/**
 * The cached choice of the same conv (channels, kernel, stride, padding, dilation, groups) at the batch and size
 * nearest to this problem's (in log pixels; ties to the larger), when the exact problem is not cached: a program
 * compiled at another size reuses what was measured. Every candidate runs any shape, so this is always safe.
 */
export function nearestOfClass(
  key: string,
  entries: Readonly<Record<string, CacheEntry>>,
): CacheEntry | undefined {
  const me = problemClass(key);
  if (!me) return undefined;
  let best: { d: number; pixels: number; e: CacheEntry } | undefined;
  for (const [k, e] of Object.entries(entries)) {
    const c = problemClass(k);
    if (!c || c.cls !== me.cls) continue;
    const d = Math.abs(Math.log(c.pixels / me.pixels));
    if (!best || d < best.d || (d === best.d && c.pixels > best.pixels)) best = { d, pixels: c.pixels, e };
  }
  return best?.e;
}

/** `base` plus the per-problem keys of each choice. */
export function tuningRecord<E extends { readonly tuning: Tuning }>(
  base: Tuning,
  choices: Readonly<Record<string, E>>,
): Tuning {
  const out: Record<string, number> = { ...base };
  for (const key of Object.keys(choices).sort())
    for (const [k, v] of Object.entries(choices[key]!.tuning)) out[`${k}@${key}`] = v;
  return out;
}

/**
 * The choice among timed candidates (`ms` in their order; Infinity for one that failed): the fastest, unless the
 * defaults' kernel (`DEFAULT_CANDIDATE`, when timed) is within `MIN_GAIN` of it.
 */
export function choose(cands: readonly Candidate[], ms: readonly number[]): [Candidate, number] | undefined {
  let k = -1;
  for (let j = 0; j < cands.length; j++) if (Number.isFinite(ms[j]!) && (k < 0 || ms[j]! < ms[k]!)) k = j;
  if (k < 0) return undefined;
  const d = cands.indexOf(DEFAULT_CANDIDATE);
  if (d >= 0 && Number.isFinite(ms[d]!) && ms[k]! >= (1 - MIN_GAIN) * ms[d]!) k = d;
  return [cands[k]!, ms[k]!];
}

/** Chooses the kernels of a compiled graph (see the header for the modes). */
export async function tuneGraph(g: Graph, o: TuneOptions): Promise<TuneResult> {
  const base = o.base ?? {};
  // Problems with kernels to choose from, heavy enough to repay their timing.
  const problems = problemsOf(g).filter((p) => p.flops >= MIN_TUNED_FLOPS && candidatesOfKind(p).length > 0);
  if (o.mode === 'off')
    return {
      tuning: base,
      problems,
      choices: {},
      fromCache: 0,
      timed: 0,
      summary: 'kernel tuning off: fixed defaults',
    };
  const warn = o.warn ?? ((m: string) => process.stderr.write(`warning: ${m}\n`));
  const checksum = kernelSetChecksum(base);
  const file = cacheFile(o.cacheDir ?? cacheDir(), o.adapter);
  const cached = readCache(file, o.adapter, checksum, warn);
  const choices: Record<string, CacheEntry> = {};
  let fromCache = 0;
  if (o.mode === 'cached') {
    let similar = 0;
    for (const p of problems) {
      const hit = cached.problems[p.key];
      if (hit) {
        choices[p.key] = hit;
        fromCache++;
        continue;
      }
      const near = nearestOfClass(p.key, cached.problems);
      if (near) {
        choices[p.key] = near;
        similar++;
      }
    }
    const missing = problems.length - fromCache - similar;
    return {
      tuning: tuningRecord(base, choices),
      problems,
      choices,
      fromCache,
      timed: 0,
      file,
      summary:
        `kernel tuning: ${fromCache} of ${problems.length} conv problems from the cache (${file})` +
        (similar ? `; ${similar} from the same conv at another size` : '') +
        (missing ? `; ${missing} on defaults (--tune full measures them)` : '') +
        (cached.stale && missing ? '; the cache was for another kernel set' : ''),
    };
  }
  if (!o.timer) throw new Error('internal: tuning in mode full needs a timer');
  const work = problems.map((p) => ({ p, cands: candidatesFor(p, o.limits, base) }));
  const total = work.reduce((a, w) => a + w.cands.length, 0);
  let done = 0;
  const fresh: Record<string, CacheEntry> = {};
  for (const { p, cands } of work) {
    o.onProgress?.(done, total, `${p.key} (${cands.length} kernels)`);
    const ms = await o.timer(p, cands, base);
    done += cands.length;
    const times: Record<string, number> = {};
    for (let k = 0; k < cands.length; k++) if (Number.isFinite(ms[k]!)) times[cands[k]!.name] = ms[k]!;
    const pick = choose(cands, ms);
    if (!pick) continue;
    const [best, bestMs] = pick;
    fresh[p.key] = choices[p.key] = {
      name: best.name,
      tuning: best.tuning,
      ms: bestMs,
      times,
      date: new Date().toISOString(),
    };
  }
  o.onProgress?.(total, total, 'done');
  if (Object.keys(fresh).length) writeCache(file, o.adapter, checksum, fresh, warn);
  const timed = Object.keys(fresh).length;
  return {
    tuning: tuningRecord(base, choices),
    problems,
    choices,
    fromCache: 0,
    timed,
    file,
    summary: `kernel tuning: ${timed} conv problems timed (${total} kernels), choices saved in ${file}`,
  };
}
