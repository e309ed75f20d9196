// The device and the Session: adapter choice and its one-line description, limits requested, and GPU errors
// reported with the kernel, the node and the spec location.
import { afterAll, describe, expect, it } from 'vitest';
import { openDevice, NoAdapterError } from '../../runtime/device.ts';
import { GpuError, Session } from '../../runtime/execute.ts';
import {
  PROGRAM_FORMAT,
  PROGRAM_VERSION,
  type Program,
  type ProgramKernel,
  type ProgramStep,
} from '../../runtime/program.ts';
import { gpuForTests } from './harness.ts';

const { dev, reason } = await gpuForTests();

const COPY = `@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) {
  if (g.x < 8u) { y[g.x] = x[g.x] * 2.0; }
}`;

/** A one-step program: y = 2·x on 8 floats, plus a parameter buffer nobody reads. */
function tinyProgram(kernel: Partial<ProgramKernel> = {}, step: Partial<ProgramStep> = {}): Program {
  return {
    format: PROGRAM_FORMAT,
    version: PROGRAM_VERSION,
    model: 'tiny',
    file: 'tiny.fcn',
    limits: {},
    tuning: {},
    memory: { naiveBytes: 64, plannedBytes: 64, lowerBoundBytes: 64, rawParamBytes: 16, paramBytes: 16 },
    buffers: [
      { id: 0, bytes: 32, kind: 'input', persistent: false, label: 'x' },
      { id: 1, bytes: 32, kind: 'output', persistent: false, label: 'y' },
      { id: 2, bytes: 16, kind: 'param', persistent: true, label: 'w' },
    ],
    params: [
      { name: 'w', shape: [4], dtype: 'f32', buffer: 2 },
      { name: 'n', shape: [], dtype: 'i64', buffer: null },
    ],
    kernels: [
      {
        name: 'double',
        wgsl: COPY,
        entryPoint: 'main',
        workgroupSize: [64, 1, 1],
        bindings: 2,
        writable: [1],
        ...kernel,
      },
    ],
    entries: {
      load: { inputs: [], outputs: [], steps: [] },
      forward: {
        inputs: [{ name: 'x', shape: [8], buffer: 0 }],
        outputs: [{ name: 'y', shape: [8], buffer: 1 }],
        steps: [
          {
            kernel: 'double',
            buffers: [0, 1],
            grid: [1, 1, 1],
            node: 'head.conv',
            where: 'tiny.fcn:3:7',
            nodes: [{ name: 'head.conv', op: 'conv2d', where: 'tiny.fcn:3:7' }],
            ...step,
          },
        ],
      },
    },
  };
}

const x = Float32Array.from({ length: 8 }, (_, i) => i);

