// Winograd's minimal filtering F(m×m, 3×3) for 3×3 stride-1 "same" convs (Lavin & Gray, "Fast Algorithms for
// Convolutional Neural Networks", 2016), as a plan of four dispatches in place of the direct conv kernel:
//  1. weights: U[ξ][co][ci] = (G g G^T)[i][j], ξ = α·i + j (α = m + 2), from the OHWI weights — every forward, so that
//     a training step's forward sees the weights it has just updated;
//  2. input: V[ξ][ci][p] = (B^T d B)[i][j] of the α×α input window d of each m×m output tile p (zero padding);
//  3. the α² GEMMs M[ξ] = U[ξ] · V[ξ] ([Cout × Cin] · [Cin × tiles]) as one grouped 1×1 conv, by the conv's own GEMM
//     kernel and tiles (conv.ts `conv2dKernel`);
//  4. output: y = A^T M A per tile, plus the bias, through the conv's fused epilogue and output view.
// A conv does (α/m)²·Cout·Cin·(tiles) multiply-adds in the GEMMs instead of 9·Cout·Cin·m²·(tiles): 2.25× fewer for
// F(2,3), 4× for F(4,3), plus the transforms (O(Cin + Cout) per tile), in α² times the input and output as scratch.
// Chosen by key (conv.ts `winogradTile`): `conv2d.winograd` = m, per problem `…@<problem>` as the tuner writes it, or
// `conv2d.winograd_wide` = W for F(4×4) on output maps at least W wide (llvmpipe's default: 128). Whether it pays
// depends on the adapter and the shape (bench/results/winograd-forward-software.md: 0.13–1.6× on llvmpipe), and
// F(4,3) rounds more (relative error ~5e-6 against ~3e-7 for the direct kernel at 512 input channels).
//
// Both transforms of the data run four horizontally adjacent tiles per invocation, one per vec4 lane, so that their
// loads and stores are vec4s: the plan applies to maps whose width is a multiple of 4m and height of m, with input
// channels in fours. The transforms are generated from the matrices, unrolled, zero terms skipped.
import type { KernelBinding, KernelCtx, KernelOptions, KernelPlan, KernelSpec } from '../../ops/op.ts';
import type { ConvAttrs } from '../../ops/conv.ts';
import type { Shape } from '../../ir/types.ts';
import { DEFAULT_LIMITS } from '../limits.ts';
import { kernelSpec, linearMain, u, WG, type Buf } from './common.ts';
import { KernelIo } from './io.ts';

/** The matrices of F(m×m, 3×3): B^T (α×α), G (α×3), A^T (m×α), α = m + 2. */
export interface WinogradMatrices {
  readonly m: number;
  readonly BT: readonly (readonly number[])[];
  readonly G: readonly (readonly number[])[];
  readonly AT: readonly (readonly number[])[];
}

/** F(2×2, 3×3) and F(4×4, 3×3), Lavin & Gray's choice of interpolation points (0, ±1 and 0, ±1, ±2, ∞). */
export const WINOGRAD: Readonly<Record<number, WinogradMatrices>> = {
  2: {
    m: 2,
    BT: [
      [1, 0, -1, 0],
      [0, 1, 1, 0],
      [0, -1, 1, 0],
      [0, 1, 0, -1],
    ],
    G: [
      [1, 0, 0],
      [1 / 2, 1 / 2, 1 / 2],
      [1 / 2, -1 / 2, 1 / 2],
      [0, 0, 1],
    ],
    AT: [
      [1, 1, 1, 0],
      [0, 1, -1, -1],
    ],
  },
  4: {
    m: 4,
    BT: [
      [4, 0, -5, 0, 1, 0],
      [0, -4, -4, 1, 1, 0],
      [0, 4, -4, -1, 1, 0],
      [0, -2, -1, 2, 1, 0],
      [0, 2, -1, -2, 1, 0],
      [0, 4, 0, -5, 0, 1],
    ],
    G: [
      [1 / 4, 0, 0],
      [-1 / 6, -1 / 6, -1 / 6],
      [-1 / 6, 1 / 6, -1 / 6],
      [1 / 24, 1 / 12, 1 / 6],
      [1 / 24, -1 / 12, 1 / 6],
      [0, 0, 1],
    ],
    AT: [
      [1, 1, 1, 1, 1, 0],
      [0, 1, -1, 2, -2, 0],
      [0, 1, 1, 4, 4, 0],
      [0, 1, -1, 8, -8, 1],
    ],
  },
};

/** The output tile sizes m the plan is built for (`conv2d.winograd` values; 0 = the direct kernel). */
export const WINOGRAD_TILES: readonly number[] = Object.keys(WINOGRAD).map(Number);

