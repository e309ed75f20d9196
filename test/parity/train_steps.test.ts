// Twenty training steps against PyTorch (issue 9): the same initial weights, the same batches in the same order, no
// augmentation, dropout off — our Trainer on the WebGPU adapter, and our float64 reference interpreter running the
// same training graph, against test/fixtures/train_steps/ (make_train_steps.py: narrow enc_jpu_r50 from the parity
// fixture's weights with every bottleneck's last batchnorm scale γ3 × 0.03, 20 batches of 4 at 48×48,
// torch.optim.SGD with the official groups and poly schedule at FastFCN's PASCAL Context learning rate for a batch
// of 4, 0.001 / 16 × 4).
//
// Compared per step T: the loss terms (`loss`, `loss.logits`, `loss.aux`, `loss.se`) of step T, before its update
// as the official log prints them, and per optimizer group the displacement ‖w_T+1 − w_0‖² after it (`disp.*`:
// pretrained, jpu, head, auxlayer, and every batchnorm's running statistics, which no loss sees).
//
// The acceptance rule, asserted literally at every one of the 20 steps for every loss term:
//   |ours − torch64| ≤ max(1e-3·|torch64|, 2·|torch32 − torch64|)
// with torch32 PyTorch float32's run from the same weights (the fixture's `f32`, its default convolution path).
//
// The fixture is well-conditioned for that (its README measures it). With the parity weights as they are (γ3 ~
// U(0.5, 1.5)), train-mode batchnorm through the 16 residual blocks makes the gradients explode and the run chaotic
// (at lr 0.01 one float64 ulp of the weights grew 30–100× per step at batch 2, 4 and 8 and sizes 48² to 128²; at
// lr 1e-5 PyTorch float32 still ended 6e-2 off). With γ3 at 0.03 of that, one float64 ulp of the weights stays at
// ~1e-15 over all 20 steps. What remains is float32's: a ReLU input
// within rounding of zero that one run passes and another blocks moves that step's gradient by a finite amount.
// On this fixture's data all of PyTorch's float32-level draws (float32 on both convolution paths, from the weights
// and from weights one float32 ulp away; float64 from weights one float32 ulp away) stay within 6e-7 of float64 at
// every step; over 24 data seeds, ~5 % of such draws meet a ReLU near-tie with a large effect and end
// 1e-4–2e-3 off (the README's seed scan).
//
//  - float64 interpreter, the same training graph driven with the Trainer's hyper-parameters: all 20 steps within
//    1e-9 of torch float64 (losses and displacements).
//  - Trainer on the adapter: the acceptance rule, literally, at every step for every loss term. The displacements
//    are held to the same rule. Reported beside it: PyTorch's wider level (all its float32 and float32-ulp draws).
//  - Trainer on the adapter, each step from its own state: float64 from the Trainer's own weights and momentum
//    before every step computes the same losses, the same learning rate applied per group (the schedule, the step
//    counter and the ×10 groups), the same momentum and running statistics, and the counters count.
//  - `fcnc train --no-augment --no-shuffle --dropout off` on the fixture written as a folder dataset: its loader
//    hands over the fixture's batches bit for bit and in order (with the default shuffle, in the epoch's seeded
//    order), its logged losses are the Trainer's on those batches bit for bit, and so the command's own 20 steps
//    meet the acceptance rule against PyTorch's float64 run.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildGraph } from '../../compiler/index.ts';
import { compileTraining } from '../../compiler/compile.ts';
import { compileTrainingFor } from '../../compiler/cli/commands/train.ts';
import { interpret } from '../../compiler/ir/interpret.ts';
import type { Graph } from '../../compiler/ir/types.ts';
import { HYPER, HYPER_SIZE } from '../../compiler/ops/train.ts';
import { HEAD_GROUPS } from '../../compiler/passes/sgd.ts';
import { toTensor } from '../../runtime/data/augment.ts';
import { openDataset } from '../../runtime/data/datasets.ts';
import { encodeLabelPng } from '../../runtime/data/labels.ts';
import { Loader } from '../../runtime/data/loader.ts';
import { encodePng } from '../../runtime/image.ts';
import { readLog } from '../../runtime/train/log.ts';
import type { ParamData } from '../../runtime/params.ts';
import { polyLr, Trainer } from '../../runtime/train/trainer.ts';
import { readSafetensors, writeSafetensors } from '../../runtime/weights/safetensors.ts';
import { gpuForTests } from '../gpu/harness.ts';
import { ROOT } from '../helpers.ts';

