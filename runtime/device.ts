/**
 * Dawn device acquisition. The only module that talks to `webgpu` (dawn.node) directly for setup;
 * everything else receives a GpuContext.
 *
 * Two dawn.node pitfalls are handled here (see docs/runtime.md):
 * - the object returned by `create()` must stay referenced for the life of the process, or the
 *   process crashes when it is garbage-collected: we keep it in a module-level array;
 * - while a GPU promise is pending dawn.node re-arms a `setImmediate` poll, which spins a core that a
 *   software adapter needs: `awaitGpu` routes those polls through a 1 ms timer after a few fast ones.
 */
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { DittoError } from '../core/errors.ts';
import { dawnFlags, resolveToggles, type ToggleSet } from './dawnToggles.ts';

const require = createRequire(import.meta.url);

export interface AdapterReport {
  name: string;
  vendor: string;
  architecture: string;
  description: string;
  backend: string;
  isFallback: boolean;
  /** True for CPU implementations (lavapipe/llvmpipe, SwiftShader). Kernel selection uses it. */
  isSoftware: boolean;
  features: string[];
  subgroupMinSize: number;
  subgroupMaxSize: number;
  limits: Record<string, number>;
}

export interface GpuContext {
  readonly device: GPUDevice;
  readonly adapter: GPUAdapter;
  readonly report: AdapterReport;
  readonly hasF16: boolean;
  readonly hasSubgroups: boolean;
  readonly hasTimestamps: boolean;
  /** The Dawn toggles this device was opened with (ditto's automatic ones and the user's). */
  readonly toggles: ToggleSet;
}

export interface DeviceOptions {
  /** Dawn backend: vulkan, metal, d3d12, d3d11, opengl, opengles, null. Default: Dawn's choice. */
  backend?: string;
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

const WANTED_FEATURES = ['shader-f16', 'subgroups', 'timestamp-query'] as const;
const KNOWN_BACKENDS = ['vulkan', 'metal', 'd3d12', 'd3d11', 'opengl', 'opengles', 'null', 'webgpu'];

export const NO_ADAPTER_HELP = [
  'No WebGPU adapter was found (Dawn could not open any GPU).',
  'ditto needs a Vulkan driver. On a machine without a GPU, install the software GPU (Mesa lavapipe):',
  '  Debian 12: add the bookworm-backports suite, then',
  '    apt-get install -t bookworm-backports libvulkan1 mesa-vulkan-drivers',
  '  (bookworm\'s own Mesa 22 is rejected by Dawn; the backports Mesa 25 works)',
  '  and set XDG_RUNTIME_DIR to any writable directory, e.g. export XDG_RUNTIME_DIR=/tmp',
  'Any real GPU with a Vulkan driver works too. NVIDIA: the driver\'s Vulkan ICD lives in libGLX_nvidia.so.0,',
  '  which also needs the Vulkan loader and libglvnd (apt-get install libvulkan1 libglvnd0); docs/real-gpu.md.',
  'Check with: npx ditto info',
].join('\n');

/** Every `create()` result ever made: dawn.node crashes if one is collected. */
const keepAlive: unknown[] = [];
let globalsInstalled = false;

interface DawnModule {
  create: (flags: string[]) => GPU;
  globals: Record<string, unknown>;
}

function loadDawn(): DawnModule {
  try {
    return require('webgpu') as DawnModule;
  } catch (e) {
    throw new DittoError('E_NO_ADAPTER', `the Dawn module (npm package webgpu) failed to load: ${(e as Error).message}\n${NO_ADAPTER_HELP}`);
  }
}

export function dawnVersion(): string {
  try {
    return (require('webgpu/package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

async function adapterBackend(adapter: GPUAdapter, requested: string | undefined): Promise<string> {
  if (requested) return requested;
  const info = adapter.info as GPUAdapterInfo & { backendType?: string };
  if (info.backendType) return String(info.backendType);
  // dawn.node does not expose the backend; on Linux Dawn's default is Vulkan.
  return process.platform === 'linux' ? 'vulkan' : process.platform === 'darwin' ? 'metal' : 'd3d12';
}

export function describeAdapter(adapter: GPUAdapter, backend: string): AdapterReport {
  const info = adapter.info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number; isFallbackAdapter?: boolean };
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
    limits,
  };
}

/** Opens an adapter and a device with the adapter's real limits and the features ditto uses. */
export async function createGpu(options: DeviceOptions = {}): Promise<GpuContext> {
  if (options.backend !== undefined && !KNOWN_BACKENDS.includes(options.backend)) {
    throw new DittoError('E_USAGE', `unknown backend '${options.backend}'; use one of ${KNOWN_BACKENDS.join(', ')}`);
  }
  // The Vulkan loader wants XDG_RUNTIME_DIR; a shell without a session (CI, containers) lacks it.
  process.env.XDG_RUNTIME_DIR ??= tmpdir();
  const dawn = loadDawn();
  if (!globalsInstalled) {
    Object.assign(globalThis, dawn.globals);
    globalsInstalled = true;
  }
  const toggles = resolveToggles(options.toggles);
  const flags = [...(options.backend ? [`backend=${options.backend}`] : []), ...dawnFlags(toggles)];
  let gpu: GPU;
  try {
    gpu = dawn.create(flags);
  } catch (e) {
    throw new DittoError('E_NO_ADAPTER', `Dawn could not start: ${(e as Error).message}\n${NO_ADAPTER_HELP}`);
  }
  keepAlive.push(gpu);
  let adapter: GPUAdapter | null = null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch {
    adapter = null;
  }
  if (!adapter) throw new DittoError('E_NO_ADAPTER', NO_ADAPTER_HELP);
  keepAlive.push(adapter);
  const backend = await adapterBackend(adapter, options.backend);
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
  keepAlive.push(device);
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
 * Awaits a GPU promise without letting dawn.node's setImmediate poll spin a core: after a few
 * immediate polls (small dispatches stay fast) the re-arms go through a 1 ms timer.
 */
export async function awaitGpu<T>(promise: Promise<T>): Promise<T> {
  const original = globalThis.setImmediate;
  let fast = 8;
  const throttled = ((fn: (...a: unknown[]) => void, ...args: unknown[]) => {
    if (fast > 0) {
      fast--;
      return original(fn, ...args);
    }
    return setTimeout(fn, 1, ...args) as unknown as NodeJS.Immediate;
  }) as unknown as typeof setImmediate;
  depth++;
  globalThis.setImmediate = throttled;
  try {
    return await promise;
  } finally {
    depth--;
    if (depth === 0) globalThis.setImmediate = original;
  }
}
let depth = 0;
