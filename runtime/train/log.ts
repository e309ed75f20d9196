// The training log: `<dir>/log.jsonl`, one JSON object a line with a `kind` ('step' | 'eval' | 'note'), appended
// as training goes (docs/training-log.md), and `<dir>/curves.png`, the loss terms (EMA-smoothed over the faint
// raw values), the learning rate and the evaluation scores against the iteration, drawn with runtime/plot.ts.
//
// Each line goes to the file whole in one write (O_APPEND), so a crash leaves at most a partial last line. A
// resumed run drops that line and, once it knows the checkpoint's iteration, everything after it
// (`truncateAfter`): the log then reads as if the run had never gone past the checkpoint.
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { lineChart, type LinePanel, type LineSeries, PALETTE } from '../plot.ts';

export interface StepRecord {
  iteration: number;
  epoch: number;
  lr: number;
  /** Loss terms by name (e.g. loss — the total —, seg, aux, se). */
  losses: Record<string, number>;
  imagesPerSecond: number;
  /** Wall-clock time, Unix seconds. */
  time: number;
}

export interface EvalRecord {
  iteration: number;
  epoch: number;
  pixAcc: number;
  mIoU: number;
  perClassIoU?: number[];
}

export type LogRecord =
  | ({ kind: 'step' } & StepRecord)
  | ({ kind: 'eval'; time: number } & EvalRecord)
  | ({ kind: 'note'; time: number } & Record<string, unknown>);

export class LogFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LogFormatError';
  }
}

export interface ParsedLog {
  records: LogRecord[];
  /** Byte offset where each record's line starts, and where the last whole, valid line ends. */
  offsets: number[];
  end: number;
  /** The malformed or unterminated last line that was left out, if any. */
  dropped?: string;
}

const NL = 0x0a;

/**
 * Parses a log's bytes. A last line that is not a JSON object with a known `kind` (a write cut short) is left
 * out; such a line anywhere else is an error. With `terminatedOnly`, so is a valid last line without its newline
 * (what a resumed log drops: the next append would run into it). JSON has no NaN: non-finite numbers were
 * written as null, and the numeric fields (lr, the losses, pixAcc, mIoU) read back as NaN.
 */
export function parseLog(
  bytes: Uint8Array,
  source = 'log',
  opts: { terminatedOnly?: boolean } = {},
): ParsedLog {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const records: LogRecord[] = [];
  const offsets: number[] = [];
  let start = 0;
  let end = 0;
  let lineNo = 0;
  while (start < buf.length) {
    const nl = buf.indexOf(NL, start);
    const last = nl < 0 || nl === buf.length - 1;
    const stop = nl < 0 ? buf.length : nl;
    const text = buf.toString('utf8', start, stop);
    lineNo++;
    if (text.trim() === '' && nl >= 0) {
      start = end = nl + 1;
      continue;
    }
    const rec = nl < 0 && opts.terminatedOnly ? undefined : parseRecord(text);
    if (!rec) {
      if (last) return { records, offsets, end, dropped: text };
      throw new LogFormatError(`${source}:${lineNo}: not a log record: ${text.slice(0, 120)}`);
    }
    records.push(rec);
    offsets.push(start);
    start = end = nl < 0 ? buf.length : nl + 1;
  }
  return { records, offsets, end };
}

function parseRecord(text: string): LogRecord | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const r = v as Record<string, unknown>;
  const nan = (x: unknown): number => (typeof x === 'number' ? x : NaN);
  switch (r.kind) {
    case 'step': {
      if (typeof r.iteration !== 'number' || typeof r.losses !== 'object' || r.losses === null)
        return undefined;
      const losses: Record<string, number> = {};
      for (const [k, x] of Object.entries(r.losses)) losses[k] = nan(x);
      return { ...(r as LogRecord), lr: nan(r.lr), losses } as LogRecord;
    }
    case 'eval':
      if (typeof r.iteration !== 'number') return undefined;
      return { ...(r as LogRecord), pixAcc: nan(r.pixAcc), mIoU: nan(r.mIoU) } as LogRecord;
    case 'note':
      return r as LogRecord;
    default:
      return undefined;
  }
}

