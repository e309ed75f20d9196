// The training/validation data loader: an epoch's seeded order, batches of transformed samples, decoding and
// augmentation in worker threads with a few batches prefetched. Everything random is keyed by (seed, epoch,
// position), so batches are identical whatever the worker count and a run resumed at (epoch, iteration) sees
// exactly the batches it would have seen.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Dataset } from './datasets.ts';
import { DataError } from './errors.ts';
import { runTask, type PipelineConfig, type SkipRecord, type Task, type TaskResult } from './pipeline.ts';
import { epochOrder } from './rng.ts';

export interface LoaderOptions {
  /** Samples per batch. */
  readonly batch: number;
  /** Square crop size (official 480). */
  readonly crop: number;
  /** base_size for the random rescale (official 520; default crop·13/12, the official ratio). */
  readonly base?: number;
  /** Default 0. */
  readonly seed?: number;
  /** The official training augmentation (default true); false: the deterministic validation transform. */
  readonly augment?: boolean;
  /** Worker threads (default min(4, cpus)); 0 runs everything in the calling thread. */
  readonly workers?: number;
  /** Shuffle each epoch with (seed, epoch) (default true). */
  readonly shuffle?: boolean;
  /** Drop the last incomplete batch (default true, as the official training). */
  readonly dropLast?: boolean;
  /** Replace a sample that fails to load by the next good one and record it in `skipped` (default false). */
  readonly skipBad?: boolean;
  /** Batches prepared ahead of the consumer (default max(2, workers)). */
  readonly prefetch?: number;
}

export interface Batch {
  readonly epoch: number;
  readonly iteration: number;
  /** [N, 3, crop, crop], normalised (ImageNet mean/std). */
  readonly image: Float32Array;
  /** [N, crop, crop], class ids as floats, −1 = ignore. */
  readonly labels: Float32Array;
  /** Dataset index of each sample (after any replacement of a bad one). */
  readonly indices: number[];
  readonly size: number;
}

export interface LoaderStats {
  readonly batches: number;
  readonly samples: number;
  /** Time the consumer spent waiting for a batch (ms); ~0 when the workers keep up. */
  readonly waitMs: number;
  /** Wall time since the first `batches()` call (ms). */
  readonly elapsedMs: number;
  /** Samples delivered per second of wall time. */
  readonly samplesPerSecond: number;
  /** Samples per second the workers could produce (samples / (busy time / workers)). */
  readonly capacitySamplesPerSecond: number;
  /** Busy time summed over the workers: reading + decoding, transforming (ms). */
  readonly loadMs: number;
  readonly augmentMs: number;
}

class Cancelled extends Error {}

interface Pending {
  readonly task: Task;
  readonly generation: number;
  resolve(r: TaskResult): void;
  reject(e: Error): void;
}

interface Slot {
  readonly worker: Worker;
  current?: Pending;
}

/** Worker threads pulling tasks from one queue (the first idle worker takes the next task). */
class Pool {
  private readonly slots: Slot[] = [];
  private queue: Pending[] = [];
  private failure: Error | undefined;

  constructor(n: number, cfg: PipelineConfig) {
    for (let i = 0; i < n; i++) {
      const worker = new Worker(new URL('./worker-entry.mjs', import.meta.url), { workerData: cfg });
      const slot: Slot = { worker };
      worker.unref();
      worker.on(
        'message',
        (m: { result?: TaskResult; id?: number; dataError?: DataError; error?: Error }) => {
          const p = slot.current;
          slot.current = undefined;
          if (!p) return;
          if (m.result) p.resolve(m.result);
          else if (m.dataError) p.reject(DataError.fromJSON(m.dataError));
          else {
            const e = new Error(`data loader worker: ${m.error?.message}`);
            e.stack = m.error?.stack;
            p.reject(e);
          }
          this.pump();
        },
      );
      worker.on('error', (e) => this.fail(new Error(`data loader worker failed: ${e.message}`)));
      worker.on('exit', (code) => {
        if (code !== 0 && !this.closed) this.fail(new Error(`data loader worker exited with code ${code}`));
      });
      this.slots.push(slot);
    }
  }

  private closed = false;

