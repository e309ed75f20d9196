// The gradients of conv2d, as ops of their own (heavy enough to deserve kernels of their own; conv2d's
// `backward` builds them):
//  - conv2d_grad_input(dy) @(w): the input gradient, a "transposed" conv of dy with the forward weight (the same
//    param node as the forward conv, read in the same OHWI layout on the device);
//  - conv2d_grad_weight(x, dy): the weight gradient, a GEMM over K = N·Ho·Wo, stored OHWI like the weight it
//    updates (the optimizer is a pointwise kernel over weight, gradient and momentum);
//  - conv2d_grad_bias(dy): Σ over samples and pixels, per channel.
// Each appears only in a backward pass, so none has a backward rule of its own.
import { defineOp, expectRank, ShapeError, windowOut } from './op.ts';
import { refTensor } from './ref.ts';
import type { ConvAttrs } from './conv.ts';
import {
  conv2dGradBiasKernel,
  conv2dGradInputKernel,
  conv2dGradWeightKernel,
} from '../codegen/wgsl/conv_grad.ts';

/** The forward conv's attributes plus its input's channels and spatial size (the shape of dX). */
export type ConvGradInputAttrs = ConvAttrs & { in_c: number; in_h: number; in_w: number };

const GRADIENT_OP = 'a gradient op';

/** The forward's output size for an input of h×w, or a shape error when the input is too small. */
function convOut(h: number, w: number, a: ConvAttrs): [number, number] {
  const ho = windowOut(h, a.kernel, a.stride, a.padding, a.dilation);
  const wo = windowOut(w, a.kernel, a.stride, a.padding, a.dilation);
  if (ho < 1 || wo < 1)
    throw new ShapeError(
      `conv input of ${h}×${w} is too small for kernel ${a.kernel} with dilation ${a.dilation}`,
    );
  return [ho, wo];
}

function checkGroups(cin: number, a: ConvAttrs, input: number): void {
  if (cin % a.groups !== 0)
    throw new ShapeError(`conv input has ${cin} channels, which ${a.groups} groups do not divide`, [input]);
  if (a.channels % a.groups !== 0)
    throw new ShapeError(`conv output channels ${a.channels} are not divisible by groups ${a.groups}`);
}

const same = (s: readonly number[], t: readonly number[]): boolean =>
  s.length === t.length && s.every((d, k) => d === t[k]);

export const conv2dGradInput = defineOp<ConvGradInputAttrs>({
  name: 'conv2d_grad_input',
  doc: 'dX[n,c,h,w] = Σ_{o∈group(c),u,v} w[o, c − g·Cg, u, v] · dy[n, o, (h + p − u·d)/s, (w + p − v·d)/s] over exact, in-range taps',
  arity: 1,
  noBackward: GRADIENT_OP,
  inferShape([dy], a) {
    expectRank(dy!, [4], 'conv2d_grad_input');
    const [n, o, ho, wo] = dy!;
    checkGroups(a.in_c, a, 0);
    if (o !== a.channels)
      throw new ShapeError(`conv2d_grad_input: dy has ${o} channels, the conv has ${a.channels}`, [0]);
    const [eh, ew] = convOut(a.in_h, a.in_w, a);
    if (ho !== eh || wo !== ew)
      throw new ShapeError(
        `conv2d_grad_input: dy is ${ho}×${wo}, but the conv of a ${a.in_h}×${a.in_w} input gives ${eh}×${ew}`,
        [0],
      );
    return [n!, a.in_c, a.in_h, a.in_w];
  },
  params(_, a) {
    // The forward conv's weight (the same param node), [O, Cin/groups, k, k].
    return [
      {
        role: 'weight',
        shape: [a.channels, a.in_c / a.groups, a.kernel, a.kernel],
        init: { kind: 'kaiming_normal_fan_out' },
      },
    ];
  },
  kernel: (ctx) => conv2dGradInputKernel(ctx),
  reference([dy], [w], a, out) {
    const [N, O, Ho, Wo] = dy.shape as [number, number, number, number];
    const [, C, H, W] = out as [number, number, number, number];
    const { kernel: k, stride: s, padding: p, dilation: d } = a;
    const cg = C / a.groups,
      og = O / a.groups;
    const dx = refTensor(out);
    const dyd = dy.data,
      wd = w!.data,
      xd = dx.data;
    // The forward's sum, scattered: every (output pixel, tap) adds w · dy to the input pixel it read.
    for (let n = 0; n < N; n++)
      for (let o = 0; o < O; o++) {
        const g = Math.floor(o / og);
        for (let oh = 0; oh < Ho; oh++)
          for (let ow = 0; ow < Wo; ow++) {
            const gy = dyd[((n * O + o) * Ho + oh) * Wo + ow]!;
            for (let c = 0; c < cg; c++) {
              const xBase = (n * C + g * cg + c) * H * W;
              const wBase = (o * cg + c) * k * k;
              for (let u = 0; u < k; u++) {
                const ih = oh * s - p + u * d;
                if (ih < 0 || ih >= H) continue;
                for (let v = 0; v < k; v++) {
                  const iw = ow * s - p + v * d;
                  if (iw < 0 || iw >= W) continue;
                  xd[xBase + ih * W + iw] += wd[wBase + u * k + v]! * gy;
                }
              }
            }
          }
      }
    return dx;
  },
});

