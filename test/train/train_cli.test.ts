// `fcnc train` end to end on a tiny synthetic dataset (narrow EncNet+JPU, 32×32 crops, batch 2): a run killed with
// SIGKILL and resumed ends with weights bit-identical to an uninterrupted run; Ctrl-C finishes the step and writes
// a checkpoint; bad data stops the run naming the file and leaves the last checkpoint intact (or is skipped with
// --skip-bad); a checkpoint of another run is refused for --resume; --weights of another class count loads all
// but the classifiers.
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readCheckpoint, writeCheckpoint } from '../../runtime/weights/checkpoint.ts';
import { buildGraph } from '../../compiler/index.ts';
import { compileTraining } from '../../compiler/compile.ts';
import { problemsOf } from '../../runtime/tune.ts';
import { tuningFor } from '../../runtime/tuning.ts';
import { readLog } from '../../runtime/train/log.ts';
import { gpuForTests } from '../gpu/harness.ts';
import { ROOT, runCli } from '../helpers.ts';

const gpu = await gpuForTests();
const base = gpu.dev ? tuningFor(gpu.dev) : {};
gpu.dev?.destroy();

const dir = mkdtempSync(join(tmpdir(), 'fcnc-train-'));
const data = join(dir, 'synth');
const SPEC = join(ROOT, 'specs', 'enc_jpu_r50.fcn');
/** 8 training images in batches of 2: 4 iterations an epoch. */
const BASE = [
  '--set',
  'width=4',
  '--crop',
  '32',
  '--batch',
  '2',
  '--lr',
  '0.01',
  '--workers',
  '1',
  '--seed',
  '3',
];

function fcncChild(args: string[]): { pid: number; done: Promise<{ code: number | null; err: string }> } {
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'fcnc.js'), ...args], {
    detached: true, // its own process group: a kill reaches the Dawn child process too
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  return { pid: child.pid!, done: new Promise((r) => child.on('close', (code) => r({ code, err }))) };
}

