// Kernels of the shape-level gradient ops:
//   mean_grad        dx[o, k, r] = dy[o, r] / LEN (vec4 along r when rows are multiples of 4)
//   slice            y[o, c, r] = x[o, OFFSET + c, r] (vec4 likewise)
//   mul_grad_factor  db[n, c] = Σ_{h,w} dy · a: one workgroup per (n, c); each invocation sums a strided share of
//                    the plane in order, then a tree sum in workgroup memory: a fixed order, so deterministic.
import type { KernelCtx, KernelSpec } from '../../ops/op.ts';
import { kernelSpec, linearMain, numel, u, WG, workgroupMain, type Buf } from './common.ts';
import { KernelIo } from './io.ts';

const shape = (s: readonly number[]): string => `[${s.join(', ')}]`;

export function meanGradKernel(ctx: KernelCtx<{ axis: number; size: number }>): KernelSpec {
  const { axis, size } = ctx.attrs;
  const inner = numel(ctx.out.slice(axis + 1));
  const io = new KernelIo(ctx);
  const vec = inner % 4 === 0 && io.inVecOk(0) && io.outVecOk;
  const q = vec ? 4 : 1;
  const elem = vec ? 'vec4f' : 'f32';
  const bufs: Buf[] = [{ slot: 'input0', name: 'dy', elem }, ...io.outBufs(vec)];
  const consts = [
    `const LEN = ${u(size)}; // the averaged axis`,
    `const INNER = ${u(inner / q)}; // ${elem}s`,
  ].join('\n');
  const v = `dy[${io.at(0, 'o * INNER + r', elem)}] / f32(LEN)`;
  const body = [
    '  let r = gid % INNER;',
    '  let o = gid / (INNER * LEN);',
    `  ${vec ? io.store4('gid', v) : io.store('gid', v)}`,
  ].join('\n');
  return kernelSpec(
    `mean_grad_axis${axis}${vec ? '_vec4' : ''}`,
    `mean_grad along axis ${axis} (size ${size}): dy ${shape(ctx.inputs[0]!)} → ${shape(ctx.out)}; one ${elem} per invocation`,
    bufs,
    consts,
    linearMain(numel(ctx.out) / q, WG, ctx.opts),
    body,
    WG,
    {},
    io.helpers(),
  );
}

export function sliceKernel(ctx: KernelCtx<{ axis: number; offset: number; size: number }>): KernelSpec {
  const { axis, offset, size } = ctx.attrs;
  const x = ctx.inputs[0]!;
  const inner = numel(x.slice(axis + 1));
  const io = new KernelIo(ctx);
  const vec = inner % 4 === 0 && io.inVecOk(0) && io.outVecOk;
  const q = vec ? 4 : 1;
  const elem = vec ? 'vec4f' : 'f32';
  const bufs: Buf[] = [{ slot: 'input0', name: 'x', elem }, ...io.outBufs(vec)];
  const consts = [
    `const INNER = ${u(inner / q)}; // ${elem}s per step along the axis`,
    `const AXIS_IN = ${u(x[axis]!)}; // input size along axis ${axis}`,
    `const OFFSET = ${u(offset)};`,
    `const SIZE = ${u(size)};`,
  ].join('\n');
  const v = `x[${io.at(0, '(o * AXIS_IN + OFFSET + c) * INNER + r', elem)}]`;
  const body = [
    '  let r = gid % INNER;',
    '  let c = (gid / INNER) % SIZE;',
    '  let o = gid / (INNER * SIZE);',
    `  ${vec ? io.store4('gid', v) : io.store('gid', v)}`,
  ].join('\n');
  return kernelSpec(
    `slice_axis${axis}${vec ? '_vec4' : ''}`,
    `slice [${offset}, ${offset + size}) along axis ${axis}: ${shape(x)} → ${shape(ctx.out)}; one ${elem} per invocation`,
    bufs,
    consts,
    linearMain(numel(ctx.out) / q, WG, ctx.opts),
    body,
    WG,
    {},
    io.helpers(),
  );
}

export function mulGradFactorKernel(ctx: KernelCtx<{ keepdims: boolean }>): KernelSpec {
  const [n, c, h, w] = ctx.inputs[0]! as number[];
  // A power of two (the tree sum halves it) within the device's workgroup limit.
  let wg = 1;
  while (wg * 2 <= Math.min(WG, ctx.opts.maxInvocationsPerWorkgroup)) wg *= 2;
  const io = new KernelIo(ctx);
  const bufs: Buf[] = [
    { slot: 'input0', name: 'dy', elem: 'f32' },
    { slot: 'input1', name: 'a', elem: 'f32' },
    ...io.outBufs(),
  ];
  const consts = [
    `const C = ${u(c!)};  const PLANE = ${u(h! * w!)};`,
    `var<workgroup> partial: array<f32, ${wg}>;`,
  ].join('\n');
  const helpers = [
    '// Tree sum of partial[0..WORKGROUP) (WORKGROUP is a power of two); every invocation gets the total.',
    'fn sum_partial(lid: u32, v: f32) -> f32 {',
    '  partial[lid] = v;',
    '  workgroupBarrier();',
    '  for (var half = WORKGROUP / 2u; half > 0u; half /= 2u) {',
    '    if (lid < half) { partial[lid] += partial[lid + half]; }',
    '    workgroupBarrier();',
    '  }',
    '  return partial[0];',
    '}',
    '',
    io.helpers(),
  ].join('\n');
  const body = [
    `  let db = (${io.plane(0, 'item / C', 'item % C')}) * PLANE;`,
    `  let ab = (${io.plane(1, 'item / C', 'item % C')}) * PLANE;`,
    '  var s = 0.0;',
    '  for (var k = lid; k < PLANE; k += WORKGROUP) { s += dy[db + k] * a[ab + k]; }',
    '  let total = sum_partial(lid, s);',
    `  if (lid == 0u) { ${io.store('item', 'total')} }`,
  ].join('\n');
  return kernelSpec(
    `mul_grad_factor_${h}x${w}`,
    `mul_grad_factor: dy, a [${n}, ${c}, ${h}, ${w}] → ${shape(ctx.out)}; one workgroup of ${wg} per (sample, channel), a fixed-order tree sum`,
    bufs,
    consts,
    workgroupMain(n! * c!, wg, ctx.opts),
    body,
    wg,
    {},
    helpers,
  );
}
