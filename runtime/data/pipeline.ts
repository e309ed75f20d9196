// One sample through the pipeline: read, decode, check, transform. Runs in the loader's worker threads (and in
// the main thread with `workers: 0`); a pure function of its config and task, so results do not depend on which
// worker runs a task.
import { transformSample, type TransformMode } from './augment.ts';
import { loadSample, type LabelMapping, type SampleFiles } from './datasets.ts';
import { DataError, type DataErrorKind } from './errors.ts';
import { sampleRng } from './rng.ts';

export interface PipelineConfig {
  readonly samples: readonly SampleFiles[];
  readonly classes: readonly string[];
  readonly mapping: LabelMapping;
  readonly mode: TransformMode;
  readonly base: number;
  readonly crop: number;
  readonly seed: number;
  readonly skipBad: boolean;
}

export interface Task {
  readonly id: number;
  readonly epoch: number;
  /** Position of the sample in the epoch (its randomness is keyed by (seed, epoch, position)). */
  readonly position: number;
  /** Dataset index scheduled at that position. */
  readonly index: number;
}

/** A sample skipped because of bad data (with `skipBad`), and the one that replaced it. */
export interface SkipRecord {
  readonly epoch: number;
  readonly position: number;
  readonly index: number;
  readonly replacement: number;
  readonly file: string;
  readonly kind: DataErrorKind;
  readonly message: string;
}

export interface TaskResult {
  readonly id: number;
  /** The dataset index actually used (the scheduled one unless it was skipped). */
  readonly index: number;
  /** [3, crop, crop] */
  readonly image: Float32Array;
  /** [crop, crop], −1 = ignore */
  readonly label: Float32Array;
  readonly skipped: SkipRecord[];
  readonly loadMs: number;
  readonly augmentMs: number;
}

/**
 * Loads and transforms the task's sample. A DataError is thrown as is, unless `skipBad`: then the sample is
 * replaced by the next index (cyclically) that loads, with the same randomness, and the skip is recorded.
 */
export function runTask(cfg: PipelineConfig, task: Task): TaskResult {
  const n = cfg.samples.length;
  const skipped: SkipRecord[] = [];
  let loadMs = 0;
  for (let attempt = 0; attempt < n; attempt++) {
    const index = (task.index + attempt) % n;
    const t0 = performance.now();
    let sample;
    try {
      sample = loadSample(cfg, cfg.samples[index]!);
    } catch (e) {
      if (!(e instanceof DataError) || !cfg.skipBad) throw e;
      loadMs += performance.now() - t0;
      skipped.push({
        epoch: task.epoch,
        position: task.position,
        index,
        replacement: (index + 1) % n,
        file: e.file,
        kind: e.kind,
        message: e.message,
      });
      continue;
    }
    const t1 = performance.now();
    loadMs += t1 - t0;
    const rng = cfg.mode === 'train' ? sampleRng(cfg.seed, task.epoch, task.position) : undefined;
    const t = transformSample(sample, cfg.mode, { base: cfg.base, crop: cfg.crop }, rng);
    return {
      id: task.id,
      index,
      image: t.image,
      label: t.label,
      skipped,
      loadMs,
      augmentMs: performance.now() - t1,
    };
  }
  throw new DataError(
    `${cfg.samples[task.index]?.image ?? 'dataset'}: every sample of the dataset failed to load (first: ${skipped[0]?.message})`,
    skipped[0]?.file ?? '',
    skipped[0]?.kind ?? 'unreadable',
  );
}