async function waitFor(cond: () => boolean, what: string, ms = 300_000): Promise<void> {
  const t = Date.now();
  while (!cond()) {
    if (Date.now() - t > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const lastStep = (ckptDir: string): number => {
  const p = join(ckptDir, 'log.jsonl');
  if (!existsSync(p)) return 0;
  const lines = readFileSync(p, 'utf8')
    .split('\n')
    .filter((l) => l.includes('"kind":"step"'));
  return lines.length ? (JSON.parse(lines[lines.length - 1]!) as { iteration: number }).iteration : 0;
};

function sameTensors(
  a: Map<string, { data: ArrayLike<unknown> }>,
  b: Map<string, { data: ArrayLike<unknown> }>,
): string[] {
  const differ: string[] = [];
  expect([...a.keys()]).toEqual([...b.keys()]);
  for (const [k, t] of a) {
    const x = t.data as unknown as { buffer: ArrayBuffer; byteOffset: number; byteLength: number };
    const y = b.get(k)!.data as unknown as typeof x;
    if (
      !Buffer.from(x.buffer, x.byteOffset, x.byteLength).equals(
        Buffer.from(y.buffer, y.byteOffset, y.byteLength),
      )
    )
      differ.push(k);
  }
  return differ;
}

beforeAll(async () => {
  const r = await runCli('data', 'synth', data, '--train', '8', '--val', '4', '--size', '40', '--seed', '2');
  expect(r.code, r.err).toBe(0);
}, 120_000);

describe.skipIf(!gpu.dev)('fcnc train', () => {
  it('a run killed with SIGKILL and resumed ends bit-identical to an uninterrupted one', async () => {
    const args = [
      ...BASE,
      '--iterations',
      '12',
      '--checkpoint-every',
      '2',
      '--eval-every',
      '0',
      '--data',
      data,
    ];
    const whole = join(dir, 'whole');
    const r = await runCli('train', SPEC, ...args, '--checkpoint-dir', whole);
    expect(r.code, r.err).toBe(0);

    const killed = join(dir, 'killed');
    const child = fcncChild(['train', SPEC, ...args, '--checkpoint-dir', killed]);
    await waitFor(() => lastStep(killed) >= 5, 'iteration 5');
    process.kill(-child.pid, 'SIGKILL');
    await child.done;
    const interrupted = await readCheckpoint(join(killed, 'checkpoint.pth.tar'));
    expect(interrupted.iteration).toBeGreaterThanOrEqual(4);
    expect(interrupted.iteration).toBeLessThan(12);
    expect(readdirSync(killed).filter((f) => f.includes('.tmp'))).toEqual([]); // only whole files

    const resumed = await runCli('train', SPEC, ...args, '--checkpoint-dir', killed, '--resume');
    expect(resumed.code, resumed.err).toBe(0);
    expect(resumed.err).toContain(
      `resuming ${join(killed, 'checkpoint.pth.tar')} at iteration ${interrupted.iteration}`,
    );
    const a = await readCheckpoint(join(whole, 'checkpoint.pth.tar'));
    const b = await readCheckpoint(join(killed, 'checkpoint.pth.tar'));
    expect(b.iteration).toBe(12);
    expect(sameTensors(a.stateDict, b.stateDict)).toEqual([]);
    expect(sameTensors(a.momentum, b.momentum)).toEqual([]);
    // The weights moved, and num_batches_tracked counted the 12 steps.
    expect(a.stateDict.get('pretrained.bn1.num_batches_tracked')!.data[0]).toBe(12n);
    // The resumed log holds each iteration once, with the uninterrupted run's losses.
    const steps = (d: string) =>
      readLog(join(d, 'log.jsonl')).filter((x) => x.kind === 'step') as {
        iteration: number;
        losses: Record<string, number>;
      }[];
    expect(steps(killed).map((s) => s.iteration)).toEqual([...Array(12).keys()].map((k) => k + 1));
    expect(steps(killed).map((s) => s.losses)).toEqual(steps(whole).map((s) => s.losses));
  });

  it('--resume compiles with the kernels the run started with, whatever --tune would choose now', async () => {
    const out = join(dir, 'kernels');
    const args = [...BASE, '--iterations', '4', '--eval-every', '0', '--data', data, '--checkpoint-dir', out];
    const first = await runCli('train', SPEC, ...args, '--stop-after', '2', '--tune', 'off');
    expect(first.code, first.err).toBe(0);
    const path = join(out, 'checkpoint.pth.tar');
    const c = await readCheckpoint(path);
    expect(c.iteration).toBe(2);
    // --tune off: the adapter's defaults, recorded as the run's kernels.
    expect(JSON.parse(c.extra.kernels as string)).toEqual(base);
    // As if the run had started with a tuned weight-gradient kernel for one conv of its backbone.
    const g = buildGraph(SPEC, { height: 32, width: 32, batch: 2, settings: { width: 4 } }).graph!;
    const p = problemsOf(compileTraining(g, { limits: {}, tuning: base, verify: false }).graph).find(
      (q) => q.op === 'conv2d_grad_weight' && q.attrs.kernel === 3 && q.attrs.groups === 1,
    )!;
    const kernels = {
      ...base,
      [`conv2d_grad_weight.tm@${p.key}`]: 4,
      [`conv2d_grad_weight.tn@${p.key}`]: 4,
    };
    await writeCheckpoint(path, { ...c, extra: { ...c.extra, kernels: JSON.stringify(kernels) } });
    const resumed = await runCli('train', SPEC, ...args, '--resume', '--tune', 'off');
    expect(resumed.code, resumed.err).toBe(0);
    expect(resumed.err).toContain('kernels: as the run started (1 tuned problems)');
    const after = await readCheckpoint(path);
    expect(after.iteration).toBe(4);
    expect(JSON.parse(after.extra.kernels as string)).toEqual(kernels);
  });

  it('Ctrl-C finishes the step, writes a checkpoint and exits', async () => {
    const out = join(dir, 'sigint');
    const child = fcncChild([
      'train',
      SPEC,
      ...BASE,
      '--iterations',
      '400',
      '--eval-every',
      '0',
      '--data',
      data,
      '--checkpoint-dir',
      out,
    ]);
    await waitFor(() => lastStep(out) >= 2, 'iteration 2');
    process.kill(-child.pid, 'SIGINT');
    const { code, err } = await child.done;
    expect(err).toContain('stopping after this step');
    expect(code).toBe(0);
    const c = await readCheckpoint(join(out, 'checkpoint.pth.tar'));
    expect(c.iteration).toBeGreaterThanOrEqual(2);
    expect(c.iteration).toBeLessThan(400);
    expect(err).toContain(`stopped at iteration ${c.iteration} of 400`);
    expect(lastStep(out)).toBe(c.iteration);
  });

  it('evaluates each epoch, keeps the best checkpoint, and refuses to resume another run', async () => {
    const out = join(dir, 'eval');
    const r = await runCli('train', SPEC, ...BASE, '--epochs', '2', '--data', data, '--checkpoint-dir', out);
    expect(r.code, r.err).toBe(0);
    const evals = readLog(join(out, 'log.jsonl')).filter((x) => x.kind === 'eval') as {
      epoch: number;
      mIoU: number;
      pixAcc: number;
    }[];
    expect(evals.map((e) => e.epoch)).toEqual([1, 2]);
    for (const e of evals) {
      expect(e.pixAcc).toBeGreaterThan(0);
      expect(e.pixAcc).toBeLessThanOrEqual(1);
    }
    const best = await readCheckpoint(join(out, 'model_best.pth.tar'));
    const top = Math.max(...evals.map((e) => (e.pixAcc + e.mIoU) / 2));
    expect(best.bestPred).toBeCloseTo(top, 12);
    expect(statSync(join(out, 'curves.png')).size).toBeGreaterThan(1000);
    expect(r.err).toMatch(/epoch 2: pixAcc \d+\.\d\d %, mIoU \d+\.\d\d %/);

    const again = await runCli(
      'train',
      SPEC,
      ...BASE,
      '--epochs',
      '2',
      '--data',
      data,
      '--checkpoint-dir',
      out,
    );
    expect(again.code).toBe(1);
    expect(again.err).toContain('exists: pass --resume to continue that run');
    const other = await runCli(
      'train',
      SPEC,
      ...BASE.map((x) => (x === '2' ? '4' : x)),
      '--epochs',
      '2',
      '--data',
      data,
      '--checkpoint-dir',
      out,
      '--resume',
    );
    expect(other.code).toBe(1);
    expect(other.err).toContain('belongs to another run: batch 2 there, 4 now');
    // Another data order or augmentation is another run too.
    const order = await runCli(
      'train',
      SPEC,
      ...BASE,
      '--epochs',
      '2',
      '--data',
      data,
      '--checkpoint-dir',
      out,
      '--resume',
      '--no-shuffle',
    );
    expect(order.code).toBe(1);
    expect(order.err).toContain('belongs to another run: shuffle true there, false now');
  });

  it('--weights of another class count loads everything but the classifiers', async () => {
    const out = join(dir, 'finetune');
    const weights = join(dir, 'eval', 'model_best.pth.tar');
    const six = join(dir, 'synth6');
    expect(
      (await runCli('data', 'synth', six, '--train', '4', '--val', '2', '--size', '40', '--classes', '6'))
        .code,
    ).toBe(0);
    const r = await runCli(
      'train',
      SPEC,
      ...BASE,
      '--iterations',
      '1',
      '--eval-every',
      '0',
      '--data',
      six,
      '--checkpoint-dir',
      out,
      '--weights',
      weights,
    );
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/tensors loaded, 6 initialised, 0 ignored/);
    expect(r.err).toContain('head.conv6.1.weight [5, 32, 1, 1] → [6, 32, 1, 1]');
  });

  it('bad data stops the run naming the file, the last checkpoint intact; --skip-bad skips and counts it', async () => {
    const bad = join(dir, 'bad');
    cpSync(data, bad, { recursive: true });
    const labels = join(bad, 'ADEChallengeData2016', 'annotations', 'training');
    const victim = readdirSync(labels).sort()[5]!;
    writeFileSync(join(labels, victim), readFileSync(join(labels, victim)).subarray(0, 40)); // truncated PNG
    const out = join(dir, 'bad-run');
    const args = [
      ...BASE,
      '--iterations',
      '8',
      '--checkpoint-every',
      '1',
      '--eval-every',
      '0',
      '--data',
      bad,
    ];
    const r = await runCli('train', SPEC, ...args, '--checkpoint-dir', out);
    expect(r.code).toBe(1);
    expect(r.err).toContain(victim);
    expect(r.err).toContain('is intact');
    const c = await readCheckpoint(join(out, 'checkpoint.pth.tar'));
    expect(c.iteration).toBeLessThan(8);

    const skip = join(dir, 'skip-run');
    const s = await runCli('train', SPEC, ...args, '--checkpoint-dir', skip, '--skip-bad');
    expect(s.code, s.err).toBe(0);
    expect(s.err).toMatch(/\d+ bad samples skipped/);
    const note = readLog(join(skip, 'log.jsonl')).find(
      (x) => x.kind === 'note' && (x as { event?: string }).event === 'skipped',
    ) as unknown as { samples: { file: string }[] };
    expect(note.samples.some((x) => x.file.endsWith(victim))).toBe(true);
  });
});