/** The f32 element counts of the plan's scratch buffers: transformed weights, input and GEMM results. */
export function winogradScratch(x: Shape, a: ConvAttrs, m: number): { U: number; V: number; M: number } {
  const [n, cin, h, w] = x as number[];
  const xi = (m + 2) ** 2;
  const tiles = n! * (h! / m) * (w! / m);
  return { U: xi * a.channels * cin!, V: xi * cin! * tiles, M: xi * a.channels * tiles };
}

/**
 * Why F(m×m, 3×3) cannot compute this conv (undefined: it can): a 3×3 stride-1 conv with padding 1, no dilation and
 * one group; input channels in fours; width a multiple of 4m and height of m; every scratch buffer within one binding
 * (`maxBindingBytes`, WebGPU's default 128 MiB when not given).
 */
export function winogradProblem(
  x: Shape,
  a: ConvAttrs,
  m: number,
  maxBindingBytes: number = DEFAULT_LIMITS.maxStorageBufferBindingSize,
): string | undefined {
  if (!WINOGRAD[m]) return `no F(${m}×${m}, 3×3); tiles: ${WINOGRAD_TILES.join(', ')}`;
  if (a.kernel !== 3 || a.stride !== 1 || a.padding !== 1 || a.dilation !== 1 || a.groups !== 1)
    return 'only 3×3 convs with stride 1, padding 1, no dilation and one group';
  const [, cin, h, w] = x as number[];
  if (cin! % 4) return 'input channels must be a multiple of 4';
  if (w! % (4 * m) || h! % m) return `the map must be a multiple of ${m} high and ${4 * m} wide`;
  const s = winogradScratch(x, a, m);
  const big = Object.entries(s).find(([, n]) => n * 4 > maxBindingBytes);
  if (big)
    return `its transformed ${big[0] === 'U' ? 'weights' : big[0] === 'V' ? 'input' : 'products'} (${big[1] * 4} bytes) exceed one binding (${maxBindingBytes})`;
  return undefined;
}

/** WGSL for Σ_j c[j]·term(j): zero coefficients skipped, ±1 without a product. */
export function combo(c: readonly number[], term: (j: number) => string): string {
  const parts: string[] = [];
  c.forEach((v, j) => {
    if (v === 0) return;
    const t = term(j);
    const mag = Math.abs(v);
    const body = mag === 1 ? t : `${Number.isInteger(mag) ? mag.toFixed(1) : mag.toPrecision(17)} * ${t}`;
    parts.push(parts.length === 0 ? (v < 0 ? `-(${body})` : body) : `${v < 0 ? '-' : '+'} ${body}`);
  });
  return parts.length ? parts.join(' ') : 'vec4f(0.0)';
}

const LANES = ['x', 'y', 'z', 'w'];
const shapeText = (s: readonly number[]): string => `[${s.join(', ')}]`;

/**
 * The conv as Winograd F(m×m, 3×3) (see the top of this file); `gemmKernel` builds the GEMM pass (conv.ts
 * `conv2dKernel`). The caller has checked `winogradProblem`.
 */
