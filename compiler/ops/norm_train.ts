// Batchnorm in training, as PyTorch computes it, built from small ops whose backward rules compose into the
// batchnorm gradient:
//   mean = channel_mean(x), var = channel_var(x) (biased: over N·H·W), y = bn_norm(x, mean, var; w, b)
// and the running statistics updated as `running_stat` (momentum 0.1, the variance unbiased by n/(n − 1)).
// bn_norm's backward gives dx with the statistics held fixed plus the gradients of mean and var; those flow on
// through channel_var's and channel_mean's rules, and autodiff adds the three parts of dx. Each rule is checked
// alone against finite differences; together they are PyTorch's batchnorm backward.
import { defineOp, ShapeError } from './op.ts';
import { pointwiseOp } from './elementwise.ts';
import { refTensor } from './ref.ts';
import { numel, shapeToString, type Shape } from '../ir/types.ts';
import { f, kernelSpec, linearMain, u, WG, type Buf } from '../codegen/wgsl/common.ts';
import { channelReduceKernel } from '../codegen/wgsl/reduce.ts';
import { KernelIo } from '../codegen/wgsl/io.ts';
import type { KernelCtx, KernelSpec, RefTensor } from './op.ts';

const GRAD = 'a gradient op';

/** [N, C, …] → the number of elements per channel and the channel of flat index i. */
function perChannel(s: Shape): { C: number; inner: number; count: number } {
  const C = s[1]!;
  const inner = numel(s.slice(2));
  return { C, inner, count: s[0]! * inner };
}
const channelOf = (i: number, C: number, inner: number): number => Math.floor(i / inner) % C;

function needChannels(x: Shape, what: string): void {
  if (x.length < 2)
    throw new ShapeError(`${what} needs a tensor with channels [N, C, …], got ${shapeToString(x)}`, [0]);
}
function needVector(v: Shape, C: number, what: string, input: number): void {
  if (v.length !== 1 || v[0] !== C)
    throw new ShapeError(`${what}: input ${input} must be a vector [${C}], got ${shapeToString(v)}`, [input]);
}
function sameAs(a: Shape, b: Shape, what: string, inputs: number[]): void {
  if (a.length !== b.length || a.some((d, k) => d !== b[k]))
    throw new ShapeError(
      `${what} needs equal shapes, got ${shapeToString(a)} and ${shapeToString(b)}`,
      inputs,
    );
}

/** Per-channel sums of `f(i, c)` over a tensor's elements. */
function channelSums(x: RefTensor, f: (i: number, c: number) => number): Float64Array {
  const { C, inner } = perChannel(x.shape);
  const out = new Float64Array(C);
  for (let i = 0; i < x.data.length; i++) {
    const c = channelOf(i, C, inner);
    out[c] += f(i, c);
  }
  return out;
}

/** mean[c] = Σ_{n,…} x / (N·…). */
export const channelMean = defineOp({
  name: 'channel_mean',
  doc: 'mean[c] = Σ_{n, positions} x[n, c, …] / count',
  arity: 1,
  inferShape([x]) {
    needChannels(x!, 'channel_mean');
    return [x![1]!];
  },
  reference([x], _p, _a, out) {
    const { count } = perChannel(x.shape);
    return refTensor(
      out,
      channelSums(x, (i) => x.data[i]! / count),
    );
  },
  kernel: (ctx) =>
    channelReduceKernel(ctx, {
      name: 'channel_mean',
      comment: 'per-channel mean over the batch',
      elementInputs: ['x'],
      channelInputs: [],
      sums: [{ expr: 'x_e' }],
      results: ['total0 / f32(COUNT)'],
    }),
  backward: (c) => [
    c.add(
      'channel_broadcast',
      [c.dy],
      [],
      { shape: c.shapes.inputs[0]!, scale: 1 / perChannel(c.shapes.inputs[0]!).count },
      'x',
    ),
  ],
});

