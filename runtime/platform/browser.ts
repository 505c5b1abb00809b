/**
 * The browser side of device acquisition: the page's `navigator.gpu`. The browser bundle
 * (playground/build.ts) puts this module in place of runtime/platform/node.ts; the exports match.
 */
import { DittoError } from '../../core/errors.ts';
import type { PlatformGpu } from './types.ts';

export const NO_ADAPTER_HELP = [
  'This browser offers WebGPU (navigator.gpu) but no adapter: the GPU is blocklisted, disabled, or absent.',
  'Chrome / Edge / Chromium: open chrome://gpu and check "WebGPU"; enable hardware acceleration in the settings;',
  '  on Linux start it with --enable-unsafe-webgpu (and --enable-features=Vulkan for a real GPU);',
  '  without a GPU, --enable-unsafe-webgpu also allows the software adapter (SwiftShader).',
  'Firefox: set dom.webgpu.enabled to true in about:config. Safari: Settings → Feature Flags → WebGPU.',
].join('\n');

export const NO_WEBGPU_HELP = [
  'This browser has no WebGPU (navigator.gpu is missing).',
  'Use a current Chrome, Edge or Chromium (WebGPU is on by default on Windows, macOS and ChromeOS; on Linux start',
  '  it with --enable-unsafe-webgpu), Firefox 141+ (or dom.webgpu.enabled in about:config), or Safari 26.',
  'WebGPU also needs a secure context: https://, or http://localhost / 127.0.0.1.',
].join('\n');

export function dawnVersion(): string {
  return 'none (browser WebGPU)';
}

export function platformGpu(_options: { backend?: string; toggles?: readonly string[] }): PlatformGpu {
  const gpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  if (!gpu) throw new DittoError('E_NO_ADAPTER', NO_WEBGPU_HELP);
  return { gpu, noAdapterHelp: NO_ADAPTER_HELP, keep: () => undefined, toggles: { enabled: [], disabled: [] } };
}

export function platformBackend(): string {
  return 'browser';
}

export function waitForGpu<T>(promise: Promise<T>): Promise<T> {
  return promise;
}
