// The IR verifier rejects malformed graphs: each case corrupts one fact of a valid graph (built with the
// GraphBuilder, or elaborated from a narrow spec) and expects a problem that names the fault. Graphs are plain
// readonly data, so a corrupted copy is a spread with one node (or table) replaced.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildGraph } from '../../compiler/index.ts';
import { GraphBuilder } from '../../compiler/ir/builder.ts';
import type { FusedMember, Graph, Node, Param } from '../../compiler/ir/types.ts';
import { verifyGraph } from '../../compiler/ir/verify.ts';
import { ROOT } from '../helpers.ts';

const conv3 = { channels: 8, kernel: 3, stride: 1, padding: 1, dilation: 1, groups: 1, bias: false };

const weight = (shape: readonly number[]): Param => ({
  name: 'conv.weight',
  shape,
  dtype: 'f32',
  init: { kind: 'kaiming_normal_fan_out' },
  trainable: true,
  role: 'weight',
  used: true,
});

/**
 * %0 input x [1,4,8,8] · %1 param conv.weight [8,4,3,3] · %2 conv(x) · %3 relu(%2) · %4 add(%3, %2); output y = %4.
 */
function plain(): Graph {
  const b = new GraphBuilder({ model: 'plain', file: '<test>', settings: {} });
  const x = b.input('x', [1, 4, 8, 8]);
  const w = b.param(b.entry(weight([8, 4, 3, 3])));
  const c = b.add('conv2d', [x], [w], conv3, { name: 'conv' });
  const r = b.add('relu', [c], [], {}, { name: 'relu' });
  const y = b.add('add', [r, c], [], {}, { name: 'sum' });
  return b.finish({
    inputs: [{ name: 'x', node: x, stride: 1 }],
    outputs: [{ name: 'y', node: y }],
    names: [{ name: 'conv', node: c }],
    losses: [],
  });
}

/** The conv and its relu as one fused node: %0 input x · %1 param conv.weight · %2 fused [conv2d, relu]. */
const fusedBody: readonly FusedMember[] = [
  {
    op: 'conv2d',
    inputs: [{ kind: 'in', index: 0 }],
    params: [{ kind: 'param', index: 0 }],
    attrs: conv3,
    shape: [1, 8, 8, 8],
    name: 'conv',
  },
  {
    op: 'relu',
    inputs: [{ kind: 'member', index: 0 }],
    params: [],
    attrs: {},
    shape: [1, 8, 8, 8],
    name: 'relu',
  },
];

function fused(body: readonly FusedMember[] = fusedBody): Graph {
  const b = new GraphBuilder({ model: 'fused', file: '<test>', settings: {} });
  const x = b.input('x', [1, 4, 8, 8]);
  const w = b.param(b.entry(weight([8, 4, 3, 3])));
  const f = b.add('fused', [x], [w], {}, { name: 'conv+relu', body, shape: [1, 8, 8, 8] });
  return b.finish({
    inputs: [{ name: 'x', node: x, stride: 1 }],
    outputs: [{ name: 'y', node: f }],
    names: [],
    losses: [],
  });
}

/** `g` with node `id` changed. */
const withNode = (g: Graph, id: number, patch: Partial<Node>): Graph => ({
  ...g,
  nodes: g.nodes.map((n) => (n.id === id ? { ...n, ...patch } : n)),
});

/** `g`'s fused node %2 with its body's member `j` changed. */
const withMember = (g: Graph, j: number, patch: Partial<FusedMember>): Graph =>
  withNode(g, 2, { body: g.nodes[2]!.body!.map((m, k) => (k === j ? { ...m, ...patch } : m)) });

/** Expects verification to fail with a problem matching `re` (and shows every problem when it does not). */
function rejects(g: Graph, re: RegExp): void {
  const problems = verifyGraph(g);
  expect(problems.length, 'the verifier accepted a malformed graph').toBeGreaterThan(0);
  expect(
    problems.some((p) => re.test(p)),
    `no problem matches ${re}:\n${problems.join('\n')}`,
  ).toBe(true);
}

