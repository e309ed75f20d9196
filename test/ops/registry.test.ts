// Registry completeness, in one place and without a GPU: every op that computes (not `structural`) carries each
// part the later stages rely on — a shape rule, a float64 CPU reference, a WGSL kernel, a backward rule or the
// reason it needs none — and has GPU test cases
// in test/gpu/cases.ts (run against the reference by test/gpu/ops.test.ts, checked for well-formed kernels by
// test/codegen/program.test.ts). An op added without one of them fails here, naming the op and the part.
import { describe, expect, it } from 'vitest';
import { OPS } from '../../compiler/ops/index.ts';
import type { OpDef } from '../../compiler/ops/op.ts';
import type { Attrs } from '../../compiler/ir/types.ts';
import { CASES } from '../gpu/cases.ts';

/** Each part an op needs, with what to add when it is missing. */
const PARTS: readonly { readonly part: string; readonly has: (op: OpDef<Attrs>) => boolean }[] = [
  { part: 'a doc line (doc)', has: (op) => typeof op.doc === 'string' && op.doc.trim() !== '' },
  {
    part: "an arity (a count or 'variadic')",
    has: (op) => op.arity === 'variadic' || (Number.isInteger(op.arity) && op.arity >= 0),
  },
  { part: 'a shape rule (inferShape)', has: (op) => typeof op.inferShape === 'function' },
  { part: 'a float64 CPU reference (reference)', has: (op) => typeof op.reference === 'function' },
  {
    part: 'a WGSL kernel (kernel, an emitter in compiler/codegen/wgsl/)',
    has: (op) => typeof op.kernel === 'function',
  },
  { part: 'GPU test cases (CASES in test/gpu/cases.ts)', has: (op) => (CASES[op.name]?.length ?? 0) > 0 },
  {
    part: 'a backward rule (backward, checked by test/ops/gradients.test.ts) or the reason it has none (noBackward)',
    has: (op) =>
      typeof op.backward === 'function' || (typeof op.noBackward === 'string' && op.noBackward !== ''),
  },
];

/** Ops that are graph structure, not computation: the only ones exempt from the parts above. */
const STRUCTURAL = ['fused', 'input', 'param', 'state'];

describe('op registry', () => {
  const ops = [...OPS.values()].filter((o) => !o.structural);

  it('has computing ops', () => expect(ops.length).toBeGreaterThan(0));

  it.each(ops.map((o) => [o.name, o] as const))('%s has every part', (name, op) => {
    const missing = PARTS.filter((p) => !p.has(op)).map((p) => p.part);
    expect(missing, `op '${name}' lacks ${missing.join(', ')}`).toEqual([]);
  });

  it('names every op by its registry key', () => {
    for (const [key, op] of OPS) expect(op.name, `registry key '${key}'`).toBe(key);
  });

  it('exempts only the structural ops', () => {
    const structural = [...OPS.values()].filter((o) => o.structural).map((o) => o.name);
    expect(structural.sort(), 'an op marked structural skips every completeness check').toEqual(STRUCTURAL);
  });

  it('has test cases only for registered computing ops', () => {
    for (const name of Object.keys(CASES))
      expect(
        OPS.has(name) && !OPS.get(name)!.structural,
        `test/gpu/cases.ts has cases for '${name}', which is not a computing op of the registry`,
      ).toBe(true);
  });
});
