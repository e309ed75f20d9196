// Lowering to a Program and the kernel emitters, without a GPU: well-formed kernel specs for every op case,
// grid splitting, deduplication and deterministic names, dropout aliasing, parameter upload rules, located
// limit errors, and golden WGSL / Program summaries (UPDATE_GOLDEN=1 to rewrite after reviewing the diff).
// That every op has a kernel and cases is test/ops/registry.test.ts.
import { describe, expect, it } from 'vitest';
import { buildGraph } from '../../compiler/index.ts';
import { OPS } from '../../compiler/ops/index.ts';
import { LoweringError, lowerToProgram } from '../../compiler/codegen/lower.ts';
import { kernelOptions } from '../../compiler/codegen/limits.ts';
import { splitGrid } from '../../compiler/codegen/wgsl/common.ts';
import { argmaxKernel } from '../../compiler/codegen/wgsl/argmax.ts';
import { resizeRun } from '../../compiler/codegen/wgsl/resize.ts';
import type { KernelPlan, KernelSpec } from '../../compiler/ops/op.ts';
import type { Graph } from '../../compiler/ir/types.ts';
import type { Program } from '../../runtime/program.ts';
import { permuteAxes } from '../../runtime/execute.ts';
import { CASES } from '../gpu/cases.ts';
import { oneOpGraph } from '../gpu/harness.ts';
import { golden, ROOT } from '../helpers.ts';

const LLVMPIPE_LIMITS = {
  maxComputeWorkgroupsPerDimension: 65535,
  maxStorageBuffersPerShaderStage: 16,
  maxComputeInvocationsPerWorkgroup: 1024,
  maxComputeWorkgroupStorageSize: 32768,
  maxStorageBufferBindingSize: 134217728,
  maxBufferSize: 2147483648,
};

function narrow(spec: string, width = 4): Graph {
  process.chdir(ROOT);
  const r = buildGraph(`specs/${spec}.fcn`, { height: 64, width: 64, settings: { width, classes: 5 } });
  if (!r.graph) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
  return r.graph;
}

/** A text summary of a Program: kernels, then steps. */
function summary(p: Program): string {
  const lines = [
    `program ${p.model}: ${p.buffers.length} buffers, ${p.kernels.length} kernels, ${p.entries.forward.steps.length} steps`,
  ];
  for (const s of p.entries.forward.steps)
    lines.push(`${s.kernel}(${s.buffers.join(', ')}) grid ${s.grid.join('×')}  // ${s.node}  ${s.where}`);
  for (const prm of p.params)
    if (prm.buffer === null || prm.permute)
      lines.push(
        `param ${prm.name} buffer ${prm.buffer}${prm.permute ? ` permute [${prm.permute.join(', ')}]` : ''}`,
      );
  return lines.join('\n') + '\n';
}