const DIR = join(ROOT, 'test', 'fixtures', 'train_steps');
/** The acceptance bar: relative to |torch64| … */
const REL = 1e-3;
/** … or this many times PyTorch's own deviation, where that is larger. */
const FACTOR = 2;
/** The float64 interpreter at every step: the same training graph as torch float64, up to summation order. */
const TIGHT64 = 1e-9;
/**
 * Each step from the Trainer's own state vs float64 from the same state. Losses: a float32 forward (~1e-7 here).
 * Learning rate: the one the device applied, from its own update and momentum (float32 rounding of an update that
 * is ~1e-5 of the weights at the last steps: up to ~3e-5; a step off in the schedule is ≥ 4.6 %, a wrong group scale
 * 90 %). Momentum: the gradient's float32 error (~1e-6 here) and ReLU near-ties (one element within rounding of
 * zero can move a group's gradient by a few %); a momentum not carried over is off by ~100 %. Running statistics:
 * relative to their change in the step (forward-only).
 */
const ONE_STEP = { loss: 1e-3, lr: 1e-4, momentum: 5e-2, running: 1e-3 };
const TERMS = ['loss', 'loss.logits', 'loss.aux', 'loss.se'] as const;
const GROUPS = ['pretrained', 'jpu', 'head', 'auxlayer'] as const;
const QUANTITIES = [...TERMS, ...GROUPS.map((g) => `disp.${g}`), 'disp.running'];

function load(file: string, dir = DIR) {
  const path = join(dir, file);
  return readSafetensors(new Uint8Array(readFileSync(path)), path);
}

const data = load('data.safetensors');
const steps = load('steps.safetensors');
const meta = steps.metadata;
const STEPS = Number(meta.steps);
const BATCH = Number(meta.batch);
const SIZE = Number(meta.size);
const BASE_LR = Number(meta.base_lr);
const series = (name: string): Float64Array => {
  const t = steps.tensors.get(name);
  if (!t || t.dtype !== 'f64') throw new Error(`steps.safetensors: no F64 ${name}`);
  return t.data;
};

/** Sample n of batch t as decoded RGB bytes (HWC), as a dataset reader hands them to the transform. */
function rgbOf(t: number, n: number): Uint8Array {
  const u8 = data.tensors.get('image')!.data as Uint8Array;
  const plane = SIZE * SIZE;
  const at = (t * BATCH + n) * 3 * plane;
  const rgb = new Uint8Array(3 * plane);
  for (let c = 0; c < 3; c++) for (let i = 0; i < plane; i++) rgb[i * 3 + c] = u8[at + c * plane + i]!;
  return rgb;
}

/** Batch t as the network sees it: the loader's ToTensor + Normalize (float32, as torchvision's). */
function batch(t: number): { image: Float32Array; labels: Float32Array } {
  const plane = SIZE * SIZE;
  const image = new Float32Array(BATCH * 3 * plane);
  for (let n = 0; n < BATCH; n++) toTensor(rgbOf(t, n), SIZE, SIZE, image, n * 3 * plane);
  const i8 = data.tensors.get('labels')!.data as Int8Array;
  const labels = Float32Array.from(i8.subarray(t * BATCH * plane, (t + 1) * BATCH * plane));
  return { image, labels };
}

/** The tensors of the initial weights that differ from the parity fixture's: every bottleneck's γ3. */
const changed = load('weights.safetensors');

/** The initial weights: the parity fixture's state dict (float32, int64 counters) with the fixture's changes. */
function initialTensors() {
  const base = readSafetensors(new Uint8Array(readFileSync(join(ROOT, meta.weights!))), meta.weights);
  const tensors = new Map(base.tensors);
  for (const [k, t] of changed.tensors) {
    if (!tensors.has(k)) throw new Error(`weights.safetensors: ${k} is not in ${meta.weights}`);
    tensors.set(k, t);
  }
  return { base: base.tensors, tensors };
}

function initialWeights(): Map<string, ParamData> {
  const out = new Map<string, ParamData>();
  for (const [k, t] of initialTensors().tensors)
    if (t.dtype === 'f32' || t.dtype === 'i64') out.set(k, t.data);
    else throw new Error(`${meta.weights}: unexpected dtype ${t.dtype} of ${k}`);
  return out;
}

function graphOf(): Graph {
  const built = buildGraph(join(ROOT, 'specs', `${meta.variant}.fcn`), {
    batch: BATCH,
    height: SIZE,
    width: SIZE,
    settings: { width: Number(meta.width), classes: Number(meta.classes) },
  });
  if (!built.graph) throw new Error(built.diagnostics.map((d) => d.message).join('\n'));
  return built.graph;
}

