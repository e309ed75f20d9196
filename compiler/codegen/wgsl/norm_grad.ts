// Group norm's gradients (compiler/ops/norm_grad.ts). Every reduction is a tree sum in workgroup memory over
// values each invocation first sums in a fixed stride order, so the results do not depend on scheduling; one
// workgroup array per reduction (see groupnorm's forward kernel, norm.ts: a reused array gave wrong totals on
// llvmpipe).
//  - input: one workgroup per (sample, group): μ, σ (as the forward), then mean_g(dy·w) and mean_g(dy·w·x̂), then
//    dx = (dy·w − mean_g(dy·w) − x̂·mean_g(dy·w·x̂)) / σ for each value of the group;
//  - weight: pass 1 computes μ and 1/σ of every (sample, group) into scratch, pass 2 one workgroup per channel:
//    Σ_{n,h,w} dy·(x − μ)/σ;
//  - bias: one workgroup per channel: Σ_{n,h,w} dy.
import type { KernelCtx, KernelPlan, KernelSpec } from '../../ops/op.ts';
import { f, kernelSpec, u, workgroupMain, type Buf } from './common.ts';
import { KernelIo } from './io.ts';

type Ctx = KernelCtx<{ groups: number; eps: number }>;

function workgroupSize(ctx: KernelCtx): number {
  const wg = Math.min(256, ctx.opts.maxInvocationsPerWorkgroup);
  if ((wg & (wg - 1)) !== 0)
    throw new Error('internal: groupnorm gradient workgroup size must be a power of two');
  return wg;
}

/** A workgroup array and the tree sum over it; every invocation gets the total. */
function reduction(name: string, wg: number): { decl: string; fn: string } {
  return {
    decl: `var<workgroup> ${name}: array<f32, ${wg}>;`,
    fn: [
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
    ].join('\n'),
  };
}

function dims(ctx: KernelCtx): { batch: number; ch: number; plane: number } {
  const [batch, ch, h, w] = ctx.inputs[0]! as [number, number, number, number];
  return { batch, ch, plane: h * w };
}

/** Constants of a per-(sample, group) kernel. */
function groupConsts(ctx: Ctx, arrays: readonly string[]): string {
  const { ch, plane } = dims(ctx);
  return [
    `const CHANNELS = ${u(ch)};  const GROUPS = ${u(ctx.attrs.groups)};  const PLANE = ${u(plane)};`,
    'const GROUP_SIZE = CHANNELS / GROUPS * PLANE; // values normalised together',
    `const EPS = ${f(ctx.attrs.eps)};`,
    '',
    '// One array per reduction.',
    ...arrays,
  ].join('\n');
}

/** μ (`mean`) and 1/σ (`inv_std`) of the group at `xb` in x, read by every invocation of the workgroup. */
const statsCode = [
  '  var s = 0.0;',
  '  for (var k = lid; k < GROUP_SIZE; k += WORKGROUP) { s += x[xb + k]; }',
  '  let mean = sum_partial_mean(lid, s) / f32(GROUP_SIZE);',
  '  var q = 0.0;',
  '  for (var k = lid; k < GROUP_SIZE; k += WORKGROUP) { let t = x[xb + k] - mean; q += t * t; }',
  '  let inv_std = 1.0 / sqrt(sum_partial_var(lid, q) / f32(GROUP_SIZE) + EPS); // biased variance',
];

export function groupnormGradInputKernel(ctx: Ctx): KernelSpec {
  const { batch } = dims(ctx);
  const g = ctx.attrs.groups;
  const wg = workgroupSize(ctx);
  const io = new KernelIo(ctx);
  const bufs: Buf[] = [
    { slot: 'input0', name: 'dy', elem: 'f32' },
    { slot: 'input1', name: 'x', elem: 'f32' },
    { slot: 'param0', name: 'weight', elem: 'f32' },
    ...io.outBufs(),
  ];
  const reds = ['partial_mean', 'partial_var', 'partial_g', 'partial_gx'].map((r) => reduction(r, wg));
  const body = [
    '  let n = item / GROUPS;',
    '  let c0 = (item % GROUPS) * (CHANNELS / GROUPS);',
    '  let base = item * GROUP_SIZE; // (n, group) blocks are contiguous in NCHW',
    `  let xb = (${io.plane(1, 'n', 'c0')}) * PLANE; // where the block of x is stored`,
    `  let gb = (${io.plane(0, 'n', 'c0')}) * PLANE; // and the block of dy`,
    ...statsCode,
    '  var a = 0.0;',
    '  var b = 0.0;',
    '  for (var k = lid; k < GROUP_SIZE; k += WORKGROUP) {',
    '    let g = dy[gb + k] * weight[c0 + k / PLANE]; // dx̂',
    '    a += g;',
    '    b += g * (x[xb + k] - mean);',
    '  }',
    '  let m1 = sum_partial_g(lid, a) / f32(GROUP_SIZE); // mean_g(dx̂)',
    '  let m2 = sum_partial_gx(lid, b) * inv_std / f32(GROUP_SIZE); // mean_g(dx̂·x̂)',
    '  for (var k = lid; k < GROUP_SIZE; k += WORKGROUP) {',
    '    let xh = (x[xb + k] - mean) * inv_std;',
    `    ${io.store('base + k', '(dy[gb + k] * weight[c0 + k / PLANE] - m1 - xh * m2) * inv_std')}`,
    '  }',
  ].join('\n');
  return kernelSpec(
    `groupnorm_grad_input_g${g}`,
    `groupnorm gradient wrt x, ${g} groups, eps ${ctx.attrs.eps}: [${ctx.out.join(', ')}]; one workgroup of ${wg} per (sample, group)`,
    bufs,
    groupConsts(
      ctx,
      reds.map((r) => r.decl),
    ),
    workgroupMain(batch * g, wg, ctx.opts),
    body,
    wg,
    {},
    [...reds.map((r) => r.fn), '', io.helpers()].join('\n'),
  );
}

