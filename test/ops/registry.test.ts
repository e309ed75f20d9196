// Registry completeness: every op record carries the fields later stages rely on.
import { describe, expect, it } from 'vitest';
import { OPS } from '../../compiler/ops/index.ts';

describe('op registry', () => {
  const ops = [...OPS.values()].filter((o) => !o.structural);

  it.each(ops.map((o) => [o.name, o] as const))('%s has a float64 CPU reference', (_name, op) => {
    expect(typeof op.reference).toBe('function');
  });

  it('names every op by its registry key', () => {
    for (const [key, op] of OPS) expect(op.name).toBe(key);
  });
});
