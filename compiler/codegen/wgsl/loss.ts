// Kernels of the losses and the small ops of training graphs. Every sum is deterministic: fixed-order partial sums
// in workgroup memory (one workgroup per block of pixels), then the blocks summed in index order by one workgroup.
import type { KernelBinding, KernelCtx, KernelPlan, KernelSpec } from '../../ops/op.ts';
import { numel } from '../../ir/types.ts';
import { f, kernelSpec, linearMain, u, WG, workgroupMain, type Buf } from './common.ts';
import { KernelIo } from './io.ts';

const RED = 256; // invocations of the reduction workgroups (a power of two)

/** `fn sum<k>(lid, v)`: a tree sum over the workgroup, one workgroup array per call site. */
function treeSums(names: readonly string[]): { decls: string; fns: string } {
  return {
    decls: names.map((n) => `var<workgroup> ${n}: array<f32, ${RED}>;`).join('\n'),
    fns: names
      .map((n) =>
        [
          `fn sum_${n}(lid: u32, v: f32) -> f32 {`,
          `  ${n}[lid] = v;`,
          '  workgroupBarrier();',
          '  for (var half = WORKGROUP / 2u; half > 0u; half /= 2u) {',
          `    if (lid < half) { ${n}[lid] += ${n}[lid + half]; }`,
          '    workgroupBarrier();',
          '  }',
          `  return ${n}[0];`,
          '}',
        ].join('\n'),
      )
      .join('\n\n'),
  };
}

/** Cross-entropy: pass 1 sums (loss, count) over blocks of RED pixels into scratch; pass 2 sums the blocks in order. */
export function ceLossKernel(ctx: KernelCtx<{ ignore: number }>): KernelPlan {
  const [batch, classes, h, w] = ctx.inputs[0]! as number[];
  const pixels = batch! * h! * w!;
  const blocks = Math.ceil(pixels / RED);
  const io = new KernelIo(ctx);
  const consts = [
    `const CLASSES = ${u(classes!)};  const PLANE = ${u(h! * w!)};  const PIXELS = ${u(pixels)};`,
    `const BLOCKS = ${u(blocks)};`,
    `const IGNORE = ${f(ctx.attrs.ignore)};`,
  ].join('\n');
  const t1 = treeSums(['loss_part', 'count_part']);
  const pass1 = kernelSpec(
    `ce_loss_blocks_c${classes}`,
    `cross-entropy, pass 1: (Σ loss, labelled pixels) of each block of ${RED} pixels of logits [${ctx.inputs[0]!.join(', ')}]`,
    [
      { slot: 'input0', name: 'z', elem: 'f32' },
      { slot: 'input1', name: 'labels', elem: 'f32' },
      { slot: 'scratch0', name: 'blocks', elem: 'f32', write: true },
    ],
    `${consts}\n${t1.decls}`,
    workgroupMain(blocks, RED, ctx.opts),
    [
      "  let p = item * WORKGROUP + lid; // this invocation's pixel (n · PLANE + position)",
      '  var loss = 0.0;  var count = 0.0;',
      '  if (p < PIXELS) {',
      '    let label = labels[p];',
      '    if (label != IGNORE) {',
      '      let n = p / PLANE;  let q = p % PLANE;',
      `      let base = (${io.plane(0, 'n', '0u')}) * PLANE + q;`,
      '      var top = -3.0e38;',
      '      for (var c = 0u; c < CLASSES; c++) { top = max(top, z[base + c * PLANE]); }',
      '      var s = 0.0;',
      '      for (var c = 0u; c < CLASSES; c++) { s += exp(z[base + c * PLANE] - top); }',
      '      loss = log(s) + top - z[base + u32(label) * PLANE];',
      '      count = 1.0;',
      '    }',
      '  }',
      '  let l = sum_loss_part(lid, loss);',
      '  let k = sum_count_part(lid, count);',
      '  if (lid == 0u) { blocks[2u * item] = l;  blocks[2u * item + 1u] = k; }',
    ].join('\n'),
    RED,
    {},
    t1.fns,
  );
  const t2 = treeSums(['loss_all', 'count_all']);
  const pass2 = kernelSpec(
    'ce_loss_total',
    'cross-entropy, pass 2: the blocks summed in index order → [mean loss, labelled pixels]',
    [{ slot: 'scratch0', name: 'blocks', elem: 'f32' }, ...io.outBufs()],
    `${consts}\n${t2.decls}`,
    workgroupMain(1, RED, ctx.opts),
    [
      '  var l = 0.0;  var k = 0.0;',
      '  for (var b = lid; b < BLOCKS; b += WORKGROUP) { l += blocks[2u * b];  k += blocks[2u * b + 1u]; }',
      '  let total = sum_loss_all(lid, l);',
      '  let count = sum_count_all(lid, k);',
      '  if (lid == 0u) {',
      `    ${io.store('0u', 'select(0.0, total / count, count > 0.0)')}`,
      `    ${io.store('1u', 'count')}`,
      '  }',
    ].join('\n'),
    RED,
    {},
    [t2.fns, io.helpers()].join('\n\n'),
  );
  return { scratch: [2 * blocks], dispatches: [pass1, pass2] };
}

