// Bilinear resize, exactly as PyTorch's F.interpolate(mode='bilinear') computes it, to a size, by a scale
// factor (out = floor(in · scale)) or to the spatial size of another tensor.
import { defineLayer, defineOp, expectRank, type TensorArg } from './op.ts';

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
});

export const resizeLayer = defineLayer({
  name: 'resize',
  doc: 'Bilinear resize; give exactly one of size, scale or like.',
  params: [
    { name: 'x', type: 'tensor', doc: 'input [N, C, H, W]' },
    { name: 'size', type: '[int]', optional: true, min: 1, doc: 'output [H, W]' },
    { name: 'scale', type: 'float', optional: true, min: 0, doc: 'scale factor; output = floor(input · scale)' },
    { name: 'like', type: 'tensor', optional: true, doc: 'a tensor whose H×W the output takes' },
    { name: 'align_corners', type: 'bool', default: false, doc: "PyTorch's align_corners (FastFCN uses true everywhere)" },
  ],
  build(ctx, a) {
    const x = a.x as TensorArg;
    const given = ['size', 'scale', 'like'].filter((k) => ctx.given(k));
    if (given.length !== 1)
      ctx.fail(given[1], `resize takes exactly one of size, scale or like; got ${given.length === 0 ? 'none' : given.join(' and ')}`, 'e.g. resize(x, like = image, align_corners = true)');
    if (x.shape.length !== 4) ctx.fail('x', `resize expects a 4-D tensor, got [${x.shape.join(', ')}]`, undefined, [x]);
    const align = a.align_corners as boolean;
    if (a.size !== undefined) {
      const s = a.size as number[];
      if (s.length !== 2) ctx.fail('size', `resize size must be [H, W], got ${s.length} numbers`);
      return ctx.op('resize_bilinear', [x], { size: [s[0]!, s[1]!], align_corners: align });
    }
    if (a.scale !== undefined) {
      const sc = a.scale as number;
      const size = [Math.floor(x.shape[2]! * sc), Math.floor(x.shape[3]! * sc)];
      if (size[0]! < 1 || size[1]! < 1) ctx.fail('scale', `resize by ${sc} makes an empty ${size[0]}×${size[1]} output`);
      return ctx.op('resize_bilinear', [x], { size, align_corners: align, scale: sc });
    }
    const like = a.like as TensorArg;
    if (like.shape.length !== 4) ctx.fail('like', `resize like= needs a 4-D tensor, got [${like.shape.join(', ')}]`, undefined, [like]);
    return ctx.op('resize_bilinear', [x], { size: [like.shape[2]!, like.shape[3]!], align_corners: align });
  },
});
