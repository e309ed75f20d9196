// Batches larger than the device's buffer limits run in chunks through a program compiled for a smaller batch,
// with the same results as the whole batch.
import { describe, expect, it } from 'vitest';
import { buildGraph } from '../../compiler/index.ts';
import { rebatch } from '../../compiler/codegen/batch.ts';
import { compile } from '../../compiler/compile.ts';
import { lowerToProgram } from '../../compiler/codegen/lower.ts';
import { verifyGraph } from '../../compiler/ir/verify.ts';
import { interpret, seededParams } from '../../compiler/ir/interpret.ts';
import { Session } from '../../runtime/execute.ts';
import { runInChunks } from '../../runtime/chunks.ts';
import { gpuForTests } from '../gpu/harness.ts';
import { maxRelError, ROOT } from '../helpers.ts';
import { join } from 'node:path';

// enc_bilinear at width 4: every parameter is smaller than one sample's largest activation, so the activations
// decide the chunk.
const spec = join(ROOT, 'specs', 'enc_bilinear_r50.fcn');
const graph = (batch: number) =>
  buildGraph(spec, { batch, height: 64, width: 64, settings: { width: 4, classes: 3 } }).graph!;

describe('batch chunks', () => {
  it('rebatch gives the graph elaboration gives for that batch', () => {
    const g = rebatch(graph(5), 2);
    expect(verifyGraph(g)).toEqual([]);
    expect(g.nodes.map((n) => n.shape)).toEqual(graph(2).nodes.map((n) => n.shape));
  });
  it('picks the largest chunk whose buffers fit', () => {
    const g = graph(8);
    const largest = Math.max(...g.nodes.map((n) => n.shape.reduce((a, b) => a * b, 4)));
    const perSample = largest / 8;
    expect(
      Math.max(...g.params.filter((p) => p.used).map((p) => p.shape.reduce((a, b) => a * b, 4))),
    ).toBeLessThan(perSample);
    expect(compile(g).chunk).toBe(8);
    // Room for 3 samples of the largest tensor → chunks of 2 (halving from 8: 8, 4, 2).
    expect(compile(g, { limits: { maxStorageBufferBindingSize: perSample * 3 } }).chunk).toBe(2);
    expect(() => compile(g, { limits: { maxStorageBufferBindingSize: perSample / 2 } })).toThrow(
      /\(even at batch 1\)/,
    );
    expect(() => lowerToProgram(g, { maxStorageBufferBindingSize: perSample * 3 })).toThrow(
      /maxStorageBufferBindingSize/,
    );
  });
});

const gpu = await gpuForTests();
describe.skipIf(!gpu.dev)('batch chunks on the GPU', () => {
  it('a batch of 3 in chunks of 2 (last one padded) equals the float64 reference', async () => {
    const dev = gpu.dev!;
    const g = graph(3);
    const perSample = Math.max(...g.nodes.map((n) => n.shape.reduce((a, b) => a * b, 4))) / 3;
    const { program, chunk } = compile(g, {
      limits: { ...dev.limits, maxStorageBufferBindingSize: perSample * 2 },
    });
    expect(chunk).toBe(2);
    const params = seededParams(g, 3);
    const input = new Float32Array(3 * 3 * 64 * 64).map((_, i) => Math.sin(i * 0.37));
    const session = await Session.create(dev, program);
    await session.setParams(
      new Map(
        [...params].map(([k, v]) => [k, v instanceof Float64Array ? Float32Array.from(v) : v]),
      ) as never,
    );
    const out = await runInChunks(session, program, 'image', input, 3);
    const ref = interpret(g, params, new Map([['image', input]]));
    for (const name of ['logits', 'aux']) {
      const a = out.get(name)!;
      const b = ref.get(name)!.data;
      expect(maxRelError(a, b), name).toBeLessThan(1e-4);
    }
    dev.destroy();
  });
});