const isRunning = (name: string): boolean => /\.running_(mean|var)$/.test(name);
const groupOf = (name: string): string | undefined =>
  isRunning(name) ? 'running' : GROUPS.find((g) => name.startsWith(`${g}.`));

/** ‖w − w0‖² per group, over the group's float parameters (its running statistics for `running`). */
function displacements(
  g: Graph,
  w: (name: string) => ArrayLike<number> | undefined,
  w0: ReadonlyMap<string, ParamData>,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of g.params) {
    if (p.dtype !== 'f32') continue;
    const group = groupOf(p.name);
    if (!group) continue;
    const a = w(p.name);
    const b = w0.get(p.name) as Float32Array;
    if (!a) throw new Error(`no value of ${p.name}`);
    let s = 0;
    for (let i = 0; i < b.length; i++) s += (a[i]! - b[i]!) ** 2;
    out[`disp.${group}`] = (out[`disp.${group}`] ?? 0) + s;
  }
  return out;
}

interface Check {
  readonly step: number;
  readonly name: string;
  readonly ours: number;
  readonly torch: number;
  /** |ours − torch64| / |torch64|. */
  readonly rel: number;
  /** PyTorch's own deviation (the level the bar doubles), relative to |torch64|. */
  readonly own: number;
  /** The bar (relative to |torch64|). */
  readonly bound: number;
  /** For information: PyTorch's deviation over a wider set of draws, relative to |torch64|. */
  readonly wide: number;
}

/** PyTorch's own deviation of quantity `name` at `step` (absolute): the largest over the given levels' draws. */
const levelOf =
  (...kinds: string[]) =>
  (name: string, step: number): number =>
    Math.max(...kinds.map((k) => series(`${k}.${name}`)[step]!));

/** PyTorch float32's deviation from its float64 run, from the same weights (absolute): |torch32 − torch64|. */
const torch32 = (name: string, step: number): number =>
  Math.abs(series(`f32.${name}`)[step]! - series(`f64.${name}`)[step]!);

/**
 * Every quantity of every step: ours vs torch64, PyTorch's own deviation (`own`) and the bar (relative to |torch64|),
 * and a wider level of PyTorch's for information.
 */
function check(
  perStep: readonly Record<string, number>[],
  own: (name: string, step: number) => number,
  bar: (name: string, step: number, own: number) => number,
  wide: (name: string, step: number) => number = own,
): Check[] {
  return perStep.flatMap((values, step) =>
    QUANTITIES.map((name) => {
      const torch = series(`f64.${name}`)[step]!;
      const ours = values[name]!;
      const scale = Math.abs(torch);
      const o = own(name, step) / scale;
      return {
        step,
        name,
        ours,
        torch,
        rel: Math.abs(ours - torch) / scale,
        own: o,
        bound: bar(name, step, o),
        wide: wide(name, step) / scale,
      };
    }),
  );
}

/** The acceptance bar: max(1e-3, 2 × PyTorch's own deviation). */
const acceptance = (own: number): number => Math.max(REL, FACTOR * own);

/**
 * Per step, the loss term and the displacement closest to their bar: ours, PyTorch's own deviation, the bar, the
 * wider level (information) and whether ours is within the bar.
 */
function table(label: string, checks: readonly Check[], ownLabel: string, wideLabel: string): string {
  const e = (x: number): string => x.toExponential(1).padStart(7);
  const head = (what: string): string =>
    `${what.padStart(15)}    ours ${ownLabel.padStart(7)}     bar ${wideLabel.padStart(7)} within`;
  const lines = [label, `step  loss (torch64)  loss (ours)  | ${head('term')} | ${head('disp')}`];
  const worst = (xs: Check[]): Check => xs.reduce((a, c) => (c.rel / c.bound > a.rel / a.bound ? c : a));
  const cell = (c: Check): string =>
    `${c.name.padStart(15)} ${e(c.rel)} ${e(c.own)} ${e(c.bound)} ${e(c.wide)}  ${c.rel <= c.bound ? 'yes ' : 'FAIL'}`;
  for (let t = 0; t < STEPS; t++) {
    const at = checks.filter((c) => c.step === t);
    const loss = at.find((c) => c.name === 'loss')!;
    lines.push(
      `${String(t).padStart(4)}  ${loss.torch.toFixed(6).padStart(13)}  ${loss.ours.toFixed(6).padStart(11)}  | ` +
        `${cell(worst(at.filter((c) => !c.name.startsWith('disp.'))))} | ${cell(worst(at.filter((c) => c.name.startsWith('disp.'))))}`,
    );
  }
  const ok = checks.filter((c) => c.rel <= c.bound).length;
  const worstAll = worst([...checks]);
  lines.push(
    `  within the bar: ${ok} of ${checks.length} (steps × quantities); closest: step ${worstAll.step} ` +
      `${worstAll.name} at ${(worstAll.rel / worstAll.bound).toExponential(1)} of its bar`,
  );
  return lines.join('\n');
}