describe('kernel emitters', () => {
  it('encoding assign: the K distances in registers (K ≤ 32, D a multiple of 4), else a loop over codewords', () => {
    const assign = (x: number[], codewords: number) => {
      const g = oneOpGraph('encoding', [x], { codewords });
      const node = g.nodes.at(-1)!;
      const plan = OPS.get('encoding')!.kernel!({
        inputs: [x],
        out: node.shape,
        attrs: node.attrs,
        params: g.params.map((p) => p.shape),
        opts: kernelOptions(LLVMPIPE_LIMITS),
      } as never) as KernelPlan;
      return plan.dispatches[0]!.wgsl;
    };
    const enc = assign([1, 512, 32, 32], 32); // EncNet's
    expect(enc).toMatch(/in registers/);
    expect(enc).toMatch(/var<storage, read> codewords: array<vec4f>/);
    expect(enc).toMatch(/var dist31 = 0\.0;/);
    expect(enc).not.toMatch(/for \(var c = 0u/);
    // One case of the op tests each way (test/gpu/cases.ts): K = 33, D = 6, and the registers.
    expect(assign([1, 4, 3, 5], 33)).toMatch(/for \(var c = 0u; c < K; c\+\+\)/);
    expect(assign([2, 6, 3, 5], 3)).toMatch(/for \(var c = 0u; c < K; c\+\+\)/);
    expect(assign([1, 32, 4, 4], 32)).toMatch(/in registers/);
  });

  it('resize: runs of 16, 8 or 4 outputs per invocation where they read at most 8 source columns', () => {
    expect(resizeRun(256, 31 / 255)).toEqual({ per: 16, cols: 4 }); // 32 → 256 align_corners: the final upsample
    expect(resizeRun(32, 15 / 31)).toEqual({ per: 8, cols: 6 }); // 16 → 32 (JPU): 16 outputs read 10 columns
    expect(resizeRun(32, 7 / 31)).toEqual({ per: 16, cols: 6 }); // 8 → 32 (JPU)
    expect(resizeRun(20, 8 / 19)).toEqual({ per: 4, cols: 4 }); // 20 wide: only runs of 4 divide it
    expect(resizeRun(16, 11 / 16)).toEqual({ per: 8, cols: 7 });
    expect(resizeRun(12, 11 / 16)).toBeUndefined(); // 4 outputs would read 5 columns: no fewer loads
    expect(resizeRun(8, 13 / 8)).toBeUndefined(); // downsampling
    expect(resizeRun(10, 0.1)).toBeUndefined(); // rows not a multiple of 4
    const at = (x: number[], size: number[], align: boolean) => {
      const g = oneOpGraph('resize_bilinear', [x], { size, align_corners: align });
      const node = g.nodes.at(-1)!;
      return OPS.get('resize_bilinear')!.kernel!({
        inputs: [x],
        out: node.shape,
        attrs: node.attrs,
        params: [],
        opts: kernelOptions(LLVMPIPE_LIMITS),
      } as never);
    };
    const v4 = at([1, 2, 8, 8], [32, 32], true) as KernelSpec;
    expect(v4.name).toBe('resize_bilinear_ac_32x32_r16');
    expect(v4.wgsl).toMatch(/const PER = 16u;/);
    expect(v4.wgsl).toMatch(/const COLS = 6u;/); // 8 → 32: 15 · 7/31 < 4
    expect(v4.grid[0] * 64).toBeGreaterThanOrEqual((2 * 32 * 32) / 16);
    expect(v4.grid[0] * 64).toBeLessThan((2 * 32 * 32) / 4);
    expect((at([1, 2, 13, 17], [6, 8], false) as KernelSpec).name).toBe('resize_bilinear_hp_6x8');
  });
  const ops = [...OPS.values()].filter((o) => !o.structural);
  const all = ops.flatMap((op) =>
    (CASES[op.name] ?? []).map((c, k) => [`${op.name} #${k}`, op.name, c] as const),
  );

  it.each(all)('%s gives a well-formed kernel spec', (_label, name, c) => {
    const op = OPS.get(name)!;
    const g = oneOpGraph(name, c.inputs, c.attrs);
    const node = g.nodes[g.nodes.length - 1]!;
    const opts = kernelOptions({ ...LLVMPIPE_LIMITS, ...c.limits }, c.tuning);
    const made = op.kernel!({
      inputs: c.inputs,
      out: node.shape,
      attrs: c.attrs,
      params: g.params.map((p) => p.shape),
      opts,
    });
    const plan: KernelPlan = 'wgsl' in made ? { scratch: [], dispatches: [made] } : made;
    for (const spec of plan.dispatches as KernelSpec[]) {
      const decls = [...spec.wgsl.matchAll(/@group\(0\) @binding\((\d+)\)/g)].map((m) => Number(m[1]));
      expect(decls).toEqual(spec.bindings.map((_, k) => k));
      expect(spec.bindings.length).toBeLessThanOrEqual(opts.maxStorageBuffersPerShaderStage);
      expect(spec.bindings.filter((b) => b === 'output').length).toBeLessThanOrEqual(1);
      for (const b of spec.bindings) {
        const m = /^(input|param|scratch)(\d+)$/.exec(b);
        if (b === 'output') continue;
        expect(m, b).not.toBeNull();
        const k = Number(m![2]);
        if (m![1] === 'input') expect(k).toBeLessThan(c.inputs.length);
        if (m![1] === 'param') expect(k).toBeLessThan(g.params.length);
        if (m![1] === 'scratch') expect(k).toBeLessThan(plan.scratch.length);
      }
      expect(spec.wgsl).toContain(`@workgroup_size(${spec.workgroupSize[0]})`);
      expect(spec.wgsl).toMatch(/fn main\(/);
      for (const d of spec.grid) expect(d).toBeLessThanOrEqual(opts.maxWorkgroupsPerDimension);
    }
  });

  it('splits grids beyond the per-dimension limit', () => {
    expect(splitGrid(10, 65535)).toEqual([10, 1, 1]);
    expect(splitGrid(70000, 65535)).toEqual([65535, 2, 1]);
    expect(splitGrid(10, 3)).toEqual([3, 3, 2]);
    expect(() => splitGrid(28, 3)).toThrow(/exceeds/);
    const spec = argmaxKernel([1, 21, 480, 480], kernelOptions({ maxComputeWorkgroupsPerDimension: 1000 }));
    expect(spec.grid).toEqual([1000, 4, 1]); // 230400 pixels / 64 = 3600 workgroups
    expect(spec.wgsl).toContain('if (gid >= TOTAL) { return; }');
  });

  it('golden WGSL: implicit-GEMM conv, 1×1 GEMM, row-vectorised conv, depthwise, groupnorm, encoding', () => {
    const cases: [string, string, number[][], Record<string, unknown>, Record<string, number>?][] = [
      [
        'conv2d_3x3_s2',
        'conv2d',
        [[1, 8, 9, 7]],
        { channels: 12, kernel: 3, stride: 2, padding: 1, dilation: 1, groups: 1, bias: false },
      ],
      [
        'conv2d_1x1_gemm',
        'conv2d',
        [[1, 16, 8, 8]],
        { channels: 20, kernel: 1, stride: 1, padding: 0, dilation: 1, groups: 1, bias: true },
      ],
      [
        'conv2d_3x3_d2_rows',
        'conv2d',
        [[1, 8, 9, 12]],
        { channels: 10, kernel: 3, stride: 1, padding: 2, dilation: 2, groups: 1, bias: true },
        { 'conv2d.variant': 2 },
      ],
      [
        'conv2d_dw3x3_d4',
        'conv2d',
        [[1, 8, 17, 15]],
        { channels: 8, kernel: 3, stride: 1, padding: 4, dilation: 4, groups: 8, bias: false },
      ],
      ['groupnorm', 'groupnorm', [[1, 32, 8, 8]], { groups: 8, eps: 1e-5 }],
      ['encoding', 'encoding', [[1, 16, 8, 8]], { codewords: 8 }],
    ];
    for (const [file, name, inputs, attrs, tuning] of cases) {
      const g = oneOpGraph(name, inputs, attrs as never);
      const p = lowerToProgram(g, LLVMPIPE_LIMITS, tuning ? { tuning } : {});
      golden(`wgsl/${file}.wgsl`, p.kernels.map((k) => `// ===== kernel ${k.name}\n${k.wgsl}`).join('\n'));
    }
  });
});

describe('lowerToProgram', () => {
  const g = narrow('enc_jpu_r50');
  const p = lowerToProgram(g, LLVMPIPE_LIMITS);

  it('golden Program summary (narrow enc_jpu_r50)', () => {
    golden('program/enc_jpu_r50.narrow.txt', summary(p));
  });

  it('is deterministic plain JSON', () => {
    const again = lowerToProgram(narrow('enc_jpu_r50'), LLVMPIPE_LIMITS);
    expect(JSON.stringify(again)).toBe(JSON.stringify(p));
    expect(JSON.parse(JSON.stringify(p))).toEqual(p);
  });

  it('deduplicates kernels by WGSL text under unique names', () => {
    const texts = new Set(p.kernels.map((k) => k.wgsl));
    expect(texts.size).toBe(p.kernels.length);
    expect(new Set(p.kernels.map((k) => k.name)).size).toBe(p.kernels.length);
    expect(p.kernels.length).toBeLessThan(p.entries.forward.steps.length);
    for (const s of p.entries.forward.steps) expect(p.kernels.some((k) => k.name === s.kernel)).toBe(true);
    for (const k of p.kernels) expect(k.name).toMatch(/^[A-Za-z0-9_]+$/);
  });

  it('locates every step at its spec call', () => {
    for (const s of p.entries.forward.steps) expect(s.where).toMatch(/^specs\/.+\.fcn:\d+:\d+$/);
  });

  it('aliases dropout to its input (no dispatch)', () => {
    const drops = g.nodes.filter((n) => n.op === 'dropout');
    expect(drops.length).toBeGreaterThan(0);
    for (const d of drops) expect(p.entries.forward.steps.some((s) => s.node === d.name)).toBe(false);
    const dispatching = g.nodes.filter((n) => !['input', 'param', 'dropout'].includes(n.op)).length;
    // Encoding takes two dispatches.
    expect(p.entries.forward.steps.length).toBe(
      dispatching + g.nodes.filter((n) => n.op === 'encoding').length,
    );
  });

  it('uploads f32 parameters only, conv weights OIHW → OHWI when it moves data', () => {
    for (const prm of p.params) {
      const gp = g.params.find((q) => q.name === prm.name)!;
      if (gp.dtype === 'i64' || !gp.used) expect(prm.buffer).toBeNull();
      else expect(prm.buffer).not.toBeNull();
    }
    const c3 = p.params.find((q) => q.name === 'jpu.conv5.0.weight')!; // 3×3 conv
    expect(c3.permute).toEqual([0, 2, 3, 1]);
    const c1 = p.params.find((q) => q.name === 'pretrained.layer1.0.conv1.weight')!; // 1×1 conv
    expect(c1.permute).toBeUndefined();
    expect(p.params.find((q) => q.name === 'pretrained.fc.weight')!.buffer).toBeNull();
  });

  it('never binds one buffer twice in a dispatch when one binding is writable', () => {
    for (const s of p.entries.forward.steps) {
      const k = p.kernels.find((q) => q.name === s.kernel)!;
      for (const w of k.writable) expect(s.buffers.filter((b) => b === s.buffers[w]).length).toBe(1);
    }
  });

  it('rejects tensors above maxStorageBufferBindingSize that cannot be sliced, with a located message', () => {
    // 4 KiB bindings: the input image (read whole by the first conv) cannot fit.
    expect(() => lowerToProgram(g, { ...LLVMPIPE_LIMITS, maxStorageBufferBindingSize: 4096 })).toThrow(
      LoweringError,
    );
    expect(() => lowerToProgram(g, { ...LLVMPIPE_LIMITS, maxStorageBufferBindingSize: 4096 })).toThrow(
      /specs\/.+\.fcn:\d+:\d+: '.+' binds \d+ bytes, more than maxStorageBufferBindingSize \(4096\); its input 0 \(\d+ bytes\) is read whole/,
    );
    // Beyond maxBufferSize a tensor cannot even be allocated.
    expect(() =>
      lowerToProgram(g, { ...LLVMPIPE_LIMITS, maxBufferSize: 4096, maxStorageBufferBindingSize: 4096 }),
    ).toThrow(/more than maxBufferSize/);
  });

  it('adds argmax outputs on request', () => {
    const q = lowerToProgram(g, LLVMPIPE_LIMITS, { argmax: true });
    const names = q.entries.forward.outputs.map((o) => o.name);
    expect(names).toEqual(['logits', 'se', 'aux', 'logits.argmax', 'aux.argmax']);
    expect(q.entries.forward.outputs.find((o) => o.name === 'logits.argmax')!.shape).toEqual([1, 64, 64]);
    expect(() => lowerToProgram(g, LLVMPIPE_LIMITS, { argmax: ['se'] })).toThrow(/4-D/);
  });
});

describe('permuteAxes', () => {
  it('converts OIHW to OHWI', () => {
    const [o, i, h, w] = [2, 3, 2, 2];
    const x = Float32Array.from({ length: o * i * h * w }, (_, k) => k);
    const y = permuteAxes(x, [o, i, h, w], [0, 2, 3, 1]);
    for (let a = 0; a < o; a++)
      for (let b = 0; b < i; b++)
        for (let c = 0; c < h; c++)
          for (let d = 0; d < w; d++)
            expect(y[((a * h + c) * w + d) * i + b]).toBe(x[((a * i + b) * h + c) * w + d]);
  });
});
