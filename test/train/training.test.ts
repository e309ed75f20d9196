// Training programs end to end on the adapter: a training step updates parameters, momentum and running
// statistics on the device; equal seeds and data give bit-identical weights (no float atomics, fixed-order
// reductions, dropout masks from a counter hash); repeated steps on one batch lower its loss; and the official
// training configuration (enc_jpu_r50, batch 16, 480×480) compiles with a memory report, even where no adapter
// here could run it.
import { afterAll, describe, expect, it } from 'vitest';
import { buildGraph } from '../../compiler/index.ts';
import { compileTraining } from '../../compiler/compile.ts';
import { seededParams } from '../../compiler/ir/interpret.ts';
import { HYPER, HYPER_SIZE } from '../../compiler/ops/train.ts';
import { formatTrainingReport } from '../../compiler/plan_report.ts';
import { Session } from '../../runtime/execute.ts';
import { gpuForTests, rng } from '../gpu/harness.ts';
import { ROOT } from '../helpers.ts';

const gpu = await gpuForTests();
afterAll(() => gpu.dev?.destroy());

const SIZE = 32;
const BATCH = 2;
const CLASSES = 5;
const graph = buildGraph(`${ROOT}/specs/enc_jpu_r50.fcn`, {
  batch: BATCH,
  height: SIZE,
  width: SIZE,
  settings: { width: 4, classes: CLASSES },
}).graph!;

/** A batch whose labels follow the image (a learnable task), with ignored pixels. */
function batch(seed: number): { image: Float32Array; labels: Float32Array } {
  const r = rng(seed);
  const image = new Float32Array(BATCH * 3 * SIZE * SIZE).map(() => r(-1, 1));
  const labels = new Float32Array(BATCH * SIZE * SIZE);
  for (let n = 0; n < BATCH; n++)
    for (let p = 0; p < SIZE * SIZE; p++) {
      const y = Math.floor(p / SIZE);
      const x = p % SIZE;
      labels[n * SIZE * SIZE + p] = (x + y) % 11 === 0 ? -1 : Math.floor((x * CLASSES) / SIZE);
    }
  return { image, labels };
}

async function train(steps: number, seed: number): Promise<{ losses: number[]; session: Session }> {
  const { program } = compileTraining(graph, { limits: gpu.dev!.limits });
  const session = await Session.create(gpu.dev!, program);
  const params = seededParams(graph, 7);
  await session.setParams(new Map([...params].map(([k, v]) => [k, Float32Array.from(v)])));
  const { image, labels } = batch(3);
  const losses: number[] = [];
  for (let t = 0; t < steps; t++) {
    const hyper = new Float32Array(HYPER_SIZE);
    hyper[HYPER.lr] = 0.01 * (1 - t / steps) ** 0.9;
    hyper[HYPER.step] = t;
    hyper[HYPER.seed] = seed;
    const out = await session.call(
      'train_step',
      new Map([
        ['image', image],
        ['labels', labels],
        ['hyper', hyper],
      ]),
      { read: ['loss'] },
    );
    losses.push(out.get('loss')![0]!);
  }
  return { losses, session };
}

