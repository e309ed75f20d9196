// The device limits code generation reads: any GPUSupportedLimits-like record; missing fields take WebGPU's
// defaults (what every adapter guarantees), so a Program compiled without a device runs anywhere.
import type { KernelOptions } from '../ops/op.ts';

export type DeviceLimits = Readonly<Record<string, number>>;

export const DEFAULT_LIMITS = {
  maxComputeWorkgroupsPerDimension: 65535,
  maxStorageBuffersPerShaderStage: 8,
  maxComputeInvocationsPerWorkgroup: 256,
  maxComputeWorkgroupStorageSize: 16384,
  maxStorageBufferBindingSize: 134217728,
  maxBufferSize: 268435456,
  minStorageBufferOffsetAlignment: 256,
} as const;

export function limit(limits: DeviceLimits, k: keyof typeof DEFAULT_LIMITS): number {
  return limits[k] ?? DEFAULT_LIMITS[k];
}

/** The largest tensor one binding can hold. */
export const maxBinding = (limits: DeviceLimits): number =>
  Math.min(limit(limits, 'maxStorageBufferBindingSize'), limits.maxBufferSize ?? Infinity);

/**
 * A kernel choice from a tuning record. Keys are `<op>.<name>` (`conv2d.tm`) for every kernel of that op, or
 * `<op>.<name>@<problem>` for one problem, where the problem is the emitter's key of its shapes and attributes
 * (`conv2d:1x64x64x64-64k3s1p1d1g1`, see conv.ts `convProblem`): the per-problem key wins, then the global one,
 * then (undefined) the emitter's default. runtime/tune.ts writes per-problem keys; runtime/tuning.ts global ones.
 */
export function tunedValue(
  tuning: Readonly<Record<string, number>> | undefined,
  key: string,
  problem?: string,
): number | undefined {
  if (!tuning) return undefined;
  return (problem !== undefined ? tuning[`${key}@${problem}`] : undefined) ?? tuning[key];
}

export function kernelOptions(
  limits: DeviceLimits,
  tuning?: Readonly<Record<string, number>>,
): KernelOptions {
  return {
    maxWorkgroupsPerDimension: limit(limits, 'maxComputeWorkgroupsPerDimension'),
    maxStorageBuffersPerShaderStage: limit(limits, 'maxStorageBuffersPerShaderStage'),
    maxInvocationsPerWorkgroup: limit(limits, 'maxComputeInvocationsPerWorkgroup'),
    maxWorkgroupStorageSize: limit(limits, 'maxComputeWorkgroupStorageSize'),
    maxBindingBytes: maxBinding(limits),
    ...(tuning ? { tuning } : {}),
  };
}
