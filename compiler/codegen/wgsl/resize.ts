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

/** The tuning key that caps `resizeRun`'s run. */
export const RESIZE_MAX_RUN = 'resize_bilinear.max_run';

/**
 * A run of PER adjacent outputs of an upsampling row per invocation, and the COLS source columns they read (both
 * taps of each), when that is few enough to pay: the outputs' first taps lie within (PER − 1)·scale of each other,
 * so they span at most ⌊(PER − 1)·scale⌋ + 1 columns and their second taps one more (the small slack covers float
 * rounding). The longest run of 16, 8 or 4 that divides the row and reads at most PER and at most 8 columns (each
 * output picks its taps by a select chain over them). On llvmpipe (bench/results/pool-resize-software.md) the
 * logits' final ×8 upsample (59 channels, 32² → 256²) took 12.1 ms one output per invocation, 4.6 with runs of 4,
 * 3.0 with 8 and 2.5 with 16; the JPU's 8² → 32² (512 channels) 0.69 ms with runs of 4, 0.45 with 16.
 * `resize_bilinear.max_run` (16, 8, 4, or 1: one output per invocation) caps the run, to measure against. Undefined
 * where no run applies: rows not a multiple of 4, or downsampling.
 */
export function resizeRun(
  wo: number,
  scaleX: number,
  maxRun = 16,
): { per: number; cols: number } | undefined {
  if (!(scaleX >= 0)) return undefined;
  for (const per of [16, 8, 4].filter((r) => r <= maxRun)) {
    if (wo % per !== 0) continue;
    const cols = Math.floor((per - 1) * scaleX + 1e-3) + 3;
    if (cols <= Math.min(per, 8)) return { per, cols };
  }
  return undefined;
}