function expectWithin(checks: readonly Check[], what: string): void {
  const bad = checks
    .filter((c) => !(c.rel <= c.bound))
    .map(
      (c) =>
        `step ${c.step} ${c.name}: ours ${c.ours.toPrecision(8)}, torch64 ${c.torch.toPrecision(8)}, ` +
        `rel ${c.rel.toExponential(2)} > ${c.bound.toExponential(2)} (own ${c.own.toExponential(2)})`,
    );
  expect(bad, `${what}: steps past the bar`).toEqual([]);
}

/** The mean over the last half of the run of loss / the untrained network's loss on the same batch. */
function learnt(losses: readonly number[]): number {
  const init = series('init.loss');
  let s = 0;
  for (let t = STEPS / 2; t < STEPS; t++) s += losses[t]! / init[t]!;
  return s / (STEPS / 2);
}

/**
 * The training graph (compileTraining, dropout off) with each update as an output: `new.<param>` (weights, running
 * statistics) and `new.momentum.<param>` (the momentum slots, which interpret reads by name, zero when absent).
 */
function float64Step(g: Graph) {
  const { graph } = compileTraining(g, { dropout: false });
  const updates = (graph.updates ?? []).map((u) => {
    const name =
      u.target.kind === 'param' ? graph.params[u.target.entry]!.name : graph.state![u.target.slot]!.name;
    return { name, output: `new.${name}`, node: u.node };
  });
  const run: Graph = {
    ...graph,
    outputs: [...graph.outputs, ...updates.map((u) => ({ name: u.output, node: u.node }))],
  };
  return { graph, run, updates };
}

/** Step t's inputs, the hyper-parameters as the Trainer sets them (runtime/train/trainer.ts). */
function stepInputs(image: Float32Array, labels: Float32Array, t: number): Map<string, Float64Array> {
  const hyper = new Float64Array(HYPER_SIZE);
  hyper[HYPER.lr] = polyLr(BASE_LR, t, STEPS);
  hyper[HYPER.step] = t;
  return new Map([
    ['image', Float64Array.from(image)],
    ['labels', Float64Array.from(labels)],
    ['hyper', hyper],
  ]);
}

const gpu = await gpuForTests();
afterAll(() => gpu.dev?.destroy());

describe('the fixture is the run the Trainer does', () => {
  it('official groups and schedule, the same images', () => {
    // The optimizer's parameter groups in the official order (FastFCN train.py: pretrained at lr, then jpu, head,
    // auxlayer at 10·lr) are the ones our SGD pass scales.
    const groups = JSON.parse(meta.param_groups!) as { module: string; lr_scale: number }[];
    expect(groups).toEqual([
      { module: 'pretrained', lr_scale: 1 },
      { module: 'jpu', lr_scale: 10 },
      { module: 'head', lr_scale: 10 },
      { module: 'auxlayer', lr_scale: 10 },
    ]);
    expect([...HEAD_GROUPS]).toEqual(groups.filter((x) => x.lr_scale === 10).map((x) => x.module));
    expect([meta.momentum, meta.weight_decay, meta.power, meta.iterations]).toEqual([
      '0.9',
      '0.0001',
      '0.9',
      String(STEPS),
    ]);
    // Every float parameter is in one of the groups.
    expect(
      graphOf()
        .params.filter((p) => p.dtype === 'f32' && !groupOf(p.name))
        .map((p) => p.name),
    ).toEqual([]);
    // The loader's normalisation gives PyTorch's float32 values (their float64 sum, up to the order of the sum).
    expect(JSON.parse(meta.normalise!)).toMatchObject({
      mean: [0.485, 0.456, 0.406],
      std: [0.229, 0.224, 0.225],
    });
    let sum = 0;
    for (let t = 0; t < STEPS; t++) for (const v of batch(t).image) sum += v;
    expect(Math.abs(sum - Number(meta.image_sum))).toBeLessThan(
      1e-12 * Math.abs(Number(meta.image_sum)) + 1e-9,
    );
    // The initial weights: the parity fixture's, with every bottleneck's γ3 (and nothing else) × residual_gamma, as
    // PyTorch's float32 multiply rounds it.
    const gamma = Math.fround(Number(meta.residual_gamma));
    const { base, tensors } = initialTensors();
    const differ = [...tensors].filter(([k, t]) => t !== base.get(k)).map(([k]) => k);
    expect(differ).toEqual([...changed.tensors.keys()]);
    expect(differ.length).toBe(16);
    for (const k of differ) {
      expect(k).toMatch(/^pretrained\.layer[1-4]\.\d+\.bn3\.weight$/);
      const want = Float32Array.from(base.get(k)!.data as Float32Array, (v) => Math.fround(v * gamma));
      expect(tensors.get(k)!.data, k).toEqual(want);
    }
    expect(BASE_LR).toBe((0.001 / 16) * BATCH);
    // The Trainer's schedule is the fixture's.
    for (let t = 0; t < STEPS; t++)
      expect(polyLr(BASE_LR, t, STEPS)).toBeCloseTo(BASE_LR * (1 - t / STEPS) ** 0.9, 15);
  });
});

