// The generic pointwise kernel: one output element (or vec4 of four) per invocation, computed by the op's
// `pointwise.wgsl` expression from its operands (each read at the element, its channel, (sample, channel) or row),
// then any fused epilogue, then stored. Every pointwise op (relu, sigmoid, add, mul, affine, batchnorm, copy, the
// load-time batchnorm folding) runs through it: adding one is its expression, nothing else.
import type { KernelBinding, KernelCtx, KernelSpec, OpDef } from '../../ops/op.ts';
import { kernelSpec, linearMain, numel, u, WG, type Buf } from './common.ts';
import { chainCode, defaultIndexing, KernelIo, vecFriendly, type Bound } from './io.ts';

const shapeText = (s: readonly number[]): string => `[${s.join(', ')}]`;

export function pointwiseKernel(def: OpDef, ctx: KernelCtx): KernelSpec {
  const pw = def.pointwise;
  if (!pw) throw new Error(`internal: ${def.name} is not pointwise`);
  const nIn = ctx.inputs.length;
  const readParams = pw.params ?? ctx.params.map((_, k) => k);
  const shapes = [...ctx.inputs, ...readParams.map((k) => ctx.params[k]!)];
  const index = pw.index?.(shapes, ctx.out) ?? shapes.map((s) => defaultIndexing(s, ctx.out));
  const views = shapes.map((_, k) => (k < nIn ? ctx.views?.inputs?.[k] : undefined));
  const io = new KernelIo(ctx);
  const vec =
    io.outVecOk &&
    index.every((ix, k) => vecFriendly(ix, ctx.out, views[k])) &&
    (!pw.usesIndex || vecFriendly('channel', ctx.out));
  const bound: Bound[] = shapes.map((shape, k) => ({
    name: k < nIn ? `x${k}` : `p${k - nIn}`,
    shape,
    index: index[k]!,
    ...(views[k] ? { view: views[k] } : {}),
    elem: vec && index[k] === 'same' ? 'vec4f' : 'f32',
  }));
  const bufs: Buf[] = [
    ...bound.map((b, k): Buf => ({
      slot: (k < nIn ? `input${k}` : `param${readParams[k - nIn]}`) as KernelBinding,
      name: b.name,
      elem: b.elem,
    })),
    ...io.outBufs(vec),
  ];
  const elem = vec ? 'vec4f' : 'f32';
  const n = numel(ctx.out);
  const items = vec ? n / 4 : n;
  const chain = chainCode(
    [
      {
        comment: def.name,
        args: shapes.map((_, k) => k),
        expr: (args, e, ix) => pw.wgsl(args, ctx.attrs, e, ix),
        ...(pw.usesIndex ? { usesIndex: true } : {}),
      },
    ],
    bound,
    ctx.out,
    elem,
    '  ',
    (k) => io.atFn(k, elem),
  );
  const body = ['  let i = gid;', chain, `  ${vec ? io.store4('i', 'v') : io.store('i', 'v')}`].join('\n');
  const steps = [def.name, ...(ctx.epilogue?.steps.map((s) => s.op) ?? [])];
  return kernelSpec(
    `${steps.join('_')}${vec ? '_vec4' : ''}`,
    `${steps.join(' → ')}: ${def.doc}; ${shapes.map(shapeText).join(', ')} → ${shapeText(ctx.out)}, one ${elem} per work item`,
    bufs,
    `const ELEMENTS = ${u(n)};`,
    linearMain(items, WG, ctx.opts),
    body,
    WG,
    {},
    [pw.helpers?.trim() ?? '', io.helpers()].filter(Boolean).join('\n\n'),
  );
}