describe('verifyGraph accepts valid graphs', () => {
  it('a builder graph and a fused one', () => {
    expect(verifyGraph(plain())).toEqual([]);
    expect(verifyGraph(fused())).toEqual([]);
  });

  it('narrow EncNet+JPU R50 at 64×64', () => {
    const r = buildGraph(join(ROOT, 'specs', 'enc_jpu_r50.fcn'), {
      height: 64,
      width: 64,
      settings: { width: 4 },
    });
    expect(r.graph).toBeDefined();
    expect(verifyGraph(r.graph!)).toEqual([]);
  });
});

describe('verifyGraph rejects malformed graphs', () => {
  const g = plain();

  it('a node whose shape differs from its rule (wrong shape)', () => {
    rejects(
      withNode(g, 3, { shape: [1, 8, 8, 9] }),
      /%3 \(relu 'relu'\): shape \[1, 8, 8, 9\] differs from its rule's \[1, 8, 8, 8\]/,
    );
  });

  it('a node reading a later node (bad order)', () => {
    rejects(withNode(g, 3, { inputs: [4] }), /%3 \(relu 'relu'\): reads %4, which is not an earlier node/);
  });

  it('a node reading itself', () => {
    rejects(withNode(g, 3, { inputs: [3] }), /%3 \(relu 'relu'\): reads %3, which is not an earlier node/);
  });

  it('a node reading a missing node (dangling input)', () => {
    rejects(withNode(g, 4, { inputs: [3, 99] }), /%4 \(add 'sum'\): reads %99, which is not an earlier node/);
    rejects(
      withNode(g, 2, { params: [-1] }),
      /%2 \(conv2d 'conv'\): reads %-1, which is not an earlier node/,
    );
  });

  it('two nodes with the same name (duplicate name)', () => {
    rejects(withNode(g, 4, { name: 'relu' }), /%4 \(add 'relu'\): duplicate node name/);
  });

  it('a node whose id differs from its position', () => {
    rejects(withNode(g, 3, { id: 7 }), /%3 \(relu 'relu'\): id 7 differs from its position/);
  });

  it('an unknown op', () => {
    rejects(withNode(g, 3, { op: 'gelu' }), /%3 \(gelu 'relu'\): unknown op/);
  });

  it('a node with the wrong number of inputs', () => {
    rejects(withNode(g, 3, { inputs: [2, 2] }), /%3 \(relu 'relu'\): has 2 inputs, the op takes 1/);
  });

  it('a node whose attributes make its rule fail', () => {
    rejects(
      withNode(g, 2, { attrs: { ...conv3, groups: 3 } }),
      /%2 \(conv2d 'conv'\): shape rule fails: .*groups/,
    );
  });

  it('a param node whose shape differs from its state-dict entry (parameter shape)', () => {
    rejects(
      withNode(g, 1, { shape: [8, 4, 1, 1] }),
      /%1 \(param 'conv.weight'\): shape \[8, 4, 1, 1\] differs from its entry's \[8, 4, 3, 3\]/,
    );
  });

  it('a conv whose weight has the wrong shape for its rule (parameter shape)', () => {
    // Entry and param node agree with each other, not with the conv.
    const bad = withNode({ ...g, params: [weight([8, 4, 1, 1])] }, 1, {
      shape: [8, 4, 1, 1],
      attrs: { entry: 0, shape: [8, 4, 1, 1] },
    });
    rejects(
      bad,
      /%2 \(conv2d 'conv'\): param 0 \(weight\) has shape \[8, 4, 1, 1\], its rule says \[8, 4, 3, 3\]/,
    );
  });

  it('a node reading fewer parameters than its rule declares', () => {
    rejects(withNode(g, 2, { params: [] }), /%2 \(conv2d 'conv'\): reads 0 params, its rule declares 1/);
  });

  it('a param node pointing at a missing state-dict entry', () => {
    rejects(
      withNode(g, 1, { attrs: { entry: 7, shape: [8, 4, 3, 3] } }),
      /%1 \(param 'conv.weight'\): points at state-dict entry 7, which does not exist/,
    );
  });

  it('a param node named differently from its entry', () => {
    rejects(
      withNode(g, 1, { name: 'conv.w' }),
      /%1 \(param 'conv.w'\): named differently from its entry 'conv.weight'/,
    );
  });

  it('two param nodes for one entry', () => {
    const twice: Graph = { ...g, nodes: [...g.nodes, { ...g.nodes[1]!, id: 5 }] };
    rejects(twice, /%5 \(param 'conv.weight'\): a second node for entry 'conv.weight'/);
  });

  it('a duplicate or malformed state-dict entry', () => {
    rejects({ ...g, params: [...g.params, weight([8])] }, /param 1 'conv.weight' is a duplicate name/);
    rejects(
      { ...g, params: [{ ...g.params[0]!, shape: [8, 0, 3, 3] }] },
      /param 'conv.weight' has a bad shape \[8, 0, 3, 3\]/,
    );
  });

  it('a data operand passed where a parameter is expected', () => {
    rejects(
      withNode(g, 2, { params: [0] }),
      /%2 \(conv2d 'conv'\): parameter operand %0 is not a parameter value/,
    );
  });

  it('an output pointing at a missing node', () => {
    rejects({ ...g, outputs: [{ name: 'y', node: 9 }] }, /'y' refers to a missing node %9/);
  });

  it('a duplicate output name', () => {
    rejects({ ...g, outputs: [...g.outputs, { name: 'y', node: 3 }] }, /output 'y' is declared twice/);
  });

  it('an input or a name pointing at a missing or wrong node', () => {
    rejects({ ...g, inputs: [{ name: 'x', node: 2, stride: 1 }] }, /input 'x' refers to %2, a conv2d node/);
    rejects({ ...g, names: [{ name: 'conv', node: 12 }] }, /'conv' refers to a missing node %12/);
  });

  it('a loss term on a missing node', () => {
    rejects(
      { ...g, losses: [{ kind: 'ce', weight: 1, node: 40, output: 'y', attrs: {} }] },
      /loss on 'y' refers to a missing node/,
    );
  });

  // Known gaps (reported, not fixed here: verify.ts is being rewritten): these malformed graphs pass today.
  it('a param node that reads a data input', () => {
    rejects(withNode(g, 1, { inputs: [0] }), /%1 \(param 'conv.weight'\)/);
  });

  it("a param node whose dtype differs from its entry's", () => {
    rejects(withNode(g, 1, { dtype: 'i64' }), /%1 \(param 'conv.weight'\).*dtype/);
  });

  it('an input node the graph does not list as an input', () => {
    rejects({ ...g, inputs: [] }, /%0 \(input 'x'\)/);
  });

  it('an input listed twice', () => {
    rejects({ ...g, inputs: [...g.inputs, ...g.inputs] }, /input 'x'/);
  });

  it('a corrupted elaborated graph: a conv weight entry of the wrong shape', () => {
    const spec = buildGraph(join(ROOT, 'specs', 'enc_jpu_r50.fcn'), {
      height: 64,
      width: 64,
      settings: { width: 4 },
    }).graph!;
    const conv = spec.nodes.find((n) => n.name === 'pretrained.conv1.0')!;
    const w = spec.nodes[conv.params[0]!]!;
    const k = w.attrs.entry as number;
    const shape = [w.shape[0]! + 1, ...w.shape.slice(1)];
    const bad = withNode(
      { ...spec, params: spec.params.map((p, i) => (i === k ? { ...p, shape } : p)) },
      w.id,
      { shape, attrs: { ...w.attrs, shape } },
    );
    rejects(
      bad,
      /\(conv2d 'pretrained\.conv1\.0'\): param 0 \(weight\) has shape \[\d+, 3, 3, 3\], its rule says/,
    );
  });
});

