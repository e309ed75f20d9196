// Every backward rule against central finite differences, in float64, generic over the op registry: for each op
// with a `backward` and each of its test cases (test/gpu/cases.ts), L = Σ y·r for a random r; the rule's gradients
// (its nodes run by the reference interpreter) must equal (L(θ + h) − L(θ − h)) / 2h for sampled elements of every
// input and parameter it differentiates. A new op with a backward rule cannot skip this; one without must say why
// (`noBackward`, checked in test/ops/registry.test.ts).
import { describe, expect, it } from 'vitest';
import { getOp, OPS } from '../../compiler/ops/index.ts';
import type { BackwardCtx, RefTensor } from '../../compiler/ops/op.ts';
import { GraphBuilder } from '../../compiler/ir/builder.ts';
import { interpret } from '../../compiler/ir/interpret.ts';
import { numel, type Attrs, type Shape } from '../../compiler/ir/types.ts';
import { CASES, type Case } from '../gpu/cases.ts';
import { oneOpGraph, randomInputs, randomParams, rng } from '../gpu/harness.ts';

const H = 1e-6;
const TOL = 1e-6;
/** Cases larger than this (elements over all operands) are left to the GPU tests. */
const MAX_ELEMENTS = 6000;
const SAMPLES = 12;

/** The rule's gradients for one op application, computed by the reference interpreter. */
export function analyticGradients(
  opName: string,
  inputs: readonly Shape[],
  attrs: Attrs,
  params: ReadonlyMap<string, Float64Array>,
  data: ReadonlyMap<string, Float64Array>,
  dy: Float64Array,
): (RefTensor | null)[] {
  const g = oneOpGraph(opName, inputs, attrs);
  const op = getOp(opName);
  const b = GraphBuilder.like(g);
  const ins = inputs.map((s, k) => b.input(`x${k}`, s));
  const ps = g.params.map((_, k) => b.param(k));
  const node = g.nodes[g.nodes.length - 1]!;
  const out = b.add(opName, ins, ps, attrs, { name: 'op' });
  const dyNode = b.input('dy', node.shape);
  const ctx: BackwardCtx = {
    inputs: ins,
    params: ps,
    out,
    dy: dyNode,
    attrs,
    shapes: { inputs, params: g.params.map((p) => p.shape), out: node.shape },
    add: (o, xs, pp, a, what) => b.add(o, xs, pp, a, { name: `op.grad.${what}` }),
  };
  const grads = op.backward!(ctx);
  expect(grads.length, `${opName}: one gradient (or null) per input and parameter`).toBe(
    ins.length + ps.length,
  );
  const outputs = grads.flatMap((id, k) => (id === null ? [] : [{ name: `g${k}`, node: id }]));
  const graph = b.finish({
    inputs: [
      ...ins.map((node, k) => ({ name: `x${k}`, node, stride: 1 })),
      { name: 'dy', node: dyNode, stride: 1 },
    ],
    outputs,
    names: [],
    losses: [],
  });
  const r = interpret(graph, params, new Map([...data, ['dy', dy]]));
  return grads.map((id, k) => (id === null ? null : r.get(`g${k}`)!));
}

function loss(
  op: ReturnType<typeof getOp>,
  ins: RefTensor[],
  ps: RefTensor[],
  attrs: Attrs,
  out: Shape,
  r: Float64Array,
): number {
  const y = op.reference!(ins, ps, attrs, out);
  let l = 0;
  for (let i = 0; i < r.length; i++) l += y.data[i]! * r[i]!;
  return l;
}

const withBackward = [...OPS.values()].filter((o) => o.backward);

describe('backward rules vs central finite differences (float64)', () => {
  const cases = withBackward.flatMap((op) =>
    (CASES[op.name] ?? [])
      .map((c, k) => [op.name, k, c] as const)
      .filter(([, , c]) => !c.limits && c.inputs.reduce((a, s) => a + numel(s), 0) <= MAX_ELEMENTS),
  );

  it('has cases for every op with a backward rule', () => {
    for (const op of withBackward)
      expect(
        cases.some(([name]) => name === op.name),
        `${op.name} has no small case (≤ ${MAX_ELEMENTS} elements, no limits) in test/gpu/cases.ts`,
      ).toBe(true);
  });

  it.each(
    cases.map(([name, k, c]) => [
      `${name} #${k} ${JSON.stringify(c.inputs)} ${JSON.stringify(c.attrs)}`,
      name,
      k,
      c,
    ]),
  )('%s', (_label, name, k, c: Case) => {
    const op = getOp(name);
    const g = oneOpGraph(name, c.inputs, c.attrs);
    const params = randomParams(g, 300 + k);
    const data = randomInputs(g, 400 + k, c.ranges, c.integers);
    const out = g.nodes[g.nodes.length - 1]!.shape;
    const rand = rng(500 + k);
    const r = Float64Array.from({ length: numel(out) }, () => rand());
    const grads = analyticGradients(name, c.inputs, c.attrs, params, data, r);
    const ins = c.inputs.map((s, j) => ({ shape: s, data: Float64Array.from(data.get(`x${j}`)!) }));
    const ps = g.params.map((p) => ({ shape: p.shape, data: Float64Array.from(params.get(p.name)!) }));
    const tensors = [...ins, ...ps];
    const pick = rng(600 + k);
    tensors.forEach((t, j) => {
      const a = grads[j];
      if (!a) return;
      expect(a.shape, `${name}: gradient ${j} has the shape of its operand`).toEqual([...t.shape]);
      const scale = Math.max(1, ...Array.from(a.data, Math.abs));
      const n = t.data.length;
      const idx =
        n <= SAMPLES ? [...Array(n).keys()] : Array.from({ length: SAMPLES }, () => Math.floor(pick(0, n)));
      for (const i of idx) {
        const v = t.data[i]!;
        t.data[i] = v + H;
        const lp = loss(op, ins, ps, c.attrs, out, r);
        t.data[i] = v - H;
        const lm = loss(op, ins, ps, c.attrs, out, r);
        t.data[i] = v;
        const numeric = (lp - lm) / (2 * H);
        expect(
          Math.abs(a.data[i]! - numeric),
          `${name}: d/d${j < ins.length ? `input ${j}` : `param ${j - ins.length}`}[${i}]: rule ${a.data[i]} vs finite difference ${numeric}`,
        ).toBeLessThanOrEqual(TOL * scale * 10);
      }
    });
  });
});