/** var[c] = Σ (x − mean[c])² / count: the biased variance batchnorm normalises with. */
export const channelVar = defineOp({
  name: 'channel_var',
  doc: 'var[c] = Σ_{n, positions} (x − mean[c])² / count (biased)',
  arity: 1,
  inferShape([x]) {
    needChannels(x!, 'channel_var');
    return [x![1]!];
  },
  reference([x], _p, _a, out) {
    const { count } = perChannel(x.shape);
    const m = channelSums(x, (i) => x.data[i]! / count);
    return refTensor(
      out,
      channelSums(x, (i, c) => (x.data[i]! - m[c]!) ** 2 / count),
    );
  },
  kernel: (ctx) =>
    channelReduceKernel(ctx, {
      name: 'channel_var',
      comment:
        'per-channel biased variance over the batch (two passes: the mean, then the squared deviations)',
      elementInputs: ['x'],
      channelInputs: [],
      sums: [
        { expr: 'x_e' },
        { expr: '(x_e - total0 / f32(COUNT)) * (x_e - total0 / f32(COUNT))', afterPass: true },
      ],
      results: ['total0 / f32(COUNT)', 'total1 / f32(COUNT)'],
      stores: [1],
    }),
  backward(c) {
    const x = c.inputs[0]!;
    const mean = c.add('channel_mean', [x], [], {}, 'mean');
    return [c.add('var_grad', [x, mean, c.dy], [], { count: perChannel(c.shapes.inputs[0]!).count }, 'x')];
  },
});

/** out[n, c, …] = d[c] · scale: a per-channel gradient spread over the elements it summarised. */
export const channelBroadcast = pointwiseOp<{ shape: readonly number[]; scale: number }>({
  name: 'channel_broadcast',
  doc: 'out[n, c, …] = d[c] · scale',
  arity: 1,
  noBackward: GRAD,
  inferShape([d], a) {
    needVector(d!, a.shape[1]!, 'channel_broadcast', 0);
    return a.shape;
  },
  reference([d], _p, a, out) {
    const { C, inner } = perChannel(out);
    const y = refTensor(out);
    for (let i = 0; i < y.data.length; i++) y.data[i] = d.data[channelOf(i, C, inner)]! * a.scale;
    return y;
  },
  pointwise: { primary: [], wgsl: ([d], a) => `${d} * ${f(a.scale)}` },
});

/** dx = dv[c] · 2 (x − mean[c]) / count: the variance's gradient with respect to its input. */
export const varGrad = pointwiseOp<{ count: number }>({
  name: 'var_grad',
  doc: 'dx = dv[c] · 2 · (x − mean[c]) / count',
  arity: 3,
  noBackward: GRAD,
  inferShape([x, m, dv], a) {
    needChannels(x!, 'var_grad');
    needVector(m!, x![1]!, 'var_grad', 1);
    needVector(dv!, x![1]!, 'var_grad', 2);
    if (a.count !== perChannel(x!).count)
      throw new ShapeError(
        `var_grad: count ${a.count} is not the ${perChannel(x!).count} elements per channel`,
      );
    return x!;
  },
  reference([x, m, dv], _p, a, out) {
    const { C, inner } = perChannel(x.shape);
    const y = refTensor(out);
    for (let i = 0; i < y.data.length; i++) {
      const c = channelOf(i, C, inner);
      y.data[i] = (dv.data[c]! * 2 * (x.data[i]! - m.data[c]!)) / a.count;
    }
    return y;
  },
  pointwise: { primary: [0], wgsl: ([x, m, dv], a) => `${dv} * ${f(2 / a.count)} * (${x} - ${m})` },
});

