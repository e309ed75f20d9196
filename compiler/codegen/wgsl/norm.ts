// groupnorm: one workgroup per (sample, group). Two reductions over the group's C/G·H·W contiguous values in
// workgroup memory (mean, then the mean squared deviation: the biased variance, as PyTorch), then the affine map.
// Fixed reduction order: the result does not depend on scheduling.
import type { KernelCtx, KernelSpec } from '../../ops/op.ts';
import { f, kernelSpec, u, workgroupMain, type Buf } from './common.ts';
import { KernelIo } from './io.ts';

export function groupnormKernel(ctx: KernelCtx<{ groups: number; eps: number }>): KernelSpec {
  const [batch, ch, h, w] = ctx.inputs[0]! as number[];
  const g = ctx.attrs.groups;
  const wg = Math.min(256, ctx.opts.maxInvocationsPerWorkgroup);
  const io = new KernelIo(ctx);
  const bufs: Buf[] = [
    { slot: 'input0', name: 'x', elem: 'f32' },
    { slot: 'param0', name: 'weight', elem: 'f32' },
    { slot: 'param1', name: 'bias', elem: 'f32' },
    ...io.outBufs(),
  ];
  const consts = [
    `const CHANNELS = ${u(ch!)};  const GROUPS = ${u(g)};  const PLANE = ${u(h! * w!)};`,
    'const GROUP_SIZE = CHANNELS / GROUPS * PLANE; // values normalised together',
    `const EPS = ${f(ctx.attrs.eps)};`,
    '',
    '// One array per reduction: a read of the first total that the compiler sinks below a barrier must not see',
    "// the second reduction's writes (observed with Dawn's GL backend on llvmpipe).",
    `var<workgroup> partial_mean: array<f32, ${wg}>;`,
    `var<workgroup> partial_var: array<f32, ${wg}>;`,
  ].join('\n');
  const sum = (name: string) => [
    `// Tree sum of ${name}[0..WORKGROUP) (WORKGROUP is a power of two); every invocation gets the total.`,
    `fn sum_${name}(lid: u32, v: f32) -> f32 {`,
    `  ${name}[lid] = v;`,
    '  workgroupBarrier();',
    '  for (var half = WORKGROUP / 2u; half > 0u; half /= 2u) {',
    `    if (lid < half) { ${name}[lid] += ${name}[lid + half]; }`,
    '    workgroupBarrier();',
    '  }',
    `  return ${name}[0];`,
    '}',
  ];
  const helpers = [...sum('partial_mean'), ...sum('partial_var'), '', io.helpers()].join('\n');
  const body = [
    '  let n = item / GROUPS;',
    '  let base = item * GROUP_SIZE; // (n, group) blocks are contiguous in NCHW',
    `  let xb = (${io.plane(0, 'n', '(item % GROUPS) * (CHANNELS / GROUPS)')}) * PLANE; // where the block is stored`,
    '  var s = 0.0;',
    '  for (var k = lid; k < GROUP_SIZE; k += WORKGROUP) { s += x[xb + k]; }',
    '  let mean = sum_partial_mean(lid, s) / f32(GROUP_SIZE);',
    '  var q = 0.0;',
    '  for (var k = lid; k < GROUP_SIZE; k += WORKGROUP) { let t = x[xb + k] - mean; q += t * t; }',
    '  let inv_std = 1.0 / sqrt(sum_partial_var(lid, q) / f32(GROUP_SIZE) + EPS);',
    '  let c0 = (item % GROUPS) * (CHANNELS / GROUPS);',
    '  for (var k = lid; k < GROUP_SIZE; k += WORKGROUP) {',
    '    let c = c0 + k / PLANE;',
    `    ${io.store('base + k', '(x[xb + k] - mean) * inv_std * weight[c] + bias[c]')}`,
    '  }',
  ].join('\n');
  if ((wg & (wg - 1)) !== 0) throw new Error('internal: groupnorm workgroup size must be a power of two');
  return kernelSpec(
    `groupnorm_g${g}`,
    `groupnorm, ${g} groups, eps ${ctx.attrs.eps}: [${ctx.inputs[0]!.join(', ')}]; one workgroup of ${wg} per (sample, group)`,
    bufs,
    consts,
    workgroupMain(batch! * g, wg, ctx.opts),
    body,
    wg,
    {},
    helpers,
  );
}
