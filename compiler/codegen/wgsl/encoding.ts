// The Encoding layer in two dispatches, never materialising the N×HW×K×D residuals:
//  1. assign: per pixel i of sample n, the scaled squared distances s_k‖x_ni − c_k‖² to the K codewords and
//     their softmax over k, written as A[n, k, i] (a scratch buffer of N·K·HW floats);
//  2. aggregate: E[n, k, d] = Σ_i A[n, k, i] · (x[n, d, i] − c[k, d]), 4 codewords × 4 feature channels per
//     invocation when K and D are multiples of 4 (else one output), reading A and X contiguously along i (vec4
//     when HW is a multiple of 4).
import type { KernelCtx, KernelPlan } from '../../ops/op.ts';
import { kernelSpec, linearMain, u, WG, type Buf } from './common.ts';
import { KernelIo } from './io.ts';

/** Codewords × feature channels per invocation of the aggregate pass, when both divide (4 × 4). */
export const AGG_BLOCK = 4;
const range = (n: number): number[] => Array.from({ length: n }, (_, j) => j);

/** The most codewords whose distances one invocation of the assign pass keeps in registers (EncNet: 32). */
export const UNROLLED_CODEWORDS = 32;

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

  // Up to UNROLLED_CODEWORDS codewords and a feature size a multiple of 4: each invocation keeps its pixel's K
  // distances in registers and reads its pixel once per feature for all of them, 4 features of a codeword per vec4
  // load (the loop over codewords below reads x K times and every codeword scalar by scalar; on llvmpipe, where a
  // load costs tens of FMAs, 4–5× more load instructions).
  const unrolled = k <= UNROLLED_CODEWORDS && dim! % 4 === 0;
  const assignBufs: Buf[] = [
    { slot: 'input0', name: 'x', elem: 'f32' },
    { slot: 'param0', name: 'codewords', elem: unrolled ? 'vec4f' : 'f32' },
    { slot: 'param1', name: 'scale', elem: 'f32' },
    { slot: 'scratch0', name: 'assign', elem: 'f32', write: true },
  ];
  const cs = Array.from({ length: k }, (_, c) => c);
  const unrolledBody = [
    '  let i = gid % HW;',
    '  let n = gid / HW;',
    `  let xbase = (${io.plane(0, 'n', '0u')}) * HW + i; // x[n, d, i] = x[xbase + d * HW]`,
    '  let abase = n * K * HW + i; // A[n, c, i] = assign[abase + c * HW]',
    ...cs.map((c) => `  var dist${c} = 0.0;`),
    '  for (var d4 = 0u; d4 < D / 4u; d4++) {',
    '    let xd = xbase + d4 * 4u * HW;',
    '    let xv = vec4f(x[xd], x[xd + HW], x[xd + 2u * HW], x[xd + 3u * HW]); // features 4·d4 .. 4·d4+3',
    ...cs.map(
      (c) => `    let t${c} = xv - codewords[${u(c)} * (D / 4u) + d4]; dist${c} += dot(t${c}, t${c});`,
    ),
    '  }',
    ...cs.map((c) => `  let l${c} = scale[${u(c)}] * dist${c};`),
    `  let top = ${cs.reduce((e, c) => (c === 0 ? 'l0' : `max(${e}, l${c})`), '')};`,
    ...cs.map((c) => `  let e${c} = exp(l${c} - top);`),
    `  let inv = 1.0 / (${cs.map((c) => `e${c}`).join(' + ')});`,
    ...cs.map((c) => `  assign[abase + ${u(c)} * HW] = e${c} * inv;`),
  ].join('\n');
  // The logits go straight to this pixel's slots of the output (no private array: large unrolled private
  // arrays compile very slowly on llvmpipe), then are normalised in place.
  const loopBody = [
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
  const assignBody = unrolled ? unrolledBody : loopBody;
  const assign = kernelSpec(
    `encoding_assign_k${k}_d${dim}`,
    `encoding, pass 1: softmax_k(s_k‖x_ni − c_k‖²) for x [${ctx.inputs[0]!.join(', ')}], K = ${k}; one pixel per invocation${unrolled ? ', its K distances in registers, codewords read as vec4s' : ''}`,
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
  // Blocked (K and D multiples of 4): each invocation 4 codewords × 4 feature channels, so one step over i loads
  // 4 rows of A and 4 of X for 16 products instead of one of each for one.
  const blocked = k % AGG_BLOCK === 0 && dim! % AGG_BLOCK === 0;
  const B = AGG_BLOCK;
  const sum = (v: string) => (vec ? `${v}.x + ${v}.y + ${v}.z + ${v}.w` : v);
  const aggBody = blocked
    ? [
        '  let d0 = (gid % (D / 4u)) * 4u;',
        '  let c0 = ((gid / (D / 4u)) % (K / 4u)) * 4u;',
        '  let n = gid / ((D / 4u) * (K / 4u));',
        ...range(B).map((l) => `  let xrow${l} = (${io.plane(0, 'n', `d0 + ${u(l)}`)}) * HW${q};`),
        ...range(B).map((j) => `  let arow${j} = (n * K + c0 + ${u(j)}) * HW${q};`),
        ...range(B).flatMap((j) =>
          range(B).map((l) => `  let cw${j}_${l} = codewords[(c0 + ${u(j)}) * D + d0 + ${u(l)}];`),
        ),
        ...range(B).flatMap((j) => range(B).map((l) => `  var s${j}_${l} = ${elem}(0.0);`)),
        `  for (var i = 0u; i < HW${q}; i++) {`,
        ...range(B).map((j) => `    let a${j} = assign[arow${j} + i];`),
        ...range(B).map((l) => `    let x${l} = x[xrow${l} + i];`),
        ...range(B).flatMap((j) => range(B).map((l) => `    s${j}_${l} += a${j} * (x${l} - cw${j}_${l});`)),
        '  }',
        ...range(B).flatMap((j) =>
          range(B).map(
            (l) => `  ${io.store(`(n * K + c0 + ${u(j)}) * D + d0 + ${u(l)}`, sum(`s${j}_${l}`))}`,
          ),
        ),
      ].join('\n')
    : [
        '  let d = gid % D;',
        '  let c = (gid / D) % K;',
        '  let n = gid / (D * K);',
        '  let cw = codewords[c * D + d];',
        `  let xrow = (${io.plane(0, 'n', 'd')}) * HW${q};`,
        `  let arow = (n * K + c) * HW${q};`,
        `  var s = ${elem}(0.0);`,
        `  for (var i = 0u; i < HW${q}; i++) { s += assign[arow + i] * (x[xrow + i] - cw); }`,
        `  ${io.store('gid', sum('s'))}`,
      ].join('\n');
  const aggregate = kernelSpec(
    `encoding_aggregate_k${k}_d${dim}`,
    `encoding, pass 2: E[n, k, d] = Σ_i A[n, k, i] · (x[n, d, i] − c[k, d]) → [${ctx.out.join(', ')}]; ${blocked ? `${B} codewords × ${B} feature channels` : 'one output'} per invocation`,
    aggBufs,
    consts,
    linearMain((batch! * k * dim!) / (blocked ? B * B : 1), WG, ctx.opts),
    aggBody,
    WG,
    {},
    io.helpers(),
  );
  return { scratch: [batch! * k * hw], dispatches: [assign, aggregate] };
}
