// Pooling kernels with PyTorch's window rules, one output per invocation (max over windows up to 4×4: up to 4 of a
// row, unrolled):
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

const decode = (io: KernelIo, V = 1): string =>
  [
    V === 1
      ? '  let ox = gid % WO;'
      : `  let ox = (gid % (WO / ${u(V)})) * ${u(V)}; // the first of ${V} outputs`,
    `  let oy = (gid / (WO${V === 1 ? '' : ` / ${u(V)}`})) % HO;`,
    `  let plane = gid / (WO${V === 1 ? '' : ` / ${u(V)}`} * HO); // n * C + c`,
    `  let xbase = (${io.plane(0, 'plane / C', 'plane % C')}) * H * W;`,
  ].join('\n');

/** Max pooling's outputs of a row per invocation (tuning key). */
export const POOL_PER = 'maxpool2d.per';

export function poolKernel(kind: 'max' | 'avg', ctx: KernelCtx<PoolAttrs>): KernelSpec {
  const a = ctx.attrs;
  const includePad = a.count_include_pad ?? true;
  const io = new KernelIo(ctx);
  // Max over windows up to 4×4: unrolled, PER outputs of a row per invocation (`maxpool2d.per`: 1, 2 or 4 where it
  // divides the row, else 1; 0 keeps the loop kernel these replaced, to measure against). Default: 4, or 2, where
  // the row allows (bench/results/pool-resize-software.md: the stem's pool 2.4× faster than the loop at 256²,
  // 1.6× at 512²).
  const wo = ctx.out[3]!;
  const want = ctx.opts.tuning?.[POOL_PER] ?? (wo % 4 === 0 ? 4 : 2);
  if (![0, 1, 2, 4].includes(want)) throw new Error(`bad ${POOL_PER} ${want}: 0, 1, 2 or 4`);
  const unrolled = kind === 'max' && a.kernel <= 4 && want > 0;
  const V = unrolled && wo % want === 0 ? want : 1;
  const consts = [
    dims(ctx),
    `const KSIZE = ${i(a.kernel)};  const STRIDE = ${i(a.stride)};  const PAD = ${i(a.padding)};`,
  ].join('\n');
  const L = [decode(io, V)];
  L.push('  let y0 = i32(oy) * STRIDE - PAD;  let x0 = i32(ox) * STRIDE - PAD;');
  if (unrolled) {
    // Small windows unrolled without branches, V outputs of a row per invocation sharing their columns: each
    // row and column index clamped into the input. A window always holds an input element, so a tap past the
    // edge re-reads one of its own window's values, which cannot change the max. (On llvmpipe a loop with per-lane
    // bounds and a branch per tap cost more than the loads.)
    const cols = (V - 1) * a.stride + a.kernel;
    for (let c = 0; c < cols; c++) L.push(`  let c${c} = u32(clamp(x0 + ${c}, 0i, i32(W) - 1));`);
    for (let v = 0; v < V; v++) L.push(`  var m${v} = 0.0;`);
    for (let ky = 0; ky < a.kernel; ky++) {
      L.push(`  let r${ky} = xbase + u32(clamp(y0 + ${ky}, 0i, i32(H) - 1)) * W;`);
      for (let c = 0; c < cols; c++) {
        L.push(`  { let v = x[r${ky} + c${c}];`);
        for (let v = 0; v < V; v++) {
          const kx = c - v * a.stride;
          if (kx < 0 || kx >= a.kernel) continue;
          L.push(
            ky === 0 && kx === 0
              ? `    m${v} = v;`
              : `    m${v} = select(m${v}, v, v > m${v} || v != v); // NaN propagates, as in PyTorch`,
          );
        }
        L.push('  }');
      }
    }
    if (V === 1) L.push(`  ${io.store('gid', 'm0')}`);
    else for (let v = 0; v < V; v++) L.push(`  ${io.store(`gid * ${u(V)} + ${u(v)}`, `m${v}`)}`);
  } else if (kind === 'max') {
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
    `${kind}pool2d kernel ${a.kernel} stride ${a.stride} padding ${a.padding} ceil_mode ${a.ceil_mode}${kind === 'avg' ? ` count_include_pad ${includePad}` : ''}: [${ctx.inputs[0]!.join(', ')}] → [${ctx.out.join(', ')}]; ${V === 1 ? 'one output' : `${V} outputs of a row`} per invocation`,
    bufsOf(io),
    consts,
    linearMain(numel(ctx.out) / V, WG, ctx.opts),
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
