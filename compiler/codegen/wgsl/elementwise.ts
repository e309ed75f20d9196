// Elementwise kernels: relu, sigmoid, add, mul (equal shapes or a per-channel factor), dropout (identity copy)
// and eval-mode batchnorm (a per-channel affine map). One work item is a vec4 when the sizes allow, else a scalar.
import type { KernelCtx, KernelSpec } from '../../ops/op.ts';
import { f, kernelSpec, linearMain, numel, u, WG, type Buf } from './common.ts';

const shapeText = (s: readonly number[]): string => `[${s.join(', ')}]`;

/** y = expr(x) for unary maps; `expr` uses `v` (f32 or vec4f). */
function unary(name: string, doc: string, ctx: KernelCtx, expr: (elem: string) => string): KernelSpec {
  const n = numel(ctx.out);
  const vec = n % 4 === 0;
  const elem = vec ? 'vec4f' : 'f32';
  const bufs: Buf[] = [
    { slot: 'input0', name: 'x', elem },
    { slot: 'output', name: 'y', elem, write: true },
  ];
  const items = vec ? n / 4 : n;
  const main = linearMain(items, WG, ctx.opts);
  return kernelSpec(
    `${name}${vec ? '_vec4' : ''}`,
    `${name}: ${doc}, ${shapeText(ctx.out)}, one ${elem} per work item`,
    bufs,
    `const ELEMENTS = ${u(n)};`,
    main,
    `  let v = x[gid];\n  y[gid] = ${expr(elem)};`,
    WG,
  );
}

export const reluKernel = (ctx: KernelCtx): KernelSpec =>
  unary('relu', 'y = max(x, 0)', ctx, (e) => `max(v, ${e}(0.0))`);
export const sigmoidKernel = (ctx: KernelCtx): KernelSpec =>
  unary('sigmoid', 'y = 1 / (1 + exp(−x))', ctx, () => '1.0 / (1.0 + exp(-v))');
export const copyKernel = (ctx: KernelCtx, name = 'copy'): KernelSpec => unary(name, 'y = x', ctx, () => 'v');

/** add (equal shapes) and mul (equal shapes, or b = [N, C] / [N, C, 1, 1] broadcast over H×W). */
export function binaryKernel(op: 'add' | 'mul', ctx: KernelCtx): KernelSpec {
  const [a, b] = ctx.inputs as [readonly number[], readonly number[]];
  const n = numel(a);
  const sym = op === 'add' ? '+' : '*';
  const broadcast = numel(b) !== n;
  if (!broadcast) {
    const vec = n % 4 === 0;
    const elem = vec ? 'vec4f' : 'f32';
    const bufs: Buf[] = [
      { slot: 'input0', name: 'a', elem },
      { slot: 'input1', name: 'b', elem },
      { slot: 'output', name: 'y', elem, write: true },
    ];
    return kernelSpec(
      `${op}${vec ? '_vec4' : ''}`,
      `${op}: y = a ${sym} b, ${shapeText(a)}, one ${elem} per work item`,
      bufs,
      `const ELEMENTS = ${u(n)};`,
      linearMain(vec ? n / 4 : n, WG, ctx.opts),
      `  y[gid] = a[gid] ${sym} b[gid];`,
      WG,
    );
  }
  // Per-channel factor: b[n, c] multiplies the H×W plane (n, c) of a.
  const plane = a[2]! * a[3]!;
  const vec = plane % 4 === 0;
  const elem = vec ? 'vec4f' : 'f32';
  const bufs: Buf[] = [
    { slot: 'input0', name: 'a', elem },
    { slot: 'input1', name: 'b', elem: 'f32' },
    { slot: 'output', name: 'y', elem, write: true },
  ];
  return kernelSpec(
    `${op}_channel${vec ? '_vec4' : ''}`,
    `${op}: y[n, c, h, w] = a[n, c, h, w] ${sym} b[n, c], a ${shapeText(a)}, b ${shapeText(b)}, one ${elem} per work item`,
    bufs,
    `const PLANE = ${u(vec ? plane / 4 : plane)}; // work items per (n, c) plane`,
    linearMain(vec ? n / 4 : n, WG, ctx.opts),
    `  y[gid] = a[gid] ${sym} b[gid / PLANE];`,
    WG,
  );
}

/** Eval-mode batchnorm on axis 1 of a 2-, 3- or 4-D tensor: y = (x − mean[c]) · weight[c] / sqrt(var[c] + eps) + bias[c]. */
export function batchnormKernel(ctx: KernelCtx<{ eps: number }>): KernelSpec {
  const x = ctx.inputs[0]!;
  const n = numel(x);
  const c = x[1]!;
  const inner = numel(x.slice(2));
  const vec = inner % 4 === 0;
  const elem = vec ? 'vec4f' : 'f32';
  const bufs: Buf[] = [
    { slot: 'input0', name: 'x', elem },
    { slot: 'param0', name: 'weight', elem: 'f32' },
    { slot: 'param1', name: 'bias', elem: 'f32' },
    { slot: 'param2', name: 'running_mean', elem: 'f32' },
    { slot: 'param3', name: 'running_var', elem: 'f32' },
    { slot: 'output', name: 'y', elem, write: true },
  ];
  const consts = [
    `const CHANNELS = ${u(c)};`,
    `const INNER = ${u(vec ? inner / 4 : inner)}; // work items per channel of one sample`,
    `const EPS = ${f(ctx.attrs.eps)};`,
  ].join('\n');
  const body = [
    '  let ch = (gid / INNER) % CHANNELS;',
    '  let scale = weight[ch] / sqrt(running_var[ch] + EPS);',
    '  y[gid] = (x[gid] - running_mean[ch]) * scale + bias[ch];',
  ].join('\n');
  return kernelSpec(
    `batchnorm${vec ? '_vec4' : ''}`,
    `batchnorm (eval, running statistics) on axis 1 of ${shapeText(x)}, one ${elem} per work item`,
    bufs,
    consts,
    linearMain(vec ? n / 4 : n, WG, ctx.opts),
    body,
    WG,
  );
}

/** The kernel of a unary op by name (the ops' shared factory calls this). */
export function unaryKernel(name: string, ctx: KernelCtx): KernelSpec {
  if (name === 'relu') return reluKernel(ctx);
  if (name === 'sigmoid') return sigmoidKernel(ctx);
  throw new Error(`internal: no WGSL kernel for unary op '${name}'`);
}
