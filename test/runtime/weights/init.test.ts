import { describe, expect, it } from 'vitest';
import { initTensor, makeRng, seedFor, type ParamInit } from '../../../runtime/weights/init.ts';

function stats(a: Float32Array): { mean: number; std: number; min: number; max: number } {
  let s = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const v of a) {
    s += v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const mean = s / a.length;
  let q = 0;
  for (const v of a) q += (v - mean) ** 2;
  return { mean, std: Math.sqrt(q / a.length), min, max };
}

describe('seeded initialisation', () => {
  it('makeRng is deterministic per seed and differs across seeds', () => {
    const a = makeRng(42);
    const b = makeRng(42);
    const c = makeRng(43);
    const sa = Array.from({ length: 8 }, () => a.nextU32());
    expect(Array.from({ length: 8 }, () => b.nextU32())).toEqual(sa);
    expect(Array.from({ length: 8 }, () => c.nextU32())).not.toEqual(sa);
    // Pinned values guard against accidental algorithm changes (seeded runs must stay reproducible).
    expect(sa.slice(0, 2)).toEqual([2837322924, 544945897]);
    expect(seedFor(0, 'conv.weight')).toBe(1964400674);
    for (const v of sa) expect(Number.isInteger(v) && v >= 0 && v < 2 ** 32).toBe(true);
  });

  it('nextFloat is in [0,1) and uniform-ish', () => {
    const r = makeRng(1);
    let s = 0;
    for (let i = 0; i < 100_000; i++) {
      const x = r.nextFloat();
      expect(x >= 0 && x < 1).toBe(true);
      s += x;
    }
    expect(Math.abs(s / 100_000 - 0.5)).toBeLessThan(0.005);
  });

  it('seedFor depends on global seed and name only', () => {
    expect(seedFor(0, 'conv.weight')).toBe(seedFor(0, 'conv.weight'));
    expect(seedFor(0, 'conv.weight')).not.toBe(seedFor(1, 'conv.weight'));
    expect(seedFor(0, 'conv.weight')).not.toBe(seedFor(0, 'conv.bias'));
    expect(seedFor(0, 'layer1.0.conv1.weight')).not.toBe(seedFor(0, 'layer1.0.conv2.weight'));
    const s = seedFor(123, 'héllo');
    expect(Number.isInteger(s) && s >= 0 && s < 2 ** 32).toBe(true);
  });

  it('one parameter’s values do not depend on the order of others', () => {
    const init: ParamInit = { kind: 'kaiming_normal_fan_out' };
    const a1 = initTensor([8, 4, 3, 3], init, makeRng(seedFor(7, 'a')));
    initTensor([16, 8, 1, 1], init, makeRng(seedFor(7, 'b')));
    const a2 = initTensor([8, 4, 3, 3], init, makeRng(seedFor(7, 'a')));
    expect(a2).toEqual(a1);
    expect(initTensor([8, 4, 3, 3], init, makeRng(seedFor(8, 'a')))).not.toEqual(a1);
  });

  it('kaiming_normal_fan_out: N(0, sqrt(2/(k·k·Cout)))', () => {
    const shape = [64, 128, 3, 3]; // 73,728 values
    const t = initTensor(shape, { kind: 'kaiming_normal_fan_out' }, makeRng(seedFor(0, 'w')));
    expect(t.length).toBe(64 * 128 * 9);
    const want = Math.sqrt(2 / (3 * 3 * 64));
    const { mean, std } = stats(t);
    expect(Math.abs(mean)).toBeLessThan(want * 0.02);
    expect(Math.abs(std / want - 1)).toBeLessThan(0.01);
    // roughly normal: ~68.3% within one std
    let inside = 0;
    for (const v of t) if (Math.abs(v) < want) inside++;
    expect(Math.abs(inside / t.length - 0.6827)).toBeLessThan(0.01);
  });

  it('torch_default_conv / _linear: U(±1/sqrt(fanIn))', () => {
    for (const init of [
      { kind: 'torch_default_conv', fanIn: 3 * 3 * 32 },
      { kind: 'torch_default_linear', fanIn: 512 },
    ] as const) {
      const t = initTensor([256, 400], init, makeRng(seedFor(3, init.kind)));
      const b = 1 / Math.sqrt(init.fanIn);
      const { mean, std, min, max } = stats(t);
      expect(min).toBeGreaterThanOrEqual(-b);
      expect(max).toBeLessThanOrEqual(b);
      expect(min).toBeLessThan(-0.99 * b);
      expect(max).toBeGreaterThan(0.99 * b);
      expect(Math.abs(mean)).toBeLessThan(b * 0.01);
      expect(Math.abs(std / (b / Math.sqrt(3)) - 1)).toBeLessThan(0.01);
    }
  });

  it('ones / zeros / uniform', () => {
    expect(Array.from(initTensor([3], { kind: 'ones' }, makeRng(0)))).toEqual([1, 1, 1]);
    expect(Array.from(initTensor([2, 2], { kind: 'zeros' }, makeRng(0)))).toEqual([0, 0, 0, 0]);
    const u = initTensor([50_000], { kind: 'uniform', low: 2, high: 5 }, makeRng(9));
    const { mean, min, max } = stats(u);
    expect(min).toBeGreaterThanOrEqual(2);
    expect(max).toBeLessThanOrEqual(5);
    expect(Math.abs(mean - 3.5)).toBeLessThan(0.02);
    expect(initTensor([], { kind: 'ones' }, makeRng(0)).length).toBe(1);
  });

  it('rejects invalid arguments', () => {
    expect(() => initTensor([4], { kind: 'kaiming_normal_fan_out' }, makeRng(0))).toThrow(/rank/);
    expect(() => initTensor([4], { kind: 'torch_default_conv', fanIn: 0 }, makeRng(0))).toThrow(/fanIn/);
    expect(() => initTensor([-1], { kind: 'ones' }, makeRng(0))).toThrow(/shape/);
  });
});
