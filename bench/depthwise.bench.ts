// The depthwise convs of the JPU (1536 channels, 3×3, dilation 1, 2, 4 and 8, "same" padding) on the adapter at hand:
// the row kernel (conv2d_dw.variant 1) with scalar loads of each distinct input column (`conv2d_dw.vec` 0, the
// kernel before vec4 rows; 4 and 8 outputs a row per invocation, the tuner's candidates then) against vec4 loads of
// the aligned quads covering them (8, 16 and 32 outputs a row). Each kernel alone, on maps of 32×32 (a 256² input)
// and 64×64 (512², the paper's crop); 4 dispatches per submit, the fastest of ROUNDS submits, kernels in turn.
// Run: npm run bench:depthwise [-- ROUNDS]   (default 7) → bench/results/depthwise-<gpu|software>.md
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { conv2dKernel } from '../compiler/codegen/wgsl/conv.ts';
import { kernelOptions } from '../compiler/codegen/limits.ts';
import type { KernelSpec } from '../compiler/ops/op.ts';
import { openDevice } from '../runtime/device.ts';
import { tuningFor } from '../runtime/tuning.ts';

const ROOT = join(import.meta.dirname, '..');
const ROUNDS = Number(process.argv[2] ?? 7);
const C = 1536;
const dev = await openDevice();
console.log(dev.description);
const d = dev.device;
const base = tuningFor(dev);
const buffer = (n: number): GPUBuffer => {
  const b = d.createBuffer({ size: n * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  d.queue.writeBuffer(
    b,
    0,
    new Float32Array(n).map((_, k) => Math.sin(k)),
  );
  return b;
};
const KERNELS: readonly { name: string; tuning: Record<string, number> }[] = [
  { name: 'scalar loads, 4 a row', tuning: { 'conv2d_dw.vec': 0, 'conv2d_dw.tn': 4 } },
  { name: 'scalar loads, 8 a row', tuning: { 'conv2d_dw.vec': 0, 'conv2d_dw.tn': 8 } },
  { name: 'vec4 loads, 8 a row', tuning: { 'conv2d_dw.tn': 8 } },
  { name: 'vec4 loads, 16 a row', tuning: { 'conv2d_dw.tn': 16 } },
  { name: 'vec4 loads, 32 a row', tuning: { 'conv2d_dw.tn': 32 } },
];
const rows: string[] = [];
for (const size of [32, 64]) {
  const x = buffer(C * size * size);
  const w = buffer(C * 9);
  const y = buffer(C * size * size);
  for (const dil of [1, 2, 4, 8]) {
    const attrs = { channels: C, kernel: 3, stride: 1, padding: dil, dilation: dil, groups: C, bias: false };
    const runs: { spec: KernelSpec; run: () => Promise<number> }[] = [];
    for (const k of KERNELS) {
      const spec = conv2dKernel({
        inputs: [[1, C, size, size]],
        out: [1, C, size, size],
        attrs,
        params: [[C, 1, 3, 3]],
        opts: kernelOptions(dev.limits, { ...base, 'conv2d_dw.variant': 1, ...k.tuning }),
      });
      const pipe = await d.createComputePipelineAsync({
        layout: 'auto',
        compute: { module: d.createShaderModule({ code: spec.wgsl }), entryPoint: spec.entryPoint },
      });
      const bufs: Record<string, GPUBuffer> = { input0: x, param0: w, output: y };
      const group = d.createBindGroup({
        layout: pipe.getBindGroupLayout(0),
        entries: spec.bindings.map((slot, binding) => ({ binding, resource: { buffer: bufs[slot]! } })),
      });
      runs.push({
        spec,
        run: async () => {
          const t0 = performance.now();
          const enc = d.createCommandEncoder();
          const pass = enc.beginComputePass();
          pass.setPipeline(pipe);
          pass.setBindGroup(0, group);
          for (let r = 0; r < 4; r++) pass.dispatchWorkgroups(...spec.grid);
          pass.end();
          d.queue.submit([enc.finish()]);
          await d.queue.onSubmittedWorkDone();
          return (performance.now() - t0) / 4;
        },
      });
    }
    for (const r of runs) await r.run(); // warm-up
    const best = runs.map(() => Infinity);
    for (let k = 0; k < ROUNDS; k++)
      for (const [j, r] of runs.entries()) best[j] = Math.min(best[j]!, await r.run());
    const before = Math.min(best[0]!, best[1]!);
    const row = `| ${size}×${size} | ${dil} | ${best.map((t) => t.toFixed(2)).join(' | ')} | ${(before / best.at(-1)!).toFixed(2)}× |`;
    console.log(row);
    rows.push(row);
  }
  for (const b of [x, w, y]) b.destroy();
}
const md = [
  `# The JPU's depthwise convs: scalar vs vec4 row loads — ${dev.description}`,
  '',
  `Date ${new Date().toISOString().slice(0, 10)}; machine: ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}. Produced by`,
  "`npm run bench:depthwise` (bench/depthwise.bench.ts). 1536 channels (the JPU's concatenated features), 3×3,",
  `"same" padding, batch 1; each kernel alone, ms per dispatch (the fastest of ${ROUNDS} submits of 4, kernels in turn),`,
  "on top of the adapter's defaults. Scalar: each distinct input column of a kernel row loaded on its own (the kernel",
  'before vec4 rows; 4 and 8 outputs a row were its candidates); vec4: the aligned quads covering them.',
  '',
  `| map | dilation | ${KERNELS.map((k) => k.name).join(' | ')} | best scalar / vec4 32 |`,
  `|---|---:|${KERNELS.map(() => '---:').join('|')}|---:|`,
  ...rows,
  '',
].join('\n');
const out = join(ROOT, 'bench', 'results', `depthwise-${dev.kind}.md`);
writeFileSync(out, md);
console.log(`wrote ${out}`);
dev.destroy();
process.exit(0);
