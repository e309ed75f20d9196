// Pooling gradient kernels: gathers, one input pixel (iy, ix) per invocation, summing in a fixed order (output
// rows, then columns, ascending) the incoming-gradient elements of the windows or bins that read it. No atomics,
// so the result is the same on every run.
//  - windows (max, avg): output row oy reads input rows [oy·S − P, oy·S − P + K), so the rows reading iy are
//    oy ∈ [ceil((iy + P − K + 1)/S), floor((iy + P)/S)] ∩ [0, HO); likewise for columns;
//  - max: each candidate window's argmax is recomputed from x exactly as the forward kernel finds it (first
//    maximum in row-major window order, the window cut to the input so padding never wins, NaN wins);
//  - avg: the forward's divisor per window (cut to the padded input with count_include_pad, else to the input);
//  - adaptive: bin i covers [floor(i·H/HO), ceil((i+1)·H/HO)), so the bins covering iy are
//    i ∈ [floor(iy·HO/H), ceil((iy+1)·HO/H)) (each also checked against its bounds).
import type { KernelCtx, KernelSpec } from '../../ops/op.ts';
import { i, kernelSpec, linearMain, numel, u, WG, type Buf } from './common.ts';
import { KernelIo } from './io.ts';

type PoolAttrs = {
  kernel: number;
  stride: number;
  padding: number;
  ceil_mode: boolean;
  count_include_pad?: boolean;
};

/** Sizes: C, H, W of the result (the pool's input) and HO, WO of the gradient (the pool's output). */
function dims(ctx: KernelCtx): string {
  const [, c, h, w] = ctx.out;
  const [, , ho, wo] = ctx.inputs[0]!;
  return [
    `const C = ${u(c!)};  const H = ${u(h!)};  const W = ${u(w!)}; // the pool's input`,
    `const HO = ${u(ho!)};  const WO = ${u(wo!)}; // the pool's output (the incoming gradient)`,
  ].join('\n');
}

/** Decodes the input pixel of `gid` and the first element of its plane in dy (and x for max). */
function decode(io: KernelIo, withX: boolean): string[] {
  return [
    '  let ix = gid % W;',
    '  let iy = (gid / W) % H;',
    '  let plane = gid / (W * H); // n * C + c',
    `  let dbase = (${io.plane(0, 'plane / C', 'plane % C')}) * HO * WO;`,
    ...(withX ? [`  let xbase = (${io.plane(1, 'plane / C', 'plane % C')}) * H * W;`] : []),
  ];
}

/** The window rows (columns) reading input row iy (column ix): [lo, hi] as i32, possibly empty. */
const windowRange = [
  '// Output rows o whose window [o·S − P, o·S − P + K) holds input row r: an inclusive range, maybe empty.',
  'fn window_range(r: u32, n_out: u32) -> vec2i {',
  '  let t = i32(r) + PAD - KSIZE + 1;',
  '  let lo = select(0i, (t + STRIDE - 1) / STRIDE, t > 0);',
  '  let hi = min((i32(r) + PAD) / STRIDE, i32(n_out) - 1);',
  '  return vec2i(lo, hi);',
  '}',
].join('\n');

function poolConsts(ctx: KernelCtx<PoolAttrs>): string {
  const a = ctx.attrs;
  return [
    dims(ctx),
    `const KSIZE = ${i(a.kernel)};  const STRIDE = ${i(a.stride)};  const PAD = ${i(a.padding)};`,
  ].join('\n');
}

function poolName(kind: string, ctx: KernelCtx<PoolAttrs>): string {
  const a = ctx.attrs;
  const includePad = a.count_include_pad ?? true;
  return `${kind}pool2d_grad_${a.kernel}x${a.kernel}_s${a.stride}${a.padding ? `_p${a.padding}` : ''}${kind === 'avg' && !includePad ? '_nopad' : ''}`;
}

export function maxpoolGradKernel(ctx: KernelCtx<PoolAttrs>): KernelSpec {
  const a = ctx.attrs;
  const io = new KernelIo(ctx);
  const bufs: Buf[] = [
    { slot: 'input0', name: 'dy', elem: 'f32' },
    { slot: 'input1', name: 'x', elem: 'f32' },
    ...io.outBufs(),
  ];
  const L = decode(io, true);
  L.push(
    '  let ry = window_range(iy, HO);',
    '  let rx = window_range(ix, WO);',
    '  let mine = iy * W + ix;',
    '  var acc = 0.0;',
    '  for (var oy = ry.x; oy <= ry.y; oy++) {',
    '    let y0 = oy * STRIDE - PAD;',
    '    let ys = max(y0, 0i);  let ye = min(y0 + KSIZE, i32(H));',
    '    for (var ox = rx.x; ox <= rx.y; ox++) {',
    '      let x0 = ox * STRIDE - PAD;',
    '      let xs = max(x0, 0i);  let xe = min(x0 + KSIZE, i32(W));',
    "      // The window's argmax, found as the forward kernel finds its maximum.",
    '      var m = 0.0;',
    '      var best = 0xffffffffu;',
    '      for (var yy = ys; yy < ye; yy++) {',
    '        for (var xx = xs; xx < xe; xx++) {',
    '          let pos = u32(yy) * W + u32(xx);',
    '          let v = x[xbase + pos];',
    '          if (best == 0xffffffffu || v > m || v != v) { m = v; best = pos; }',
    '        }',
    '      }',
    '      if (best == mine) { acc += dy[dbase + u32(oy) * WO + u32(ox)]; }',
    '    }',
    '  }',
    `  ${io.store('gid', 'acc')}`,
  );
  return kernelSpec(
    poolName('max', ctx),
    `maxpool2d_grad kernel ${a.kernel} stride ${a.stride} padding ${a.padding} ceil_mode ${a.ceil_mode}: dy [${ctx.inputs[0]!.join(', ')}], x [${ctx.inputs[1]!.join(', ')}] → [${ctx.out.join(', ')}]\none input pixel per invocation: Σ dy over the windows it is the argmax of`,
    bufs,
    poolConsts(ctx),
    linearMain(numel(ctx.out), WG, ctx.opts),
    L.join('\n'),
    WG,
    {},
    [windowRange, io.helpers()].join('\n\n'),
  );
}

