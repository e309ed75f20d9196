// The gradient of bilinear resize as a gather: one input pixel (iy, ix) per invocation sums dy · wy · wx over
// the output pixels whose 2×2 taps include it, rows then columns ascending (deterministic, no atomics).
// The forward (resize.ts) maps output row o to src(o) = SCALE · o (align_corners) or max(SCALE · (o + 0.5) − 0.5, 0),
// taps i0 = min(floor(src), H − 1) and i1 = i0 + (i0 < H − 1) with weights 1 − λ and λ (λ = src − i0; both land on
// the same row where the border clamps i1 = i0). src is non-decreasing in o, so the rows tapping input row r are
// those with src(o) ∈ [r − 1, r + 1), plus every row clamped onto r at the borders (src ≤ 0 for r ≤ 1, src ≥ H − 1
// for r = H − 1). The kernel inverts that interval with a margin of one row on each side against rounding, then
// recomputes each candidate's taps exactly as the forward does and keeps only those that include r.
import type { KernelCtx, KernelSpec } from '../../ops/op.ts';
import { f, kernelSpec, linearMain, numel, u, WG, type Buf } from './common.ts';
import { KernelIo } from './io.ts';

type ResizeGradAttrs = {
  size: readonly number[];
  align_corners: boolean;
  scale?: number;
  in_size: readonly number[];
};

/** PyTorch's area_pixel_compute_scale (as the forward kernel computes it). */
function pixelScale(inSize: number, outSize: number, align: boolean, scale?: number): number {
  if (align) return outSize > 1 ? (inSize - 1) / (outSize - 1) : 0;
  return scale !== undefined && scale > 0 ? 1 / scale : inSize / outSize;
}

/** WGSL for one axis: the forward's source coordinate and the candidate output range of an input index. */
function axisFns(ax: 'y' | 'x', IN: string, OUT: string, SC: string, align: boolean, zero: boolean): string {
  const src = align ? `${SC} * f32(o)` : `max(${SC} * (f32(o) + 0.5) - 0.5, 0.0)`;
  // src(o) ≥ r − 1 and src(o) < r + 1, solved for o (before the clamp at 0).
  const lo = align ? `(f32(r) - 1.0) / ${SC}` : `(f32(r) - 0.5) / ${SC} - 0.5`;
  const hi = align ? `(f32(r) + 1.0) / ${SC}` : `(f32(r) + 1.5) / ${SC} - 0.5`;
  const head = [
    `// The forward's source coordinate of output ${ax === 'y' ? 'row' : 'column'} o.`,
    `fn src_${ax}(o: u32) -> f32 { return ${src}; }`,
    '',
    `// Output ${ax === 'y' ? 'rows' : 'columns'} whose taps may include input index r: [lo, hi), a superset.`,
    `fn range_${ax}(r: u32) -> vec2u {`,
  ];
  // align_corners onto one output (or from one input): src = 0 everywhere, every output taps index 0 (and 1).
  if (zero) return [...head, `  return vec2u(0u, ${OUT}); // src = 0 everywhere`, '}'].join('\n');
  return [
    ...head,
    `  var lo = i32(clamp(floor(${lo}), -2.0, f32(${OUT}))) - 1;`,
    `  var hi = i32(clamp(ceil(${hi}), -2.0, f32(${OUT}))) + 2;`,
    '  if (r <= 1u) { lo = 0i; } // outputs whose src is clamped to 0 tap indices 0 and 1',
    `  if (r == ${IN} - 1u) { hi = i32(${OUT}); } // outputs past the last index clamp onto it`,
    `  return vec2u(u32(clamp(lo, 0i, i32(${OUT}))), u32(clamp(hi, 0i, i32(${OUT}))));`,
    '}',
  ].join('\n');
}

export function resizeBilinearGradKernel(ctx: KernelCtx<ResizeGradAttrs>): KernelSpec {
  const [, c, h, w] = ctx.out as number[];
  const [, , ho, wo] = ctx.inputs[0]! as number[];
  const a = ctx.attrs;
  const io = new KernelIo(ctx);
  const bufs: Buf[] = [{ slot: 'input0', name: 'dy', elem: 'f32' }, ...io.outBufs()];
  const sy = pixelScale(h!, ho!, a.align_corners, a.scale);
  const sx = pixelScale(w!, wo!, a.align_corners, a.scale);
  const consts = [
    `const C = ${u(c!)};  const H = ${u(h!)};  const W = ${u(w!)}; // the resize's input`,
    `const HO = ${u(ho!)};  const WO = ${u(wo!)}; // the resize's output (the incoming gradient)`,
    `const SCALE_Y = ${f(sy)}; // source pixels per output pixel`,
    `const SCALE_X = ${f(sx)};`,
  ].join('\n');
  const helpers = [
    axisFns('y', 'H', 'HO', 'SCALE_Y', a.align_corners, sy === 0),
    axisFns('x', 'W', 'WO', 'SCALE_X', a.align_corners, sx === 0),
    io.helpers(),
  ].join('\n\n');
  const body = [
    '  let ix = gid % W;',
    '  let iy = (gid / W) % H;',
    '  let plane = gid / (W * H); // n * C + c',
    `  let dbase = (${io.plane(0, 'plane / C', 'plane % C')}) * HO * WO;`,
    '  let ry = range_y(iy);',
    '  let rx = range_x(ix);',
    '  var acc = 0.0;',
    '  for (var oy = ry.x; oy < ry.y; oy++) {',
    '    let sy = src_y(oy);',
    '    let y0 = min(u32(sy), H - 1u);  let y1 = y0 + select(0u, 1u, y0 < H - 1u);  let ly = sy - f32(y0);',
    '    if (y0 != iy && y1 != iy) { continue; }',
    '    let wy = select(0.0, 1.0 - ly, y0 == iy) + select(0.0, ly, y1 == iy);',
    '    var row = 0.0;',
    '    for (var ox = rx.x; ox < rx.y; ox++) {',
    '      let sx = src_x(ox);',
    '      let x0 = min(u32(sx), W - 1u);  let x1 = x0 + select(0u, 1u, x0 < W - 1u);  let lx = sx - f32(x0);',
    '      if (x0 != ix && x1 != ix) { continue; }',
    '      let wx = select(0.0, 1.0 - lx, x0 == ix) + select(0.0, lx, x1 == ix);',
    '      row += wx * dy[dbase + oy * WO + ox];',
    '    }',
    '    acc += wy * row;',
    '  }',
    `  ${io.store('gid', 'acc')}`,
  ].join('\n');
  return kernelSpec(
    `resize_bilinear_grad_${a.align_corners ? 'ac' : 'hp'}_${h}x${w}`,
    `resize_bilinear_grad align_corners ${a.align_corners}${a.scale !== undefined ? ` scale ${a.scale}` : ''}: dy [${ctx.inputs[0]!.join(', ')}] → [${ctx.out.join(', ')}]\none input pixel per invocation: Σ dy · weight over the outputs whose taps include it`,
    bufs,
    consts,
    linearMain(numel(ctx.out), WG, ctx.opts),
    body,
    WG,
    {},
    helpers,
  );
}
