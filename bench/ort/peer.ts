// The peer of bench/ort.bench.ts: ONNX Runtime Web with its WebGPU execution provider, run in Node on Dawn (the
// `webgpu` package fcnc uses) on the same adapter as fcnc. Nothing here is a dependency of fcnc: onnxruntime-web is
// installed on demand into bench/.peers/ (ignored by git), and the ONNX model is exported there by
// bench/ort/export_onnx.py with Debian's python3-torch.
//
// What it takes to run ORT Web's WebGPU EP in Node (onnxruntime-web 1.30: its `webgpu` build is the native C++
// WebGPU EP compiled to WebAssembly, reaching WebGPU through emscripten's emdawnwebgpu JavaScript bindings):
//  - `navigator.gpu` must exist (Node 20 has no `navigator`): ORT checks for it and asks it for an adapter unless
//    `env.webgpu.adapter` is set. We set both, and hand the EP a GPUDevice of our own (`executionProviders:
//    [{ name: 'webgpu', device }]`), requested the way fcnc's runtime/device.ts requests its own: the same Dawn
//    backend and adapter options (on the software adapter `backend=opengl` and featureLevel 'compatibility' —
//    Dawn's OpenGL backend offers no core adapter), every limit and feature the adapter offers.
//  - Dawn's node bindings (0.6.2) refuse a typed array over a SharedArrayBuffer in GPUQueue.writeBuffer ("Error:
//    Invalid argument"; outside a debugger the process usually dies with SIGSEGV instead), and ORT's threaded
//    WebAssembly build passes views of its shared memory there. `shimSharedWrites` copies such a view into an
//    ordinary ArrayBuffer first (a view over an ordinary buffer, as fcnc passes, goes through untouched).
//  - ORT's model loader in Node takes bytes, not a path (a path is `fetch`ed as a URL and fails).
import { spawnSync } from 'node:child_process';
import fs, { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { adapterName, type OpenedDevice } from '../../runtime/device.ts';

/** The onnxruntime-web version installed on demand (env ORT_VERSION overrides). */
export const ORT_VERSION = process.env.ORT_VERSION ?? '1.30.0';

/** The few parts of onnxruntime-web's API the bench uses. */
export interface OrtTensor {
  readonly dims: readonly number[];
  readonly data: Float32Array;
  readonly location: string;
}
export interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}
export interface Ort {
  readonly env: {
    logLevel: string;
    wasm: { numThreads: number };
    webgpu: { adapter?: unknown };
    versions: Record<string, string>;
  };
  readonly Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => OrtTensor;
  readonly InferenceSession: {
    create(model: Uint8Array, options: Record<string, unknown>): Promise<OrtSession>;
  };
}

/** Installs onnxruntime-web@ORT_VERSION into `peers` (npm install --prefix) unless that version is there. */
export function ensureOrt(peers: string, log: (l: string) => void): string {
  const pkg = join(peers, 'node_modules', 'onnxruntime-web', 'package.json');
  const have = existsSync(pkg)
    ? (JSON.parse(readFileSync(pkg, 'utf8')) as { version?: string }).version
    : undefined;
  if (have !== ORT_VERSION) {
    mkdirSync(peers, { recursive: true });
    // A package.json of its own, so that npm installs here rather than into the enclosing project.
    if (!existsSync(join(peers, 'package.json')))
      writeFileSync(
        join(peers, 'package.json'),
        '{ "private": true, "description": "peers installed on demand by fcnc benchmarks (bench/ort.bench.ts)" }\n',
      );
    log(`installing onnxruntime-web@${ORT_VERSION} into ${peers} (on demand; not a dependency of fcnc)`);
    const r = spawnSync(
      'npm',
      ['install', '--prefix', peers, '--no-audit', '--no-fund', `onnxruntime-web@${ORT_VERSION}`],
      { stdio: 'inherit' },
    );
    if (r.status !== 0)
      throw new Error(`npm install onnxruntime-web@${ORT_VERSION} failed (exit ${r.status})`);
  }
  return join(peers, 'node_modules', 'onnxruntime-web');
}

let sharedWritesShimmed = false;

/** GPUQueue.writeBuffer with a SharedArrayBuffer-backed view: copy it into an ordinary buffer first (see above). */
export function shimSharedWrites(): void {
  if (sharedWritesShimmed) return;
  sharedWritesShimmed = true;
  const proto = (globalThis as unknown as { GPUQueue: { prototype: GPUQueue } }).GPUQueue.prototype;
  const write = proto.writeBuffer as (this: GPUQueue, ...args: unknown[]) => undefined;
  proto.writeBuffer = function (
    this: GPUQueue,
    buffer: GPUBuffer,
    offset: number,
    data: ArrayBufferView | ArrayBuffer | SharedArrayBuffer,
    dataOffset?: number,
    size?: number,
  ): undefined {
    if (ArrayBuffer.isView(data) && data.buffer instanceof SharedArrayBuffer) {
      // Offsets and sizes count elements of a typed array (bytes of a DataView).
      const a = data as unknown as Uint8Array;
      const from = dataOffset ?? 0;
      return write.call(this, buffer, offset, a.slice(from, from + (size ?? a.length - from)));
    }
    if (data instanceof SharedArrayBuffer) {
      const from = dataOffset ?? 0;
      const bytes = new Uint8Array(data, from, size ?? data.byteLength - from).slice();
      return write.call(this, buffer, offset, bytes);
    }
    const args: unknown[] = [buffer, offset, data];
    if (dataOffset !== undefined) args.push(dataOffset);
    if (size !== undefined) args.push(size);
    return write.call(this, ...args);
  } as GPUQueue['writeBuffer'];
}

