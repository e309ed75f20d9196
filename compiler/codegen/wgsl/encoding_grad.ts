// The Encoding layer's gradients (compiler/ops/encoding_grad.ts), each a plan of dispatches sharing a first pass:
//  1. prepare: one pixel (n, i) per invocation. For each codeword k: d_ik = ‖x_ni − c_k‖² and dA_ik = ⟨dE_k, r_ik⟩,
//     then the softmax A_ik of s_k·d_ik and dlogit_ik = A_ik·(dA_ik − Σ_j A_ij·dA_ij). The per-k values live in
//     scratch rows [n, k, i] (no private arrays: they compile very slowly on llvmpipe). For dx and dc it leaves
//     A (row 0) and W = 2·s_k·dlogit (row 1); for ds, dlogit·d (row 1; row 2 holds d meanwhile).
//  2. dx: one output (n, d, i) per invocation, Σ_k A_ik·dE[n,k,d] + W_ik·(x[n,d,i] − c[k,d]) in order of k.
//     dc, ds: reductions over every pixel (n, i), deterministic: each invocation sums one chunk of CHUNK pixels
//     of one sample in order into a partial-sum slot, then one invocation per output sums the slots in order
//     (skipped when there is one chunk in all). CHUNK is `encoding_grad.chunk` of the tuning (default 256).
import type { KernelCtx, KernelPlan, KernelSpec } from '../../ops/op.ts';
import { kernelSpec, linearMain, u, WG, type Buf } from './common.ts';
import { KernelIo } from './io.ts';

type Ctx = KernelCtx<{ codewords: number }>;

const DEFAULT_CHUNK = 256;

interface Dims {
  readonly batch: number;
  readonly dim: number;
  readonly k: number;
  readonly hw: number;
  /** N·K·HW: the size of one scratch row. */
  readonly row: number;
}

function dims(ctx: Ctx): Dims {
  const [batch, dim, h, w] = ctx.inputs[0]! as [number, number, number, number];
  const k = ctx.attrs.codewords;
  return { batch, dim, k, hw: h * w, row: batch * k * h * w };
}

function consts(m: Dims): string {
  return [
    `const D = ${u(m.dim)}; // feature size`,
    `const K = ${u(m.k)}; // codewords`,
    `const HW = ${u(m.hw)}; // pixels`,
    `const ROW = ${u(m.row)}; // N·K·HW: one scratch row [n, k, i]`,
  ].join('\n');
}

/** dE[n, c, d] (dE [N, K, D] read as planes of D values, so that a view needs no helper function). */
function gradAt(io: KernelIo, n: string, c: string, d: string): string {
  return `grad[(${io.plane(1, n, c)}) * D + ${d}]`;
}

/** Pass 1 ('xc': A and 2·s·dlogit for dx and dc; 's': dlogit·d for ds) into scratch0. */
function prepare(ctx: Ctx, m: Dims, mode: 'xc' | 's'): KernelSpec {
  const io = new KernelIo(ctx);
  const bufs: Buf[] = [
    { slot: 'input0', name: 'x', elem: 'f32' },
    { slot: 'input1', name: 'grad', elem: 'f32' },
    { slot: 'param0', name: 'codewords', elem: 'f32' },
    { slot: 'param1', name: 'scale', elem: 'f32' },
    { slot: 'scratch0', name: 'work', elem: 'f32', write: true },
  ];
  const last =
    mode === 'xc'
      ? '    work[ROW + j] = 2.0 * scale[c] * g; // W = 2·s_k·dlogit'
      : '    work[ROW + j] = g * work[2u * ROW + j]; // dlogit·d';
  const body = [
    '  let i = gid % HW;',
    '  let n = gid / HW;',
    `  let xbase = (${io.plane(0, 'n', '0u')}) * HW + i; // x[n, d, i] = x[xbase + d * HW]`,
    '  let abase = n * K * HW + i; // row r of codeword c: work[r * ROW + abase + c * HW]',
    '  var top = -3.0e38;',
    '  for (var c = 0u; c < K; c++) {',
    '    var dist = 0.0;',
    '    var da = 0.0;',
    '    for (var d = 0u; d < D; d++) {',
    '      let r = x[xbase + d * HW] - codewords[c * D + d];',
    '      dist += r * r;',
    `      da += ${gradAt(io, 'n', 'c', 'd')} * r;`,
    '    }',
    '    let j = abase + c * HW;',
    '    let logit = scale[c] * dist;',
    '    work[j] = logit;',
    '    work[ROW + j] = da;',
    ...(mode === 's' ? ['    work[2u * ROW + j] = dist;'] : []),
    '    top = max(top, logit);',
    '  }',
    '  var sum = 0.0;',
    '  for (var c = 0u; c < K; c++) { let j = abase + c * HW; let e = exp(work[j] - top); work[j] = e; sum += e; }',
    '  let inv = 1.0 / sum;',
    '  var t = 0.0; // Σ_c A_c · dA_c',
    '  for (var c = 0u; c < K; c++) { let j = abase + c * HW; let a = work[j] * inv; work[j] = a; t += a * work[ROW + j]; }',
    '  for (var c = 0u; c < K; c++) {',
    '    let j = abase + c * HW;',
    '    let g = work[j] * (work[ROW + j] - t); // dlogit',
    last,
    '  }',
  ].join('\n');
  const what = mode === 'xc' ? 'A and 2·s_k·dlogit' : 'dlogit·‖x − c_k‖²';
  return kernelSpec(
    `encoding_grad_prepare_${mode}_k${m.k}_d${m.dim}`,
    `encoding gradient, pass 1: ${what} per pixel for x [${ctx.inputs[0]!.join(', ')}], K = ${m.k}; one pixel per invocation`,
    bufs,
    consts(m),
    linearMain(m.batch * m.hw, WG, ctx.opts),
    body,
    WG,
  );
}

