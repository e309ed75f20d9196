// Session: runs a Program on a WebGPU device. Buffers, pipelines and bind groups are made once; a run uploads
// the inputs, records every dispatch in one command encoder, submits once and reads the outputs back.
// GPU errors name the kernel, the graph node and the spec location that made it.
import type { OpenedDevice } from './device.ts';
import type { Program, ProgramKernel, ProgramStep } from './program.ts';

/** A GPU error located at a kernel / node / spec call. */
export class GpuError extends Error {}

type ParamData = Float32Array | Float64Array | BigInt64Array;

const numel = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

function describeStep(step: ProgramStep): string {
  return `kernel ${step.kernel} of node '${step.node}'${step.where ? ` (${step.where})` : ''}`;
}

/** Pops `n` error scopes at once (synchronously, so concurrent users of the stack cannot interleave). */
async function popErrors(device: GPUDevice, n: number): Promise<string[]> {
  const pops = Array.from({ length: n }, () => device.popErrorScope());
  const errs = await Promise.all(pops);
  return errs.filter((e): e is GPUError => e !== null).map((e) => e.message);
}

function pushAll(device: GPUDevice): number {
  device.pushErrorScope('internal');
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  return 3;
}

/** Axis permutation of a row-major tensor: out[i_perm[0], i_perm[1], …] = x[i_0, i_1, …]. */
export function permuteAxes(
  data: Float32Array,
  shape: readonly number[],
  perm: readonly number[],
): Float32Array {
  const rank = shape.length;
  const strides = new Array<number>(rank);
  for (let k = rank - 1, s = 1; k >= 0; k--) {
    strides[k] = s;
    s *= shape[k]!;
  }
  const outShape = perm.map((a) => shape[a]!);
  const srcStride = perm.map((a) => strides[a]!);
  const out = new Float32Array(data.length);
  const idx = new Array<number>(rank).fill(0);
  let src = 0;
  for (let o = 0; o < out.length; o++) {
    out[o] = data[src]!;
    // Increment the output index (last axis fastest) and move the source offset along.
    for (let k = rank - 1; k >= 0; k--) {
      idx[k]!++;
      src += srcStride[k]!;
      if (idx[k]! < outShape[k]!) break;
      src -= srcStride[k]! * outShape[k]!;
      idx[k] = 0;
    }
  }
  return out;
}

