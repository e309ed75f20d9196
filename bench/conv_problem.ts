// The conv problems the benches that time single conv kernels with the tuner's timer run on: one built by hand, or
// every one of a spec's compiled forward.
import { join } from 'node:path';
import { buildGraph } from '../compiler/index.ts';
import { compile } from '../compiler/compile.ts';
import { convProblem } from '../compiler/codegen/wgsl/conv.ts';
import type { ConvAttrs } from '../compiler/ops/conv.ts';
import type { DeviceLimits } from '../compiler/codegen/limits.ts';
import { problemsOf, type Problem } from '../runtime/tune.ts';

/** The conv problems of specs/<spec>.fcn's forward at size × size, batch 1, compiled with `tuning`. */
export function specProblems(
  spec: string,
  size: number,
  limits: DeviceLimits,
  tuning: Readonly<Record<string, number>>,
): Problem[] {
  const r = buildGraph(join(import.meta.dirname, '..', 'specs', `${spec}.fcn`), {
    height: size,
    width: size,
  });
  if (!r.graph) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
  return problemsOf(compile(r.graph, { limits, tuning }).graph);
}

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
