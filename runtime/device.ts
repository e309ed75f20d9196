// Device: picks a WebGPU adapter (a real GPU first, else Mesa llvmpipe through Dawn's OpenGL backend in
// compatibility mode), asks for every limit it offers, and turns uncaptured errors and device loss into clear
// messages. See /work/shared/gpu/README.md (or docs/) for why each step is the way it is.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { isMainThread } from 'node:worker_threads';

export type AdapterChoice = 'auto' | 'gpu' | 'software';

export interface OpenDeviceOptions {
  /** 'auto' (default): a real GPU if there is one, else the software adapter. Env FCNC_ADAPTER overrides the default. */
  readonly adapter?: AdapterChoice;
  /** Extra Dawn toggles for create(), e.g. 'disable-dawn-features=timestamp_quantization'. */
  readonly dawnFlags?: readonly string[];
  /**
   * The software adapter's route: 'opengl' (default: Mesa llvmpipe through Dawn's OpenGL backend, compatibility mode)
   * or 'vulkan' (a software Vulkan driver such as Mesa lavapipe ≥ 25 or SwiftShader, chosen with VK_ICD_FILENAMES:
   * core features and timestamp queries). Env FCNC_SOFTWARE_BACKEND overrides the default.
   */
  readonly softwareBackend?: 'opengl' | 'vulkan';
  /** Called with each uncaptured GPU error; default: printed on stderr (once per distinct message). */
  readonly onError?: (message: string) => void;
}

export interface OpenedDevice {
  readonly device: GPUDevice;
  readonly adapterInfo: GPUAdapterInfo;
  readonly kind: 'gpu' | 'software';
  /** One line for logs: "using software adapter: llvmpipe (LLVM 15.0.6, 256 bits) via OpenGL compatibility — no GPU found". */
  readonly description: string;
  /** Every numeric limit of the device (all the adapter reports were requested). */
  readonly limits: Readonly<Record<string, number>>;
  readonly features: readonly string[];
  /** Set once the device is lost: why. */
  readonly lostReason: () => string | undefined;
  destroy(): void;
}

/** Thrown when no adapter can be opened; `message` says what to install or set. */
export class NoAdapterError extends Error {}

// Dawn is torn down when the object create() returned is garbage-collected, which kills the process with a mutex
// assertion instead of an exception: keep every such object alive for as long as a device from it may be in use.
const liveInstances = new Set<GPU>();
let globalsInstalled = false;
/** Dawn's node bindings, loaded on first use: a missing package or binary is a NoAdapterError, not an import failure. */
let dawn: { create(flags: string[]): GPU; globals: object } | undefined;

async function loadDawn(): Promise<NonNullable<typeof dawn>> {
  if (dawn) return dawn;
  try {
    const m = (await import('webgpu')) as { create(flags: string[]): GPU; globals: object };
    dawn = { create: m.create, globals: m.globals };
    return dawn;
  } catch (e) {
    throw new NoAdapterError(
      `the webgpu package (Dawn) could not be loaded: ${(e as Error).message}; run \`npm install webgpu\``,
    );
  }
}

function installGlobals(globals: object): void {
  if (globalsInstalled) return;
  // GPUBufferUsage, GPUMapMode, GPUShaderStage, … as globals, like in a browser.
  for (const [k, v] of Object.entries(globals as Record<string, unknown>))
    if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  globalsInstalled = true;
}

const SOFTWARE_RE = /llvmpipe|swiftshader|lavapipe|softpipe|software|microsoft basic render/i;

