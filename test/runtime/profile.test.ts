// Profiles (runtime/profile.ts, compiler/profile_cost.ts, runtime/peak.ts): one row per step with the nodes and
// spec locations the program records, FLOPs of known convs equal to 2·MACs counted by hand (forward and
// training gradients), compulsory bytes, totals by module and by op that add up, the peak probe, and the
// timestamp-query path where the adapter has it (a real GPU, or Mesa lavapipe ≥ 25 with
// FCNC_SOFTWARE_BACKEND=vulkan: see docs/profiling.md); the synchronised path everywhere.
import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compile, compileTraining } from '../../compiler/compile.ts';
import { buildGraph } from '../../compiler/index.ts';
import { moduleNamer, stepCosts } from '../../compiler/profile_cost.ts';
import { MODEL_LEVEL } from '../../compiler/report.ts';
import { paramSpecs } from '../../compiler/cli/shared.ts';
import { Session } from '../../runtime/execute.ts';
import { loadParams } from '../../runtime/params.ts';
import { measurePeak } from '../../runtime/peak.ts';
import { formatProfile, median, profileSession, shortWhere, type Profile } from '../../runtime/profile.ts';
import { tuningFor } from '../../runtime/tuning.ts';
import { gpuForTests, oneOpGraph } from '../gpu/harness.ts';
import { ROOT } from '../helpers.ts';

const SPEC = join(ROOT, 'specs', 'enc_jpu_r50.fcn');
const graph = buildGraph(SPEC, { height: 64, width: 64, settings: { width: 4 } }).graph!;

/** The text of a spec location's line (`specs/lib/resnet.fcn:43:5` → that line of that file). */
function specLine(where: string): string {
  const m = /^(.*):(\d+):(\d+)$/.exec(where)!;
  return readFileSync(isAbsolute(m[1]!) ? m[1]! : join(ROOT, m[1]!), 'utf8').split('\n')[Number(m[2]) - 1]!;
}

