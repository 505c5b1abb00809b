/**
 * What every kernel family hands to the plan compiler and the runtime: WGSL text plus everything
 * needed to bind and dispatch it, and the adapter capabilities that selectors decide on.
 *
 * Conventions shared by all families:
 * - bindings live in group 0, numbered in the order of `bindings`;
 * - storage buffers are flat arrays of scalars (`array<f32>`, `array<f16>`, `array<i32>`), so any
 *   tensor view (offset, row stride) can be bound without a copy;
 * - problem shapes are WGSL `const`s (one pipeline per shape: stable text keeps Mesa's disk
 *   shader cache warm, and const shapes are ≈25% faster on lavapipe than uniforms).
 */
import type { AdapterReport, SubgroupMatrixConfig } from '../../core/adapter.ts';

export type { SubgroupMatrixConfig } from '../../core/adapter.ts';

/** Element type of a storage binding as WGSL sees it. f16 needs the adapter's `shader-f16`. */
export type ElemType = 'f32' | 'f16' | 'i32';

/** Storage precision of a tensor; arithmetic is always f32. */
export type StorageDType = 'f32' | 'f16';

export type BindingAccess = 'read' | 'read_write' | 'uniform';

export interface KernelBinding {
  name: string;
  access: BindingAccess;
  /** Scalar type of the buffer's elements (uniform buffers are always f32 vec4s). */
  elemType: ElemType;
  /** Elements the kernel may touch (uniforms: f32 values before padding to vec4). */
  elements: number;
}

export interface EmittedKernel {
  /** Family name, e.g. `matmul`. */
  family: string;
  /** Cache key of the config: equal configs give equal keys (and identical WGSL). */
  key: string;
  wgsl: string;
  entryPoint: string;
  workgroupSize: [number, number, number];
  bindings: KernelBinding[];
  dispatch: [number, number, number];
}

/** The adapter facts kernel selection depends on. Build with `capsFromReport`. */
export interface AdapterCaps {
  /** CPU implementation (lavapipe/llvmpipe, SwiftShader): loads cost more than FMAs. */
  isSoftware: boolean;
  hasF16: boolean;
  hasSubgroups: boolean;
  /** Smallest subgroup the adapter may use (0 when unknown). */
  subgroupMinSize: number;
  /** Largest subgroup the adapter may use (0 when unknown). */
  subgroupMaxSize: number;
  /** maxComputeWorkgroupStorageSize, bytes. */
  maxWorkgroupStorage: number;
  /** maxComputeInvocationsPerWorkgroup. */
  maxInvocations: number;
  /** maxStorageBufferBindingSize, bytes. */
  maxStorageBufferBindingSize: number;
  /** maxComputeWorkgroupsPerDimension. */
  maxWorkgroupsPerDimension: number;
  /** Subgroup-matrix shapes, when the device has `chromium-experimental-subgroup-matrix` (absent: none). */
  subgroupMatrixConfigs?: SubgroupMatrixConfig[];
}

/** The limits every WebGPU adapter guarantees: a safe default for planning without a device. */
export const DEFAULT_CAPS: AdapterCaps = {
  isSoftware: false,
  hasF16: false,
  hasSubgroups: false,
  subgroupMinSize: 0,
  subgroupMaxSize: 0,
  maxWorkgroupStorage: 16384,
  maxInvocations: 256,
  maxStorageBufferBindingSize: 134217728,
  maxWorkgroupsPerDimension: 65535,
};

/** Caps of lavapipe as measured on the project's CI machine (Mesa 25, 8-wide subgroups). */
export const LAVAPIPE_CAPS: AdapterCaps = {
  isSoftware: true,
  hasF16: true,
  hasSubgroups: true,
  subgroupMinSize: 8,
  subgroupMaxSize: 8,
  maxWorkgroupStorage: 32768,
  maxInvocations: 1024,
  maxStorageBufferBindingSize: 134217728,
  maxWorkgroupsPerDimension: 65535,
};

export function capsFromReport(report: AdapterReport): AdapterCaps {
  const lim = (k: string, d: number): number => {
    const v = report.limits[k];
    return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : d;
  };
  return {
    isSoftware: report.isSoftware,
    hasF16: report.features.includes('shader-f16'),
    hasSubgroups: report.features.includes('subgroups'),
    subgroupMinSize: report.subgroupMinSize,
    subgroupMaxSize: report.subgroupMaxSize,
    maxWorkgroupStorage: lim('maxComputeWorkgroupStorageSize', DEFAULT_CAPS.maxWorkgroupStorage),
    maxInvocations: lim('maxComputeInvocationsPerWorkgroup', DEFAULT_CAPS.maxInvocations),
    maxStorageBufferBindingSize: lim('maxStorageBufferBindingSize', DEFAULT_CAPS.maxStorageBufferBindingSize),
    maxWorkgroupsPerDimension: lim('maxComputeWorkgroupsPerDimension', DEFAULT_CAPS.maxWorkgroupsPerDimension),
    ...(report.features.includes('chromium-experimental-subgroup-matrix') && report.subgroupMatrixConfigs?.length
      ? { subgroupMatrixConfigs: report.subgroupMatrixConfigs }
      : {}),
  };
}
