// Pooling kernels, one output per invocation, with PyTorch's window rules:
//  - max: the window clipped to the input (padding never wins);
//  - avg: PyTorch's divisor — the window clipped to the padded input when count_include_pad, else to the input;
//  - adaptive avg: bin i covers [floor(i·n/b), ceil((i+1)·n/b)).
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

const bufsOf = (io: KernelIo): Buf[] => [{ slot: 'input0', name: 'x', elem: 'f32' }, ...io.outBufs()];

function dims(ctx: KernelCtx): string {
  const [, c, h, w] = ctx.inputs[0]!;
  const [, , ho, wo] = ctx.out;
  return [
    `const C = ${u(c!)};  const H = ${u(h!)};  const W = ${u(w!)};`,
    `const HO = ${u(ho!)};  const WO = ${u(wo!)};`,
  ].join('\n');
}

const decode = (io: KernelIo): string =>
  [
    '  let ox = gid % WO;',
    '  let oy = (gid / WO) % HO;',
    '  let plane = gid / (WO * HO); // n * C + c',
    `  let xbase = (${io.plane(0, 'plane / C', 'plane % C')}) * H * W;`,
  ].join('\n');

export function poolKernel(kind: 'max' | 'avg', ctx: KernelCtx<PoolAttrs>): KernelSpec {
  const a = ctx.attrs;
  const includePad = a.count_include_pad ?? true;
  const io = new KernelIo(ctx);
  const consts = [
    dims(ctx),
    `const KSIZE = ${i(a.kernel)};  const STRIDE = ${i(a.stride)};  const PAD = ${i(a.padding)};`,
  ].join('\n');
  const L = [decode(io)];
  L.push('  let y0 = i32(oy) * STRIDE - PAD;  let x0 = i32(ox) * STRIDE - PAD;');
  if (kind === 'max') {
    L.push('  let ys = max(y0, 0i);  let ye = min(y0 + KSIZE, i32(H));');
    L.push('  let xs = max(x0, 0i);  let xe = min(x0 + KSIZE, i32(W));');
    L.push('  var m = 0.0;');
    L.push('  var seen = false; // the window always holds at least one input value');
    L.push('  for (var yy = ys; yy < ye; yy++) {');
    L.push('    for (var xx = xs; xx < xe; xx++) {');
    L.push('      let v = x[xbase + u32(yy) * W + u32(xx)];');
    L.push('      if (!seen || v > m || v != v) { m = v; seen = true; } // NaN propagates, as in PyTorch');
    L.push('    }');
    L.push('  }');
    L.push(`  ${io.store('gid', 'm')}`);
  } else {
    L.push(
      '  // PyTorch: the divisor window is clipped to the padded input, the summed window to the input.',
    );
    L.push('  let ye_pad = min(y0 + KSIZE, i32(H) + PAD);  let xe_pad = min(x0 + KSIZE, i32(W) + PAD);');
    L.push('  let padded_count = (ye_pad - y0) * (xe_pad - x0);');
    L.push('  let ys = max(y0, 0i);  let ye = min(ye_pad, i32(H));');
    L.push('  let xs = max(x0, 0i);  let xe = min(xe_pad, i32(W));');
    L.push('  var s = 0.0;');
    L.push('  for (var yy = ys; yy < ye; yy++) {');
    L.push('    for (var xx = xs; xx < xe; xx++) { s += x[xbase + u32(yy) * W + u32(xx)]; }');
    L.push('  }');
    L.push(
      `  let count = ${includePad ? 'padded_count' : '(ye - ys) * (xe - xs)'}; // count_include_pad = ${includePad}`,
    );
    L.push(`  ${io.store('gid', 's / f32(count)')}`);
  }
  const name = `${kind}pool2d_${a.kernel}x${a.kernel}_s${a.stride}${a.padding ? `_p${a.padding}` : ''}${kind === 'avg' && !includePad ? '_nopad' : ''}`;
  return kernelSpec(
    name,
    `${kind}pool2d kernel ${a.kernel} stride ${a.stride} padding ${a.padding} ceil_mode ${a.ceil_mode}${kind === 'avg' ? ` count_include_pad ${includePad}` : ''}: [${ctx.inputs[0]!.join(', ')}] → [${ctx.out.join(', ')}]; one output per invocation`,
    bufsOf(io),
    consts,
    linearMain(numel(ctx.out), WG, ctx.opts),
    L.join('\n'),
    WG,
    {},
    io.helpers(),
  );
}

export function adaptiveAvgpoolKernel(ctx: KernelCtx<{ bins: readonly number[] }>): KernelSpec {
  const io = new KernelIo(ctx);
  const L = [decode(io)];
  L.push('  // PyTorch bins: [floor(i·n/b), ceil((i+1)·n/b))');
  L.push('  let ys = (oy * H) / HO;  let ye = ((oy + 1u) * H + HO - 1u) / HO;');
  L.push('  let xs = (ox * W) / WO;  let xe = ((ox + 1u) * W + WO - 1u) / WO;');
  L.push('  var s = 0.0;');
  L.push('  for (var yy = ys; yy < ye; yy++) {');
  L.push('    for (var xx = xs; xx < xe; xx++) { s += x[xbase + yy * W + xx]; }');
  L.push('  }');
  L.push(`  ${io.store('gid', 's / f32((ye - ys) * (xe - xs))')}`);
  const [bh, bw] = ctx.attrs.bins;
  return kernelSpec(
    `adaptive_avgpool2d_${bh}x${bw}`,
    `adaptive_avgpool2d to ${bh}×${bw}: [${ctx.inputs[0]!.join(', ')}] → [${ctx.out.join(', ')}]; one output per invocation`,
    bufsOf(io),
    dims(ctx),
    linearMain(numel(ctx.out), WG, ctx.opts),
    L.join('\n'),
    WG,
    {},
    io.helpers(),
  );
}