/**
 * The Trainer's 20 steps on the adapter, once for the tests that read them: per step its loss terms and
 * displacements, and each step checked from the Trainer's own state (what one step does, with tighter bars than the
 * trajectory's): float64 started from the Trainer's weights and momentum before the step.
 */
let trainerRunPromise: Promise<TrainerRun> | undefined;
interface TrainerRun {
  readonly perStep: Record<string, number>[];
  readonly lrs: number[];
  readonly iteration: number;
  readonly micro: number;
  readonly device: string;
  /** The one-step table's rows, and what is past ONE_STEP. */
  readonly oneStep: string[];
  readonly bad: string[];
}
const trainerRun = (): Promise<TrainerRun> => (trainerRunPromise ??= runTrainer());

async function runTrainer(): Promise<TrainerRun> {
  const dev = gpu.dev!;
  const g = graphOf();
  // As `fcnc train` compiles it for this device (the whole batch per step when it fits), dropout off.
  const { compiled, micro } = compileTrainingFor(g, dev, { dropout: false });
  const { run } = float64Step(g);
  const w0 = initialWeights();
  const trainer = await Trainer.create(dev, compiled.program, w0, {
    seed: 1,
    baseLr: BASE_LR,
    iterations: STEPS,
  });
  const counters = g.params.filter((p) => p.dtype === 'i64').map((p) => p.name);
  const floats = g.params.filter((p) => p.dtype === 'f32').map((p) => p.name);
  const scaleOf = (name: string): number => (name.startsWith('pretrained.') ? 1 : 10);
  const perStep: Record<string, number>[] = [];
  const lrs: number[] = [];
  const rows: string[] = [];
  const bad: string[] = [];
  try {
    let before = await trainer.stateDict();
    let momentum = await trainer.momentum();
    for (let t = 0; t < STEPS; t++) {
      const { image, labels } = batch(t);
      const values = new Map<string, Float64Array | BigInt64Array>();
      for (const [k, v] of before) values.set(k, v instanceof BigInt64Array ? v : Float64Array.from(v));
      for (const [k, v] of momentum) values.set(`momentum.${k}`, Float64Array.from(v));
      const ref = interpret(run, values, stepInputs(image, labels, t));
      const { losses, lr: used } = await trainer.step({ image, labels });
      const after = await trainer.stateDict();
      const mAfter = await trainer.momentum();
      lrs.push(used);
      perStep.push({
        ...losses,
        ...displacements(g, (n) => after.get(n) as Float32Array | undefined, w0),
      });
      const lr = polyLr(BASE_LR, t, STEPS);

      // The losses: our float32 forward at the Trainer's weights vs float64 at the same weights.
      const lossRel = Math.max(
        ...TERMS.map((n) => Math.abs(losses[n]! - ref.get(n)!.data[0]!) / Math.abs(ref.get(n)!.data[0]!)),
      );
      // Per group: the learning rate the device applied, −⟨Δw, m⟩ / (scale·⟨m, m⟩) with its own new momentum m
      // (w ← w − lr·scale·m); the momentum vs float64's from the same state (its gradient's float32 error and
      // ReLU near-ties are what differ); the running statistics vs float64's, relative to their change.
      const acc = new Map<string, { dm: number; mm: number; err: number; ref: number }>();
      const entry = (key: string) => {
        const e = acc.get(key) ?? { dm: 0, mm: 0, err: 0, ref: 0 };
        acc.set(key, e);
        return e;
      };
      for (const name of floats) {
        const group = groupOf(name)!;
        const w = before.get(name) as Float32Array;
        const w1 = after.get(name) as Float32Array;
        if (group === 'running') {
          const r = ref.get(`new.${name}`)!.data;
          const e = entry('running');
          for (let i = 0; i < w.length; i++) {
            e.err += (w1[i]! - r[i]!) ** 2;
            e.ref += (r[i]! - w[i]!) ** 2;
          }
          continue;
        }
        const m = mAfter.get(name);
        if (!m) {
          // Never runs (pretrained.fc): no gradient, so neither PyTorch's SGD nor ours touches it.
          if (w1.some((v, i) => v !== w[i])) bad.push(`step ${t}: ${name} changed`);
          continue;
        }
        const mr = ref.get(`new.momentum.${name}`)!.data;
        const e = entry(group);
        for (let i = 0; i < w.length; i++) {
          e.dm += (w1[i]! - w[i]!) * m[i]!;
          e.mm += m[i]! * m[i]! * scaleOf(name);
          e.err += (m[i]! - mr[i]!) ** 2;
          e.ref += mr[i]! ** 2;
        }
      }
      const lrRel = Math.max(...GROUPS.map((gr) => Math.abs(-entry(gr).dm / entry(gr).mm / lr - 1)));
      const momRel = GROUPS.map((gr) => Math.sqrt(entry(gr).err / entry(gr).ref));
      const runRel = Math.sqrt(entry('running').err / entry('running').ref);
      for (const c of counters) {
        const v = (after.get(c) as BigInt64Array)[0]!;
        const want = (w0.get(c) as BigInt64Array)[0]! + BigInt(t + 1);
        if (v !== want) bad.push(`step ${t}: ${c} ${v}, want ${want}`);
      }
      if (!(lossRel <= ONE_STEP.loss)) bad.push(`step ${t}: loss terms ${lossRel.toExponential(2)} off`);
      if (!(lrRel <= ONE_STEP.lr)) bad.push(`step ${t}: learning rate ${lrRel.toExponential(2)} off`);
      if (!(Math.max(...momRel) <= ONE_STEP.momentum))
        bad.push(
          `step ${t}: momentum ${momRel.map((x) => x.toExponential(2)).join(', ')} off (${GROUPS.join(', ')})`,
        );
      if (!(runRel <= ONE_STEP.running))
        bad.push(`step ${t}: running statistics ${runRel.toExponential(2)} off`);
      const e = (x: number): string => x.toExponential(1).padStart(8);
      rows.push(
        `${String(t).padStart(4)}  ${lr.toExponential(3)}  ${e(lossRel)}  ${e(lrRel)}  ${momRel.map(e).join(' ')}  ${e(runRel)}`,
      );
      before = after;
      momentum = mAfter;
    }
    return { perStep, lrs, iteration: trainer.iteration, micro, device: dev.description, oneStep: rows, bad };
  } finally {
    trainer.destroy();
  }
}

