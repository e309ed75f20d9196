// fold_batchnorm: an inference batchnorm is a per-channel affine map y = x·s + t with s = γ/√(σ² + ε) and
// t = β − μ·s. After a conv whose only reader it is, it folds into the conv: weights w·s[o] and bias t (+ s·b when
// the conv had a bias) — exact in real arithmetic, one kernel instead of two. Elsewhere (after the Encoding layer,
// after a concat) it becomes `affine(x; s, t)`, which fuses into its producer as an epilogue. s, t and the folded
// weights are derived parameters: computed from the loaded state dict once, when the weights are loaded, so
// checkpoints keep loading under their official names.
import type { GraphBuilder } from '../ir/builder.ts';
import { rewrite } from '../ir/builder.ts';
import { bytesOf, consumers, type Node } from '../ir/types.ts';
import { maxBinding } from '../codegen/limits.ts';
import { count, definePass, keptNodes } from './pass.ts';

export const foldBatchnorm = definePass({
  name: 'fold_batchnorm',
  doc: 'fold inference batchnorm into the conv before it, or make it a per-channel affine map',
  run(g, ctx) {
    const readers = consumers(g);
    const kept = keptNodes(g);
    // A tensor larger than one binding is computed in channel slices, which cut state-dict parameters into
    // per-slice buffers at upload: such batchnorms stay as they are.
    const tooLarge = (n: Node): boolean => bytesOf(n.shape) > maxBinding(ctx.limits);
    // Convs whose value only a batchnorm reads: that batchnorm folds into them.
    const foldInto = new Map<number, number>(); // batchnorm id → conv id
    for (const n of g.nodes) {
      if (n.op !== 'batchnorm' || tooLarge(n)) continue;
      const x = g.nodes[n.inputs[0]!]!;
      if (x.op === 'conv2d' && readers[x.id]!.length === 1 && !kept.has(x.id)) foldInto.set(n.id, x.id);
    }
    const folded = new Set(foldInto.values());
    let affine = 0;
    const graph = rewrite(g, (n, b, map) => {
      if (folded.has(n.id)) return -1; // made again, with the batchnorm in it, where the batchnorm is
      if (n.op !== 'batchnorm' || tooLarge(n)) return undefined;
      const [gamma, beta, mean, variance] = n.params.map(map) as [number, number, number, number];
      const eps = n.attrs.eps as number;
      const scale = b.add(
        'bn_scale',
        [gamma, variance],
        [],
        { eps },
        { name: `${n.name}.scale`, span: n.span },
      );
      const convId = foldInto.get(n.id);
      if (convId === undefined) {
        affine++;
        const shift = b.add(
          'bn_shift',
          [beta, mean, scale],
          [],
          {},
          { name: `${n.name}.shift`, span: n.span },
        );
        return b.add(
          'affine',
          [map(n.inputs[0]!)],
          [scale, shift],
          {},
          {
            name: n.name,
            span: n.span,
            origins: [origin(n)],
          },
        );
      }
      return foldConv(b, g.nodes[convId]!, n, scale, beta, mean, map);
    });
    const changes = [];
    if (foldInto.size) changes.push(`${count(foldInto.size, 'batchnorm')} folded into convs`);
    if (affine)
      changes.push(
        `${count(affine, 'other batchnorm')} became per-channel affine ${affine === 1 ? 'map' : 'maps'}`,
      );
    return { graph, changes };
  },
});

const origin = (n: Node) => ({ name: n.name, op: n.op, ...(n.span ? { span: n.span } : {}) });

/** conv(x; w, [b]) → bn becomes conv(x; w·s, t) with t = β + (b − μ)·s. */
function foldConv(
  b: GraphBuilder,
  conv: Node,
  bn: Node,
  scale: number,
  beta: number,
  mean: number,
  map: (old: number) => number,
): number {
  const [w, bias] = conv.params.map(map);
  const shift = b.add(
    'bn_shift',
    bias === undefined ? [beta, mean, scale] : [beta, mean, scale, bias],
    [],
    {},
    {
      name: `${conv.name}.bias+bn`,
      span: bn.span,
    },
  );
  const weight = b.add('scale_rows', [w!, scale], [], {}, { name: `${conv.name}.weight*bn`, span: bn.span });
  return b.add(
    'conv2d',
    [map(conv.inputs[0]!)],
    [weight, shift],
    { ...conv.attrs, bias: true },
    {
      name: conv.name,
      span: conv.span,
      origins: [...(conv.origins ?? [origin(conv)]), origin(bn)],
    },
  );
}