describe.skipIf(!gpu.dev)('training steps on the adapter', () => {
  it('the same seed twice: bit-identical weights, momentum and running statistics after 10 steps', async () => {
    const a = await train(10, 5);
    const b = await train(10, 5);
    const c = await train(10, 6); // another dropout seed
    const [pa, pb, pc] = await Promise.all([a, b, c].map((r) => r.session.readParams()));
    const [sa, sb] = await Promise.all([a, b].map((r) => r.session.readState()));
    expect(a.losses).toEqual(b.losses);
    // Every float parameter lives on the device but the backbone's classifier, which no loss reaches (PyTorch
    // leaves its .grad None and SGD skips it; the host keeps it as loaded).
    const f32 = graph.params.filter((p) => p.dtype === 'f32').map((p) => p.name);
    expect(f32.filter((n) => !pa!.has(n))).toEqual(['pretrained.fc.weight', 'pretrained.fc.bias']);
    let differs = 0;
    for (const [name, v] of pa!) {
      expect(Buffer.from(pb!.get(name)!.buffer).equals(Buffer.from(v.buffer)), name).toBe(true);
      if (!Buffer.from(pc!.get(name)!.buffer).equals(Buffer.from(v.buffer))) differs++;
    }
    expect(sa!.size).toBe(graph.params.filter((p) => p.trainable !== false).length - 2);
    for (const [name, v] of sa!)
      expect(Buffer.from(sb!.get(name)!.buffer).equals(Buffer.from(v.buffer)), name).toBe(true);
    // The dropout seed matters (the head's dropout sits before the classifier: most weights move differently).
    expect(differs).toBeGreaterThan(pa!.size / 2);
    for (const r of [a, b, c]) r.session.destroy();
  });

  it('steps change the weights, the momentum and the running statistics, and lower the loss of the batch', async () => {
    const before = seededParams(graph, 7);
    const { losses, session } = await train(12, 1);
    const after = await session.readParams();
    const state = await session.readState();
    session.destroy();
    expect(losses[11]!).toBeLessThan(losses[0]! * 0.8);
    for (const name of ['pretrained.conv1.0.weight', 'head.conv6.1.weight', 'jpu.conv5.1.running_mean']) {
      const a = after.get(name)!;
      const b = before.get(name)!;
      let d = 0;
      for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
      expect(d, name).toBeGreaterThan(1e-6);
    }
    const m = state.get('momentum.head.conv6.1.weight')!;
    expect(Math.max(...m.map(Math.abs))).toBeGreaterThan(0);
  });
});

describe.skipIf(!gpu.dev)('gradient accumulation', () => {
  it('a batch of 4 as 2 micro-batches: the SGD step of the mean gradient, running statistics updated per micro-batch', async () => {
    const g4 = buildGraph(`${ROOT}/specs/enc_jpu_r50.fcn`, {
      batch: 4,
      height: SIZE,
      width: SIZE,
      settings: { width: 4, classes: CLASSES },
    }).graph!;
    const dev = gpu.dev!;
    const r = rng(11);
    const image = new Float32Array(4 * 3 * SIZE * SIZE).map(() => r(-1, 1));
    const labels = new Float32Array(4 * SIZE * SIZE).map((_, i) => (((i % SIZE) * CLASSES) / SIZE) | 0);
    const params = new Map([...seededParams(g4, 7)].map(([k, v]) => [k, Float32Array.from(v)]));
    const hyper = (lr: number, micro: number): Float32Array => {
      const h = new Float32Array(HYPER_SIZE);
      h[HYPER.lr] = lr;
      h[HYPER.micro] = micro;
      return h;
    };
    const half = (x: Float32Array, k: number): Float32Array =>
      x.subarray((k * x.length) / 2, ((k + 1) * x.length) / 2);
    const LR = 0.01;

    const acc = compileTraining(g4, { microBatch: 2, dropout: false, limits: dev.limits });
    expect(Object.keys(acc.program.entries).sort()).toEqual(['apply_step', 'forward', 'grad_step', 'load']);
    expect(acc.program.entries.grad_step!.inputs[0]!.shape).toEqual([2, 3, SIZE, SIZE]);
    const s = await Session.create(dev, acc.program);
    await s.setParams(params);
    const losses: number[] = [];
    for (const k of [0, 1]) {
      const out = await s.call(
        'grad_step',
        new Map([
          ['image', half(image, k)],
          ['labels', half(labels, k)],
          ['hyper', hyper(LR, k)],
        ]),
        { read: ['loss'] },
      );
      losses.push(out.get('loss')![0]!);
    }
    await s.call('apply_step', new Map([['hyper', hyper(LR, 2)]]));
    const after = await s.readParams();
    const momentum = await s.readState();
    s.destroy();

    // The reference: each micro-batch's gradients on the adapter (`fcnc run --grads`'s program), SGD on the host.
    const g2 = buildGraph(`${ROOT}/specs/enc_jpu_r50.fcn`, {
      batch: 2,
      height: SIZE,
      width: SIZE,
      settings: { width: 4, classes: CLASSES },
    }).graph!;
    const gp = await Session.create(
      dev,
      compileTraining(g2, { gradientsOnly: true, dropout: false, limits: dev.limits }).program,
    );
    await gp.setParams(params);
    const inputs = (k: number) =>
      new Map([
        ['image', half(image, k)],
        ['labels', half(labels, k)],
        ['hyper', hyper(0, 0)],
      ]);
    const gA = await gp.call('train_step', inputs(0));
    const stats = new Map<string, Float32Array>(params);
    for (const [k, v] of gA) if (/running_(mean|var)$/.test(k)) stats.set(k, v);
    await gp.setParams(stats); // the second micro-batch starts from the first one's running statistics
    const gB = await gp.call('train_step', inputs(1));
    gp.destroy();
    expect(losses).toEqual([gA.get('loss')![0], gB.get('loss')![0]]);

    let checked = 0;
    for (const [name, w] of after) {
      const w0 = params.get(name)!;
      if (/running_(mean|var)$/.test(name)) {
        const want = gB.get(name)!;
        for (let i = 0; i < w.length; i++)
          expect(Math.abs(w[i]! - want[i]!)).toBeLessThanOrEqual(1e-6 * Math.abs(want[i]!) + 1e-7);
        checked++;
        continue;
      }
      const a = gA.get(name)!;
      const b = gB.get(name)!;
      const m = momentum.get(`momentum.${name}`)!;
      const lr = LR * (/^(jpu|head|auxlayer)\./.test(name) ? 10 : 1);
      for (let i = 0; i < w.length; i++) {
        const want = (a[i]! + b[i]!) / 2 + 1e-4 * w0[i]!; // the first step's momentum: the gradient itself
        // float32 rounding of the mean and of w − lr·m (one ulp of w).
        const tol = 1e-6 * Math.abs(want) + 2 ** -23 * (Math.abs(a[i]!) + Math.abs(b[i]!));
        expect(Math.abs(m[i]! - want), `${name}[${i}] momentum`).toBeLessThanOrEqual(tol);
        const ulps = 2 ** -23 * (Math.abs(w0[i]!) + Math.abs(lr * m[i]!) + Math.abs(w[i]!));
        expect(Math.abs(w0[i]! - lr * m[i]! - w[i]!), `${name}[${i}]`).toBeLessThanOrEqual(ulps);
      }
      checked++;
    }
    expect(checked).toBe(after.size);
    expect(checked).toBeGreaterThan(300);
  });
});