/** Cross-entropy's gradient: one invocation per pixel writes the gradient of its CLASSES logits. */
export function ceGradKernel(ctx: KernelCtx<{ ignore: number }>): KernelSpec {
  const [batch, classes, h, w] = ctx.inputs[0]! as number[];
  const io = new KernelIo(ctx);
  const bufs: Buf[] = [
    { slot: 'input0', name: 'z', elem: 'f32' },
    { slot: 'input1', name: 'labels', elem: 'f32' },
    { slot: 'input2', name: 'loss', elem: 'f32' },
    { slot: 'input3', name: 'dy', elem: 'f32' },
    ...io.outBufs(),
  ];
  const consts = [
    `const CLASSES = ${u(classes!)};  const PLANE = ${u(h! * w!)};`,
    `const IGNORE = ${f(ctx.attrs.ignore)};`,
  ].join('\n');
  const body = [
    '  let n = gid / PLANE;  let q = gid % PLANE;',
    `  let base = (${io.plane(0, 'n', '0u')}) * PLANE + q;`,
    '  let out = n * CLASSES * PLANE + q; // dense index of class 0 of this pixel',
    '  let label = labels[gid];',
    '  let count = loss[1];',
    '  if (label == IGNORE || count == 0.0) {',
    `    for (var c = 0u; c < CLASSES; c++) { ${io.store('out + c * PLANE', '0.0')} }`,
    '    return;',
    '  }',
    '  var top = -3.0e38;',
    '  for (var c = 0u; c < CLASSES; c++) { top = max(top, z[base + c * PLANE]); }',
    '  var s = 0.0;',
    '  for (var c = 0u; c < CLASSES; c++) { s += exp(z[base + c * PLANE] - top); }',
    '  let scale = dy[0] / count;',
    '  for (var c = 0u; c < CLASSES; c++) {',
    '    let p = exp(z[base + c * PLANE] - top) / s;',
    `    ${io.store('out + c * PLANE', 'scale * (p - select(0.0, 1.0, c == u32(label)))')}`,
    '  }',
  ].join('\n');
  return kernelSpec(
    `ce_grad_c${classes}`,
    `cross-entropy gradient: logits [${ctx.inputs[0]!.join(', ')}]; one pixel per invocation`,
    bufs,
    consts,
    linearMain(batch! * h! * w!, WG, ctx.opts),
    body,
    WG,
    {},
    io.helpers(),
  );
}