export function encodingGradInputKernel(ctx: Ctx): KernelPlan {
  const m = dims(ctx);
  const io = new KernelIo(ctx);
  const bufs: Buf[] = [
    { slot: 'input0', name: 'x', elem: 'f32' },
    { slot: 'input1', name: 'grad', elem: 'f32' },
    { slot: 'param0', name: 'codewords', elem: 'f32' },
    { slot: 'scratch0', name: 'work', elem: 'f32' },
    ...io.outBufs(),
  ];
  const body = [
    '  let i = gid % HW;',
    '  let d = (gid / HW) % D;',
    '  let n = gid / (HW * D);',
    `  let xv = x[(${io.plane(0, 'n', 'd')}) * HW + i];`,
    '  let abase = n * K * HW + i;',
    '  var acc = 0.0;',
    '  for (var c = 0u; c < K; c++) {',
    '    let j = abase + c * HW;',
    `    acc += work[j] * ${gradAt(io, 'n', 'c', 'd')} + work[ROW + j] * (xv - codewords[c * D + d]);`,
    '  }',
    `  ${io.store('gid', 'acc')}`,
  ].join('\n');
  const spec = kernelSpec(
    `encoding_grad_input_k${m.k}_d${m.dim}`,
    `encoding gradient wrt x, pass 2: dx[n, d, i] = Σ_k A·dE[n, k, d] + 2·s_k·dlogit·(x − c[k, d]) → [${ctx.out.join(', ')}]; one output per invocation`,
    bufs,
    consts(m),
    linearMain(m.batch * m.dim * m.hw, WG, ctx.opts),
    body,
    WG,
    {},
    io.helpers(),
  );
  return { scratch: [2 * m.row], dispatches: [prepare(ctx, m, 'xc'), spec] };
}

/** The pixel chunks of the reductions: per sample, ⌈HW / CHUNK⌉ chunks of CHUNK pixels (the last one shorter). */
function chunking(ctx: Ctx, m: Dims): { chunk: number; perSample: number; parts: number } {
  const chunk = ctx.opts.tuning?.['encoding_grad.chunk'] ?? DEFAULT_CHUNK;
  if (!Number.isInteger(chunk) || chunk < 1) throw new Error(`bad encoding_grad.chunk tuning: ${chunk}`);
  const perSample = Math.ceil(m.hw / chunk);
  return { chunk, perSample, parts: m.batch * perSample };
}

/**
 * A reduction over every pixel as partial sums then their ordered sum. `term` is the WGSL expression of one
 * pixel's contribution (pixel `i` of sample `n`, output `o` of `outputs`); `setup` declares what it needs.
 */
