// linear: y = x · Wᵀ + b on [N, F] inputs (PyTorch nn.Linear; weight [out, in]).
import { defineLayer, defineOp, expectRank, type TensorArg } from './op.ts';
import { refTensor } from './ref.ts';
import { linearKernel } from '../codegen/wgsl/linear.ts';

type LinearAttrs = { features: number; bias: boolean };

export const linear = defineOp<LinearAttrs>({
  name: 'linear',
  doc: 'y[n,o] = b[o] + Σ_i w[o,i] · x[n,i]',
  arity: 1,
  inferShape([x], a) {
    expectRank(x!, [2], 'linear');
    return [x![0]!, a.features];
  },
  params([x], a) {
    const fanIn = x![1]!;
    const w = {
      role: 'weight',
      shape: [a.features, fanIn],
      init: { kind: 'torch_default_linear', fanIn },
    } as const;
    return a.bias
      ? [w, { role: 'bias', shape: [a.features], init: { kind: 'torch_default_linear', fanIn } }]
      : [w];
  },
  macs([x], out) {
    return out[0]! * out[1]! * x![1]!;
  },
  kernel: (ctx) => linearKernel(ctx),
  backward: (c) => [
    c.add('linear_grad_input', [c.dy], [c.params[0]!], { in_features: c.shapes.inputs[0]![1]! }, 'x'),
    c.add('linear_grad_weight', [c.inputs[0]!, c.dy], [], {}, 'weight'),
    ...(c.attrs.bias ? [c.add('linear_grad_bias', [c.dy], [], {}, 'bias')] : []),
  ],
  reference([x], [w, b], _a, out) {
    const [N, I] = x.shape as [number, number];
    const O = out[1]!;
    const y = refTensor(out);
    for (let n = 0; n < N; n++)
      for (let o = 0; o < O; o++) {
        let acc = b ? b.data[o]! : 0;
        for (let i = 0; i < I; i++) acc += w.data[o * I + i]! * x.data[n * I + i]!;
        y.data[n * O + o] = acc;
      }
    return y;
  },
});

export const linearLayer = defineLayer({
  name: 'linear',
  doc: 'Fully connected layer on a [N, F] tensor.',
  params: [
    { name: 'x', type: 'tensor', doc: 'input [N, F]' },
    { name: 'features', type: 'int', min: 1, doc: 'output features' },
    { name: 'bias', type: 'bool', default: true, doc: 'add a learned bias' },
    {
      name: 'in_features',
      type: 'int',
      optional: true,
      min: 1,
      doc: 'expected input features: checked, required in `unused`',
    },
  ],
  build(ctx, a) {
    const x = a.x as TensorArg;
    if (a.in_features !== undefined && x.shape[1] !== a.in_features)
      ctx.fail(
        'in_features',
        `linear expects ${a.in_features} input features but its input has shape [${x.shape.join(', ')}]`,
        undefined,
        [x],
      );
    return ctx.op('linear', [x], { features: a.features as number, bias: a.bias as boolean });
  },
  declare(a) {
    return {
      op: 'linear',
      inputs: [[1, a.in_features as number]],
      attrs: { features: a.features as number, bias: a.bias as boolean },
    };
  },
});
