// Pooling: max and average pooling with PyTorch's window rules (ceil_mode, count_include_pad), adaptive average
// pooling with PyTorch's bin boundaries [floor(i·n/b), ceil((i+1)·n/b)), and global average pooling.
import {
  defineLayer,
  defineOp,
  expectRank,
  ShapeError,
  windowOut,
  type TensorArg,
  perChannelSlice,
} from './op.ts';
import { refTensor } from './ref.ts';
import { adaptiveAvgpoolKernel, poolKernel } from '../codegen/wgsl/pool.ts';
import type { RefTensor } from './op.ts';
import type { Shape } from '../ir/types.ts';

type PoolAttrs = {
  kernel: number;
  stride: number;
  padding: number;
  ceil_mode: boolean;
  count_include_pad?: boolean;
};

function poolShape(kind: string) {
  return ([x]: readonly (readonly number[])[], a: PoolAttrs) => {
    expectRank(x!, [4], kind);
    if (a.padding * 2 > a.kernel)
      throw new ShapeError(`${kind}: padding ${a.padding} must be at most half the kernel ${a.kernel}`);
    const [n, c, h, w] = x!;
    const ho = windowOut(h!, a.kernel, a.stride, a.padding, 1, a.ceil_mode);
    const wo = windowOut(w!, a.kernel, a.stride, a.padding, 1, a.ceil_mode);
    if (ho < 1 || wo < 1)
      throw new ShapeError(`${kind} input of ${h}×${w} is smaller than the kernel ${a.kernel}`, [0]);
    return [n!, c!, ho, wo];
  };
}

export const maxpool2d = defineOp<PoolAttrs>({
  name: 'maxpool2d',
  doc: 'max over each k×k window (padding never wins)',
  arity: 1,
  inferShape: poolShape('maxpool'),
  reference: ([x], _p, a, out) => poolRef(x, a, out, 'max'),
  kernel: (ctx) => poolKernel('max', ctx),
  channelSlice: perChannelSlice,
  // Each input pixel gathers dy over the windows it is the argmax of (recomputed from x).
  backward: (c) => [c.add('maxpool2d_grad', [c.dy, c.inputs[0]!], [], c.attrs, 'x')],
});

export const avgpool2d = defineOp<PoolAttrs>({
  name: 'avgpool2d',
  doc: 'mean over each k×k window; count_include_pad decides whether padded zeros count',
  arity: 1,
  inferShape: poolShape('avgpool'),
  reference: ([x], _p, a, out) => poolRef(x, a, out, 'avg'),
  kernel: (ctx) => poolKernel('avg', ctx),
  channelSlice: perChannelSlice,
  backward: (c) => [
    c.add('avgpool2d_grad', [c.dy], [], { ...c.attrs, in_size: c.shapes.inputs[0]!.slice(2) }, 'x'),
  ],
});

/**
 * PyTorch's MaxPool2d / AvgPool2d on one window grid. A window covers rows [oh·s − p, oh·s − p + k), cut to the
 * input. Max: padding never wins (NaN propagates, as in PyTorch). Avg with count_include_pad: the divisor counts
 * the window cut to input + padding only (so ceil_mode windows hanging past the right padding count less); without
 * it, only the in-bounds elements.
 */
function poolRef(x: RefTensor, a: PoolAttrs, out: Shape, kind: 'max' | 'avg'): RefTensor {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const [, , Ho, Wo] = out as [number, number, number, number];
  const { kernel: k, stride: s, padding: p } = a;
  const includePad = a.count_include_pad ?? true;
  const y = refTensor(out);
  for (let nc = 0; nc < N * C; nc++) {
    const base = nc * H * W;
    for (let oh = 0; oh < Ho; oh++)
      for (let ow = 0; ow < Wo; ow++) {
        let h0 = oh * s - p,
          w0 = ow * s - p;
        let h1 = Math.min(h0 + k, H + p),
          w1 = Math.min(w0 + k, W + p);
        const padded = (h1 - h0) * (w1 - w0);
        h0 = Math.max(h0, 0);
        w0 = Math.max(w0, 0);
        h1 = Math.min(h1, H);
        w1 = Math.min(w1, W);
        let acc = kind === 'max' ? -Infinity : 0;
        for (let ih = h0; ih < h1; ih++)
          for (let iw = w0; iw < w1; iw++) {
            const v = x.data[base + ih * W + iw]!;
            if (kind === 'avg') acc += v;
            else if (v > acc || Number.isNaN(v)) acc = v;
          }
        if (kind === 'avg') acc /= includePad ? padded : (h1 - h0) * (w1 - w0);
        y.data[(nc * Ho + oh) * Wo + ow] = acc;
      }
  }
  return y;
}

