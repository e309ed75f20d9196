// Backward conv kernels on the adapter at hand: GFLOP/s of the forward conv, conv2d_grad_input and
// conv2d_grad_weight (both passes of its split-K) on the FastFCN layer shapes of bench/conv.bench.ts, and the
// ratio of each gradient kernel's speed to the forward's (target: ≥ 0.5 on the software adapter). Every kernel
// gets the adapter's tuning (runtime/tuning.ts); the input gradient also runs as the register-blocked variant 0
// (`conv2d_grad_input.variant` 0), beside the adapter's choice (the row-vectorised variant 2 where it applies). FLOPs are the forward's 2·N·Cout·Ho·Wo·Cin/G·k² for all three.
// Run: npm run bench:backward   (writes bench/results/backward-<adapter>.md; commit it)
// Env: FCNC_ADAPTER=gpu|software, REPEATS (default 3), QUICK=1 for a short list, TINY=1 for two tiny shapes
// (a smoke test: neither writes the results file), OUT=<file> to write the table elsewhere, TUNING='{…}' to put
// tuning keys over the adapter's (e.g. '{"conv2d_grad_weight.tm":8}').
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { conv2dKernel } from '../compiler/codegen/wgsl/conv.ts';
import { conv2dGradInputKernel, conv2dGradWeightKernel } from '../compiler/codegen/wgsl/conv_grad.ts';
import type { ConvAttrs } from '../compiler/ops/conv.ts';
import { kernelOptions } from '../compiler/codegen/limits.ts';
import type { KernelCtx, KernelPlan, KernelSpec } from '../compiler/ops/op.ts';
import { openDevice } from '../runtime/device.ts';
import { tuningFor } from '../runtime/tuning.ts';

const dev = await openDevice();
const device = dev.device;
console.log(dev.description);
const REPEATS = Number(process.env.REPEATS ?? 3);

interface Layer {
  name: string;
  x: [number, number, number, number];
  a: ConvAttrs;
}
const c = (channels: number, kernel: number, o: Partial<ConvAttrs> = {}): ConvAttrs => ({
  channels,
  kernel,
  stride: 1,
  padding: 0,
  dilation: 1,
  groups: 1,
  bias: false,
  ...o,
});
// The shapes of bench/conv.bench.ts.
const LAYERS: Layer[] = [
  { name: 'stem 3×3 s2 (Cin 3)', x: [1, 3, 256, 256], a: c(64, 3, { stride: 2, padding: 1 }) },
  { name: 'layer1 1×1 64→64', x: [1, 64, 64, 64], a: c(64, 1) },
  { name: 'layer1 3×3 64→64', x: [1, 64, 64, 64], a: c(64, 3, { padding: 1 }) },
  { name: 'layer1 1×1 64→256', x: [1, 64, 64, 64], a: c(256, 1) },
  { name: 'layer2 3×3 s2 128', x: [1, 128, 64, 64], a: c(128, 3, { stride: 2, padding: 1 }) },
  { name: 'layer3 3×3 256', x: [1, 256, 16, 16], a: c(256, 3, { padding: 1 }) },
  { name: 'layer3 1×1 s2 512→1024', x: [1, 512, 32, 32], a: c(1024, 1, { stride: 2 }) },
  {
    name: 'JPU depthwise 3×3 d4',
    x: [1, 1536, 32, 32],
    a: c(1536, 3, { padding: 4, dilation: 4, groups: 1536 }),
  },
  { name: 'JPU pointwise 1×1 1536→512', x: [1, 1536, 32, 32], a: c(512, 1) },
  { name: 'head 3×3 2048→512', x: [1, 2048, 16, 16], a: c(512, 3, { padding: 1 }) },
];
const TINY_LAYERS: Layer[] = [
  { name: 'tiny 3×3 s2', x: [1, 16, 17, 17], a: c(16, 3, { stride: 2, padding: 1 }) },
  { name: 'tiny depthwise 3×3 d2', x: [1, 32, 16, 16], a: c(32, 3, { padding: 2, dilation: 2, groups: 32 }) },
];
const QUICK = process.env.QUICK === '1';
const TINY = process.env.TINY === '1';
const layers = TINY ? TINY_LAYERS : QUICK ? LAYERS.filter((_, k) => k % 3 === 1) : LAYERS;

