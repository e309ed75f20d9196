// fuse_epilogues: chains of pointwise ops fuse into the kernel of the op that produces their input — bias,
// residual add, relu, sigmoid, a per-channel affine or factor are applied to each output element in registers
// before it is stored, instead of each reading and writing the whole tensor again. A chain whose input has other
// readers becomes one pointwise kernel of its own (its first op is the anchor).
//
// A pointwise node P joins the group of the node X it reads as its primary operand when: X is the group's current
// result; P is X's only reader and X is not an output (so X's value is never needed in memory); P's other operands
// are outside the group (they were computed before the group's kernel runs, which is at P's place in the order);
// the kernel stays within the device's storage-buffer limit; nothing involved needs channel slicing. The result is
// one `fused` node per group with more than one member (Node.body: the anchor, then the epilogue chain).
import { getOp } from '../ops/index.ts';
import type { KernelPlan } from '../ops/op.ts';
import { GraphBuilder, originsOf, rewrite } from '../ir/builder.ts';
import {
  bytesOf,
  constantNodes,
  consumers,
  type FusedMember,
  type Graph,
  type Node,
  type Ref,
} from '../ir/types.ts';
import { kernelOptions, limit, maxBinding } from '../codegen/limits.ts';
import { count, definePass, keptNodes } from './pass.ts';

interface Group {
  readonly members: number[];
  /** Operand node ids outside the group (deduplicated), for the binding count. */
  readonly external: Set<number>;
  /** Bindings of the anchor's kernel that are not epilogue operands (its inputs, params, scratch, output). */
  readonly base: number;
}

export const fuseEpilogues = definePass({
  name: 'fuse_epilogues',
  doc: 'fuse chains of pointwise ops into the kernel that produces their input',
  run(g, ctx) {
    const readers = consumers(g);
    const kept = keptNodes(g);
    const constant = constantNodes(g);
    const maxBuffers = limit(ctx.limits, 'maxStorageBuffersPerShaderStage');
    const tooLarge = (id: number): boolean => bytesOf(g.nodes[id]!.shape) > maxBinding(ctx.limits);
    const groupOf = new Array<number>(g.nodes.length).fill(-1);
    const groups: Group[] = [];

    for (const n of g.nodes) {
      if (n.op === 'input' || n.op === 'param' || n.op === 'state' || constant[n.id]) continue;
      const pw = getOp(n.op).pointwise;
      let joined = false;
      if (pw && !tooLarge(n.id)) {
        // Prefer the last eligible primary input (the later producer: usually the heavier kernel).
        for (const j of [...pw.primary].reverse()) {
          const x = n.inputs[j]!;
          const gi = groupOf[x]!;
          if (gi < 0) continue;
          const grp = groups[gi]!;
          if (grp.members[grp.members.length - 1] !== x) continue;
          if (kept.has(x) || readers[x]!.length !== 1) continue;
          if (g.nodes[grp.members[0]!]!.op === 'concat') continue; // a concat stays a pure view (eliminate_concat)
          const others = operandsOf(n).filter((o, k) => !(k === j && o === x));
          if (others.some((o) => groupOf[o] === gi || tooLarge(o))) continue;
          const external = new Set([...grp.external, ...others]);
          if (grp.base + epilogueOperands(g, grp.members, n, external) > maxBuffers) continue;
          grp.members.push(n.id);
          for (const o of others) grp.external.add(o);
          groupOf[n.id] = gi;
          joined = true;
          break;
        }
      }
      if (!joined) {
        groupOf[n.id] = groups.length;
        groups.push({
          members: [n.id],
          external: new Set(operandsOf(n)),
          base: anchorBindings(g, n, ctx.limits),
        });
      }
    }

    const fused = groups.filter((grp) => grp.members.length > 1);
    if (fused.length === 0) return { graph: g, changes: [] };
    const tailOf = new Map(fused.map((grp) => [grp.members[grp.members.length - 1]!, grp]));
    const inner = new Set(fused.flatMap((grp) => grp.members.slice(0, -1)));
    const graph = rewrite(g, (n, b, map) => {
      if (inner.has(n.id)) return -1; // computed inside the kernel of its group
      const grp = tailOf.get(n.id);
      return grp ? buildFused(g, grp.members, b, map) : undefined;
    });
    const ops = fused.reduce((a, grp) => a + grp.members.length - 1, 0);
    return {
      graph,
      changes: [`${count(ops, 'pointwise op')} fused into ${count(fused.length, 'kernel')}`],
    };
  },
});

/** A node's operands in binding order: data inputs, then the parameters a pointwise expression reads. */
function operandsOf(n: Node): number[] {
  const pw = getOp(n.op).pointwise;
  const params = pw?.params ? pw.params.map((k) => n.params[k]!) : n.params;
  return [...n.inputs, ...params];
}

/**
 * Epilogue operands after adding `next` to the chain `members`: the outside operands of the members after the
 * anchor, deduplicated (each is one binding, even when the anchor binds the same value too).
 */
function epilogueOperands(g: Graph, members: readonly number[], next: Node, external: Set<number>): number {
  const epi = new Set<number>();
  for (const id of [...members.slice(1), next.id]) {
    const m = id === next.id ? next : g.nodes[id]!;
    for (const o of operandsOf(m)) if (external.has(o)) epi.add(o);
  }
  return epi.size;
}

/** Storage buffers the anchor's kernel binds on its own (its widest dispatch that stores the output). */
function anchorBindings(g: Graph, n: Node, limits: Parameters<typeof kernelOptions>[0]): number {
  const op = getOp(n.op);
  if (!op.kernel) return 0;
  const made = op.kernel({
    inputs: n.inputs.map((i) => g.nodes[i]!.shape),
    out: n.shape,
    attrs: n.attrs,
    params: n.params.map((i) => g.nodes[i]!.shape),
    opts: kernelOptions(limits),
  });
  const plan: KernelPlan = 'wgsl' in made ? { scratch: [], dispatches: [made] } : made;
  return Math.max(
    0,
    ...plan.dispatches.filter((d) => d.bindings.includes('output')).map((d) => d.bindings.length),
  );
}

/** The fused node of a group: its members as a body, their outside operands as its inputs and params. */
function buildFused(
  g: Graph,
  members: readonly number[],
  b: GraphBuilder,
  map: (old: number) => number,
): number {
  const ins: number[] = [];
  const ps: number[] = [];
  const index = new Map<number, number>(members.map((id, k) => [id, k]));
  const ref = (old: number, asParam: boolean): Ref => {
    const m = index.get(old);
    if (m !== undefined) return { kind: 'member', index: m };
    const list = asParam ? ps : ins;
    const id = map(old);
    let k = list.indexOf(id);
    if (k < 0) k = list.push(id) - 1;
    return { kind: asParam ? 'param' : 'in', index: k };
  };
  const body: FusedMember[] = members.map((id) => {
    const n = g.nodes[id]!;
    return {
      op: n.op,
      inputs: n.inputs.map((i) => ref(i, false)),
      params: n.params.map((i) => ref(i, true)),
      attrs: n.attrs,
      shape: n.shape,
      name: n.name,
      ...(n.span ? { span: n.span } : {}),
    };
  });
  const anchor = g.nodes[members[0]!]!;
  const tail = g.nodes[members[members.length - 1]!]!;
  return b.add(
    'fused',
    ins,
    ps,
    {},
    {
      name: anchor.name,
      ...(anchor.span ? { span: anchor.span } : {}),
      origins: members.flatMap((id) => originsOf(g.nodes[id]!)),
      body,
      shape: tail.shape,
    },
  );
}
