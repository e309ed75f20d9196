// fcnc against ONNX Runtime Web's WebGPU execution provider on the same adapter: EncNet+JPU R50 (full width, 59
// classes, batch 1) at 256×256, the same weights on both sides.
//
// The peer: the network built in PyTorch by the parity fixtures' model (official module names), exported to ONNX
// with torch.onnx.export (bench/ort/export_onnx.py, opset 17), run by onnxruntime-web's WebGPU EP in this Node
// process on Dawn (bench/ort/peer.ts says what that takes). onnxruntime-web is installed on demand into
// bench/.peers/ (ignored by git; env ORT_VERSION, default 1.30.0), the model exported there on first use (env
// PYTHON, default /usr/bin/python3, with torch). Neither is a dependency of fcnc.
//
// Programs, each compiled, loaded and warmed up (2 forwards), then timed in alternation — ROUNDS rounds each running
// every program once (fcnc tuned, ORT, fcnc unfused, fcnc tuned, ORT, …), so a neighbour's load falls on all alike:
//   fcnc fused + tuned   the inference pipeline, kernels chosen by measurement (compileTuned, env TUNE: full by
//                        default — every conv problem timed first, not part of the timing — or cached)
//   ORT WebGPU           onnxruntime-web's WebGPU EP, its default graph optimisations (level 'all')
//   fcnc unfused 16×8    one kernel per op, the fixed register-blocked 16×8 conv tiling (for reference)
// A forward on every side = upload the image, every dispatch, read every output (logits, se, aux) back to the CPU.
// Checked before timing: ORT runs on WebGPU (its node placements, from a verbose-logging session, must put every
// node on the WebGpuExecutionProvider; the dispatches of one ORT forward are counted), both run on the same adapter,
// and both produce the same outputs (max relative error against PyTorch's float64 outputs, and against each other).
//
// Run on an idle machine: npm run bench:ort [-- SIZE [ROUNDS]]   (defaults 256, 5)
//   → bench/results/ort-<software|gpu>.md and .json for the standard run (256²); another size writes only with
//     OUT=file.md (the JSON beside it). A smoke run: `npm run bench:ort -- 64 1` (TUNE=cached is quicker).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { buildGraph } from '../compiler/index.ts';
import { compile } from '../compiler/compile.ts';
import { compileTuned, paramSpecs } from '../compiler/cli/shared.ts';
import { compareStateDicts, type TensorComparison } from '../runtime/compare.ts';
import { openDevice } from '../runtime/device.ts';
import { Session } from '../runtime/execute.ts';
import { loadParams } from '../runtime/params.ts';
import { readSafetensors } from '../runtime/weights/index.ts';
import { toFloat32, type HostTensor, type StateDict } from '../runtime/weights/tensor.ts';
import type { TuneMode } from '../runtime/tune.ts';
import {
  captureOrtLog,
  countDispatches,
  ensureOrt,
  importOrt,
  openPeerDevice,
  ORT_VERSION,
  shimSharedWrites,
  type OrtSession,
  type OrtTensor,
} from './ort/peer.ts';

const ROOT = join(import.meta.dirname, '..');
const SPEC = 'specs/enc_jpu_r50.fcn';
const [sizeArg = '256', roundsArg = '5'] = process.argv.slice(2);
const size = Number(sizeArg);
const ROUNDS = Number(roundsArg);
if (!(size >= 32) || !(ROUNDS >= 1)) throw new Error('usage: ort.bench.ts [SIZE ≥ 32 [ROUNDS ≥ 1]]');
const tune = (process.env.TUNE ?? 'full') as TuneMode;
if (tune !== 'full' && tune !== 'cached') throw new Error(`TUNE=${tune}: full or cached`);
const standard = size === 256;
const WARMUP = 2;
/** Relative error (max|a − b| / max|b|) under which two implementations count as agreeing. */
const AGREE = 1e-3;
/** The fixed tiling before per-problem tuning (as bench/tuning.bench.ts). */
const FIXED = { 'conv2d.tm': 16, 'conv2d.tn': 8 };
const OUTPUTS = ['logits', 'se', 'aux'] as const;

