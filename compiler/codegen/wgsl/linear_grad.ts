// Gradients of linear, one output element per invocation, each a sum in a fixed order (deterministic):
//   linear_grad_input   dx[n, f] = Σ_o dy[n, o] · w[o, f]
//   linear_grad_weight  dw[o, f] = Σ_n dy[n, o] · x[n, f]
//   linear_grad_bias    db[o]    = Σ_n dy[n, o]
// (FastFCN's linears are tiny — the SE head's classes × width — so plain loops suffice.)
import type { KernelCtx, KernelSpec } from '../../ops/op.ts';
import { kernelSpec, linearMain, numel, u, WG, type Buf } from './common.ts';
import { KernelIo } from './io.ts';

const shape = (s: readonly number[]): string => `[${s.join(', ')}]`;

export function linearGradInputKernel(ctx: KernelCtx<{ in_features: number }>): KernelSpec {
  const [, o] = ctx.inputs[0]! as number[];
  const fin = ctx.attrs.in_features;
  const io = new KernelIo(ctx);
  const bufs: Buf[] = [
    { slot: 'input0', name: 'dy', elem: 'f32' },
    { slot: 'param0', name: 'wt', elem: 'f32' },
    ...io.outBufs(),
  ];
  const consts = [`const IN = ${u(fin)}; // input features`, `const OUT = ${u(o!)}; // output features`].join(
    '\n',
  );
  const body = [
    '  let f = gid % IN;',
    '  let n = gid / IN;',
    '  var s = 0.0;',
    `  for (var k = 0u; k < OUT; k++) { s += dy[${io.at(0, 'n * OUT + k')}] * wt[k * IN + f]; }`,
    `  ${io.store('gid', 's')}`,
  ].join('\n');
  return kernelSpec(
    `linear_grad_input_${o}x${fin}`,
    `linear_grad_input ${o} → ${fin}: dy ${shape(ctx.inputs[0]!)}, weight ${shape(ctx.params[0]!)} → ${shape(ctx.out)}; one output per invocation`,
    bufs,
    consts,
    linearMain(numel(ctx.out), WG, ctx.opts),
    body,
    WG,
    {},
    io.helpers(),
  );
}

export function linearGradWeightKernel(ctx: KernelCtx): KernelSpec {
  const [batch, fin] = ctx.inputs[0]! as number[];
  const [, fout] = ctx.inputs[1]! as number[];
  const io = new KernelIo(ctx);
  const bufs: Buf[] = [
    { slot: 'input0', name: 'x', elem: 'f32' },
    { slot: 'input1', name: 'dy', elem: 'f32' },
    ...io.outBufs(),
  ];
  const consts = [
    `const BATCH = ${u(batch!)};`,
    `const IN = ${u(fin!)}; // input features`,
    `const OUT = ${u(fout!)}; // output features`,
  ].join('\n');
  const body = [
    '  let f = gid % IN;',
    '  let o = gid / IN;',
    '  var s = 0.0;',
    `  for (var n = 0u; n < BATCH; n++) { s += dy[${io.at(1, 'n * OUT + o')}] * x[${io.at(0, 'n * IN + f')}]; }`,
    `  ${io.store('gid', 's')}`,
  ].join('\n');
  return kernelSpec(
    `linear_grad_weight_${fin}x${fout}`,
    `linear_grad_weight: x ${shape(ctx.inputs[0]!)}, dy ${shape(ctx.inputs[1]!)} → ${shape(ctx.out)}; one weight per invocation, summed over the batch in order`,
    bufs,
    consts,
    linearMain(numel(ctx.out), WG, ctx.opts),
    body,
    WG,
    {},
    io.helpers(),
  );
}

export function linearGradBiasKernel(ctx: KernelCtx): KernelSpec {
  const [batch, fout] = ctx.inputs[0]! as number[];
  const io = new KernelIo(ctx);
  const bufs: Buf[] = [{ slot: 'input0', name: 'dy', elem: 'f32' }, ...io.outBufs()];
  const consts = [`const BATCH = ${u(batch!)};`, `const OUT = ${u(fout!)}; // output features`].join('\n');
  const body = [
    '  var s = 0.0;',
    `  for (var n = 0u; n < BATCH; n++) { s += dy[${io.at(0, 'n * OUT + gid')}]; }`,
    `  ${io.store('gid', 's')}`,
  ].join('\n');
  return kernelSpec(
    `linear_grad_bias_${fout}`,
    `linear_grad_bias: dy ${shape(ctx.inputs[0]!)} → ${shape(ctx.out)}; one bias per invocation, summed over the batch in order`,
    bufs,
    consts,
    linearMain(numel(ctx.out), WG, ctx.opts),
    body,
    WG,
    {},
    io.helpers(),
  );
}