/** Dawn instances must outlive every adapter and device made from them (see runtime/device.ts). */
const keepAlive: unknown[] = [];

export interface PeerDevice {
  readonly device: GPUDevice;
  readonly adapter: GPUAdapter;
  /** adapterName() of the peer's adapter. */
  readonly name: string;
  /** How it was requested: Dawn flags and adapter options. */
  readonly how: string;
  /** Whether vendor, architecture, device and description equal those of fcnc's adapter. */
  readonly sameAdapter: boolean;
}

/**
 * A second device on the adapter fcnc opened (`dev`): a new Dawn instance with the same backend, the same adapter
 * options, every limit and feature. Also installs `navigator.gpu` (an object whose requestAdapter adds those
 * options) for ORT's environment check.
 */
export async function openPeerDevice(dev: OpenedDevice): Promise<PeerDevice> {
  const { create } = (await import('webgpu')) as { create(flags: string[]): GPU };
  const vulkanSoftware = (process.env.FCNC_SOFTWARE_BACKEND || 'opengl') === 'vulkan';
  const opengl = dev.kind === 'software' && !vulkanSoftware;
  const flags = opengl ? ['backend=opengl'] : [];
  const options: Record<string, unknown> =
    dev.kind === 'gpu'
      ? { powerPreference: 'high-performance' }
      : opengl
        ? { featureLevel: 'compatibility' }
        : {};
  const gpu = create(flags);
  keepAlive.push(gpu);
  const adapter = await gpu.requestAdapter(options as GPURequestAdapterOptions);
  if (!adapter) throw new Error(`no adapter for the peer (flags ${flags.join(' ') || 'none'})`);
  const requiredLimits: Record<string, number> = {};
  for (const k in adapter.limits) {
    const v = (adapter.limits as unknown as Record<string, unknown>)[k];
    if (typeof v === 'number') requiredLimits[k] = v;
  }
  const device = await adapter.requestDevice({
    requiredLimits,
    requiredFeatures: [...adapter.features] as GPUFeatureName[],
  });
  device.onuncapturederror = (ev) => process.stderr.write(`ORT's device: ${ev.error.message}\n`);
  const fields = (i: GPUAdapterInfo) => [i.vendor, i.architecture, i.device, i.description].join('|');
  (globalThis as unknown as { navigator: unknown }).navigator = {
    gpu: {
      requestAdapter: (o: GPURequestAdapterOptions = {}) => gpu.requestAdapter({ ...o, ...options }),
      getPreferredCanvasFormat: () => 'rgba8unorm',
      wgslLanguageFeatures: gpu.wgslLanguageFeatures,
    },
  };
  return {
    device,
    adapter,
    name: adapterName(adapter.info),
    how: `Dawn flags [${flags.join(', ')}], requestAdapter(${JSON.stringify(options)}), every limit and feature`,
    sameAdapter: fields(adapter.info) === fields(dev.adapterInfo),
  };
}

/** Imports ORT Web's WebGPU build (the non-minified ESM file: clearer stack traces, same code). */
export async function importOrt(ortDir: string): Promise<Ort> {
  return (await import(pathToFileURL(join(ortDir, 'dist', 'ort.webgpu.mjs')).href)) as Ort;
}

/**
 * Runs `body` with everything the ORT WebAssembly module writes to stdout/stderr (it writes with fs.writeSync on
 * descriptors 1 and 2) captured instead of printed; returns body's result and the captured text.
 */
export async function captureOrtLog<T>(body: () => Promise<T>): Promise<{ result: T; log: string }> {
  const original = fs.writeSync;
  const parts: string[] = [];
  (fs as { writeSync: unknown }).writeSync = function (fd: number, data: unknown, ...rest: unknown[]) {
    if ((fd === 1 || fd === 2) && typeof data === 'string') {
      parts.push(data);
      return Buffer.byteLength(data);
    }
    return (original as (...a: unknown[]) => number).call(fs, fd, data, ...rest);
  };
  try {
    const result = await body();
    return { result, log: parts.join('') };
  } finally {
    (fs as { writeSync: unknown }).writeSync = original;
  }
}

/** Counts compute dispatches and queue submits while `body` runs (on every device: run one thing at a time). */
export async function countDispatches<T>(
  body: () => Promise<T>,
): Promise<{ result: T; dispatches: number; submits: number }> {
  const g = globalThis as unknown as {
    GPUComputePassEncoder: { prototype: GPUComputePassEncoder };
    GPUQueue: { prototype: GPUQueue };
  };
  const pass = g.GPUComputePassEncoder.prototype;
  const queue = g.GPUQueue.prototype;
  const dispatch = pass.dispatchWorkgroups;
  const indirect = pass.dispatchWorkgroupsIndirect;
  const submit = queue.submit;
  let dispatches = 0;
  let submits = 0;
  pass.dispatchWorkgroups = function (this: GPUComputePassEncoder, ...a: Parameters<typeof dispatch>) {
    dispatches++;
    return dispatch.apply(this, a);
  };
  pass.dispatchWorkgroupsIndirect = function (
    this: GPUComputePassEncoder,
    ...a: Parameters<typeof indirect>
  ) {
    dispatches++;
    return indirect.apply(this, a);
  };
  queue.submit = function (this: GPUQueue, ...a: Parameters<typeof submit>) {
    submits++;
    return submit.apply(this, a);
  };
  try {
    const result = await body();
    return { result, dispatches, submits };
  } finally {
    pass.dispatchWorkgroups = dispatch;
    pass.dispatchWorkgroupsIndirect = indirect;
    queue.submit = submit;
  }
}