const log = (l: string): void => console.log(l);
const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const seconds = (t0: number): number => (performance.now() - t0) / 1000;

// ---- the peer and its model, on demand
const peers = join(ROOT, 'bench', '.peers');
const ortDir = ensureOrt(peers, log);
const modelDir = join(peers, `enc_jpu_r50_${size}`);
if (
  !['model.onnx', 'weights.safetensors', 'input.safetensors', 'torch.safetensors'].every((f) =>
    existsSync(join(modelDir, f)),
  )
) {
  const python = process.env.PYTHON ?? '/usr/bin/python3';
  log(`exporting the model with PyTorch into ${modelDir}`);
  const r = spawnSync(
    python,
    [join(ROOT, 'bench', 'ort', 'export_onnx.py'), '--size', String(size), '--out', modelDir],
    {
      stdio: 'inherit',
    },
  );
  if (r.status !== 0) throw new Error(`bench/ort/export_onnx.py failed (exit ${r.status})`);
}
const exportInfo = JSON.parse(readFileSync(join(modelDir, 'export.json'), 'utf8')) as Record<string, unknown>;
const readTensors = (f: string): StateDict => readSafetensors(readFileSync(join(modelDir, f)), f).tensors;
const image = toFloat32(readTensors('input.safetensors').get('image')!);
const reference = readTensors('torch.safetensors');

// ---- fcnc
const dev = await openDevice();
log(dev.description);
const built = buildGraph(join(ROOT, SPEC), { height: size, width: size });
if (!built.graph) throw new Error(built.diagnostics.map((d) => d.message).join('\n'));
const g = built.graph;
const { params } = await loadParams(paramSpecs(g), { weights: join(modelDir, 'weights.safetensors') });
let t0 = performance.now();
const tunedLines: string[] = [];
const tuned = await compileTuned(g, dev, tune, { info: (l) => (tunedLines.push(l), log(l)) });
const tuneSeconds = seconds(t0);
const unfused = compile(g, { limits: dev.limits, tuning: FIXED, mode: 'none' });

interface Runner {
  readonly label: string;
  run(): Promise<Map<string, Float32Array>>;
  readonly times: number[];
}
const fcncRunner = async (
  label: string,
  program: typeof tuned.program,
): Promise<Runner & { session: Session }> => {
  const session = await Session.create(dev, program);
  await session.setParams(params);
  const input = new Map([[program.entries.forward.inputs[0]!.name, image]]);
  return {
    label,
    session,
    run: () => session.run(input),
    times: [],
  };
};
const fcncTuned = await fcncRunner(`fcnc fused + tuned (${tune})`, tuned.program);
const fcncUnfused = await fcncRunner('fcnc unfused, fixed 16×8', unfused.program);

// ---- ORT Web, WebGPU EP, on a device of the same adapter
shimSharedWrites();
const peer = await openPeerDevice(dev);
log(`ORT's adapter: ${peer.name} (${peer.how}); same adapter as fcnc: ${peer.sameAdapter ? 'yes' : 'NO'}`);
if (!peer.sameAdapter)
  throw new Error(`ORT got another adapter (${peer.name}) than fcnc (${dev.description})`);
const ort = await importOrt(ortDir);
ort.env.wasm.numThreads = 1; // the EP does the work; no WebAssembly worker threads competing with llvmpipe's
ort.env.webgpu.adapter = peer.adapter;
const modelBytes = new Uint8Array(readFileSync(join(modelDir, 'model.onnx')));
const sessionOptions = (severity: number): Record<string, unknown> => ({
  executionProviders: [{ name: 'webgpu', device: peer.device }],
  graphOptimizationLevel: 'all',
  logSeverityLevel: severity,
  logVerbosityLevel: 0,
});

