// The Encoding layer in two dispatches, never materialising the N×HW×K×D residuals:
//  1. assign: per pixel i of sample n, the scaled squared distances s_k‖x_ni − c_k‖² to the K codewords and
//     their softmax over k, written as A[n, k, i] (a scratch buffer of N·K·HW floats);
//  2. aggregate: E[n, k, d] = Σ_i A[n, k, i] · (x[n, d, i] − c[k, d]), one output per invocation, reading
//     A and X contiguously along i (vec4 when HW is a multiple of 4).
import type { KernelCtx, KernelPlan } from '../../ops/op.ts';
import { kernelSpec, linearMain, u, WG, type Buf } from './common.ts';
import { KernelIo } from './io.ts';

export function encodingKernel(ctx: KernelCtx<{ codewords: number }>): KernelPlan {
  const [batch, dim, h, w] = ctx.inputs[0]! as number[];
  const io = new KernelIo(ctx);
  const k = ctx.attrs.codewords;
  const hw = h! * w!;
  const consts = [
    `const D = ${u(dim!)}; // feature size`,
    `const K = ${u(k)}; // codewords`,
    `const HW = ${u(hw)}; // pixels`,
  ].join('\n');

  const assignBufs: Buf[] = [
    { slot: 'input0', name: 'x', elem: 'f32' },
    { slot: 'param0', name: 'codewords', elem: 'f32' },
    { slot: 'param1', name: 'scale', elem: 'f32' },
    { slot: 'scratch0', name: 'assign', elem: 'f32', write: true },
  ];
  // The logits go straight to this pixel's slots of the output (no private array: large unrolled private
  // arrays compile very slowly on llvmpipe), then are normalised in place.
  const assignBody = [
    '  let i = gid % HW;',
    '  let n = gid / HW;',
    `  let xbase = (${io.plane(0, 'n', '0u')}) * HW + i; // x[n, d, i] = x[xbase + d * HW]`,
    '  let abase = n * K * HW + i; // A[n, c, i] = assign[abase + c * HW]',
    '  var top = -3.0e38;',
    '  for (var c = 0u; c < K; c++) {',
    '    var dist = 0.0;',
    '    for (var d = 0u; d < D; d++) { let t = x[xbase + d * HW] - codewords[c * D + d]; dist += t * t; }',
    '    let logit = scale[c] * dist;',
    '    assign[abase + c * HW] = logit;',
    '    top = max(top, logit);',
    '  }',
    '  var sum = 0.0;',
    '  for (var c = 0u; c < K; c++) { let e = exp(assign[abase + c * HW] - top); assign[abase + c * HW] = e; sum += e; }',
    '  let inv = 1.0 / sum;',
    '  for (var c = 0u; c < K; c++) { assign[abase + c * HW] *= inv; }',
  ].join('\n');
  const assign = kernelSpec(
    `encoding_assign_k${k}_d${dim}`,
    `encoding, pass 1: softmax_k(s_k‖x_ni − c_k‖²) for x [${ctx.inputs[0]!.join(', ')}], K = ${k}; one pixel per invocation`,
    assignBufs,
    consts,
    linearMain(batch! * hw, WG, ctx.opts),
    assignBody,
    WG,
  );

  const vec = hw % 4 === 0;
  const elem = vec ? 'vec4f' : 'f32';
  const aggBufs: Buf[] = [
    { slot: 'input0', name: 'x', elem },
    { slot: 'param0', name: 'codewords', elem: 'f32' },
    { slot: 'scratch0', name: 'assign', elem },
    ...io.outBufs(),
  ];
  const q = vec ? ' / 4u' : '';
  const aggBody = [
    '  let d = gid % D;',
    '  let c = (gid / D) % K;',
    '  let n = gid / (D * K);',
    '  let cw = codewords[c * D + d];',
    `  let xrow = (${io.plane(0, 'n', 'd')}) * HW${q};`,
    `  let arow = (n * K + c) * HW${q};`,
    `  var s = ${elem}(0.0);`,
    `  for (var i = 0u; i < HW${q}; i++) { s += assign[arow + i] * (x[xrow + i] - cw); }`,
    `  ${io.store('gid', vec ? 's.x + s.y + s.z + s.w' : 's')}`,
  ].join('\n');
  const aggregate = kernelSpec(
    `encoding_aggregate_k${k}_d${dim}`,
    `encoding, pass 2: E[n, k, d] = Σ_i A[n, k, i] · (x[n, d, i] − c[k, d]) → [${ctx.out.join(', ')}]; one output per invocation`,
    aggBufs,
    consts,
    linearMain(batch! * k * dim!, WG, ctx.opts),
    aggBody,
    WG,
    {},
    io.helpers(),
  );
  return { scratch: [batch! * k * hw], dispatches: [assign, aggregate] };
}