const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
function buffer(floats: number): GPUBuffer {
  const b = device.createBuffer({ size: Math.max(16, Math.ceil(floats / 4) * 16), usage });
  const d = new Float32Array(Math.ceil(floats / 4) * 4).map(() => Math.random() - 0.5);
  device.queue.writeBuffer(b, 0, d);
  return b;
}

/** Median time (ms) of one submit of every dispatch of `plan`, each binding the named buffers. */
async function time(plan: KernelPlan, named: Readonly<Record<string, GPUBuffer>>): Promise<number> {
  const scratch = plan.scratch.map((n) => buffer(n));
  const steps = await Promise.all(
    plan.dispatches.map(async (spec) => {
      const pipe = await device.createComputePipelineAsync({
        layout: 'auto',
        compute: { module: device.createShaderModule({ code: spec.wgsl }), entryPoint: 'main' },
      });
      const bg = device.createBindGroup({
        layout: pipe.getBindGroupLayout(0),
        entries: spec.bindings.map((b, binding) => {
          const m = /^scratch(\d+)$/.exec(b);
          const buf = m ? scratch[Number(m[1])] : named[b];
          if (!buf) throw new Error(`bench: no buffer for binding ${b}`);
          return { binding, resource: { buffer: buf } };
        }),
      });
      return { spec, pipe, bg };
    }),
  );
  const once = async () => {
    const enc = device.createCommandEncoder();
    const p = enc.beginComputePass();
    for (const s of steps) {
      p.setPipeline(s.pipe);
      p.setBindGroup(0, s.bg);
      p.dispatchWorkgroups(...s.spec.grid);
    }
    p.end();
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
  };
  await once(); // compile + warm up
  const ts: number[] = [];
  for (let r = 0; r < REPEATS; r++) {
    const t0 = performance.now();
    await once();
    ts.push(performance.now() - t0);
  }
  for (const b of scratch) b.destroy();
  return ts.sort((a, b) => a - b)[Math.floor(ts.length / 2)]!;
}

const asPlan = (k: KernelSpec | KernelPlan): KernelPlan =>
  'wgsl' in k ? { scratch: [], dispatches: [k] } : k;