// ORT's default logger is set up once, at its first session, from env.logLevel: keep it at 'warning' (verbose
// logging there would print every shader and slow every run). A session's own logger has the session's severity.
ort.env.logLevel = 'warning';
// Placement check: a first session with verbose session logging (ORT logs where each node goes while it creates
// the session; that logger also logs every dispatch of its runs, so the timed session is another one). The first
// session pays for the EP's setup (the context on the device, weight layout transforms, shader compilation), so its
// creation time is the cold one.
let placement = '(not checked: ORT_VERIFY=0)';
let allOnWebGpu: boolean | undefined;
let ortColdSeconds: number | undefined;
if (process.env.ORT_VERIFY !== '0') {
  log('ORT: checking node placement (a session with verbose logging)…');
  t0 = performance.now();
  const { result: s, log: text } = await captureOrtLog(() =>
    ort.InferenceSession.create(modelBytes, sessionOptions(0)),
  );
  ortColdSeconds = seconds(t0);
  await s.release();
  const lines = text
    .split('\n')
    .filter((l) => /VerifyEachNodeIsAssignedToAnEp|not assigned to the preferred/.test(l))
    .map((l) => l.replace(/^.*?\] /, '').trim());
  placement = lines.join('\n') || '(ORT logged no node placement)';
  allOnWebGpu = lines.some((l) => /All nodes placed on \[WebGpuExecutionProvider\]/.test(l));
  log(`ORT: ${placement.replace(/\n/g, '; ')}`);
  if (!allOnWebGpu) throw new Error(`ORT did not place every node on its WebGPU EP:\n${placement}`);
}
t0 = performance.now();
const { result: ortSession, log: ortWarnings } = await captureOrtLog((): Promise<OrtSession> =>
  ort.InferenceSession.create(modelBytes, sessionOptions(2)),
);
const ortSessionSeconds = seconds(t0);
if (ortWarnings.trim()) process.stderr.write(`ORT's warnings while creating its session:\n${ortWarnings}`);
const feeds = { image: new ort.Tensor('float32', image, [1, 3, size, size]) };
const toMap = (o: Record<string, OrtTensor>): Map<string, Float32Array> =>
  new Map(OUTPUTS.map((k) => [k, o[k]!.data]));
const ortRunner: Runner = {
  label: `ORT Web ${ORT_VERSION}, WebGPU EP`,
  run: async () => toMap(await ortSession.run(feeds)),
  times: [],
};

// ---- warm-up, dispatch counts, outputs
const runners = [fcncTuned, ortRunner, fcncUnfused];
const outputs = new Map<Runner, Map<string, Float32Array>>();
const counted = new Map<Runner, { dispatches: number; submits: number }>();
let ortRunLog = '';
for (const r of runners)
  for (let k = 0; k < WARMUP; k++) {
    const { result: c, log: text } = await captureOrtLog(() => countDispatches(() => r.run()));
    if (r === ortRunner && k === WARMUP - 1) ortRunLog = text;
    outputs.set(r, c.result);
    counted.set(r, { dispatches: c.dispatches, submits: c.submits });
  }
if (ortRunLog.trim()) process.stderr.write(`ORT logged during a forward (should be quiet):\n${ortRunLog}`);
const ortCount = counted.get(ortRunner)!;
log(
  `ORT: ${ortCount.dispatches} compute dispatches in ${ortCount.submits} submits per forward (counted on the GPU API)`,
);
if (ortCount.dispatches === 0) throw new Error('ORT ran a forward without a single WebGPU dispatch');

const shapes = new Map(OUTPUTS.map((k) => [k, reference.get(k)!.shape]));
const dict = (m: Map<string, Float32Array>): StateDict =>
  new Map(OUTPUTS.map((k) => [k, { dtype: 'f32', shape: shapes.get(k)!, data: m.get(k)! } as HostTensor]));