function pixelReduction(
  ctx: Ctx,
  m: Dims,
  name: string,
  what: string,
  outputs: number,
  bufs: readonly Buf[],
  setup: (io: KernelIo) => string[],
  term: string,
  sign: '' | '-',
): KernelSpec[] {
  const { chunk, perSample, parts } = chunking(ctx, m);
  const direct = parts === 1;
  const io = new KernelIo(ctx);
  const partBufs: Buf[] = [
    ...bufs,
    ...(direct ? io.outBufs() : [{ slot: 'scratch1', name: 'partial', elem: 'f32', write: true } as Buf]),
  ];
  const partConsts = [
    consts(m),
    `const OUTPUTS = ${u(outputs)};`,
    `const CHUNK = ${u(chunk)}; // pixels per partial sum`,
    `const CHUNKS = ${u(perSample)}; // partial sums per sample`,
  ].join('\n');
  const partBody = [
    '  let o = gid % OUTPUTS;',
    '  let part = gid / OUTPUTS;',
    '  let n = part / CHUNKS;',
    '  let i0 = (part % CHUNKS) * CHUNK;',
    '  let i1 = min(i0 + CHUNK, HW);',
    ...setup(io).map((l) => `  ${l}`),
    '  var acc = 0.0;',
    `  for (var i = i0; i < i1; i++) { acc += ${term}; }`,
    direct ? `  ${io.store('o', `${sign}acc`)}` : '  partial[gid] = acc;',
  ].join('\n');
  const partial = kernelSpec(
    `${name}_partial_k${m.k}_d${m.dim}`,
    `${what}: ${direct ? 'the sum over every pixel' : `partial sums over chunks of ${chunk} pixels (${parts} per output)`}; one ${direct ? 'output' : 'partial sum'} per invocation`,
    partBufs,
    partConsts,
    linearMain(parts * outputs, WG, ctx.opts),
    partBody,
    WG,
    {},
    direct ? io.helpers() : '',
  );
  if (direct) return [partial];
  const sio = new KernelIo(ctx);
  const sumBufs: Buf[] = [{ slot: 'scratch1', name: 'partial', elem: 'f32' }, ...sio.outBufs()];
  const sumBody = [
    '  var acc = 0.0;',
    '  for (var p = 0u; p < PARTS; p++) { acc += partial[p * OUTPUTS + gid]; }',
    `  ${sio.store('gid', `${sign}acc`)}`,
  ].join('\n');
  const sum = kernelSpec(
    `${name}_sum_${parts}`,
    `${what}: the ${parts} partial sums of each output, in order → [${ctx.out.join(', ')}]; one output per invocation`,
    sumBufs,
    `const OUTPUTS = ${u(outputs)};\nconst PARTS = ${u(parts)};`,
    linearMain(outputs, WG, ctx.opts),
    sumBody,
    WG,
    {},
    sio.helpers(),
  );
  return [partial, sum];
}

export function encodingGradCodewordsKernel(ctx: Ctx): KernelPlan {
  const m = dims(ctx);
  const { parts } = chunking(ctx, m);
  const bufs: Buf[] = [
    { slot: 'input0', name: 'x', elem: 'f32' },
    { slot: 'input1', name: 'grad', elem: 'f32' },
    { slot: 'param0', name: 'codewords', elem: 'f32' },
    { slot: 'scratch0', name: 'work', elem: 'f32' },
  ];
  const passes = pixelReduction(
    ctx,
    m,
    'encoding_grad_codewords',
    'encoding gradient wrt the codewords, dc[k, d] = −Σ_{n,i} [A·dE[n, k, d] + 2·s_k·dlogit·(x − c[k, d])]',
    m.k * m.dim,
    bufs,
    (io) => [
      'let d = o % D;',
      'let c = o / D;',
      `let e = ${gradAt(io, 'n', 'c', 'd')};`,
      'let cv = codewords[o];',
      `let xrow = (${io.plane(0, 'n', 'd')}) * HW;`,
      'let arow = (n * K + c) * HW;',
    ],
    'work[arow + i] * e + work[ROW + arow + i] * (x[xrow + i] - cv)',
    '-',
  );
  return {
    scratch: parts === 1 ? [2 * m.row] : [2 * m.row, parts * m.k * m.dim],
    dispatches: [prepare(ctx, m, 'xc'), ...passes],
  };
}

export function encodingGradScaleKernel(ctx: Ctx): KernelPlan {
  const m = dims(ctx);
  const { parts } = chunking(ctx, m);
  const bufs: Buf[] = [{ slot: 'scratch0', name: 'work', elem: 'f32' }];
  const passes = pixelReduction(
    ctx,
    m,
    'encoding_grad_scale',
    'encoding gradient wrt the smoothing factors, ds[k] = Σ_{n,i} dlogit·‖x − c_k‖²',
    m.k,
    bufs,
    () => ['let row = ROW + (n * K + o) * HW;'],
    'work[row + i]',
    '',
  );
  return {
    scratch: parts === 1 ? [3 * m.row] : [3 * m.row, parts * m.k],
    dispatches: [prepare(ctx, m, 's'), ...passes],
  };
}
