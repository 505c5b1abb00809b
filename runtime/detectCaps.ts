/**
 * `--caps auto`: compile for the adapter this machine has (lavapipe's kernels on a software adapter,
 * shared-memory tiles on a real GPU), or the generic hardware profile when there is no adapter —
 * compiling never needs a GPU.
 */
import { resolveToggles } from './dawnToggles.ts';
import { CAPS_PROFILES, compileCapsFor, type CompileCaps } from '../compiler/plan/caps.ts';
import { createGpu, type DeviceOptions } from './device.ts';

export async function detectCompileCaps(choice: string | undefined, device: DeviceOptions = {}): Promise<CompileCaps> {
  if (choice && choice !== 'auto') return CAPS_PROFILES[choice]!;
  // A bad --dawn-toggle is the user's error, not a missing adapter: check it before the fallback.
  if (device.toggles) resolveToggles(device.toggles);
  try {
    const gpu = await createGpu(device);
    const caps = compileCapsFor(gpu.report);
    gpu.device.destroy();
    return caps;
  } catch {
    return CAPS_PROFILES.hardware!;
  }
}
