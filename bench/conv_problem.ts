// One conv problem builder for the benches that time single conv kernels with the tuner's timer.
import { convProblem } from '../compiler/codegen/wgsl/conv.ts';
import type { ConvAttrs } from '../compiler/ops/conv.ts';
import type { Problem } from '../runtime/tune.ts';

/**
 * A k×k conv of `x` (NCHW) into `cout` channels with padding (k − 1)/2 ("same" at stride 1), no bias, no dilation;
 * `flops` as the caller counts them (Winograd's GEMMs count their own).
 */
export function convProblemOf(
  x: number[],
  cout: number,
  k: number,
  o: { stride?: number; groups?: number; flops?: number } = {},
): Problem {
  const stride = o.stride ?? 1;
  const groups = o.groups ?? 1;
  const attrs: ConvAttrs = {
    channels: cout,
    kernel: k,
    stride,
    padding: (k - 1) / 2,
    dilation: 1,
    groups,
    bias: false,
  };
  const side = (n: number): number => Math.floor((n + 2 * attrs.padding - k) / stride) + 1;
  return {
    key: convProblem(x, attrs),
    op: 'conv2d',
    x,
    attrs,
    out: [x[0]!, cout, side(x[2]!), side(x[3]!)],
    params: [[cout, x[1]! / groups, k, k]],
    flops: o.flops ?? 0,
    count: 1,
  };
}