export function avgpoolGradKernel(ctx: KernelCtx<PoolAttrs>): KernelSpec {
  const a = ctx.attrs;
  const includePad = a.count_include_pad ?? true;
  const io = new KernelIo(ctx);
  const bufs: Buf[] = [{ slot: 'input0', name: 'dy', elem: 'f32' }, ...io.outBufs()];
  const L = decode(io, false);
  L.push(
    '  let ry = window_range(iy, HO);',
    '  let rx = window_range(ix, WO);',
    '  var acc = 0.0;',
    '  for (var oy = ry.x; oy <= ry.y; oy++) {',
    '    let y0 = oy * STRIDE - PAD;',
    '    let ye_pad = min(y0 + KSIZE, i32(H) + PAD);',
    '    let ys = max(y0, 0i);  let ye = min(ye_pad, i32(H));',
    '    for (var ox = rx.x; ox <= rx.y; ox++) {',
    '      let x0 = ox * STRIDE - PAD;',
    '      let xe_pad = min(x0 + KSIZE, i32(W) + PAD);',
    '      let xs = max(x0, 0i);  let xe = min(xe_pad, i32(W));',
    "      // The forward's divisor: the window cut to the padded input, or to the input.",
    `      let count = ${includePad ? '(ye_pad - y0) * (xe_pad - x0)' : '(ye - ys) * (xe - xs)'}; // count_include_pad = ${includePad}`,
    '      acc += dy[dbase + u32(oy) * WO + u32(ox)] / f32(count);',
    '    }',
    '  }',
    `  ${io.store('gid', 'acc')}`,
  );
  return kernelSpec(
    poolName('avg', ctx),
    `avgpool2d_grad kernel ${a.kernel} stride ${a.stride} padding ${a.padding} ceil_mode ${a.ceil_mode} count_include_pad ${includePad}: dy [${ctx.inputs[0]!.join(', ')}] → [${ctx.out.join(', ')}]\none input pixel per invocation: Σ dy / divisor over the windows covering it`,
    bufs,
    poolConsts(ctx),
    linearMain(numel(ctx.out), WG, ctx.opts),
    L.join('\n'),
    WG,
    {},
    [windowRange, io.helpers()].join('\n\n'),
  );
}

export function adaptiveAvgpoolGradKernel(ctx: KernelCtx<{ bins: readonly number[] }>): KernelSpec {
  const io = new KernelIo(ctx);
  const bufs: Buf[] = [{ slot: 'input0', name: 'dy', elem: 'f32' }, ...io.outBufs()];
  const L = decode(io, false);
  L.push(
    '  // Bins covering iy: [floor(iy·HO/H), ceil((iy+1)·HO/H)); each checked against its own bounds.',
    '  let ilo = (iy * HO) / H;  let ihi = min(((iy + 1u) * HO + H - 1u) / H, HO);',
    '  let jlo = (ix * WO) / W;  let jhi = min(((ix + 1u) * WO + W - 1u) / W, WO);',
    '  var acc = 0.0;',
    '  for (var bi = ilo; bi < ihi; bi++) {',
    '    let ys = (bi * H) / HO;  let ye = ((bi + 1u) * H + HO - 1u) / HO;',
    '    if (iy < ys || iy >= ye) { continue; }',
    '    for (var bj = jlo; bj < jhi; bj++) {',
    '      let xs = (bj * W) / WO;  let xe = ((bj + 1u) * W + WO - 1u) / WO;',
    '      if (ix < xs || ix >= xe) { continue; }',
    '      acc += dy[dbase + bi * WO + bj] / f32((ye - ys) * (xe - xs));',
    '    }',
    '  }',
    `  ${io.store('gid', 'acc')}`,
  );
  const [bh, bw] = ctx.attrs.bins;
  return kernelSpec(
    `adaptive_avgpool2d_grad_${bh}x${bw}`,
    `adaptive_avgpool2d_grad from ${bh}×${bw} bins: dy [${ctx.inputs[0]!.join(', ')}] → [${ctx.out.join(', ')}]\none input pixel per invocation: Σ dy / |bin| over the bins covering it`,
    bufs,
    dims(ctx),
    linearMain(numel(ctx.out), WG, ctx.opts),
    L.join('\n'),
    WG,
    {},
    io.helpers(),
  );
}
