// conv2d: 2-D convolution (NCHW input, OIHW weight), with stride, zero padding, dilation, groups and an
// optional bias. Convolutions in FastFCN have no bias unless stated, so `bias` defaults to false.
import { defineLayer, defineOp, expectRank, ShapeError, windowOut, type TensorArg } from './op.ts';
import { refTensor } from './ref.ts';
import { conv2dPlan } from '../codegen/wgsl/conv.ts';

export type ConvAttrs = {
  channels: number;
  kernel: number;
  stride: number;
  padding: number;
  dilation: number;
  groups: number;
  bias: boolean;
};

export const conv2d = defineOp<ConvAttrs>({
  name: 'conv2d',
  doc: 'y[n,o,i,j] = b[o] + Σ_{c,u,v} w[o,c,u,v] · x[n, g·C/G + c, i·s − p + u·d, j·s − p + v·d] (zero padding)',
  arity: 1,
  inferShape([x], a) {
    expectRank(x!, [4], 'conv');
    const [n, c, h, w] = x!;
    if (c! % a.groups !== 0)
      throw new ShapeError(`conv input has ${c} channels, which ${a.groups} groups do not divide`, [0]);
    if (a.channels % a.groups !== 0)
      throw new ShapeError(`conv output channels ${a.channels} are not divisible by groups ${a.groups}`);
    const ho = windowOut(h!, a.kernel, a.stride, a.padding, a.dilation);
    const wo = windowOut(w!, a.kernel, a.stride, a.padding, a.dilation);
    if (ho < 1 || wo < 1)
      throw new ShapeError(
        `conv input of ${h}×${w} is too small for kernel ${a.kernel} with dilation ${a.dilation} and padding ${a.padding}`,
        [0],
      );
    return [n!, a.channels, ho, wo];
  },
  params([x], a) {
    const cin = x![1]! / a.groups;
    const fanIn = cin * a.kernel * a.kernel;
    const w = {
      role: 'weight',
      shape: [a.channels, cin, a.kernel, a.kernel],
      init: { kind: 'kaiming_normal_fan_out' },
    } as const;
    return a.bias
      ? [w, { role: 'bias', shape: [a.channels], init: { kind: 'torch_default_conv', fanIn } }]
      : [w];
  },
  macs([x], out, a) {
    return out[0]! * out[1]! * out[2]! * out[3]! * (x![1]! / a.groups) * a.kernel * a.kernel;
  },
  kernel: (ctx) => conv2dPlan(ctx),
  backward(ctx) {
    // dX, dW (and db): ops of their own (compiler/ops/conv_grad.ts). dX reads the forward's weight node.
    const a = ctx.attrs;
    const [, cin, h, w] = ctx.shapes.inputs[0]!;
    const dx = ctx.add(
      'conv2d_grad_input',
      [ctx.dy],
      [ctx.params[0]!],
      { ...a, in_c: cin!, in_h: h!, in_w: w! },
      'input',
    );
    const dw = ctx.add('conv2d_grad_weight', [ctx.inputs[0]!, ctx.dy], [], { ...a }, 'weight');
    if (!a.bias) return [dx, dw];
    return [dx, dw, ctx.add('conv2d_grad_bias', [ctx.dy], [], {}, 'bias')];
  },
  channelSlice(c0, c1, ctx) {
    const a = ctx.attrs;
    const cs = c1 - c0;
    const [n, cin, h, w] = ctx.inputs[0]!;
    const depthwise = a.groups === cin && a.groups === a.channels;
    const attrs = { ...a, channels: cs, groups: depthwise ? cs : a.groups };
    const weight = [cs, ...ctx.params[0]!.slice(1)];
    return {
      ctx: {
        ...ctx,
        attrs,
        inputs: [depthwise ? [n!, cs, h!, w!] : ctx.inputs[0]!],
        out: [ctx.out[0]!, cs, ctx.out[2]!, ctx.out[3]!],
        params: ctx.params.map((p, k) => (k === 0 ? weight : [cs])),
      },
      // A depthwise conv reads only its own channels; any other conv reads all input channels.
      slicedInputs: [depthwise],
      slicedParams: ctx.params.map(() => true),
    };
  },
  reference([x], [w, b], a, out) {
    const [N, C, H, W] = x.shape as [number, number, number, number];
    const [, O, Ho, Wo] = out as [number, number, number, number];
    const k = a.kernel,
      s = a.stride,
      p = a.padding,
      d = a.dilation;
    const cg = C / a.groups,
      og = O / a.groups;
    const xd = x.data,
      wd = w.data,
      y = refTensor(out);
    for (let n = 0; n < N; n++)
      for (let o = 0; o < O; o++) {
        const g = Math.floor(o / og);
        for (let oh = 0; oh < Ho; oh++)
          for (let ow = 0; ow < Wo; ow++) {
            let acc = b ? b.data[o]! : 0;
            for (let c = 0; c < cg; c++) {
              const xBase = (n * C + g * cg + c) * H * W;
              const wBase = (o * cg + c) * k * k;
              for (let u = 0; u < k; u++) {
                const ih = oh * s - p + u * d;
                if (ih < 0 || ih >= H) continue; // zero padding
                for (let v = 0; v < k; v++) {
                  const iw = ow * s - p + v * d;
                  if (iw < 0 || iw >= W) continue;
                  acc += wd[wBase + u * k + v]! * xd[xBase + ih * W + iw]!;
                }
              }
            }
            y.data[((n * O + o) * Ho + oh) * Wo + ow] = acc;
          }
      }
    return y;
  },
});

export const convLayer = defineLayer({
  name: 'conv',
  doc: '2-D convolution; input channels are taken from the input tensor.',
  params: [
    { name: 'x', type: 'tensor', doc: 'input feature map [N, C, H, W]' },
    { name: 'channels', type: 'int', min: 1, doc: 'output channels' },
    { name: 'kernel', type: 'int', min: 1, doc: 'square kernel size' },
    { name: 'stride', type: 'int', default: 1, min: 1, doc: 'stride' },
    { name: 'padding', type: 'int', default: 0, min: 0, doc: 'zero padding on each side' },
    { name: 'dilation', type: 'int', default: 1, min: 1, doc: 'dilation (atrous rate)' },
    {
      name: 'groups',
      type: 'int',
      default: 1,
      min: 1,
      doc: 'groups (= input channels for a depthwise conv)',
    },
    { name: 'bias', type: 'bool', default: false, doc: 'add a learned bias' },
    {
      name: 'in_channels',
      type: 'int',
      optional: true,
      min: 1,
      doc: 'expected input channels: checked against the input, required in `unused`',
    },
  ],
  build(ctx, a) {
    const x = a.x as TensorArg;
    if (a.in_channels !== undefined && x.shape[1] !== a.in_channels)
      ctx.fail(
        'in_channels',
        `conv expects ${a.in_channels} input channels but its input has ${x.shape[1]} (shape [${x.shape.join(', ')}])`,
        undefined,
        [x],
      );
    return ctx.op('conv2d', [x], attrsOf(a));
  },
  declare(a) {
    return {
      op: 'conv2d',
      inputs: [[1, a.in_channels as number, a.kernel as number, a.kernel as number]],
      attrs: attrsOf(a),
    };
  },
});

function attrsOf(a: Readonly<Record<string, unknown>>): ConvAttrs {
  return {
    channels: a.channels as number,
    kernel: a.kernel as number,
    stride: a.stride as number,
    padding: a.padding as number,
    dilation: a.dilation as number,
    groups: a.groups as number,
    bias: a.bias as boolean,
  };
}