type AdaptiveAttrs = { bins: readonly number[] };
export const adaptiveAvgpool2d = defineOp<AdaptiveAttrs>({
  name: 'adaptive_avgpool2d',
  doc: 'mean over bin (i, j) = rows [floor(i·H/bh), ceil((i+1)·H/bh)) × cols likewise',
  arity: 1,
  inferShape([x], a) {
    expectRank(x!, [4], 'adaptive_avgpool');
    return [x![0]!, x![1]!, a.bins[0]!, a.bins[1]!];
  },
  kernel: (ctx) => adaptiveAvgpoolKernel(ctx),
  channelSlice: perChannelSlice,
  backward: (c) => [
    c.add('adaptive_avgpool2d_grad', [c.dy], [], { ...c.attrs, in_size: c.shapes.inputs[0]!.slice(2) }, 'x'),
  ],
  reference([x], _p, a, out) {
    const [N, C, H, W] = x.shape as [number, number, number, number];
    const [bh, bw] = a.bins as [number, number];
    const y = refTensor(out);
    for (let nc = 0; nc < N * C; nc++)
      for (let i = 0; i < bh; i++) {
        const h0 = Math.floor((i * H) / bh),
          h1 = Math.ceil(((i + 1) * H) / bh);
        for (let j = 0; j < bw; j++) {
          const w0 = Math.floor((j * W) / bw),
            w1 = Math.ceil(((j + 1) * W) / bw);
          let sum = 0;
          for (let ih = h0; ih < h1; ih++)
            for (let iw = w0; iw < w1; iw++) sum += x.data[(nc * H + ih) * W + iw]!;
          y.data[(nc * bh + i) * bw + j] = sum / ((h1 - h0) * (w1 - w0));
        }
      }
    return y;
  },
});

const windowParams = [
  { name: 'x', type: 'tensor', doc: 'input [N, C, H, W]' },
  { name: 'kernel', type: 'int', min: 1, doc: 'square window size' },
  { name: 'stride', type: 'int', optional: true, min: 1, doc: 'stride (default: the kernel size)' },
  { name: 'padding', type: 'int', default: 0, min: 0, doc: 'implicit padding on each side' },
  { name: 'ceil_mode', type: 'bool', default: false, doc: 'round the output size up' },
] as const;

export const maxpoolLayer = defineLayer({
  name: 'maxpool',
  doc: 'Max pooling (PyTorch MaxPool2d).',
  params: windowParams,
  build(ctx, a) {
    const k = a.kernel as number;
    return ctx.op('maxpool2d', [a.x as TensorArg], {
      kernel: k,
      stride: (a.stride as number | undefined) ?? k,
      padding: a.padding as number,
      ceil_mode: a.ceil_mode as boolean,
    });
  },
});

export const avgpoolLayer = defineLayer({
  name: 'avgpool',
  doc: 'Average pooling (PyTorch AvgPool2d).',
  params: [
    ...windowParams,
    { name: 'count_include_pad', type: 'bool', default: true, doc: 'count padded zeros in the mean' },
  ],
  build(ctx, a) {
    const k = a.kernel as number;
    return ctx.op('avgpool2d', [a.x as TensorArg], {
      kernel: k,
      stride: (a.stride as number | undefined) ?? k,
      padding: a.padding as number,
      ceil_mode: a.ceil_mode as boolean,
      count_include_pad: a.count_include_pad as boolean,
    });
  },
});

export const adaptiveAvgpoolLayer = defineLayer({
  name: 'adaptive_avgpool',
  doc: 'Adaptive average pooling to bins×bins outputs (PyTorch AdaptiveAvgPool2d).',
  params: [
    { name: 'x', type: 'tensor', doc: 'input [N, C, H, W]' },
    { name: 'bins', type: 'int', min: 1, doc: 'output size (square)' },
  ],
  build(ctx, a) {
    const b = a.bins as number;
    return ctx.op('adaptive_avgpool2d', [a.x as TensorArg], { bins: [b, b] });
  },
});

export const globalAvgpoolLayer = defineLayer({
  name: 'global_avgpool',
  doc: 'Mean over H×W, keeping [N, C, 1, 1].',
  params: [{ name: 'x', type: 'tensor', doc: 'input [N, C, H, W]' }],
  build(ctx, a) {
    return ctx.op('adaptive_avgpool2d', [a.x as TensorArg], { bins: [1, 1] });
  },
});