export function winogradPlan(
  ctx: KernelCtx<ConvAttrs>,
  m: number,
  gemmKernel: (ctx: KernelCtx<ConvAttrs>) => KernelSpec,
): KernelPlan {
  const { BT, G, AT } = WINOGRAD[m]!;
  const alpha = m + 2;
  const xi = alpha * alpha;
  const a = ctx.attrs;
  const [batch, cin, h, w] = ctx.inputs[0]! as number[];
  const cout = a.channels;
  const th = h! / m;
  const tw = w! / m;
  const tiles = th * tw; // per sample
  const p4 = (batch! * tiles) / 4; // tile vec4s of the GEMMs' pixel axis (all samples)
  const sc = winogradScratch(ctx.inputs[0]!, a, m);
  const what = `conv2d 3×3 as Winograd F(${m}×${m}, 3×3)`;
  const name = `conv2d_winograd${m}`;

  // 1. Weights: one invocation per (output channel, 4 input channels).
  const L1: string[] = ['  let c4 = gid % CIN4;', '  let co = gid / CIN4;'];
  for (let t = 0; t < 9; t++) L1.push(`  let g${t} = w[(co * 9u + ${u(t)}) * CIN4 + c4];`);
  for (let i = 0; i < alpha; i++)
    for (let c = 0; c < 3; c++) L1.push(`  let a${i}_${c} = ${combo(G[i]!, (r) => `g${3 * r + c}`)};`);
  for (let i = 0; i < alpha; i++)
    for (let j = 0; j < alpha; j++)
      L1.push(`  u[(${u(alpha * i + j)} * COUT + co) * CIN4 + c4] = ${combo(G[j]!, (c) => `a${i}_${c}`)};`);
  const weights = kernelSpec(
    `${name}_weights_k${cout}`,
    `pass 1 of ${what}: the weights w [${cout}, ${cin}, 3, 3] (OHWI) → U [${xi}, ${cout}, ${cin}] (scratch) = G g G^T\none invocation per output channel and 4 input channels`,
    [
      { slot: 'param0', name: 'w', elem: 'vec4f' },
      { slot: 'scratch0', name: 'u', elem: 'vec4f', write: true },
    ],
    `const CIN4 = ${u(cin! / 4)};  const COUT = ${u(cout)};`,
    linearMain((cout * cin!) / 4, WG, ctx.opts),
    L1.join('\n'),
    WG,
    { paramLayouts: { 0: [0, 2, 3, 1] } },
  );

  // 2. Input: one invocation per (sample, input channel, tile row, 4 adjacent tiles), the tiles in the vec4 lanes.
  // Tiles 4·q4 .. 4·q4 + 3 of tile row ty read input rows m·ty − 1 .. m·ty + m and columns 4m·q4 − 1 .. 4m·q4 + 4m:
  // the vec4s m·q4 − 1 .. m·q4 + m. Window column j of lane k is column 4m·q4 − 1 + m·k + j: lane (3 + m·k + j) % 4
  // of vec4 m·q4 − 1 + ⌊(3 + m·k + j) / 4⌋.
  const io2 = new KernelIo({ ...ctx, epilogue: undefined, views: { inputs: ctx.views?.inputs ?? [] } });
  const L2: string[] = [
    '  let q4 = gid % TW4;',
    '  let ty = (gid / TW4) % TH;',
    '  let c = (gid / (TW4 * TH)) % CIN;',
    '  let n = gid / (TW4 * TH * CIN);',
    `  let plane = (${io2.plane(0, 'n', 'c')}) * (H * W4);`,
  ];
  for (let i = 0; i < alpha; i++) {
    L2.push(`  let r${i} = i32(${u(m)} * ty + ${u(i)}) - 1i;`);
    for (let q = 0; q <= m + 1; q++)
      L2.push(`  let v${i}_${q} = ld(plane, r${i}, ${m}i * i32(q4) - 1i + ${q}i);`);
    for (let j = 0; j < alpha; j++) {
      const comp = LANES.map((_, k) => {
        const e = 3 + m * k + j;
        return `v${i}_${Math.floor(e / 4)}.${LANES[e % 4]}`;
      });
      L2.push(`  let d${i}_${j} = vec4f(${comp.join(', ')});`);
    }
  }
  for (let i = 0; i < alpha; i++)
    for (let j = 0; j < alpha; j++) L2.push(`  let b${i}_${j} = ${combo(BT[i]!, (r) => `d${r}_${j}`)};`);
  L2.push('  let t4 = n * T4 + ty * TW4 + q4; // the 4 tiles, in vec4s of the pixel axis');
  for (let i = 0; i < alpha; i++)
    for (let j = 0; j < alpha; j++)
      L2.push(`  v[(${u(alpha * i + j)} * CIN + c) * P4 + t4] = ${combo(BT[j]!, (c) => `b${i}_${c}`)};`);
  const input = kernelSpec(
    `${name}_input_c${cin}`,
    `pass 2 of ${what}: the input x ${shapeText(ctx.inputs[0]!)} → V [${xi}, ${cin}, ${batch! * tiles}] (scratch) = B^T d B per ${m}×${m} output tile\none invocation per 4 adjacent tiles of a row (one per vec4 lane) and input channel`,
    [
      { slot: 'input0', name: 'x', elem: 'vec4f' },
      { slot: 'scratch1', name: 'v', elem: 'vec4f', write: true },
    ],
    [
      `const CIN = ${u(cin!)};  const H = ${u(h!)};  const W4 = ${u(w! / 4)};`,
      `const TH = ${u(th)};  const TW4 = ${u(tw / 4)};  const T4 = ${u(tiles / 4)};  const P4 = ${u(p4)};`,
      '',
      '// vec4 q of input row r of the plane starting at vec4 `plane`; zeros outside the map (the padding).',
      'fn ld(plane: u32, r: i32, q: i32) -> vec4f {',
      '  if (r < 0i || r >= i32(H) || q < 0i || q >= i32(W4)) { return vec4f(0.0); }',
      '  return x[plane + u32(r) * W4 + u32(q)];',
      '}',
    ].join('\n'),
    linearMain((batch! * cin! * th * tw) / 4, WG, ctx.opts),
    L2.join('\n'),
    WG,
  );

  // 3. The α² GEMMs as one grouped 1×1 conv: [Cout × Cin] · [Cin × tiles] per group, all samples' tiles as one
  // sample's pixels; the conv's GEMM kernel with this GEMM problem's own tiles and keys.
  const gAttrs: ConvAttrs = {
    channels: xi * cout,
    kernel: 1,
    stride: 1,
    padding: 0,
    dilation: 1,
    groups: xi,
    bias: false,
  };
  const gemm = gemmKernel({
    ...ctx,
    inputs: [[1, xi * cin!, 1, batch! * tiles]],
    out: [1, xi * cout, 1, batch! * tiles],
    attrs: gAttrs,
    params: [[xi * cout, cin!, 1, 1]],
    epilogue: undefined,
    views: {},
  });
  const slot: Record<string, KernelBinding> = { input0: 'scratch1', param0: 'scratch0', output: 'scratch2' };
  const pass3: KernelSpec = {
    ...gemm,
    name: (gemm.name ?? 'conv2d_gemm').replace(/^conv2d_/, `${name}_`),
    wgsl: `// pass 3 of ${what}: the ${xi} GEMMs M = U · V as one grouped 1×1 conv (scratch → scratch)\n${gemm.wgsl}`,
    bindings: gemm.bindings.map((b) => slot[b] ?? b),
  };
  if (pass3.bindings.some((b) => !b.startsWith('scratch')))
    throw new Error(`internal: the Winograd GEMM binds ${pass3.bindings.join(', ')}`);

  // 4. Output: one invocation per (sample, output channel, tile row, 4 adjacent tiles), through the epilogue. Output
  // row m·ty + a of the 4 tiles is 4m pixels, m vec4s: pixel e = m·k + b is y{a}_{b}, lane k.
  const io = new KernelIo(ctx);
  const vecY = io.outVecOk;
  const bufs: Buf[] = [
    { slot: 'scratch2', name: 'mt', elem: 'vec4f' },
    ...(a.bias ? [{ slot: 'param1', name: 'bias', elem: 'f32' } as const] : []),
    ...io.outBufs(vecY),
  ];
  const L4: string[] = [
    '  let q4 = gid % TW4;',
    '  let ty = (gid / TW4) % TH;',
    '  let co = (gid / (TW4 * TH)) % COUT;',
    '  let n = gid / (TW4 * TH * COUT);',
    '  let t4 = n * T4 + ty * TW4 + q4;',
  ];
  for (let k = 0; k < xi; k++) L4.push(`  let m${k} = mt[(${u(k)} * COUT + co) * P4 + t4];`);
  for (let r = 0; r < m; r++)
    for (let j = 0; j < alpha; j++)
      L4.push(`  let s${r}_${j} = ${combo(AT[r]!, (i) => `m${alpha * i + j}`)};`);
  if (a.bias) L4.push('  let b = bias[co];');
  for (let r = 0; r < m; r++) {
    for (let c = 0; c < m; c++)
      L4.push(`  let y${r}_${c} = ${combo(AT[c]!, (j) => `s${r}_${j}`)}${a.bias ? ' + b' : ''};`);
    L4.push(`  let row${r} = ((n * COUT + co) * H + ${u(m)} * ty + ${u(r)}) * W4 + ${u(m)} * q4;`);
    for (let p = 0; p < m; p++) {
      const comp = [0, 1, 2, 3].map((l) => {
        const e = 4 * p + l;
        return `y${r}_${e % m}.${LANES[Math.floor(e / m)]}`;
      });
      if (vecY) L4.push(`  ${io.store4(`row${r} + ${u(p)}`, `vec4f(${comp.join(', ')})`)}`);
      else comp.forEach((v, l) => L4.push(`  ${io.store(`(row${r} + ${u(p)}) * 4u + ${u(l)}`, v)}`));
    }
  }
  const output = kernelSpec(
    `${name}_output_k${cout}`,
    `pass 4 of ${what}: M [${xi}, ${cout}, ${batch! * tiles}] (scratch) → y ${shapeText(ctx.out)} = A^T M A per tile${a.bias ? ', plus the bias' : ''}\none invocation per 4 adjacent tiles of a row (one per vec4 lane) and output channel`,
    bufs,
    [
      `const COUT = ${u(cout)};  const H = ${u(h!)};  const W4 = ${u(w! / 4)};`,
      `const TH = ${u(th)};  const TW4 = ${u(tw / 4)};  const T4 = ${u(tiles / 4)};  const P4 = ${u(p4)};`,
    ].join('\n'),
    linearMain((batch! * cout * th * tw) / 4, WG, ctx.opts),
    L4.join('\n'),
    WG,
    {},
    io.helpers(),
  );
  return { scratch: [sc.U, sc.V, sc.M], dispatches: [weights, input, pass3, output] };
}

/** The bytes one binding holds, as the emitters see it (WebGPU's default when the options do not say). */
export const bindingBytes = (opts: KernelOptions): number =>
  opts.maxBindingBytes ?? DEFAULT_LIMITS.maxStorageBufferBindingSize;
