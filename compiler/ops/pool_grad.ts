// Gradients of the pooling ops, each a gather (one input pixel per invocation sums, in a fixed order, the
// incoming-gradient elements of the windows or bins it was read by): deterministic, no atomics.
//  - maxpool2d_grad(dy, x): each window's argmax (first maximum in window order, as the forward computes it;
//    padding never wins) is recomputed from x inside the gather, and a pixel sums dy over the windows it won;
//  - avgpool2d_grad(dy): a pixel sums dy / divisor over the windows covering it, with the forward's divisors
//    (count_include_pad, ceil_mode windows hanging past the padding);
//  - adaptive_avgpool2d_grad(dy): a pixel sums dy / |bin| over the (possibly overlapping) bins covering it.
// The references scatter instead (the forward's loops, transposed), so they check the gathers' window ranges.
import { defineOp, expectRank, perChannelSlice, ShapeError, windowOut } from './op.ts';
import { refTensor } from './ref.ts';
import { shapeToString, type Shape } from '../ir/types.ts';
import {
  adaptiveAvgpoolGradKernel,
  avgpoolGradKernel,
  maxpoolGradKernel,
} from '../codegen/wgsl/pool_grad.ts';

type PoolAttrs = {
  kernel: number;
  stride: number;
  padding: number;
  ceil_mode: boolean;
  count_include_pad?: boolean;
};
/** The forward's attributes and its input's spatial size [H, W] (which the output alone does not determine). */
type PoolGradAttrs = PoolAttrs & { in_size: readonly number[] };
type AdaptiveGradAttrs = { bins: readonly number[]; in_size: readonly number[] };

/** Checks that dy [N, C, Ho, Wo] is what the pool makes of an input [N, C, H, W]. */
function checkPoolGrad(
  kind: string,
  dy: Shape,
  n: number,
  c: number,
  h: number,
  w: number,
  a: PoolAttrs,
): void {
  const ho = windowOut(h, a.kernel, a.stride, a.padding, 1, a.ceil_mode);
  const wo = windowOut(w, a.kernel, a.stride, a.padding, 1, a.ceil_mode);
  const want = [n, c, ho, wo];
  if (dy.length !== 4 || dy.some((d, k) => d !== want[k]))
    throw new ShapeError(
      `${kind}: the gradient ${shapeToString(dy)} is not the pool's output ${shapeToString(want)} for an input [${n}, ${c}, ${h}, ${w}]`,
      [0],
    );
}

function inSize(kind: string, a: { in_size: readonly number[] }): [number, number] {
  const s = a.in_size;
  if (s.length !== 2 || !s.every((d) => Number.isInteger(d) && d >= 1))
    throw new ShapeError(`${kind}: in_size must be [H, W], got [${s.join(', ')}]`);
  return [s[0]!, s[1]!];
}

/**
 * Windows of output (oh, ow) as PyTorch's pooling computes them: rows [oh·s − p, oh·s − p + k) cut to the padded
 * input (the divisor with count_include_pad) and to the input (the elements read).
 */
function windows(
  H: number,
  W: number,
  Ho: number,
  Wo: number,
  a: PoolAttrs,
  visit: (oh: number, ow: number, h0: number, h1: number, w0: number, w1: number, padded: number) => void,
): void {
  const { kernel: k, stride: s, padding: p } = a;
  for (let oh = 0; oh < Ho; oh++)
    for (let ow = 0; ow < Wo; ow++) {
      const h0 = oh * s - p,
        w0 = ow * s - p;
      const h1 = Math.min(h0 + k, H + p),
        w1 = Math.min(w0 + k, W + p);
      const padded = (h1 - h0) * (w1 - w0);
      visit(oh, ow, Math.max(h0, 0), Math.min(h1, H), Math.max(w0, 0), Math.min(w1, W), padded);
    }
}

