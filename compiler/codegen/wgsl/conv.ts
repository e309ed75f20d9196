// conv2d kernels (NCHW activations):
//  - implicit GEMM with register blocking: each invocation computes TM output channels × TN output pixels of one
//    sample and group, accumulating over (ky, kx, input channel) without materialising im2col. Weights are
//    uploaded as OHWI (converted once at load) so that 4 input channels of one tap are one vec4 load when the
//    group's input channels are a multiple of 4; a scalar path covers the rest. 1×1 stride-1 unpadded convs are
//    the plain GEMM Y[co, p] = Σ_c W[co, c] · X[c, p], whose pixel loads are vec4 when H·W is a multiple of 4.
//  - direct depthwise kernel (groups = Cin = Cout) with stride, padding and dilation: 4 adjacent output pixels
//    of one row per invocation, the K×K taps in registers.
// Output-channel and pixel tails are handled by clamping loads and masking stores.
import type { KernelCtx, KernelSpec } from '../../ops/op.ts';
import { i, kernelSpec, linearMain, u, WG, type Buf } from './common.ts';
import { KernelIo } from './io.ts';

import type { ConvAttrs } from '../../ops/conv.ts';

/** Register-blocking factors of the implicit GEMM (tuned later per adapter; see gpu/README.md). */
export interface ConvTiling {
  /** Output channels per invocation (upper bound; tails are balanced). */
  readonly tm: number;
  /** Output pixels per invocation, as vec4 groups: TN = 4 · vecs. */
  readonly vecs: number;
}
export const DEFAULT_TILING: ConvTiling = { tm: 8, vecs: 2 }; // fastest on llvmpipe (bench/results/conv-software.md)

/** The tiling asked for by `ctx.opts.tuning` (`conv2d.tm`, `conv2d.tn` a multiple of 4), else the default. */
function tilingOf(ctx: KernelCtx<ConvAttrs>): ConvTiling {
  const t = ctx.opts.tuning ?? {};
  const tm = t['conv2d.tm'] ?? DEFAULT_TILING.tm;
  const tn = t['conv2d.tn'] ?? 4 * DEFAULT_TILING.vecs;
  if (!(tm >= 1 && Number.isInteger(tm)) || !(tn >= 4 && tn % 4 === 0))
    throw new Error(`bad conv2d tuning: tm ${tm}, tn ${tn} (tn must be a multiple of 4)`);
  return { tm, vecs: tn / 4 };
}

const shapeText = (s: readonly number[]): string => `[${s.join(', ')}]`;

export function conv2dKernel(ctx: KernelCtx<ConvAttrs>, tiling: ConvTiling = tilingOf(ctx)): KernelSpec {
  const [, cin] = ctx.inputs[0]!;
  const a = ctx.attrs;
  if (a.groups > 1 && a.groups === cin && a.groups === a.channels) return depthwiseKernel(ctx);
  return implicitGemmKernel(ctx, tiling);
}

const range = (n: number): number[] => Array.from({ length: n }, (_, k) => k);
const lanes = ['x', 'y', 'z', 'w'];

