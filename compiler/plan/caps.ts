/**
 * What the compiler needs to know about an adapter: the kernel families' caps (they pick configs
 * and bound binding sizes), plus the limits that bound fusion and the concatenated adaLN weight,
 * buffer offset alignment, and a rough roofline (peak FLOP/s, memory bandwidth, per-dispatch
 * overhead) for the predicted speed-up. Compile works without a GPU: the default profile
 * 'hardware' describes a generic discrete GPU; `ditto run` may pass the real adapter's limits.
 */
import type { AdapterCaps as KernelCaps } from '../kernels/types.ts';
import { LAVAPIPE_CAPS as LAVAPIPE_KERNEL_CAPS, capsFromReport } from '../kernels/types.ts';

export interface CompileCaps extends KernelCaps {
  /** A name for the profile ('hardware', 'lavapipe', or the adapter's description). */
  name: string;
  maxStorageBuffersPerShaderStage: number;
  minStorageBufferOffsetAlignment: number;
  /** Roofline of the cost model. */
  peakFlops: number;
  bandwidthBytesPerSec: number;
  dispatchOverheadSec: number;
}

/** A generic discrete GPU as Dawn exposes it when the device asks for the adapter's limits. */
export const HARDWARE_CAPS: CompileCaps = Object.freeze({
  name: 'hardware',
  isSoftware: false,
  hasF16: true,
  hasSubgroups: false,
  subgroupMinSize: 0,
  subgroupMaxSize: 0,
  maxWorkgroupStorage: 32768,
  maxInvocations: 1024,
  maxStorageBufferBindingSize: 2 ** 31 - 4,
  maxWorkgroupsPerDimension: 65535,
  maxStorageBuffersPerShaderStage: 8,
  minStorageBufferOffsetAlignment: 256,
  peakFlops: 20e12,
  bandwidthBytesPerSec: 800e9,
  dispatchOverheadSec: 4e-6,
});

/** Mesa's lavapipe (software Vulkan): WebGPU default binding limits, CPU-class throughput. */
export const LAVAPIPE_CAPS: CompileCaps = Object.freeze({
  ...LAVAPIPE_KERNEL_CAPS,
  name: 'lavapipe',
  maxStorageBuffersPerShaderStage: 8,
  minStorageBufferOffsetAlignment: 256,
  peakFlops: 50e9,
  bandwidthBytesPerSec: 10e9,
  dispatchOverheadSec: 30e-6,
});

export const CAPS_PROFILES: Readonly<Record<string, CompileCaps>> = { hardware: HARDWARE_CAPS, lavapipe: LAVAPIPE_CAPS };

/**
 * The profile for a real adapter: lavapipe's or the generic hardware one (by whether the adapter is
 * a CPU implementation), with the adapter's own limits and features.
 */
export function compileCapsFor(report: import('../../core/adapter.ts').AdapterReport): CompileCaps {
  const base = report.isSoftware ? LAVAPIPE_CAPS : HARDWARE_CAPS;
  const lim = (k: string, d: number) => (Number.isFinite(report.limits[k]) ? report.limits[k]! : d);
  return {
    ...base,
    ...capsFromReport(report),
    name: report.isSoftware ? 'lavapipe' : 'hardware',
    maxStorageBuffersPerShaderStage: lim('maxStorageBuffersPerShaderStage', base.maxStorageBuffersPerShaderStage),
  };
}