/** The records of a log file (see parseLog: a malformed last line is skipped). */
export function readLog(path: string): LogRecord[] {
  return parseLog(readFileSync(path), path).records;
}

export interface PlotOptions {
  title?: string;
  /**
   * The EMA's weight of the previous value, in [0, 1). By default from the number of steps: an average over about
   * 1 % of them (at least 1, at most 100 steps).
   */
  smoothing?: number;
  /** At most this many points per curve (every k-th step, and the last); default 2000. */
  maxPoints?: number;
}

/** Bias-corrected EMA (as Adam's moments): s_t = β·s_{t−1} + (1 − β)·x_t, reported as s_t / (1 − β^t); non-finite x are skipped. */
export function ema(values: number[], beta: number): number[] {
  let s = 0;
  let n = 0;
  return values.map((x) => {
    if (Number.isFinite(x)) {
      s = beta * s + (1 - beta) * x;
      n++;
    }
    return n === 0 ? NaN : s / (1 - beta ** n);
  });
}

/** The panels of curves.png for a log's records (empty panels left out). */
export function curvePanels(
  records: LogRecord[],
  opts: PlotOptions = {},
): { panels: LinePanel[]; beta: number } {
  const steps = records.filter((r): r is Extract<LogRecord, { kind: 'step' }> => r.kind === 'step');
  const evals = records.filter((r): r is Extract<LogRecord, { kind: 'eval' }> => r.kind === 'eval');
  const window = Math.min(100, Math.max(1, Math.round(steps.length / 100)));
  const beta = opts.smoothing ?? 1 - 1 / window;
  if (!(beta >= 0 && beta < 1)) throw new Error(`smoothing must be in [0, 1), not ${beta}`);
  const maxPoints = Math.max(2, opts.maxPoints ?? 2000);
  const stride = Math.ceil(steps.length / maxPoints);
  const keep = (i: number): boolean => i % stride === 0 || i === steps.length - 1;
  const xs = steps.map((s) => s.iteration);
  const sample = (ys: number[]): [number, number][] =>
    ys.flatMap((y, i) => (keep(i) ? [[xs[i]!, y] as [number, number]] : []));

  const names: string[] = [];
  for (const s of steps) for (const k of Object.keys(s.losses)) if (!names.includes(k)) names.push(k);
  const lossSeries: LineSeries[] = [];
  let allPositive = true;
  names.forEach((name, i) => {
    const raw = steps.map((s) => s.losses[name] ?? NaN);
    if (raw.some((x) => Number.isFinite(x) && x <= 0)) allPositive = false;
    const color = PALETTE[i % PALETTE.length]!;
    if (beta > 0) lossSeries.push({ name: `${name} (raw)`, points: sample(raw), color, faint: true });
    lossSeries.push({ name, points: sample(beta > 0 ? ema(raw, beta) : raw), color });
  });

  const panels: LinePanel[] = [];
  if (lossSeries.length)
    panels.push({
      y: { label: beta > 0 ? `loss (EMA ${beta.toFixed(2)}; faint: raw)` : 'loss', log: allPositive },
      series: lossSeries,
    });
  if (steps.length)
    panels.push({
      y: { label: 'learning rate' },
      series: [{ name: 'lr', points: sample(steps.map((s) => s.lr)) }],
    });
  if (evals.length)
    panels.push({
      y: { label: 'validation', domain: [0, 1] },
      series: [
        { name: 'pixAcc', points: evals.map((e) => [e.iteration, e.pixAcc]) },
        { name: 'mIoU', points: evals.map((e) => [e.iteration, e.mIoU]) },
      ],
    });
  return { panels, beta };
}

/** Draws a log's curves (see curvePanels) to `pngPath`, atomically; returns `pngPath`. */
export async function plotLog(logPath: string, pngPath: string, opts: PlotOptions = {}): Promise<string> {
  const records = readLog(logPath);
  const { panels } = curvePanels(records, opts);
  const png = await lineChart({
    title: opts.title ?? 'Training curves',
    x: { label: 'iteration' },
    panels: panels.length ? panels : [{ y: { label: 'loss' }, series: [] }],
  });
  const tmp = `${pngPath}.tmp-${process.pid}`;
  writeFileSync(tmp, png);
  renameSync(tmp, pngPath);
  return pngPath;
}

