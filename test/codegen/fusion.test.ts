// What the inference pipeline achieves on the 16 paper specs at the paper's 512×512, batch 1 (no GPU needed):
// EncNet+JPU R50 runs in at most 110 dispatches (235 unfused); no program keeps a standalone batchnorm, relu or
// residual-add dispatch, or a concat kernel; the planned activation memory is within 10% of the lower bound (the
// most bytes live at once); every step names every source node it computes.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildGraph } from '../../compiler/index.ts';
import { compile } from '../../compiler/compile.ts';
import { ROOT } from '../helpers.ts';

const PAPER = readdirSync(join(ROOT, 'specs'))
  .filter((f) => f.endsWith('.fcn') && !f.includes('jpux'))
  .sort()
  .map((f) => f.replace(/\.fcn$/, ''));

const compiled = (spec: string, mode: 'inference' | 'none' = 'inference') =>
  compile(buildGraph(join(ROOT, 'specs', `${spec}.fcn`)).graph!, { mode });

describe('fused inference programs of the 16 paper specs at 512²', () => {
  it('covers the 16 paper variants', () => expect(PAPER.length).toBe(16));

  it('EncNet+JPU R50: at most 110 dispatches per forward (one per op unfused)', () => {
    const fused = compiled('enc_jpu_r50').program.entries.forward.steps.length;
    const plain = compiled('enc_jpu_r50', 'none').program.entries.forward.steps.length;
    expect(plain).toBeGreaterThanOrEqual(230);
    expect(fused).toBeLessThanOrEqual(110);
  });

  it.each(PAPER)('%s: no standalone batchnorm, relu or add dispatch, no concat kernel', (spec) => {
    const { program } = compiled(spec);
    for (const s of program.entries.forward.steps) {
      const anchor = s.nodes[0]!.op;
      expect(['batchnorm', 'relu', 'add', 'concat', 'copy'], `${s.node} (${s.kernel})`).not.toContain(anchor);
      // Every source node a step computes is named with its spec location.
      for (const n of s.nodes)
        if (!n.name.endsWith('.argmax')) expect(n.where, n.name).toMatch(/\.fcn:\d+:\d+$/);
    }
  });

  it.each(PAPER)('%s: planned activation memory within 1.10 × the lower bound', (spec) => {
    const { memory } = compiled(spec).program;
    expect(memory.plannedBytes).toBeGreaterThanOrEqual(memory.lowerBoundBytes);
    expect(memory.plannedBytes / memory.lowerBoundBytes).toBeLessThanOrEqual(1.1);
  });
});