/** The per-channel reduction over (n, h, w): one workgroup per channel, `term` the value at pixel i of sample n. */
function channelSum(
  ctx: KernelCtx,
  name: string,
  comment: string,
  bufs: readonly Buf[],
  consts: string,
  setup: readonly string[],
  term: string,
): KernelSpec {
  const { batch, ch, plane } = dims(ctx);
  const wg = workgroupSize(ctx);
  const io = new KernelIo(ctx);
  const red = reduction('partial_sum', wg);
  const body = [
    '  let c = item;',
    '  var a = 0.0;',
    '  for (var k = lid; k < BATCH * PLANE; k += WORKGROUP) {',
    '    let n = k / PLANE;',
    '    let i = k % PLANE;',
    ...setup.map((l) => `    ${l}`),
    `    a += ${term};`,
    '  }',
    '  let total = sum_partial_sum(lid, a);',
    `  if (lid == 0u) { ${io.store('c', 'total')} }`,
  ].join('\n');
  return kernelSpec(
    name,
    `${comment} → [${ctx.out.join(', ')}]; one workgroup of ${wg} per channel`,
    [...bufs, ...io.outBufs()],
    [
      `const BATCH = ${u(batch)};  const CHANNELS = ${u(ch)};  const PLANE = ${u(plane)};`,
      consts,
      red.decl,
    ].join('\n'),
    workgroupMain(ch, wg, ctx.opts),
    body,
    wg,
    {},
    [red.fn, '', io.helpers()].join('\n'),
  );
}

export function groupnormGradWeightKernel(ctx: Ctx): KernelPlan {
  const { batch } = dims(ctx);
  const g = ctx.attrs.groups;
  const wg = workgroupSize(ctx);
  const io = new KernelIo(ctx);
  const reds = ['partial_mean', 'partial_var'].map((r) => reduction(r, wg));
  const statsBody = [
    '  let n = item / GROUPS;',
    `  let xb = (${io.plane(1, 'n', '(item % GROUPS) * (CHANNELS / GROUPS)')}) * PLANE; // where the block of x is stored`,
    ...statsCode,
    '  if (lid == 0u) {',
    '    stats[2u * item] = mean;',
    '    stats[2u * item + 1u] = inv_std;',
    '  }',
  ].join('\n');
  const stats = kernelSpec(
    `groupnorm_stats_g${g}`,
    `groupnorm gradient wrt the weight, pass 1: mean and 1/σ of each (sample, group) of x [${ctx.inputs[1]!.join(', ')}], ${g} groups; one workgroup of ${wg} each`,
    [
      { slot: 'input1', name: 'x', elem: 'f32' },
      { slot: 'scratch0', name: 'stats', elem: 'f32', write: true },
    ],
    groupConsts(
      ctx,
      reds.map((r) => r.decl),
    ),
    workgroupMain(batch * g, wg, ctx.opts),
    statsBody,
    wg,
    {},
    reds.map((r) => r.fn).join('\n'),
  );
  const sum = channelSum(
    ctx,
    `groupnorm_grad_weight_g${g}`,
    `groupnorm gradient wrt the weight, pass 2: dw[c] = Σ_{n,h,w} dy·(x − μ)/σ, ${g} groups`,
    [
      { slot: 'input0', name: 'dy', elem: 'f32' },
      { slot: 'input1', name: 'x', elem: 'f32' },
      { slot: 'scratch0', name: 'stats', elem: 'f32' },
    ],
    `const GROUPS = ${u(g)};`,
    [
      'let st = 2u * (n * GROUPS + c / (CHANNELS / GROUPS)); // μ, 1/σ of (n, group of c)',
      `let v = x[(${io.plane(1, 'n', 'c')}) * PLANE + i];`,
    ],
    `dy[(${io.plane(0, 'n', 'c')}) * PLANE + i] * (v - stats[st]) * stats[st + 1u]`,
  );
  return { scratch: [2 * batch * g], dispatches: [stats, sum] };
}

export function groupnormGradBiasKernel(ctx: KernelCtx): KernelSpec {
  const io = new KernelIo(ctx);
  return channelSum(
    ctx,
    'groupnorm_grad_bias',
    'groupnorm gradient wrt the bias: db[c] = Σ_{n,h,w} dy',
    [{ slot: 'input0', name: 'dy', elem: 'f32' }],
    '',
    [],
    `dy[(${io.plane(0, 'n', 'c')}) * PLANE + i]`,
  );
}
