/**
 * `--caps auto`: compile for the adapter this machine has (lavapipe's kernels on a software adapter,
 * shared-memory tiles on a real GPU), or the generic hardware profile when there is no adapter —
 * compiling never needs a GPU.
 */
import { CAPS_PROFILES, compileCapsFor, type CompileCaps } from '../compiler/plan/caps.ts';
import { createGpu } from './device.ts';

export async function detectCompileCaps(choice: string | undefined): Promise<CompileCaps> {
  if (choice && choice !== 'auto') return CAPS_PROFILES[choice]!;
  try {
    const gpu = await createGpu();
    const caps = compileCapsFor(gpu.report);
    gpu.device.destroy();
    return caps;
  } catch {
    return CAPS_PROFILES.hardware!;
  }
}