export function resizeBilinearKernel(ctx: KernelCtx<ResizeAttrs>): KernelSpec {
  const [, c, h, w] = ctx.inputs[0]! as number[];
  const [, , ho, wo] = ctx.out as number[];
  const a = ctx.attrs;
  const io = new KernelIo(ctx);
  const scaleX = pixelScale(w!, wo!, a.align_corners, a.scale);
  const maxRun = ctx.opts.tuning?.[RESIZE_MAX_RUN] ?? 16;
  if (![1, 4, 8, 16].includes(maxRun)) throw new Error(`bad ${RESIZE_MAX_RUN} ${maxRun}: 1, 4, 8 or 16`);
  const run = io.outVecOk ? resizeRun(wo!, scaleX, maxRun) : undefined;
  const bufs: Buf[] = [{ slot: 'input0', name: 'x', elem: 'f32' }, ...io.outBufs(run !== undefined)];
  const consts = [
    `const C = ${u(c!)};  const H = ${u(h!)};  const W = ${u(w!)};`,
    `const HO = ${u(ho!)};  const WO = ${u(wo!)};`,
    `const SCALE_Y = ${f(pixelScale(h!, ho!, a.align_corners, a.scale))}; // source pixels per output pixel`,
    `const SCALE_X = ${f(scaleX)};`,
  ];
  const src = (d: string, sc: string): string =>
    a.align_corners ? `${sc} * f32(${d})` : `max(${sc} * (f32(${d}) + 0.5) - 0.5, 0.0)`;
  const rowTaps = [
    `  let sy = ${src('oy', 'SCALE_Y')};`,
    '  let y0 = min(u32(sy), H - 1u);  let y1 = y0 + select(0u, 1u, y0 < H - 1u);  let ly = sy - f32(y0);',
  ];
  let body: string;
  let items: number;
  let what: string;
  if (run === undefined) {
    body = [
      '  let ox = gid % WO;',
      '  let oy = (gid / WO) % HO;',
      '  let plane = gid / (WO * HO); // n * C + c',
      ...rowTaps,
      `  let sx = ${src('ox', 'SCALE_X')};`,
      '  let x0 = min(u32(sx), W - 1u);  let x1 = x0 + select(0u, 1u, x0 < W - 1u);  let lx = sx - f32(x0);',
      `  let base = (${io.plane(0, 'plane / C', 'plane % C')}) * H * W;`,
      '  let top = (1.0 - lx) * x[base + y0 * W + x0] + lx * x[base + y0 * W + x1];',
      '  let bottom = (1.0 - lx) * x[base + y1 * W + x0] + lx * x[base + y1 * W + x1];',
      `  ${io.store('gid', '(1.0 - ly) * top + ly * bottom')}`,
    ].join('\n');
    items = numel(ctx.out);
    what = 'one output per invocation';
  } else {
    // PER adjacent outputs of a row per invocation: the COLS source columns from the first output's first tap are
    // loaded once per source row, and each output picks its two taps among them (2·COLS loads for PER outputs
    // instead of 4·PER).
    const { per, cols } = run;
    const L = [
      `const PER = ${u(per)}; // adjacent outputs of a row per invocation\nconst COLS = ${u(cols)}; // source columns they read`,
      '  let ox0 = (gid % (WO / PER)) * PER;',
      '  let oy = (gid / (WO / PER)) % HO;',
      '  let plane = gid / ((WO / PER) * HO); // n * C + c',
      ...rowTaps,
      `  let base = (${io.plane(0, 'plane / C', 'plane % C')}) * H * W;`,
      `  let c0 = min(u32(${src('ox0', 'SCALE_X')}), W - 1u); // first output's first tap`,
    ];
    const k = Array.from({ length: cols }, (_, j) => j);
    for (const j of k) L.push(`  let col${j} = min(c0 + ${u(j)}, W - 1u);`);
    for (const [r, y] of [
      ['t', 'y0'],
      ['b', 'y1'],
    ] as const)
      for (const j of k) L.push(`  let ${r}${j} = x[base + ${y} * W + col${j}];`);
    // Column k among the loaded ones, by a select chain (its index is at most COLS − 1 by the bound above).
    const pick = (r: string, i: string): string =>
      k.slice(1).reduce((acc, j) => `select(${acc}, ${r}${j}, ${i} == ${u(j)})`, `${r}0`);
    const lanes: string[] = [];
    for (let j = 0; j < per; j++) {
      L.push(`  let sx${j} = ${src(`ox0 + ${u(j)}`, 'SCALE_X')};`);
      L.push(
        `  let x0_${j} = min(u32(sx${j}), W - 1u);  let lx${j} = sx${j} - f32(x0_${j});  let d${j} = x0_${j} - c0;  let e${j} = d${j} + select(0u, 1u, x0_${j} < W - 1u);`,
      );
      L.push(`  let top${j} = (1.0 - lx${j}) * ${pick('t', `d${j}`)} + lx${j} * ${pick('t', `e${j}`)};`);
      L.push(`  let bottom${j} = (1.0 - lx${j}) * ${pick('b', `d${j}`)} + lx${j} * ${pick('b', `e${j}`)};`);
      lanes.push(`(1.0 - ly) * top${j} + ly * bottom${j}`);
    }
    for (let q = 0; q < per / 4; q++)
      L.push(
        `  ${io.store4(`gid * ${u(per / 4)} + ${u(q)}`, `vec4f(${lanes.slice(4 * q, 4 * q + 4).join(', ')})`)}`,
      );
    consts.push(L[0]!);
    body = L.slice(1).join('\n');
    items = numel(ctx.out) / per;
    what = `${per} adjacent outputs of a row per invocation, from ${cols} source columns loaded once per source row`;
  }
  return kernelSpec(
    `resize_bilinear_${a.align_corners ? 'ac' : 'hp'}_${ho}x${wo}${run === undefined ? '' : `_r${run.per}`}`,
    `resize_bilinear align_corners ${a.align_corners}${a.scale !== undefined ? ` scale ${a.scale}` : ''}: [${ctx.inputs[0]!.join(', ')}] → [${ctx.out.join(', ')}]; ${what}`,
    bufs,
    consts.join('\n'),
    linearMain(items, WG, ctx.opts),
    body,
    WG,
    {},
    io.helpers(),
  );
}