const vsTorch = (r: Runner) => compareStateDicts(dict(outputs.get(r)!), reference, AGREE).tensors;
const checks: { pair: string; tensors: readonly TensorComparison[] }[] = [
  { pair: `${fcncTuned.label} vs PyTorch float64`, tensors: vsTorch(fcncTuned) },
  { pair: `${ortRunner.label} vs PyTorch float64`, tensors: vsTorch(ortRunner) },
  { pair: `${fcncUnfused.label} vs PyTorch float64`, tensors: vsTorch(fcncUnfused) },
  {
    pair: `${fcncTuned.label} vs ${ortRunner.label}`,
    tensors: compareStateDicts(dict(outputs.get(fcncTuned)!), dict(outputs.get(ortRunner)!), AGREE).tensors,
  },
];
const agree = checks.every((c) => c.tensors.every((t) => t.ok));
for (const c of checks)
  log(
    `${c.pair}: ${c.tensors.map((t) => `${t.name} ${t.maxRel.toExponential(2)}${t.argmaxAgreement !== undefined ? ` (argmax ${(100 * t.argmaxAgreement).toFixed(2)}%)` : ''}`).join(', ')}`,
  );
if (!agree) console.warn(`warning: the outputs differ by more than ${AGREE} (relative): see above`);

// ---- rounds
for (let k = 0; k < ROUNDS; k++) {
  for (const r of runners) {
    t0 = performance.now();
    await r.run();
    r.times.push(performance.now() - t0);
  }
  log(
    `round ${k + 1}/${ROUNDS}: ${runners.map((r) => `${r.label} ${r.times.at(-1)!.toFixed(0)} ms`).join(', ')}`,
  );
}
fcncTuned.session.destroy();
fcncUnfused.session.destroy();
await ortSession.release();