function implicitGemmKernel(ctx: KernelCtx<ConvAttrs>, tiling: ConvTiling): KernelSpec {
  const [batch, cin, h, w] = ctx.inputs[0]! as number[];
  const [, cout, ho, wo] = ctx.out as number[];
  const { kernel: k, stride: s, padding: p, dilation: d, groups: g, bias } = ctx.attrs;
  const cinG = cin! / g;
  const coutG = cout! / g;
  const pixels = ho! * wo!;
  const plane = h! * w!;
  // Balanced output-channel tiles: 12 channels → 2 tiles of 6 rather than 8 + 4.
  const coTiles = Math.ceil(coutG / tiling.tm);
  const tm = Math.ceil(coutG / coTiles);
  const nv = tiling.vecs;
  const tn = 4 * nv;
  const pixTiles = Math.ceil(pixels / tn);
  const gemm = k === 1 && s === 1 && p === 0; // then input pixel = output pixel
  const vecW = cinG % 4 === 0;
  const vecX = gemm && plane % 4 === 0;
  const padded = p > 0;

  const io = new KernelIo(ctx);
  // vec4 stores of 4 adjacent pixels when a channel's plane is a multiple of 4 (each group of 4 is then either all
  // inside the plane or all past its end); fewer store instructions, and vec4 reads of a fused residual.
  const vecY = pixels % 4 === 0 && io.outVecOk;
  const bufs: Buf[] = [
    { slot: 'input0', name: 'x', elem: vecX ? 'vec4f' : 'f32' },
    { slot: 'param0', name: 'wt', elem: vecW ? 'vec4f' : 'f32' },
    ...(bias ? [{ slot: 'param1', name: 'bias', elem: 'f32' } as const] : []),
    ...io.outBufs(vecY),
  ];
  const consts = [
    `const CIN = ${u(cin!)};  const H = ${u(h!)};  const W = ${u(w!)};  const PLANE = H * W;`,
    `const COUT = ${u(cout!)};  const HO = ${u(ho!)};  const WO = ${u(wo!)};  const PIXELS = HO * WO;`,
    `const KSIZE = ${u(k)};  const STRIDE = ${i(s)};  const PAD = ${i(p)};  const DILATION = ${i(d)};`,
    `const GROUPS = ${u(g)};  const CIN_G = ${u(cinG)};  const COUT_G = ${u(coutG)};`,
    `const TM = ${u(tm)}; // output channels per invocation`,
    `const TN = ${u(tn)}; // output pixels per invocation`,
    `const CO_TILES = ${u(coTiles)}; // per group`,
    `const PIX_TILES = ${u(pixTiles)}; // per sample`,
    `const WROW = KSIZE * KSIZE * CIN_G${vecW ? ' / 4u' : ''}; // weight ${vecW ? 'vec4s' : 'floats'} per output channel (OHWI)`,
  ].join('\n');

  const L: string[] = [];
  L.push('  // Work item → (sample, group, output-channel tile, pixel tile); pixel tiles vary fastest.');
  L.push('  let pt = gid % PIX_TILES;');
  L.push('  let ct = (gid / PIX_TILES) % CO_TILES;');
  L.push('  let grp = (gid / (PIX_TILES * CO_TILES)) % GROUPS;');
  L.push('  let n = gid / (PIX_TILES * CO_TILES * GROUPS);');
  L.push('  let co0 = ct * TM; // first output channel of the tile, within the group');
  L.push('  let p0 = pt * TN; // first output pixel of the tile');
  L.push(`  let xbase = (${io.plane(0, 'n', 'grp * CIN_G')}) * PLANE;`);
  L.push(
    "  // Weight row of each output channel (tail channels re-read the group's last row; their results are dropped).",
  );
  for (const m of range(tm)) L.push(`  let w${m} = (grp * COUT_G + min(co0 + ${u(m)}, COUT_G - 1u)) * WROW;`);
  if (!gemm) {
    L.push("  // Top-left input coordinate of each pixel's window (tail pixels clamp to the last pixel).");
    for (const j of range(tn)) {
      L.push(`  let q${j} = min(p0 + ${u(j)}, PIXELS - 1u);`);
      L.push(`  let iy${j} = i32(q${j} / WO) * STRIDE - PAD;  let ix${j} = i32(q${j} % WO) * STRIDE - PAD;`);
    }
  }
  for (const m of range(tm))
    L.push(`  var acc${m}: array<vec4f, ${nv}>; // channel co0+${m}, pixels p0 + 4v .. p0 + 4v + 3`);

  const fma = (wExpr: (m: number) => string, xv: (v: number) => string, ind: string): void => {
    for (const m of range(tm)) {
      const wv = wExpr(m);
      for (const v of range(nv)) L.push(`${ind}acc${m}[${v}] += ${wv} * ${xv(v)};`);
    }
  };

  if (gemm) {
    // Plain GEMM over input channels; pixel p of the input plane is output pixel p.
    if (vecX) L.push('  let pv0 = min(p0 / 4u, PLANE / 4u - 1u); // first pixel vec4 (tail tiles clamp)');
    const xload = (c: string, v: number): string =>
      vecX
        ? `x[(xbase + (${c}) * PLANE) / 4u + min(pv0 + ${u(v)}, PLANE / 4u - 1u)]`
        : `vec4f(${range(4)
            .map((l) => `x[xbase + (${c}) * PLANE + min(p0 + ${u(4 * v + l)}, PLANE - 1u)]`)
            .join(', ')})`;
    if (vecW) {
      L.push('  for (var c4 = 0u; c4 < CIN_G / 4u; c4++) {');
      for (const m of range(tm))
        L.push(`    let wv${m} = wt[w${m} + c4]; // 4 input channels of output channel co0+${m}`);
      for (const l of range(4)) {
        for (const v of range(nv)) L.push(`    let x${l}_${v} = ${xload(`c4 * 4u + ${u(l)}`, v)};`);
        fma(
          (m) => `wv${m}.${lanes[l]}`,
          (v) => `x${l}_${v}`,
          '    ',
        );
      }
      L.push('  }');
    } else {
      L.push('  for (var c = 0u; c < CIN_G; c++) {');
      for (const v of range(nv)) L.push(`    let xv${v} = ${xload('c', v)};`);
      fma(
        (m) => `wt[w${m} + c]`,
        (v) => `xv${v}`,
        '    ',
      );
      L.push('  }');
    }
  } else {
    L.push('  for (var ky = 0u; ky < KSIZE; ky++) {');
    L.push('    for (var kx = 0u; kx < KSIZE; kx++) {');
    L.push(
      '      // Input offset of this tap for each pixel' +
        (padded ? '; taps in the zero padding read offset 0 and are masked.' : '.'),
    );
    for (const j of range(tn)) {
      L.push(`      let ty${j} = iy${j} + i32(ky) * DILATION;  let tx${j} = ix${j} + i32(kx) * DILATION;`);
      if (padded) {
        L.push(`      let in${j} = ty${j} >= 0i && ty${j} < i32(H) && tx${j} >= 0i && tx${j} < i32(W);`);
        L.push(`      let o${j} = select(0u, u32(ty${j}) * W + u32(tx${j}), in${j});`);
      } else L.push(`      let o${j} = u32(ty${j}) * W + u32(tx${j});`);
    }
    if (padded)
      for (const v of range(nv))
        L.push(
          `      let mask${v} = vec4f(${range(4)
            .map((l) => `select(0.0, 1.0, in${4 * v + l})`)
            .join(', ')});`,
        );
    const gather = (c: string, v: number): string => {
      const g4 = `vec4f(${range(4)
        .map((l) => `x[${c} + o${4 * v + l}]`)
        .join(', ')})`;
      return padded ? `${g4} * mask${v}` : g4;
    };
    if (vecW) {
      L.push('      let tap = (ky * KSIZE + kx) * (CIN_G / 4u);');
      L.push('      for (var c4 = 0u; c4 < CIN_G / 4u; c4++) {');
      for (const m of range(tm))
        L.push(`        let wv${m} = wt[w${m} + tap + c4]; // input channels 4·c4 .. 4·c4+3 of this tap`);
      for (const l of range(4)) {
        L.push(`        let xc${l} = xbase + (c4 * 4u + ${u(l)}) * PLANE;`);
        for (const v of range(nv)) L.push(`        let x${l}_${v} = ${gather(`xc${l}`, v)};`);
        fma(
          (m) => `wv${m}.${lanes[l]}`,
          (v) => `x${l}_${v}`,
          '        ',
        );
      }
      L.push('      }');
    } else {
      L.push('      let tap = (ky * KSIZE + kx) * CIN_G;');
      L.push('      for (var c = 0u; c < CIN_G; c++) {');
      L.push('        let xc = xbase + c * PLANE;');
      for (const v of range(nv)) L.push(`        let xv${v} = ${gather('xc', v)};`);
      fma(
        (m) => `wt[w${m} + tap + c]`,
        (v) => `xv${v}`,
        '        ',
      );
      L.push('      }');
    }
    L.push('    }');
    L.push('  }');
  }
  L.push('  // Store the tile (bias added), skipping tail channels and pixels.');
  for (const m of range(tm)) {
    L.push(`  if (co0 + ${u(m)} < COUT_G) {`);
    L.push(`    let co = grp * COUT_G + co0 + ${u(m)};`);
    L.push(`    let ybase = (n * COUT + co) * PIXELS;`);
    const b = bias ? ' + bias[co]' : '';
    if (vecY)
      for (const v of range(nv))
        L.push(
          `    if (p0 + ${u(4 * v)} < PIXELS) { ${io.store4(`(ybase + p0) / 4u + ${u(v)}`, `acc${m}[${v}]${b}`)} }`,
        );
    else
      for (const j of range(tn))
        L.push(
          `    if (p0 + ${u(j)} < PIXELS) { ${io.store(`ybase + p0 + ${u(j)}`, `acc${m}[${Math.floor(j / 4)}].${lanes[j % 4]}${b}`)} }`,
        );
    L.push('  }');
  }

  const items = batch! * g * coTiles * pixTiles;
  const kind = gemm
    ? 'gemm'
    : `${k}x${k}${s > 1 ? `_s${s}` : ''}${d > 1 ? `_d${d}` : ''}${g > 1 ? `_g${g}` : ''}`;
  return kernelSpec(
    `conv2d_${kind}_k${cout}`,
    [
      `conv2d ${k}×${k} stride ${s} padding ${p} dilation ${d} groups ${g}${bias ? ' bias' : ''}: x ${shapeText(ctx.inputs[0]!)} → y ${shapeText(ctx.out)}`,
      gemm
        ? `1×1 conv as a GEMM; each invocation: ${tm} output channels × ${tn} pixels (${vecX ? 'vec4' : 'scalar'} pixel loads, ${vecW ? 'vec4' : 'scalar'} weight loads)`
        : `implicit GEMM; each invocation: ${tm} output channels × ${tn} pixels (${vecW ? 'vec4' : 'scalar'} weight loads over input channels)`,
      'weights are OHWI (converted from OIHW at load)',
    ].join('\n'),
    bufs,
    consts,
    linearMain(items, WG, ctx.opts),
    L.join('\n'),
    WG,
    { paramLayouts: { 0: [0, 2, 3, 1] } },
    io.helpers(),
  );
}

