// Per-channel reductions over a batch: for each channel c of [N, C, …] operands, sums over every (sample, position)
// of a few per-element expressions — batch statistics (mean, variance) and the sums a batchnorm's backward needs.
// One workgroup per channel; each invocation accumulates a strided share of the N·INNER elements in a fixed order,
// then a tree sum in workgroup memory: the result does not depend on scheduling (no atomics). Inputs are read
// through their views (io.plane), so a value that lives in a concat's slice is reduced where it lies.
import type { KernelBinding, KernelCtx, KernelSpec } from '../../ops/op.ts';
import { numel } from '../../ir/types.ts';
import { kernelSpec, u, workgroupMain, type Buf } from './common.ts';
import { KernelIo } from './io.ts';

export interface ChannelReduce {
  readonly name: string;
  readonly comment: string;
  /** Data inputs [N, C, …] read per element (all the same shape), by binding name in order. */
  readonly elementInputs: readonly string[];
  /** Data inputs [C] read per channel (after the element inputs), by name; available as `<name>_c`. */
  readonly channelInputs: readonly string[];
  /** Parameters [C] read per channel, by name; available as `<name>_c`. */
  readonly channelParams?: readonly string[];
  /** Statements run once per channel before the sums (may use the `_c` values); e.g. `let inv = …;`. */
  readonly prologue?: string;
  /**
   * The sums: per element expressions of the element values (`<name>_e`) and channel values. A sum may use the
   * results of earlier ones (`total0`, `total1`, …): then it runs as a further pass over the elements.
   */
  readonly sums: readonly { readonly expr: string; readonly afterPass?: boolean }[];
  /** The value stored for sum k, from `total<k>` and the channel values (default: total<k>). */
  readonly results?: readonly string[];
  /** Which sums are stored, as the output's rows in this order (default: all). */
  readonly stores?: readonly number[];
}

export function channelReduceKernel(ctx: KernelCtx, r: ChannelReduce): KernelSpec {
  const x = ctx.inputs[0]!;
  const [batch, channels] = [x[0]!, x[1]!];
  const inner = numel(x.slice(2));
  const wg = Math.min(256, ctx.opts.maxInvocationsPerWorkgroup);
  if ((wg & (wg - 1)) !== 0) throw new Error('internal: a reduction workgroup must be a power of two');
  const io = new KernelIo(ctx);
  const nElem = r.elementInputs.length;
  const bufs: Buf[] = [
    ...r.elementInputs.map((name, k): Buf => ({ slot: `input${k}` as KernelBinding, name, elem: 'f32' })),
    ...r.channelInputs.map((name, k): Buf => ({
      slot: `input${nElem + k}` as KernelBinding,
      name,
      elem: 'f32',
    })),
    ...(r.channelParams ?? []).map((name, k): Buf => ({
      slot: `param${k}` as KernelBinding,
      name,
      elem: 'f32',
    })),
    ...io.outBufs(),
  ];
  const consts = [
    `const CHANNELS = ${u(channels)};`,
    `const BATCH = ${u(batch)};`,
    `const INNER = ${u(inner)}; // elements per (sample, channel)`,
    `const COUNT = BATCH * INNER; // elements per channel`,
    '',
    ...r.sums.map((_, k) => `var<workgroup> partial${k}: array<f32, ${wg}>;`),
  ].join('\n');
  // One tree-sum helper per array (see groupnorm: reusing one array across reductions was observed to race).
  const helpers = r.sums
    .map((_, k) =>
      [
        `fn sum${k}(lid: u32, v: f32) -> f32 {`,
        `  partial${k}[lid] = v;`,
        '  workgroupBarrier();',
        '  for (var half = WORKGROUP / 2u; half > 0u; half /= 2u) {',
        `    if (lid < half) { partial${k}[lid] += partial${k}[lid + half]; }`,
        '    workgroupBarrier();',
        '  }',
        `  return partial${k}[0];`,
        '}',
      ].join('\n'),
    )
    .join('\n\n');
  const L: string[] = ['  let c = item; // the channel'];
  r.channelInputs.forEach((name) => L.push(`  let ${name}_c = ${name}[c];`));
  (r.channelParams ?? []).forEach((name) => L.push(`  let ${name}_c = ${name}[c];`));
  if (r.prologue) L.push(...r.prologue.split('\n').map((l) => `  ${l}`));
  // Consecutive sums without a dependency share a pass over the elements.
  const passes: number[][] = [];
  r.sums.forEach((s, k) => {
    if (k === 0 || s.afterPass) passes.push([k]);
    else passes[passes.length - 1]!.push(k);
  });
  for (const pass of passes) {
    for (const k of pass) L.push(`  var acc${k} = 0.0;`);
    L.push('  for (var k = lid; k < COUNT; k += WORKGROUP) {');
    L.push('    let n = k / INNER;  let r = k % INNER;');
    r.elementInputs.forEach((name, j) =>
      L.push(`    let ${name}_e = ${name}[(${io.plane(j, 'n', 'c')}) * INNER + r];`),
    );
    for (const k of pass) L.push(`    acc${k} += ${r.sums[k]!.expr};`);
    L.push('  }');
    for (const k of pass) L.push(`  let total${k} = sum${k}(lid, acc${k});`);
  }
  L.push('  if (lid == 0u) {');
  (r.stores ?? r.sums.map((_, k) => k)).forEach((k, row) =>
    L.push(`    ${io.store(`${u(row)} * CHANNELS + c`, r.results?.[k] ?? `total${k}`)}`),
  );
  L.push('  }');
  return kernelSpec(
    r.name,
    `${r.comment}: [${x.join(', ')}] → [${ctx.out.join(', ')}]; one workgroup of ${wg} per channel, fixed-order tree sums`,
    bufs,
    consts,
    workgroupMain(channels, wg, ctx.opts),
    L.join('\n'),
    wg,
    {},
    [helpers, io.helpers()].join('\n\n'),
  );
}