/** y = (x − mean[c]) · w[c] / √(var[c] + eps) + b[c], with statistics given as inputs. */
export const bnNorm = pointwiseOp<{ eps: number }>({
  name: 'bn_norm',
  doc: 'y = (x − mean[c]) · w[c] / sqrt(var[c] + eps) + b[c]',
  arity: 3,
  inferShape([x, m, v]) {
    needChannels(x!, 'bn_norm');
    needVector(m!, x![1]!, 'bn_norm', 1);
    needVector(v!, x![1]!, 'bn_norm', 2);
    return x!;
  },
  params: ([x]) => [
    { role: 'weight', shape: [x![1]!], init: { kind: 'ones' } },
    { role: 'bias', shape: [x![1]!], init: { kind: 'zeros' } },
  ],
  reference([x, m, v], [w, b], a, out) {
    const { C, inner } = perChannel(x.shape);
    const y = refTensor(out);
    for (let i = 0; i < y.data.length; i++) {
      const c = channelOf(i, C, inner);
      y.data[i] = ((x.data[i]! - m.data[c]!) * w.data[c]!) / Math.sqrt(v.data[c]! + a.eps) + b.data[c]!;
    }
    return y;
  },
  pointwise: {
    primary: [0],
    wgsl: ([x, m, v, w, b], a) => `(${x} - ${m}) * (${w} * inverseSqrt(${v} + ${f(a.eps)})) + ${b}`,
  },
  backward(c) {
    const [x, mean, variance] = c.inputs as [number, number, number];
    const w = c.params[0]!;
    const eps = c.attrs.eps;
    const sums = c.add('bn_norm_grad_sums', [c.dy, x, mean, variance], [], { eps }, 'sums');
    const sumDy = c.add('take_row', [sums], [], { row: 0 }, 'sum_dy');
    const sumDyXhat = c.add('take_row', [sums], [], { row: 1 }, 'sum_dy_xhat');
    return [
      c.add('bn_norm_grad_x', [c.dy, variance], [w], { eps }, 'x'),
      c.add('bn_grad_mean', [sumDy, variance], [w], { eps }, 'mean'),
      c.add('bn_grad_var', [sumDyXhat, variance], [w], { eps }, 'var'),
      sumDyXhat, // dw = Σ dy · x̂
      sumDy, // db = Σ dy
    ];
  },
});

/** [Σ dy, Σ dy · x̂] per channel, x̂ = (x − mean) / √(var + eps): the sums a batchnorm's backward needs. */
export const bnNormGradSums = defineOp<{ eps: number }>({
  name: 'bn_norm_grad_sums',
  doc: 'rows [Σ dy, Σ dy · (x − mean[c]) / sqrt(var[c] + eps)] per channel',
  arity: 4,
  noBackward: GRAD,
  inferShape([dy, x, m, v]) {
    needChannels(x!, 'bn_norm_grad_sums');
    sameAs(dy!, x!, 'bn_norm_grad_sums', [0, 1]);
    needVector(m!, x![1]!, 'bn_norm_grad_sums', 2);
    needVector(v!, x![1]!, 'bn_norm_grad_sums', 3);
    return [2, x![1]!];
  },
  reference([dy, x, m, v], _p, a, out) {
    const s0 = channelSums(x, (i) => dy.data[i]!);
    const s1 = channelSums(
      x,
      (i, c) => (dy.data[i]! * (x.data[i]! - m.data[c]!)) / Math.sqrt(v.data[c]! + a.eps),
    );
    const y = refTensor(out);
    y.data.set(s0, 0);
    y.data.set(s1, s0.length);
    return y;
  },
  kernel: (ctx) =>
    channelReduceKernel(ctx, {
      name: 'bn_norm_grad_sums',
      comment: "batchnorm backward's per-channel sums Σ dy and Σ dy · x̂",
      elementInputs: ['dy', 'x'],
      channelInputs: ['mean', 'variance'],
      prologue: `let inv = inverseSqrt(variance_c + ${f(ctx.attrs.eps as number)});`,
      sums: [{ expr: 'dy_e' }, { expr: 'dy_e * (x_e - mean_c) * inv' }],
    }),
});

/** Row `row` of a [R, C] tensor. */
export const takeRow = defineOp<{ row: number }>({
  name: 'take_row',
  doc: 'y[c] = t[row, c]',
  arity: 1,
  noBackward: GRAD,
  inferShape([t], a) {
    if (t!.length !== 2 || a.row < 0 || a.row >= t![0]!)
      throw new ShapeError(`take_row ${a.row} of ${shapeToString(t!)}`, [0]);
    return [t![1]!];
  },
  reference([t], _p, a, out) {
    const C = out[0]!;
    return refTensor(out, t.data.subarray(a.row * C, (a.row + 1) * C));
  },
  kernel: (ctx) => takeRowKernel(ctx),
});