describe(`20 training steps vs PyTorch float64 (enc_jpu_r50 width ${meta.width}, batch ${BATCH}, ${SIZE}×${SIZE})`, () => {
  it(`float64 interpreter on the training graph: every step within ${TIGHT64} of torch float64`, () => {
    const g = graphOf();
    const { graph, run, updates } = float64Step(g);
    // The spec's loss is the one PyTorch computed.
    const terms = JSON.parse(meta.loss!) as { output: string; weight: number }[];
    expect(graph.objective!.map((o) => [o.name, o.weight])).toEqual(
      terms.map((t) => [`loss.${t.output}`, t.weight]),
    );
    const w0 = initialWeights();
    // Parameters and optimizer state by name (interpret reads a state slot by its name, zero when absent).
    const values = new Map<string, Float64Array | BigInt64Array>(
      [...w0].map(([k, v]) => [k, v instanceof BigInt64Array ? v : Float64Array.from(v)]),
    );
    const perStep: Record<string, number>[] = [];
    for (let t = 0; t < STEPS; t++) {
      const { image, labels } = batch(t);
      const out = interpret(run, values, stepInputs(image, labels, t));
      const row: Record<string, number> = {};
      for (const n of TERMS) row[n] = out.get(n)!.data[0]!;
      for (const u of updates) values.set(u.name, out.get(u.output)!.data);
      perStep.push({ ...row, ...displacements(g, (n) => values.get(n) as Float64Array, w0) });
    }
    // Every step, every quantity: float64 tracks itself here (one float64 ulp of the weights moves no quantity by
    // more than ~1e-14 over the 20 steps, `dev64`), so two float64 implementations of the same run agree closely.
    const checks = check(perStep, levelOf('dev64'), () => TIGHT64);
    console.log(
      `${table(
        `float64 interpreter vs torch float64 (relative to |torch64|; own: torch float64 from the weights moved by ` +
          `one float64 ulp, ${JSON.parse(meta.float64_draws!).length} draws)`,
        checks,
        'ulp64',
        'ulp64',
      )}\n` +
        `  loss / the untrained network's loss on the same batches, steps ${STEPS / 2}–${STEPS - 1}: ours ` +
        `${learnt(perStep.map((r) => r.loss!)).toFixed(3)}, torch64 ${learnt([...series('f64.loss')]).toFixed(3)}`,
    );
    expectWithin(checks, 'float64 interpreter');
  });

  it.skipIf(!gpu.dev)(
    `Trainer on the adapter (float32): every step and quantity within max(${REL}·|torch64|, ${FACTOR}·|torch32 − torch64|); the run learns`,
    async () => {
      const { perStep, lrs, iteration, micro, device } = await trainerRun();
      expect(lrs).toEqual([...Array(STEPS).keys()].map((t) => polyLr(BASE_LR, t, STEPS)));
      expect(iteration).toBe(STEPS);
      // The acceptance rule, literally: PyTorch float32's own deviation is its run from the same weights. Reported
      // beside it: PyTorch's deviation over all its float32-level draws (both convolution paths from the weights and
      // from weights one float32 ulp away, and float64 from weights one float32 ulp away).
      const checks = check(perStep, torch32, (_n, _t, own) => acceptance(own), levelOf('dev32all', 'devq'));
      const ratio = learnt(perStep.map((r) => r.loss!));
      const draws =
        JSON.parse(meta.float32_draws!).length + JSON.parse(meta.float64_draws_from_float32_ulp!).length;
      console.log(
        `${table(
          `Trainer on ${device} (micro-batch ${micro}) vs torch float64 (relative to |torch64|; torch32: PyTorch ` +
            `float32 from the same weights; bar: max(${REL}, ${FACTOR}× torch32); wide: PyTorch's ${draws} ` +
            `float32-level draws, for information)`,
          checks,
          'torch32',
          'wide',
        )}\n` +
          `  loss / the untrained network's loss on the same batches, steps ${STEPS / 2}–${STEPS - 1}: ours ` +
          `${ratio.toFixed(3)}, torch64 ${learnt([...series('f64.loss')]).toFixed(3)}`,
      );
      expectWithin(checks, 'Trainer (GPU float32), the acceptance rule');
      for (const r of perStep) for (const n of QUANTITIES) expect(Number.isFinite(r[n]), n).toBe(true);
      expect(ratio, 'the run learns: its loss falls below the untrained network’s').toBeLessThan(0.95);
    },
  );

  it.skipIf(!gpu.dev)(
    'Trainer on the adapter, each step from its own state: the losses, the learning rate and group scale each step, momentum, running statistics and counters as float64 computes them from that state',
    async () => {
      const { oneStep, bad } = await trainerRun();
      console.log(
        `Trainer steps from their own state vs float64 from the same state (relative):\n` +
          `step  lr          losses    lr used   momentum: ${GROUPS.map((x) => x.padStart(8)).join(' ')}  running\n` +
          oneStep.join('\n'),
      );
      expect(bad, `past the bars ${JSON.stringify(ONE_STEP)}`).toEqual([]);
    },
  );
});