const tuning = { ...tuningFor(dev), ...(JSON.parse(process.env.TUNING ?? '{}') as Record<string, number>) };
const opts = kernelOptions(dev.limits, tuning);
const rows: string[] = [];
const numel = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
for (const l of layers) {
  const [n, cin, h, w] = l.x;
  const a = l.a;
  const k = a.kernel;
  const ho = Math.floor((h + 2 * a.padding - a.dilation * (k - 1) - 1) / a.stride) + 1;
  const wo = Math.floor((w + 2 * a.padding - a.dilation * (k - 1) - 1) / a.stride) + 1;
  const out = [n, a.channels, ho, wo];
  const wshape = [a.channels, cin / a.groups, k, k];
  const flops = 2 * numel(out) * (cin / a.groups) * k * k;
  const x = buffer(numel(l.x));
  const wt = buffer(numel(wshape));
  const y = buffer(numel(out)); // y, or dy
  const dx = buffer(numel(l.x));
  const dw = buffer(numel(wshape));
  const fwdCtx: KernelCtx<ConvAttrs> = { inputs: [l.x], out, attrs: a, params: [wshape], opts };
  const giCtx = {
    inputs: [out],
    out: l.x,
    attrs: { ...a, in_c: cin, in_h: h, in_w: w },
    params: [wshape],
    opts,
  };
  const gwCtx: KernelCtx<ConvAttrs> = { inputs: [l.x, out], out: wshape, attrs: a, params: [], opts };
  const fwd = asPlan(conv2dKernel(fwdCtx));
  const gi = asPlan(conv2dGradInputKernel(giCtx));
  const gi0 = asPlan(
    conv2dGradInputKernel({
      ...giCtx,
      opts: kernelOptions(dev.limits, { ...tuning, 'conv2d_grad_input.variant': 0 }),
    }),
  );
  // The adapter runs another kernel than variant 0 here (the row kernel, or the flipped depthwise row kernel).
  const giRows = gi.dispatches[0]!.wgsl !== gi0.dispatches[0]!.wgsl;
  const gw = asPlan(conv2dGradWeightKernel(gwCtx));
  const tf = await time(fwd, { input0: x, param0: wt, output: y });
  const ti = await time(gi, { input0: y, param0: wt, output: dx });
  const ti0 = giRows ? await time(gi0, { input0: y, param0: wt, output: dx }) : ti;
  const tw = await time(gw, { input0: x, input1: y, output: dw });
  const gf = (ms: number): number => flops / ms / 1e6;
  const splits = gw.dispatches.length > 1 ? `${gw.scratch[0]! / numel(wshape)} splits` : '1 split';
  console.log(
    `${l.name.padEnd(28)} forward ${tf.toFixed(1)} ms (${gf(tf).toFixed(2)} GFLOP/s), grad_input ${ti.toFixed(1)} ms (${gf(ti).toFixed(2)}, ×${(tf / ti).toFixed(2)}), grad_weight ${tw.toFixed(1)} ms (${gf(tw).toFixed(2)}, ×${(tf / tw).toFixed(2)}; ${splits})`,
  );
  const cell = (ms: number): string => `${ms.toFixed(1)} ms (${gf(ms).toFixed(1)})`;
  rows.push(
    `| ${l.name} | [${l.x.join(', ')}] → [${out.join(', ')}] | ${(flops / 1e9).toFixed(2)} | ${cell(tf)} | ${cell(ti)}${giRows ? ' rows' : ''} | ${(tf / ti).toFixed(2)} | ${giRows ? `${cell(ti0)} (${(ti0 / ti).toFixed(2)}×)` : '—'} | ${cell(tw)} | ${(tf / tw).toFixed(2)} | ${splits} |`,
  );
  for (const b of [x, wt, y, dx, dw]) b.destroy();
}

const md = [
  `# Backward conv kernels on ${dev.description.replace(/^using /, '')}`,
  '',
  `${new Date().toISOString().slice(0, 10)}. Median of ${REPEATS} runs after a warm-up, one submit per run with a queue`,
  "sync (ms, and GFLOP/s in parentheses; every kernel counts the forward conv's 2·N·Cout·Ho·Wo·Cin/G·k² FLOPs).",
  `Tuning: ${JSON.stringify(tuning)}. Ratios are gradient GFLOP/s ÷ forward GFLOP/s (target ≥ 0.5).`,
  'grad_weight is both passes of its split-K (pass 1 partial sums per K chunk, pass 2 their sum in slot order).',
  '',
  'grad_input variant 0: the register-blocked kernel (depthwise: the direct kernel) on the same layer, where the',
  "adapter runs variant 2 (rows: the forward's row-vectorised kernel on the transposed weight, or its depthwise row",
  'kernel with the kernel flipped); in parentheses how many times slower variant 0 is.',
  '',
  '| layer | shape | GFLOP | forward | grad_input | ratio | grad_input variant 0 | grad_weight | ratio | K splits |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ...rows,
  '',
].join('\n');
const file =
  process.env.OUT ??
  (QUICK || TINY ? undefined : join(import.meta.dirname, 'results', `backward-${dev.kind}.md`));
if (file) {
  writeFileSync(file, md);
  console.log(`wrote ${file}`);
}
dev.destroy();
process.exit(0);