  private fail(e: Error): void {
    this.failure ??= e;
    for (const s of this.slots) {
      s.current?.reject(e);
      s.current = undefined;
    }
    for (const p of this.queue) p.reject(e);
    this.queue = [];
  }

  run(task: Task, generation: number): Promise<TaskResult> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.queue.push({ task, generation, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    for (const s of this.slots) {
      if (this.queue.length === 0) break;
      if (s.current) continue;
      const p = this.queue.shift()!;
      s.current = p;
      s.worker.postMessage(p.task);
    }
    // Keep the process alive only while work is in flight.
    for (const s of this.slots) {
      if (s.current) s.worker.ref();
      else s.worker.unref();
    }
  }

  /** Drops the queued (not yet started) tasks of a generation. */
  cancel(generation: number): void {
    const keep: Pending[] = [];
    for (const p of this.queue)
      if (p.generation === generation) p.reject(new Cancelled('cancelled'));
      else keep.push(p);
    this.queue = keep;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.fail(new Error('the data loader was closed'));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}

export class Loader {
  readonly batch: number;
  readonly crop: number;
  readonly base: number;
  readonly seed: number;
  readonly augment: boolean;
  readonly workers: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  readonly skipBad: boolean;
  readonly prefetch: number;
  /** Iterations (batches) per epoch. */
  readonly itersPerEpoch: number;
  /** Every sample skipped for bad data (with `skipBad`), in the order of the batches delivered. */
  readonly skipped: SkipRecord[] = [];

  private readonly cfg: PipelineConfig;
  private pool: Pool | undefined;
  private nextId = 0;
  private generation = 0;
  private closed = false;
  private startedAt: number | undefined;
  private counters = { batches: 0, samples: 0, waitMs: 0, loadMs: 0, augmentMs: 0 };

  constructor(
    readonly dataset: Dataset,
    opts: LoaderOptions,
  ) {
    const int = (name: string, v: number, min: number) => {
      if (!Number.isInteger(v) || v < min)
        throw new RangeError(`Loader: ${name} must be an integer ≥ ${min}, got ${v}`);
      return v;
    };
    this.batch = int('batch', opts.batch, 1);
    this.crop = int('crop', opts.crop, 1);
    this.base = int('base', opts.base ?? Math.round((opts.crop * 13) / 12), 1);
    this.seed = int('seed', opts.seed ?? 0, 0);
    this.augment = opts.augment ?? true;
    this.workers = int('workers', opts.workers ?? Math.min(4, availableParallelism()), 0);
    this.shuffle = opts.shuffle ?? true;
    this.dropLast = opts.dropLast ?? true;
    this.skipBad = opts.skipBad ?? false;
    this.prefetch = this.workers === 0 ? 1 : int('prefetch', opts.prefetch ?? Math.max(2, this.workers), 1);
    const n = dataset.samples.length;
    if (n === 0)
      throw new DataError(
        `${dataset.root}: the ${dataset.split} split has no samples`,
        dataset.root,
        'empty-split',
      );
    this.itersPerEpoch = this.dropLast ? Math.floor(n / this.batch) : Math.ceil(n / this.batch);
    if (this.itersPerEpoch === 0)
      throw new DataError(
        `${dataset.root}: the ${dataset.split} split has ${n} samples, fewer than one batch of ${this.batch} ` +
          `(lower the batch size or pass dropLast: false)`,
        dataset.root,
        'empty-split',
      );
    this.cfg = {
      samples: dataset.samples,
      classes: dataset.classes,
      mapping: dataset.mapping,
      mode: this.augment ? 'train' : 'val',
      base: this.base,
      crop: this.crop,
      seed: this.seed,
      skipBad: this.skipBad,
    };
  }

  /** The dataset indices of an epoch in order (a seeded shuffle of (seed, epoch) unless `shuffle: false`). */
  order(epoch: number): number[] {
    return epochOrder(this.dataset.samples.length, this.seed, epoch, this.shuffle);
  }

  private runOne(task: Task, generation: number): Promise<TaskResult> {
    if (this.workers === 0) {
      try {
        return Promise.resolve(runTask(this.cfg, task));
      } catch (e) {
        return Promise.reject(e);
      }
    }
    this.pool ??= new Pool(this.workers, this.cfg);
    return this.pool.run(task, generation);
  }

  private async makeBatch(
    epoch: number,
    iteration: number,
    order: number[],
    generation: number,
  ): Promise<Batch> {
    const from = iteration * this.batch;
    const to = Math.min(from + this.batch, order.length);
    const tasks: Promise<TaskResult>[] = [];
    for (let p = from; p < to; p++)
      tasks.push(this.runOne({ id: this.nextId++, epoch, position: p, index: order[p]! }, generation));
    const settled = await Promise.allSettled(tasks);
    const bad = settled.find((s) => s.status === 'rejected');
    if (bad) throw (bad as PromiseRejectedResult).reason;
    const results = settled.map((s) => (s as PromiseFulfilledResult<TaskResult>).value);
    const size = results.length;
    const plane = this.crop * this.crop;
    const image = new Float32Array(size * 3 * plane);
    const labels = new Float32Array(size * plane);
    results.forEach((r, k) => {
      image.set(r.image, k * 3 * plane);
      labels.set(r.label, k * plane);
    });
    return {
      epoch,
      iteration,
      image,
      labels,
      indices: results.map((r) => r.index),
      size,
      results,
    } as Batch & {
      results: TaskResult[];
    };
  }

  /**
   * The batches of an epoch from `startIteration` on (to resume a run mid-epoch). Batches are prepared
   * `prefetch` ahead while the consumer works; leaving the loop early cancels the rest. A sample that fails to
   * load throws its DataError here (naming the file), unless `skipBad`.
   */
  async *batches(epoch: number, startIteration = 0): AsyncGenerator<Batch, void, undefined> {
    if (this.closed) throw new Error('Loader: closed');
    if (!Number.isInteger(epoch) || epoch < 0) throw new RangeError(`Loader: bad epoch ${epoch}`);
    if (!Number.isInteger(startIteration) || startIteration < 0 || startIteration > this.itersPerEpoch)
      throw new RangeError(
        `Loader: startIteration must be in 0..${this.itersPerEpoch}, got ${startIteration}`,
      );
    this.startedAt ??= performance.now();
    const generation = ++this.generation;
    const order = this.order(epoch);
    const ahead: Promise<Batch>[] = [];
    let next = startIteration;
    const fill = () => {
      while (next < this.itersPerEpoch && ahead.length < this.prefetch) {
        const p = this.makeBatch(epoch, next++, order, generation);
        p.catch(() => {}); // awaited below; a batch prefetched and then abandoned must not be an unhandled rejection
        ahead.push(p);
      }
    };
    try {
      for (let it = startIteration; it < this.itersPerEpoch; it++) {
        // With workers: 0 the batch is computed here, in the consumer's time, and counts as waiting.
        const t = performance.now();
        fill();
        const b = (await ahead.shift()!) as Batch & { results?: TaskResult[] };
        this.counters.waitMs += performance.now() - t;
        if (this.workers > 0) fill();
        const results = b.results!;
        delete b.results;
        for (const r of results) {
          this.skipped.push(...r.skipped);
          this.counters.loadMs += r.loadMs;
          this.counters.augmentMs += r.augmentMs;
        }
        this.counters.batches++;
        this.counters.samples += b.size;
        yield b;
      }
    } finally {
      this.pool?.cancel(generation);
    }
  }

  stats(): LoaderStats {
    const c = this.counters;
    const elapsedMs = this.startedAt === undefined ? 0 : performance.now() - this.startedAt;
    const busy = c.loadMs + c.augmentMs;
    return {
      batches: c.batches,
      samples: c.samples,
      waitMs: c.waitMs,
      elapsedMs,
      samplesPerSecond: elapsedMs > 0 ? (c.samples * 1000) / elapsedMs : 0,
      capacitySamplesPerSecond: busy > 0 ? (c.samples * 1000 * Math.max(1, this.workers)) / busy : 0,
      loadMs: c.loadMs,
      augmentMs: c.augmentMs,
    };
  }

  /** Terminates the worker threads. */
  async close(): Promise<void> {
    this.closed = true;
    const p = this.pool;
    this.pool = undefined;
    await p?.close();
  }
}
