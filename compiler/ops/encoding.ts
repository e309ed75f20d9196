// The Encoding layer of EncNet (Zhang et al. 2018): K codewords c_k ∈ R^D with smoothing factors s_k.
// X [N, D, H, W] is read as N×(H·W)×D; A[n,i,k] = softmax_k(s_k · ‖x_ni − c_k‖²);
// E[n,k,:] = Σ_i A[n,i,k] · (x_ni − c_k) → [N, K, D]. No minus sign: s is initialised negative (reference §3.1).
import { defineLayer, defineOp, expectRank, type TensorArg } from './op.ts';

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