describe.skipIf(!dev)(`device and session (${dev?.description ?? reason})`, () => {
  afterAll(() => dev?.destroy());

  it('describes the adapter in one line and requests every limit it offers', () => {
    expect(dev!.description).toMatch(/^using (GPU|software) adapter: \S.* via .+/);
    expect(dev!.description).not.toContain('\n');
    if (dev!.kind === 'software') expect(dev!.description).toMatch(/llvmpipe|swiftshader|lavapipe|software/i);
    // Compatibility mode would start at 4 storage buffers and 128 invocations per workgroup.
    expect(dev!.limits.maxStorageBuffersPerShaderStage).toBeGreaterThanOrEqual(8);
    expect(dev!.limits.maxComputeInvocationsPerWorkgroup).toBeGreaterThanOrEqual(256);
    expect(dev!.device.limits.maxStorageBuffersPerShaderStage).toBe(
      dev!.limits.maxStorageBuffersPerShaderStage,
    );
  });

  it('honours FCNC_ADAPTER and says plainly when the requested kind is missing', async () => {
    const saved = process.env.FCNC_ADAPTER;
    try {
      process.env.FCNC_ADAPTER = 'bogus';
      await expect(openDevice()).rejects.toThrow(/FCNC_ADAPTER=bogus is not one of auto, gpu, software/);
      if (dev!.kind === 'software') {
        process.env.FCNC_ADAPTER = 'gpu';
        await expect(openDevice()).rejects.toThrow(NoAdapterError);
        await expect(openDevice()).rejects.toThrow(/no WebGPU adapter \(gpu\)/);
        process.env.FCNC_ADAPTER = 'software';
        const sw = await openDevice();
        expect(sw.kind).toBe('software');
        expect(sw.description).not.toContain('no GPU found'); // asked for software: nothing to apologise for
        sw.destroy();
      }
    } finally {
      if (saved === undefined) delete process.env.FCNC_ADAPTER;
      else process.env.FCNC_ADAPTER = saved;
    }
  });

  it('runs a hand-written program; skips i64 params; checks inputs and params', async () => {
    const s = await Session.create(dev!, tinyProgram());
    await expect(s.run(new Map([['x', x]]))).rejects.toThrow(/before setParams/);
    await expect(s.setParams(new Map())).rejects.toThrow(/missing 1 parameter\(s\): w/);
    await expect(s.setParams(new Map([['w', new Float32Array(3)]]))).rejects.toThrow(
      /w has 3 values; expected shape \[4\]/,
    );
    await s.setParams(new Map([['w', new Float32Array(4)]]));
    await expect(s.run(new Map())).rejects.toThrow(/missing input 'x' \[8\]/);
    await expect(s.run(new Map([['x', new Float32Array(7)]]))).rejects.toThrow(/input 'x' has 7 values/);
    const y = (await s.run(new Map([['x', x]]))).get('y')!;
    expect([...y]).toEqual([...x].map((v) => 2 * v));
    s.destroy();
  });

  it('reports a WGSL error with the kernel, node, spec location and the offending line', async () => {
    const bad = COPY.replace('x[g.x] * 2.0', 'x[g.x] * undefined_thing');
    const err = await Session.create(dev!, tinyProgram({ wgsl: bad })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GpuError);
    const msg = (err as Error).message;
    expect(msg).toContain("kernel double of node 'head.conv' (tiny.fcn:3:7)");
    expect(msg).toMatch(/WGSL 4:\d+: .*undefined_thing/);
    expect(msg).toContain('y[g.x] = x[g.x] * undefined_thing;');
  });

  it('reports a dispatch that breaks WebGPU usage rules at the step that does it', async () => {
    // Buffer 0 bound read-only and writable in one dispatch: rejected by WebGPU when the pass is encoded.
    const p = tinyProgram({}, { buffers: [0, 0] });
    let msg = '';
    try {
      const s = await Session.create(dev!, p);
      await s.setParams(new Map([['w', new Float32Array(4)]]));
      await s.run(new Map([['x', x]]));
    } catch (e) {
      expect(e).toBeInstanceOf(GpuError);
      msg = (e as Error).message;
    }
    expect(msg).toContain("kernel double of node 'head.conv' (tiny.fcn:3:7)");
  });

  it('says so when the device is lost', async () => {
    const other = await openDevice({ onError: () => {} });
    const s = await Session.create(other, tinyProgram());
    await s.setParams(new Map([['w', new Float32Array(4)]]));
    other.device.destroy();
    await expect(s.run(new Map([['x', x]]))).rejects.toThrow(/device was lost|destroyed/);
  });

  it("reports a first run's new kernels one by one, with the same results, and later calls not at all", async () => {
    const INC = COPY.replace('x[g.x] * 2.0', 'x[g.x] + 1.0');
    const base = tinyProgram();
    const step = base.entries.forward.steps[0]!;
    const chain: Program = {
      ...base,
      buffers: [
        ...base.buffers,
        { id: 3, bytes: 32, kind: 'activation', persistent: false, label: 't' },
        { id: 4, bytes: 32, kind: 'activation', persistent: false, label: 'u' },
      ],
      kernels: [...base.kernels, { ...base.kernels[0]!, name: 'inc', wgsl: INC }],
      entries: {
        ...base.entries,
        forward: {
          ...base.entries.forward,
          // y = 2·(2x + 1): double, inc, double again (a kernel that has run by then).
          steps: [
            { ...step, buffers: [0, 3], node: 'a' },
            { ...step, kernel: 'inc', buffers: [3, 4], node: 'b' },
            { ...step, buffers: [4, 1], node: 'c' },
          ],
        },
      },
    };
    const calls: [number, number, string][] = [];
    const s = await Session.create(dev!, chain, { onFirstRun: (d, t, st) => calls.push([d, t, st.node]) });
    await s.setParams(new Map([['w', new Float32Array(4)]]));
    const want = Array.from(x, (v) => 2 * (2 * v + 1));
    expect([...(await s.run(new Map([['x', x]]))).get('y')!]).toEqual(want);
    expect(calls).toEqual([
      [0, 2, 'a'],
      [1, 2, 'a'],
      [2, 2, 'b'],
    ]);
    expect([...(await s.run(new Map([['x', x.map((v) => v + 1)]]))).get('y')!]).toEqual(
      Array.from(x, (v) => 2 * (2 * (v + 1) + 1)),
    );
    expect(calls).toHaveLength(3);
    // Without a hook: one submit, the same result.
    const plain = await Session.create(dev!, chain);
    await plain.setParams(new Map([['w', new Float32Array(4)]]));
    expect([...(await plain.run(new Map([['x', x]]))).get('y')!]).toEqual(want);
  });
});