describe('fcnc train --no-augment on the fixture as a folder dataset', () => {
  // The samples as PNG files (labels: 255 = ignored), in the fixture's order by file name, and the initial weights.
  const root = mkdtempSync(join(tmpdir(), 'fcnc-train-steps-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const plane = SIZE * SIZE;
  const names: string[] = [];
  const writeDataset = (): void => {
    mkdirSync(join(root, 'train', 'images'), { recursive: true });
    mkdirSync(join(root, 'train', 'labels'), { recursive: true });
    const i8 = data.tensors.get('labels')!.data as Int8Array;
    for (let t = 0; t < STEPS; t++)
      for (let n = 0; n < BATCH; n++) {
        const name = `b${String(t).padStart(2, '0')}_s${n}.png`;
        names.push(name);
        const at = (t * BATCH + n) * plane;
        const label = Uint8Array.from(i8.subarray(at, at + plane), (v) => (v < 0 ? 255 : v));
        writeFileSync(join(root, 'train', 'images', name), encodePng(SIZE, SIZE, rgbOf(t, n), 3));
        writeFileSync(join(root, 'train', 'labels', name), encodeLabelPng(SIZE, SIZE, label));
      }
    writeFileSync(join(root, 'weights.safetensors'), writeSafetensors(initialTensors().tensors));
    writeFileSync(
      join(root, 'classes.txt'),
      [...Array(Number(meta.classes)).keys()].map((c) => `c${c}`).join('\n'),
    );
  };
  writeDataset();
  /** Sample k of the fixture (k = t·BATCH + n): its image and labels as the network sees them. */
  const sample = (k: number): { image: Float32Array; labels: Float32Array } => {
    const b = batch(Math.floor(k / BATCH));
    const n = k % BATCH;
    return {
      image: b.image.subarray(n * 3 * plane, (n + 1) * 3 * plane),
      labels: b.labels.subarray(n * plane, (n + 1) * plane),
    };
  };
  /** `fcnc train`'s loader for these options (compiler/cli/commands/train.ts), seed 1. */
  const loader = (shuffle?: boolean): Loader =>
    new Loader(openDataset(root, { split: 'train' }), {
      batch: BATCH,
      crop: SIZE,
      seed: 1,
      augment: false,
      workers: 0,
      ...(shuffle === undefined ? {} : { shuffle }),
    });

  it('its batches are the fixture samples, bit for bit: in order with --no-shuffle, else in the seeded order of epoch 0', async () => {
    for (const shuffle of [undefined, false]) {
      const l = loader(shuffle);
      const order = l.order(0);
      expect(l.itersPerEpoch).toBe(STEPS);
      let i = 0;
      for await (const b of l.batches(0)) {
        expect(b.indices).toEqual(order.slice(i * BATCH, (i + 1) * BATCH));
        b.indices.forEach((k, n) => {
          const want = sample(k);
          expect(b.image.subarray(n * 3 * plane, (n + 1) * 3 * plane)).toEqual(want.image);
          expect(b.labels.subarray(n * plane, (n + 1) * plane)).toEqual(want.labels);
        });
        i++;
      }
      expect(i).toBe(STEPS);
      await l.close();
      // By default `fcnc train` shuffles each epoch with its seed, so it pairs the fixture's samples into other
      // batches; `--no-shuffle` keeps the files' order, so its batches are the fixture's.
      if (shuffle === undefined) expect(order).not.toEqual([...order].sort((a, b) => a - b));
      else expect(order).toEqual([...Array(STEPS * BATCH).keys()]);
    }
  });

  it.skipIf(!gpu.dev)(
    '`fcnc train --no-shuffle`: its losses are the Trainer’s on the fixture batches bit for bit, and within the acceptance rule of torch float64',
    async () => {
      const ckpt = join(root, 'run');
      const args = [
        join(ROOT, 'bin', 'fcnc.js'),
        'train',
        join(ROOT, 'specs', `${meta.variant}.fcn`),
        '--data',
        root,
        '--set',
        `width=${meta.width}`,
        '--crop',
        String(SIZE),
        '--batch',
        String(BATCH),
        '--iterations',
        String(STEPS),
        '--lr',
        String(BASE_LR),
        '--seed',
        '1',
        '--no-augment',
        '--no-shuffle',
        '--dropout',
        'off',
        '--weights',
        join(root, 'weights.safetensors'),
        '--eval-every',
        '0',
        '--workers',
        '0',
        '--checkpoint-dir',
        ckpt,
      ];
      // A child process: the CLI opens its own device.
      const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 300_000 });
      expect(r.status, r.stderr).toBe(0);
      const cli = readLog(join(ckpt, 'log.jsonl')).filter((x) => x.kind === 'step') as {
        iteration: number;
        lr: number;
        losses: Record<string, number>;
      }[];
      expect(cli.map((x) => x.iteration)).toEqual([...Array(STEPS).keys()].map((t) => t + 1));

      const dev = gpu.dev!;
      const { compiled } = compileTrainingFor(graphOf(), dev, { dropout: false });
      const trainer = await Trainer.create(dev, compiled.program, initialWeights(), {
        seed: 1,
        baseLr: BASE_LR,
        iterations: STEPS,
      });
      const l = loader(false);
      try {
        let t = 0;
        for await (const b of l.batches(0)) {
          const { losses, lr } = await trainer.step({ image: b.image, labels: b.labels });
          expect({ iteration: t + 1, lr, losses }).toEqual({
            iteration: cli[t]!.iteration,
            lr: cli[t]!.lr,
            losses: cli[t]!.losses,
          });
          t++;
        }
        expect(t).toBe(STEPS);
      } finally {
        trainer.destroy();
        await l.close();
      }
      // The command's own loss terms against PyTorch's float64 run, by the acceptance rule.
      const checks = check(
        cli.map((x) => x.losses),
        torch32,
        (_n, _t, own) => acceptance(own),
      ).filter((c) => (TERMS as readonly string[]).includes(c.name));
      expect(checks).toHaveLength(STEPS * TERMS.length);
      expectWithin(checks, '`fcnc train --no-shuffle`, the acceptance rule');
    },
  );
});