describe('the official training configuration compiles', () => {
  it('enc_jpu_r50 at batch 16, 480×480: a program and a memory report', () => {
    const g = buildGraph(`${ROOT}/specs/enc_jpu_r50.fcn`, { batch: 16, height: 480, width: 480 }).graph!;
    const big = { maxStorageBufferBindingSize: 2 ** 52, maxBufferSize: 2 ** 52 };
    const c = compileTraining(g, { limits: big });
    const m = c.program.memory;
    const t = m.training!;
    expect(Object.keys(c.program.entries).sort()).toEqual(['forward', 'load', 'train_step']);
    // 2 × the parameters: the weights and their momentum (181 MiB each at full width with 59 classes).
    expect(t.optimizerBytes).toBeGreaterThan(170 * 2 ** 20);
    expect(t.optimizerBytes).toBeLessThan(m.paramBytes);
    expect(m.plannedBytes).toBeLessThanOrEqual(1.1 * m.lowerBoundBytes);
    expect(t.savedBytes).toBeGreaterThan(0.5 * m.lowerBoundBytes);
    expect(t.savedBytes).toBeLessThanOrEqual(m.lowerBoundBytes);
    // Gradients go straight into their updates: never more than a sliver of them live at once.
    expect(t.peakGradientBytes).toBeLessThan(0.05 * t.allGradientBytes);
    const text = formatTrainingReport(c);
    expect(text).toContain('## Training program: enc_jpu_r50, image [16, 3, 480, 480]');
    expect(text).toMatch(/saved for the backward .*\| +\d+\.\d MiB \|/);
  });
});
