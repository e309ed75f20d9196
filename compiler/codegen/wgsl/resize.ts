// Bilinear resize with PyTorch's upsample_bilinear2d arithmetic (aten/src/ATen/native/UpSample.h):
//   align_corners: scale = (in − 1)/(out − 1) (0 when out = 1), src = scale · dst
//   otherwise:     scale = 1/scale_factor if one was given, else in/out; src = max(0, scale · (dst + 0.5) − 0.5)
//   i0 = floor(src), i1 = i0 + (i0 < in − 1), λ = src − i0; y = Σ of the 2×2 taps weighted by (1 − λ, λ).
import type { KernelCtx, KernelSpec } from '../../ops/op.ts';
import { f, kernelSpec, linearMain, numel, u, WG, type Buf } from './common.ts';
import { KernelIo } from './io.ts';

type ResizeAttrs = { size: readonly number[]; align_corners: boolean; scale?: number };

/** PyTorch's area_pixel_compute_scale. */
function pixelScale(inSize: number, outSize: number, align: boolean, scale?: number): number {
  if (align) return outSize > 1 ? (inSize - 1) / (outSize - 1) : 0;
  return scale !== undefined && scale > 0 ? 1 / scale : inSize / outSize;
}

export function resizeBilinearKernel(ctx: KernelCtx<ResizeAttrs>): KernelSpec {
  const [, c, h, w] = ctx.inputs[0]! as number[];
  const [, , ho, wo] = ctx.out as number[];
  const a = ctx.attrs;
  const io = new KernelIo(ctx);
  const bufs: Buf[] = [{ slot: 'input0', name: 'x', elem: 'f32' }, ...io.outBufs()];
  const consts = [
    `const C = ${u(c!)};  const H = ${u(h!)};  const W = ${u(w!)};`,
    `const HO = ${u(ho!)};  const WO = ${u(wo!)};`,
    `const SCALE_Y = ${f(pixelScale(h!, ho!, a.align_corners, a.scale))}; // source pixels per output pixel`,
    `const SCALE_X = ${f(pixelScale(w!, wo!, a.align_corners, a.scale))};`,
  ].join('\n');
  const src = (d: string, sc: string): string =>
    a.align_corners ? `${sc} * f32(${d})` : `max(${sc} * (f32(${d}) + 0.5) - 0.5, 0.0)`;
  const body = [
    '  let ox = gid % WO;',
    '  let oy = (gid / WO) % HO;',
    '  let plane = gid / (WO * HO); // n * C + c',
    `  let sy = ${src('oy', 'SCALE_Y')};`,
    `  let sx = ${src('ox', 'SCALE_X')};`,
    '  let y0 = min(u32(sy), H - 1u);  let y1 = y0 + select(0u, 1u, y0 < H - 1u);  let ly = sy - f32(y0);',
    '  let x0 = min(u32(sx), W - 1u);  let x1 = x0 + select(0u, 1u, x0 < W - 1u);  let lx = sx - f32(x0);',
    `  let base = (${io.plane(0, 'plane / C', 'plane % C')}) * H * W;`,
    '  let top = (1.0 - lx) * x[base + y0 * W + x0] + lx * x[base + y0 * W + x1];',
    '  let bottom = (1.0 - lx) * x[base + y1 * W + x0] + lx * x[base + y1 * W + x1];',
    `  ${io.store('gid', '(1.0 - ly) * top + ly * bottom')}`,
  ].join('\n');
  return kernelSpec(
    `resize_bilinear_${a.align_corners ? 'ac' : 'hp'}_${ho}x${wo}`,
    `resize_bilinear align_corners ${a.align_corners}${a.scale !== undefined ? ` scale ${a.scale}` : ''}: [${ctx.inputs[0]!.join(', ')}] → [${ctx.out.join(', ')}]; one output per invocation`,
    bufs,
    consts,
    linearMain(numel(ctx.out), WG, ctx.opts),
    body,
    WG,
    {},
    io.helpers(),
  );
}