/** dx = dy · w[c] / √(var[c] + eps): batchnorm's gradient with the statistics held fixed. */
export const bnNormGradX = pointwiseOp<{ eps: number }>({
  name: 'bn_norm_grad_x',
  doc: 'dx = dy · w[c] / sqrt(var[c] + eps)',
  arity: 2,
  noBackward: GRAD,
  inferShape([dy, v]) {
    needChannels(dy!, 'bn_norm_grad_x');
    needVector(v!, dy![1]!, 'bn_norm_grad_x', 1);
    return dy!;
  },
  params: ([dy]) => [{ role: 'weight', shape: [dy![1]!], init: { kind: 'ones' } }],
  reference([dy, v], [w], a, out) {
    const { C, inner } = perChannel(dy.shape);
    const y = refTensor(out);
    for (let i = 0; i < y.data.length; i++) {
      const c = channelOf(i, C, inner);
      y.data[i] = (dy.data[i]! * w.data[c]!) / Math.sqrt(v.data[c]! + a.eps);
    }
    return y;
  },
  pointwise: { primary: [0], wgsl: ([dy, v, w], a) => `${dy} * (${w} * inverseSqrt(${v} + ${f(a.eps)}))` },
});

const vectorOp = (
  name: string,
  doc: string,
  ref: (s: number, v: number, w: number, eps: number) => number,
  wgsl: (s: string, v: string, w: string, eps: string) => string,
) =>
  pointwiseOp<{ eps: number }>({
    name,
    doc,
    arity: 2,
    noBackward: GRAD,
    inferShape([s, v]) {
      needVector(s!, s![0]!, name, 0);
      needVector(v!, s![0]!, name, 1);
      return s!;
    },
    params: ([s]) => [{ role: 'weight', shape: [s![0]!], init: { kind: 'ones' } }],
    reference([s, v], [w], a, out) {
      const y = refTensor(out);
      for (let c = 0; c < y.data.length; c++) y.data[c] = ref(s.data[c]!, v.data[c]!, w.data[c]!, a.eps);
      return y;
    },
    pointwise: { primary: [0], wgsl: ([s, v, w], a) => wgsl(s!, v!, w!, f(a.eps)) },
  });

/** dmean = −Σdy · w / √(var + eps). */
export const bnGradMean = vectorOp(
  'bn_grad_mean',
  'dmean[c] = −s[c] · w[c] / sqrt(var[c] + eps)',
  (s, v, w, eps) => (-s * w) / Math.sqrt(v + eps),
  (s, v, w, eps) => `-${s} * ${w} * inverseSqrt(${v} + ${eps})`,
);
/** dvar = −½ · Σ dy·x̂ · w / (var + eps). */
export const bnGradVar = vectorOp(
  'bn_grad_var',
  'dvar[c] = −0.5 · s[c] · w[c] / (var[c] + eps)',
  (s, v, w, eps) => (-0.5 * s * w) / (v + eps),
  (s, v, w, eps) => `-0.5 * ${s} * ${w} / (${v} + ${eps})`,
);

/** A running statistic after one training step: (1 − momentum) · old + momentum · batch · correction. */
export const runningStat = pointwiseOp<{ momentum: number; correction: number }>({
  name: 'running_stat',
  doc: "new[c] = (1 − momentum) · old[c] + momentum · batch[c] · correction (PyTorch's batchnorm update)",
  arity: 2,
  noBackward: 'a state update of training',
  inferShape([old, batch]) {
    needVector(old!, old![0]!, 'running_stat', 0);
    needVector(batch!, old![0]!, 'running_stat', 1);
    return old!;
  },
  reference([old, batch], _p, a, out) {
    const y = refTensor(out);
    for (let c = 0; c < y.data.length; c++)
      y.data[c] = (1 - a.momentum) * old.data[c]! + a.momentum * batch.data[c]! * a.correction;
    return y;
  },
  pointwise: {
    primary: [0],
    wgsl: ([old, batch], a) => `${f(1 - a.momentum)} * ${old} + ${f(a.momentum * a.correction)} * ${batch}`,
  },
});

// ---- kernels specific to this file

function takeRowKernel(ctx: KernelCtx<{ row: number }>): KernelSpec {
  const C = ctx.out[0]!;
  const io = new KernelIo(ctx);
  const bufs: Buf[] = [{ slot: 'input0', name: 't', elem: 'f32' }, ...io.outBufs()];
  return kernelSpec(
    `take_row_${ctx.attrs.row}`,
    `take_row ${ctx.attrs.row} of [${ctx.inputs[0]!.join(', ')}]`,
    bufs,
    `const OFFSET = ${u(ctx.attrs.row * C)};`,
    linearMain(C, WG, ctx.opts),
    `  ${io.store('gid', 't[OFFSET + gid]')}`,
    WG,
    {},
    io.helpers(),
  );
}
