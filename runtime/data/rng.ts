// Counter-based seeded randomness. Every stream is a pure function of its key (seed, purpose, epoch, index), so
// the augmentation of the p-th sample of epoch e depends only on (seed, e, p) — not on which worker draws it or
// when — and a resumed run sees exactly the same batches.

/** murmur3's 32-bit finaliser. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Hashes a list of non-negative integers (each taken modulo 2^53) to 32 bits. */
export function hash32(...words: number[]): number {
  let h = 0x9e3779b9;
  for (const w of words) {
    const lo = w >>> 0;
    const hi = Math.floor(w / 4294967296) >>> 0;
    h = fmix32(h ^ fmix32(lo + 0x632be5ab));
    h = fmix32(h ^ fmix32(hi + 0x85157af5));
  }
  return h;
}

/** A seeded generator (sfc32). `next()` ∈ [0, 1) with 32 random bits. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(...key: number[]) {
    this.a = hash32(1, ...key);
    this.b = hash32(2, ...key);
    this.c = hash32(3, ...key);
    this.d = 1;
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** A uniformly random 32-bit unsigned integer. */
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1) (like Python's random.random(), with 32 bits). */
  next(): number {
    return this.u32() / 4294967296;
  }

  /** A uniform integer in [lo, hi], both included (like Python's random.randint). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** A standard normal deviate (Box–Muller). */
  normal(): number {
    const u = 1 - this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
}

/** Streams used by the data side; part of the key so they never collide. */
export const STREAM = { shuffle: 1, sample: 2, synth: 3 } as const;

/** The randomness of the `position`-th sample of `epoch` (the training transform's draws). */
export function sampleRng(seed: number, epoch: number, position: number): Rng {
  return new Rng(STREAM.sample, seed, epoch, position);
}

/** The sample order of an epoch: a Fisher–Yates shuffle of 0..n−1 keyed by (seed, epoch). */
export function epochOrder(n: number, seed: number, epoch: number, shuffle = true): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  if (!shuffle) return order;
  const rng = new Rng(STREAM.shuffle, seed, epoch);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  return order;
}
