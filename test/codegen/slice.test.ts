// Tensors larger than one storage binding are computed in channel slices bound at offsets (batch 1), with the
// same results; ops that need all channels at once refuse with a located error.
import { describe, expect, it } from 'vitest';
import { buildGraph } from '../../compiler/index.ts';
import { compile } from '../../compiler/compile.ts';
import { lowerToProgram } from '../../compiler/codegen/lower.ts';
import { interpret, seededParams } from '../../compiler/ir/interpret.ts';
import { Session } from '../../runtime/execute.ts';
import { gpuForTests } from '../gpu/harness.ts';
import { maxRelError, ROOT } from '../helpers.ts';
import { join } from 'node:path';

// Every op here treats channels separately except the first conv (reads all 3 input channels) — all sliceable.
const SPEC = `
model wide() {
  input image: [3, H, W]
  stem = conv(image, 24, kernel = 3, padding = 1, bias = true)
  bn = batchnorm(stem)
  act = relu(bn)
  pool = maxpool(act, kernel = 3, stride = 2, padding = 1)
  dw = conv(pool, 24, kernel = 3, padding = 2, dilation = 2, groups = 24)
  gate = sigmoid(dw)
  prod = mul(pool, gate)
  sum = add(prod, pool)
  up = resize(sum, like = image, align_corners = true)
  out y = up
}
`;
const graph = (batch = 1) =>
  buildGraph('wide.fcn', { readFile: () => SPEC, batch, height: 40, width: 40 }).graph!;
const PLANE = 40 * 40 * 4; // bytes of one 40×40 channel
const LIMIT = 10 * PLANE; // the 24-channel 40×40 tensors (stem, bn, act, up) do not fit one binding

describe('channel slices', () => {
  it('splits the too-large nodes into aligned slices covering every channel once', () => {
    const p = lowerToProgram(graph(), {
      maxStorageBufferBindingSize: LIMIT,
      minStorageBufferOffsetAlignment: 256,
    });
    const sliced = p.entries.forward.steps.filter((s) => s.ranges);
    expect(new Set(sliced.map((s) => s.node.replace(/\[.*/, '')))).toEqual(
      new Set(['stem', 'bn', 'act', 'pool', 'up']),
    );
    for (const s of sliced)
      for (const r of s.ranges!) {
        if (!r) continue;
        expect(r[0] % 256).toBe(0);
        expect(r[1]).toBeLessThanOrEqual(LIMIT);
      }
    // The stem's slices cover channels 0..24 exactly once.
    const stem = sliced
      .filter((s) => s.node.startsWith('stem['))
      .map((s) =>
        s.node
          .match(/\[(\d+):(\d+)\]/)!
          .slice(1)
          .map(Number),
      );
    expect(stem.flatMap(([a, b]) => Array.from({ length: b! - a! }, (_, i) => a! + i))).toEqual(
      Array.from({ length: 24 }, (_, i) => i),
    );
  });
  it('refuses ops that need all channels, and input read whole when too large', () => {
    const g = buildGraph('c.fcn', {
      readFile: () => SPEC.replace('out y = up', 'both = concat([up, image])\n  out y = both'),
      height: 40,
      width: 40,
    }).graph!;
    expect(() => lowerToProgram(g, { maxStorageBufferBindingSize: LIMIT })).toThrow(
      /'both' binds \d+ bytes, more than maxStorageBufferBindingSize .*concat needs all channels/,
    );
    expect(() => lowerToProgram(graph(), { maxStorageBufferBindingSize: PLANE })).toThrow(
      /input 0 .* is read whole|do not fit one binding/,
    );
  });
  it('batches above one are split into batch-1 programs first', () => {
    expect(compile(graph(3), { limits: { maxStorageBufferBindingSize: LIMIT } }).chunk).toBe(1);
  });
});

const gpu = await gpuForTests();
describe.skipIf(!gpu.dev)('channel slices on the GPU', () => {
  it('the sliced program matches the float64 reference', async () => {
    const dev = gpu.dev!;
    const g = graph();
    const program = lowerToProgram(g, { ...dev.limits, maxStorageBufferBindingSize: LIMIT });
    expect(program.entries.forward.steps.some((s) => s.ranges)).toBe(true);
    const params = seededParams(g, 5);
    const input = new Float32Array(3 * 40 * 40).map((_, i) => Math.cos(i * 0.11));
    const session = await Session.create(dev, program);
    await session.setParams(
      new Map(
        [...params].map(([k, v]) => [k, v instanceof Float64Array ? Float32Array.from(v) : v]),
      ) as never,
    );
    const got = (await session.run(new Map([['image', input]]))).get('y')!;
    const want = interpret(g, params, new Map([['image', input]])).get('y')!.data;
    expect(maxRelError(got, want)).toBeLessThan(1e-4);
  });
  it('a whole network with its largest outputs sliced (narrow EncNet+JPU, 48 KiB bindings) matches the reference', async () => {
    const dev = gpu.dev!;
    const g = buildGraph(join(ROOT, 'specs', 'enc_jpu_r50.fcn'), {
      height: 64,
      width: 64,
      settings: { width: 4, classes: 5 },
    }).graph!;
    const program = lowerToProgram(g, { ...dev.limits, maxStorageBufferBindingSize: 3 * 64 * 64 * 4 });
    expect(
      program.entries.forward.steps.filter((s) => s.ranges).map((s) => s.node.replace(/\[.*/, '')),
    ).toEqual(expect.arrayContaining(['logits', 'aux']));
    const params = seededParams(g, 9);
    const input = new Float32Array(3 * 64 * 64).map((_, i) => Math.sin(i * 0.05));
    const session = await Session.create(dev, program);
    await session.setParams(
      new Map(
        [...params].map(([k, v]) => [k, v instanceof Float64Array ? Float32Array.from(v) : v]),
      ) as never,
    );
    const got = await session.run(new Map([['image', input]]));
    const want = interpret(g, params, new Map([['image', input]]));
    for (const name of ['logits', 'aux', 'se']) {
      const a = got.get(name)!;
      const b = want.get(name)!.data;
      expect(maxRelError(a, b), name).toBeLessThan(1e-4);
    }
    dev.destroy();
  });
});
