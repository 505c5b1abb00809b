/**
 * Device acquisition, one code path for every WebGPU implementation: the platform module gives a
 * `GPU` (Dawn's in Node, `navigator.gpu` in a browser), and this module opens the adapter and a
 * device with the adapter's real limits and the features ditto uses; everything else receives a
 * GpuContext.
 *
 * The platform module is runtime/platform/node.ts (dawn.node, its keep-alive and its poll shim;
 * docs/runtime.md); the browser bundle (playground/build.ts) resolves that import to
 * runtime/platform/browser.ts, which has the same exports. Nothing Node-only is here.
 */
// Declarations of this module mention GPUDevice and friends: keep the reference in the emitted .d.ts.
/// <reference types="@webgpu/types" preserve="true" />
import { DittoError } from '../core/errors.ts';
import { recordUncapturedErrors } from './gpu/errors.ts';
import { platformGpu, platformBackend, waitForGpu } from './platform/node.ts';
import type { ToggleSet } from './dawnToggles.ts';

export type { AdapterReport } from '../core/adapter.ts';
import type { AdapterReport, SubgroupMatrixConfig } from '../core/adapter.ts';

export interface GpuContext {
  readonly device: GPUDevice;
  readonly adapter: GPUAdapter;
  readonly report: AdapterReport;
  readonly hasF16: boolean;
  readonly hasSubgroups: boolean;
  readonly hasTimestamps: boolean;
  /** The Dawn toggles this device was opened with (ditto's automatic ones and the user's; none in a browser). */
  readonly toggles: ToggleSet;
}

export interface DeviceOptions {
  /** Dawn backend: vulkan, metal, d3d12, d3d11, opengl, opengles, null. Default: Dawn's choice. */
  backend?: string;
  /** WebGPU feature level: 'compatibility' opens OpenGL ES-class adapters (a browser's ANGLE path). */
  featureLevel?: 'core' | 'compatibility';
  /**
   * Dawn toggles: `NAME` or `NAME=on` turns one on, `NAME=off` turns it off (also one that ditto
   * sets by itself, such as vulkan_enable_f16_on_nvidia). Unknown names are an E_USAGE error.
   */
  toggles?: readonly string[];
}

/** Limits that ditto reports and requests at the adapter's real values rather than the defaults. */
export const LIMITS_THAT_MATTER = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
  'maxBindGroups',
  'maxUniformBufferBindingSize',
] as const;

const WANTED_FEATURES = ['shader-f16', 'subgroups', 'timestamp-query', 'chromium-experimental-subgroup-matrix'] as const;
const KNOWN_BACKENDS = ['vulkan', 'metal', 'd3d12', 'd3d11', 'opengl', 'opengles', 'null', 'webgpu'];

export { NO_ADAPTER_HELP, dawnVersion } from './platform/node.ts';

function adapterBackend(adapter: GPUAdapter, requested: string | undefined): string {
  if (requested) return requested;
  const info = adapter.info as GPUAdapterInfo & { backendType?: string };
  if (info.backendType) return String(info.backendType);
  return platformBackend();
}

function subgroupMatrixConfigsOf(list: Iterable<SubgroupMatrixConfig> | undefined): { subgroupMatrixConfigs?: SubgroupMatrixConfig[] } {
  if (!list) return {};
  const configs = [...list].map((m) => ({ componentType: String(m.componentType), resultComponentType: String(m.resultComponentType), M: Number(m.M), N: Number(m.N), K: Number(m.K) }));
  return configs.length ? { subgroupMatrixConfigs: configs } : {};
}

export function describeAdapter(adapter: GPUAdapter, backend: string): AdapterReport {
  const info = adapter.info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number; isFallbackAdapter?: boolean; subgroupMatrixConfigs?: Iterable<SubgroupMatrixConfig> };
  const limits: Record<string, number> = {};
  for (const k of LIMITS_THAT_MATTER) limits[k] = Number((adapter.limits as unknown as Record<string, number>)[k]);
  const description = info.description ?? '';
  const name = description || info.device || info.vendor || 'unknown adapter';
  const isFallback = Boolean(info.isFallbackAdapter);
  const text = `${description} ${info.architecture ?? ''} ${info.vendor ?? ''}`.toLowerCase();
  return {
    name,
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    description,
    backend,
    isFallback,
    isSoftware: isFallback || /llvmpipe|lavapipe|swiftshader|software/.test(text),
    features: [...adapter.features].map(String).sort(),
    subgroupMinSize: info.subgroupMinSize ?? 0,
    subgroupMaxSize: info.subgroupMaxSize ?? 0,
    ...subgroupMatrixConfigsOf(info.subgroupMatrixConfigs),
    limits,
  };
}

/** Opens an adapter and a device with the adapter's real limits and the features ditto uses. */
export async function createGpu(options: DeviceOptions = {}): Promise<GpuContext> {
  if (options.backend !== undefined && !KNOWN_BACKENDS.includes(options.backend)) {
    throw new DittoError('E_USAGE', `unknown backend '${options.backend}'; use one of ${KNOWN_BACKENDS.join(', ')}`);
  }
  const { gpu, noAdapterHelp, keep, toggles } = platformGpu(options);
  let adapter: GPUAdapter | null = null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance', ...(options.featureLevel ? { featureLevel: options.featureLevel } : {}) } as GPURequestAdapterOptions);
  } catch {
    adapter = null;
  }
  if (!adapter) throw new DittoError('E_NO_ADAPTER', noAdapterHelp);
  keep(adapter);
  const backend = adapterBackend(adapter, options.backend);
  const report = describeAdapter(adapter, backend);
  const requiredFeatures = WANTED_FEATURES.filter((f) => adapter!.features.has(f)) as GPUFeatureName[];
  const requiredLimits: Record<string, number> = {};
  for (const k of LIMITS_THAT_MATTER) requiredLimits[k] = report.limits[k]!;
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
  } catch (e) {
    throw new DittoError('E_GPU', `the adapter '${report.name}' refused to create a device: ${(e as Error).message}`);
  }
  keep(device);
  recordUncapturedErrors(device);
  return {
    device,
    adapter,
    report,
    hasF16: device.features.has('shader-f16'),
    hasSubgroups: device.features.has('subgroups'),
    hasTimestamps: device.features.has('timestamp-query'),
    toggles,
  };
}

/**
 * Awaits a GPU promise. In Node this keeps dawn.node's setImmediate poll from spinning a core that
 * a software adapter needs (runtime/platform/node.ts); in a browser it is a plain await.
 */
export function awaitGpu<T>(promise: Promise<T>): Promise<T> {
  return waitForGpu(promise);
}
