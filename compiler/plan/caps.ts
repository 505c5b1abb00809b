/**
 * What the compiler needs to know about an adapter: binding limits (they bound fusion and the size
 * of the concatenated adaLN weight), `shader-f16`, and a rough roofline (peak FLOP/s, memory
 * bandwidth, per-dispatch overhead) for the predicted speed-up. Compile works without a GPU: the
 * default profile 'hardware' describes a generic discrete GPU; `ditto run` may pass the real
 * adapter's limits instead.
 */
export interface AdapterCaps {
  /** A name for the profile ('hardware', 'lavapipe', or the adapter's description). */
  name: string;
  shaderF16: boolean;
  subgroups: boolean;
  maxStorageBuffersPerShaderStage: number;
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  maxComputeWorkgroupsPerDimension: number;
  maxComputeInvocationsPerWorkgroup: number;
  maxComputeWorkgroupStorageSize: number;
  minStorageBufferOffsetAlignment: number;
  minUniformBufferOffsetAlignment: number;
  /** Roofline of the cost model. */
  peakFlops: number;
  bandwidthBytesPerSec: number;
  dispatchOverheadSec: number;
}

/** A generic discrete GPU as Dawn exposes it when the device asks for the adapter's limits. */
export const HARDWARE_CAPS: AdapterCaps = Object.freeze({
  name: 'hardware',
  shaderF16: true,
  subgroups: true,
  maxStorageBuffersPerShaderStage: 8,
  maxStorageBufferBindingSize: 2 ** 31 - 4,
  maxBufferSize: 2 ** 31 - 4,
  maxComputeWorkgroupsPerDimension: 65535,
  maxComputeInvocationsPerWorkgroup: 256,
  maxComputeWorkgroupStorageSize: 16384,
  minStorageBufferOffsetAlignment: 256,
  minUniformBufferOffsetAlignment: 256,
  peakFlops: 20e12,
  bandwidthBytesPerSec: 800e9,
  dispatchOverheadSec: 4e-6,
});

/** Mesa's lavapipe (software Vulkan): WebGPU default limits, CPU-class throughput. */
export const LAVAPIPE_CAPS: AdapterCaps = Object.freeze({
  name: 'lavapipe',
  shaderF16: false,
  subgroups: true,
  maxStorageBuffersPerShaderStage: 8,
  maxStorageBufferBindingSize: 134217728,
  maxBufferSize: 268435456,
  maxComputeWorkgroupsPerDimension: 65535,
  maxComputeInvocationsPerWorkgroup: 256,
  maxComputeWorkgroupStorageSize: 16384,
  minStorageBufferOffsetAlignment: 256,
  minUniformBufferOffsetAlignment: 256,
  peakFlops: 50e9,
  bandwidthBytesPerSec: 10e9,
  dispatchOverheadSec: 30e-6,
});

export const CAPS_PROFILES: Readonly<Record<string, AdapterCaps>> = { hardware: HARDWARE_CAPS, lavapipe: LAVAPIPE_CAPS };
