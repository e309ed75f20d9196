// Session: runs a Program on a WebGPU device. Buffers, pipelines and bind groups are made once; `setParams` uploads
// the state dict and runs the `load` entry (derived parameters such as batchnorm-folded weights); `call(entry)`
// uploads that entry's inputs, records every dispatch in one compute pass of one command encoder, submits once
// and reads the outputs back. GPU errors name the kernel, every graph node it computes and the spec location.
import type { OpenedDevice } from './device.ts';
import {
  checkProgram,
  type Program,
  type ProgramEntry,
  type ProgramKernel,
  type ProgramStep,
} from './program.ts';

/** A GPU error located at a kernel / node / spec call. */
export class GpuError extends Error {}

type ParamData = Float32Array | Float64Array | BigInt64Array;

const numel = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

function describeStep(step: ProgramStep): string {
  const fused =
    step.nodes.length > 1
      ? ` (with ${step.nodes
          .slice(1)
          .map((n) => n.name)
          .join(', ')} fused in)`
      : '';
  return `kernel ${step.kernel} of node '${step.node}'${step.where ? ` (${step.where})` : ''}${fused}`;
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

/** The inverse of `perm` (for reading a permuted parameter back in its stored layout). */
export function inversePermutation(perm: readonly number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((a, i) => (inv[a] = i));
  return inv;
}

export interface CallOptions {
  /** Outputs to read back (default: every output of the entry). */
  readonly read?: readonly string[];
}

/**
 * Progress of a call that runs kernels the session has not run before: `done` of the `total` such kernels of the
 * entry have run, the last at `step` (first called with 0 and the step of the first such kernel, before it runs).
 * Software adapters (llvmpipe) compile a kernel at its first dispatch, seconds to a minute each, so a first call can
 * take many minutes; with a hook the session submits such a call in parts, one ending at each new kernel's first
 * step, and waits for each part. The steps, their order and their results are the same; later calls (every kernel
 * run) are one submit again.
 */
export type FirstRunHook = (done: number, total: number, step: ProgramStep) => void;

export interface SessionOptions {
  /** See FirstRunHook (default: none — every call is one submit). */
  readonly onFirstRun?: FirstRunHook;
}

export class Session {
  private paramsSet = false;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly bindGroups = new Map<string, (GPUBindGroup | undefined)[]>();
  private readonly staging = new Map<string, GPUBuffer>();
  /** Kernels dispatched at least once by this session (see FirstRunHook). */
  private readonly ran = new Set<string>();
  /** Called while a call runs kernels for the first time (FirstRunHook); may be set or cleared at any time. */
  onFirstRun: FirstRunHook | undefined;

  private constructor(
    readonly device: GPUDevice,
    readonly program: Program,
    /** undefined for load-only buffers between loads. */
    private readonly buffers: (GPUBuffer | undefined)[],
    private readonly pipelines: Map<string, GPUComputePipeline>,
    private readonly lostReason: () => string | undefined,
  ) {}

  /** Creates every buffer, pipeline and bind group of the program; shader and binding errors are reported located. */
  static async create(
    dev: GPUDevice | OpenedDevice,
    program: Program,
    opts: SessionOptions = {},
  ): Promise<Session> {
    checkProgram(program);
    const device = 'device' in dev ? dev.device : dev;
    let lost: string | undefined;
    const lostReason = 'device' in dev ? dev.lostReason : () => lost;
    if (!('device' in dev))
      void device.lost.then((i) => (lost = `the WebGPU device was lost (${i.reason}): ${i.message}`));

    const allSteps = Object.values(program.entries).flatMap((e) => e.steps);
    const firstStep = new Map<string, ProgramStep>();
    const uses = new Map<string, number>();
    for (const s of allSteps) {
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

    // Buffers (load-only ones are made when weights are loaded).
    let scopes = pushAll(device);
    const buffers = program.buffers.map((b) =>
      b.loadOnly ? undefined : makeBuffer(device, b.bytes, b.label),
    );
    let errs = await popErrors(device, scopes);
    if (errs.length) {
      const total = program.buffers.filter((b) => !b.loadOnly).reduce((a, b) => a + b.bytes, 0);
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

    const session = new Session(device, program, buffers, pipelines, lostReason);
    session.onFirstRun = opts.onFirstRun;
    for (const [name, entry] of Object.entries(program.entries))
      if (name !== 'load') session.bindGroups.set(name, await session.makeBindGroups(entry));
    return session;
  }

  /** One bind group per step of an entry; on an error, made again one by one to say which step is wrong. */
  private async makeBindGroups(entry: ProgramEntry): Promise<(GPUBindGroup | undefined)[]> {
    const { device } = this;
    const make = (s: ProgramStep): GPUBindGroup | undefined => {
      if (s.copy) return undefined;
      const pipe = this.pipelines.get(s.kernel);
      if (!pipe) throw new GpuError(`${describeStep(s)}: the program has no kernel named ${s.kernel}`);
      return device.createBindGroup({
        layout: pipe.getBindGroupLayout(0),
        entries: s.buffers.map((b, binding) => {
          const buffer = this.buffers[b];
          if (!buffer) throw new GpuError(`${describeStep(s)}: buffer ${b} is not allocated`);
          const r = s.ranges?.[binding];
          return {
            binding,
            resource: r
              ? { buffer, offset: r[0], size: r[1] }
              : { buffer, size: this.program.buffers[b]!.bytes },
          };
        }),
        label: s.node,
      });
    };
    let scopes = pushAll(device);
    const groups = entry.steps.map(make);
    const errs = await popErrors(device, scopes);
    if (errs.length) {
      for (const s of entry.steps) {
        scopes = pushAll(device);
        make(s);
        const e = await popErrors(device, scopes);
        if (e.length) throw new GpuError(`${describeStep(s)}: binding its buffers failed: ${e.join('; ')}`);
      }
      throw new GpuError(`binding buffers failed: ${errs.join('; ')}`);
    }
    return groups;
  }

  /**
   * Uploads the parameters by state-dict name (f32 data; f64 is converted), then runs the `load` entry (derived
   * parameters). i64 buffers (num_batches_tracked) and parameters of unused layers are not uploaded. Layout
   * permutations (conv OIHW → OHWI) happen here. Buffers only the load entry reads are freed afterwards.
   */
  setParams(stateDict: ReadonlyMap<string, ParamData>): Promise<void> {
    const next = this.queue.then(() => this.setParamsNow(stateDict));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async setParamsNow(stateDict: ReadonlyMap<string, ParamData>): Promise<void> {
    const { device, program } = this;
    const missing: string[] = [];
    const checked: [(typeof program.params)[number], Float32Array][] = [];
    for (const p of program.params) {
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
      checked.push([p, f32]);
    }
    if (missing.length)
      throw new GpuError(
        `missing ${missing.length} parameter(s): ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ', …' : ''}`,
      );
    // Load-only buffers live for the duration of the load.
    const temporary = program.buffers.filter((b) => b.loadOnly);
    for (const b of temporary) this.buffers[b.id] = makeBuffer(device, b.bytes, b.label);
    try {
      for (const [p, f32] of checked) {
        if (p.buffer !== null)
          device.queue.writeBuffer(this.buffers[p.buffer]!, 0, f32.buffer, f32.byteOffset, f32.byteLength);
        for (const sl of p.slices ?? [])
          device.queue.writeBuffer(
            this.buffers[sl.buffer]!,
            0,
            f32.buffer,
            f32.byteOffset + sl.start * 4,
            sl.length * 4,
          );
      }
      const load = program.entries.load;
      if (load.steps.length) await this.submit(load, await this.makeBindGroups(load));
    } finally {
      for (const b of temporary) {
        this.buffers[b.id]!.destroy();
        this.buffers[b.id] = undefined;
      }
    }
    this.paramsSet = true;
  }

  /** Runs the `forward` entry on the given inputs (by input name); returns every output by name. */
  run(inputs: ReadonlyMap<string, Float32Array>): Promise<Map<string, Float32Array>> {
    return this.call('forward', inputs);
  }

  /** Runs an entry of the program; calls are serialised. Returns the outputs asked for (default: all). */
  call(
    entry: string,
    inputs: ReadonlyMap<string, Float32Array>,
    opts: CallOptions = {},
  ): Promise<Map<string, Float32Array>> {
    const next = this.queue.then(() => this.callNow(entry, inputs, opts));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async callNow(
    name: string,
    inputs: ReadonlyMap<string, Float32Array>,
    opts: CallOptions,
  ): Promise<Map<string, Float32Array>> {
    const lost = this.lostReason();
    if (lost) throw new GpuError(lost);
    const { device, program } = this;
    const entry = program.entries[name];
    if (!entry || name === 'load')
      throw new GpuError(
        `the program has no entry '${name}' to call; entries: ${Object.keys(program.entries)
          .filter((e) => e !== 'load')
          .join(', ')}`,
      );
    if (!this.paramsSet && program.params.some((p) => p.buffer !== null || (p.slices?.length ?? 0) > 0))
      throw new GpuError(`${name}() before setParams(): the parameters were never uploaded`);
    for (const i of entry.inputs) {
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
    const read = entry.outputs.filter((o) => !opts.read || opts.read.includes(o.name));
    for (const r of opts.read ?? [])
      if (!entry.outputs.some((o) => o.name === r))
        throw new GpuError(
          `'${name}' has no output '${r}'; outputs: ${entry.outputs.map((o) => o.name).join(', ')}`,
        );
    await this.submit(entry, this.bindGroups.get(name)!, (enc) => {
      for (const o of read)
        enc.copyBufferToBuffer(
          this.buffers[o.buffer]!,
          0,
          this.stagingFor(`${name}:${o.name}`, o.shape),
          0,
          numel(o.shape) * 4,
        );
    });
    const out = new Map<string, Float32Array>();
    await Promise.all(
      read.map(async (o) => {
        const st = this.stagingFor(`${name}:${o.name}`, o.shape);
        await st.mapAsync(GPUMapMode.READ, 0, numel(o.shape) * 4);
        const data = new Float32Array(st.getMappedRange(0, numel(o.shape) * 4).slice(0));
        st.unmap();
        out.set(
          o.name,
          o.permute
            ? permuteAxes(
                data,
                o.permute.map((a) => o.shape[a]!),
                inversePermutation(o.permute),
              )
            : data,
        );
      }),
    );
    const lostAfter = this.lostReason();
    if (lostAfter) throw new GpuError(lostAfter);
    return new Map(read.map((o) => [o.name, out.get(o.name)!]));
  }

  private stagingFor(key: string, shape: readonly number[]): GPUBuffer {
    let st = this.staging.get(key);
    if (!st) {
      st = this.device.createBuffer({
        size: Math.max(16, Math.ceil((numel(shape) * 4) / 16) * 16),
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
        label: `read ${key}`,
      });
      this.staging.set(key, st);
    }
    return st;
  }

  /**
   * Records an entry's steps in compute passes, submits, and turns GPU errors into a located message. With an
   * `onFirstRun` hook and kernels not run yet, in parts: one ending at each new kernel's first step, each waited for.
   */
  private async submit(
    entry: ProgramEntry,
    groups: readonly (GPUBindGroup | undefined)[],
    after?: (enc: GPUCommandEncoder) => void,
  ): Promise<void> {
    const hook = this.onFirstRun;
    const fresh = new Set(entry.steps.filter((s) => !s.copy && !this.ran.has(s.kernel)).map((s) => s.kernel));
    if (!hook || fresh.size === 0) {
      await this.submitRange(entry, groups, 0, entry.steps.length, after);
      for (const s of entry.steps) if (!s.copy) this.ran.add(s.kernel);
      return;
    }
    let from = 0;
    let done = 0;
    hook(
      0,
      fresh.size,
      entry.steps.find((s) => !s.copy && fresh.has(s.kernel))!,
    );
    for (let k = 0; k < entry.steps.length; k++) {
      const s = entry.steps[k]!;
      if (s.copy || this.ran.has(s.kernel)) continue;
      await this.submitRange(entry, groups, from, k + 1);
      await this.device.queue.onSubmittedWorkDone();
      this.ran.add(s.kernel); // the part's other kernels had run before, or were new and ended their own part
      from = k + 1;
      hook(++done, fresh.size, s);
    }
    await this.submitRange(entry, groups, from, entry.steps.length, after);
    for (const s of entry.steps) if (!s.copy) this.ran.add(s.kernel);
  }

  /** Steps [from, to) of an entry in one command buffer, then `after`; submitted; errors located. */
  private async submitRange(
    entry: ProgramEntry,
    groups: readonly (GPUBindGroup | undefined)[],
    from: number,
    to: number,
    after?: (enc: GPUCommandEncoder) => void,
  ): Promise<void> {
    const { device } = this;
    const enc = device.createCommandEncoder({ label: this.program.model });
    // Dispatches in compute passes; a copy step ends the pass, copies, and the next dispatch opens a new one.
    let pass: GPUComputePassEncoder | undefined;
    entry.steps.forEach((s, k) => {
      if (k < from || k >= to) return;
      if (s.copy) {
        pass?.end();
        pass = undefined;
        enc.copyBufferToBuffer(
          this.buffers[s.buffers[0]!]!,
          0,
          this.buffers[s.buffers[1]!]!,
          0,
          s.copy.bytes,
        );
        return;
      }
      pass ??= enc.beginComputePass();
      this.encodeStep(pass, s, groups[k]!);
    });
    pass?.end();
    after?.(enc);
    const scopes = pushAll(device);
    device.queue.submit([enc.finish()]);
    const errs = await popErrors(device, scopes);
    if (errs.length) throw new GpuError(await this.diagnose(entry, groups, errs));
  }

  private encodeStep(pass: GPUComputePassEncoder, s: ProgramStep, group: GPUBindGroup): void {
    pass.setPipeline(this.pipelines.get(s.kernel)!);
    pass.setBindGroup(0, group);
    pass.dispatchWorkgroups(s.grid[0], s.grid[1], s.grid[2]);
  }

  /** After a failed submit: replays the steps one submit each to find the first that fails. */
  private async diagnose(
    entry: ProgramEntry,
    groups: readonly (GPUBindGroup | undefined)[],
    errs: string[],
  ): Promise<string> {
    const { device } = this;
    for (let k = 0; k < entry.steps.length; k++) {
      const s = entry.steps[k]!;
      const scopes = pushAll(device);
      const enc = device.createCommandEncoder();
      if (s.copy)
        enc.copyBufferToBuffer(
          this.buffers[s.buffers[0]!]!,
          0,
          this.buffers[s.buffers[1]!]!,
          0,
          s.copy.bytes,
        );
      else {
        const pass = enc.beginComputePass();
        this.encodeStep(pass, s, groups[k]!);
        pass.end();
      }
      device.queue.submit([enc.finish()]);
      const e = await popErrors(device, scopes);
      if (e.length) return `${describeStep(s)} failed: ${e.join('; ')}`;
    }
    return `running ${this.program.model} failed: ${errs.join('; ')}`;
  }

  /**
   * Reads parameters back from the device by state-dict name, in their stored layout (for checkpoints). Only
   * parameters that live on the device between calls can be read: raw weights that the load entry folded away are
   * not kept by an inference program.
   */
  async readParams(names?: readonly string[]): Promise<Map<string, Float32Array>> {
    const wanted = this.program.params.filter(
      (p) => p.dtype === 'f32' && p.buffer !== null && (!names || names.includes(p.name)),
    );
    for (const n of names ?? []) {
      const p = this.program.params.find((q) => q.name === n);
      if (!p || p.buffer === null || this.program.buffers[p.buffer]!.loadOnly)
        throw new GpuError(`parameter '${n}' is not kept on the device by this program`);
    }
    const next = this.queue.then(async () => {
      const out = new Map<string, Float32Array>();
      for (const p of wanted) {
        const buffer = this.buffers[p.buffer!];
        if (!buffer) continue;
        const bytes = numel(p.shape) * 4;
        const st = this.device.createBuffer({
          size: Math.max(16, Math.ceil(bytes / 16) * 16),
          usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
        });
        const enc = this.device.createCommandEncoder();
        enc.copyBufferToBuffer(buffer, 0, st, 0, bytes);
        this.device.queue.submit([enc.finish()]);
        await st.mapAsync(GPUMapMode.READ, 0, bytes);
        let data: Float32Array = new Float32Array(st.getMappedRange(0, bytes).slice(0));
        st.unmap();
        st.destroy();
        if (p.permute)
          data = permuteAxes(
            data,
            p.permute.map((a) => p.shape[a]!),
            inversePermutation(p.permute),
          );
        out.set(p.name, data);
      }
      return out;
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  /**
   * Reads the optimizer state of a training program (momentum buffers, by slot name `momentum.<parameter>`) in
   * the parameters' row-major layout.
   */
  async readState(): Promise<Map<string, Float32Array>> {
    const next = this.queue.then(async () => {
      const out = new Map<string, Float32Array>();
      for (const st of this.program.state ?? []) {
        let data = await this.readBuffer(st.buffer, numel(st.shape) * 4);
        if (st.permute)
          data = permuteAxes(
            data,
            st.permute.map((a) => st.shape[a]!),
            inversePermutation(st.permute),
          );
        out.set(st.name, data);
      }
      return out;
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Sets optimizer state (resuming a run): every slot named in `state`, row-major; slots not named keep theirs. */
  setState(state: ReadonlyMap<string, Float32Array>): Promise<void> {
    const next = this.queue.then(() => {
      const slots = new Map((this.program.state ?? []).map((s) => [s.name, s]));
      for (const [name, data] of state) {
        const st = slots.get(name);
        if (!st)
          throw new GpuError(
            `the program has no optimizer state '${name}'${slots.size ? '' : ' (it is not a training program)'}`,
          );
        if (data.length !== numel(st.shape))
          throw new GpuError(
            `optimizer state ${name} has ${data.length} values; expected shape [${st.shape.join(', ')}]`,
          );
        const f32 = st.permute ? permuteAxes(data, st.shape, st.permute) : data;
        this.device.queue.writeBuffer(
          this.buffers[st.buffer]!,
          0,
          f32.buffer,
          f32.byteOffset,
          f32.byteLength,
        );
      }
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async readBuffer(buffer: number, bytes: number): Promise<Float32Array> {
    const st = this.device.createBuffer({
      size: Math.max(16, Math.ceil(bytes / 16) * 16),
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    try {
      const enc = this.device.createCommandEncoder();
      enc.copyBufferToBuffer(this.buffers[buffer]!, 0, st, 0, bytes);
      this.device.queue.submit([enc.finish()]);
      await st.mapAsync(GPUMapMode.READ, 0, bytes);
      return new Float32Array(st.getMappedRange(0, bytes).slice(0));
    } finally {
      st.destroy();
    }
  }

  /**
   * Wall time of every step of an entry, each dispatched alone and waited for (the inputs are uploaded first).
   * For profiles on adapters without timestamp queries; the sum exceeds a whole call by the per-submit overhead.
   */
  timeSteps(inputs: ReadonlyMap<string, Float32Array>, entry = 'forward'): Promise<number[]> {
    const next = this.queue.then(async () => {
      await this.callNow(entry, inputs, { read: [] });
      const e = this.program.entries[entry]!;
      const groups = this.bindGroups.get(entry)!;
      const times: number[] = [];
      for (let k = 0; k < e.steps.length; k++) {
        const t0 = performance.now();
        const enc = this.device.createCommandEncoder();
        const s = e.steps[k]!;
        if (s.copy)
          enc.copyBufferToBuffer(
            this.buffers[s.buffers[0]!]!,
            0,
            this.buffers[s.buffers[1]!]!,
            0,
            s.copy.bytes,
          );
        else {
          const pass = enc.beginComputePass();
          this.encodeStep(pass, s, groups[k]!);
          pass.end();
        }
        this.device.queue.submit([enc.finish()]);
        await this.device.queue.onSubmittedWorkDone();
        times.push(performance.now() - t0);
      }
      return times;
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  /**
   * Per-step times of one run of an entry, in ms, for profiles (runtime/profile.ts). With `timestamps` (default) on
   * a device that has the `timestamp-query` feature, every dispatch runs in a compute pass of its own whose begin
   * and end timestamps go to a query set, all in one submit: GPU time per kernel (open the device with the Dawn
   * toggle `disable-dawn-features=timestamp_quantization`, or Dawn rounds them to ~65 µs); a copy step gets the
   * gap between the passes around it. Otherwise each step is submitted alone and waited for (`timeSteps`: wall
   * time, the submit overhead included). The entry's inputs are uploaded (and the entry run once) first.
   */
  profileSteps(
    inputs: ReadonlyMap<string, Float32Array>,
    entry = 'forward',
    opts: { readonly timestamps?: boolean } = {},
  ): Promise<{ method: 'timestamps' | 'sync'; ms: number[] }> {
    if (opts.timestamps === false || !this.device.features.has('timestamp-query'))
      return this.timeSteps(inputs, entry).then((ms) => ({ method: 'sync' as const, ms }));
    const next = this.queue.then(async () => {
      await this.callNow(entry, inputs, { read: [] });
      const { device } = this;
      const e = this.program.entries[entry]!;
      const groups = this.bindGroups.get(entry)!;
      const count = 2 * e.steps.filter((s) => !s.copy).length;
      const perSet = 4096; // queries per query set (even: a pass's pair never straddles two sets)
      const sets: GPUQuerySet[] = [];
      for (let q = 0; q < count; q += perSet)
        sets.push(device.createQuerySet({ type: 'timestamp', count: Math.min(perSet, count - q) }));
      const bytes = Math.max(16, count * 8);
      const resolved = device.createBuffer({
        size: bytes,
        usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
      });
      const read = device.createBuffer({
        size: bytes,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      });
      try {
        const enc = device.createCommandEncoder({ label: `profile ${entry}` });
        let q = 0;
        e.steps.forEach((s, k) => {
          if (s.copy) {
            enc.copyBufferToBuffer(
              this.buffers[s.buffers[0]!]!,
              0,
              this.buffers[s.buffers[1]!]!,
              0,
              s.copy.bytes,
            );
            return;
          }
          const querySet = sets[Math.floor(q / perSet)]!;
          const i = q % perSet;
          const pass = enc.beginComputePass({
            timestampWrites: { querySet, beginningOfPassWriteIndex: i, endOfPassWriteIndex: i + 1 },
          });
          this.encodeStep(pass, s, groups[k]!);
          pass.end();
          q += 2;
        });
        sets.forEach((set, j) => enc.resolveQuerySet(set, 0, set.count, resolved, j * perSet * 8));
        if (count) enc.copyBufferToBuffer(resolved, 0, read, 0, count * 8);
        const scopes = pushAll(device);
        device.queue.submit([enc.finish()]);
        const errs = await popErrors(device, scopes);
        if (errs.length)
          throw new GpuError(`timing '${entry}' with timestamp queries failed: ${errs.join('; ')}`);
        await read.mapAsync(GPUMapMode.READ, 0, bytes);
        const t = new BigUint64Array(read.getMappedRange(0, bytes).slice(0));
        read.unmap();
        const ns = (a: bigint, b: bigint): number => Math.max(0, Number(b - a));
        const ms = new Array<number>(e.steps.length).fill(0);
        let d = 0;
        for (let k = 0; k < e.steps.length; k++) {
          if (!e.steps[k]!.copy) {
            ms[k] = ns(t[2 * d]!, t[2 * d + 1]!) / 1e6;
            d++;
            continue;
          }
          // A run of copies between two passes shares the gap between them.
          let j = k;
          while (j < e.steps.length && e.steps[j]!.copy) j++;
          const gap = d > 0 && j < e.steps.length ? ns(t[2 * d - 1]!, t[2 * d]!) / 1e6 : 0;
          for (let c = k; c < j; c++) ms[c] = gap / (j - k);
          k = j - 1;
        }
        return { method: 'timestamps' as const, ms };
      } finally {
        read.destroy();
        resolved.destroy();
        for (const set of sets) set.destroy();
      }
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Time of one forward call in ms (after one warm-up call). */
  async time(inputs: ReadonlyMap<string, Float32Array>, reps = 1): Promise<number> {
    await this.run(inputs);
    const t0 = performance.now();
    for (let r = 0; r < reps; r++) await this.run(inputs);
    return (performance.now() - t0) / reps;
  }

  destroy(): void {
    for (const b of this.buffers) b?.destroy();
    for (const b of this.staging.values()) b.destroy();
  }
}

function makeBuffer(device: GPUDevice, bytes: number, label: string): GPUBuffer {
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
  return device.createBuffer({ size: bytes, usage, label });
}
