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

export function kernelOptions(
  limits: DeviceLimits,
  tuning?: Readonly<Record<string, number>>,
): KernelOptions {
  return {
    maxWorkgroupsPerDimension: limit(limits, 'maxComputeWorkgroupsPerDimension'),
    maxStorageBuffersPerShaderStage: limit(limits, 'maxStorageBuffersPerShaderStage'),
    maxInvocationsPerWorkgroup: limit(limits, 'maxComputeInvocationsPerWorkgroup'),
    maxWorkgroupStorageSize: limit(limits, 'maxComputeWorkgroupStorageSize'),
    ...(tuning ? { tuning } : {}),
  };
}
