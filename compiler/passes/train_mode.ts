// train_mode: the forward pass as PyTorch's model.train() computes it, and the spec's losses as values.
//  - batchnorm normalises with the batch's statistics (mean, biased variance over N and the positions) and
//    updates its running statistics as torch.nn.BatchNorm does: new = (1 − momentum)·old + momentum·batch, the
//    variance made unbiased by n/(n − 1) (Graph.updates);
//  - dropout draws its mask from a counter-based hash of (seed, step, this dropout, element or channel): the
//    inputs `labels` ([N, H, W] class indices, −1 ignored) and `hyper` (learning rate, step, seed) join the image;
//  - every `loss` term becomes a value (ce_loss, or bce_loss against the labels' class presence) and the graph's
//    objective; their weighted sum is the output `loss`, each term the output `loss.<what it scores>`.
// `dropout: false` leaves dropout out (comparisons with another framework, whose random masks cannot be matched).
import { copyNode, rewrite } from '../ir/builder.ts';
import type { Graph } from '../ir/types.ts';
import { HYPER_SIZE } from '../ops/train.ts';
import { count, definePass, type Pass } from './pass.ts';

export interface TrainModeOptions {
  /** Dropout as in training (default), or the identity. */
  readonly dropout?: boolean;
}

/** A stable 32-bit key from a node's name: its dropout mask does not change when the graph around it does. */
export function dropoutKey(name: string): number {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619) >>> 0;
  return h >>> 0;
}

export function trainMode(opts: TrainModeOptions = {}): Pass {
  return definePass({
    name: 'train_mode',
    doc: 'batchnorm with batch statistics (running ones updated), dropout with random masks, the losses as values',
    run(g) {
      if (g.losses.length === 0)
        throw new Error(`${g.model} declares no loss (a \`loss\` line in its spec): nothing to train`);
      const imageId = g.inputs[0]!.node;
      const [n, , h, w] = g.nodes[imageId]!.shape as number[];
      const updates: NonNullable<Graph['updates']>[number][] = [];
      let objective: { name: string; node: number; weight: number }[] = [];
      let total = -1;
      let labels = -1;
      let hyper = -1;
      let bns = 0;
      let drops = 0;
      const last = g.nodes.length - 1;
      const graph = rewrite(g, (node, b, map) => {
        let id: number | undefined;
        if (node.id === imageId) {
          id = b.input(node.attrs.name as string, node.shape, node.span);
          labels = b.input('labels', [n!, h!, w!]);
          hyper = b.input('hyper', [HYPER_SIZE]);
        } else if (node.op === 'batchnorm') {
          bns++;
          const at = node.span ? { span: node.span } : {};
          const x = map(node.inputs[0]!);
          const [weight, bias, rm, rv] = node.params.map(map) as [number, number, number, number];
          const mean = b.add('channel_mean', [x], [], {}, { name: `${node.name}.batch_mean`, ...at });
          const variance = b.add('channel_var', [x], [], {}, { name: `${node.name}.batch_var`, ...at });
          id = b.add(
            'bn_norm',
            [x, mean, variance],
            [weight, bias],
            { eps: node.attrs.eps as number },
            {
              name: node.name,
              ...at,
              origins: [{ name: node.name, op: node.op, ...at }],
            },
          );
          const shape = b.shapeOf(x);
          const per = shape.reduce((a, d, k) => (k === 1 ? a : a * d), 1);
          const momentum = node.attrs.momentum as number;
          const entry = (p: number): number => b.nodes[p]!.attrs.entry as number;
          updates.push({
            target: { kind: 'param', entry: entry(rm) },
            node: b.add(
              'running_stat',
              [rm, mean],
              [],
              { momentum, correction: 1 },
              {
                name: `${node.name}.running_mean.new`,
                ...at,
              },
            ),
          });
          updates.push({
            target: { kind: 'param', entry: entry(rv) },
            node: b.add(
              'running_stat',
              [rv, variance],
              [],
              { momentum, correction: per > 1 ? per / (per - 1) : 1 },
              {
                name: `${node.name}.running_var.new`,
                ...at,
              },
            ),
          });
        } else if (node.op === 'dropout') {
          if (opts.dropout === false) id = map(node.inputs[0]!);
          else {
            drops++;
            id = b.add(
              'dropout_train',
              [map(node.inputs[0]!), hyper],
              [],
              {
                p: node.attrs.p as number,
                channelwise: node.attrs.channelwise as boolean,
                key: dropoutKey(node.name),
              },
              { name: node.name, ...(node.span ? { span: node.span } : {}) },
            );
          }
        }
        id ??= copyNode(node, b, map);
        if (node.id === last) {
          // The losses, after everything they read (the last node among them).
          const self = id;
          objective = g.losses.map((t) => {
            const x = t.node === node.id ? self : map(t.node);
            const name = `loss.${t.output}`;
            const at = { name, ...(t.span ? { span: t.span } : {}) };
            if (t.kind === 'ce')
              return {
                name,
                weight: t.weight,
                node: b.add('ce_loss', [x, labels], [], { ignore: t.attrs.ignore as number }, at),
              };
            const classes = b.shapeOf(x)[1]!;
            const targets = b.add(
              'class_presence',
              [labels],
              [],
              { classes, ignore: -1 },
              { name: `${name}.targets` },
            );
            return { name, weight: t.weight, node: b.add('bce_loss', [x, targets], [], {}, at) };
          });
          total = b.add(
            'weighted_sum',
            objective.map((o) => o.node),
            [],
            { weights: objective.map((o) => o.weight) },
            {
              name: 'loss',
            },
          );
        }
        return id;
      });
      return {
        graph: {
          ...graph,
          inputs: [
            ...graph.inputs,
            { name: 'labels', node: labels, stride: 1 },
            { name: 'hyper', node: hyper, stride: 1 },
          ],
          outputs: [{ name: 'loss', node: total }, ...objective.map((o) => ({ name: o.name, node: o.node }))],
          objective,
          updates,
        },
        changes: [
          `${count(bns, 'batchnorm')} with batch statistics`,
          ...(drops ? [`${count(drops, 'dropout')} with random masks`] : []),
          count(objective.length, 'loss term'),
        ],
      };
    },
  });
}
