// The Encoding layer of EncNet (Zhang et al. 2018): K codewords c_k ∈ R^D with smoothing factors s_k.
// X [N, D, H, W] is read as N×(H·W)×D; A[n,i,k] = softmax_k(s_k · ‖x_ni − c_k‖²);
// E[n,k,:] = Σ_i A[n,i,k] · (x_ni − c_k) → [N, K, D]. No minus sign: s is initialised negative (reference §3.1).
import { defineLayer, defineOp, expectRank, type TensorArg } from './op.ts';
import { refTensor } from './ref.ts';
import { encodingKernel } from '../codegen/wgsl/encoding.ts';

type EncodingAttrs = { codewords: number };

export const encoding = defineOp<EncodingAttrs>({
  name: 'encoding',
  doc: 'E[n,k,:] = Σ_i softmax_k(s_k‖x_ni − c_k‖²) · (x_ni − c_k)',
  arity: 1,
  inferShape([x], a) {
    expectRank(x!, [4], 'encoding');
    return [x![0]!, a.codewords, x![1]!];
  },
  params([x], a) {
    const d = x![1]!;
    const bound = 1 / Math.sqrt(a.codewords * d);
    return [
      { role: 'codewords', shape: [a.codewords, d], init: { kind: 'uniform', low: -bound, high: bound } },
      { role: 'scale', shape: [a.codewords], init: { kind: 'uniform', low: -1, high: 0 } },
    ];
  },
  kernel: (ctx) => encodingKernel(ctx),
  // The gradients wrt x, the codewords and the smoothing factors: ops of their own (encoding_grad.ts).
  backward(ctx) {
    const ins = [ctx.inputs[0]!, ctx.dy];
    const a = { codewords: ctx.attrs.codewords };
    return [
      ctx.add('encoding_grad_input', ins, ctx.params, a, 'input'),
      ctx.add('encoding_grad_codewords', ins, ctx.params, a, 'codewords'),
      ctx.add('encoding_grad_scale', ins, ctx.params, a, 'scale'),
    ];
  },
  reference([x], [cw, scale], a, out) {
    const [N, D, H, W] = x.shape as [number, number, number, number];
    const K = a.codewords,
      HW = H * W;
    const xd = x.data,
      c = cw.data,
      s = scale.data;
    const e = refTensor(out); // [N, K, D]
    const xi = new Float64Array(D); // the feature vector of position i
    const sl = new Float64Array(K); // scaled L2 distances, then the assignment weights
    for (let n = 0; n < N; n++)
      for (let i = 0; i < HW; i++) {
        for (let d = 0; d < D; d++) xi[d] = xd[(n * D + d) * HW + i]!;
        let max = -Infinity;
        for (let k = 0; k < K; k++) {
          let dist = 0;
          for (let d = 0; d < D; d++) {
            const r = xi[d]! - c[k * D + d]!;
            dist += r * r;
          }
          sl[k] = s[k]! * dist;
          if (sl[k]! > max) max = sl[k]!;
        }
        // softmax over k, with the maximum subtracted for stability
        let sum = 0;
        for (let k = 0; k < K; k++) {
          sl[k] = Math.exp(sl[k]! - max);
          sum += sl[k]!;
        }
        for (let k = 0; k < K; k++) {
          const ak = sl[k]! / sum;
          const eBase = (n * K + k) * D;
          for (let d = 0; d < D; d++) e.data[eBase + d] += ak * (xi[d]! - c[k * D + d]!);
        }
      }
    return e;
  },
});

export const encodingLayer = defineLayer({
  name: 'encoding',
  doc: 'EncNet Encoding layer: [N, D, H, W] → [N, K, D] residual encodings.',
  params: [
    { name: 'x', type: 'tensor', doc: 'input [N, D, H, W]' },
    { name: 'codewords', type: 'int', min: 1, doc: 'number of codewords K' },
  ],
  build(ctx, a) {
    return ctx.op('encoding', [a.x as TensorArg], { codewords: a.codewords as number });
  },
});
