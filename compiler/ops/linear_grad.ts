// Gradients of linear (y = x · Wᵀ + b, x [N, F], W [O, F]): dx = dy · W, dW = dyᵀ · x and db = Σ_n dy, each
// element one sum in a fixed order (over o for dx, over the samples n for dW and db): deterministic.
import { defineOp, expectRank, ShapeError } from './op.ts';
import { refTensor } from './ref.ts';
import { shapeToString } from '../ir/types.ts';
import {
  linearGradBiasKernel,
  linearGradInputKernel,
  linearGradWeightKernel,
} from '../codegen/wgsl/linear_grad.ts';

/** dx[n, f] = Σ_o dy[n, o] · w[o, f]; the weight is the linear's own parameter. */
export const linearGradInput = defineOp<{ in_features: number }>({
  name: 'linear_grad_input',
  doc: 'dx[n, f] = Σ_o dy[n, o] · w[o, f] (the input gradient of linear; w is its weight)',
  arity: 1,
  noBackward: 'a gradient op',
  inferShape([dy], a) {
    expectRank(dy!, [2], 'linear_grad_input');
    return [dy![0]!, a.in_features];
  },
  params: ([dy], a) => [
    {
      role: 'weight',
      shape: [dy![1]!, a.in_features],
      init: { kind: 'torch_default_linear', fanIn: a.in_features },
    },
  ],
  reference([dy], [w], a, out) {
    const [N, O] = dy.shape as [number, number];
    const F = a.in_features;
    const dx = refTensor(out);
    for (let n = 0; n < N; n++)
      for (let f = 0; f < F; f++) {
        let s = 0;
        for (let o = 0; o < O; o++) s += dy.data[n * O + o]! * w.data[o * F + f]!;
        dx.data[n * F + f] = s;
      }
    return dx;
  },
  kernel: (ctx) => linearGradInputKernel(ctx),
});

/** dW[o, f] = Σ_n dy[n, o] · x[n, f], summed over the samples in order. */
export const linearGradWeight = defineOp({
  name: 'linear_grad_weight',
  doc: 'dw[o, f] = Σ_n dy[n, o] · x[n, f] (the weight gradient of linear, summed over the batch in order)',
  arity: 2,
  noBackward: 'a gradient op',
  inferShape([x, dy]) {
    expectRank(x!, [2], 'linear_grad_weight');
    expectRank(dy!, [2], 'linear_grad_weight', 1);
    if (x![0] !== dy![0])
      throw new ShapeError(
        `linear_grad_weight: input ${shapeToString(x!)} and gradient ${shapeToString(dy!)} have different batch sizes`,
        [0, 1],
      );
    return [dy![1]!, x![1]!];
  },
  reference([x, dy], _p, _a, out) {
    const [N, F] = x.shape as [number, number];
    const O = dy.shape[1]!;
    const dw = refTensor(out);
    for (let o = 0; o < O; o++)
      for (let f = 0; f < F; f++) {
        let s = 0;
        for (let n = 0; n < N; n++) s += dy.data[n * O + o]! * x.data[n * F + f]!;
        dw.data[o * F + f] = s;
      }
    return dw;
  },
  kernel: (ctx) => linearGradWeightKernel(ctx),
});

/** db[o] = Σ_n dy[n, o]. */
export const linearGradBias = defineOp({
  name: 'linear_grad_bias',
  doc: 'db[o] = Σ_n dy[n, o] (the bias gradient of linear, summed over the batch in order)',
  arity: 1,
  noBackward: 'a gradient op',
  inferShape([dy]) {
    expectRank(dy!, [2], 'linear_grad_bias');
    return [dy![1]!];
  },
  reference([dy], _p, _a, out) {
    const [N, O] = dy.shape as [number, number];
    const db = refTensor(out);
    for (let o = 0; o < O; o++) {
      let s = 0;
      for (let n = 0; n < N; n++) s += dy.data[n * O + o]!;
      db.data[o] = s;
    }
    return db;
  },
  kernel: (ctx) => linearGradBiasKernel(ctx),
});
