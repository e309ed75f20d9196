// The worked example of docs/language.md compiles, and its claims about instance names hold.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { buildGraph } from '../../compiler/index.ts';
import { ROOT } from '../helpers.ts';

it('the worked example in docs/language.md compiles with the names it promises', () => {
  const doc = readFileSync(join(ROOT, 'docs', 'language.md'), 'utf8');
  const section = doc.slice(doc.indexOf('## A complete worked example'));
  const code = /```\n([\s\S]*?)```/.exec(section)![1]!;
  const r = buildGraph('tiny.fcn', { readFile: () => code, height: 64, width: 64 });
  expect(r.diagnostics).toEqual([]);
  const names = r.graph!.params.map((p) => p.name);
  for (const n of [
    'enc.stem.0.weight',
    'enc.stage1.0.body.0.weight',
    'enc.stage1.0.shortcut.1.running_mean',
    'head.4.bias',
    'side.weight',
  ])
    expect(names).toContain(n);
  expect(r.graph!.outputs.map((o) => [o.name, r.graph!.nodes[o.node]!.shape])).toEqual([
    ['logits', [1, 21, 64, 64]],
    ['aux', [1, 21, 64, 64]],
  ]);
  expect(r.graph!.losses.map((l) => [l.kind, l.weight])).toEqual([
    ['ce', 1],
    ['ce', 0.4],
  ]);
});