export const maxpool2dGrad = defineOp<PoolAttrs>({
  name: 'maxpool2d_grad',
  doc: "dx[p] = Σ dy over the windows whose argmax (the forward's first maximum; padding never wins) is p",
  arity: 2,
  noBackward: 'a gradient op',
  inferShape([dy, x], a) {
    expectRank(x!, [4], 'maxpool2d_grad', 1);
    const [n, c, h, w] = x! as [number, number, number, number];
    checkPoolGrad('maxpool2d_grad', dy!, n, c, h, w, a);
    return x!;
  },
  reference([dy, x], _p, a, out) {
    const [N, C, H, W] = x.shape as [number, number, number, number];
    const [, , Ho, Wo] = dy.shape as [number, number, number, number];
    const dx = refTensor(out);
    for (let nc = 0; nc < N * C; nc++) {
      const base = nc * H * W;
      windows(H, W, Ho, Wo, a, (oh, ow, h0, h1, w0, w1) => {
        // The forward's choice: the first element, then any greater one (a NaN always wins, as in PyTorch).
        let best = -1,
          m = 0;
        for (let ih = h0; ih < h1; ih++)
          for (let iw = w0; iw < w1; iw++) {
            const v = x.data[base + ih * W + iw]!;
            if (best < 0 || v > m || Number.isNaN(v)) {
              m = v;
              best = ih * W + iw;
            }
          }
        dx.data[base + best] += dy.data[(nc * Ho + oh) * Wo + ow]!;
      });
    }
    return dx;
  },
  kernel: (ctx) => maxpoolGradKernel(ctx),
  channelSlice: perChannelSlice,
});

export const avgpool2dGrad = defineOp<PoolGradAttrs>({
  name: 'avgpool2d_grad',
  doc: "dx[p] = Σ dy / divisor over the windows covering p (the forward's divisors: count_include_pad, ceil_mode)",
  arity: 1,
  noBackward: 'a gradient op',
  inferShape([dy], a) {
    expectRank(dy!, [4], 'avgpool2d_grad');
    const [h, w] = inSize('avgpool2d_grad', a);
    checkPoolGrad('avgpool2d_grad', dy!, dy![0]!, dy![1]!, h, w, a);
    return [dy![0]!, dy![1]!, h, w];
  },
  reference([dy], _p, a, out) {
    const [N, C, H, W] = out as [number, number, number, number];
    const [, , Ho, Wo] = dy.shape as [number, number, number, number];
    const includePad = a.count_include_pad ?? true;
    const dx = refTensor(out);
    for (let nc = 0; nc < N * C; nc++) {
      const base = nc * H * W;
      windows(H, W, Ho, Wo, a, (oh, ow, h0, h1, w0, w1, padded) => {
        const g = dy.data[(nc * Ho + oh) * Wo + ow]! / (includePad ? padded : (h1 - h0) * (w1 - w0));
        for (let ih = h0; ih < h1; ih++) for (let iw = w0; iw < w1; iw++) dx.data[base + ih * W + iw] += g;
      });
    }
    return dx;
  },
  kernel: (ctx) => avgpoolGradKernel(ctx),
  channelSlice: perChannelSlice,
});

export const adaptiveAvgpool2dGrad = defineOp<AdaptiveGradAttrs>({
  name: 'adaptive_avgpool2d_grad',
  doc: 'dx[p] = Σ dy / |bin| over the bins [floor(i·n/b), ceil((i+1)·n/b)) covering p (they overlap when b ∤ n)',
  arity: 1,
  noBackward: 'a gradient op',
  inferShape([dy], a) {
    expectRank(dy!, [4], 'adaptive_avgpool2d_grad');
    const [h, w] = inSize('adaptive_avgpool2d_grad', a);
    if (dy![2] !== a.bins[0] || dy![3] !== a.bins[1])
      throw new ShapeError(
        `adaptive_avgpool2d_grad: the gradient ${shapeToString(dy!)} does not have the ${a.bins.join('×')} bins`,
        [0],
      );
    return [dy![0]!, dy![1]!, h, w];
  },
  reference([dy], _p, a, out) {
    const [N, C, H, W] = out as [number, number, number, number];
    const [bh, bw] = a.bins as [number, number];
    const dx = refTensor(out);
    for (let nc = 0; nc < N * C; nc++)
      for (let i = 0; i < bh; i++) {
        const h0 = Math.floor((i * H) / bh),
          h1 = Math.ceil(((i + 1) * H) / bh);
        for (let j = 0; j < bw; j++) {
          const w0 = Math.floor((j * W) / bw),
            w1 = Math.ceil(((j + 1) * W) / bw);
          const g = dy.data[(nc * bh + i) * bw + j]! / ((h1 - h0) * (w1 - w0));
          for (let ih = h0; ih < h1; ih++)
            for (let iw = w0; iw < w1; iw++) dx.data[(nc * H + ih) * W + iw] += g;
        }
      }
    return dx;
  },
  kernel: (ctx) => adaptiveAvgpoolGradKernel(ctx),
  channelSlice: perChannelSlice,
});