// ---- report
const speedup = (slow: Runner, fast: Runner) => ({
  median: median(slow.times) / median(fast.times),
  fastest: Math.min(...slow.times) / Math.min(...fast.times),
});
const vsOrt = speedup(ortRunner, fcncTuned);
const vsOrtUnfused = speedup(ortRunner, fcncUnfused);
const fusedTuning = speedup(fcncUnfused, fcncTuned);
const TARGET = 8;
const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}`;
const webgpuVersion = (
  JSON.parse(readFileSync(join(ROOT, 'node_modules', 'webgpu', 'package.json'), 'utf8')) as {
    version: string;
  }
).version;
const dispatchesOf = (r: Runner) => counted.get(r)!.dispatches;
const fmtX = (s: { median: number; fastest: number }) =>
  `${s.median.toFixed(2)}× (fastest ${s.fastest.toFixed(2)}×)`;
const rows = runners.map(
  (r) =>
    `| ${r.label} | ${dispatchesOf(r)} | ${median(r.times).toFixed(0)} | ${Math.min(...r.times).toFixed(0)} | ${r.times.map((t) => t.toFixed(0)).join(', ')} |`,
);
const checkRows = checks.flatMap((c) =>
  c.tensors.map(
    (t) =>
      `| ${c.pair} | ${t.name} | ${t.maxAbs.toExponential(2)} | ${t.maxRel.toExponential(2)} | ${t.argmaxAgreement !== undefined ? `${(100 * t.argmaxAgreement).toFixed(2)}%` : ''} |`,
  ),
);
const md = [
  `# fcnc vs ONNX Runtime Web (WebGPU EP), ${g.model} ${size}×${size}, batch 1 — ${dev.description}`,
  '',
  `Date ${new Date().toISOString().slice(0, 10)}; machine: ${machine}; Node ${process.version}; Dawn: the \`webgpu\``,
  `package ${webgpuVersion}; onnxruntime-web ${ORT_VERSION} (its \`webgpu\` build: the native WebGPU EP compiled to`,
  `WebAssembly), in the same Node process; the model exported by PyTorch ${String(exportInfo.torch)} (opset ${String(exportInfo.opset)}).`,
  `Full width, 59 classes, the same weights on both sides (seeded and calibrated by bench/ort/export_onnx.py, loaded`,
  'by fcnc from its safetensors file), the same input.',
  '',
  `Both on one adapter: fcnc's device as runtime/device.ts opens it; ORT's a second device on the same adapter`,
  `(${peer.how}) handed to the EP; adapter identity (vendor, architecture, device, description) ${peer.sameAdapter ? 'equal' : 'DIFFERENT'}.`,
  `ORT on WebGPU: ${allOnWebGpu === undefined ? 'placement not checked' : allOnWebGpu ? 'every node placed on the WebGPU EP' : 'NOT every node on the WebGPU EP'} (ORT's log: \`${placement.replace(/\n/g, '; ')}\`);`,
  `one ORT forward = ${ortCount.dispatches} compute dispatches in ${ortCount.submits} queue submits, counted on the WebGPU API.`,
  `ORT's sessions took ${ortColdSeconds !== undefined ? `${ortColdSeconds.toFixed(0)} s (the first) and ` : ''}${ortSessionSeconds.toFixed(0)} s to create; fcnc's tuning (\`--tune ${tune}\`) ${tuneSeconds.toFixed(0)} s${tunedLines.length ? ` (${tunedLines.join('; ').replace(/, choices saved in .*$/, '')})` : ''}. Neither is timed below.`,
  '',
  `After ${WARMUP} warm-up forwards each, ${ROUNDS} rounds, each running every program once in this order. A forward =`,
  'upload the image, every dispatch, read back every output (logits, se, aux) to the CPU.',
  '',
  '| program | dispatches | median ms | fastest ms | every run (ms) |',
  '|---|---:|---:|---:|---|',
  ...rows,
  '',
  `- **fcnc fused + tuned vs ORT Web WebGPU: ${fmtX(vsOrt)}** (target ≥ ${TARGET}×: ${vsOrt.median >= TARGET ? 'met' : 'NOT met'})`,
  `- fcnc unfused (fixed 16×8) vs ORT: ${fmtX(vsOrtUnfused)}`,
  `- fcnc fused + tuned vs fcnc unfused: ${fmtX(fusedTuning)}`,
  '',
  `Same outputs? Max relative error = max|a − b| / max|b|, b the reference; argmax agreement of the class scores`,
  `(${agree ? `all within ${AGREE}` : `NOT all within ${AGREE}`}):`,
  '',
  '| pair | output | max abs | max rel | argmax agree |',
  '|---|---|---:|---:|---:|',
  ...checkRows,
  '',
].join('\n');
const json = {
  format: 'fcnc-ort-bench',
  date: new Date().toISOString(),
  model: g.model,
  size,
  batch: 1,
  adapter: dev.description,
  adapterKind: dev.kind,
  peerAdapter: peer.name,
  sameAdapter: peer.sameAdapter,
  machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? null, node: process.version },
  versions: {
    webgpu: webgpuVersion,
    onnxruntimeWeb: ORT_VERSION,
    torch: exportInfo.torch,
    opset: exportInfo.opset,
  },
  tune,
  tuneSeconds,
  ortSessionSeconds,
  ortFirstSessionSeconds: ortColdSeconds ?? null,
  ortPlacement: placement,
  ortAllNodesOnWebGpu: allOnWebGpu ?? null,
  ortDispatches: ortCount.dispatches,
  ortSubmits: ortCount.submits,
  protocol: { warmup: WARMUP, rounds: ROUNDS, order: runners.map((r) => r.label) },
  programs: runners.map((r) => ({
    label: r.label,
    dispatches: dispatchesOf(r),
    medianMs: median(r.times),
    fastestMs: Math.min(...r.times),
    timesMs: r.times,
  })),
  speedup: { tunedVsOrt: vsOrt, unfusedVsOrt: vsOrtUnfused, tunedVsUnfused: fusedTuning, target: TARGET },
  agreement: {
    tolerance: AGREE,
    ok: agree,
    checks: checks.map((c) => ({
      pair: c.pair,
      tensors: c.tensors.map((t) => ({
        name: t.name,
        maxAbs: t.maxAbs,
        maxRel: t.maxRel,
        argmaxAgreement: t.argmaxAgreement ?? null,
      })),
    })),
  },
};
console.log(`\n${md}`);
const out = process.env.OUT ?? (standard ? join(ROOT, 'bench', 'results', `ort-${dev.kind}.md`) : undefined);
if (out) {
  writeFileSync(out, md);
  writeFileSync(out.replace(/\.md$/, '') + '.json', JSON.stringify(json, null, 1) + '\n');
  log(`wrote ${out} and its .json`);
} else log('(not written: a non-standard run; set OUT=file.md to write it)');
dev.destroy();
process.exit(0);