export class Session {
  private paramsSet = false;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly device: GPUDevice,
    readonly program: Program,
    private readonly buffers: GPUBuffer[],
    private readonly pipelines: Map<string, GPUComputePipeline>,
    private readonly bindGroups: GPUBindGroup[],
    private readonly staging: Map<string, GPUBuffer>,
    private readonly lostReason: () => string | undefined,
  ) {}

  /** Creates every buffer, pipeline and bind group of the program; shader and binding errors are reported located. */
  static async create(dev: GPUDevice | OpenedDevice, program: Program): Promise<Session> {
    const device = 'device' in dev ? dev.device : dev;
    let lost: string | undefined;
    const lostReason = 'device' in dev ? dev.lostReason : () => lost;
    if (!('device' in dev))
      void device.lost.then((i) => (lost = `the WebGPU device was lost (${i.reason}): ${i.message}`));

    const firstStep = new Map<string, ProgramStep>();
    const uses = new Map<string, number>();
    for (const s of program.steps) {
      if (!firstStep.has(s.kernel)) firstStep.set(s.kernel, s);
      uses.set(s.kernel, (uses.get(s.kernel) ?? 0) + 1);
    }
    const kernelWhere = (k: ProgramKernel): string => {
      const s = firstStep.get(k.name);
      const n = uses.get(k.name) ?? 0;
      return s
        ? `${describeStep(s)}${n > 1 ? ` and ${n - 1} other step(s)` : ''}`
        : `kernel ${k.name} (unused)`;
    };

    // Buffers.
    let scopes = pushAll(device);
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
    const buffers = program.buffers.map((b) => device.createBuffer({ size: b.bytes, usage, label: b.label }));
    let errs = await popErrors(device, scopes);
    if (errs.length) {
      const total = program.buffers.reduce((a, b) => a + b.bytes, 0);
      throw new GpuError(
        `creating ${buffers.length} buffers (${(total / 2 ** 20).toFixed(1)} MiB) failed: ${errs.join('; ')}`,
      );
    }

    // Pipelines, compiled concurrently; each failure is reported with its kernel and node.
    const pipelines = new Map<string, GPUComputePipeline>();
    const problems: string[] = [];
    await Promise.all(
      program.kernels.map(async (k) => {
        pushAll(device);
        const module = device.createShaderModule({ code: k.wgsl, label: k.name });
        const layout = device.createPipelineLayout({
          bindGroupLayouts: [
            device.createBindGroupLayout({
              label: k.name,
              entries: Array.from({ length: k.bindings }, (_, binding) => ({
                binding,
                visibility: GPUShaderStage.COMPUTE,
                buffer: {
                  type: k.writable.includes(binding) ? ('storage' as const) : ('read-only-storage' as const),
                },
              })),
            }),
          ],
        });
        const errors = await popErrors(device, 3);
        let pipe: GPUComputePipeline | undefined;
        try {
          pipe = await device.createComputePipelineAsync({
            layout,
            compute: { module, entryPoint: k.entryPoint },
            label: k.name,
          });
        } catch (e) {
          errors.push((e as Error).message);
        }
        if (errors.length || !pipe) {
          const info = await module.getCompilationInfo().catch(() => undefined);
          const lines = (info?.messages ?? [])
            .filter((m) => m.type === 'error')
            .slice(0, 5)
            .map(
              (m) =>
                `  WGSL ${m.lineNum}:${m.linePos}: ${m.message}\n    ${k.wgsl.split('\n')[m.lineNum - 1] ?? ''}`,
            );
          problems.push(
            `${kernelWhere(k)}: pipeline creation failed: ${errors.join('; ')}${lines.length ? '\n' + lines.join('\n') : ''}`,
          );
          return;
        }
        pipelines.set(k.name, pipe);
      }),
    );
    if (problems.length) throw new GpuError(problems.join('\n'));

    // Bind groups, one per step; on an error, made again one by one to say which step is wrong.
    const makeBindGroup = (s: ProgramStep): GPUBindGroup => {
      const pipe = pipelines.get(s.kernel);
      if (!pipe) throw new GpuError(`${describeStep(s)}: the program has no kernel named ${s.kernel}`);
      return device.createBindGroup({
        layout: pipe.getBindGroupLayout(0),
        entries: s.buffers.map((b, binding) => {
          const r = s.ranges?.[binding];
          return {
            binding,
            resource: r
              ? { buffer: buffers[b]!, offset: r[0], size: r[1] }
              : { buffer: buffers[b]!, size: program.buffers[b]!.bytes },
          };
        }),
        label: s.node,
      });
    };
    scopes = pushAll(device);
    const bindGroups = program.steps.map(makeBindGroup);
    errs = await popErrors(device, scopes);
    if (errs.length) {
      for (const s of program.steps) {
        scopes = pushAll(device);
        makeBindGroup(s);
        const e = await popErrors(device, scopes);
        if (e.length) throw new GpuError(`${describeStep(s)}: binding its buffers failed: ${e.join('; ')}`);
      }
      throw new GpuError(`binding buffers failed: ${errs.join('; ')}`);
    }

    const staging = new Map<string, GPUBuffer>();
    for (const o of program.outputs)
      staging.set(
        o.name,
        device.createBuffer({
          size: Math.max(16, Math.ceil((numel(o.shape) * 4) / 16) * 16),
          usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
          label: `read ${o.name}`,
        }),
      );
    return new Session(device, program, buffers, pipelines, bindGroups, staging, lostReason);
  }

  /**
   * Uploads the parameters by state-dict name (f32 data; f64 is converted). i64 buffers (num_batches_tracked)
   * and parameters of unused layers are not uploaded. Layout permutations (conv OIHW → OHWI) happen here.
   */
  setParams(stateDict: ReadonlyMap<string, ParamData>): void {
    const missing: string[] = [];
    for (const p of this.program.params) {
      if (p.buffer === null && !p.slices?.length) continue;
      const data = stateDict.get(p.name);
      if (!data) {
        missing.push(p.name);
        continue;
      }
      if (data instanceof BigInt64Array)
        throw new GpuError(
          `parameter ${p.name} is ${p.dtype} [${p.shape.join(', ')}] but i64 data was given`,
        );
      if (data.length !== numel(p.shape))
        throw new GpuError(
          `parameter ${p.name} has ${data.length} values; expected shape [${p.shape.join(', ')}] = ${numel(p.shape)}`,
        );
      let f32 = data instanceof Float32Array ? data : Float32Array.from(data);
      if (p.permute) f32 = permuteAxes(f32, p.shape, p.permute);
      if (p.buffer !== null)
        this.device.queue.writeBuffer(this.buffers[p.buffer]!, 0, f32.buffer, f32.byteOffset, f32.byteLength);
      for (const sl of p.slices ?? [])
        this.device.queue.writeBuffer(
          this.buffers[sl.buffer]!,
          0,
          f32.buffer,
          f32.byteOffset + sl.start * 4,
          sl.length * 4,
        );
    }
    if (missing.length)
      throw new GpuError(
        `missing ${missing.length} parameter(s): ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ', …' : ''}`,
      );
    this.paramsSet = true;
  }

  /** Runs the program on the given inputs (by input name); returns every output by name. Runs are serialised. */
  run(inputs: ReadonlyMap<string, Float32Array>): Promise<Map<string, Float32Array>> {
    const next = this.queue.then(() => this.runNow(inputs));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async runNow(inputs: ReadonlyMap<string, Float32Array>): Promise<Map<string, Float32Array>> {
    const lost = this.lostReason();
    if (lost) throw new GpuError(lost);
    if (!this.paramsSet && this.program.params.some((p) => p.buffer !== null || (p.slices?.length ?? 0) > 0))
      throw new GpuError('run() before setParams(): the parameters were never uploaded');
    const { device, program } = this;
    for (const i of program.inputs) {
      const data = inputs.get(i.name);
      if (!data)
        throw new GpuError(
          `missing input '${i.name}' [${i.shape.join(', ')}]; given: ${[...inputs.keys()].join(', ') || 'none'}`,
        );
      if (data.length !== numel(i.shape))
        throw new GpuError(
          `input '${i.name}' has ${data.length} values; expected [${i.shape.join(', ')}] = ${numel(i.shape)}`,
        );
      device.queue.writeBuffer(this.buffers[i.buffer]!, 0, data.buffer, data.byteOffset, data.byteLength);
    }
    const enc = device.createCommandEncoder({ label: program.model });
    const pass = enc.beginComputePass();
    program.steps.forEach((s, k) => this.encodeStep(pass, s, k));
    pass.end();
    for (const o of program.outputs)
      enc.copyBufferToBuffer(this.buffers[o.buffer]!, 0, this.staging.get(o.name)!, 0, numel(o.shape) * 4);
    const scopes = pushAll(device);
    device.queue.submit([enc.finish()]);
    const errs = await popErrors(device, scopes);
    if (errs.length) throw new GpuError(await this.diagnose(errs));

    const out = new Map<string, Float32Array>();
    await Promise.all(
      program.outputs.map(async (o) => {
        const st = this.staging.get(o.name)!;
        await st.mapAsync(GPUMapMode.READ, 0, numel(o.shape) * 4);
        out.set(o.name, new Float32Array(st.getMappedRange(0, numel(o.shape) * 4).slice(0)));
        st.unmap();
      }),
    );
    const lostAfter = this.lostReason();
    if (lostAfter) throw new GpuError(lostAfter);
    return new Map(program.outputs.map((o) => [o.name, out.get(o.name)!]));
  }

  private encodeStep(pass: GPUComputePassEncoder, s: ProgramStep, k: number): void {
    pass.setPipeline(this.pipelines.get(s.kernel)!);
    pass.setBindGroup(0, this.bindGroups[k]!);
    pass.dispatchWorkgroups(s.grid[0], s.grid[1], s.grid[2]);
  }

  /** After a failed submit: replays the steps one submit each to find the first that fails. */
  private async diagnose(errs: string[]): Promise<string> {
    const { device } = this;
    for (let k = 0; k < this.program.steps.length; k++) {
      const s = this.program.steps[k]!;
      const scopes = pushAll(device);
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      this.encodeStep(pass, s, k);
      pass.end();
      device.queue.submit([enc.finish()]);
      const e = await popErrors(device, scopes);
      if (e.length) return `${describeStep(s)} failed: ${e.join('; ')}`;
    }
    return `running ${this.program.model} failed: ${errs.join('; ')}`;
  }

  /** Time of one run in ms, with every step's dispatch (no per-kernel timing yet). */
  async time(inputs: ReadonlyMap<string, Float32Array>, reps = 1): Promise<number> {
    await this.run(inputs);
    const t0 = performance.now();
    for (let r = 0; r < reps; r++) await this.run(inputs);
    return (performance.now() - t0) / reps;
  }

  destroy(): void {
    for (const b of this.buffers) b.destroy();
    for (const b of this.staging.values()) b.destroy();
  }
}
