// Conv kernel speed on the adapter at hand: GFLOP/s of the implicit-GEMM conv (several register-blocking
// variants), the 1×1 GEMM path and the depthwise kernel on shapes FastFCN has (full widths, reduced resolution).
// Run: node bin/run-ts.js bench/conv.bench.ts   (writes bench/results/conv-<adapter>.md; commit it)
// Env: FCNC_ADAPTER=gpu|software, REPEATS (default 3), QUICK=1 for a short list.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { conv2dKernel, type ConvTiling } from '../compiler/codegen/wgsl/conv.ts';
import type { ConvAttrs } from '../compiler/ops/conv.ts';
import { kernelOptions } from '../compiler/codegen/limits.ts';
import type { KernelSpec } from '../compiler/ops/op.ts';
import { openDevice } from '../runtime/device.ts';

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
const QUICK = process.env.QUICK === '1';
const layers = QUICK ? LAYERS.filter((_, k) => k % 3 === 1) : LAYERS;
const TILINGS: ConvTiling[] = [
  { tm: 4, vecs: 1 },
  { tm: 8, vecs: 1 },
  { tm: 8, vecs: 2 },
  { tm: 16, vecs: 1 },
  { tm: 4, vecs: 2 },
  { tm: 8, vecs: 4 },
  { tm: 16, vecs: 2 },
];

const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
function buffer(floats: number): GPUBuffer {
  const b = device.createBuffer({ size: Math.max(16, Math.ceil(floats / 4) * 16), usage });
  const d = new Float32Array(Math.ceil(floats / 4) * 4).map(() => Math.random() - 0.5);
  device.queue.writeBuffer(b, 0, d);
  return b;
}

async function time(spec: KernelSpec, bufs: GPUBuffer[]): Promise<number> {
  const pipe = await device.createComputePipelineAsync({
    layout: 'auto',
    compute: { module: device.createShaderModule({ code: spec.wgsl }), entryPoint: 'main' },
  });
  const bg = device.createBindGroup({
    layout: pipe.getBindGroupLayout(0),
    entries: bufs.map((buffer, binding) => ({ binding, resource: { buffer } })),
  });
  const once = async () => {
    const enc = device.createCommandEncoder();
    const p = enc.beginComputePass();
    p.setPipeline(pipe);
    p.setBindGroup(0, bg);
    p.dispatchWorkgroups(...spec.grid);
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
  return ts.sort((a, b) => a - b)[Math.floor(ts.length / 2)]!;
}

const opts = kernelOptions(dev.limits);
const rows: string[] = [];
for (const l of layers) {
  const [n, cin, h, w] = l.x;
  const k = l.a.kernel;
  const ho = Math.floor((h + 2 * l.a.padding - l.a.dilation * (k - 1) - 1) / l.a.stride) + 1;
  const wo = Math.floor((w + 2 * l.a.padding - l.a.dilation * (k - 1) - 1) / l.a.stride) + 1;
  const out = [n, l.a.channels, ho, wo];
  const flops = 2 * n * l.a.channels * ho * wo * (cin / l.a.groups) * k * k;
  const ctx = { inputs: [l.x], out, attrs: l.a, params: [[l.a.channels, cin / l.a.groups, k, k]], opts };
  const bufs = [
    buffer(n * cin * h * w),
    buffer((l.a.channels * cin * k * k) / l.a.groups),
    buffer(out.reduce((a, b) => a * b, 1)),
  ];
  const depthwise = l.a.groups > 1 && l.a.groups === cin;
  const cells: string[] = [];
  for (const t of depthwise ? [TILINGS[0]!] : TILINGS) {
    const spec = conv2dKernel(ctx, t);
    const ms = await time(spec, bufs);
    cells.push(`${ms.toFixed(1)} ms (${(flops / ms / 1e6).toFixed(1)})`);
    console.log(
      `${l.name.padEnd(30)} ${spec.name!.padEnd(28)} tm ${t.tm} tn ${4 * t.vecs}: ${ms.toFixed(1)} ms, ${(flops / ms / 1e6).toFixed(2)} GFLOP/s`,
    );
  }
  rows.push(
    `| ${l.name} | [${l.x.join(', ')}] → [${out.join(', ')}] | ${(flops / 1e9).toFixed(2)} | ${cells.join(' | ')}${depthwise ? ' | — '.repeat(TILINGS.length - 1) : ''} |`,
  );
  for (const b of bufs) b.destroy();
}

const md = [
  `# Conv kernels on ${dev.description.replace(/^using /, '')}`,
  '',
  `Median of ${REPEATS} runs after a warm-up, one dispatch per run with a queue sync (ms, and GFLOP/s in parentheses).`,
  'Columns: register blocking TM output channels × TN output pixels per invocation (depthwise: its own kernel).',
  '',
  `| layer | shape | GFLOP | ${TILINGS.map((t) => `${t.tm}×${4 * t.vecs}`).join(' | ')} |`,
  `| --- | --- | --- | ${TILINGS.map(() => '---').join(' | ')} |`,
  ...rows,
  '',
].join('\n');
if (!QUICK) {
  const file = join(import.meta.dirname, 'results', `conv-${dev.kind}.md`);
  writeFileSync(file, md);
  console.log(`wrote ${file}`);
}
dev.destroy();
process.exit(0);