/** Depthwise conv (groups = Cin = Cout): each invocation computes 4 adjacent output pixels of one row of one channel. */
function depthwiseKernel(ctx: KernelCtx<ConvAttrs>): KernelSpec {
  const [batch, ch, h, w] = ctx.inputs[0]! as number[];
  const [, , ho, wo] = ctx.out as number[];
  const { kernel: k, stride: s, padding: p, dilation: d, bias } = ctx.attrs;
  const tn = 4;
  const rowTiles = Math.ceil(wo! / tn);
  const io = new KernelIo(ctx);
  const vecY = wo! % 4 === 0 && io.outVecOk; // a row's 4 pixels are one aligned vec4
  const bufs: Buf[] = [
    { slot: 'input0', name: 'x', elem: 'f32' },
    { slot: 'param0', name: 'wt', elem: 'f32' },
    ...(bias ? [{ slot: 'param1', name: 'bias', elem: 'f32' } as const] : []),
    ...io.outBufs(vecY),
  ];
  const consts = [
    `const CHANNELS = ${u(ch!)};  const H = ${u(h!)};  const W = ${u(w!)};`,
    `const HO = ${u(ho!)};  const WO = ${u(wo!)};`,
    `const KSIZE = ${u(k)};  const STRIDE = ${i(s)};  const PAD = ${i(p)};  const DILATION = ${i(d)};`,
    `const TN = ${u(tn)}; // adjacent output pixels of one row per invocation`,
    `const ROW_TILES = ${u(rowTiles)};`,
  ].join('\n');
  const L: string[] = [];
  L.push('  let tile = gid % ROW_TILES;');
  L.push('  let oy = (gid / ROW_TILES) % HO;');
  L.push('  let c = (gid / (ROW_TILES * HO)) % CHANNELS;');
  L.push('  let n = gid / (ROW_TILES * HO * CHANNELS);');
  L.push('  let ox0 = tile * TN;');
  L.push(`  let xbase = (${io.plane(0, 'n', 'c')}) * H * W;`);
  L.push('  let wbase = c * KSIZE * KSIZE;');
  L.push('  let iy0 = i32(oy) * STRIDE - PAD;');
  for (const j of range(tn)) L.push(`  let ix${j} = i32(ox0 + ${u(j)}) * STRIDE - PAD;`);
  L.push('  var acc = vec4f(0.0);');
  L.push('  for (var ky = 0u; ky < KSIZE; ky++) {');
  L.push('    let iy = iy0 + i32(ky) * DILATION;');
  L.push('    if (iy < 0i || iy >= i32(H)) { continue; } // the whole row is zero padding');
  L.push('    let row = xbase + u32(iy) * W;');
  L.push('    for (var kx = 0u; kx < KSIZE; kx++) {');
  L.push('      let wk = wt[wbase + ky * KSIZE + kx];');
  for (const j of range(tn)) {
    L.push(`      let tx${j} = ix${j} + i32(kx) * DILATION;`);
    L.push(`      let in${j} = tx${j} >= 0i && tx${j} < i32(W);`);
  }
  L.push(
    `      let xv = vec4f(${range(tn)
      .map((j) => `x[row + select(0u, u32(tx${j}), in${j})]`)
      .join(', ')}) * vec4f(${range(tn)
      .map((j) => `select(0.0, 1.0, in${j})`)
      .join(', ')});`,
  );
  L.push('      acc += wk * xv;');
  L.push('    }');
  L.push('  }');
  L.push('  let ybase = ((n * CHANNELS + c) * HO + oy) * WO;');
  const b = bias ? ' + bias[c]' : '';
  if (vecY) L.push(`  ${io.store4('(ybase + ox0) / 4u', `acc${b}`)}`);
  else
    for (const j of range(tn))
      L.push(`  if (ox0 + ${u(j)} < WO) { ${io.store(`ybase + ox0 + ${u(j)}`, `acc.${lanes[j]}${b}`)} }`);
  const items = batch! * ch! * ho! * rowTiles;
  return kernelSpec(
    `conv2d_dw${k}x${k}${s > 1 ? `_s${s}` : ''}${d > 1 ? `_d${d}` : ''}_c${ch}`,
    `depthwise conv2d ${k}×${k} stride ${s} padding ${p} dilation ${d}${bias ? ' bias' : ''}: x ${shapeText(ctx.inputs[0]!)} → y ${shapeText(ctx.out)}\neach invocation: ${tn} adjacent output pixels of one row`,
    bufs,
    consts,
    linearMain(items, WG, ctx.opts),
    L.join('\n'),
    WG,
    {},
    io.helpers(),
  );
}