describe('step costs (no device)', () => {
  const { program, graph: fused } = compile(graph);
  const costs = stepCosts(fused, program);
  const steps = program.entries.forward.steps;
  const at = (node: string): number => steps.findIndex((s) => s.node === node);

  it('has one cost per step', () => {
    expect(costs).toHaveLength(steps.length);
  });

  it('counts 2·MACs of the stem conv and its compulsory bytes, by hand', () => {
    // pretrained.conv1.0: 3 → 4 channels (stem = width = 4), 3×3, stride 2, 64² → 32².
    const k = at('pretrained.conv1.0');
    const macs = 1 * 4 * 32 * 32 * (3 * 3 * 3);
    expect(costs[k]!.flops).toBe(2 * macs);
    // Input 3·64², folded weight 4·3·3·3, folded batchnorm shift 4 (bias), output 4·32²; f32; the relu reads none.
    expect(costs[k]!.bytes).toBe(4 * (3 * 64 * 64 + 4 * 27 + 4 + 4 * 32 * 32));
    expect(costs[k]!.bytesFrom).toBe('tensors');
  });

  it('counts 2·MACs of a 1×1 conv and of linear layers, none for pointwise and resize kernels', () => {
    // layer1.0.conv1: 1×1 from the 8-channel stem (stem·2) after the maxpool (16²) to 4 planes.
    expect(costs[at('pretrained.layer1.0.conv1')]!.flops).toBe(2 * (4 * 16 * 16 * 8));
    // The SE layer: linear 32 → 59 classes on [1, 32].
    expect(costs[at('head.encmodule.selayer')]!.flops).toBe(2 * 32 * 59);
    expect(costs[at('logits')]!.flops).toBe(0);
    expect(costs[at('pretrained.maxpool')]!.flops).toBe(0);
  });

  it("a strided 1×1 conv's subsampling copy carries no FLOPs: its GEMM carries the conv's", () => {
    const sub = compile(graph, { tuning: { 'conv2d.sub': 1 } });
    const c = stepCosts(sub.graph, sub.program);
    const st = sub.program.entries.forward.steps;
    const i = st.findIndex((s) => s.kernel.startsWith('conv2d_subsample_'));
    expect(i).toBeGreaterThanOrEqual(0);
    expect(st[i + 1]!.node).toBe(st[i]!.node);
    expect(c[i]!.flops).toBe(0);
    // layer2.0's shortcut: 1×1 stride 2 from layer1's 16 channels (16²) to 32 planes of 8².
    expect(st[i]!.node).toBe('pretrained.layer2.0.downsample.0');
    expect(c[i + 1]!.flops).toBe(2 * (32 * 8 * 8 * 16));
  });

  it('adds up to twice the MACs fcnc info counts', async () => {
    const { makeReport } = await import('../../compiler/report.ts');
    const total = costs.reduce((a, c) => a + c.flops, 0);
    expect(total).toBe(2 * makeReport(graph).totals.macs);
  });

  it('gives the two dispatches of the encoding plan binding sizes, the MACs to the first', () => {
    const ks = steps.flatMap((s, k) => (s.node === 'head.encmodule.encoding.3' ? [k] : []));
    expect(ks).toHaveLength(2);
    for (const k of ks) expect(costs[k]!.bytesFrom).toBe('bindings');
  });

  it('names modules like fcnc info: top-level instances with parameters, else (model)', () => {
    const mod = moduleNamer(graph);
    expect(mod('pretrained.layer1.0.conv1')).toBe('pretrained');
    expect(mod('jpu.conv5.0')).toBe('jpu');
    expect(mod('head.encmodule.<mul>')).toBe('head');
    expect(mod('auxlayer.conv5.0')).toBe('auxlayer');
    expect(mod('logits')).toBe(MODEL_LEVEL);
    expect(mod('logits.argmax')).toBe(MODEL_LEVEL);
  });

  it('counts the gradient convs of a training step as many MACs as the forward conv', () => {
    const t = compileTraining(graph, {});
    const tc = stepCosts(t.graph, t.program, 'train_step');
    const ts = t.program.entries.train_step.steps;
    expect(tc).toHaveLength(ts.length);
    const fwd = 2 * 4 * 32 * 32 * 27; // the stem conv, as above
    const flopsOf = (node: string): number[] => ts.flatMap((s, k) => (s.node === node ? [tc[k]!.flops] : []));
    expect(flopsOf('pretrained.conv1.0')).toEqual([fwd]);
    // Its weight gradient (the stem's input needs no gradient); a split-K GEMM may be two dispatches.
    expect(flopsOf('pretrained.conv1.0.grad.weight').reduce((a, b) => a + b, 0)).toBe(fwd);
    // layer1.0.conv1's input gradient: dy [1, 4, 16, 16] through a 1×1 conv back to 8 channels.
    expect(flopsOf('pretrained.layer1.0.conv1.grad.input').reduce((a, b) => a + b, 0)).toBe(
      2 * 4 * 16 * 16 * 8,
    );
    // Copies move their bytes twice (read + write), no FLOPs.
    const copies = ts.flatMap((s, k) => (s.copy ? [k] : []));
    expect(copies.length).toBeGreaterThan(0);
    for (const k of copies)
      expect(tc[k]).toEqual({ flops: 0, bytes: 2 * ts[k]!.copy!.bytes, bytesFrom: 'copy' });
  });
});

describe('median', () => {
  it('is the middle value, or the mean of the two middle ones', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBe(0);
  });
});

const gpu = await gpuForTests();
afterAll(() => gpu.dev?.destroy());

