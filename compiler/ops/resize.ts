// Bilinear resize, exactly as PyTorch's F.interpolate(mode='bilinear') computes it, to a size, by a scale
// factor (out = floor(in · scale)) or to the spatial size of another tensor.
import { defineLayer, defineOp, expectRank, type TensorArg, perChannelSlice } from './op.ts';
import { refTensor } from './ref.ts';
import { resizeBilinearKernel } from '../codegen/wgsl/resize.ts';

type ResizeAttrs = { size: readonly number[]; align_corners: boolean; scale?: number };

export const resizeBilinear = defineOp<ResizeAttrs>({
  name: 'resize_bilinear',
  doc:
    'align_corners: src = dst·(in−1)/(out−1); else src = max(0, (dst+0.5)·r − 0.5) with r = 1/scale when a scale ' +
    'was given, in/out otherwise; then a 2×2 weighted sum with clamped indices',
  arity: 1,
  inferShape([x], a) {
    expectRank(x!, [4], 'resize');
    return [x![0]!, x![1]!, a.size[0]!, a.size[1]!];
  },
  kernel: (ctx) => resizeBilinearKernel(ctx),
  channelSlice: perChannelSlice,
  // A gather: each input pixel sums dy · weight over the outputs whose taps include it (resize_grad.ts).
  backward: (c) => [
    c.add('resize_bilinear_grad', [c.dy], [], { ...c.attrs, in_size: c.shapes.inputs[0]!.slice(2) }, 'x'),
  ],
  reference([x], _p, a, out) {
    const [N, C, H, W] = x.shape as [number, number, number, number];
    const [, , Ho, Wo] = out as [number, number, number, number];
    // PyTorch's area_pixel_compute_scale and area_pixel_compute_source_index, per axis.
    const taps = (inSize: number, outSize: number) => {
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
    };
    const th = taps(H, Ho),
      tw = taps(W, Wo);
    const y = refTensor(out);
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
          const top = (1 - lw) * x.data[base + h0 * W + w0]! + lw * x.data[base + h0 * W + w1]!;
          const bottom = (1 - lw) * x.data[base + h1 * W + w0]! + lw * x.data[base + h1 * W + w1]!;
          y.data[(nc * Ho + oh) * Wo + ow] = (1 - lh) * top + lh * bottom;
        }
      }
    }
    return y;
  },
});

export const resizeLayer = defineLayer({
  name: 'resize',
  doc: 'Bilinear resize; give exactly one of size, scale or like.',
  params: [
    { name: 'x', type: 'tensor', doc: 'input [N, C, H, W]' },
    { name: 'size', type: '[int]', optional: true, min: 1, doc: 'output [H, W]' },
    {
      name: 'scale',
      type: 'float',
      optional: true,
      min: 0,
      doc: 'scale factor; output = floor(input · scale)',
    },
    { name: 'like', type: 'tensor', optional: true, doc: 'a tensor whose H×W the output takes' },
    {
      name: 'align_corners',
      type: 'bool',
      default: false,
      doc: "PyTorch's align_corners (FastFCN uses true everywhere)",
    },
  ],
  build(ctx, a) {
    const x = a.x as TensorArg;
    const given = ['size', 'scale', 'like'].filter((k) => ctx.given(k));
    if (given.length !== 1)
      ctx.fail(
        given[1],
        `resize takes exactly one of size, scale or like; got ${given.length === 0 ? 'none' : given.join(' and ')}`,
        'e.g. resize(x, like = image, align_corners = true)',
      );
    if (x.shape.length !== 4)
      ctx.fail('x', `resize expects a 4-D tensor, got [${x.shape.join(', ')}]`, undefined, [x]);
    const align = a.align_corners as boolean;
    if (a.size !== undefined) {
      const s = a.size as number[];
      if (s.length !== 2) ctx.fail('size', `resize size must be [H, W], got ${s.length} numbers`);
      return ctx.op('resize_bilinear', [x], { size: [s[0]!, s[1]!], align_corners: align });
    }
    if (a.scale !== undefined) {
      const sc = a.scale as number;
      const size = [Math.floor(x.shape[2]! * sc), Math.floor(x.shape[3]! * sc)];
      if (size[0]! < 1 || size[1]! < 1)
        ctx.fail('scale', `resize by ${sc} makes an empty ${size[0]}×${size[1]} output`);
      return ctx.op('resize_bilinear', [x], { size, align_corners: align, scale: sc });
    }
    const like = a.like as TensorArg;
    if (like.shape.length !== 4)
      ctx.fail('like', `resize like= needs a 4-D tensor, got [${like.shape.join(', ')}]`, undefined, [like]);
    return ctx.op('resize_bilinear', [x], { size: [like.shape[2]!, like.shape[3]!], align_corners: align });
  },
});
