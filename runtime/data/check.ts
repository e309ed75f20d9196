// `fcnc data check`: validates a dataset and counts its class pixels. Every pair is decoded; problems (an image
// without its label or the reverse, size mismatches, label values outside the classes, unreadable files, empty
// splits) are collected with their file, never thrown, so one run lists them all.
import {
  availableSplits,
  detectFormat,
  loadImage,
  loadRawLabel,
  openDataset,
  labelRangeError,
} from './datasets.ts';
import type { DataFormat, LabelMapping } from './datasets.ts';
import { DataError } from './errors.ts';

export interface SplitReport {
  readonly split: 'train' | 'val';
  /** Image files of the split (for PASCAL Context: those with a label). */
  readonly images: number;
  readonly labels: number;
  /** Pairs found (including those with problems). */
  readonly samples: number;
  /** Labelled pixels per class (train id), over every label that decodes. */
  readonly pixels: number[];
  /** Pixels with the ignore value. */
  readonly ignore: number;
  readonly problems: DataError[];
}

export interface CheckReport {
  readonly root: string;
  readonly format: DataFormat;
  readonly classes: string[];
  readonly mapping: LabelMapping;
  readonly splits: SplitReport[];
  /** Splits that were not found (not a problem unless asked for with `split`). */
  readonly absent: ('train' | 'val')[];
  readonly problems: DataError[];
}

export interface CheckOptions {
  readonly format?: DataFormat;
  /** Default: every split present. */
  readonly split?: 'train' | 'val';
  readonly onProgress?: (split: string, done: number, total: number) => void;
}

function checkSplit(
  root: string,
  format: DataFormat,
  split: 'train' | 'val',
  onProgress?: CheckOptions['onProgress'],
): { report: SplitReport; classes: string[]; mapping: LabelMapping } {
  const ds = openDataset(root, { format, split, allowEmpty: true });
  const problems: DataError[] = [...ds.unmatched];
  const K = ds.classes.length;
  const pixels = new Array<number>(K).fill(0);
  let ignore = 0;
  const counts = new Float64Array(65536);
  ds.samples.forEach((s, i) => {
    onProgress?.(split, i, ds.samples.length);
    let size: { width: number; height: number } | undefined;
    try {
      size = loadImage(s.image);
    } catch (e) {
      if (!(e instanceof DataError)) throw e;
      problems.push(e);
    }
    let raw;
    try {
      raw = loadRawLabel(s.label);
    } catch (e) {
      if (!(e instanceof DataError)) throw e;
      problems.push(e);
      return;
    }
    if (size && (size.width !== raw.width || size.height !== raw.height))
      problems.push(
        new DataError(
          `${s.label}: label is ${raw.width}×${raw.height} but its image ${s.image} is ${size.width}×${size.height} ` +
            `(W×H); they must match pixel for pixel`,
          s.label,
          'size-mismatch',
        ),
      );
    counts.fill(0);
    for (const v of raw.values) counts[v]!++;
    let bad: Map<number, number> | undefined;
    for (let v = 0; v < 65536; v++) {
      const n = counts[v]!;
      if (n === 0) continue;
      if (v === ds.mapping.ignore) ignore += n;
      else if (v - ds.mapping.offset >= 0 && v - ds.mapping.offset < K) pixels[v - ds.mapping.offset]! += n;
      else (bad ??= new Map()).set(v, n);
    }
    if (bad) problems.push(labelRangeError(s.label, bad, ds.mapping, K));
  });
  onProgress?.(split, ds.samples.length, ds.samples.length);
  const missingLabel = ds.unmatched.filter((e) => e.kind === 'missing-label').length;
  const missingImage = ds.unmatched.filter((e) => e.kind === 'missing-image').length;
  if (ds.samples.length === 0)
    problems.push(
      new DataError(
        `${root}: the ${split} split has no samples (no image with a matching label)`,
        root,
        'empty-split',
      ),
    );
  return {
    report: {
      split,
      images: ds.samples.length + missingLabel,
      labels: ds.samples.length + missingImage,
      samples: ds.samples.length,
      pixels,
      ignore,
      problems,
    },
    classes: ds.classes,
    mapping: ds.mapping,
  };
}