describe.skipIf(!gpu.dev)('profileSession on the adapter', () => {
  let profile: Profile;
  const runs = 2;

  it('profiles the forward entry: one row per step, nodes and spec lines as the program records them', async () => {
    const dev = gpu.dev!;
    const { program, graph: fused } = compile(graph, { limits: dev.limits, tuning: tuningFor(dev) });
    const session = await Session.create(dev, program);
    const { params } = await loadParams(paramSpecs(graph), { seed: 0 });
    await session.setParams(params);
    const input = new Float32Array(3 * 64 * 64).map((_, k) => Math.sin(k));
    const peak = await measurePeak(dev.device, { targetMs: 20, reps: 1 });
    expect(peak.gflops).toBeGreaterThan(0);
    expect(peak.gbps).toBeGreaterThan(0);
    profile = await profileSession(session, new Map([['image', input]]), {
      runs,
      timestamps: false,
      costs: stepCosts(fused, program),
      peak,
      moduleOf: moduleNamer(graph),
      adapter: dev.description,
    });
    session.destroy();
    const steps = program.entries.forward.steps;
    expect(profile.method).toBe('sync');
    expect(profile.submitOverheadMs).toBeGreaterThan(0);
    expect(profile.rows.filter((r) => r.ms > 0).length).toBeGreaterThan(steps.length / 2);
    expect(profile.rows).toHaveLength(steps.length);
    profile.rows.forEach((r, k) => {
      expect(r.step).toBe(k);
      expect(r.kernel).toBe(steps[k]!.kernel);
      expect(r.node).toBe(steps[k]!.node);
      expect(r.nodes).toEqual(steps[k]!.nodes);
      expect(r.where).toBe(steps[k]!.where);
      expect(r.ms).toBeGreaterThanOrEqual(0);
      expect(r.minMs).toBeLessThanOrEqual(r.ms);
      expect(r.maxMs).toBeGreaterThanOrEqual(r.ms);
    });
    expect(profile.wholeSamples).toHaveLength(runs);
    expect(profile.wholeMs).toBeGreaterThan(0);
  });

  it('names every node fused into a kernel with its spec line and module', () => {
    const stem = profile.rows.find((r) => r.node === 'pretrained.conv1.0')!;
    expect(stem.module).toBe('pretrained');
    expect(stem.op).toBe('conv2d');
    expect(stem.nodes.map((n) => [n.name, n.op])).toEqual([
      ['pretrained.conv1.0', 'conv2d'],
      ['pretrained.conv1.1', 'batchnorm'],
      ['pretrained.conv1.2', 'relu'],
    ]);
    expect(stem.where).toMatch(/(^|\/)specs\/lib\/resnet\.fcn:43:5$/);
    expect(shortWhere(stem.where)).toBe('resnet.fcn:43');
    expect(specLine(stem.nodes[0]!.where)).toMatch(/conv\(stem, kernel = 3, stride = 2/);
    expect(specLine(stem.nodes[1]!.where)).toMatch(/batchnorm\(\)/);
    expect(specLine(stem.nodes[2]!.where)).toMatch(/relu\(\)/);
    // A residual block's last conv carries its batchnorm, the residual add and the block's relu.
    const conv3 = profile.rows.find((r) => r.node === 'pretrained.layer1.1.conv3')!;
    expect(conv3.nodes.map((n) => n.op)).toEqual(['conv2d', 'batchnorm', 'add', 'relu']);
    expect(specLine(conv3.nodes[2]!.where)).toMatch(/sum = add\(bn3, x\)/);
    // Every spec location points at a line that makes its op.
    for (const r of profile.rows)
      for (const n of r.nodes) if (n.where) expect(specLine(n.where).length).toBeGreaterThan(0);
    expect(profile.rows.find((r) => r.node === 'jpu.conv5.0')!.module).toBe('jpu');
    expect(profile.rows.find((r) => r.node === 'head.encmodule.<mul>')!.module).toBe('head');
    expect(profile.rows.find((r) => r.node === 'logits')!.module).toBe(MODEL_LEVEL);
    expect(specLine(profile.rows.find((r) => r.node === 'logits')!.where)).toMatch(/out logits = resize/);
  });

  it('has rates from FLOPs, bytes and time, and % of the measured peaks', () => {
    const stem = profile.rows.find((r) => r.node === 'pretrained.conv1.0')!;
    expect(stem.flops).toBe(2 * 4 * 32 * 32 * 27);
    expect(stem.gflops!).toBeCloseTo(stem.flops / stem.ms / 1e6, 6);
    expect(stem.pctPeakFlops!).toBeCloseTo((100 * stem.gflops!) / profile.peak!.gflops, 6);
    expect(stem.gbps).toBeCloseTo(stem.bytes / stem.ms / 1e6, 6);
    expect(stem.pctPeakBandwidth!).toBeCloseTo((100 * stem.gbps) / profile.peak!.gbps, 6);
    const resize = profile.rows.find((r) => r.node === 'logits')!;
    expect(resize.gflops).toBeNull();
    expect(resize.pctPeakFlops).toBeNull();
  });

  it('has totals by module and by op that add up to the total', () => {
    const sum = (xs: readonly { ms: number }[]): number => xs.reduce((a, x) => a + x.ms, 0);
    expect(profile.stepsMs).toBeCloseTo(sum(profile.rows), 9);
    for (const totals of [profile.byModule, profile.byOp]) {
      expect(sum(totals)).toBeCloseTo(profile.stepsMs, 9);
      expect(totals.reduce((a, t) => a + t.steps, 0)).toBe(profile.rows.length);
      expect(totals.reduce((a, t) => a + t.flops, 0)).toBe(profile.flops);
      expect(totals.reduce((a, t) => a + t.pct, 0)).toBeCloseTo(100, 6);
      for (const t of totals)
        expect(t.ms).toBeCloseTo(
          sum(profile.rows.filter((r) => (totals === profile.byOp ? r.op : r.module) === t.name)),
          9,
        );
    }
    expect(profile.byModule.map((m) => m.name).sort()).toEqual(
      ['(model)', 'auxlayer', 'head', 'jpu', 'pretrained'].sort(),
    );
    expect(profile.byOp.find((o) => o.name === 'conv2d')!.steps).toBe(
      profile.rows.filter((r) => r.op === 'conv2d').length,
    );
  });

  it('formats the report: top rows, their nodes, totals, the sum against the whole call', () => {
    const text = formatProfile(profile, { top: 5 });
    expect(text).toContain('method: sync');
    expect(text).toMatch(/top 5 of \d+ steps by time/);
    expect(text).toContain('module');
    expect(text).toMatch(/sum of steps [\d.]+ ms vs whole 'forward' [\d.]+ ms/);
    expect(text).toMatch(/\(conv2d, \S*specs\/lib\/\w+\.fcn:\d+:\d+\)/);
  });
});

const hasTimestamps = gpu.dev?.features.includes('timestamp-query') ?? false;
describe.skipIf(!hasTimestamps)('the timestamp-query path', () => {
  it('times every dispatch with GPU timestamps', async () => {
    // Opened again with the toggle that keeps Dawn from rounding timestamps to ~65 µs.
    const { openDevice } = await import('../../runtime/device.ts');
    const dev = await openDevice({ dawnFlags: ['disable-dawn-features=timestamp_quantization'] });
    try {
      const attrs = { channels: 16, kernel: 3, stride: 1, padding: 1, dilation: 1, groups: 1, bias: true };
      const g = oneOpGraph('conv2d', [[1, 16, 64, 64]], attrs);
      const { program, graph: fused } = compile(g, { limits: dev.limits, tuning: tuningFor(dev) });
      const session = await Session.create(dev, program);
      const { params } = await loadParams(paramSpecs(g), { seed: 1 });
      await session.setParams(params);
      const p = await profileSession(session, new Map([['x0', new Float32Array(16 * 64 * 64).fill(0.5)]]), {
        runs: 3,
        costs: stepCosts(fused, program),
      });
      session.destroy();
      expect(p.method).toBe('timestamps');
      expect(p.rows).toHaveLength(1);
      expect(p.rows[0]!.ms).toBeGreaterThan(0);
      expect(p.rows[0]!.flops).toBe(2 * 16 * 64 * 64 * 16 * 9);
      // GPU time of the dispatch cannot exceed the whole call around it (upload, submit, read back).
      expect(p.stepsMs).toBeLessThanOrEqual(p.wholeMs * 1.05);
    } finally {
      dev.destroy();
    }
  });
});
