// The training log (runtime/train/log.ts): JSONL records a line, a resumed log without its partial last line and
// cut back to the checkpoint's iteration, readLog skipping a malformed last line, and curves.png.
import {
  appendFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers.ts';
import { curvePanels, ema, LogFormatError, parseLog, readLog, TrainLog } from '../../runtime/train/log.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fcnc-trainlog-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const lines = (path: string): string[] => readFileSync(path, 'utf8').split('\n');

function steps(log: TrainLog, from: number, to: number): void {
  for (let it = from; it <= to; it++)
    log.step({
      iteration: it,
      epoch: Math.ceil(it / 10),
      lr: 0.01 * (1 - it / 100) ** 0.9,
      losses: { loss: 2 / (1 + it / 20) + 0.05 * (it % 4), aux: 0.5 / (1 + it / 20) },
      imagesPerSecond: 4.5,
      time: 1000 + it,
    });
}

describe('TrainLog', () => {
  it('writes one JSON object a line, with its kind, in order', () => {
    const log = new TrainLog(join(dir, 'run'), { resume: false });
    log.note({ event: 'start', weights: null });
    steps(log, 1, 2);
    log.eval({ iteration: 2, epoch: 1, pixAcc: 0.5, mIoU: 0.25, perClassIoU: [0.5, 0] });
    log.note({ kind: 'ignored', event: 'finished', time: 7 });
    log.close();
    log.close();
    expect(() => log.note({})).toThrow(/closed/);
    const text = lines(log.path);
    expect(text.at(-1)).toBe('');
    const recs = text.slice(0, -1).map((l) => JSON.parse(l));
    expect(recs.map((r) => r.kind)).toEqual(['note', 'step', 'step', 'eval', 'note']);
    expect(recs[1]).toEqual({
      kind: 'step',
      iteration: 1,
      epoch: 1,
      lr: 0.01 * 0.99 ** 0.9,
      losses: { loss: 2 / 1.05 + 0.05, aux: 0.5 / 1.05 },
      imagesPerSecond: 4.5,
      time: 1001,
    });
    expect(recs[3]).toMatchObject({
      kind: 'eval',
      iteration: 2,
      pixAcc: 0.5,
      mIoU: 0.25,
      perClassIoU: [0.5, 0],
    });
    expect(typeof recs[3].time).toBe('number');
    expect(recs[0]).toMatchObject({ kind: 'note', event: 'start', weights: null });
    expect(recs[4]).toEqual({ kind: 'note', event: 'finished', time: 7 });
    expect(readLog(log.path)).toEqual(recs);
  });

  it('a new run starts an empty log; a resumed one appends', () => {
    const a = new TrainLog(dir, { resume: false });
    steps(a, 1, 3);
    a.close();
    const b = new TrainLog(dir, { resume: true });
    steps(b, 4, 5);
    b.close();
    expect(readLog(b.path).map((r) => r.iteration)).toEqual([1, 2, 3, 4, 5]);
    const c = new TrainLog(dir, { resume: false });
    c.close();
    expect(readFileSync(c.path, 'utf8')).toBe('');
    // Resuming where there is no log yet starts one.
    const d = new TrainLog(join(dir, 'fresh'), { resume: true });
    steps(d, 1, 1);
    d.close();
    expect(readLog(d.path)).toHaveLength(1);
  });

  it('resuming drops a partial last line (and a complete one whose newline is missing)', () => {
    const a = new TrainLog(dir, { resume: false });
    steps(a, 1, 3);
    a.close();
    appendFileSync(a.path, '{"kind":"step","iteration":4,"epo');
    expect(readLog(a.path).map((r) => r.iteration)).toEqual([1, 2, 3]);
    const b = new TrainLog(dir, { resume: true });
    steps(b, 4, 4);
    b.close();
    expect(lines(b.path)).toHaveLength(5);
    expect(readLog(b.path).map((r) => r.iteration)).toEqual([1, 2, 3, 4]);

    appendFileSync(b.path, '{"kind":"note","event":"x"}');
    expect(readLog(b.path)).toHaveLength(5); // readLog takes a valid unterminated last line
    const c = new TrainLog(dir, { resume: true });
    c.note({ event: 'resumed' });
    c.close();
    const recs = readLog(c.path);
    expect(recs.map((r) => r.kind)).toEqual(['step', 'step', 'step', 'step', 'note']);
    expect(recs[4]).toMatchObject({ event: 'resumed' });
  });

  it('truncateAfter(iteration) cuts the old records past the checkpoint, keeping those written since', () => {
    const a = new TrainLog(dir, { resume: false });
    steps(a, 1, 5);
    a.eval({ iteration: 5, epoch: 1, pixAcc: 0.4, mIoU: 0.2 });
    a.note({ event: 'checkpoint', iteration: 5 });
    steps(a, 6, 8);
    a.note({ event: 'no iteration' });
    a.close();
    appendFileSync(a.path, '{"kind":"st'); // killed mid-write

    const b = new TrainLog(dir, { resume: true });
    b.truncateAfter(5);
    steps(b, 6, 6);
    b.close();
    expect(readLog(b.path).map((r) => `${r.kind}${r.iteration ?? ''}`)).toEqual([
      'step1',
      'step2',
      'step3',
      'step4',
      'step5',
      'eval5',
      'note5',
      'step6',
    ]);

    // Past the end: nothing to cut. A note written before truncateAfter stays.
    const c = new TrainLog(dir, { resume: true });
    c.truncateAfter(100);
    c.note({ event: 'resume', iteration: 3 });
    c.truncateAfter(3);
    steps(c, 4, 4);
    c.close();
    expect(readLog(c.path).map((r) => `${r.kind}${r.iteration ?? ''}`)).toEqual([
      'step1',
      'step2',
      'step3',
      'note3',
      'step4',
    ]);
    expect(readFileSync(c.path, 'utf8').endsWith('\n')).toBe(true);
  });

  it('non-finite numbers are written as null and read back as NaN', () => {
    const a = new TrainLog(dir, { resume: false });
    a.step({
      iteration: 1,
      epoch: 1,
      lr: 0.01,
      losses: { loss: NaN, aux: Infinity },
      imagesPerSecond: 1,
      time: 0,
    });
    a.close();
    expect(lines(a.path)[0]).toContain('"losses":{"loss":null,"aux":null}');
    const [r] = readLog(a.path);
    expect(r!.kind === 'step' && Number.isNaN(r.losses.loss) && Number.isNaN(r.losses.aux)).toBe(true);
  });

  it('plot() writes curves.png: loss EMA over faint raw, learning rate, pixAcc and mIoU', async () => {
    const log = new TrainLog(dir, { resume: false });
    steps(log, 1, 60);
    for (const it of [20, 40, 60])
      log.eval({ iteration: it, epoch: it / 10, pixAcc: 0.5 + it / 200, mIoU: it / 200 });
    const path = await log.plot();
    log.close();
    expect(path).toBe(join(dir, 'curves.png'));
    const img = PNG.sync.read(readFileSync(path));
    expect(img.width).toBeGreaterThan(800);
    expect(img.height).toBeGreaterThan(img.width * 0.8); // three panels stacked
    const colours = new Set<number>();
    for (let i = 0; i < img.data.length; i += 4)
      colours.add((img.data[i]! << 16) | (img.data[i + 1]! << 8) | img.data[i + 2]!);
    expect(colours.size).toBeGreaterThan(20);
    expect(readdirTmp()).toEqual([]);

    const { panels, beta } = curvePanels(readLog(log.path));
    expect(beta).toBeCloseTo(0); // 60 steps: a window of 1 step, no smoothing
    expect(panels.map((p) => p.y.label)).toEqual(['loss', 'learning rate', 'validation']);
    const smoothed = curvePanels(readLog(log.path), { smoothing: 0.8 });
    expect(smoothed.panels[0]!.series.map((s) => [s.name, s.faint ?? false])).toEqual([
      ['loss (raw)', true],
      ['loss', false],
      ['aux (raw)', true],
      ['aux', false],
    ]);
    expect(smoothed.panels[0]!.y.log).toBe(true);
    expect(smoothed.panels[2]!.series.map((s) => s.points.length)).toEqual([3, 3]);
  });

  it('plot() of a log with no records still draws, and thins long logs', async () => {
    const log = new TrainLog(dir, { resume: false });
    await log.plot();
    expect(existsSync(join(dir, 'curves.png'))).toBe(true);
    steps(log, 1, 99);
    log.close();
    const { panels } = curvePanels(readLog(log.path), { maxPoints: 10 });
    const lr = panels[1]!.series[0]!.points;
    expect(lr.length).toBeLessThanOrEqual(11);
    expect(lr.at(-1)![0]).toBe(99);
  });
});

const readdirTmp = (): string[] => readdirSync(dir).filter((f) => f.includes('.tmp'));

describe('readLog / parseLog', () => {
  it('skips a malformed last line but rejects one elsewhere', () => {
    const path = join(dir, 'log.jsonl');
    writeFileSync(path, '{"kind":"note","a":1}\n{"kind":"note","a":2}\n{"kind":"note",\n');
    expect(readLog(path)).toEqual([
      { kind: 'note', a: 1 },
      { kind: 'note', a: 2 },
    ]);
    writeFileSync(path, '{"kind":"note","a":1}\nnot json\n{"kind":"note","a":2}\n');
    expect(() => readLog(path)).toThrow(LogFormatError);
    expect(() => readLog(path)).toThrow(/log\.jsonl:2: not a log record/);
    writeFileSync(path, '{"kind":"other"}\n{"kind":"note"}\n');
    expect(() => readLog(path)).toThrow(/:1: not a log record/);
  });

  it('reports where the whole lines end and what was dropped; blank lines are skipped', () => {
    const text = '{"kind":"note","a":1}\n\n{"kind":"note","a":2}\n{"kind":"no';
    const p = parseLog(Buffer.from(text));
    expect(p.records).toHaveLength(2);
    expect(p.offsets).toEqual([0, 23]);
    expect(p.end).toBe(text.lastIndexOf('\n') + 1);
    expect(p.dropped).toBe('{"kind":"no');
  });

  it('the example in docs/training-log.md is a valid log', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'training-log.md'), 'utf8');
    const example = /```jsonl\n([\s\S]*?)```/.exec(doc)![1]!;
    const p = parseLog(Buffer.from(example));
    expect(p.dropped).toBeUndefined();
    expect(p.records.map((r) => r.kind)).toEqual(['note', 'step', 'step', 'eval', 'note']);
    expect(curvePanels(p.records).panels).toHaveLength(3);
  });

  it('ema is bias-corrected and skips non-finite values', () => {
    expect(ema([2, 2, 2], 0.9)).toEqual([2, 2, 2].map((x) => expect.closeTo(x, 12)));
    const e = ema([NaN, 1, NaN, 3], 0.5);
    expect(Number.isNaN(e[0])).toBe(true);
    expect(e[1]).toBeCloseTo(1);
    expect(e[2]).toBeCloseTo(1);
    expect(e[3]).toBeCloseTo((0.5 * 0.5 * 1 + 0.5 * 3) / (1 - 0.25));
  });
});
