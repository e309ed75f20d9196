// The gradients of the Encoding layer (encoding.ts), as three ops reading the layer's input x [N, D, H, W], the
// incoming gradient dE [N, K, D] and the layer's parameters (codewords c [K, D], smoothing factors s [K]).
// Per sample n and pixel i, with r_ik = x_i − c_k, d_ik = ‖r_ik‖², A_ik = softmax_k(s_k·d_ik):
//   dA_ik    = ⟨dE_k, r_ik⟩                                  (E_k = Σ_i A_ik·r_ik)
//   dlogit_ik = A_ik·(dA_ik − Σ_j A_ij·dA_ij)                (softmax backward)
//   dx_i = Σ_k [A_ik·dE_k + 2·s_k·dlogit_ik·r_ik]           (∂E/∂r through A and directly; ∂logit/∂x = 2·s_k·r_ik)
//   dc_k = −Σ_{n,i} [A_ik·dE_k + 2·s_k·dlogit_ik·r_ik]      (r_ik = x_i − c_k)
//   ds_k = Σ_{n,i} dlogit_ik·d_ik                            (logit_ik = s_k·d_ik)
import { defineOp, expectRank, ShapeError, type OpDef, type RefTensor } from './op.ts';
import type { Shape } from '../ir/types.ts';
import { refTensor } from './ref.ts';
import { encoding } from './encoding.ts';
import {
  encodingGradCodewordsKernel,
  encodingGradInputKernel,
  encodingGradScaleKernel,
} from '../codegen/wgsl/encoding_grad.ts';

type EncodingAttrs = { codewords: number };

/** Checks x [N, D, H, W] and dE [N, K, D]; returns [N, D, K]. */
function check(name: string, [x, de]: readonly Shape[], a: EncodingAttrs): [number, number, number] {
  expectRank(x!, [4], name, 0);
  expectRank(de!, [3], name, 1);
  const [n, d] = x! as [number, number];
  if (de![0] !== n || de![1] !== a.codewords || de![2] !== d)
    throw new ShapeError(
      `${name}: the gradient of the encodings must be [${n}, ${a.codewords}, ${d}] for x [${x!.join(', ')}] and ${a.codewords} codewords, got [${de!.join(', ')}]`,
      [0, 1],
    );
  return [n, d, a.codewords];
}

/** All three gradients in float64 (each op's reference returns one of them). */
export function encodingGradients(
  x: RefTensor,
  dE: RefTensor,
  cw: RefTensor,
  scale: RefTensor,
  K: number,
): { dx: RefTensor; dc: RefTensor; ds: RefTensor } {
  const [N, D, H, W] = x.shape as [number, number, number, number];
  const HW = H * W;
  const xd = x.data,
    e = dE.data,
    c = cw.data,
    s = scale.data;
  const dx = refTensor(x.shape),
    dc = refTensor([K, D]),
    ds = refTensor([K]);
  const xi = new Float64Array(D);
  const dist = new Float64Array(K),
    a = new Float64Array(K),
    da = new Float64Array(K);
  for (let n = 0; n < N; n++)
    for (let i = 0; i < HW; i++) {
      for (let d = 0; d < D; d++) xi[d] = xd[(n * D + d) * HW + i]!;
      let max = -Infinity;
      for (let k = 0; k < K; k++) {
        let q = 0,
          p = 0;
        for (let d = 0; d < D; d++) {
          const r = xi[d]! - c[k * D + d]!;
          q += r * r;
          p += e[(n * K + k) * D + d]! * r;
        }
        dist[k] = q;
        da[k] = p;
        a[k] = s[k]! * q;
        if (a[k]! > max) max = a[k]!;
      }
      let sum = 0;
      for (let k = 0; k < K; k++) {
        a[k] = Math.exp(a[k]! - max);
        sum += a[k]!;
      }
      let t = 0;
      for (let k = 0; k < K; k++) {
        a[k] = a[k]! / sum;
        t += a[k]! * da[k]!;
      }
      for (let k = 0; k < K; k++) {
        const g = a[k]! * (da[k]! - t); // dlogit
        ds.data[k] += g * dist[k]!;
        for (let d = 0; d < D; d++) {
          const term = a[k]! * e[(n * K + k) * D + d]! + 2 * s[k]! * g * (xi[d]! - c[k * D + d]!);
          dx.data[(n * D + d) * HW + i] += term;
          dc.data[k * D + d] -= term;
        }
      }
    }
  return { dx, dc, ds };
}

const gradOp = (
  name: string,
  doc: string,
  shape: (n: number, d: number, k: number, x: Shape) => Shape,
  pick: 'dx' | 'dc' | 'ds',
  kernel: OpDef<EncodingAttrs>['kernel'],
) =>
  defineOp<EncodingAttrs>({
    name,
    doc,
    arity: 2,
    noBackward: 'a gradient op',
    inferShape(xs, a) {
      const [n, d, k] = check(name, xs, a);
      return shape(n, d, k, xs[0]!);
    },
    // The Encoding layer's own parameters (codewords, scale), read, not owned.
    params: (xs, a) => encoding.params!([xs[0]!], a),
    kernel,
    reference([x, dE], [cw, scale], a) {
      return encodingGradients(x!, dE!, cw!, scale!, a.codewords)[pick];
    },
  });

export const encodingGradInput = gradOp(
  'encoding_grad_input',
  'dx[n,:,i] = Σ_k [A_ik·dE[n,k,:] + 2·s_k·dlogit_ik·(x_ni − c_k)] (gradient of encoding wrt x)',
  (_n, _d, _k, x) => x,
  'dx',
  (ctx) => encodingGradInputKernel(ctx),
);

export const encodingGradCodewords = gradOp(
  'encoding_grad_codewords',
  'dc[k,:] = −Σ_{n,i} [A_ik·dE[n,k,:] + 2·s_k·dlogit_ik·(x_ni − c_k)] (gradient of encoding wrt the codewords)',
  (_n, d, k) => [k, d],
  'dc',
  (ctx) => encodingGradCodewordsKernel(ctx),
);

export const encodingGradScale = gradOp(
  'encoding_grad_scale',
  'ds[k] = Σ_{n,i} dlogit_ik·‖x_ni − c_k‖² (gradient of encoding wrt the smoothing factors)',
  (_n, _d, k) => [k],
  'ds',
  (ctx) => encodingGradScaleKernel(ctx),
);
