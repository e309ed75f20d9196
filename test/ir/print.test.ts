// Golden IR prints (UPDATE_GOLDEN=1 to rewrite after reviewing the diff) and determinism.
import { describe, expect, it } from 'vitest';
import { buildGraph } from '../../compiler/index.ts';
import { printGraph } from '../../compiler/ir/print.ts';
import { golden, ROOT } from '../helpers.ts';

const rel = (p: string) => p; // keep paths relative so goldens do not depend on the checkout location

describe('IR print', () => {
  for (const v of ['enc_jpu_r50', 'aspp_dilated_r50', 'psp_jpu_r50', 'enc_fpn_r50', 'enc_jpux_r50']) {
    it(`${v} (narrow, 64×64) matches its golden`, () => {
      process.chdir(ROOT);
      const r = buildGraph(rel(`specs/${v}.fcn`), {
        height: 64,
        width: 64,
        settings: { width: v === 'enc_jpux_r50' ? 8 : 4, classes: 5 },
      });
      expect(r.graph).toBeDefined();
      const text = printGraph(r.graph!);
      golden(`ir/${v}.narrow.ir`, text);
      // Deterministic: a second elaboration prints the same bytes.
      expect(
        printGraph(
          buildGraph(rel(`specs/${v}.fcn`), {
            height: 64,
            width: 64,
            settings: { width: v === 'enc_jpux_r50' ? 8 : 4, classes: 5 },
          }).graph!,
        ),
      ).toBe(text);
    });
  }
  it('prints locations back to the spec', () => {
    process.chdir(ROOT);
    const g = buildGraph('specs/enc_jpu_r50.fcn').graph!;
    const text = printGraph(g);
    expect(text).toMatch(
      /%\d+ = conv2d\(%\d+\) @\(%\d+\) \{channels=512, kernel=3, stride=1, padding=1, dilation=1, groups=1, bias=false\} : f32\[1, 512, 16, 16\]  \/\/ jpu\.conv5\.0  specs\/lib\/jpu\.fcn:5:\d+/,
    );
  });
});
