// Whole-model inference on the adapter at hand: compile time, first run (shader compilation included), steady
// ms/image and GFLOP/s, and where the time goes by op (each step timed alone with a queue sync: the GL
// compatibility adapter has no timestamp queries).
// Run: node bin/run-ts.js bench/infer.bench.ts [spec] [size] [width]   e.g. specs/enc_jpu_r50.fcn 256 64
import { buildGraph } from '../compiler/index.ts';
import { seededParams } from '../compiler/ir/interpret.ts';
import { compile } from '../compiler/compile.ts';
import { numel } from '../compiler/ir/types.ts';
import { openDevice } from '../runtime/device.ts';
import { Session } from '../runtime/execute.ts';
import { tuningFor } from '../runtime/tuning.ts';

const [spec = 'specs/enc_jpu_r50.fcn', sizeArg = '256', widthArg = '64'] = process.argv.slice(2);
const size = Number(sizeArg);
const dev = await openDevice();
console.log(dev.description);

let t = performance.now();
const r = buildGraph(spec, { height: size, width: size, settings: { width: Number(widthArg) } });
const g = r.graph;
if (!g) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
const tuning = process.env.DEFAULT_TUNING === '1' ? {} : tuningFor(dev);
const mode = process.env.UNFUSED === '1' ? 'none' : 'inference';
const { program } = compile(g, { limits: dev.limits, tuning, mode });
const forward = program.entries.forward;
const macs = g.nodes.reduce((a, n) => {
  if (n.op !== 'conv2d' && n.op !== 'linear') return a;
  const x = g.nodes[n.inputs[0]!]!.shape;
  if (n.op === 'linear') return a + numel(n.shape) * x[1]!;
  return a + numel(n.shape) * (x[1]! / (n.attrs.groups as number)) * (n.attrs.kernel as number) ** 2;
}, 0);
const bytes = program.buffers.reduce((a, b) => a + b.bytes, 0);
console.log(`tuning ${JSON.stringify(tuning)}`);
console.log(
  `${g.model} ${size}×${size} width ${widthArg}: ${g.nodes.length} nodes → ${forward.steps.length} steps (${mode}), ${program.kernels.length} kernels, ${program.buffers.length} buffers (${(bytes / 2 ** 20).toFixed(0)} MiB); ${(macs / 1e9).toFixed(2)} GMAC; compile ${(performance.now() - t).toFixed(0)} ms`,
);

const params = new Map([...seededParams(g, 1)].map(([k, v]) => [k, Float32Array.from(v)]));
t = performance.now();
const s = await Session.create(dev, program);
const tCreate = performance.now() - t;
await s.setParams(params);
console.log(
  `Session.create: ${tCreate.toFixed(0)} ms, setParams: ${(performance.now() - t - tCreate).toFixed(0)} ms`,
);
const input = new Map(
  forward.inputs.map((i) => [i.name, new Float32Array(numel(i.shape)).map(() => Math.random())]),
);
t = performance.now();
await s.run(input);
console.log(`first run (shaders compile): ${(performance.now() - t).toFixed(0)} ms`);
const ms = await s.time(input, 2);
console.log(`steady: ${ms.toFixed(0)} ms/image, ${((2 * macs) / ms / 1e6).toFixed(1)} GFLOP/s`);

// Per-op breakdown: one submit per step (the anchor op of a fused kernel names it).
const byOp = new Map<string, number>();
const stepTimes = await s.timeSteps(input);
forward.steps.forEach((st, k) => {
  const op = st.nodes[0]?.op ?? st.kernel.replace(/_.*/, '');
  const key = op === 'conv2d' ? st.kernel.replace(/_k\d+(_\d+)?$/, '') : op;
  byOp.set(key, (byOp.get(key) ?? 0) + stepTimes[k]!);
});
const total = [...byOp.values()].reduce((a, b) => a + b, 0);
for (const [k, v] of [...byOp].sort((a, b) => b[1] - a[1]).slice(0, 15))
  console.log(`  ${k.padEnd(28)} ${v.toFixed(1).padStart(8)} ms  ${((100 * v) / total).toFixed(1)}%`);
s.destroy();
dev.destroy();
process.exit(0);