function infoText(info: GPUAdapterInfo): string {
  return [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ');
}

export function isSoftwareAdapter(adapter: GPUAdapter): boolean {
  const info = adapter.info;
  const fallback =
    (info as { isFallbackAdapter?: boolean }).isFallbackAdapter ??
    (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter;
  return fallback === true || SOFTWARE_RE.test(infoText(info));
}

/** A short human name for an adapter: "llvmpipe (LLVM 15.0.6, 256 bits)", "NVIDIA H100 (nvidia, hopper)". */
export function adapterName(info: GPUAdapterInfo): string {
  const dev = info.device || '';
  const m = /llvmpipe-llvm-(\d+)-(\d+)-(\d+)-(\d+)-bits/i.exec(dev);
  if (m) return `llvmpipe (LLVM ${m[1]}.${m[2]}.${m[3]}, ${m[4]} bits)`;
  const extra = [info.vendor, info.architecture].filter(Boolean).join(', ');
  const name = dev || info.description || 'unknown adapter';
  return extra ? `${name} (${extra})` : name;
}

function allLimits(adapter: GPUAdapter): Record<string, number> {
  const out: Record<string, number> = {};
  // GPUSupportedLimits exposes its fields as prototype getters: `for…in` sees them, Object.keys does not.
  for (const k in adapter.limits) {
    const v = (adapter.limits as unknown as Record<string, unknown>)[k];
    if (typeof v === 'number') out[k] = v;
  }
  return out;
}

interface Found {
  gpu: GPU;
  adapter: GPUAdapter;
  kind: 'gpu' | 'software';
  how: string;
}

/**
 * On Linux Dawn reaches GPUs through Vulkan. Without the Vulkan loader there is no GPU to find, and probing anyway
 * only makes Dawn print native warnings; so look for libvulkan.so.1 first (LD_LIBRARY_PATH, the usual library
 * folders, then the linker cache).
 */
export function vulkanLoaderPresent(): boolean {
  if (process.platform !== 'linux') return true;
  const dirs = [
    ...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean),
    `/usr/lib/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`,
    '/usr/lib64',
    '/usr/lib',
    '/lib64',
    '/lib',
    '/usr/local/lib',
  ];
  if (dirs.some((d) => existsSync(join(d, 'libvulkan.so.1')))) return true;
  try {
    return /libvulkan\.so\.1\b/.test(
      execFileSync('ldconfig', ['-p'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }),
    );
  } catch {
    return true; // cannot tell: let Dawn probe
  }
}

async function findGpu(flags: readonly string[]): Promise<{ found?: Found; why: string }> {
  if (!vulkanLoaderPresent())
    return { why: 'no GPU driver stack (the Vulkan loader libvulkan.so.1 is not installed)' };
  let gpu: GPU;
  try {
    gpu = dawn!.create([...flags]);
  } catch (e) {
    return { why: `Dawn failed to start: ${(e as Error).message}` };
  }
  liveInstances.add(gpu);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' }).catch(() => null);
  if (!adapter) {
    liveInstances.delete(gpu);
    return {
      why: 'no GPU adapter (Dawn default backend found none: is the Vulkan loader libvulkan1 and a GPU driver installed?)',
    };
  }
  if (isSoftwareAdapter(adapter)) {
    liveInstances.delete(gpu);
    return { why: `the default backend offers only a software adapter (${adapterName(adapter.info)})` };
  }
  return { found: { gpu, adapter, kind: 'gpu', how: 'native' }, why: '' };
}

/** A software Vulkan adapter through Dawn's default backend (lavapipe, SwiftShader: see OpenDeviceOptions). */
async function findSoftwareVulkan(flags: readonly string[]): Promise<{ found?: Found; why: string }> {
  const why =
    'no software Vulkan adapter (FCNC_SOFTWARE_BACKEND=vulkan): point VK_ICD_FILENAMES at a software ICD ' +
    "(Mesa lavapipe ≥ 25's lvp_icd.json, SwiftShader's vk_swiftshader_icd.json) and put the Vulkan loader on the library path";
  if (!vulkanLoaderPresent()) return { why };
  let gpu: GPU;
  try {
    gpu = dawn!.create([...flags]);
  } catch (e) {
    return { why: `Dawn failed to start: ${(e as Error).message}` };
  }
  liveInstances.add(gpu);
  const adapter = await gpu.requestAdapter().catch(() => null);
  if (!adapter || !isSoftwareAdapter(adapter)) {
    liveInstances.delete(gpu);
    return { why };
  }
  return { found: { gpu, adapter, kind: 'software', how: 'Vulkan' }, why: '' };
}

async function findSoftware(flags: readonly string[]): Promise<{ found?: Found; why: string }> {
  // Mesa's EGL needs a platform without a display server; Node's main thread passes process.env to setenv(),
  // a worker thread only changes its private copy (so there it must be set before the process starts).
  const eglUnsetInWorker = process.env.EGL_PLATFORM === undefined && !isMainThread;
  if (process.env.EGL_PLATFORM === undefined) process.env.EGL_PLATFORM = 'surfaceless';
  let gpu: GPU;
  try {
    gpu = dawn!.create(['backend=opengl', ...flags]);
  } catch (e) {
    return { why: `Dawn (OpenGL backend) failed to start: ${(e as Error).message}` };
  }
  liveInstances.add(gpu);
  const adapter = await gpu
    .requestAdapter({ featureLevel: 'compatibility' } as GPURequestAdapterOptions)
    .catch(() => null);
  if (!adapter) {
    liveInstances.delete(gpu);
    return {
      why:
        "no software adapter: Dawn's OpenGL backend needs Mesa (Debian: `apt-get install -y libegl-dev libgl1-mesa-dri`) and " +
        'EGL_PLATFORM=surfaceless in the process environment (set it before starting worker threads)' +
        (eglUnsetInWorker
          ? '; this is a worker thread and EGL_PLATFORM was not set when the process started'
          : ''),
    };
  }
  return { found: { gpu, adapter, kind: 'software', how: 'OpenGL compatibility' }, why: '' };
}

function choiceFromEnv(): AdapterChoice | undefined {
  const v = process.env.FCNC_ADAPTER;
  if (v === undefined || v === '') return undefined;
  if (v === 'auto' || v === 'gpu' || v === 'software') return v;
  throw new NoAdapterError(`FCNC_ADAPTER=${v} is not one of auto, gpu, software`);
}

/** Opens a WebGPU device. Throws NoAdapterError (with what to do) when none can be opened. */
export async function openDevice(opts: OpenDeviceOptions = {}): Promise<OpenedDevice> {
  installGlobals((await loadDawn()).globals);
  const choice = opts.adapter ?? choiceFromEnv() ?? 'auto';
  const flags = opts.dawnFlags ?? [];
  const whys: string[] = [];
  let found: Found | undefined;
  if (choice !== 'software') {
    const r = await findGpu(flags);
    found = r.found;
    if (!found) {
      whys.push(r.why);
    }
  }
  if (!found && choice !== 'gpu') {
    const backend = opts.softwareBackend ?? (process.env.FCNC_SOFTWARE_BACKEND || 'opengl');
    if (backend !== 'opengl' && backend !== 'vulkan')
      throw new NoAdapterError(`FCNC_SOFTWARE_BACKEND=${backend} is not one of opengl, vulkan`);
    const r = await (backend === 'vulkan' ? findSoftwareVulkan : findSoftware)(flags);
    found = r.found;
    if (!found) whys.push(r.why);
  }
  if (!found) throw new NoAdapterError(`no WebGPU adapter (${choice}): ${whys.join('; ')}`);

  const { gpu, adapter, kind, how } = found;
  const requiredLimits = allLimits(adapter);
  const features = [...adapter.features] as GPUFeatureName[];
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredLimits, requiredFeatures: features });
  } catch (e) {
    liveInstances.delete(gpu);
    throw new NoAdapterError(
      `the ${kind} adapter ${adapterName(adapter.info)} refused a device: ${(e as Error).message}`,
    );
  }

  let lost: string | undefined;
  let destroyed = false;
  const report = opts.onError ?? onceOnStderr();
  device.lost.then((info) => {
    if (destroyed && info.reason === 'destroyed') return;
    lost = `the WebGPU device was lost (${info.reason}): ${info.message || 'no message'}`;
    report(lost);
  });
  device.onuncapturederror = (ev: GPUUncapturedErrorEvent) => {
    const e = ev.error;
    const kindName =
      e instanceof GPUValidationError
        ? 'validation'
        : e instanceof GPUOutOfMemoryError
          ? 'out-of-memory'
          : 'internal';
    report(`uncaptured WebGPU ${kindName} error: ${e.message}`);
  };

  const name = adapterName(adapter.info);
  const description =
    kind === 'gpu'
      ? `using GPU adapter: ${name} via Dawn ${how}`
      : `using software adapter: ${name} via ${how}${choice === 'software' ? '' : ' — no GPU found'}`;

  const limits: Record<string, number> = {};
  for (const k in device.limits) {
    const v = (device.limits as unknown as Record<string, unknown>)[k];
    if (typeof v === 'number') limits[k] = v;
  }

  return {
    device,
    adapterInfo: adapter.info,
    kind,
    description,
    limits,
    features: [...device.features],
    lostReason: () => lost,
    destroy() {
      if (destroyed) return;
      destroyed = true;
      device.destroy();
      // The Dawn instance stays in liveInstances: collecting it while any wrapper object is alive is fatal.
    },
  };
}

function onceOnStderr(): (m: string) => void {
  const seen = new Set<string>();
  return (m) => {
    if (seen.has(m)) return;
    seen.add(m);
    process.stderr.write(`fcnc: ${m}\n`);
  };
}