describe('verifyGraph rejects inconsistent fused bodies', () => {
  const g = fused();

  it('a fused node without a body', () => {
    rejects(withNode(g, 2, { body: [] }), /%2 \(fused 'conv\+relu'\): a fused node without a body/);
  });

  it('a member whose shape differs from its rule', () => {
    rejects(
      withMember(g, 0, { shape: [1, 8, 4, 4] }),
      /member 0 \(conv2d 'conv'\): shape \[1, 8, 4, 4\] differs from its rule's \[1, 8, 8, 8\]/,
    );
  });

  it("a node whose shape differs from its last member's", () => {
    rejects(
      withNode(g, 2, { shape: [1, 8, 4, 4] }),
      /%2 \(fused 'conv\+relu'\): shape \[1, 8, 4, 4\] differs from its last member's/,
    );
  });

  it('a member reading a later member, a missing input or a missing param', () => {
    rejects(
      withMember(g, 0, { inputs: [{ kind: 'member', index: 1 }] }),
      /member 0 \(conv2d 'conv'\): an operand refers to nothing \(or to a later member\)/,
    );
    rejects(
      withMember(g, 0, { inputs: [{ kind: 'in', index: 3 }] }),
      /member 0 \(conv2d 'conv'\): an operand refers to nothing/,
    );
    rejects(
      withMember(g, 0, { params: [{ kind: 'param', index: 1 }] }),
      /member 0 \(conv2d 'conv'\): an operand refers to nothing/,
    );
  });

  it('a member taking a data operand as its parameter', () => {
    rejects(
      withMember(g, 0, { params: [{ kind: 'in', index: 0 }] }),
      /member 0 \(conv2d 'conv'\): a parameter operand is not a param/,
    );
  });

  it('a member of a structural op', () => {
    rejects(withMember(g, 1, { op: 'input' }), /member 1 \(input 'relu'\): not a computing op/);
  });

  it('a member with the wrong number of inputs', () => {
    rejects(
      withMember(g, 1, {
        inputs: [
          { kind: 'member', index: 0 },
          { kind: 'member', index: 0 },
        ],
      }),
      /member 1 \(relu 'relu'\): has 2 inputs, the op takes 1/,
    );
  });

  it('an input of the fused node that no member reads', () => {
    const b = new GraphBuilder({ model: 'fused', file: '<test>', settings: {} });
    const x = b.input('x', [1, 4, 8, 8]);
    const z = b.input('z', [1, 4, 8, 8]);
    const w = b.param(b.entry(weight([8, 4, 3, 3])));
    const f = b.add('fused', [x, z], [w], {}, { name: 'conv+relu', body: fusedBody, shape: [1, 8, 8, 8] });
    const bad = b.finish({ inputs: [], outputs: [{ name: 'y', node: f }], names: [], losses: [] });
    rejects(bad, /%3 \(fused 'conv\+relu'\): input 1 is read by no member/);
  });

  // Known gaps (reported, not fixed here: verify.ts is being rewritten): these malformed fused nodes pass today.
  it('a parameter of the fused node that no member reads', () => {
    const b = new GraphBuilder({ model: 'fused', file: '<test>', settings: {} });
    const x = b.input('x', [1, 4, 8, 8]);
    const w = b.param(b.entry(weight([8, 4, 3, 3])));
    const v = b.param(b.entry({ ...weight([8]), name: 'other.bias', role: 'bias' }));
    const f = b.add('fused', [x], [w, v], {}, { name: 'conv+relu', body: fusedBody, shape: [1, 8, 8, 8] });
    const bad = b.finish({ inputs: [], outputs: [{ name: 'y', node: f }], names: [], losses: [] });
    rejects(bad, /param 1 is read by no member/);
  });

  it('an epilogue member that is not elementwise (a conv after the anchor)', () => {
    const body: FusedMember[] = [
      {
        op: 'relu',
        inputs: [{ kind: 'in', index: 0 }],
        params: [],
        attrs: {},
        shape: [1, 4, 8, 8],
        name: 'relu',
      },
      {
        op: 'conv2d',
        inputs: [{ kind: 'member', index: 0 }],
        params: [{ kind: 'param', index: 0 }],
        attrs: conv3,
        shape: [1, 8, 8, 8],
        name: 'conv',
      },
    ];
    rejects(fused(body), /member 1 \(conv2d 'conv'\)/);
  });

  it('an anchor whose result no later member reads', () => {
    const body: FusedMember[] = [
      fusedBody[0]!,
      { ...fusedBody[1]!, op: 'relu', inputs: [{ kind: 'in', index: 0 }], shape: [1, 4, 8, 8] },
    ];
    // The conv is computed and dropped; the node is relu(x) under a conv's name.
    rejects(
      withNode(fused(body), 2, { shape: [1, 4, 8, 8] }),
      /member 1 \(relu 'relu'\): does not read the member before it/,
    );
  });
});
