// Peak probes of the adapter at hand, for profiles (runtime/profile.ts): what one kernel could reach at best.
//
// - FMA peak: every invocation keeps eight vec4 accumulators in registers and runs `fma` on them in a loop (no
//   memory traffic but one store at the end), so the count of floating-point operations is exact: 2 per lane of
//   each fma.
// - Read bandwidth: a grid-stride loop sums a large storage buffer as vec4s (each element read once, lanes of a
//   workgroup on neighbouring elements), one vec4 stored per invocation.
//
// Each probe is sized by calibration: it starts small and doubles its work until one dispatch takes
// `targetMs`, then takes the best of `reps` timed dispatches (a synchronised submit each: wall time, so the size
// must make the submit overhead negligible). Both together take ~1–2 s on the software adapter.

export interface Peak {
  /** Register-only vec4 FMAs, GFLOP/s (2 FLOPs per fma lane). */
  readonly gflops: number;
  /** Streaming read of a storage buffer, GB/s (10⁹ bytes). */
  readonly gbps: number;
  /** The work and time behind each figure. */
  readonly detail: {
    readonly fma: { readonly flops: number; readonly ms: number };
    readonly read: { readonly bytes: number; readonly ms: number };
  };
  /** Wall time of the whole probe, ms. */
  readonly probeMs: number;
}

export interface PeakOptions {
  /** Aim for one dispatch of about this many ms (default 150). */
  readonly targetMs?: number;
  /** Timed dispatches per probe after calibration; the fastest counts (default 3). */
  readonly reps?: number;
}

const WG = 64;
const ACC = 8; // vec4 accumulators per invocation

function fmaShader(iters: number): string {
  const decl = Array.from({ length: ACC }, (_, k) => `var a${k} = vec4f(f32(g.x) * 1e-6 + ${k}.0);`).join(
    ' ',
  );
  const body = Array.from({ length: ACC }, (_, k) => `a${k} = fma(a${k}, m, b);`).join(' ');
  const sum = Array.from({ length: ACC }, (_, k) => `a${k}`).join(' + ');
  return `@group(0) @binding(0) var<storage, read_write> o: array<vec4f>;
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) g: vec3u) {
  ${decl}
  let m = vec4f(0.9999); let b = vec4f(0.0001);
  for (var i = 0u; i < ${iters}u; i++) { ${body} }
  o[g.x] = ${sum};
}`;
}

function readShader(vec4s: number, lanes: number): string {
  return `@group(0) @binding(0) var<storage, read> s: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> o: array<vec4f>;
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) g: vec3u) {
  var acc = vec4f(0.0);
  for (var i = g.x; i < ${vec4s}u; i += ${lanes}u) { acc += s[i]; }
  o[g.x] = acc;
}`;
}

/** Measures the FMA peak and the read bandwidth of `device`. */
export async function measurePeak(device: GPUDevice, opts: PeakOptions = {}): Promise<Peak> {
  const t0 = performance.now();
  const target = opts.targetMs ?? 150;
  const reps = opts.reps ?? 3;
  const groups = 256;
  const lanes = WG * groups;
  const out = device.createBuffer({ size: lanes * 16, usage: GPUBufferUsage.STORAGE, label: 'peak out' });
  const made: GPUBuffer[] = [out];

  const timeOnce = async (pipe: GPUComputePipeline, group: GPUBindGroup): Promise<number> => {
    const t = performance.now();
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipe);
    pass.setBindGroup(0, group);
    pass.dispatchWorkgroups(groups);
    pass.end();
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    return performance.now() - t;
  };
  const pipeline = (code: string, label: string): GPUComputePipeline =>
    device.createComputePipeline({
      layout: 'auto',
      compute: { module: device.createShaderModule({ code, label }), entryPoint: 'main' },
      label,
    });
  const bind = (pipe: GPUComputePipeline, bufs: GPUBuffer[]): GPUBindGroup =>
    device.createBindGroup({
      layout: pipe.getBindGroupLayout(0),
      entries: bufs.map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
  /** Doubles `size` from `start` until a dispatch takes `target` ms (or `max` is reached); the best of `reps`. */
  const calibrate = async (
    start: number,
    max: number,
    make: (size: number) => { pipe: GPUComputePipeline; group: GPUBindGroup },
  ): Promise<{ size: number; ms: number }> => {
    let size = start;
    for (;;) {
      const { pipe, group } = make(size);
      let ms = await timeOnce(pipe, group); // also compiles (llvmpipe JITs on first use)
      ms = Math.min(ms, await timeOnce(pipe, group));
      if (ms >= target || size * 2 > max) {
        for (let r = 1; r < reps; r++) ms = Math.min(ms, await timeOnce(pipe, group));
        return { size, ms };
      }
      // Jump close to the target when the time is meaningful; otherwise double.
      const factor = ms > 5 ? Math.min(16, Math.max(2, Math.ceil(target / ms))) : 4;
      size = Math.min(max, size * factor);
    }
  };

  try {
    const fma = await calibrate(64, 1 << 22, (iters) => {
      const pipe = pipeline(fmaShader(iters), `peak fma ${iters}`);
      return { pipe, group: bind(pipe, [out]) };
    });
    const fmaFlops = lanes * fma.size * ACC * 4 * 2;

    // Read: up to the largest buffer one binding allows (at most 256 MiB).
    const limit = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize, 256 << 20);
    const maxVec4s = Math.floor(limit / 16 / lanes) * lanes;
    const sources = new Map<number, GPUBuffer>();
    const read = await calibrate(Math.min(maxVec4s, lanes * 16), maxVec4s, (vec4s) => {
      let src = sources.get(vec4s);
      if (!src) {
        for (const old of sources.values()) old.destroy(); // the smaller sizes are done with
        sources.clear();
        src = device.createBuffer({ size: vec4s * 16, usage: GPUBufferUsage.STORAGE, label: 'peak source' });
        sources.set(vec4s, src);
        made.push(src);
      }
      const pipe = pipeline(readShader(vec4s, lanes), `peak read ${vec4s}`);
      return { pipe, group: bind(pipe, [src, out]) };
    });
    const readBytes = read.size * 16;
    return {
      gflops: fmaFlops / fma.ms / 1e6,
      gbps: readBytes / read.ms / 1e6,
      detail: { fma: { flops: fmaFlops, ms: fma.ms }, read: { bytes: readBytes, ms: read.ms } },
      probeMs: performance.now() - t0,
    };
  } finally {
    for (const b of made) b.destroy();
  }
}
