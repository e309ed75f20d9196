// Shape-level kernels: concat (any number of inputs; split into several dispatches, each writing its slice of
// the output, when the inputs do not fit in maxStorageBuffersPerShaderStage − 1 bindings) and mean over an axis.
import type { KernelBinding, KernelCtx, KernelPlan, KernelSpec } from '../../ops/op.ts';
import { kernelSpec, linearMain, numel, u, WG, type Buf } from './common.ts';
import { KernelIo } from './io.ts';

export function concatKernel(ctx: KernelCtx<{ axis: number }>): KernelSpec | KernelPlan {
  const axis = ctx.attrs.axis;
  const out = ctx.out;
  const outer = numel(out.slice(0, axis));
  const inner = numel(out.slice(axis + 1));
  const total = out[axis]!;
  const sizes = ctx.inputs.map((s) => s[axis]!);
  // One binding is the output; the rest take inputs.
  const perDispatch = Math.max(1, ctx.opts.maxStorageBuffersPerShaderStage - 1);
  const dispatches: KernelSpec[] = [];
  let offset = 0;
  for (let first = 0; first < sizes.length; first += perDispatch) {
    const ids = sizes.slice(first, first + perDispatch).map((_, k) => first + k);
    dispatches.push(concatSlice(ctx, ids, sizes, offset, outer, inner, total));
    offset += ids.reduce((a, k) => a + sizes[k]!, 0);
  }
  return dispatches.length === 1 ? dispatches[0]! : { scratch: [], dispatches };
}

/** Copies inputs `ids` into the output's axis range starting at `offset`: out[o, offset + c, r] = in_k[o, c − start_k, r]. */
function concatSlice(
  ctx: KernelCtx<{ axis: number }>,
  ids: readonly number[],
  sizes: readonly number[],
  offset: number,
  outer: number,
  inner: number,
  total: number,
): KernelSpec {
  const span = ids.reduce((a, k) => a + sizes[k]!, 0);
  // vec4 work items when every row of every input is a multiple of 4 floats (then so is the output's).
  const io = new KernelIo(ctx);
  const vec = inner % 4 === 0 && ids.every((k) => io.inVecOk(k)) && io.outVecOk;
  const q = vec ? 4 : 1;
  const elem = vec ? 'vec4f' : 'f32';
  const bufs: Buf[] = [
    ...ids.map((k, j) => ({ slot: `input${k}` as KernelBinding, name: `x${j}`, elem }) as const),
    ...io.outBufs(vec),
  ];
  const consts = [
    `const INNER = ${u(inner / q)}; // ${elem}s per step along the axis`,
    `const AXIS_OUT = ${u(total)}; // output size along axis ${ctx.attrs.axis}`,
    `const OFFSET = ${u(offset)}; // where this dispatch's slice starts`,
    `const SPAN = ${u(span)}; // size of this dispatch's slice along the axis`,
    ...ids.map((k, j) => `const SIZE${j} = ${u(sizes[k]!)}; // input ${k}`),
  ].join('\n');
  const L = [
    '  let r = gid % INNER;',
    '  let c = (gid / INNER) % SPAN;',
    '  let o = gid / (INNER * SPAN);',
    '  let dst = (o * AXIS_OUT + OFFSET + c) * INNER + r;',
  ];
  // Which input holds axis position c of this slice: an if-chain (bindings cannot be indexed dynamically).
  let start = 0;
  ids.forEach((k, j) => {
    const end = start + sizes[k]!;
    const open =
      ids.length === 1
        ? '{'
        : j === 0
          ? `if (c < ${u(end)}) {`
          : j < ids.length - 1
            ? `} else if (c < ${u(end)}) {`
            : '} else {';
    L.push(`  ${open}`);
    const src = io.at(k, `(o * SIZE${j} + c - ${u(start)}) * INNER + r`, elem);
    L.push(`    ${vec ? io.store4('dst', `x${j}[${src}]`) : io.store('dst', `x${j}[${src}]`)}`);
    start = end;
  });
  L.push('  }');
  return kernelSpec(
    `concat_${ids.length}${vec ? '_vec4' : ''}`,
    `concat along axis ${ctx.attrs.axis}: inputs ${ids.join(', ')} → output ${ctx.attrs.axis === 1 ? 'channels' : 'slice'} [${offset}, ${offset + span}) of [${ctx.out.join(', ')}]`,
    bufs,
    consts,
    linearMain((outer * span * inner) / q, WG, ctx.opts),
    L.join('\n'),
    WG,
    {},
    io.helpers(),
  );
}

/** mean over one axis (removed): y[o, r] = Σ_k x[o, k, r] / len. */
export function meanKernel(ctx: KernelCtx<{ axis: number }>): KernelSpec {
  const x = ctx.inputs[0]!;
  const axis = ctx.attrs.axis;
  const len = x[axis]!;
  const inner = numel(x.slice(axis + 1));
  const io = new KernelIo(ctx);
  const vec = inner % 4 === 0 && io.inVecOk(0) && io.outVecOk;
  const elem = vec ? 'vec4f' : 'f32';
  const bufs: Buf[] = [{ slot: 'input0', name: 'x', elem }, ...io.outBufs(vec)];
  const consts = [
    `const LEN = ${u(len)}; // averaged axis`,
    `const INNER = ${u(vec ? inner / 4 : inner)};`,
  ].join('\n');
  const body = [
    '  let r = gid % INNER;',
    '  let o = gid / INNER;',
    `  var s = ${elem}(0.0);`,
    `  for (var k = 0u; k < LEN; k++) { s += x[${io.at(0, '(o * LEN + k) * INNER + r', elem)}]; }`,
    `  ${vec ? io.store4('gid', 's / f32(LEN)') : io.store('gid', 's / f32(LEN)')}`,
  ].join('\n');
  return kernelSpec(
    `mean_axis${axis}${vec ? '_vec4' : ''}`,
    `mean over axis ${axis} of [${x.join(', ')}] → [${ctx.out.join(', ')}]`,
    bufs,
    consts,
    linearMain(numel(ctx.out) / (vec ? 4 : 1), WG, ctx.opts),
    body,
    WG,
    {},
    io.helpers(),
  );
}
