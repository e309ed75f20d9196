// Ops that only training graphs hold: dropout with its random mask, the losses of reference §5.1 (pixelwise
// cross-entropy ignoring label −1, the SE loss on class presence), constants that seed the backward pass, and the
// optimizer (SGD with momentum and weight decay, reference §5.2).
//
// Hyper-parameters that change every step — the learning rate, the step, the seed — are a small input `hyper`
// ([HYPER_SIZE] floats, see HYPER) read whole by the ops that need them: a new step is new numbers, not a new
// program.
import { defineOp, ShapeError, type RefTensor } from './op.ts';
import { pointwiseOp } from './elementwise.ts';
import { refTensor } from './ref.ts';
import { numel, shapeToString, type Shape } from '../ir/types.ts';
import { f } from '../codegen/wgsl/common.ts';
import {
  bceLossKernel,
  ceGradKernel,
  ceLossKernel,
  classPresenceKernel,
  constantKernel,
  weightedSumKernel,
} from '../codegen/wgsl/loss.ts';

/**
 * The layout of the `hyper` input: learning rate, step, dropout seed, and — in gradient accumulation — the number
 * of micro-batches accumulated before this one (`grad_step`: 0 starts a new sum) or in all (`apply_step`).
 */
export const HYPER = { lr: 0, step: 1, seed: 2, micro: 3 } as const;
export const HYPER_SIZE = 4;

// ---- dropout (training): the counter-based random mask -------------------------------------------------------

/**
 * A 32-bit hash (PCG's output permutation), the same in WGSL and here: the dropout mask of element (or channel) i
 * at step t with seed s is pcg(pcg(pcg(s) ^ t) ^ key) ^ i → pcg → uniform in [0, 1). No state: the same seed and
 * step give the same mask on every device, in any order of execution.
 */
export function pcg(v: number): number {
  const s = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const w = Math.imul(((s >>> ((s >>> 28) + 4)) ^ s) >>> 0, 277803737) >>> 0;
  return ((w >>> 22) ^ w) >>> 0;
}
export function dropoutUniform(seed: number, step: number, key: number, index: number): number {
  const h = pcg(pcg((pcg(seed >>> 0) ^ (step >>> 0)) >>> 0) ^ (key >>> 0) ^ (index >>> 0));
  return (h >>> 8) / 16777216;
}
const PCG_WGSL = `// PCG's output permutation (a 32-bit hash): the dropout mask, the same on every device and in any order.
fn pcg(v: u32) -> u32 {
  let s = v * 747796405u + 2891336453u;
  let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
  return (w >> 22u) ^ w;
}
fn pcg4(v: vec4u) -> vec4u {
  let s = v * 747796405u + 2891336453u;
  let w = ((s >> ((s >> vec4u(28u)) + 4u)) ^ s) * 277803737u;
  return (w >> vec4u(22u)) ^ w;
}`;

type DropoutAttrs = { p: number; channelwise: boolean; key: number };
/**
 * Training dropout: y = x / (1 − p) where the element (or the whole channel, Dropout2d) is kept, else 0; kept
 * when uniform(seed, step, key, index) ≥ p. The backward is the same op on the gradient (the same mask).
 */
