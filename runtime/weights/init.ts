// Seeded, deterministic parameter initialisation (for running a model without trained weights, tests and
// benchmarks). Each parameter gets its own PRNG stream, seeded from (global seed, parameter name), so the
// values of one parameter never depend on which other parameters exist or in which order they are built.
//
// PRNG: xoshiro128** (state seeded by splitmix32); normals by Box–Muller on 53-bit uniforms.
// The distributions follow PyTorch's, but the random streams are of course not PyTorch's.

export type ParamInit =
  /** N(0, sqrt(2 / fan_out)), fan_out = shape[0] × prod(shape[2:]) — torch.nn.init.kaiming_normal_(mode='fan_out', nonlinearity='relu'). */
  | { kind: 'kaiming_normal_fan_out' }
  | { kind: 'ones' }
  | { kind: 'zeros' }
  | { kind: 'uniform'; low: number; high: number }
  /** PyTorch's default Conv weight/bias init: U(±1/sqrt(fanIn)), fanIn = Cin/groups × k × k. */
  | { kind: 'torch_default_conv'; fanIn: number }
  /** PyTorch's default Linear weight/bias init: U(±1/sqrt(fanIn)). */
  | { kind: 'torch_default_linear'; fanIn: number };

export interface Rng {
  /** Uniform 32-bit unsigned integer. */
  nextU32(): number;
  /** Uniform in [0, 1), 53 bits of precision. */
  nextFloat(): number;
  /** Standard normal N(0, 1). */
  nextNormal(): number;
}

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** A deterministic xoshiro128** generator for a 32-bit seed (other numbers are reduced mod 2^32). */
export function makeRng(seed: number): Rng {
  const sm = splitmix32(Math.trunc(seed) >>> 0);
  let a = sm();
  let b = sm();
  let c = sm();
  let d = sm();
  if ((a | b | c | d) === 0) a = 1;
  let spare: number | null = null;
  const nextU32 = (): number => {
    const result = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
    const t = b << 9;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    return result;
  };
  const nextFloat = (): number => ((nextU32() >>> 5) * 67108864 + (nextU32() >>> 6)) / 9007199254740992;
  const nextNormal = (): number => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    const u1 = 1 - nextFloat(); // (0, 1]
    const u2 = nextFloat();
    const r = Math.sqrt(-2 * Math.log(u1));
    spare = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  };
  return { nextU32, nextFloat, nextNormal };
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/**
 * Per-parameter seed: FNV-1a (32-bit) over the global seed's 4 bytes and the UTF-8 name, then a murmur3
 * finaliser. Stable across platforms and runs.
 */
export function seedFor(globalSeed: number, paramName: string): number {
  let h = 0x811c9dc5;
  const g = Math.trunc(globalSeed) >>> 0;
  for (let i = 0; i < 4; i++) {
    h ^= (g >>> (8 * i)) & 0xff;
    h = Math.imul(h, 0x01000193);
  }
  for (const byte of new TextEncoder().encode(paramName)) {
    h ^= byte;
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Fills a new Float32Array of `shape` according to `init`. */
export function initTensor(shape: readonly number[], init: ParamInit, rng: Rng): Float32Array {
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0)
      throw new RangeError(`initTensor: invalid shape [${shape.join(', ')}]`);
    n *= d;
  }
  const out = new Float32Array(n);
  switch (init.kind) {
    case 'zeros':
      return out;
    case 'ones':
      return out.fill(1);
    case 'uniform':
      return fillUniform(out, init.low, init.high, rng);
    case 'torch_default_conv':
    case 'torch_default_linear': {
      if (!(init.fanIn > 0))
        throw new RangeError(`initTensor: ${init.kind} needs fanIn > 0, got ${init.fanIn}`);
      const bound = 1 / Math.sqrt(init.fanIn);
      return fillUniform(out, -bound, bound, rng);
    }
    case 'kaiming_normal_fan_out': {
      if (shape.length < 2)
        throw new RangeError(
          `initTensor: kaiming_normal_fan_out needs a weight of rank >= 2, got [${shape.join(', ')}]`,
        );
      let fanOut = shape[0];
      for (let i = 2; i < shape.length; i++) fanOut *= shape[i];
      if (fanOut === 0) return out;
      const std = Math.sqrt(2 / fanOut);
      for (let i = 0; i < n; i++) out[i] = std * rng.nextNormal();
      return out;
    }
  }
}

function fillUniform(out: Float32Array, low: number, high: number, rng: Rng): Float32Array {
  const span = high - low;
  for (let i = 0; i < out.length; i++) out[i] = low + span * rng.nextFloat();
  return out;
}
