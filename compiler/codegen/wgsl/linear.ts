// linear: y[n, o] = b[o] + Σ_i w[o, i] · x[n, i]; one output per invocation, vec4 dot products when the input
// features are a multiple of 4. (FastFCN's linears are tiny: the SE head's classes × width.)
import type { KernelCtx, KernelSpec } from '../../ops/op.ts';
import { kernelSpec, linearMain, numel, u, WG, type Buf } from './common.ts';
import { KernelIo } from './io.ts';

export function linearKernel(ctx: KernelCtx<{ features: number; bias: boolean }>): KernelSpec {
  const [, fin] = ctx.inputs[0]! as number[];
  const fout = ctx.attrs.features;
  const io = new KernelIo(ctx);
  // A linear's input is a [N, F] vector per sample; reading it through a channel view would need the generic map.
  const vec = fin! % 4 === 0 && !io.view(0);
  const elem = vec ? 'vec4f' : 'f32';
  const bufs: Buf[] = [
    { slot: 'input0', name: 'x', elem },
    { slot: 'param0', name: 'wt', elem },
    ...(ctx.attrs.bias ? [{ slot: 'param1', name: 'bias', elem: 'f32' } as const] : []),
    ...io.outBufs(),
  ];
  const consts = [
    `const IN = ${u(vec ? fin! / 4 : fin!)}; // ${elem}s per row`,
    `const OUT = ${u(fout)};`,
  ].join('\n');
  const body = [
    '  let o = gid % OUT;',
    '  let n = gid / OUT;',
    `  var s = ${elem}(0.0);`,
    `  for (var k = 0u; k < IN; k++) { s += x[${io.at(0, 'n * IN + k')}] * wt[o * IN + k]; }`,
    `  ${io.store('gid', `${vec ? 's.x + s.y + s.z + s.w' : 's'}${ctx.attrs.bias ? ' + bias[o]' : ''}`)}`,
  ].join('\n');
  return kernelSpec(
    `linear_${fin}x${fout}`,
    `linear ${fin} → ${fout}${ctx.attrs.bias ? ' with bias' : ''}: x [${ctx.inputs[0]!.join(', ')}]; one output per invocation`,
    bufs,
    consts,
    linearMain(numel(ctx.out), WG, ctx.opts),
    body,
    WG,
    {},
    io.helpers(),
  );
}
