// Memory planning: whole buffers are shared only by values whose live ranges do not overlap; inputs, parameters
// and outputs keep their own; no dispatch binds one buffer twice; the plan sits between the lower bound and the
// naive sum.
import fc from 'fast-check';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildGraph } from '../../compiler/index.ts';
import { planBuffers } from '../../compiler/schedule/memory.ts';
import { compile } from '../../compiler/compile.ts';
import { ROOT } from '../helpers.ts';

type V = Parameters<typeof planBuffers>[0][number];

describe('planBuffers', () => {
  it('never shares a buffer between values live at the same step (random intervals)', () => {
    const value = fc
      .record({
        first: fc.nat(40),
        len: fc.nat(10),
        bytes: fc.integer({ min: 1, max: 5000 }),
        kind: fc.constantFrom('activation', 'activation', 'scratch', 'param', 'input'),
        output: fc.boolean(),
      })
      .map((r): V => ({
        kind: r.kind as V['kind'],
        bytes: r.bytes,
        label: 'v',
        first: r.first,
        last: r.output && r.kind === 'activation' ? Infinity : r.first + r.len,
      }));
    fc.assert(
      fc.property(
        fc.array(value, { maxLength: 60 }),
        fc.constantFrom(Infinity, 3000),
        (values, maxBinding) => {
          const { bufferOf, buffers, memory } = planBuffers(values, maxBinding);
          values.forEach((a, i) => {
            expect(buffers[bufferOf[i]!]!.bytes).toBeGreaterThanOrEqual(a.bytes);
            if (a.bytes <= maxBinding)
              expect(buffers[bufferOf[i]!]!.bytes).toBeLessThanOrEqual(Math.max(maxBinding, 16));
            values.forEach((b, j) => {
              if (i >= j || bufferOf[i] !== bufferOf[j]) return;
              const permanent = (v: V) =>
                ['input', 'output', 'param', 'derived'].includes(v.kind) || v.last === Infinity;
              expect(permanent(a) || permanent(b), 'permanent values are never shared').toBe(false);
              expect(
                a.last < b.first || b.last < a.first,
                `values ${i} [${a.first}, ${a.last}] and ${j} [${b.first}, ${b.last}] overlap`,
              ).toBe(true);
            });
          });
          expect(memory.plannedBytes).toBeLessThanOrEqual(memory.naiveBytes);
          expect(memory.plannedBytes).toBeGreaterThanOrEqual(memory.lowerBoundBytes);
        },
      ),
      { numRuns: 300, seed: 11 },
    );
  });

  it('reuses buffers on a real network and reports the three numbers', () => {
    const g = buildGraph(join(ROOT, 'specs', 'enc_jpu_r50.fcn')).graph!;
    const p = compile(g).program;
    const { naiveBytes, plannedBytes, lowerBoundBytes, rawParamBytes, paramBytes } = p.memory;
    expect(plannedBytes).toBeLessThan(naiveBytes / 2);
    expect(plannedBytes).toBeGreaterThanOrEqual(lowerBoundBytes);
    expect(plannedBytes).toBeLessThanOrEqual(lowerBoundBytes * 1.1);
    const data = p.buffers.filter((b) => !['param', 'derived'].includes(b.kind));
    expect(plannedBytes).toBe(data.reduce((a, b) => a + b.bytes, 0));
    // Folding replaces conv weights by folded ones (the raw ones are freed after load); parameters ~189 MiB.
    expect(rawParamBytes).toBeGreaterThan(180 * 2 ** 20);
    expect(paramBytes).toBeLessThan(rawParamBytes * 1.05);
    const forward = p.entries.forward;
    const kernels = new Map(p.kernels.map((k) => [k.name, k]));
    // A buffer bound writable is bound once in its dispatch (WebGPU forbids read-only + writable aliasing).
    for (const s of forward.steps)
      for (const w of kernels.get(s.kernel)!.writable)
        expect(s.buffers.filter((b) => b === s.buffers[w]).length, `${s.node} binds its output twice`).toBe(
          1,
        );
    // Inputs, outputs and parameters have buffers of their own.
    const own = [
      ...forward.inputs.map((i) => i.buffer),
      ...forward.outputs.map((o) => o.buffer),
      ...p.params.flatMap((q) => (q.buffer === null ? [] : [q.buffer])),
    ];
    expect(new Set(own).size).toBe(own.length);
    // Nothing in the forward entry writes into an input or a parameter (they are uploaded before the steps).
    const written = new Set(
      forward.steps.flatMap((s) => kernels.get(s.kernel)!.writable.map((i) => s.buffers[i]!)),
    );
    for (const b of [
      ...forward.inputs.map((i) => i.buffer),
      ...p.params.flatMap((q) => (q.buffer === null ? [] : [q.buffer])),
    ])
      expect(written.has(b)).toBe(false);
  });
});
