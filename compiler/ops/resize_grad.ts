// The gradient of bilinear resize as a gather: each input pixel sums dy · weight over the output pixels whose
// 2×2 taps include it, in a fixed order (no atomics, unlike PyTorch's CUDA kernel; WebGPU frameworks have none).
// The weights are the forward's, per axis: (1 − λ) to i0 and λ to i1, both to the same pixel where the border
// clamps i1 to i0. The reference scatters (the forward transposed), which checks the gather's ranges.
import { defineOp, expectRank, perChannelSlice, ShapeError } from './op.ts';
import { refTensor } from './ref.ts';
import { shapeToString } from '../ir/types.ts';
import { resizeBilinearGradKernel } from '../codegen/wgsl/resize_grad.ts';

/** The forward's attributes (output `size`, align_corners, scale) and its input's spatial size [H, W]. */
type ResizeGradAttrs = {
  size: readonly number[];
  align_corners: boolean;
  scale?: number;
  in_size: readonly number[];
};

/** The forward's taps along one axis (PyTorch's area_pixel_compute_scale and _source_index), as resize.ts has them. */
function taps(inSize: number, outSize: number, a: ResizeGradAttrs) {
  const r = a.align_corners
    ? outSize > 1
      ? (inSize - 1) / (outSize - 1)
      : 0
    : a.scale !== undefined && a.scale > 0
      ? 1 / a.scale
      : inSize / outSize;
  const i0 = new Int32Array(outSize),
    i1 = new Int32Array(outSize),
    lambda = new Float64Array(outSize);
  for (let o = 0; o < outSize; o++) {
    const src = a.align_corners ? o * r : Math.max(0, (o + 0.5) * r - 0.5);
    i0[o] = Math.min(Math.floor(src), inSize - 1);
    i1[o] = Math.min(i0[o]! + 1, inSize - 1);
    lambda[o] = src - i0[o]!;
  }
  return { i0, i1, lambda };
}

export const resizeBilinearGrad = defineOp<ResizeGradAttrs>({
  name: 'resize_bilinear_grad',
  doc: "dx[p] = Σ dy[o] · w(o, p) over the outputs o whose 2×2 taps include p, with the forward's weights",
  arity: 1,
  noBackward: 'a gradient op',
  inferShape([dy], a) {
    expectRank(dy!, [4], 'resize_bilinear_grad');
    const s = a.in_size;
    if (s.length !== 2 || !s.every((d) => Number.isInteger(d) && d >= 1))
      throw new ShapeError(`resize_bilinear_grad: in_size must be [H, W], got [${s.join(', ')}]`);
    if (dy![2] !== a.size[0] || dy![3] !== a.size[1])
      throw new ShapeError(
        `resize_bilinear_grad: the gradient ${shapeToString(dy!)} is not of the resize's size ${a.size.join('×')}`,
        [0],
      );
    return [dy![0]!, dy![1]!, s[0]!, s[1]!];
  },
  reference([dy], _p, a, out) {
    const [N, C, H, W] = out as [number, number, number, number];
    const [, , Ho, Wo] = dy.shape as [number, number, number, number];
    const th = taps(H, Ho, a),
      tw = taps(W, Wo, a);
    const dx = refTensor(out);
    for (let nc = 0; nc < N * C; nc++) {
      const base = nc * H * W;
      for (let oh = 0; oh < Ho; oh++) {
        const h0 = th.i0[oh]!,
          h1 = th.i1[oh]!,
          lh = th.lambda[oh]!;
        for (let ow = 0; ow < Wo; ow++) {
          const w0 = tw.i0[ow]!,
            w1 = tw.i1[ow]!,
            lw = tw.lambda[ow]!;
          const g = dy.data[(nc * Ho + oh) * Wo + ow]!;
          dx.data[base + h0 * W + w0] += (1 - lh) * (1 - lw) * g;
          dx.data[base + h0 * W + w1] += (1 - lh) * lw * g;
          dx.data[base + h1 * W + w0] += lh * (1 - lw) * g;
          dx.data[base + h1 * W + w1] += lh * lw * g;
        }
      }
    }
    return dx;
  },
  kernel: (ctx) => resizeBilinearGradKernel(ctx),
  channelSlice: perChannelSlice,
});