export const dropoutTrain = pointwiseOp<DropoutAttrs>({
  name: 'dropout_train',
  doc: 'y = x / (1 − p) where uniform(seed, step, key, element or (n, c)) ≥ p, else 0',
  arity: 2,
  inferShape([x, hyper]) {
    if (hyper!.length !== 1 || hyper![0] !== HYPER_SIZE)
      throw new ShapeError(
        `dropout_train reads the hyper-parameters [${HYPER_SIZE}], got ${shapeToString(hyper!)}`,
        [1],
      );
    return x!;
  },
  reference([x, hyper], _p, a, out) {
    const seed = hyper.data[HYPER.seed]!;
    const step = hyper.data[HYPER.step]!;
    const inner = x.shape.length > 2 ? numel(x.shape.slice(2)) : 1;
    const y = refTensor(out);
    for (let i = 0; i < y.data.length; i++) {
      const index = a.channelwise ? Math.floor(i / inner) : i;
      const keep = dropoutUniform(seed, step, a.key, index) >= a.p;
      y.data[i] = keep ? x.data[i]! / (1 - a.p) : 0;
    }
    return y;
  },
  pointwise: {
    primary: [0],
    index: () => ['same', 'whole'],
    usesIndex: true,
    helpers: PCG_WGSL,
    wgsl([x, hyper], a, elem, ix) {
      const key = (idx: string, vec: boolean): string => {
        const h = vec ? 'pcg4' : 'pcg';
        const base = `(pcg(pcg(u32(${hyper}[${HYPER.seed}])) ^ u32(${hyper}[${HYPER.step}])) ^ ${a.key >>> 0}u)`;
        return `${h}(${vec ? `vec4u(${base})` : base} ^ ${idx})`;
      };
      // Channelwise (Dropout2d): one draw per (n, c), the same for the four lanes of a vec4 chain.
      const vec = elem === 'vec4f' && !a.channelwise;
      const conv = vec ? 'vec4f' : 'f32';
      const u = `${conv}(${key(a.channelwise ? ix.sampleChannel : ix.flat, vec)} >> ${vec ? 'vec4u(8u)' : '8u'}) / 16777216.0`;
      return `select(${elem}(0.0), ${x} * ${f(1 / (1 - a.p))}, ${u} >= ${conv}(${f(a.p)}))`;
    },
  },
  backward: (c) => [c.add('dropout_train', [c.dy, c.inputs[1]!], [], c.attrs, 'x'), null],
});

// ---- losses ---------------------------------------------------------------------------------------------------

function needLabels(logits: Shape, labels: Shape, what: string): void {
  if (logits.length !== 4)
    throw new ShapeError(`${what} scores [N, classes, H, W] logits, got ${shapeToString(logits)}`, [0]);
  const want = [logits[0]!, logits[2]!, logits[3]!];
  if (labels.length !== 3 || labels.some((d, k) => d !== want[k]))
    throw new ShapeError(`${what}: labels must be [${want.join(', ')}], got ${shapeToString(labels)}`, [1]);
}

/** Per pixel: log Σ_c exp(z_c) − z_label; with the softmax. */
function pixelCe(z: RefTensor, n: number, p: number, label: number): { loss: number; softmax: Float64Array } {
  const [, C, H, W] = z.shape as [number, number, number, number];
  const at = (c: number): number => z.data[(n * C + c) * H * W + p]!;
  let max = -Infinity;
  for (let c = 0; c < C; c++) max = Math.max(max, at(c));
  let sum = 0;
  const e = new Float64Array(C);
  for (let c = 0; c < C; c++) sum += e[c] = Math.exp(at(c) - max);
  for (let c = 0; c < C; c++) e[c]! /= sum;
  return { loss: Math.log(sum) + max - at(label), softmax: e };
}

/**
 * Pixelwise cross-entropy, mean over the labelled pixels (label ≠ ignore), as PyTorch's CrossEntropyLoss with
 * ignore_index: [mean loss, labelled pixels]. Labels are class indices stored as floats ([N, H, W]).
 */
export const ceLoss = defineOp<{ ignore: number }>({
  name: 'ce_loss',
  doc: 'y = [Σ_labelled (log Σ_c exp z_c − z_label) / count, count]',
  arity: 2,
  inferShape([z, labels]) {
    needLabels(z!, labels!, 'ce_loss');
    return [2];
  },
  reference([z, labels], _p, a, out) {
    const [N, , H, W] = z.shape as [number, number, number, number];
    let sum = 0;
    let count = 0;
    for (let n = 0; n < N; n++)
      for (let p = 0; p < H * W; p++) {
        const label = labels.data[n * H * W + p]!;
        if (label === a.ignore) continue;
        sum += pixelCe(z, n, p, label).loss;
        count++;
      }
    return refTensor(out, [count ? sum / count : 0, count]);
  },
  kernel: (ctx) => ceLossKernel(ctx),
  // Only the mean carries a gradient; the count is a constant of the labels.
  backward: (c) => [c.add('ce_grad', [c.inputs[0]!, c.inputs[1]!, c.out, c.dy], [], c.attrs, 'logits'), null],
});