export const conv2dGradWeight = defineOp<ConvAttrs>({
  name: 'conv2d_grad_weight',
  doc: 'dW[o,c,u,v] = Σ_{n,oh,ow} dy[n,o,oh,ow] · x[n, g·Cg + c, oh·s − p + u·d, ow·s − p + v·d] (zero padding); stored OHWI',
  arity: 2,
  noBackward: GRADIENT_OP,
  inferShape([x, dy], a) {
    expectRank(x!, [4], 'conv2d_grad_weight');
    expectRank(dy!, [4], 'conv2d_grad_weight', 1);
    const [n, cin, h, w] = x!;
    checkGroups(cin!, a, 0);
    const want = [n!, a.channels, ...convOut(h!, w!, a)];
    if (!same(dy!, want))
      throw new ShapeError(
        `conv2d_grad_weight: dy is [${dy!.join(', ')}], but the conv of [${x!.join(', ')}] gives [${want.join(', ')}]`,
        [0, 1],
      );
    return [a.channels, cin! / a.groups, a.kernel, a.kernel];
  },
  kernel: (ctx) => conv2dGradWeightKernel(ctx),
  reference([x, dy], _, a, out) {
    const [N, C, H, W] = x!.shape as [number, number, number, number];
    const [, O, Ho, Wo] = dy!.shape as [number, number, number, number];
    const { kernel: k, stride: s, padding: p, dilation: d } = a;
    const cg = C / a.groups,
      og = O / a.groups;
    const dw = refTensor(out); // logical OIHW
    const xd = x!.data,
      dyd = dy!.data,
      wd = dw.data;
    for (let o = 0; o < O; o++) {
      const g = Math.floor(o / og);
      for (let c = 0; c < cg; c++)
        for (let u = 0; u < k; u++)
          for (let v = 0; v < k; v++) {
            let acc = 0;
            for (let n = 0; n < N; n++) {
              const xBase = (n * C + g * cg + c) * H * W;
              const yBase = (n * O + o) * Ho * Wo;
              for (let oh = 0; oh < Ho; oh++) {
                const ih = oh * s - p + u * d;
                if (ih < 0 || ih >= H) continue;
                for (let ow = 0; ow < Wo; ow++) {
                  const iw = ow * s - p + v * d;
                  if (iw < 0 || iw >= W) continue;
                  acc += dyd[yBase + oh * Wo + ow]! * xd[xBase + ih * W + iw]!;
                }
              }
            }
            wd[((o * cg + c) * k + u) * k + v] = acc;
          }
    }
    return dw;
  },
});

export const conv2dGradBias = defineOp<Record<string, never>>({
  name: 'conv2d_grad_bias',
  doc: 'db[o] = Σ_{n,h,w} dy[n,o,h,w] (fixed summation order)',
  arity: 1,
  noBackward: GRADIENT_OP,
  inferShape([dy]) {
    expectRank(dy!, [4], 'conv2d_grad_bias');
    return [dy![1]!];
  },
  kernel: (ctx) => conv2dGradBiasKernel(ctx),
  reference([dy], _, __, out) {
    const [N, O, H, W] = dy!.shape as [number, number, number, number];
    const db = refTensor(out);
    for (let n = 0; n < N; n++)
      for (let o = 0; o < O; o++) {
        let acc = 0;
        const base = (n * O + o) * H * W;
        for (let i = 0; i < H * W; i++) acc += dy!.data[base + i]!;
        db.data[o] += acc;
      }
    return db;
  },
});
