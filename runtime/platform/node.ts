/**
 * The Node side of device acquisition: Dawn (npm package `webgpu`, dawn.node). runtime/device.ts
 * imports it; a browser bundle (playground/build.ts) gets runtime/platform/browser.ts in its place,
 * so nothing here ends up in a web page.
 *
 * Two dawn.node pitfalls are handled here (see docs/runtime.md):
 * - the object returned by `create()` must stay referenced for the life of the process, or the
 *   process crashes when it is garbage-collected: we keep it in a module-level array;
 * - while a GPU promise is pending dawn.node re-arms a `setImmediate` poll, which spins a core that a
 *   software adapter needs: `waitForGpu` routes those polls through a 1 ms timer after a few fast ones.
 */
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { DittoError } from '../../core/errors.ts';
import { dawnFlags, resolveToggles } from '../dawnToggles.ts';
import type { PlatformGpu } from './types.ts';

const require = createRequire(import.meta.url);

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

/** Dawn's `GPU` object for the requested backend, with the WebGPU globals (GPUBufferUsage, …) installed. */
export function platformGpu(options: { backend?: string; toggles?: readonly string[] }): PlatformGpu {
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
  return { gpu, noAdapterHelp: NO_ADAPTER_HELP, keep: (o) => keepAlive.push(o), toggles };
}

/** dawn.node does not expose the backend; on Linux Dawn's default is Vulkan. */
export function platformBackend(): string {
  return process.platform === 'linux' ? 'vulkan' : process.platform === 'darwin' ? 'metal' : 'd3d12';
}

let depth = 0;

/**
 * Awaits a GPU promise without letting dawn.node's setImmediate poll spin a core: after a few
 * immediate polls (small dispatches stay fast) the re-arms go through a 1 ms timer.
 */
export async function waitForGpu<T>(promise: Promise<T>): Promise<T> {
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