/** d(mean CE)/dz = dy[0] · (softmax − onehot(label)) / count on labelled pixels, 0 on ignored ones. */
export const ceGrad = defineOp<{ ignore: number }>({
  name: 'ce_grad',
  doc: 'dz[n, c, p] = dy[0] · (softmax_c − [c = label]) / count, 0 where the label is ignored',
  arity: 4,
  noBackward: 'a gradient op',
  inferShape([z, labels, loss, dy]) {
    needLabels(z!, labels!, 'ce_grad');
    if (numel(loss!) !== 2 || numel(dy!) !== 2)
      throw new ShapeError('ce_grad takes the loss [2] and its gradient [2]');
    return z!;
  },
  reference([z, labels, loss, dy], _p, a, out) {
    const [N, C, H, W] = z.shape as [number, number, number, number];
    const count = loss.data[1]!;
    const g = refTensor(out);
    for (let n = 0; n < N; n++)
      for (let p = 0; p < H * W; p++) {
        const label = labels.data[n * H * W + p]!;
        if (label === a.ignore || count === 0) continue;
        const { softmax } = pixelCe(z, n, p, label);
        for (let c = 0; c < C; c++)
          g.data[(n * C + c) * H * W + p] = (dy.data[0]! * (softmax[c]! - (c === label ? 1 : 0))) / count;
      }
    return g;
  },
  kernel: (ctx) => ceGradKernel(ctx),
});

/** t[n, c] = 1 if class c occurs among the labelled pixels of sample n (the SE loss's target, reference §5.1). */
export const classPresence = defineOp<{ classes: number; ignore: number }>({
  name: 'class_presence',
  doc: 't[n, c] = 1 if some pixel of sample n has label c (labels outside [0, classes) and the ignore value are not counted)',
  arity: 1,
  noBackward: 'a function of the labels',
  inferShape([labels], a) {
    if (labels!.length !== 3)
      throw new ShapeError(`class_presence reads labels [N, H, W], got ${shapeToString(labels!)}`, [0]);
    return [labels![0]!, a.classes];
  },
  reference([labels], _p, a, out) {
    const [N] = labels.shape as [number];
    const per = labels.data.length / N;
    const t = refTensor(out);
    for (let n = 0; n < N; n++)
      for (let i = 0; i < per; i++) {
        const l = labels.data[n * per + i]!;
        if (l !== a.ignore && l >= 0 && l < a.classes) t.data[n * a.classes + l] = 1;
      }
    return t;
  },
  kernel: (ctx) => classPresenceKernel(ctx),
});

/** The log PyTorch's BCELoss takes: clamped below at −100. */
const clampedLog = (v: number): number => Math.max(Math.log(v), -100);
const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/**
 * The SE loss: mean over N × classes of BCE(sigmoid(x), t) as PyTorch's BCELoss(sigmoid(x), t) computes it (each
 * log clamped at −100).
 */
export const bceLoss = defineOp({
  name: 'bce_loss',
  doc: 'y = −mean(t · log σ(x) + (1 − t) · log(1 − σ(x))), each log clamped at −100',
  arity: 2,
  inferShape([x, t]) {
    if (x!.length !== 2 || t!.length !== 2 || x![0] !== t![0] || x![1] !== t![1])
      throw new ShapeError(
        `bce_loss takes logits and targets of one shape [N, C], got ${shapeToString(x!)} and ${shapeToString(t!)}`,
        [0, 1],
      );
    return [1];
  },
  reference([x, t], _p, _a, out) {
    let sum = 0;
    for (let i = 0; i < x.data.length; i++) {
      const p = sigmoid(x.data[i]!);
      const y = t.data[i]!;
      sum -= y * clampedLog(p) + (1 - y) * clampedLog(1 - p);
    }
    return refTensor(out, [sum / x.data.length]);
  },
  kernel: (ctx) => bceLossKernel(ctx),
  backward: (c) => [
    c.add('bce_grad', [c.inputs[0]!, c.inputs[1]!, c.dy], [], { count: numel(c.shapes.inputs[0]!) }, 'x'),
    null,
  ],
});