/** JSON with non-finite numbers as null (what JSON.stringify does too), on one line. */
function line(rec: Record<string, unknown>): Buffer {
  return Buffer.from(JSON.stringify(rec) + '\n', 'utf8');
}

export class TrainLog {
  readonly path: string;
  readonly pngPath: string;
  private fd: number | undefined;
  /** Bytes of the file that predate this TrainLog (what truncateAfter may cut). */
  private inherited: number;

  /**
   * Opens `<dir>/log.jsonl` (creating `dir`). A new run (`resume: false`) starts an empty log; a resumed one keeps
   * the log, less a partial or malformed last line.
   */
  constructor(
    readonly dir: string,
    opts: { resume: boolean },
  ) {
    mkdirSync(dir, { recursive: true });
    this.path = join(dir, 'log.jsonl');
    this.pngPath = join(dir, 'curves.png');
    if (opts.resume && existsSync(this.path)) {
      const bytes = readFileSync(this.path);
      const parsed = parseLog(bytes, this.path, { terminatedOnly: true });
      if (parsed.end < bytes.length) truncateSync(this.path, parsed.end);
      this.inherited = parsed.end;
    } else {
      writeFileSync(this.path, '');
      this.inherited = 0;
    }
    this.fd = openSync(this.path, 'a');
  }

  private write(rec: Record<string, unknown>): void {
    if (this.fd === undefined) throw new Error(`${this.path}: the log is closed`);
    const b = line(rec);
    let off = 0;
    while (off < b.length) off += writeSync(this.fd, b, off, b.length - off);
  }

  step(rec: StepRecord): void {
    this.write({
      kind: 'step',
      iteration: rec.iteration,
      epoch: rec.epoch,
      lr: rec.lr,
      losses: rec.losses,
      imagesPerSecond: rec.imagesPerSecond,
      time: rec.time,
    });
  }

  eval(rec: EvalRecord): void {
    this.write({
      kind: 'eval',
      iteration: rec.iteration,
      epoch: rec.epoch,
      pixAcc: rec.pixAcc,
      mIoU: rec.mIoU,
      ...(rec.perClassIoU ? { perClassIoU: rec.perClassIoU } : {}),
      time: Date.now() / 1000,
    });
  }

  /** A free-form record (`kind: 'note'`, and `time` unless given); a `kind` in `rec` is ignored. */
  note(rec: Record<string, unknown>): void {
    const { kind: _kind, ...rest } = rec;
    this.write({
      kind: 'note',
      ...rest,
      time: typeof rest.time === 'number' ? rest.time : Date.now() / 1000,
    });
  }

  /**
   * Cuts the log where the run went past `iteration` (the checkpoint resumed from): from the first record with a
   * larger `iteration` on, everything that was in the file when it was opened goes; what this TrainLog wrote
   * since stays.
   */
  truncateAfter(iteration: number): void {
    if (this.fd === undefined) throw new Error(`${this.path}: the log is closed`);
    const bytes = readFileSync(this.path);
    const { records, offsets } = parseLog(bytes.subarray(0, this.inherited), this.path);
    const i = records.findIndex((r) => typeof r.iteration === 'number' && r.iteration > iteration);
    if (i < 0) return;
    const cut = offsets[i]!;
    if (bytes.length === this.inherited) truncateSync(this.path, cut);
    else {
      // Records written since the log was opened stay: the file is rewritten as prefix + those, atomically.
      closeSync(this.fd);
      this.fd = undefined;
      const tmp = `${this.path}.tmp-${process.pid}`;
      writeFileSync(tmp, Buffer.concat([bytes.subarray(0, cut), bytes.subarray(this.inherited)]));
      renameSync(tmp, this.path);
      this.fd = openSync(this.path, 'a');
    }
    this.inherited = cut;
  }

  /** Writes `<dir>/curves.png` from the whole log (see curvePanels); returns its path. */
  plot(opts: PlotOptions = {}): Promise<string> {
    return plotLog(this.path, this.pngPath, opts);
  }

  /** Closes the file; later writes throw. Closing twice is harmless. */
  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}
