// argmax over channels for inference post-processing: [N, C, H, W] scores → [N, H, W] class indices, stored as
// f32 (exact for any class count below 2^24). The first maximum wins on ties, as torch.argmax on CPU.
import type { KernelOptions, KernelSpec } from '../../ops/op.ts';
import type { Shape } from '../../ir/types.ts';
import { kernelSpec, linearMain, u, WG, type Buf } from './common.ts';

export function argmaxKernel(input: Shape, opts: KernelOptions): KernelSpec {
  const [batch, ch, h, w] = input as number[];
  const bufs: Buf[] = [
    { slot: 'input0', name: 'scores', elem: 'f32' },
    { slot: 'output', name: 'labels', elem: 'f32', write: true },
  ];
  const consts = [`const CHANNELS = ${u(ch!)};`, `const PLANE = ${u(h! * w!)};`].join('\n');
  const body = [
    '  let p = gid % PLANE;',
    '  let n = gid / PLANE;',
    '  let base = n * CHANNELS * PLANE + p;',
    '  var best = scores[base];',
    '  var label = 0u;',
    '  for (var c = 1u; c < CHANNELS; c++) {',
    '    let v = scores[base + c * PLANE];',
    '    if (v > best) { best = v; label = c; }',
    '  }',
    '  labels[gid] = f32(label);',
  ].join('\n');
  return kernelSpec(
    `argmax_c${ch}`,
    `argmax over channels: [${input.join(', ')}] → [${batch}, ${h}, ${w}] class indices (as f32); one pixel per invocation`,
    bufs,
    consts,
    linearMain(batch! * h! * w!, WG, opts),
    body,
    WG,
  );
}