/** Checks every split present (or the one asked for). Throws DataError only when the root is not a dataset. */
export function checkDataset(root: string, opts: CheckOptions = {}): CheckReport {
  const format = opts.format ?? detectFormat(root);
  const present = availableSplits(root, format);
  const wanted: ('train' | 'val')[] = opts.split ? [opts.split] : present;
  const splits: SplitReport[] = [];
  const problems: DataError[] = [];
  let classes: string[] = [];
  let mapping: LabelMapping = { ignore: 0, offset: 0 };
  for (const s of wanted) {
    try {
      const r = checkSplit(root, format, s, opts.onProgress);
      splits.push(r.report);
      problems.push(...r.report.problems);
      classes = r.classes;
      mapping = r.mapping;
    } catch (e) {
      if (!(e instanceof DataError)) throw e;
      problems.push(e);
    }
  }
  if (wanted.length === 0)
    problems.push(new DataError(`${root}: neither a train nor a val split was found`, root, 'empty-split'));
  if (classes.length === 0) {
    // No split could be read: still name the classes the format would use.
    try {
      const ds = openDataset(root, { format, split: wanted[0] ?? 'train', allowEmpty: true });
      classes = ds.classes;
      mapping = ds.mapping;
    } catch {
      // already reported
    }
  }
  const absent = (['train', 'val'] as const).filter((s) => !present.includes(s));
  return { root, format, classes, mapping, splits, absent, problems };
}

const num = (n: number) => n.toLocaleString('en-US');

function table(rows: string[][], right: boolean[]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows
    .map((r) =>
      r
        .map((cell, c) => (right[c] ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** The report as text: per-split counts, class pixel frequencies, then every problem. */
export function formatCheckReport(r: CheckReport): string {
  const m = r.mapping;
  const conv =
    m.offset === 0
      ? `label v = class v, ${m.ignore} = ignore`
      : `label ${m.ignore} = ignore, v = class v−${m.offset}`;
  const lines: string[] = [`${r.root}: ${r.format} dataset, ${r.classes.length} classes (${conv})`, ''];
  if (r.splits.length) {
    lines.push(
      table(
        [
          ['split', 'images', 'labels', 'samples', 'problems'],
          ...r.splits.map((s) => [
            s.split,
            num(s.images),
            num(s.labels),
            num(s.samples),
            num(s.problems.length),
          ]),
        ],
        [false, true, true, true, true],
      ),
      '',
    );
    const head = ['class'];
    for (const s of r.splits) head.push(`${s.split} pixels`, '%');
    const rows = [head];
    const totals = r.splits.map((s) => s.pixels.reduce((a, b) => a + b, 0) + s.ignore);
    const pct = (n: number, t: number) => (t > 0 ? `${((100 * n) / t).toFixed(1)}%` : '-');
    r.classes.forEach((name, k) => {
      const row = [`${k} ${name}`];
      r.splits.forEach((s, i) => row.push(num(s.pixels[k] ?? 0), pct(s.pixels[k] ?? 0, totals[i]!)));
      rows.push(row);
    });
    const ig = ['(ignore)'];
    r.splits.forEach((s, i) => ig.push(num(s.ignore), pct(s.ignore, totals[i]!)));
    rows.push(ig);
    lines.push(
      table(
        rows,
        head.map((_, c) => c > 0),
      ),
      '',
    );
    const missing = r.classes.filter((_, k) => r.splits.every((s) => (s.pixels[k] ?? 0) === 0));
    if (missing.length)
      lines.push(
        `${missing.length} class${missing.length === 1 ? '' : 'es'} with no pixels: ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', …' : ''}`,
        '',
      );
  }
  if (r.absent.length) lines.push(`no ${r.absent.join(' or ')} split`, '');
  if (r.problems.length) {
    lines.push(`${r.problems.length} problem${r.problems.length === 1 ? '' : 's'}:`);
    for (const p of r.problems) lines.push(`  [${p.kind}] ${p.message}`);
  } else lines.push('no problems');
  return lines.join('\n') + '\n';
}
