/**
 * The GPU gate for test suites. `const gpu = await gpuOrSkip()` at the top of a GPU suite, then
 * `describe.skipIf(!gpu)(…)` or `it.skipIf(!gpu)`. Without an adapter the suite is skipped with a
 * loud message; with CI=true a missing adapter is a test failure (the software GPU must be there).
 */
import { it } from 'vitest';
import { createGpu, type GpuContext } from '../../runtime/device.ts';
import { isDittoError } from '../../core/errors.ts';

let cached: Promise<GpuContext | undefined> | undefined;
let why = '';

export function inCI(): boolean {
  const v = process.env.CI;
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
}

async function open(): Promise<GpuContext | undefined> {
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  try {
    return await createGpu();
  } catch (e) {
    why = isDittoError(e) ? e.message : String(e);
    return undefined;
  }
}

/** One shared device per test worker. */
export async function gpuOrSkip(): Promise<GpuContext | undefined> {
  cached ??= open();
  const ctx = await cached;
  if (!ctx) {
    const banner = '\n' + '!'.repeat(78) + '\n!! GPU TESTS SKIPPED: no WebGPU adapter.\n' + why + '\n' + '!'.repeat(78) + '\n';
    if (inCI()) {
      // Register a failing test so CI goes red instead of silently skipping.
      it('has a WebGPU adapter (CI=true requires one)', () => {
        throw new Error(`CI=true but no WebGPU adapter was found:\n${why}`);
      });
    } else {
      console.warn(banner);
    }
  }
  return ctx;
}