/**
 * d(SE loss)/dx as PyTorch computes it through BCELoss and sigmoid: dy · (p − t) / max(p (1 − p), 1e−12) · p (1 − p)
 * / count, p = σ(x).
 */
export const bceGrad = pointwiseOp<{ count: number }>({
  name: 'bce_grad',
  doc: 'dx = dy · (p − t) / max(p(1 − p), 1e−12) · p(1 − p) / count, p = sigmoid(x)',
  arity: 3,
  noBackward: 'a gradient op',
  inferShape([x, t, dy]) {
    if (numel(dy!) !== 1) throw new ShapeError('bce_grad takes the loss gradient [1]', [2]);
    if (x!.length !== t!.length || x!.some((d, k) => d !== t![k]))
      throw new ShapeError('bce_grad: x and t differ', [0, 1]);
    return x!;
  },
  reference([x, t, dy], _p, a, out) {
    const g = refTensor(out);
    for (let i = 0; i < g.data.length; i++) {
      const p = sigmoid(x.data[i]!);
      const q = p * (1 - p);
      g.data[i] = (((dy.data[0]! * (p - t.data[i]!)) / Math.max(q, 1e-12)) * q) / a.count;
    }
    return g;
  },
  pointwise: {
    primary: [0],
    index: () => ['same', 'same', 'whole'],
    wgsl: ([x, t, dy], a, elem) =>
      `${dy}[0] * (1.0 / (1.0 + exp(-${x})) - ${t}) / max((1.0 / (1.0 + exp(-${x}))) * (1.0 - 1.0 / (1.0 + exp(-${x}))), ${elem}(1e-12)) * ((1.0 / (1.0 + exp(-${x}))) * (1.0 - 1.0 / (1.0 + exp(-${x})))) * ${f(1 / a.count)}`,
  },
});

/** A constant tensor (the gradient that seeds a loss term: its weight). */
export const constant = defineOp<{ shape: readonly number[]; values: readonly number[] }>({
  name: 'constant',
  doc: 'y = values (row-major), a constant of the graph',
  arity: 0,
  noBackward: 'a constant',
  inferShape(_, a) {
    if (numel(a.shape) !== a.values.length)
      throw new ShapeError(`constant: ${a.values.length} values for ${shapeToString(a.shape)}`);
    return a.shape;
  },
  reference: (_i, _p, a, out) => refTensor(out, a.values),
  kernel: (ctx) => constantKernel(ctx),
});

/** The total loss Σ_k weight_k · term_k[0] (reported; each term's gradient is seeded directly). */
export const weightedSum = defineOp<{ weights: readonly number[] }>({
  name: 'weighted_sum',
  doc: 'y = Σ_k weights[k] · x_k[0]',
  arity: 'variadic',
  noBackward: 'the reported total of the loss terms (autodiff seeds each term itself)',
  inferShape(xs, a) {
    if (xs.length !== a.weights.length)
      throw new ShapeError(`weighted_sum: ${xs.length} terms, ${a.weights.length} weights`);
    return [1];
  },
  reference: (xs, _p, a, out) => refTensor(out, [xs.reduce((s, x, k) => s + a.weights[k]! * x.data[0]!, 0)]),
  kernel: (ctx) => weightedSumKernel(ctx),
});

// ---- the optimizer: SGD with momentum and weight decay (torch.optim.SGD, no dampening, no Nesterov) ------------

/** m' = momentum · m + (g + weight_decay · w). */
export const sgdMomentum = pointwiseOp<{ momentum: number; weight_decay: number }>({
  name: 'sgd_momentum',
  doc: "m' = momentum · m + g + weight_decay · w",
  arity: 3,
  noBackward: 'an optimizer step',
  inferShape([m, g, w]) {
    for (const [s, k] of [
      [g!, 1],
      [w!, 2],
    ] as const)
      if (s.length !== m!.length || s.some((d, j) => d !== m![j]))
        throw new ShapeError('sgd_momentum needs equal shapes', [0, k]);
    return m!;
  },
  reference([m, g, w], _p, a, out) {
    const y = refTensor(out);
    for (let i = 0; i < y.data.length; i++)
      y.data[i] = a.momentum * m.data[i]! + g.data[i]! + a.weight_decay * w.data[i]!;
    return y;
  },
  pointwise: {
    primary: [1],
    wgsl: ([m, g, w], a) => `${f(a.momentum)} * ${m} + ${g} + ${f(a.weight_decay)} * ${w}`,
  },
});