/** Class presence: one workgroup per sample ORs the labels of its pixels into a bit set, then writes 0/1. */
export function classPresenceKernel(ctx: KernelCtx<{ classes: number; ignore: number }>): KernelSpec {
  const [batch] = ctx.inputs[0]! as number[];
  const per = numel(ctx.inputs[0]!) / batch!;
  const classes = ctx.attrs.classes;
  const words = Math.ceil(classes / 32);
  const io = new KernelIo(ctx);
  const bufs: Buf[] = [{ slot: 'input0', name: 'labels', elem: 'f32' }, ...io.outBufs()];
  const consts = [
    `const CLASSES = ${u(classes)};  const PER = ${u(per)}; // pixels per sample`,
    `const WORDS = ${u(words)};`,
    `const IGNORE = ${f(ctx.attrs.ignore)};`,
    '// Integer OR is order-independent: the bit set is the same however the invocations interleave.',
    `var<workgroup> seen: array<atomic<u32>, ${words}>;`,
  ].join('\n');
  const body = [
    '  for (var w = lid; w < WORDS; w += WORKGROUP) { atomicStore(&seen[w], 0u); }',
    '  workgroupBarrier();',
    '  for (var p = lid; p < PER; p += WORKGROUP) {',
    '    let l = labels[item * PER + p];',
    '    if (l != IGNORE && l >= 0.0 && l < f32(CLASSES)) { let c = u32(l); atomicOr(&seen[c / 32u], 1u << (c % 32u)); }',
    '  }',
    '  workgroupBarrier();',
    '  for (var c = lid; c < CLASSES; c += WORKGROUP) {',
    `    ${io.store('item * CLASSES + c', 'select(0.0, 1.0, (atomicLoad(&seen[c / 32u]) & (1u << (c % 32u))) != 0u)')}`,
    '  }',
  ].join('\n');
  return kernelSpec(
    `class_presence_k${classes}`,
    `class presence of labels [${ctx.inputs[0]!.join(', ')}] → [${batch}, ${classes}]; one workgroup per sample`,
    bufs,
    consts,
    workgroupMain(batch!, 64, ctx.opts),
    body,
    64,
    {},
    io.helpers(),
  );
}

/** The SE loss: one workgroup sums −(t log σ + (1 − t) log(1 − σ)) (logs clamped at −100) in a fixed order. */
export function bceLossKernel(ctx: KernelCtx): KernelSpec {
  const n = numel(ctx.inputs[0]!);
  const io = new KernelIo(ctx);
  const t = treeSums(['bce_part']);
  const bufs: Buf[] = [
    { slot: 'input0', name: 'x', elem: 'f32' },
    { slot: 'input1', name: 't', elem: 'f32' },
    ...io.outBufs(),
  ];
  const body = [
    '  var s = 0.0;',
    '  for (var i = lid; i < COUNT; i += WORKGROUP) {',
    '    let p = 1.0 / (1.0 + exp(-x[i]));',
    '    s -= t[i] * max(log(p), -100.0) + (1.0 - t[i]) * max(log(1.0 - p), -100.0);',
    '  }',
    '  let total = sum_bce_part(lid, s);',
    `  if (lid == 0u) { ${io.store('0u', 'total / f32(COUNT)')} }`,
  ].join('\n');
  return kernelSpec(
    'bce_loss',
    `binary cross-entropy of sigmoid(x) [${ctx.inputs[0]!.join(', ')}], mean; one workgroup`,
    bufs,
    `const COUNT = ${u(n)};\n${t.decls}`,
    workgroupMain(1, RED, ctx.opts),
    body,
    RED,
    {},
    [t.fns, io.helpers()].join('\n\n'),
  );
}

/** A constant tensor. */
export function constantKernel(ctx: KernelCtx<{ values: readonly number[] }>): KernelSpec {
  const io = new KernelIo(ctx);
  const values = ctx.attrs.values;
  return kernelSpec(
    `constant_${values.length}`,
    `constant [${values.join(', ')}]`,
    io.outBufs(),
    `const VALUES = array<f32, ${values.length}>(${values.map(f).join(', ')});`,
    linearMain(values.length, WG, ctx.opts),
    [`  var values = VALUES;`, `  ${io.store('gid', 'values[gid]')}`].join('\n'),
    WG,
    {},
    io.helpers(),
  );
}

/** y = Σ_k w_k · x_k[0]: one invocation. */
export function weightedSumKernel(ctx: KernelCtx<{ weights: readonly number[] }>): KernelSpec {
  const io = new KernelIo(ctx);
  const bufs: Buf[] = [
    ...ctx.inputs.map((_, k): Buf => ({ slot: `input${k}` as KernelBinding, name: `x${k}`, elem: 'f32' })),
    ...io.outBufs(),
  ];
  const sum = ctx.attrs.weights.map((w, k) => `${f(w)} * x${k}[0]`).join(' + ');
  return kernelSpec(
    `weighted_sum_${ctx.inputs.length}`,
    `Σ of ${ctx.inputs.length} weighted loss terms`,
    bufs,
    '',
    linearMain(1, WG, ctx.opts),
    `  ${io.store('0u', sum)}`,
    WG,
    {},
    io.helpers(),
  );
}
