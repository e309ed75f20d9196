// Memory planning: whole buffers are shared only by values whose live ranges do not overlap; inputs, parameters
// and outputs keep their own; no dispatch binds one buffer twice; the plan sits between the lower bound and the
// naive sum.
import fc from 'fast-check';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildGraph } from '../../compiler/index.ts';
import { lowerToProgram, planBuffers } from '../../compiler/codegen/program.ts';
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
              const permanent = (v: V) => v.kind === 'input' || v.kind === 'param' || v.last === Infinity;
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
    const p = lowerToProgram(g);
    const { naiveBytes, plannedBytes, lowerBoundBytes } = p.memory;
    expect(naiveBytes).toBeGreaterThan(1.5 * 2 ** 30); // one buffer per value: ~1667 MiB
    expect(plannedBytes).toBeLessThan(naiveBytes / 3); // 1667 MiB naive → ~442 MiB at 512²
    expect(plannedBytes).toBeLessThan(lowerBoundBytes * 1.25);
    expect(plannedBytes).toBe(p.buffers.reduce((a, b) => a + b.bytes, 0));
    // No dispatch binds one buffer twice (read-only and writable in one dispatch is invalid in WebGPU).
    for (const s of p.steps)
      expect(new Set(s.buffers).size, `${s.node} binds a buffer twice`).toBe(s.buffers.length);
    // Inputs, outputs and parameters have buffers of their own.
    const own = [
      ...p.inputs.map((i) => i.buffer),
      ...p.outputs.map((o) => o.buffer),
      ...p.params.flatMap((q) => (q.buffer === null ? [] : [q.buffer])),
    ];
    expect(new Set(own).size).toBe(own.length);
    // Nothing writes into an input or a parameter (they are uploaded once, before the steps).
    const kernels = new Map(p.kernels.map((k) => [k.name, k]));
    const written = new Set(
      p.steps.flatMap((s) => kernels.get(s.kernel)!.writable.map((i) => s.buffers[i]!)),
    );
    for (const b of [
      ...p.inputs.map((i) => i.buffer),
      ...p.params.flatMap((q) => (q.buffer === null ? [] : [q.buffer])),
    ])
      expect(written.has(b)).toBe(false);
  });
});