/** w' = w − lr · lr_scale · m (lr from hyper: the poly schedule is the host's). */
export const sgdUpdate = pointwiseOp<{ lr_scale: number }>({
  name: 'sgd_update',
  doc: "w' = w − hyper.lr · lr_scale · m",
  arity: 3,
  noBackward: 'an optimizer step',
  inferShape([w, m, hyper]) {
    if (m!.length !== w!.length || m!.some((d, j) => d !== w![j]))
      throw new ShapeError('sgd_update needs equal shapes', [0, 1]);
    if (numel(hyper!) !== HYPER_SIZE)
      throw new ShapeError(`sgd_update reads the hyper-parameters [${HYPER_SIZE}]`, [2]);
    return w!;
  },
  reference([w, m, hyper], _p, a, out) {
    const lr = hyper.data[HYPER.lr]! * a.lr_scale;
    const y = refTensor(out);
    for (let i = 0; i < y.data.length; i++) y.data[i] = w.data[i]! - lr * m.data[i]!;
    return y;
  },
  pointwise: {
    primary: [1],
    index: () => ['same', 'same', 'whole'],
    wgsl: ([w, m, hyper], a) => `${w} - (${hyper}[${HYPER.lr}] * ${f(a.lr_scale)}) * ${m}`,
  },
});

// ---- gradient accumulation (a batch in micro-batches) ------------------------------------------------------------

/** acc' = g when hyper.micro = 0 (the first micro-batch), else acc + g. */
export const gradAccumulate = pointwiseOp({
  name: 'grad_accumulate',
  doc: "acc' = g on the first micro-batch (hyper.micro = 0), acc + g after",
  arity: 3,
  noBackward: 'an optimizer step',
  inferShape([acc, g, hyper]) {
    if (g!.length !== acc!.length || g!.some((d, j) => d !== acc![j]))
      throw new ShapeError('grad_accumulate needs equal shapes', [0, 1]);
    if (numel(hyper!) !== HYPER_SIZE)
      throw new ShapeError(`grad_accumulate reads the hyper-parameters [${HYPER_SIZE}]`, [2]);
    return acc!;
  },
  reference([acc, g, hyper], _p, _a, out) {
    const first = hyper.data[HYPER.micro] === 0;
    const y = refTensor(out);
    for (let i = 0; i < y.data.length; i++) y.data[i] = first ? g.data[i]! : acc.data[i]! + g.data[i]!;
    return y;
  },
  pointwise: {
    primary: [1],
    index: () => ['same', 'same', 'whole'],
    wgsl: ([acc, g, hyper]) => `select(${acc} + ${g}, ${g}, ${hyper}[${HYPER.micro}] == 0.0)`,
  },
});

/** The mean of the accumulated micro-batch gradients: acc / hyper.micro (the count). */
export const gradMean = pointwiseOp({
  name: 'grad_mean',
  doc: 'acc / hyper.micro: the mean gradient over the micro-batches of a batch',
  arity: 2,
  noBackward: 'an optimizer step',
  inferShape([acc, hyper]) {
    if (numel(hyper!) !== HYPER_SIZE)
      throw new ShapeError(`grad_mean reads the hyper-parameters [${HYPER_SIZE}]`, [1]);
    return acc!;
  },
  reference([acc, hyper], _p, _a, out) {
    const k = hyper.data[HYPER.micro]!;
    const y = refTensor(out);
    for (let i = 0; i < y.data.length; i++) y.data[i] = acc.data[i]! / k;
    return y;
  },
  pointwise: {
    primary: [0],
    index: () => ['same', 'whole'],
    wgsl: ([acc, hyper]) => `${acc} / ${hyper}[${HYPER.micro}]`,
  },
});
